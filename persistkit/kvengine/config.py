"""Server settings: names and defaults as in redis.conf, parsed from a config file, the
command line or CONFIG SET."""

from __future__ import annotations

import shlex
from typing import Iterable

from .encodings import DEFAULT_LIMITS
from .glob import glob_match
from .reply import OK, CommandError

_BOOL = ("yes", "no")

# name -> (default text, kind); kind: str | int | bool | save | enum tuple
SETTINGS: dict[str, tuple[str, object]] = {
    "port": ("6379", int),
    "bind": ("127.0.0.1", str),
    "dir": (".", str),
    "dbfilename": ("dump.rdb", str),
    "save": ("3600 1 300 100 60 10000", "save"),
    "appendonly": ("no", bool),
    "appendfsync": ("everysec", ("always", "everysec", "no")),
    "appendfilename": ("appendonly.aof", str),
    "appenddirname": ("appendonlydir", str),
    "aof-use-rdb-preamble": ("yes", bool),
    "aof-timestamp-enabled": ("no", bool),
    "aof-load-truncated": ("yes", bool),
    "auto-aof-rewrite-percentage": ("100", int),
    "auto-aof-rewrite-min-size": ("67108864", int),
    "rdbcompression": ("yes", bool),
    "rdbchecksum": ("yes", bool),
    "rdb-version": ("10", int),
    "requirepass": ("", str),
    "databases": ("16", int),
    "proto-max-bulk-len": ("536870912", int),
    "client-query-buffer-limit": ("1073741824", int),
    "maxclients": ("10000", int),
    "timeout": ("0", int),
    "protected-mode": ("no", bool),
    "daemonize": ("no", bool),
    "loglevel": ("notice", str),
    "logfile": ("", str),
    "lazyfree-lazy-expire": ("no", bool),
    "hz": ("10", int),
    "maxmemory": ("0", int),
    "maxmemory-policy": ("noeviction", str),
    "hash-max-listpack-entries": ("128", int),
    "hash-max-listpack-value": ("64", int),
    "hash-max-ziplist-entries": ("128", int),
    "hash-max-ziplist-value": ("64", int),
    "set-max-intset-entries": ("512", int),
    "set-max-listpack-entries": ("128", int),
    "set-max-listpack-value": ("64", int),
    "zset-max-listpack-entries": ("128", int),
    "zset-max-listpack-value": ("64", int),
    "zset-max-ziplist-entries": ("128", int),
    "zset-max-ziplist-value": ("64", int),
    "list-max-listpack-size": ("-2", int),
    "list-max-ziplist-size": ("-2", int),
    "list-compress-depth": ("0", int),
    "stream-node-max-bytes": ("4096", int),
    "stream-node-max-entries": ("100", int),
}

# Settings CONFIG SET may change while running.
MUTABLE = {name for name in SETTINGS} - {"port", "bind", "databases", "daemonize", "appenddirname"}


def parse_save(text: str) -> list[tuple[int, int]]:
    parts = text.split()
    if len(parts) % 2:
        raise ValueError("Invalid save parameters")
    out = []
    for i in range(0, len(parts), 2):
        secs, changes = int(parts[i]), int(parts[i + 1])
        if secs < 1 or changes < 0:
            raise ValueError("Invalid save parameters")
        out.append((secs, changes))
    return out


def _memory(text: str) -> int:
    t = text.strip().lower()
    mult = 1
    for suffix, m in (("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("g", 10**9), ("m", 10**6), ("k", 1000)):
        if t.endswith(suffix):
            t, mult = t[: -len(suffix)], m
            break
    return int(t) * mult


class Config:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        for name, (default, _) in SETTINGS.items():
            self.set(name, default)

    def set(self, name: str, text: str) -> None:
        name = name.lower()
        if name not in SETTINGS:
            raise ValueError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
        kind = SETTINGS[name][1]
        if kind is int:
            try:
                v: object = _memory(text)
            except ValueError:
                raise ValueError(f"argument couldn't be parsed into an integer") from None
        elif kind is bool:
            t = text.lower()
            if t not in _BOOL:
                raise ValueError("argument must be 'yes' or 'no'")
            v = t == "yes"
        elif kind == "save":
            v = parse_save(text)
        elif isinstance(kind, tuple):
            t = text.lower()
            if t not in kind:
                raise ValueError("argument(s) must be one of the following: " + ", ".join(kind))
            v = t
        else:
            v = text
        self.values[name] = v
        # the ziplist names are aliases of the listpack ones (Redis 7)
        if "ziplist" in name:
            self.values[name.replace("ziplist", "listpack")] = v
        elif "listpack" in name and name.replace("listpack", "ziplist") in SETTINGS:
            self.values[name.replace("listpack", "ziplist")] = v

    def __getitem__(self, name: str):
        return self.values[name]

    def text(self, name: str) -> str:
        v = self.values[name]
        kind = SETTINGS[name][1]
        if kind is bool:
            return "yes" if v else "no"
        if kind == "save":
            return " ".join(f"{a} {b}" for a, b in v)
        return str(v)

    def get_pairs(self, patterns: Iterable[bytes]) -> list[bytes]:
        out = []
        seen = set()
        for p in patterns:
            pat = p.lower()
            for name in SETTINGS:
                if name not in seen and glob_match(pat, name.encode()):
                    seen.add(name)
                    out += [name.encode(), self.text(name).encode()]
        return out

    def config_set(self, pairs: list[bytes]):
        staged = {}
        for i in range(0, len(pairs), 2):
            name = pairs[i].decode("utf-8", "replace").lower()
            if name not in SETTINGS or name not in MUTABLE:
                raise CommandError(f"ERR Unknown option or number of arguments for CONFIG SET - '{name}'")
            staged[name] = pairs[i + 1].decode("utf-8", "replace")
        backup = dict(self.values)
        try:
            for name, text in staged.items():
                self.set(name, text)
        except ValueError as exc:
            self.values = backup
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {exc}") from None
        return OK

    def load_file(self, path: str) -> None:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = shlex.split(line)
                name, args = parts[0].lower(), parts[1:]
                if name not in SETTINGS:
                    continue  # a redis.conf has many settings this engine does not use
                if name == "save" and args == [""] or (name == "save" and not args):
                    self.values["save"] = []
                    continue
                try:
                    self.set(name, " ".join(args))
                except ValueError as exc:
                    raise ValueError(f"{path}:{lineno}: {name}: {exc}") from None

    def limits(self) -> dict:
        return {k: self.values[k] for k in DEFAULT_LIMITS}
