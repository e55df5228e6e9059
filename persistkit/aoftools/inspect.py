"""``inspect`` for AOF inputs: layout, files, preamble vs tail, commands per name and db,
time range, MULTI blocks.

    from persistkit.aoftools.inspect import inspect_aof
    data = inspect_aof(path)          # a JSON-ready dict; render.aof.render_inspect shows it

Keys: ``path``, ``layout`` ("single" | "multipart"), ``hybrid``, ``manifest`` (list of
entries with name/seq/type/format/size, history included, or None), ``files`` (per file:
name, role, seq, format, size, preamble_bytes, preamble_keys, preamble_version,
preamble_keys_by_db, resp_bytes, commands), ``commands``, ``by_command`` (upper-cased
name -> count, most frequent first), ``by_db`` (db -> commands), ``multi_blocks``,
``annotations``, ``time_range`` ([first, last] unix seconds from ``#TS:`` lines, or None),
``problem`` (where reading stopped on damaged input, or None).

The RDB preamble is walked without decoding values (memory stays flat).
"""

from __future__ import annotations

from collections import Counter
from typing import Optional

from persistkit.kvencoding.errors import FormatError

from . import model
from .reader import AOFReader, _State


def inspect_aof(path, *, aof_set=None, opened=None) -> dict:
    """``aof_set`` / ``opened``: the set and open streams the caller has already (see
    ``AOFReader``), so the input is not opened again."""
    from persistkit.rdbtools import model as rdbmodel

    reader = AOFReader(path, decode=False, aof_set=aof_set, opened=opened)
    aof_set = reader.aof_set
    data: dict = {"path": str(path), "layout": aof_set.layout, "hybrid": aof_set.hybrid,
                  "manifest": None, "files": [], "commands": 0, "by_command": {}, "by_db": {},
                  "multi_blocks": 0, "annotations": 0, "time_range": None, "problem": None}
    if aof_set.manifest is not None:
        m = aof_set.manifest
        fmt = {p.name: (p.format, p.size) for p in aof_set.parts}
        entries = ([m.base] if m.base else []) + m.history + m.incrs
        data["manifest"] = [{"name": e.name, "seq": e.seq, "type": e.type,
                             "format": fmt.get(e.name, (None, None))[0],
                             "size": fmt.get(e.name, (None, None))[1]} for e in entries]
    by_cmd: Counter = Counter()
    by_db: Counter = Counter()
    first_t: Optional[int] = None
    last_t: Optional[int] = None
    state = _State()
    for part in aof_set.parts:
        info = {"name": part.name, "role": part.role, "seq": part.seq, "format": part.format,
                "size": part.size, "preamble_bytes": 0, "preamble_keys": 0, "preamble_version": None,
                "preamble_keys_by_db": {}, "resp_bytes": 0, "commands": 0}
        data["files"].append(info)
        keys_by_db: Counter = Counter()
        resp_start = 0
        try:
            for item in reader.part_items(part, state, preamble=True):
                if type(item) is model.AOFCommand:
                    info["commands"] += 1
                    by_cmd[item.name.decode("latin-1")] += 1
                    by_db[item.db] += 1
                    if item.name == b"EXEC" and item.in_multi:
                        data["multi_blocks"] += 1
                    if item.time is not None:
                        first_t = item.time if first_t is None else first_t
                        last_t = item.time
                elif isinstance(item, rdbmodel.Record):
                    keys_by_db[item.db] += 1
                elif isinstance(item, rdbmodel.Header):
                    info["preamble_version"] = item.version
        except FormatError as exc:
            data["problem"] = {"file": exc.file or part.name, "offset": exc.offset, "message": exc.message}
        if part.name in reader.preamble_end:
            resp_start = reader.preamble_end[part.name]
            info["preamble_bytes"] = resp_start
        info["preamble_keys"] = sum(keys_by_db.values())
        info["preamble_keys_by_db"] = {str(k): v for k, v in sorted(keys_by_db.items())}
        if part.size is not None:
            info["resp_bytes"] = max(0, part.size - resp_start) if part.format != model.FMT_EMPTY else 0
        data["commands"] += info["commands"]
        if data["problem"]:
            break
    data["by_command"] = dict(by_cmd.most_common())
    data["by_db"] = {str(k): v for k, v in sorted(by_db.items())}
    data["time_range"] = [first_t, last_t] if first_t is not None else None
    return data


__all__ = ["inspect_aof"]
