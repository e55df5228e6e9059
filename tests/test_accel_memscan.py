"""The compiled memory walk (persistkit._accel.memscan) against the reference path
(RDBReader(iterate=True) + rdbtools.memory.estimate): identical rows, identical errors
(type, message, offset), on every corpus file (real and public), on seeded mutations,
and through tiny windows that force every refill path."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from corpus import PUBLIC, REAL
from persistkit import accel
from persistkit.kvencoding.errors import FormatError
from persistkit.rdbtools.memory import FileMeta, iter_rows
from persistkit.rdbtools.memory import scan

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _compiled():
    if accel.compiled_available("memscan") is None:
        if IN_CI:
            pytest.fail("the compiled memscan module is required under CI=true")
        pytest.skip("compiled memscan not built")


def _outcome(data: bytes, pure: bool):
    meta = FileMeta("x.rdb")
    with accel.forced_pure(pure):
        try:
            rows = list(iter_rows("x.rdb", meta, data=data))
        except FormatError as exc:
            return ("error", type(exc).__name__, str(exc), exc.offset)
    return ("rows", rows, meta.aux, meta.checksum)


def _same(data: bytes) -> None:
    a = _outcome(data, True)
    b = _outcome(data, False)
    assert a == b


def _corpus_rdbs() -> list[Path]:
    files = sorted(Path(REAL).glob("*/dump.rdb"))
    files += sorted(Path(REAL).glob("*/aof-hybrid/appendonlydir/*.base.rdb"))
    files += sorted(p for p in Path(PUBLIC).rglob("*.rdb") if p.is_file())
    return files


def test_corpus_files_give_identical_rows():
    files = _corpus_rdbs()
    assert len(files) > 100
    rows_seen = 0
    for f in files:
        data = f.read_bytes()
        a = _outcome(data, True)
        b = _outcome(data, False)
        assert a == b, f
        if a[0] == "rows":
            rows_seen += len(a[1])
    assert rows_seen > 1000


def test_tiny_windows_drive_the_refill_paths(monkeypatch):
    monkeypatch.setattr(scan, "SOURCE_CHUNK", 7)
    for version in ("redis-6.2.16", "redis-7.0.15", "valkey-8.1.7"):
        f = Path(REAL) / version / "dump.rdb"
        with open(f, "rb") as stream:
            with accel.forced_pure(False):
                small = list(iter_rows(str(f), stream=stream))
        with accel.forced_pure(True):
            ref = list(iter_rows(str(f)))
        assert small == ref
    # a window cap below the biggest records: those go to the reference path
    monkeypatch.setattr(scan, "WINDOW_MAX", 4096)
    f = Path(REAL) / "redis-7.0.15" / "dump.rdb"
    with accel.forced_pure(False):
        capped = list(iter_rows(str(f)))
    with accel.forced_pure(True):
        assert capped == list(iter_rows(str(f)))


def _mutations(data: bytes, rnd: random.Random, n: int):
    for _ in range(n):
        kind = rnd.randrange(3)
        b = bytearray(data)
        if kind == 0:
            yield bytes(b[: rnd.randrange(9, len(b))])
        elif kind == 1:
            i = rnd.randrange(9, len(b))
            b[i] ^= 1 << rnd.randrange(8)
            yield bytes(b)
        else:
            for _ in range(rnd.randrange(1, 4)):
                b[rnd.randrange(9, len(b))] = rnd.randrange(256)
            yield bytes(b)


@pytest.mark.parametrize("version", ["redis-6.2.16", "redis-7.0.15", "redis-7.4.1", "valkey-9.1.0"])
def test_seeded_mutations_agree(version):
    data = (Path(REAL) / version / "dump.rdb").read_bytes()
    rnd = random.Random(f"memscan-{version}")
    for m in _mutations(data, rnd, 30):
        _same(m)


@pytest.mark.slow
def test_many_mutations_agree():
    rnd = random.Random(20261207)
    files = [p for p in _corpus_rdbs() if p.stat().st_size < 200_000]
    for f in files:
        data = f.read_bytes()
        if len(data) < 20:
            continue
        for m in _mutations(data, rnd, 40):
            _same(m)


@pytest.mark.parametrize("fmt", ["csv", "json", "html"])
def test_cli_reports_byte_identical_on_both_paths(fmt):
    import subprocess
    import sys

    files = [str(p) for p in sorted(Path(REAL).glob("*/dump.rdb"))]
    cmd = [sys.executable, "-m", "persistkit", "memory", *files, "--format", fmt, "--top", "25"]
    env = dict(os.environ)
    env.pop("PERSISTKIT_PUREPYTHON", None)
    compiled = subprocess.run(cmd, capture_output=True, env=env)
    env["PERSISTKIT_PUREPYTHON"] = "1"
    pure = subprocess.run(cmd, capture_output=True, env=env)
    assert compiled.returncode == pure.returncode == 0
    assert compiled.stdout == pure.stdout and len(compiled.stdout) > 1000
