"""The real-server corpus (../shared/corpus) as comparable Python values.

Every test that checks content against what a real server wrote goes through
here: ``expected_keyspace`` turns an ``expected.json`` state into a normalized
keyspace, ``normalize_record`` does the same for a reader ``Record``, and
``diff_keyspaces`` lists the differences (empty list = equal).

Normalized keyspace: ``{(db, key_bytes): {"type", "value", "expire_ms", "field_expires"}}``
with values normalized so that equal content compares equal whatever its encoding:
sets sorted, hashes sorted by field, zsets in Redis order (score, member), streams
as plain dicts (see ``_stream_norm``).

Comparing "as of a moment" (live servers, wall-clock expiry): the corpus records
absolute TTLs, many of which fall days after it was made (and some already in the
past when the suite runs later).  A real server, or the engine with wall-clock
expiry, drops keys and hash fields whose TTL has passed, so a comparison through
one must be made as of a moment: take ``at = wall_clock_ms()`` *before* the data is
loaded, then compare ``alive_at(got, at)`` with ``alive_at(want, at)``.  Both sides
drop every key / hash field whose TTL is at or before ``at + LIVE_MARGIN_MS``, so a
key that expires while the test runs cannot flake either way; everything that
survives (values, types, TTLs) still compares exactly.  Offline comparisons (a
reader or writer against expected.json) never use this: they stay strict.
See tests/README.md.
"""

from __future__ import annotations

import json
import math
import os
import time
from functools import lru_cache
from pathlib import Path

from persistkit.rdbtools import model

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PERSISTKIT_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus"
REAL = CORPUS / "real"
PUBLIC = CORPUS / "public"


def real_folders() -> list[Path]:
    if not REAL.is_dir():
        return []
    return sorted(p for p in REAL.iterdir() if (p / "expected.json").is_file())


def real_ids() -> list[str]:
    return [p.name for p in real_folders()]


@lru_cache(maxsize=None)
def load_expected(folder: str | Path) -> dict:
    folder = Path(folder)
    if not folder.is_absolute():
        folder = REAL / folder
    with open(folder / "expected.json", encoding="utf-8") as fh:
        data = json.load(fh)
    data["_root"] = str(folder)
    return data


def bstr(x, root: str | Path) -> bytes:
    if isinstance(x, str):
        return x.encode("utf-8")
    if "hex" in x:
        return bytes.fromhex(x["hex"])
    with open(Path(root) / x["blob"], "rb") as fh:
        return fh.read()


# ---------------------------------------------------------------------------
# normalization


def _zset_norm(pairs):
    return sorted(((m, float(s)) for m, s in pairs), key=lambda p: (p[1], p[0]))


def _sid(x) -> str | None:
    if x is None:
        return None
    if isinstance(x, tuple):
        return model.format_stream_id(x)
    return x


def _stream_norm_expected(v: dict, root) -> dict:
    groups = []
    for g in v["groups"]:
        groups.append({
            "name": bstr(g["name"], root),
            "last_delivered_id": g["last_delivered_id"],
            "entries_read": g.get("entries_read"),
            "pel": sorted((p["id"], bstr(p["consumer"], root), p["delivery_time_ms"], p["delivery_count"])
                          for p in g["pel"]),
            "consumers": sorted(({
                "name": bstr(c["name"], root),
                "seen_time_ms": c.get("seen_time_ms"),
                "active_time_ms": c.get("active_time_ms"),
                "pel": sorted(c["pel"]),
            } for c in g["consumers"]), key=lambda c: c["name"]),
        })
    return {
        "length": v["length"],
        "entries": [(e["id"], [(bstr(f, root), bstr(x, root)) for f, x in e["fields"]]) for e in v["entries"]],
        "last_id": v["last_id"],
        "entries_added": v.get("entries_added"),
        "max_deleted_entry_id": v.get("max_deleted_entry_id"),
        "recorded_first_entry_id": v.get("recorded_first_entry_id"),
        "groups": sorted(groups, key=lambda g: g["name"]),
    }


def stream_norm(sv: model.StreamValue) -> dict:
    """Normalize a reader/engine StreamValue to the expected.json shape (bytes for names)."""
    consumer_of = {}
    for g in sv.groups:
        for c in g.consumers:
            for pid in c.pel:
                consumer_of[(g.name, pid)] = c.name
    groups = []
    for g in sv.groups:
        groups.append({
            "name": g.name,
            "last_delivered_id": _sid(g.last_id),
            "entries_read": g.entries_read,
            "pel": sorted((_sid(p.id), p.consumer if p.consumer is not None else consumer_of.get((g.name, p.id)),
                           p.delivery_time_ms, p.delivery_count) for p in g.pel),
            "consumers": sorted(({
                "name": c.name,
                "seen_time_ms": c.seen_time_ms,
                "active_time_ms": c.active_time_ms,
                "pel": sorted(_sid(i) for i in c.pel),
            } for c in g.consumers), key=lambda c: c["name"]),
        })
    return {
        "length": sv.length,
        "entries": [(_sid(e.id), list(e.fields)) for e in sv.entries()],
        "last_id": _sid(sv.last_id),
        "entries_added": sv.entries_added,
        "max_deleted_entry_id": _sid(sv.max_deleted_id),
        "recorded_first_entry_id": _sid(sv.first_id),
        "groups": sorted(groups, key=lambda g: g["name"]),
    }


def normalize_value(ktype: str, value, root=None, *, expected: bool = False):
    if ktype == model.STRING:
        return bstr(value, root) if expected else bytes(value)
    if ktype == model.LIST:
        return [bstr(x, root) for x in value] if expected else [bytes(x) for x in value]
    if ktype == model.SET:
        return sorted(bstr(x, root) for x in value) if expected else sorted(bytes(x) for x in value)
    if ktype == model.ZSET:
        if expected:
            return _zset_norm((bstr(m, root), s) for m, s in value)
        return _zset_norm(value)
    if ktype == model.HASH:
        if expected:
            return sorted((bstr(f, root), bstr(v, root)) for f, v in value)
        return sorted((bytes(f), bytes(v)) for f, v in value)
    if ktype == model.STREAM:
        return _stream_norm_expected(value, root) if expected else stream_norm(value)
    return value


def expected_keyspace(folder, state: str = "snapshot") -> dict:
    data = load_expected(folder)
    root = data["_root"]
    out = {}
    for k in data["states"][state]["keys"]:
        key = bstr(k["key"], root)
        fe = k.get("field_expire_at_ms") or None
        out[(k["db"], key)] = {
            "type": k["type"],
            "value": normalize_value(k["type"], k["value"], root, expected=True),
            "expire_ms": k["expire_at_ms"],
            "field_expires": {bstr(f, root): ms for f, ms in fe} if fe else None,
        }
    return out


# ---------------------------------------------------------------------------
# comparing as of a moment (live servers, wall-clock expiry)

#: Keys/fields expiring within this long after the reference moment are dropped from
#: both sides: longer than any single live comparison takes (on a slow shared machine).
LIVE_MARGIN_MS = 120_000


def wall_clock_ms() -> int:
    """The wall clock in ms, the reference a live server's expiry uses (take it before loading)."""
    return int(time.time() * 1000)


def alive_at(keyspace: dict, at_ms: int, *, margin_ms: int = LIVE_MARGIN_MS) -> dict:
    """The part of a normalized keyspace still alive at ``at_ms + margin_ms``.

    Drops keys whose ``expire_ms`` is at or before the cutoff, and hash fields whose
    field TTL is (a hash left with no field is dropped too, as the server deletes it).
    Apply it to BOTH the expected and the actual keyspace of a comparison made through
    a live server or wall-clock expiry; never to an offline comparison.
    """
    cutoff = at_ms + margin_ms
    out = {}
    for k, v in keyspace.items():
        if v["expire_ms"] is not None and v["expire_ms"] <= cutoff:
            continue
        fe = v.get("field_expires")
        if fe:
            gone = {f for f, ms in fe.items() if ms is not None and ms <= cutoff}
            if gone:
                value = [(f, x) for f, x in v["value"] if f not in gone]
                if not value:
                    continue
                kept = {f: ms for f, ms in fe.items() if f not in gone}
                v = {**v, "value": value, "field_expires": kept or None}
        out[k] = v
    return out


def expected_functions(folder, state: str = "snapshot") -> list[bytes] | None:
    data = load_expected(folder)
    funcs = data["states"][state].get("functions")
    if funcs is None:
        return None
    return sorted(f["code"].encode("utf-8") for f in funcs)


def normalize_record(rec: model.Record) -> tuple[tuple[int, bytes], dict]:
    fe = rec.field_expires or None
    return (rec.db, bytes(rec.key)), {
        "type": rec.type,
        "value": normalize_value(rec.type, rec.value),
        "expire_ms": rec.expire_ms,
        "field_expires": dict(fe) if fe else None,
    }


def keyspace_from_records(records) -> dict:
    out = {}
    for rec in records:
        if isinstance(rec, model.Record):
            k, v = normalize_record(rec)
            out[k] = v
    return out


def _float_eq(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _diff_value(path, got, want, out, null_is_wildcard):
    if want is None and null_is_wildcard and got is not None:
        return
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got), key=str):
            _diff_value(f"{path}.{k}", got.get(k), want.get(k), out, null_is_wildcard)
    elif isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            out.append(f"{path}: {len(got)} items, expected {len(want)}")
            return
        for i, (g, w) in enumerate(zip(got, want)):
            _diff_value(f"{path}[{i}]", g, w, out, null_is_wildcard)
    elif isinstance(want, tuple) and isinstance(got, tuple) and len(want) == len(got):
        for i, (g, w) in enumerate(zip(got, want)):
            _diff_value(f"{path}[{i}]", g, w, out, null_is_wildcard)
    elif not _float_eq(got, want):
        out.append(f"{path}: got {got!r:.200}, expected {want!r:.200}")


def diff_keyspaces(got: dict, want: dict, *, consumer_times_wildcard: bool = False,
                   ignore: tuple[str, ...] = ()) -> list[str]:
    """Differences between two normalized keyspaces, as readable lines.

    ``consumer_times_wildcard``: an expected null consumer seen/active time matches
    any value (AOF states: the replay sets those times itself, see corpus README).
    """
    out: list[str] = []
    for k in sorted(set(got) | set(want)):
        if k not in got:
            out.append(f"missing key db{k[0]} {k[1]!r}")
            continue
        if k not in want:
            out.append(f"unexpected key db{k[0]} {k[1]!r}")
            continue
        g, w = got[k], want[k]
        for fld in ("type", "expire_ms", "field_expires", "value"):
            if fld in ignore:
                continue
            if fld == "value" and w["type"] == model.STREAM and consumer_times_wildcard:
                before = len(out)
                _diff_stream_wild(f"db{k[0]} {k[1]!r}.value", g["value"], w["value"], out)
                continue
            sub: list[str] = []
            _diff_value(f"db{k[0]} {k[1]!r}.{fld}", g[fld], w[fld], sub, False)
            out.extend(sub)
    return out


def _diff_stream_wild(path, got, want, out):
    # Null consumer times in the expected AOF states mean "set by the replay": any value.
    if not isinstance(got, dict):
        out.append(f"{path}: got {got!r:.100}")
        return
    g2 = json.loads(json.dumps(got, default=repr))
    w2 = json.loads(json.dumps(want, default=repr))
    for gg, wg in zip(g2.get("groups", []), w2.get("groups", [])):
        for gc, wc in zip(gg.get("consumers", []), wg.get("consumers", [])):
            for t in ("seen_time_ms", "active_time_ms"):
                if wc.get(t) is None:
                    gc[t] = None
    _diff_value(path, g2, w2, out, False)
