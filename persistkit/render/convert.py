"""Output of ``convert`` and ``payload``, and the JSON value convention they share.

Values in JSON follow the corpus / export convention: binary-safe strings (BSTR) are
a JSON string when the bytes are clean UTF-8, else ``{"hex": ...}``; lists and sets are
arrays; zsets ``[[member, score], ...]`` with the score as Python's shortest repr text
(``"1.5"``, ``"inf"``); hashes ``[[field, value], ...]``; streams the expected.json shape
(``entries``, ``last_id``, ``groups`` ...).
"""

from __future__ import annotations

import math

from rich.table import Table

from persistkit.rdbtools import model
from persistkit.rdbtools.export import value_to_json
from persistkit.render.common import bstr_json, display_bytes, stdout_console, stderr_console


# ---------------------------------------------------------------------------
# values <-> JSON


class ValueSyntaxError(ValueError):
    """A JSON value that does not follow the convention for its type."""


def bstr_from_json(x) -> bytes:
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, bool) or x is None:
        raise ValueSyntaxError(f"expected a string or {{\"hex\": ...}}, got {x!r}")
    if isinstance(x, (int, float)):
        return repr(x).encode() if isinstance(x, float) else str(x).encode()
    if isinstance(x, dict) and "hex" in x:
        try:
            return bytes.fromhex(x["hex"])
        except (TypeError, ValueError):
            raise ValueSyntaxError(f"bad hex string {x['hex']!r}") from None
    raise ValueSyntaxError(f"expected a string or {{\"hex\": ...}}, got {x!r}")


def _score(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ValueSyntaxError(f"bad score {x!r}") from None


def _pairs(x, what: str) -> list:
    if isinstance(x, dict):
        x = list(x.items())
    if not isinstance(x, list) or any(not isinstance(p, (list, tuple)) or len(p) != 2 for p in x):
        raise ValueSyntaxError(f"a {what} is a list of [a, b] pairs")
    return x


def _stream_from_json(v: dict, node_max_entries: int = 100) -> model.StreamValue:
    if not isinstance(v, dict) or not isinstance(v.get("entries", []), list):
        raise ValueSyntaxError("a stream is an object with \"entries\" (and optionally last_id, groups)")
    entries = []
    for e in v.get("entries", []):
        fields = [(bstr_from_json(f), bstr_from_json(x)) for f, x in _pairs(e.get("fields", []), "stream entry")]
        entries.append(model.StreamEntry(model.parse_stream_id(e["id"]), fields))
    nodes = []
    for i in range(0, len(entries), node_max_entries):
        chunk = entries[i:i + node_max_entries]
        nodes.append(model.StreamNode(chunk[0].id, [f for f, _ in chunk[0].fields], chunk))

    def sid(x, default=None):
        return model.parse_stream_id(x) if x else default

    last = sid(v.get("last_id"), entries[-1].id if entries else (0, 0))
    groups = []
    for g in v.get("groups", []):
        owners = {}
        consumers = []
        for c in g.get("consumers", []):
            name = bstr_from_json(c["name"])
            pel = [sid(i) for i in c.get("pel", [])]
            for i in pel:
                owners[i] = name
            consumers.append(model.StreamConsumer(name, int(c.get("seen_time_ms") or 0),
                                                  c.get("active_time_ms"), pel))
        pel = [model.StreamPendingEntry(sid(p["id"]), int(p.get("delivery_time_ms", 0)),
                                        int(p.get("delivery_count", 1)), owners.get(sid(p["id"])))
               for p in g.get("pel", [])]
        nacked = [sid(i) for i in g["nacked"]] if g.get("nacked") is not None else None
        groups.append(model.StreamGroup(bstr_from_json(g["name"]), sid(g.get("last_delivered_id"), (0, 0)),
                                        g.get("entries_read"), pel, consumers, nacked))
    idmp = None
    if v.get("idmp") is not None:
        i = v["idmp"]
        idmp = model.StreamIdmp(
            int(i.get("duration", 100)), int(i.get("max_entries", 100)),
            [model.IdmpProducer(bstr_from_json(p["pid"]),
                                [(bstr_from_json(e["iid"]), sid(e["id"])) for e in p.get("entries", [])])
             for p in i.get("producers", [])],
            int(i.get("iids_added", 0)), int(i.get("iids_duplicates", 0)))
    return model.StreamValue(nodes=nodes, length=v.get("length", len(entries)), last_id=last,
                             first_id=sid(v.get("recorded_first_entry_id")),
                             max_deleted_id=sid(v.get("max_deleted_entry_id")),
                             entries_added=v.get("entries_added"), groups=groups, idmp=idmp)


def _array_from_json(v) -> model.ArrayValue:
    """export's array shape ({"insert_idx", "elements": [{"index", "tag", "value"}]}), or
    plain [[index, value], ...] / {"index": value} (tags chosen as the server would)."""
    from persistkit.kvencoding import rdbarray as ra

    if isinstance(v, dict) and "elements" in v:
        tags = {name: tag for tag, name in ra.TAG_NAMES.items()}
        els = []
        for e in v["elements"]:
            index, text = int(e["index"]), bstr_from_json(e["value"])
            tag = tags.get(e.get("tag")) if e.get("tag") is not None else None
            if tag is None:
                els.append(ra.element_for_text(index, text))
            elif tag == ra.TAG_INT:
                els.append(ra.ArrayElement(index, tag, int(text)))
            elif tag == ra.TAG_FLOAT:
                els.append(ra.ArrayElement(index, tag, float(text)))
            else:
                els.append(ra.ArrayElement(index, tag, text))
        ins = v.get("insert_idx")
        value = ra.ArrayValue(els, None if ins is None else int(ins))
    else:
        value = ra.array_from_items([(int(i), bstr_from_json(x)) for i, x in _pairs(v, "array")])
    if not value.elements:
        raise ValueSyntaxError("an array needs at least one element")
    return value


def value_from_json(ktype: str, v):
    """The model value of a JSON value in the convention above."""
    if ktype == model.STRING:
        return bstr_from_json(v)
    if ktype in (model.LIST, model.SET):
        if not isinstance(v, list):
            raise ValueSyntaxError(f"a {ktype} is a JSON array")
        items = [bstr_from_json(x) for x in v]
        if ktype == model.SET:
            items = list(dict.fromkeys(items))
        return items
    if ktype == model.ZSET:
        return [(bstr_from_json(m), _score(s)) for m, s in _pairs(v, "zset")]
    if ktype == model.HASH:
        return [(bstr_from_json(f), bstr_from_json(x)) for f, x in _pairs(v, "hash")]
    if ktype == model.STREAM:
        return _stream_from_json(v)
    if ktype == model.ARRAY:
        return _array_from_json(v)
    if ktype == model.MODULE:
        # export's form: {"module": name, "encver": n, "module_id": id, "raw": {"hex": ...}}
        if not isinstance(v, dict) or "raw" not in v or "module_id" not in v:
            raise ValueSyntaxError("a module value is {\"module_id\": N, \"raw\": {\"hex\": ...}} as export writes it")
        return model.ModuleValue(int(v["module_id"]), str(v.get("module", "")), int(v.get("encver", 0)),
                                 raw=bstr_from_json(v["raw"]))
    raise ValueSyntaxError(f"cannot build a {ktype} value from JSON")


# ---------------------------------------------------------------------------
# convert


def render_convert(result, output: str, as_json: bool, to_stderr: bool = False) -> None:
    from persistkit.cli_contract import emit_json

    if as_json:
        d = result.as_dict()
        d["output"] = output if result.written else None
        emit_json(d)
        return
    out = stderr_console() if (to_stderr or not result.written) else stdout_console()
    src = f"RDB {result.source_version} ({result.source_dialect})"
    dst = f"RDB {result.target_version} ({result.target_dialect})"
    if result.written:
        out.print(f"wrote {output}: {result.keys_written} keys, {dst} from {src}"
                  + (f", {result.keys_filtered} filtered out" if result.keys_filtered else "")
                  + (f", {result.functions_written} function libraries" if result.functions_written else ""))
    else:
        out.print(f"[bold red]refused:[/] {dst} cannot hold everything in this {src} file; "
                  f"nothing was written (--allow-loss writes anyway)")
    if result.trailing_bytes:
        out.print(f"note: {result.trailing_bytes if result.trailing_bytes > 0 else 'some'} bytes after the RDB "
                  "end (an AOF command tail) were not converted; use merge/replay to fold them in")
    if result.losses:
        table = Table(title=f"loss report: {len(result.losses)} item(s)", show_lines=False)
        for col in ("db", "key", "what is lost"):
            table.add_column(col)
        for loss in result.losses:
            table.add_row("" if loss.db is None else str(loss.db),
                          "" if loss.key is None else display_bytes(loss.key), loss.detail)
        out.print(table)


# ---------------------------------------------------------------------------
# payload


def render_payload_decoded(rec, version: int, size: int, as_json: bool) -> None:
    from persistkit.cli_contract import emit_json

    fe = rec.field_expires or None
    doc = {"rdb_version": version, "size": size, "type": rec.type, "rdb_type": rec.rdb_type,
           "encoding": rec.encoding, "value": value_to_json(rec.type, rec.value),
           "field_expire_at_ms": [[bstr_json(f), ms] for f, ms in fe.items()] if fe else None}
    if rec.key_meta:
        from persistkit.rdbtools.export import key_meta_json

        doc["key_meta"] = key_meta_json(rec.key_meta)
    if as_json:
        emit_json(doc)
        return
    out = stdout_console()
    out.print(f"DUMP payload: {size} bytes, RDB version {version}, type {rec.type} "
              f"(rdb type {rec.rdb_type}, encoding {rec.encoding})")
    import json

    text = json.dumps(doc["value"], ensure_ascii=False)
    out.print(text if len(text) <= 2000 else text[:2000] + f"… ({len(text)} chars)", markup=False)
    if fe:
        out.print(f"field TTLs: {len(fe)}")
    if rec.key_meta:
        out.print("key metadata: " + ", ".join(f"{m['class']} v{m['version']}" for m in doc["key_meta"]))


def render_payload_encoded(payload: bytes, version: int, rdb_type: int, ktype: str, as_json: bool) -> None:
    from persistkit.cli_contract import emit_json

    if as_json:
        emit_json({"rdb_version": version, "type": ktype, "rdb_type": rdb_type,
                   "size": len(payload), "payload_hex": payload.hex()})
    else:
        stdout_console().print(payload.hex(), markup=False, soft_wrap=True)
