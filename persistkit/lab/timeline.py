"""A server's write/fsync timeline and the files a power cut would leave.

``parse_strace`` turns an ``strace -f -ttt -T -y`` log into file-system events below one
folder. ``FsModel`` replays them and answers what was *durable* at a chosen moment;
``build_post_cut`` writes those files into a new folder, reading their content from the
files as the processes left them (a kill leaves everything they wrote in the kernel's
page cache, and every file the lab measures is only ever appended to, so durable
content is a prefix of it).

The durability model (strict POSIX, what ``fsync(2)`` promises and nothing more):

* file data is durable up to what was written before the last ``fsync``/``fdatasync``
  of that file that *completed* before the cut (a write that completed after that fsync
  started is not counted as covered by it);
* a name change -- create, rename, unlink, mkdir -- is durable once the folder holding
  the name was fsynced after it (a rename touches two names: the new one is durable
  when its folder is synced, the removal of the old one when the old folder is);
* ``sync``/``syncfs`` of the lab (and a ``sync`` event it adds) make everything durable;
* what the kernel might have written back on its own (dirty pages older than
  vm.dirty_expire_centisecs) is not counted: the model gives the loss a server's own
  fsync calls guarantee, not a lucky one.

``metadata="journaled"`` is the variant for ext4 (data=ordered) and xfs, where a
completed fsync of any file commits every earlier name change with it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

# event kinds
CREATE, WRITE, TRUNCATE, FSYNC, RENAME, UNLINK, MKDIR, SYNC, FORK = (
    "create", "write", "truncate", "fsync", "rename", "unlink", "mkdir", "sync", "fork")


@dataclass
class FsEvent:
    start: float            # wall-clock time the call was entered
    end: float              # ... and returned (start + strace -T)
    pid: int
    kind: str
    path: str = ""          # absolute
    dest: str = ""          # RENAME: the new name
    size: int = 0           # WRITE: bytes written; TRUNCATE: new length
    offset: int = -1        # WRITE with an explicit offset (pwrite)
    child: int = 0          # FORK: the new process
    # the process died inside the call (strace printed "= ?"): whether it took effect is
    # read from the files it left (``resolve_unfinished``)
    unfinished: bool = False


# ---------------------------------------------------------------------------------------
# strace log -> events

_LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
_DURATION = re.compile(r"\s<(\d+\.\d+)>\s*$")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(?:<([^>]*)>)?(?:\s.*)?$")
_FD_PATH = re.compile(r"^-?\d+<(.*)>$")
_DIRFD = re.compile(r"^(AT_FDCWD|\d+)(?:<(.*)>)?$")


def _split_args(text: str) -> list[str]:
    """Top-level comma split of strace's argument text (quotes, braces, brackets nest)."""
    out, depth, cur, quoted, esc = [], 0, [], False, False
    for ch in text:
        if quoted:
            cur.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if cur:
        out.append("".join(cur).strip())
    return out


def _unquote(arg: str) -> str:
    arg = arg.strip()
    if arg.endswith("..."):
        arg = arg[:-3]
    if len(arg) >= 2 and arg[0] == '"' and arg[-1] == '"':
        body = arg[1:-1]
        return bytes(body, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
    return arg


def _fd_path(arg: str) -> Optional[str]:
    m = _FD_PATH.match(arg.strip())
    return m.group(1) if m else None


class _Resolver:
    """Relative names against the working folder (chdir) or a dirfd's path."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd

    def resolve(self, name: str, dirfd: Optional[str] = None) -> str:
        if name.startswith("/"):
            return os.path.normpath(name)
        base = self.cwd
        if dirfd is not None:
            m = _DIRFD.match(dirfd.strip())
            if m and m.group(2):
                base = m.group(2)
                if m.group(1) == "AT_FDCWD":
                    self.cwd = base
        return os.path.normpath(os.path.join(base, name))


def parse_strace(lines: Iterable[str], root: str, cwd: Optional[str] = None) -> list[FsEvent]:
    """Events below ``root`` (plus every fork), in the order the calls were entered.
    Failed calls are dropped; a call split by another thread (``<unfinished ...>`` /
    ``<... resumed>``) is joined back."""
    root = os.path.realpath(root)       # strace prints fds with their real paths
    res = _Resolver(os.path.realpath(cwd) if cwd else root)
    pending: dict[int, tuple[float, str]] = {}
    events: list[FsEvent] = []

    def inside(path: str) -> bool:
        return path == root or path.startswith(root + os.sep)

    for raw in lines:
        m = _LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        pid, ts, rest = int(m.group(1)), float(m.group(2)), m.group(3)
        if rest.endswith("<unfinished ...>"):
            pending[pid] = (ts, rest[: -len("<unfinished ...>")].rstrip())
            continue
        r = _RESUMED.match(rest)
        if r:
            if pid not in pending:
                continue
            ts, head = pending.pop(pid)
            tail = r.group(2)
            if head.endswith(",") and tail.startswith(","):
                tail = tail[1:]
            rest = head + tail
        d = _DURATION.search(rest)
        duration = float(d.group(1)) if d else 0.0
        if d:
            rest = rest[: d.start()]
        c = _CALL.match(rest.strip())
        if not c:
            continue
        name, argtext = c.group(1), c.group(2)
        unfinished = c.group(3) == "?"
        ret = None if unfinished else int(c.group(3))
        if ret is not None and ret < 0:
            continue
        ret_path = c.group(4)
        args = _split_args(argtext)
        ev = _event(name, args, ret, ret_path, res, pid, ts, ts + duration)
        if ev is None:
            continue
        if unfinished:
            # only a name change can be told from the files afterwards; a write or an
            # fsync the process died in adds nothing durable (nothing of the process is
            # left to fsync it later), a fork that never returned made no child
            if ev.kind not in (CREATE, RENAME, UNLINK, MKDIR):
                continue
            ev.unfinished = True
        if ev.kind == FORK or ev.kind == SYNC or inside(ev.path) or (ev.dest and inside(ev.dest)):
            events.append(ev)
    events.sort(key=lambda e: e.start)
    return events


def _event(name, args, ret, ret_path, res: _Resolver, pid, start, end) -> Optional[FsEvent]:
    def ev(kind, **kw):
        return FsEvent(start, end, pid, kind, **kw)

    if name in ("write", "writev", "pwrite64", "pwritev"):
        path = _fd_path(args[0]) if args else None
        if path is None or ret is None:
            return None
        offset = -1
        if name in ("pwrite64", "pwritev") and len(args) >= 4:
            try:
                offset = int(args[3])
            except ValueError:
                offset = -1
        return ev(WRITE, path=path, size=ret, offset=offset)
    if name in ("fsync", "fdatasync"):
        path = _fd_path(args[0]) if args else None
        return ev(FSYNC, path=path) if path else None
    if name in ("sync", "syncfs"):
        return ev(SYNC)
    if name in ("open", "openat", "creat"):
        if name == "openat":
            dirfd, fname, flags = args[0], _unquote(args[1]), args[2] if len(args) > 2 else ""
        elif name == "open":
            dirfd, fname, flags = None, _unquote(args[0]), args[1] if len(args) > 1 else ""
        else:
            dirfd, fname, flags = None, _unquote(args[0]), "O_CREAT|O_TRUNC"
        resolved = res.resolve(fname, dirfd)       # also learns the cwd from AT_FDCWD<...>
        path = os.path.normpath(ret_path or resolved)
        if "O_CREAT" in flags:
            return ev(CREATE, path=path, size=1 if "O_TRUNC" in flags else 0)
        if "O_TRUNC" in flags and ("O_WRONLY" in flags or "O_RDWR" in flags):
            return ev(TRUNCATE, path=path, size=0)
        return None
    if name in ("rename", "renameat", "renameat2"):
        if name == "rename":
            old, new = res.resolve(_unquote(args[0])), res.resolve(_unquote(args[1]))
        else:
            old = res.resolve(_unquote(args[1]), args[0])
            new = res.resolve(_unquote(args[3]), args[2])
        return ev(RENAME, path=old, dest=new)
    if name in ("unlink", "unlinkat", "rmdir"):
        if name == "unlinkat":
            return ev(UNLINK, path=res.resolve(_unquote(args[1]), args[0]))
        return ev(UNLINK, path=res.resolve(_unquote(args[0])))
    if name in ("mkdir", "mkdirat"):
        if name == "mkdirat":
            return ev(MKDIR, path=res.resolve(_unquote(args[1]), args[0]))
        return ev(MKDIR, path=res.resolve(_unquote(args[0])))
    if name in ("ftruncate", "truncate"):
        path = _fd_path(args[0]) if name == "ftruncate" else res.resolve(_unquote(args[0]))
        try:
            length = int(args[1])
        except (ValueError, IndexError):
            return None
        return ev(TRUNCATE, path=path, size=length) if path else None
    if name == "chdir":
        res.cwd = res.resolve(_unquote(args[0]))
        return None
    if name in ("fork", "vfork", "clone", "clone3"):
        if "CLONE_THREAD" in (args[0] if args else "") or ret is None or ret <= 0:
            return None
        return ev(FORK, child=ret)
    return None


# ---------------------------------------------------------------------------------------
# the model

@dataclass(eq=False)
class FileObj:
    """One inode: what was written to it, what of that is durable."""

    id: int
    is_dir: bool = False
    size: int = 0                 # bytes written (the extent)
    synced: int = 0               # bytes durable
    creator: int = 0              # pid that created it (a snapshot child for dump.rdb)
    synced_at: float = 0.0        # entry time of the fsync that made ``synced`` durable
    # every name it had, in order (for diagnostics)
    names: list[str] = field(default_factory=list)


@dataclass
class _NameOp:
    folder: str
    path: str
    obj: Optional[FileObj]        # None: the name is removed
    done: float                   # when the call returned


class FsModel:
    """Replays events: a volatile view (what processes see) and a durable view (what a
    power cut at the current replay time would leave)."""

    def __init__(self, root: str, initial: Optional[dict[str, int]] = None, *,
                 metadata: str = "strict") -> None:
        if metadata not in ("strict", "journaled"):
            raise ValueError("metadata must be 'strict' or 'journaled'")
        self.root = os.path.normpath(root)
        self.metadata = metadata
        self._next = 0
        self.volatile: dict[str, FileObj] = {}
        self.durable: dict[str, FileObj] = {}
        self.pending: list[_NameOp] = []
        self.removed: dict[str, FileObj] = {}      # path -> the object last unlinked there
        root_obj = self._new(True, self.root)
        self.volatile[self.root] = self.durable[self.root] = root_obj
        for rel, size in (initial or {}).items():
            path = os.path.join(self.root, rel)
            parent = os.path.dirname(path)
            while parent not in self.volatile:
                o = self._new(True, parent)
                self.volatile[parent] = self.durable[parent] = o
                parent = os.path.dirname(parent)
            o = self._new(False, path)
            o.size = o.synced = size
            self.volatile[path] = self.durable[path] = o

    def _new(self, is_dir: bool, name: str) -> FileObj:
        self._next += 1
        return FileObj(self._next, is_dir, names=[name])

    def _obj(self, path: str) -> Optional[FileObj]:
        if path.endswith(" (deleted)"):
            return self.removed.get(path[: -len(" (deleted)")])
        return self.volatile.get(path)

    def _name_op(self, path: str, obj: Optional[FileObj], done: float) -> None:
        old = self.volatile.get(path)
        if old is not None and old is not obj:
            self.removed[path] = old
        if obj is None:
            self.volatile.pop(path, None)
        else:
            self.volatile[path] = obj
            if path not in obj.names:
                obj.names.append(path)
        self.pending.append(_NameOp(os.path.dirname(path), path, obj, done))

    def _commit(self, ops: list[_NameOp]) -> None:
        for op in ops:
            if op.obj is None:
                self.durable.pop(op.path, None)
            else:
                self.durable[op.path] = op.obj
        done = set(map(id, ops))
        self.pending = [op for op in self.pending if id(op) not in done]

    # -- applying ----------------------------------------------------------------------
    def load(self, events: list[FsEvent]) -> None:
        """Queue events for ``advance``. A write counts at its return; an fsync makes
        durable what was written before it was entered, at its return (an fsync still
        running at the cut gives nothing)."""
        effects: list[tuple[float, int, int, FsEvent]] = []
        for i, e in enumerate(events):
            if e.kind in (FSYNC, SYNC):
                effects.append((e.start, 0, i, e))      # what it covers is fixed at entry
                effects.append((e.end, 2, i, e))        # durable at return
            else:
                effects.append((e.end, 1, i, e))
        effects.sort(key=lambda x: (x[0], x[1], x[2]))
        self._effects = effects
        self._pos = 0
        self._snapshot: dict[int, object] = {}

    def advance(self, until: float) -> None:
        """Apply every queued effect that happened at or before ``until``."""
        effects = self._effects
        while self._pos < len(effects) and effects[self._pos][0] <= until:
            t, phase, i, e = effects[self._pos]
            self._pos += 1
            if phase == 0:
                self._snapshot[i] = self._fsync_target(e)
            elif phase == 2:
                self._fsync_done(e, self._snapshot.pop(i, None), t)
            else:
                self._apply(e)

    def apply_until(self, events: list[FsEvent], cut: float) -> None:
        self.load(events)
        self.advance(cut)

    def _fsync_target(self, e: FsEvent):
        if e.kind == SYNC:
            return ([(o, o.size) for o in set(self.volatile.values()) | set(self.removed.values())],
                    list(self.pending))
        obj = self._obj(e.path)
        if obj is None:
            return None
        if obj.is_dir:
            return ("dir", e.path, [op for op in self.pending if op.folder == e.path])
        return ("file", obj, obj.size, list(self.pending))

    def _fsync_done(self, e: FsEvent, target, t: float) -> None:
        if target is None:
            return
        if e.kind == SYNC:
            objs, ops = target
            for o, size in objs:
                if size >= o.synced:
                    o.synced, o.synced_at = size, e.start
            self._commit(ops)
            return
        if target[0] == "dir":
            self._commit(target[2])
            return
        _, obj, size, ops = target
        size = min(size, obj.size)
        if size >= obj.synced:
            obj.synced, obj.synced_at = size, e.start
        if self.metadata == "journaled":
            self._commit(ops)

    def _apply(self, e: FsEvent) -> None:
        k = e.kind
        if k == CREATE:
            obj = self.volatile.get(e.path)
            if obj is None:
                obj = self._new(False, e.path)
                obj.creator = e.pid
                self._name_op(e.path, obj, e.end)
            elif e.size:          # O_TRUNC on an existing file
                obj.size = 0
                obj.synced = min(obj.synced, 0)
        elif k == WRITE:
            obj = self._obj(e.path)
            if obj is not None:
                end = (e.offset if e.offset >= 0 else obj.size) + e.size
                obj.size = max(obj.size, end)
        elif k == TRUNCATE:
            obj = self._obj(e.path)
            if obj is not None:
                obj.size = e.size
                obj.synced = min(obj.synced, e.size)
        elif k == RENAME:
            obj = self.volatile.get(e.path)
            if obj is not None:
                self.volatile.pop(e.path)
                self.pending.append(_NameOp(os.path.dirname(e.path), e.path, None, e.end))
                self._name_op(e.dest, obj, e.end)
        elif k == UNLINK:
            if e.path in self.volatile:
                self._name_op(e.path, None, e.end)
        elif k == MKDIR:
            if e.path not in self.volatile:
                self._name_op(e.path, self._new(True, e.path), e.end)

    # -- reading ---------------------------------------------------------------------
    def durable_files(self) -> dict[str, FileObj]:
        """Durable names (relative to root) of files whose every parent folder is durable."""
        out = {}
        for path, obj in self.durable.items():
            if obj.is_dir or path == self.root:
                continue
            parent = os.path.dirname(path)
            ok = True
            while parent != self.root:
                if parent not in self.durable or not self.durable[parent].is_dir:
                    ok = False
                    break
                parent = os.path.dirname(parent)
            if ok:
                out[os.path.relpath(path, self.root)] = obj
        return out

    def never_synced(self) -> list[dict]:
        """Name changes no fsync of their folder ever made durable (after the whole
        timeline): what a power cut at the very end could still undo."""
        out = []
        for op in self.pending:
            rel = os.path.relpath(op.path, self.root)
            kind = "remove" if op.obj is None else ("mkdir" if op.obj.is_dir else "name")
            out.append({"op": kind, "path": rel, "at": op.done})
        return out

    def durable_dirs(self) -> list[str]:
        return sorted(os.path.relpath(p, self.root) for p, o in self.durable.items()
                      if o.is_dir and p != self.root)


@dataclass
class PostCut:
    """What ``build_post_cut`` wrote."""

    cut: float
    files: dict[str, int]                     # relative path -> bytes written
    dropped_bytes: dict[str, int]             # relative path -> bytes written but not durable
    missing_content: list[str]                # durable names whose inode is gone (content unknown)
    vanished: list[str]                       # names present after the kill, absent after the cut
    creators: dict[str, int] = field(default_factory=dict)      # relative path -> creating pid
    synced_at: dict[str, float] = field(default_factory=dict)   # relative path -> last fsync entry
    forks: dict[int, float] = field(default_factory=dict)       # child pid -> fork time

    def as_dict(self) -> dict:
        return {"cut": self.cut, "files": self.files, "dropped_bytes": self.dropped_bytes,
                "missing_content": self.missing_content, "vanished": self.vanished}


def build_post_cut(events: list[FsEvent], cut: float, src_root: str, dst_root: str, *,
                   initial: Optional[dict[str, int]] = None, metadata: str = "strict",
                   read: Optional[Callable[[str, int], bytes]] = None,
                   kept: Optional[tuple[float, str]] = None) -> PostCut:
    """Write into ``dst_root`` the files a power cut at ``cut`` leaves of ``src_root``.

    ``src_root`` holds the files as the processes left them at the end of ``events``
    (a kill keeps every write); each durable file gets the first ``synced`` bytes of
    its inode's final content. ``read(relpath, n)`` overrides how those bytes are read.
    ``kept`` is ``(time, folder)`` of a ``link_tree`` taken before the cut: a durable
    file no name leads to at the end is read from the link its name had at that time
    (when that link holds at least the durable bytes).
    """
    src_root = os.path.realpath(src_root)
    model = FsModel(src_root, initial, metadata=metadata)
    model.load(events)
    kept_path_of: dict[int, str] = {}
    if kept is not None and kept[0] <= cut:
        model.advance(kept[0])
        kept_path_of = {obj.id: os.path.join(kept[1], os.path.relpath(path, src_root))
                        for path, obj in model.volatile.items() if not obj.is_dir}
    model.advance(cut)
    durable = {rel: (obj, obj.synced, obj.size) for rel, obj in model.durable_files().items()}
    creators = {rel: obj.creator for rel, obj in model.durable_files().items()}
    synced_at = {rel: obj.synced_at for rel, obj in model.durable_files().items()}
    durable_dirs = model.durable_dirs()
    model.advance(float("inf"))
    end_path_of: dict[int, str] = {}
    for path, obj in model.volatile.items():
        if not obj.is_dir:
            end_path_of[obj.id] = os.path.relpath(path, src_root)

    def default_read(rel: str, n: int) -> bytes:
        with open(os.path.join(src_root, rel), "rb") as fh:
            return fh.read(n)

    reader = read or default_read
    os.makedirs(dst_root, exist_ok=True)
    for rel in durable_dirs:
        os.makedirs(os.path.join(dst_root, rel), exist_ok=True)
    files, dropped, missing = {}, {}, []
    for rel, (obj, synced, size) in sorted(durable.items()):
        target = os.path.join(dst_root, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        data = b""
        if synced:
            src = end_path_of.get(obj.id)
            if src is not None:
                data = reader(src, synced)
            else:
                link = kept_path_of.get(obj.id)
                if link is None or not os.path.isfile(link) or os.path.getsize(link) < synced:
                    missing.append(rel)
                    continue
                with open(link, "rb") as fh:
                    data = fh.read(synced)
        with open(target, "wb") as fh:
            fh.write(data)
        files[rel] = len(data)
        if size > synced:
            dropped[rel] = size - synced
    vanished = sorted(rel for rel in end_path_of.values() if rel not in files and rel not in missing)
    forks = {e.child: e.start for e in events if e.kind == FORK}
    return PostCut(cut, files, dropped, missing, vanished, creators, synced_at, forks)


def resolve_unfinished(events: list[FsEvent], exists: Callable[[str], bool] = os.path.lexists) -> list[FsEvent]:
    """The events with each call the process died in (``unfinished``) kept if the files
    it left say it took effect, dropped if not: a kill -9 can land between a rename's
    entry and strace seeing its return (a snapshot child renaming its temp file at the
    moment of the crash), and the rename may or may not have happened. ``exists`` looks at
    the files as the kill left them. A kept call counts from its entry (it finished before
    the process died, at the kill); it stays marked ``unfinished``."""
    out = []
    for e in events:
        if e.unfinished:
            if e.kind in (CREATE, MKDIR):
                happened = exists(e.path)
            elif e.kind == UNLINK:
                happened = not exists(e.path)
            elif e.kind == RENAME:
                happened = exists(e.dest) and not exists(e.path)
            else:
                happened = False
            if not happened:
                continue
            e.end = e.start
        out.append(e)
    return out


def link_tree(root: str, keep: str) -> float:
    """Hard-link every file under ``root`` into ``keep`` (same tree) and return the time the
    linking started. Taken just before the kill, it keeps the content of a file that a
    rename racing the kill replaces: the file a power cut at the kill still holds (the
    rename was not yet made durable) although no name leads to it afterwards."""
    t = __import__("time").time()
    for folder, _, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        target = os.path.normpath(os.path.join(keep, rel))
        os.makedirs(target, exist_ok=True)
        for n in names:
            try:
                os.link(os.path.join(folder, n), os.path.join(target, n))
            except FileNotFoundError:
                pass          # gone since the folder was listed
    return t


def unsynced_name_changes(events: list[FsEvent], root: str) -> list[dict]:
    """The server's own name changes that it never made durable (``never_synced`` of a
    replay of its events alone)."""
    model = FsModel(root)
    model.load([e for e in events if e.kind != SYNC])
    model.advance(float("inf"))
    return model.never_synced()


def scan_initial(root: str) -> dict[str, int]:
    """Sizes of the files already under ``root`` (durable before the timeline starts)."""
    out = {}
    for folder, _, names in os.walk(root):
        for n in names:
            p = os.path.join(folder, n)
            out[os.path.relpath(p, root)] = os.path.getsize(p)
    return out


def sync_tree(root: str) -> float:
    """fsync every file and folder under ``root`` (the lab's own "everything so far is on
    disk" point; cheaper and more contained than a machine-wide sync). Returns the time
    it started: writes that returned before it are durable."""
    t = __import__("time").time()
    for folder, dirs, names in os.walk(root):
        for n in names:
            try:
                fd = os.open(os.path.join(folder, n), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return t


def read_trace(path: Path, root: str, cwd: Optional[str] = None) -> list[FsEvent]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_strace(fh, root, cwd)
