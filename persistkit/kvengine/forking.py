"""Forked children for BGSAVE and BGREWRITEAOF: the child runs its job, reports its
copy-on-write size (Private_Dirty of /proc/self/smaps_rollup, what Redis reports as
rdb_last_cow_size) through a pipe and _exits; the parent reaps it from its loop."""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Child:
    pid: int
    kind: str                 # "rdb" | "aof"
    pipe_r: int
    started: float
    fork_usec: int
    info: dict = field(default_factory=dict)


def private_dirty_bytes() -> int:
    """Private_Dirty of this process (the pages it copied on write), from smaps_rollup."""
    try:
        with open("/proc/self/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Private_Dirty:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def fork_child(kind: str, work: Callable[[], None], close_fds: tuple = ()) -> Child:
    """Fork; the child runs ``work()``, reports ``cow=<bytes>`` on the pipe and _exits
    (0 on success, 1 on failure). The parent gets a Child to reap later."""
    r, w = os.pipe()
    # The collector walking old objects in the parent would dirty their pages while the
    # child runs (more copy-on-write); gc.freeze keeps them out of its way until the child
    # is reaped (read_child_info unfreezes). The child does not collect at all.
    gc.freeze()
    t0 = time.perf_counter()
    try:
        pid = os.fork()
    except OSError:
        gc.unfreeze()
        os.close(r)
        os.close(w)
        raise
    if pid == 0:  # child
        code = 1
        gc.disable()
        try:
            os.close(r)
            for fd in close_fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            work()
            code = 0
        except BaseException as exc:  # report, never return into the parent's loop
            try:
                os.write(2, f"persistkit engine: child {kind} failed: {exc!r}\n".encode())
            except OSError:
                pass
        finally:
            try:
                os.write(w, b"cow=%d\n" % private_dirty_bytes())
            except OSError:
                pass
            os._exit(code)
    fork_usec = int((time.perf_counter() - t0) * 1e6)
    os.close(w)
    os.set_blocking(r, False)
    return Child(pid, kind, r, time.time(), fork_usec)


def read_child_info(child: Child) -> None:
    """Collect what the reaped child reported (and let the collector see old objects again)."""
    gc.unfreeze()
    try:
        data = os.read(child.pipe_r, 4096)
    except OSError:
        data = b""
    os.close(child.pipe_r)
    for line in data.splitlines():
        k, _, v = line.partition(b"=")
        if k == b"cow" and v.isdigit():
            child.info["cow"] = int(v)
