"""``inspect``, ``verify`` and ``export``: RDB files here, AOF inputs handed to aoftools.

Inputs are recognised by content (persistkit.detect): an AOF file, an AOF directory or
manifest, and an RDB followed by RESP (single-file hybrid AOF) go to the AOF side.
"""

from __future__ import annotations

import os
import sys

import click

from persistkit.cli_contract import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, UsageProblem, emit_json, guarded, json_option
from persistkit.kvencoding.fileio import InputError

AOF_KINDS = ("aof", "aof-dir", "aof-manifest")
TYPES = ("string", "list", "set", "zset", "hash", "stream", "module")


def _stdin_rdb():
    """Standard input, opened once (it cannot be re-read): RDB content only."""
    from persistkit.detect import detect_bytes
    from persistkit.kvencoding.fileio import open_input

    stream = open_input("-")
    kind = detect_bytes(stream.peek(4096)[:4096])
    if kind != "rdb":
        raise InputError(f"standard input: only RDB content can be read from stdin (this looks like {kind})")
    return stream


def _kind(path: str) -> str:
    from persistkit.detect import detect

    if path == "-":
        return "rdb"
    kind = detect(path)
    if kind == "unknown" and path != "-" and os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not an AOF directory (no manifest)")
    if kind == "rdb" and path != "-" and _is_aof_preamble(path):
        return "aof"
    return kind


def _is_aof_preamble(path: str) -> bool:
    """An RDB written as the preamble of a single-file AOF says so in its aux fields."""
    from persistkit.aoftools.reader import preamble_flag

    return preamble_flag(path) is True


def _aof(module: str, name: str, what: str):
    try:
        mod = __import__(f"persistkit.aoftools.{module}", fromlist=[name])
        return getattr(mod, name)
    except (ImportError, AttributeError):
        raise UsageProblem(f"AOF {what} not available") from None


def _not_rdb(path: str):
    from persistkit.kvencoding.errors import FormatError

    return FormatError("not an RDB or AOF file", 0, file=path,
                       expected="RDB magic (REDIS/VALKEY), RESP commands or an AOF manifest")


def register(main) -> None:
    @main.command("inspect")
    @click.argument("path")
    @json_option
    @click.option("--top", default=10, show_default=True, type=click.IntRange(0, None),
                  help="How many of the biggest keys to list.")
    @guarded
    def inspect_cmd(path: str, as_json: bool, top: int) -> int:
        """Show what an RDB (or AOF) file holds: header, aux fields, per-db counts, types and
        encodings, TTL spread, biggest keys, functions, modules, checksum, memory estimate."""
        from persistkit.render.common import stdout_console

        kind = _kind(path)
        if kind in AOF_KINDS:
            return _inspect_aof(path, as_json)
        if kind == "unknown":
            raise _not_rdb(path)
        from persistkit.rdbtools.inspect import inspect_rdb
        from persistkit.render.rdb import progress_bar, render_inspect

        stream = _stdin_rdb() if path == "-" else None
        with progress_bar("inspect") as progress:
            data = inspect_rdb("<stdin>" if stream else path, top=top, progress=progress, stream=stream)
        if as_json:
            emit_json(data)
        else:
            render_inspect(data, stdout_console())
        return EXIT_OK

    def _inspect_aof(path: str, as_json: bool) -> int:
        inspect_aof = _aof("inspect", "inspect_aof", "inspection")
        data = inspect_aof(path)
        if as_json:
            emit_json(data)
        else:
            from persistkit.render.aof import render_inspect as render_aof
            from persistkit.render.common import stdout_console

            render_aof(data, stdout_console())
        return EXIT_OK

    @main.command("verify")
    @click.argument("paths", nargs=-1, required=True)
    @json_option
    @click.option("--quick", is_flag=True, help="Check framing, lengths and checksum only "
                  "(skip the deep validation of inner blobs).")
    @guarded
    def verify_cmd(paths: tuple[str, ...], as_json: bool, quick: bool) -> int:
        """Check RDB / AOF files for corruption. Exit 0 when all are intact, 1 when a
        problem was found, 2 for a usage error (missing file, a non-AOF directory)."""
        from persistkit.checks import verify_path
        from persistkit.render.common import stdout_console
        from persistkit.render.rdb import progress_bar, render_verify

        reports = []
        errors: list[tuple[str, str]] = []
        for path in paths:
            try:
                with progress_bar(f"verify {os.path.basename(path)}") as progress:
                    reports.append(verify_path(path, quick=quick, progress=progress))
            except (InputError, UsageProblem) as exc:
                errors.append((path, str(exc)))
            except OSError as exc:
                errors.append((path, exc.strerror or str(exc)))
        ok = all(r.ok for r in reports) and not errors
        if as_json:
            emit_json({"ok": ok, "reports": [r.as_dict() for r in reports],
                       "errors": [{"path": p, "message": m} for p, m in errors]})
        else:
            render_verify(reports, stdout_console())
            for p, m in errors:
                click.echo(f"persistkit: {m}" if m.startswith(p) else f"persistkit: {p}: {m}", err=True)
        if errors:
            return EXIT_USAGE
        return EXIT_OK if ok else EXIT_PROBLEM

    @main.command("export")
    @click.argument("path")
    @click.option("--format", "fmt", type=click.Choice(["jsonl", "json", "csv", "resp"]),
                  default="jsonl", show_default=True, help="jsonl is lossless; resp rebuilds the data "
                  "through redis-cli --pipe.")
    @click.option("--db", type=click.IntRange(0, None), default=None, help="Only this database.")
    @click.option("--match", default=None, help="Only keys matching this glob.")
    @click.option("--type", "type_", type=click.Choice(TYPES), default=None, help="Only keys of this type.")
    @click.option("-o", "--output", default=None, help="Write here (atomically) instead of stdout.")
    @guarded
    def export_cmd(path: str, fmt: str, db, match, type_, output) -> int:
        """Export the keys of an RDB (or AOF) file as JSON lines, JSON, CSV or RESP commands."""
        from persistkit.kvencoding.fileio import atomic_output, same_file

        kind = _kind(path)
        if kind == "unknown":
            raise _not_rdb(path)
        if output is not None and path != "-" and os.path.exists(output) and same_file(path, output):
            raise UsageProblem("the output must not be the input file")

        def run(out) -> None:
            if kind in AOF_KINDS:
                export_aof = _aof("export", "export_aof", "export")
                export_aof(path, fmt, out, db=db, match=match, type_=type_)
                return
            from persistkit.rdbtools.export import export_rdb
            from persistkit.render.rdb import progress_bar

            stream = _stdin_rdb() if path == "-" else None
            with progress_bar("export") as progress:
                export_rdb("<stdin>" if stream else path, fmt, out, db=db, match=match, type_=type_,
                           progress=progress, stream=stream)

        if output is None:
            out = sys.stdout.buffer
            run(out)
            out.flush()
        else:
            with atomic_output(output) as out:
                run(out)
        return EXIT_OK

