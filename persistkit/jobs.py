"""Run one task per input file on N worker processes, results in input order.

Used by ``verify``, ``inspect``, ``memory`` and ``export`` (``--jobs N``)::

    for result in run_tasks(task_fn, [args0, args1, ...], jobs=4, sizes=[...],
                            description="verify"):
        ...                                   # result i is task_fn(*args_i, progress)

``task_fn`` is a module-level function (it is imported by name in the workers) taking its
arguments plus a ``progress(done, total)`` callback as the last one; it returns a picklable
value. Exceptions it raises are raised here when their turn comes (after the earlier
results). With ``jobs == 1`` (or one task) everything runs in this process, in order, so
the same code produces the same output either way.

Workers are forked (POSIX): they start at once, with the modules already imported and no
need for the caller's main module to be importable; the memory a worker holds is its own
file's (the per-command limit applies per worker). The workers are started before the
progress bar (``bar=``) is, so no thread of the parent is copied half-way. One progress
bar covers all inputs: workers send their offsets over a queue, the parent adds them up
against the total of the input sizes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_mod
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterator, Optional, Sequence

Progress = Optional[Callable[[int, Optional[int]], None]]

# A worker reports progress at most this often (bytes of input between reports).
_REPORT_EVERY = 1 << 22

_worker_queue = None


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def input_sizes(paths: Sequence[str]) -> list[Optional[int]]:
    out = []
    for p in paths:
        try:
            out.append(os.path.getsize(p) if os.path.isfile(p) else None)
        except OSError:
            out.append(None)
    return out


def _init_worker(q) -> None:
    global _worker_queue
    _worker_queue = q


def _call(fn, index: int, args: tuple):
    q = _worker_queue
    last = [0]

    def progress(done: int, total) -> None:
        if q is not None and (done - last[0] >= _REPORT_EVERY or (total and done >= total)):
            last[0] = done
            try:
                q.put_nowait((index, done))
            except Exception:  # a full or closed queue only costs a progress update
                pass

    return fn(*args, progress)


def run_tasks(fn: Callable[..., Any], tasks: Sequence[tuple], *, jobs: int = 1,
              sizes: Optional[Sequence[Optional[int]]] = None,
              progress: Progress = None, bar=None) -> Iterator[Any]:
    """Yield ``fn(*task, progress)`` for every task, in order (see the module docstring).

    ``progress(done, total)`` is the one bar for all tasks: ``total`` is the sum of
    ``sizes`` (None when a size is unknown). ``bar``, instead, is a factory of a context
    manager that yields such a callback (or None), entered once the workers are running."""
    n = len(tasks)
    sizes = list(sizes) if sizes is not None else [None] * n
    known = all(s is not None for s in sizes)
    total = sum(s for s in sizes if s) if known else None
    done = [0] * n
    pool = q = futures = None
    if jobs > 1 and n > 1:
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue() if (progress is not None or bar is not None) else None
        pool = ProcessPoolExecutor(max_workers=min(jobs, n), mp_context=ctx,
                                   initializer=_init_worker, initargs=(q,))
        # With fork, the first submit starts every worker: before any progress thread.
        futures = [pool.submit(_call, fn, i, tuple(args)) for i, args in enumerate(tasks)]
    try:
        with (bar() if bar is not None else contextlib.nullcontext(progress)) as cb:

            def report(i: int, offset: int) -> None:
                if cb is None:
                    return
                done[i] = offset if sizes[i] is None else min(offset, sizes[i])
                cb(sum(done), total)

            if pool is None:
                for i, args in enumerate(tasks):
                    yield fn(*args, (lambda d, t, i=i: report(i, d)) if cb is not None else None)
                    if sizes[i] is not None:
                        report(i, sizes[i])
                return
            for i, fut in enumerate(futures):
                while not fut.done():
                    if q is not None:
                        try:
                            idx, offset = q.get(timeout=0.2)
                            report(idx, offset)
                        except queue_mod.Empty:
                            pass
                    else:
                        wait([fut], timeout=None, return_when=FIRST_COMPLETED)
                result = fut.result()
                if sizes[i] is not None:
                    report(i, sizes[i])
                yield result
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if q is not None:
            q.close()
            q.join_thread()
