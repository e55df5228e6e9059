"""Many input files at once for ``verify``, ``inspect`` and ``export`` (``--jobs N``): one
task function per file for ``persistkit.jobs.run_tasks``, and the ordered assembly of
their results. With one job the same tasks run in this process, in order, so the output
is the same either way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Optional

from persistkit.cli_contract import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, UsageProblem
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.fileio import InputError

AOF_KINDS = ("aof", "aof-dir", "aof-manifest")


def _failure(path: str, exc: BaseException) -> dict:
    """A per-file problem as data (a worker never lets one file stop the others)."""
    if isinstance(exc, FormatError):
        return {"code": EXIT_PROBLEM, "message": f"error: {exc}"}
    if isinstance(exc, OSError) and not isinstance(exc, InputError):
        name = f"{exc.filename}: " if getattr(exc, "filename", None) else f"{path}: "
        return {"code": EXIT_USAGE, "message": f"{name}{exc.strerror or exc}"}
    return {"code": EXIT_USAGE, "message": str(exc)}


# ---------------------------------------------------------------- verify

def verify_task(path: str, quick: bool, progress=None) -> dict:
    from persistkit.checks import verify_path

    try:
        return {"report": verify_path(path, quick=quick, progress=progress)}
    except (InputError, UsageProblem) as exc:
        return {"error": (path, str(exc))}
    except OSError as exc:
        return {"error": (path, exc.strerror or str(exc))}


def verify_all(paths, quick: bool, jobs: int, bar=None):
    """(reports, errors) in input order, as the sequential loop makes them."""
    from persistkit.jobs import input_sizes, run_tasks

    reports = []
    errors = []
    for res in run_tasks(verify_task, [(p, quick) for p in paths], jobs=jobs,
                         sizes=input_sizes(paths), bar=bar):
        if "report" in res:
            reports.append(res["report"])
        else:
            errors.append(res["error"])
    return reports, errors


# ---------------------------------------------------------------- inspect

def inspect_task(path: str, kind: str, top: int, now: Optional[str], progress=None) -> dict:
    from persistkit.rdbtools.asof import BadMoment, resolve_now

    try:
        if kind in AOF_KINDS:
            from persistkit.aoftools.inspect import inspect_aof

            return {"kind": "aof", "data": inspect_aof(path)}
        from persistkit.rdbtools.inspect import inspect_rdb

        now_ms = resolve_now(now, path)
        return {"kind": "rdb", "data": inspect_rdb(path, top=top, now_ms=now_ms, progress=progress)}
    except BadMoment as exc:
        return {"kind": "error", "failure": {"code": EXIT_USAGE, "message": str(exc)}}
    except (FormatError, InputError, UsageProblem, OSError) as exc:
        return {"kind": "error", "failure": _failure(path, exc)}


def inspect_all(items, top: int, now: Optional[str], jobs: int, bar=None):
    """Per input, in order: {"kind": "rdb"|"aof", "data"} or {"kind": "error", "failure"}."""
    from persistkit.jobs import input_sizes, run_tasks

    paths = [p for p, _ in items]
    return list(run_tasks(inspect_task, [(p, k, top, now) for p, k in items], jobs=jobs,
                          sizes=input_sizes(paths), bar=bar))


# ---------------------------------------------------------------- export

def export_task(path: str, kind: str, fmt: str, part: str, filters: dict, index: int,
                progress=None) -> dict:
    """Export one input into the file ``part``."""
    try:
        with open(part, "wb", buffering=1 << 20) as out:
            if fmt == "parquet":
                from persistkit.rdbtools.parquet import export_parquet

                export_parquet(path, out, progress=progress, **filters)
            elif kind in AOF_KINDS:
                from persistkit.aoftools.export import export_aof

                export_aof(path, fmt, out, **filters)
            else:
                from persistkit.rdbtools.export import export_rdb

                export_rdb(path, fmt, out, progress=progress, **filters)
        return {"code": EXIT_OK}
    except (FormatError, InputError, UsageProblem, OSError) as exc:
        return {"code": "failed", "failure": _failure(path, exc)}


def export_all(items, fmt: str, filters: dict, jobs: int, output: Optional[str], bar=None,
               dataset: bool = False) -> tuple[int, list[str]]:
    """Export several inputs; the outputs are joined in input order (a CSV keeps only the
    first header). Parquet: one file with every row (``output`` a file), or a dataset
    folder with one file per input (``dataset``). Returns (worst code, error lines)."""
    from persistkit.jobs import input_sizes, run_tasks
    from persistkit.kvencoding.fileio import atomic_output

    paths = [p for p, _ in items]
    base = os.path.dirname(os.path.abspath(output)) if output and not dataset else None
    tmpdir = tempfile.mkdtemp(prefix="persistkit-export-", dir=base)
    worst = EXIT_OK
    errors: list[str] = []
    try:
        tasks = [(p, k, fmt, os.path.join(tmpdir, f"part-{i:05d}"), filters, i)
                 for i, (p, k) in enumerate(items)]
        results = run_tasks(export_task, tasks, jobs=jobs, sizes=input_sizes(paths), bar=bar)
        done = []

        def each():
            nonlocal worst
            for task, res in zip(tasks, results):
                if res["code"] != EXIT_OK:
                    worst = max(worst, res["failure"]["code"])
                    errors.append(res["failure"]["message"])
                    continue
                done.append(task)
                yield task

        if fmt == "parquet":
            from persistkit.rdbtools.parquet import concat_parquet_parts, write_dataset

            if dataset:
                write_dataset([(t[0], t[3]) for t in each()], output)
            else:
                with atomic_output(output) as out:
                    concat_parquet_parts([t[3] for t in each()], out)
            return worst, errors

        def body(out) -> None:
            first = True
            for task in each():
                with open(task[3], "rb") as f:
                    if fmt == "csv" and not first:
                        f.readline()  # the header, written once
                    shutil.copyfileobj(f, out, 1 << 20)
                first = False

        if output is None:
            import sys

            body(sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with atomic_output(output) as out:
                body(out)
        return worst, errors
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
