"""Fold inputs into one keyspace: an AOF set into its snapshot (an offline
BGREWRITEAOF), or several snapshots / AOF sets (shards, backups of different times)
into one.

    from persistkit.recovery.merge import merge

    res = merge(["a.rdb", "b.rdb"], policy="last")
    res.keyspace, res.conflicts, res.summary()

Inputs are taken in the order given. A key (same db, same name) found in more than
one input is a conflict; the policy decides: ``last`` (the later input wins, like
loading them one after the other), ``first`` (the earlier one stays), ``error``
(every conflict is still collected, and the caller writes nothing). Every conflict
is reported with the db, key, the inputs involved and the winner. Function libraries
of the same name with different code are conflicts too (``kind: "function"``).

Memory: a snapshot input (an RDB, or an AOF set that is only a snapshot) is streamed
record by record into the merged keyspace; an input with a log is replayed into a
keyspace of its own first (its final state, not its log, is what is merged), then
folded in. So memory follows the final keyspaces, never the log's length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from persistkit.aoftools.reader import AOFReader
from persistkit.kvengine import Keyspace
from persistkit.rdbtools import model

from .replay import RecoveryError, ReplayOptions, Replayer

POLICIES = ("last", "first", "error")


@dataclass
class Conflict:
    kind: str            # "key" or "function"
    db: Optional[int]
    key: bytes           # key name, or library name
    inputs: tuple        # (index of the input holding it so far, index of the new one)
    winner: Optional[int]

    def as_dict(self, paths: list) -> dict:
        from persistkit.kvencoding.bstr import bstr_json

        return {"kind": self.kind, "db": self.db, "key": bstr_json(self.key),
                "inputs": [paths[i] for i in self.inputs],
                "winner": None if self.winner is None else paths[self.winner]}


@dataclass
class MergeResult:
    keyspace: Keyspace
    paths: list
    policy: str
    inputs: list = field(default_factory=list)      # per input: dict
    conflicts: list = field(default_factory=list)   # Conflict
    rdb_version: Optional[int] = None               # highest snapshot version seen
    rdb_magic: Optional[str] = None

    def summary(self) -> dict:
        ks = self.keyspace
        return {
            "inputs": self.inputs,
            "policy": self.policy,
            "conflicts": len(self.conflicts),
            "conflict_list": [c.as_dict(self.paths) for c in self.conflicts],
            "keys": ks.total_keys(),
            "dbs": {str(d.id): {"keys": len(d.data), "expires": len(d.expires)} for d in ks.dbs if d.data},
            "functions": len(ks.functions),
        }


def _has_log(path: str) -> bool:
    """True when the input holds log commands (not just a snapshot). Walks the snapshot
    part undecoded; stops at the first command."""
    reader = AOFReader(path, decode=False)
    if reader.aof_set.layout == "multipart":
        return True
    for _ in reader.commands():
        return True
    return False


class _Merger:
    def __init__(self, paths: list, policy: str, compat: Optional[str]) -> None:
        if policy not in POLICIES:
            raise RecoveryError(f"--on-conflict {policy!r}: expected one of {', '.join(POLICIES)}")
        self.paths = [str(p) for p in paths]
        self.ks = Keyspace(expiry=False)
        self.owner: dict = {}          # (db, key) -> input index (only when there are several inputs)
        self.fowner: dict = {}         # library name -> input index
        self.compat = compat
        self.res = MergeResult(self.ks, self.paths, policy)

    def run(self) -> MergeResult:
        if not self.paths:
            raise RecoveryError("merge needs at least one input")
        if len(self.paths) == 1:
            # One input: its full state is the result; nothing can conflict.
            rep = Replayer(self.paths[0], ReplayOptions(compat=self.compat, compact=True), keyspace=self.ks)
            r = rep.run()
            self._note(0, r, "log" if r.commands_read else "snapshot")
            return self.res
        for i, path in enumerate(self.paths):
            if _has_log(path):
                r = Replayer(path, ReplayOptions(compat=self.compat)).run()
                for rec in r.keyspace.iter_records():
                    self._take(i, rec)
                for fn in r.keyspace.iter_functions():
                    self._take_function(i, fn)
                self._note(i, r, "log")
            else:
                rep = Replayer(path, ReplayOptions(compat=self.compat), keyspace=self.ks,
                               snapshot_sink=lambda item, i=i: self._sink(i, item))
                r = rep.run()
                self._note(i, r, "snapshot")
        return self.res

    def _note(self, i: int, r, kind: str) -> None:
        self.res.inputs.append({"path": self.paths[i], "kind": kind, "rdb_version": r.rdb_version,
                                "snapshot_keys": r.snapshot_keys, "commands_applied": r.commands_applied,
                                "keys": r.keyspace.total_keys() if r.keyspace is not self.ks else None})
        if r.rdb_version is not None:
            if self.res.rdb_version is None or r.rdb_version > self.res.rdb_version:
                self.res.rdb_version = r.rdb_version
            if r.rdb_magic == "VALKEY" or self.res.rdb_magic is None:
                self.res.rdb_magic = r.rdb_magic

    def _sink(self, i: int, item) -> int:
        if isinstance(item, model.Record):
            return self._take(i, item)
        if isinstance(item, model.Function):
            self._take_function(i, item)
        return 0

    def _take(self, i: int, rec: model.Record) -> int:
        k = (rec.db, bytes(rec.key))
        prev = self.owner.get(k)
        if prev is not None and prev != i:
            policy = self.res.policy
            winner = i if policy == "last" else (prev if policy == "first" else None)
            self.res.conflicts.append(Conflict("key", rec.db, k[1], (prev, i), winner))
            if policy != "last":
                return 0
        self.owner[k] = i
        return self.ks.load_records((rec,))

    def _take_function(self, i: int, fn: model.Function) -> None:
        before = dict(self.ks.functions)
        scratch = Keyspace(ndbs=1)   # names the library as the engine does (its #!lua name=)
        scratch.load_records((fn,))
        ((name, code),) = scratch.functions.items()
        prev = self.fowner.get(name)
        if prev is not None and prev != i and before.get(name) != code:
            policy = self.res.policy
            winner = i if policy == "last" else (prev if policy == "first" else None)
            self.res.conflicts.append(Conflict("function", None, name, (prev, i), winner))
            if policy != "last":
                return
        self.fowner[name] = i
        self.ks.functions[name] = code


def merge(paths: list, policy: str = "last", *, compat: Optional[str] = None) -> MergeResult:
    return _Merger(paths, policy, compat).run()
