"""Inputs detected once: each command opens its input one time and reads that stream
(persistkit.detect.open_detected); a single-file hybrid AOF's preamble is read once."""

from __future__ import annotations

import builtins
import os
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from persistkit.aoftools.verify import verify_aof
from persistkit.checks import verify_path
from persistkit.cli import main
from persistkit.detect import detect, open_detected

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus"
HYBRID = FIX / "rdb-preamble.aof"
DUMP = FIX / "redis-7.0.15-dump.rdb"


class _OpenCounter:
    """How many times a file is opened (every open of a path ends in builtins.open)."""

    def __init__(self, monkeypatch, path: Path) -> None:
        self.target = os.path.abspath(path)
        self.n = 0
        real = builtins.open

        def counting(file, *a, **kw):
            if isinstance(file, (str, bytes, os.PathLike)) and \
                    os.path.abspath(os.fsdecode(file)) == self.target:
                self.n += 1
            return real(file, *a, **kw)

        monkeypatch.setattr(builtins, "open", counting)


# Opens per command before detect-once: verify 2 (RDB) / 5 (hybrid), inspect and export
# 3 / 5, repair 6 / 5.
@pytest.mark.parametrize("path,args,opens", [
    (DUMP, ["verify"], 1), (DUMP, ["verify", "--quick"], 1), (DUMP, ["inspect", "--json"], 1),
    (DUMP, ["export"], 1), (DUMP, ["repair", "--dry-run"], 2),
    (HYBRID, ["verify"], 1), (HYBRID, ["verify", "--quick"], 1),
    # inspect / export hand the detected stream to the AOF side (checks.single_aof_set)
    (HYBRID, ["inspect", "--json"], 1), (HYBRID, ["export"], 1),
    # repair resolves and reads the set itself (it re-reads what it salvages)
    (HYBRID, ["repair", "--dry-run"], 4),
])
def test_each_command_opens_its_input_once(monkeypatch, path, args, opens):
    counter = _OpenCounter(monkeypatch, path)
    cmd, *opts = args
    res = CliRunner().invoke(main, [cmd, str(path), *opts])
    assert res.exit_code == 0, res.output
    assert counter.n == opens


def test_hybrid_preamble_read_once(monkeypatch):
    """The RDB checker reads the preamble, the AOF checker goes on from the same source."""
    from persistkit.rdbtools import reader as rd

    walks = []
    real = rd.RDBReader.__init__

    def counting(self, *a, **kw):
        walks.append(1)
        real(self, *a, **kw)

    monkeypatch.setattr(rd.RDBReader, "__init__", counting)
    report = verify_path(HYBRID)
    assert report.kind == "aof-hybrid" and report.ok
    assert len(walks) == 1
    assert report.stats["files"][0]["preamble_keys"] == 2
    assert report.stats["commands"] == 2


def _hybrids():
    out = [HYBRID]
    for p in sorted(CORPUS.rglob("*")):
        if p.is_file() and p.suffix in (".aof", ".rdb") and p.stat().st_size < (8 << 20):
            head = p.read_bytes()[:9]
            if head.startswith((b"REDIS", b"VALKEY")):
                out.append(p)
    return out


def _mutants(data: bytes, rng: random.Random):
    yield data
    for _ in range(12):
        b = bytearray(data)
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
        yield bytes(b)
        yield data[:rng.randrange(len(data))]


def test_same_reports_as_the_aof_checker_alone(tmp_path):
    """For every RDB-started file of the corpus (hybrid preambles, base files, dumps) and
    mutations of the hybrid one, verify gives the report it gave before: the AOF
    checker's own for a hybrid file, the RDB checker's otherwise."""
    rng = random.Random(7)
    files = [p for p in _hybrids()]
    cases = [(p, p.read_bytes()) for p in files[:40]]
    for i, m in enumerate(_mutants(HYBRID.read_bytes(), rng)):
        cases.append((None, m))
    for n, (p, data) in enumerate(cases):
        f = tmp_path / f"in{n}.aof"
        f.write_bytes(data)
        for quick in (False, True):
            got = verify_path(f, quick=quick).as_dict()
            if got["kind"] == "aof-hybrid":
                assert got == verify_aof(f, quick=quick).as_dict(), (p, n)


def test_detect_kinds_and_stream_left_at_start():
    with open_detected(DUMP) as inp:
        assert inp.kind == "rdb" and inp.size == DUMP.stat().st_size
        assert inp.stream.read(9) == DUMP.read_bytes()[:9]
    assert inp.stream is None
    assert detect(FIX / "appendonlydir") == "aof-dir"
    assert detect(FIX / "README.md") == "unknown"
    with open_detected(HYBRID) as inp:
        from persistkit.checks import input_kind

        assert inp.kind == "rdb" and input_kind(inp) == "aof"
