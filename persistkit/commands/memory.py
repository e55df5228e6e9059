"""``memory``: per-key memory estimates of RDB snapshots and their summaries, over many
files at once (``--jobs N`` worker processes, results in input order)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Optional

import click

from persistkit.cli_contract import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, UsageProblem, emit_json, guarded
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.fileio import InputError

FORMATS = ("table", "csv", "json", "jsonl", "parquet", "html")
ROW_FORMATS = ("csv", "jsonl", "parquet")


class Options:
    """What every worker needs to know (picklable)."""

    def __init__(self, fmt: str, top: int, depth: int, separator: bytes, thresholds: dict) -> None:
        self.fmt = fmt
        self.top = top
        self.depth = depth
        self.separator = separator
        self.thresholds = thresholds


def _thresholds(opts: Options):
    from persistkit.rdbtools.memory.sizes import Thresholds

    return Thresholds(**opts.thresholds)


def memory_task(path: str, index: int, opts: Options, part: Optional[str], progress=None) -> dict:
    """Read one file: its Summary, and its rows written to ``part`` (row formats). Runs in
    a worker process for ``--jobs`` > 1; never raises for a problem of the file itself."""
    from persistkit.rdbtools.memory import FileMeta, Summary, iter_batches

    meta = FileMeta(path)
    summary = Summary(top=opts.top, prefix_depth=opts.depth, separator=opts.separator)
    out = {"summary": summary, "code": EXIT_OK, "error": None}
    writer = None
    part_file = None
    try:
        batches = iter_batches(path, meta, progress=progress, thresholds=_thresholds(opts))
        if part is not None:
            part_file = open(part, "wb", buffering=1 << 20)
            writer = _row_writer(opts.fmt, part_file, header=False, path=path, meta=meta)
        first = True
        for batch in batches:
            if first:
                summary.start_file(meta.as_dict())
                first = False
            summary.add_rows(batch)
            if writer is not None:
                writer.write(batch, path)
        if first:
            summary.start_file(meta.as_dict())
    except FormatError as exc:
        out["code"] = EXIT_PROBLEM
        out["error"] = f"error: {exc}"
    except (InputError, UsageProblem) as exc:
        out["code"] = EXIT_USAGE
        out["error"] = str(exc)
    except OSError as exc:
        out["code"] = EXIT_USAGE
        name = f"{exc.filename}: " if getattr(exc, "filename", None) else f"{path}: "
        out["error"] = f"{name}{exc.strerror or exc}"
    finally:
        if writer is not None:
            writer.close()
        if part_file is not None:
            part_file.close()
    if not summary.files:
        summary.start_file(meta.as_dict())
    summary.files[-1].update(meta.as_dict())   # what the end of the file told (checksum)
    summary.files[-1]["error"] = out["error"]
    return out


def _row_writer(fmt: str, out, *, header: bool, path: str, meta):
    if fmt == "parquet":
        from persistkit.rdbtools.parquet import MemoryRowsParquet

        return MemoryRowsParquet(out)
    from persistkit.render.memory import ROW_WRITERS

    return ROW_WRITERS[fmt](out, header=header)


def _check_inputs(paths) -> None:
    from persistkit.detect import detect

    for p in paths:
        if p == "-":
            if len(paths) > 1:
                raise UsageProblem("standard input (-) can only be read alone")
            continue
        if not os.path.exists(p):
            raise InputError(f"{p}: No such file or directory")
        kind = detect(p)
        if kind in ("aof", "aof-dir", "aof-manifest"):
            raise UsageProblem(f"{p}: memory reads RDB snapshots; for an AOF, fold it into one "
                               "first (persistkit merge DIR -o snapshot.rdb)")
        if kind != "rdb":
            raise FormatError("not an RDB file", 0, file=p, expected="RDB magic (REDIS/VALKEY)")


def _parse_thresholds(items) -> dict:
    from persistkit.rdbtools.memory.sizes import Thresholds

    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not value.strip().isdigit():
            raise UsageProblem(f"--threshold {item!r}: expected NAME=NUMBER")
        try:
            Thresholds(**{name.strip(): int(value)})
        except ValueError as exc:
            raise UsageProblem(f"--threshold: {exc}") from None
        out[name.strip()] = int(value)
    return out


def run_memory(paths, opts: Options, jobs: int, output: Optional[str], bar=None) -> tuple[dict, int, list]:
    """Run the tasks; write row outputs to ``output`` (or stdout). Returns the merged
    summary document, the worst exit code and the error lines."""
    from persistkit.jobs import input_sizes, run_tasks
    from persistkit.rdbtools.memory import Summary

    merged = Summary(top=opts.top, prefix_depth=opts.depth, separator=opts.separator)
    merged.files = []
    worst = EXIT_OK
    errors = []
    rows_out = opts.fmt in ROW_FORMATS
    tmpdir = tempfile.mkdtemp(prefix="persistkit-memory-", dir=_tmp_base(output)) if rows_out else None
    try:
        tasks = [(p, i, opts, os.path.join(tmpdir, f"part-{i:05d}") if rows_out else None)
                 for i, p in enumerate(paths)]
        results = run_tasks(memory_task, tasks, jobs=jobs, sizes=input_sizes(paths), bar=bar)

        def consume(sink=None):
            nonlocal worst
            for (path, _, _, part), res in zip(tasks, results):
                merged.merge(res["summary"])
                if res["error"]:
                    errors.append(res["error"])
                    worst = max(worst, res["code"])
                if sink is not None:
                    sink(path, part)

        if rows_out:
            _write_rows(opts, output, consume)
        else:
            consume()
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return merged.as_dict(), worst, errors


def _tmp_base(output: Optional[str]) -> Optional[str]:
    if output:
        return os.path.dirname(os.path.abspath(output)) or None
    return None


def _write_rows(opts: Options, output: Optional[str], consume) -> None:
    from persistkit.kvencoding.fileio import atomic_output

    if opts.fmt == "parquet":
        from persistkit.rdbtools.parquet import concat_parquet_parts

        if output is None:
            raise UsageProblem("--format parquet needs -o FILE")
        parts = []
        consume(lambda path, part: parts.append(part))
        with atomic_output(output) as out:
            concat_parquet_parts(parts, out)
        return

    def body(out) -> None:
        if opts.fmt == "csv":
            from persistkit.render.memory import CSV_HEADER

            out.write(CSV_HEADER)

        def copy(path, part):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)

        consume(copy)

    if output is None:
        out = sys.stdout.buffer
        body(out)
        out.flush()
    else:
        with atomic_output(output) as out:
            body(out)


def register(main) -> None:
    @main.command("memory")
    @click.argument("paths", nargs=-1, required=True)
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                  help="table/json/html: the summary; csv (redis-rdb-tools' columns), jsonl, "
                  "parquet: one row per key.")
    @click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
    @click.option("-o", "--output", default=None, help="Write here (atomically) instead of stdout.")
    @click.option("--top", default=10, show_default=True, type=click.IntRange(0, 100000),
                  help="How many of the biggest keys to list.")
    @click.option("--prefix-depth", default=2, show_default=True, type=click.IntRange(0, 16),
                  help="Levels of the key-prefix tree (0: none).")
    @click.option("--separator", default=":", show_default=True, help="Key-prefix separator.")
    @click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 256),
                  help="Files read in parallel by this many worker processes.")
    @click.option("--threshold", "thresholds", multiple=True, metavar="NAME=N",
                  help="An encoding limit of the loading server, e.g. "
                  "hash-max-listpack-entries=128 (the redis.conf value; the built-in default is 512).")
    @guarded
    def memory_cmd(paths, fmt, as_json, output, top, prefix_depth, separator, jobs, thresholds) -> int:
        """Estimate the memory each key takes in a Redis 7.0 that loads the snapshot
        (encoding-aware, jemalloc size classes), with summaries by type/encoding, db and
        key prefix, and the biggest keys. Many files at once: shards of a cluster, a night's
        backups. Exit 1 when a file is damaged (the others are still reported)."""
        from persistkit.render.common import stdout_console
        from persistkit.render.rdb import progress_bar

        if as_json:
            fmt = "json"
        if not separator:
            raise UsageProblem("--separator must not be empty")
        _check_inputs(paths)
        if "-" in paths and jobs > 1:
            jobs = 1
        if fmt == "parquet":
            from persistkit.rdbtools.parquet import require_pyarrow

            require_pyarrow()
        opts = Options(fmt, top, prefix_depth, separator.encode("utf-8"), _parse_thresholds(thresholds))
        if output is not None:
            for p in paths:
                if p != "-" and os.path.exists(output) and os.path.samefile(p, output):
                    raise UsageProblem("the output must not be an input file")
        doc, worst, errors = run_memory(list(paths), opts, jobs, output,
                                        bar=lambda: progress_bar("memory"))
        doc["thresholds"] = _thresholds(opts).as_dict()
        if fmt == "json":
            _emit_doc(doc, output)
        elif fmt == "html":
            from persistkit.render.memory_html import render_html

            _write_text(render_html(doc), output)
        elif fmt == "table":
            from persistkit.render.memory import render_summary

            render_summary(doc, stdout_console())
        for e in errors:
            click.echo(f"persistkit: {e}", err=True)
        return worst


def _emit_doc(doc: dict, output: Optional[str]) -> None:
    if output is None:
        emit_json(doc)
        return
    import json

    from persistkit.cli_contract import _json_default

    _write_text(json.dumps(doc, indent=2, default=_json_default) + "\n", output)


def _write_text(text: str, output: Optional[str]) -> None:
    from persistkit.kvencoding.fileio import atomic_output

    data = text.encode("utf-8")
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with atomic_output(output) as out:
        out.write(data)
