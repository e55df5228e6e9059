"""Key-level differences between two inputs of any kind (RDB, AOF file, AOF directory).

    from persistkit.recovery.diff import diff_inputs

    d = diff_inputs("dump.rdb", "appendonlydir")
    d.equal, d.counts(), d.as_dict()
    for args in d.commands(): ...        # RESP commands that turn A into B

Each side is loaded to its full state (the snapshot part plus its log), and both are
looked at the same moment (see ``diff_inputs``). Per db, a key is *added* (only in B), *removed* (only in A) or *changed*:
its type, its value (content compared in canonical form, so encodings and insertion
order do not count), its TTL, or its hash field TTLs differ. Function libraries are
compared by name and code.

``commands()``: for each db, ``SELECT``; ``DEL`` of every removed key and of every key
whose content changed, then the changed and added keys rebuilt from B (the AOF
rewrite's plain commands, see ``output.rebuild_commands``); a key whose only change
is its TTL gets ``PEXPIREAT`` or ``PERSIST`` instead. Libraries: ``FUNCTION DELETE``
of those only in A, ``FUNCTION LOAD REPLACE`` of those new or changed in B.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional

from persistkit.kvengine import Keyspace

from .compare import canonical, field_ttls
from .replay import ReplayOptions, Replayer, drop_expired

CHANGE_TYPE = "type"
CHANGE_VALUE = "value"
CHANGE_TTL = "ttl"
CHANGE_FIELD_TTLS = "field_ttls"


@dataclass
class DbDiff:
    added: list = field(default_factory=list)       # keys
    removed: list = field(default_factory=list)     # keys
    changed: list = field(default_factory=list)     # (key, [what...])


@dataclass
class Diff:
    a: Keyspace
    b: Keyspace
    path_a: str
    path_b: str
    dbs: dict = field(default_factory=dict)          # db -> DbDiff
    functions_added: list = field(default_factory=list)
    functions_removed: list = field(default_factory=list)
    functions_changed: list = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.dbs and not (self.functions_added or self.functions_removed or self.functions_changed)

    def counts(self) -> dict:
        return {"added": sum(len(d.added) for d in self.dbs.values()),
                "removed": sum(len(d.removed) for d in self.dbs.values()),
                "changed": sum(len(d.changed) for d in self.dbs.values()),
                "functions": len(self.functions_added) + len(self.functions_removed)
                + len(self.functions_changed)}

    def changed_keys(self) -> set:
        """{(db, key)} of every difference (added, removed or changed)."""
        out = set()
        for db, d in self.dbs.items():
            out.update((db, k) for k in d.added)
            out.update((db, k) for k in d.removed)
            out.update((db, k) for k, _ in d.changed)
        return out

    def as_dict(self, *, max_keys: Optional[int] = None) -> dict:
        from persistkit.kvencoding.bstr import bstr_json

        dbs = {}
        for db in sorted(self.dbs):
            d = self.dbs[db]
            a, b = self.a.dbs[db], self.b.dbs[db]
            changed = []
            for key, what in d.changed[:max_keys]:
                changed.append({"key": bstr_json(key), "what": what,
                                "type": [_type(a.data[key]), _type(b.data[key])],
                                "ttl_ms": [a.expires.get(key), b.expires.get(key)]})
            dbs[str(db)] = {
                "counts": {"added": len(d.added), "removed": len(d.removed), "changed": len(d.changed)},
                "added": [{"key": bstr_json(k), "type": _type(b.data[k])} for k in d.added[:max_keys]],
                "removed": [{"key": bstr_json(k), "type": _type(a.data[k])} for k in d.removed[:max_keys]],
                "changed": changed,
            }
        return {
            "a": self.path_a, "b": self.path_b, "equal": self.equal, "counts": self.counts(),
            "dbs": dbs,
            "functions": {"added": [bstr_json(n) for n in self.functions_added],
                          "removed": [bstr_json(n) for n in self.functions_removed],
                          "changed": [bstr_json(n) for n in self.functions_changed]},
        }

    # -- A -> B as commands ---------------------------------------------------------------
    def commands(self) -> Iterator[list]:
        from .output import rebuild_commands

        for name in self.functions_removed:
            yield [b"FUNCTION", b"DELETE", name]
        for name in self.functions_added + self.functions_changed:
            yield [b"FUNCTION", b"LOAD", b"REPLACE", self.b.functions[name]]
        rebuild = Keyspace(expiry=False)
        for db in sorted(self.dbs):
            d = self.dbs[db]
            bdb = self.b.dbs[db]
            head = [[b"SELECT", b"%d" % db]]
            body = [[b"DEL", k] for k in d.removed]
            for key, what in d.changed:
                if what == [CHANGE_TTL]:
                    t = bdb.expires.get(key)
                    body.append([b"PERSIST", key] if t is None else [b"PEXPIREAT", key, b"%d" % t])
                    continue
                body.append([b"DEL", key])
                self._stage(rebuild, db, key)
            for key in d.added:
                self._stage(rebuild, db, key)
            if body:
                yield from head + body
        yield from rebuild_commands(rebuild)

    def _stage(self, ks: Keyspace, db: int, key: bytes) -> None:
        src = self.b.dbs[db]
        ks.dbs[db].data[key] = src.data[key]
        t = src.expires.get(key)
        if t is not None:
            ks.dbs[db].expires[key] = t


def _type(v) -> str:
    from persistkit.kvengine.values import type_name

    return type_name(v)


def compare_keyspaces(a: Keyspace, b: Keyspace, path_a: str = "A", path_b: str = "B") -> Diff:
    out = Diff(a, b, path_a, path_b)
    for dba, dbb in zip(a.dbs, b.dbs):
        if not dba.data and not dbb.data:
            continue
        d = DbDiff()
        da, db_ = dba.data, dbb.data
        d.removed = sorted(k for k in da if k not in db_)
        d.added = sorted(k for k in db_ if k not in da)
        for key in sorted(k for k in da if k in db_):
            va, vb = da[key], db_[key]
            what = []
            if type(va) is not type(vb):
                what.append(CHANGE_TYPE)
            elif canonical(va) != canonical(vb):
                what.append(CHANGE_VALUE)
            if dba.expires.get(key) != dbb.expires.get(key):
                what.append(CHANGE_TTL)
            if CHANGE_TYPE not in what and field_ttls(va) != field_ttls(vb):
                what.append(CHANGE_FIELD_TTLS)
            if what:
                d.changed.append((key, what))
        if d.added or d.removed or d.changed:
            out.dbs[dba.id] = d
    fa, fb = a.functions, b.functions
    out.functions_removed = sorted(n for n in fa if n not in fb)
    out.functions_added = sorted(n for n in fb if n not in fa)
    out.functions_changed = sorted(n for n in fa if n in fb and fa[n] != fb[n])
    return out


def diff_inputs(path_a, path_b, *, compat: Optional[str] = None) -> Diff:
    """Both sides are compared at one moment: keys (and hash fields) whose TTL had
    passed at the later of the two logs' reference times (their last ``#TS``) are
    dropped from both, so a key that merely expired is not reported as removed by one
    side only. Without any ``#TS`` nothing is dropped."""
    ra = Replayer(path_a, ReplayOptions(compat=compat, keep_expired=True)).run()
    rb = Replayer(path_b, ReplayOptions(compat=compat, keep_expired=True)).run()
    refs = [r.reference_ms for r in (ra, rb) if r.reference_ms is not None]
    if refs:
        ref = max(refs)
        drop_expired(ra.keyspace, ref)
        drop_expired(rb.keyspace, ref)
    return compare_keyspaces(ra.keyspace, rb.keyspace, str(path_a), str(path_b))
