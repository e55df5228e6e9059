"""``persistkit convert`` (re-encode an RDB for another server) and ``persistkit payload``
(DUMP / RESTORE payloads: decode one, or encode one from a JSON value)."""

from __future__ import annotations

import json
import os
import sys

import click

from persistkit.cli_contract import EXIT_OK, EXIT_PROBLEM, UsageProblem, guarded, json_option
from persistkit.rdbtools import model
from persistkit.rdbtools.encoding_policy import SUPPORTED_VERSIONS, TARGETS, Thresholds

KEY_TYPES = (model.STRING, model.LIST, model.SET, model.ZSET, model.HASH, model.STREAM, model.MODULE,
             model.ARRAY)


def _target(rdb_version, target, default=None):
    if rdb_version is not None and target is not None:
        raise UsageProblem("give either --rdb-version or --target, not both")
    if target is not None:
        return TARGETS[target]
    if rdb_version is not None:
        if rdb_version not in SUPPORTED_VERSIONS:
            raise UsageProblem(f"cannot write RDB version {rdb_version} (supported: 6-14, 80)")
        return rdb_version, "valkey" if rdb_version >= 80 else "redis"
    return default


def _thresholds(pairs) -> dict:
    out = {}
    for p in pairs:
        name, sep, value = p.partition("=")
        if not sep:
            raise UsageProblem(f"--threshold takes NAME=VALUE (got {p!r})")
        try:
            out[name.strip()] = int(value)
        except ValueError:
            raise UsageProblem(f"--threshold {name}: {value!r} is not an integer") from None
    return out


def _key_filter(dbs, patterns, types):
    if not (dbs or patterns or types):
        return None
    from persistkit.kvencoding.glob import glob_match as match  # Redis glob, as everywhere

    dbset = set(dbs)
    globs = [os.fsencode(p) for p in patterns]
    typeset = set(types)

    def keep(rec: model.Record) -> bool:
        if dbset and rec.db not in dbset:
            return False
        if typeset and rec.type not in typeset:
            return False
        if globs and not any(match(g, rec.key) for g in globs):
            return False
        return True

    return keep


target_choice = click.Choice(sorted(TARGETS))


def register(main) -> None:
    @main.command("convert")
    @click.argument("path")
    @click.option("-o", "--output", required=True,
                  help="Output RDB (written atomically; .lz4 = LZ4 frame; - = stdout, not atomic).")
    @click.option("--rdb-version", type=int, help="Target RDB version (6-14, or 80 for Valkey 9).")
    @click.option("--target", type=target_choice, help="Target server (sets version and dialect).")
    @click.option("--db", "dbs", type=int, multiple=True, help="Keep only this db (repeatable).")
    @click.option("--match", "patterns", multiple=True, help="Keep only keys matching this glob (repeatable).")
    @click.option("--type", "types", type=click.Choice(KEY_TYPES), multiple=True,
                  help="Keep only keys of this type (repeatable).")
    @click.option("--encodings", type=click.Choice(["keep", "server"]), default="keep", show_default=True,
                  help="keep: each key's source encoding where the target has it; "
                       "server: what the target server would choose from its thresholds.")
    @click.option("--threshold", "threshold_pairs", multiple=True, metavar="NAME=VALUE",
                  help="Override an encoding limit, e.g. hash-max-listpack-entries=128.")
    @click.option("--no-compress", is_flag=True, help="Do not LZF-compress strings (rdbcompression no).")
    @click.option("--allow-loss", is_flag=True, help="Write even when the target cannot hold everything.")
    @json_option
    @guarded
    def convert_cmd(path, output, rdb_version, target, dbs, patterns, types, encodings,
                    threshold_pairs, no_compress, allow_loss, as_json):
        """Re-encode an RDB (or hybrid AOF base, or .lz4/.gz of one) for another server version.

        When the target cannot express something (field TTLs before RDB 12, functions
        before 10, newer stream metadata, module values) nothing is written and the loss
        report lists every key concerned (exit 1); --allow-loss writes anyway."""
        from persistkit.kvencoding.fileio import atomic_output, open_input, same_file
        from persistkit.rdbtools.convert import LossRefused, TargetError, convert_rdb
        from persistkit.render.convert import render_convert

        chosen = _target(rdb_version, target)
        path, notes = _resolve_input(path)
        to_stdout = output == "-"
        if to_stdout and as_json:
            raise UsageProblem("-o - writes the RDB to stdout: --json cannot share it")
        if to_stdout and sys.stdout.isatty():
            raise UsageProblem("refusing to write an RDB to a terminal (-o - is for pipes)")
        if not to_stdout and path != "-" and os.path.exists(output) and same_file(path, output):
            raise UsageProblem(f"{output}: the output must not be the input file")
        if os.path.isdir(output):
            raise UsageProblem(f"{output}: is a directory")
        thresholds = _thresholds(threshold_pairs)
        try:  # refuse a bad threshold before any work (the target was checked by _target)
            Thresholds().with_overrides(thresholds)
        except ValueError as exc:
            raise UsageProblem(str(exc)) from None
        key_filter = _key_filter(dbs, patterns, types)
        stream = open_input(path)
        try:
            version, dialect = chosen if chosen else (None, None)
            try:
                sink = _stdout_sink() if to_stdout else atomic_output(output)
                with sink as out, _progress(stream) as progress:
                    result = convert_rdb(stream, out, version=version, dialect=dialect,
                                         encodings=encodings, thresholds=thresholds or None,
                                         key_filter=key_filter, allow_loss=allow_loss,
                                         compress=not no_compress, progress=progress)
            except LossRefused as refused:
                render_convert(refused.result, output, as_json, to_stderr=to_stdout)
                return EXIT_PROBLEM
            except TargetError as exc:
                raise UsageProblem(str(exc)) from None
        finally:
            stream.close()
        for note in notes:
            click.echo(f"persistkit: note: {note}", err=True)
        render_convert(result, output, as_json, to_stderr=to_stdout)
        return EXIT_OK

    @main.group("payload")
    def payload_group():
        """DUMP / RESTORE payloads: decode one, or encode a value as one."""

    @payload_group.command("decode")
    @click.argument("file")
    @click.option("--hex", "hex_input", is_flag=True,
                  help="The input is hex text (detected anyway when it is all hex digits).")
    @json_option
    @guarded
    def payload_decode(file, hex_input, as_json):
        """Decode a DUMP payload (raw bytes or hex text; - for stdin) and show its value."""
        from persistkit.kvencoding.fileio import open_input
        from persistkit.rdbtools.dump import decode_payload
        from persistkit.render.convert import render_payload_decoded

        stream = open_input(file)
        try:
            data = stream.read()
        finally:
            stream.close()
        data = _maybe_hex(data, hex_input)
        rec, version = decode_payload(data)
        render_payload_decoded(rec, version, len(data), as_json)
        return EXIT_OK

    @payload_group.command("encode")
    @click.option("--type", "key_type", type=click.Choice([t for t in KEY_TYPES if t != model.MODULE]),
                  help="Value type (or give an export line with \"type\").")
    @click.option("--value", "value_text", help="The value as JSON (export convention).")
    @click.option("--from", "from_file", help="Read the JSON value (or an export line) from a file; - for stdin.")
    @click.option("--rdb-version", type=int, help="Payload RDB version (default 10, Redis 7.0).")
    @click.option("--target", type=target_choice, help="Target server (sets the version).")
    @click.option("--encodings", type=click.Choice(["server", "keep"]), default="server", show_default=True)
    @click.option("--threshold", "threshold_pairs", multiple=True, metavar="NAME=VALUE")
    @click.option("-o", "--output", help="Write the raw payload to this file (default: hex on stdout).")
    @json_option
    @guarded
    def payload_encode(key_type, value_text, from_file, rdb_version, target, encodings,
                       threshold_pairs, output, as_json):
        """Encode a value as a DUMP payload for RESTORE.

        The value is JSON in the export convention: a string is "text" or {"hex": "..."};
        list/set an array; zset [[member, score], ...]; hash [[field, value], ...] or
        {"field": "value"}; stream {"entries": [{"id": "1-1", "fields": [[f, v]]}], ...}.
        An export line {"type": ..., "value": ..., "field_expire_at_ms": [[f, ms]]} works too.

        Example: persistkit payload encode --type hash --value '{"a": "1"}' --target redis-7.0"""
        from persistkit.rdbtools.writer import ValueEncoder, encode_payload
        from persistkit.render.convert import ValueSyntaxError, bstr_from_json, render_payload_encoded, value_from_json

        version, dialect = _target(rdb_version, target, default=(10, "redis"))
        if (value_text is None) == (from_file is None):
            raise UsageProblem("give the value with exactly one of --value or --from")
        if from_file is not None:
            from persistkit.kvencoding.fileio import open_input

            stream = open_input(from_file)
            try:
                value_text = stream.read().decode("utf-8")
            except UnicodeDecodeError:
                raise UsageProblem(f"{from_file}: not UTF-8 JSON") from None
            finally:
                stream.close()
        try:
            doc = json.loads(value_text)
        except json.JSONDecodeError as exc:
            raise UsageProblem(f"the value is not valid JSON: {exc}") from None
        field_expires = None
        rdb_type = None
        key_meta = None
        if isinstance(doc, dict) and "value" in doc and ("type" in doc or key_type):
            # an export line: its rdb_type lets --encodings keep reproduce the source type
            key_type = key_type or doc.get("type")
            fe = doc.get("field_expire_at_ms")
            if fe:
                field_expires = {bstr_from_json(f): int(ms) for f, ms in fe}
            if isinstance(doc.get("rdb_type"), int):
                rdb_type = doc["rdb_type"]
            key_meta = _key_meta_from_json(doc.get("key_meta"))
            doc = doc["value"]
        if key_type not in KEY_TYPES:
            raise UsageProblem("--type is required (string, list, set, zset, hash, stream)")
        try:
            value = value_from_json(key_type, doc)
        except (ValueSyntaxError, KeyError, TypeError, ValueError) as exc:
            raise UsageProblem(f"bad {key_type} value: {exc}") from None
        rec = model.Record(db=0, key=b"", type=key_type, rdb_type=rdb_type, encoding="", offset=0,
                           value=value, field_expires=field_expires, key_meta=key_meta)
        try:
            thresholds = _thresholds(threshold_pairs) or None
            payload = encode_payload(rec, version, dialect, encodings=encodings, thresholds=thresholds)
            rdb_type = ValueEncoder(version, dialect, thresholds=thresholds, encodings=encodings).choose_type(rec)
        except ValueError as exc:
            raise UsageProblem(str(exc)) from None
        if key_meta and not (dialect == "redis" and 13 <= version < 80):
            click.echo(f"persistkit: note: RDB version {version} has no key metadata; it is not in the payload",
                       err=True)
        if field_expires and rdb_type not in (22, 24, 25):
            click.echo(f"persistkit: note: RDB version {version} has no field TTLs; they are not in the payload",
                       err=True)
        if output:
            from persistkit.kvencoding.fileio import atomic_output

            with atomic_output(output, compress=False) as out:
                out.write(payload)
            if as_json:
                render_payload_encoded(payload, version, rdb_type, key_type, True)
            return EXIT_OK
        render_payload_encoded(payload, version, rdb_type, key_type, as_json)
        return EXIT_OK


def _key_meta_from_json(items):
    """export's "key_meta" list back to model.KeyMeta (the stored bytes are in "raw")."""
    if not items:
        return None
    from persistkit.kvencoding.keymeta import KeyMeta, encode_class_spec
    from persistkit.render.convert import bstr_from_json

    out = []
    for m in items:
        try:
            name, version, flags = str(m["class"]), int(m.get("version", 0)), int(m.get("flags", 0))
            out.append(KeyMeta(name, version, flags, bstr_from_json(m["raw"]),
                               encode_class_spec(name, version, flags)))
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageProblem(f"bad key_meta entry {m!r}: {exc}") from None
    return out


def _resolve_input(path: str) -> tuple[str, list[str]]:
    """A multi-part AOF folder or its manifest stands for its base file when that is an
    RDB (the snapshot part); increments are not folded in (that is merge/replay's job)."""
    if path == "-":
        return path, []
    manifest = None
    if os.path.isdir(path):
        found = [f for f in sorted(os.listdir(path)) if f.endswith(".manifest")]
        if len(found) != 1:
            return path, []  # open_input says "is a directory"
        manifest = os.path.join(path, found[0])
    elif path.endswith(".manifest"):
        manifest = path
    if manifest is None:
        return path, []
    from persistkit.aoftools.manifest import parse_manifest

    folder = os.path.dirname(manifest)
    with open(manifest, "rb") as fh:
        m = parse_manifest(fh.read(), file=manifest)
    if m.base is None:
        raise UsageProblem(f"{manifest}: the manifest names no base file to convert")
    name = m.base.name
    if os.path.basename(name) != name or name in (".", ".."):
        raise UsageProblem(f"{manifest}: base file name {name!r} leads outside its folder")
    base = os.path.join(folder, name)
    with open(base, "rb") as fh:
        if fh.read(5) not in (b"REDIS", b"VALKE"):
            raise UsageProblem(f"{base}: the base is a RESP AOF, not an RDB (use replay or merge)")
    notes = [f"converting the AOF base {base}"]
    incr = [i.name for i in m.incrs if os.path.getsize(os.path.join(folder, i.name)) > 0] \
        if all(os.path.basename(i.name) == i.name for i in m.incrs) else []
    if incr:
        notes.append(f"{len(incr)} increment file(s) not folded in ({', '.join(incr)}): use merge/replay")
    return base, notes


class _stdout_sink:
    """``-o -``: the RDB goes to stdout as it is made (a pipe cannot be made atomic;
    a refused conversion may have sent part of a file already)."""

    def __enter__(self):
        return sys.stdout.buffer

    def __exit__(self, *exc):
        sys.stdout.buffer.flush()
        return False


class _progress:
    """A rich progress bar on stderr when it is a terminal; a no-op callback otherwise."""

    def __init__(self, stream) -> None:
        from persistkit.kvencoding.fileio import input_size
        from persistkit.render.common import progress_enabled

        self.total = input_size(stream)
        self.bar = None
        if progress_enabled():
            from rich.progress import Progress

            from persistkit.render.common import stderr_console

            self.bar = Progress(console=stderr_console(), transient=True)

    def __enter__(self):
        if self.bar is None:
            return None
        self.bar.__enter__()
        task = self.bar.add_task("converting", total=self.total)
        return lambda offset: self.bar.update(task, completed=offset)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def _maybe_hex(data: bytes, forced: bool) -> bytes:
    text = data.strip()
    if text.startswith((b"0x", b"0X")):
        text = text[2:]
    looks_hex = len(text) % 2 == 0 and text and all(c in b"0123456789abcdefABCDEF \n\r\t" for c in text)
    if forced or looks_hex:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise UsageProblem("the input is not valid hex text") from None
    return data
