"""Which implementation of the hot loops runs: the compiled accelerator or pure Python.

The pure-Python code is the reference implementation; the compiled modules in
``persistkit._accel`` (Cython, built by ``pip install`` where a C compiler exists)
must give identical records, verdicts, offsets and bytes. They are picked at import
time; ``PERSISTKIT_PUREPYTHON=1`` forces the pure path.

Call sites ask for a module with ``accel.module("rdbscan")`` once (at import or per
file, never per element) and fall back to their pure code when it answers None.
``forced_pure()`` lets the differential tests run both paths in one process.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from typing import Iterator, Optional

# Every compiled module the package knows; a build that lacks one is a partial build
# and counts as "pure-python" for that module only.
MODULES = ("memscan", "blobs", "rdbscan", "resp", "exportscan", "engine", "rdbwrite", "engine_save")

_FORCED_PURE = os.environ.get("PERSISTKIT_PUREPYTHON", "") not in ("", "0")
_loaded: dict[str, object] = {}
_load_errors: dict[str, str] = {}


def _load(name: str):
    if name in _loaded:
        return _loaded[name]
    try:
        mod = importlib.import_module(f"persistkit._accel.{name}")
    except ImportError as exc:
        _load_errors[name] = str(exc)
        mod = None
    _loaded[name] = mod
    return mod


def module(name: str):
    """The compiled module ``name``, or None when it is absent or the pure path is forced."""
    if _FORCED_PURE:
        return None
    return _load(name)


def active() -> str:
    """``"compiled"`` when every known compiled module is importable and in use, else
    ``"pure-python"`` (``"partial"`` when only some are)."""
    if _FORCED_PURE:
        return "pure-python"
    present = [n for n in MODULES if _load(n) is not None]
    if len(present) == len(MODULES):
        return "compiled"
    return "partial" if present else "pure-python"


def missing() -> dict[str, str]:
    """Compiled modules that could not be imported, with the import error."""
    for n in MODULES:
        _load(n)
    return {n: _load_errors.get(n, "") for n in MODULES if _loaded.get(n) is None}


@contextlib.contextmanager
def forced_pure(on: bool = True) -> Iterator[None]:
    """Run a block on the pure path (``on=True``) or the compiled one (``on=False``)."""
    global _FORCED_PURE
    old = _FORCED_PURE
    _FORCED_PURE = on
    try:
        yield
    finally:
        _FORCED_PURE = old


def forced() -> bool:
    return _FORCED_PURE


def version_line() -> str:
    return f"accelerator: {active()}"


def compiled_available(name: str) -> Optional[object]:
    """The compiled module even when the pure path is forced (for differential tests)."""
    return _load(name)
