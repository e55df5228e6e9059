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


def _open(path: str):
    """The input opened once and its kind as the commands see it: ``(Detected, kind)``.
    The Detected's open stream is what an RDB command reads (never a second open);
    standard input is RDB content only."""
    from persistkit.checks import input_kind, open_stdin_rdb
    from persistkit.detect import open_detected

    if path == "-":
        inp = open_stdin_rdb()
        return inp, "rdb"
    inp = open_detected(path)
    try:
        return inp, input_kind(inp)
    except BaseException:
        inp.close()
        raise


def _kind(path: str) -> str:
    if path == "-":
        return "rdb"  # not opened here: standard input can be read only once
    inp, kind = _open(path)
    inp.close()
    return kind


def _aof_handover(inp) -> dict:
    """Keyword arguments that hand a detected one-file AOF (RESP, or an RDB preamble then
    RESP) to the AOF side as it is open (``aof_set=``, ``opened=``), so it is not resolved
    and opened again; empty for directories and manifests (resolved there)."""
    from persistkit.checks import single_aof_set

    aof_set = single_aof_set(inp)
    if aof_set is None:
        return {}
    return {"aof_set": aof_set, "opened": {inp.path: inp.stream}}


def _not_rdb(path: str):
    from persistkit.kvencoding.errors import FormatError

    return FormatError("not an RDB or AOF file", 0, file=path,
                       expected="RDB magic (REDIS/VALKEY), RESP commands or an AOF manifest")


def register(main) -> None:
    @main.command("inspect")
    @click.argument("paths", nargs=-1, required=True)
    @json_option
    @click.option("--top", default=10, show_default=True, type=click.IntRange(0, None),
                  help="How many of the biggest keys to list.")
    @click.option("--now", "now", default=None, metavar="TIME|file",
                  help="Bucket TTLs as of this moment instead of the wall clock: an ISO time, "
                  "unix seconds or ms, or 'file' for the snapshot's own ctime.")
    @click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 256),
                  help="Files read in parallel by this many worker processes.")
    @guarded
    def inspect_cmd(paths: tuple[str, ...], as_json: bool, top: int, now, jobs: int) -> int:
        """Show what an RDB (or AOF) file holds: header, aux fields, per-db counts, types and
        encodings, TTL spread, biggest keys, functions, modules, checksum, memory estimate.
        Several files: one report each, in order (JSON: {"files": [...]})."""
        from persistkit.render.common import stdout_console

        if len(paths) > 1:
            return _inspect_many(paths, as_json, top, now, jobs)
        path = paths[0]
        inp, kind = _open(path)
        if kind in AOF_KINDS:
            with inp:  # the AOF side reads the stream as opened (and closes it)
                return _inspect_aof(path, as_json, _aof_handover(inp))
        if kind == "unknown":
            inp.close()
            raise _not_rdb(path)
        from persistkit.rdbtools.asof import BadMoment, resolve_now
        from persistkit.rdbtools.inspect import inspect_rdb
        from persistkit.render.rdb import progress_bar, render_inspect

        try:
            now_ms = resolve_now(now, path)
        except BadMoment as exc:
            raise UsageProblem(str(exc)) from None
        stream = inp.stream  # the input as opened to detect it, read once
        with progress_bar("inspect") as progress, inp:
            data = inspect_rdb("<stdin>" if path == "-" else path, top=top, now_ms=now_ms,
                               progress=progress, stream=stream)
        if as_json:
            emit_json(data)
        else:
            render_inspect(data, stdout_console())
        return EXIT_OK

    def _inspect_many(paths, as_json: bool, top: int, now, jobs: int) -> int:
        from persistkit.commands.fleet import inspect_all
        from persistkit.render.aof import render_inspect as render_aof
        from persistkit.render.common import stdout_console
        from persistkit.render.rdb import progress_bar, render_inspect

        if "-" in paths:
            raise UsageProblem("standard input (-) can only be inspected alone")
        items = []
        for p in paths:
            kind = _kind(p)
            if kind == "unknown":
                raise _not_rdb(p)
            items.append((p, kind))
        results = inspect_all(items, top, now, jobs, bar=lambda: progress_bar("inspect"))
        worst = EXIT_OK
        if as_json:
            emit_json({"files": [r["data"] if r["kind"] != "error" else
                                 {"path": p, "error": r["failure"]["message"]}
                                 for (p, _), r in zip(items, results)]})
        console = stdout_console()
        for r in results:
            if r["kind"] == "error":
                worst = max(worst, r["failure"]["code"])
                click.echo(f"persistkit: {r['failure']['message']}", err=True)
            elif not as_json:
                (render_aof if r["kind"] == "aof" else render_inspect)(r["data"], console)
        return worst

    def _inspect_aof(path: str, as_json: bool, handover: dict) -> int:
        from persistkit.aoftools.inspect import inspect_aof

        data = inspect_aof(path, **handover)
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
    @click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 256),
                  help="Files checked in parallel by this many worker processes.")
    @guarded
    def verify_cmd(paths: tuple[str, ...], as_json: bool, quick: bool, jobs: int) -> int:
        """Check RDB / AOF files for corruption. Exit 0 when all are intact, 1 when a
        problem was found, 2 for a usage error (missing file, a non-AOF directory)."""
        from persistkit.checks import verify_path
        from persistkit.render.common import stdout_console
        from persistkit.render.rdb import progress_bar, render_verify

        reports = []
        errors: list[tuple[str, str]] = []
        if jobs > 1 and len(paths) > 1 and "-" not in paths:
            from persistkit.commands.fleet import verify_all

            reports, errors = verify_all(paths, quick, jobs, bar=lambda: progress_bar("verify"))
            paths = ()
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
    @click.argument("paths", nargs=-1, required=True)
    @click.option("--format", "fmt", type=click.Choice(["jsonl", "json", "csv", "resp", "parquet"]),
                  default="jsonl", show_default=True, help="jsonl is lossless; resp rebuilds the data "
                  "through redis-cli --pipe; parquet (needs pyarrow) for DuckDB/Spark/pandas, "
                  "-o FILE or -o DIR/ for a dataset with one file per input.")
    @click.option("--db", type=click.IntRange(0, None), default=None, help="Only this database.")
    @click.option("--match", default=None, help="Only keys matching this glob.")
    @click.option("--type", "type_", type=click.Choice(TYPES), default=None, help="Only keys of this type.")
    @click.option("-o", "--output", default=None, help="Write here (atomically) instead of stdout.")
    @click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 256),
                  help="Files read in parallel by this many worker processes (outputs joined in "
                  "input order).")
    @guarded
    def export_cmd(paths: tuple[str, ...], fmt: str, db, match, type_, output, jobs: int) -> int:
        """Export the keys of RDB (or AOF) files as JSON lines, JSON, CSV, RESP commands or
        Parquet. Several files: their outputs in input order (CSV: one header)."""
        from persistkit.kvencoding.fileio import atomic_output, same_file

        if len(paths) > 1 or fmt == "parquet":
            return _export_many(paths, fmt, dict(db=db, match=match, type_=type_), output, jobs)
        path = paths[0]
        inp, kind = _open(path)
        if kind == "unknown":
            inp.close()
            raise _not_rdb(path)
        if output is not None and path != "-" and os.path.exists(output) and same_file(path, output):
            inp.close()
            raise UsageProblem("the output must not be the input file")

        def run(out) -> None:
            if kind in AOF_KINDS:
                from persistkit.aoftools.export import export_aof

                with inp:  # the AOF side reads the stream as opened (and closes it)
                    export_aof(path, fmt, out, db=db, match=match, type_=type_,
                               **_aof_handover(inp))
                return
            from persistkit.rdbtools.export import export_rdb
            from persistkit.render.rdb import progress_bar

            stream = inp.stream  # the input as opened to detect it, read once
            with progress_bar("export") as progress, inp:
                export_rdb("<stdin>" if path == "-" else path, fmt, out, db=db, match=match, type_=type_,
                           progress=progress, stream=stream)

        if output is None:
            out = sys.stdout.buffer
            run(out)
            out.flush()
        else:
            with atomic_output(output) as out:
                run(out)
        return EXIT_OK

    def _export_many(paths, fmt: str, filters: dict, output, jobs: int) -> int:
        from persistkit.commands.fleet import export_all
        from persistkit.kvencoding.fileio import same_file
        from persistkit.render.rdb import progress_bar

        if "-" in paths:
            raise UsageProblem("standard input (-) can only be exported alone")
        if fmt == "json":
            raise UsageProblem("--format json makes one document per file: export several "
                               "files as jsonl, csv, resp or parquet")
        dataset = False
        if fmt == "parquet":
            from persistkit.rdbtools.parquet import require_pyarrow

            require_pyarrow()
            if output is None:
                raise UsageProblem("--format parquet needs -o FILE (or -o DIR/ for a dataset)")
            dataset = output.endswith(os.sep) or os.path.isdir(output)
        items = []
        for p in paths:
            kind = _kind(p)
            if kind == "unknown":
                raise _not_rdb(p)
            if fmt == "parquet" and kind in AOF_KINDS:
                raise UsageProblem(f"{p}: --format parquet exports RDB snapshots, not AOF commands")
            if output is not None and not dataset and os.path.exists(output) and same_file(p, output):
                raise UsageProblem("the output must not be an input file")
            items.append((p, kind))
        worst, errors = export_all(items, fmt, filters, jobs, output,
                                   bar=lambda: progress_bar("export"), dataset=dataset)
        for e in errors:
            click.echo(f"persistkit: {e}", err=True)
        return worst
