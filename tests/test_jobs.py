"""``--jobs N`` on verify, inspect, memory and export: the same output as one job, in
input order, the exit code of the worst file, and the shared runner itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import REAL
from persistkit.jobs import run_tasks

PK = [sys.executable, "-m", "persistkit"]
GOOD = [str(Path(REAL) / v / "dump.rdb") for v in ("redis-5.0.14", "redis-6.2.16", "redis-7.0.15",
                                                   "redis-7.4.1", "valkey-9.1.0")]


def _run(args) -> subprocess.CompletedProcess:
    return subprocess.run(PK + args, capture_output=True)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> str:
    data = Path(GOOD[2]).read_bytes()
    p = tmp_path_factory.mktemp("jobs") / "cut.rdb"
    p.write_bytes(data[: len(data) * 2 // 3])
    return str(p)


def _square(x, progress):
    if progress is not None:
        progress(x, None)
    if x == 3:
        raise ValueError("three")
    return x * x


def test_runner_keeps_input_order_and_raises_in_turn():
    got = []
    with pytest.raises(ValueError, match="three"):
        for r in run_tasks(_square, [(i,) for i in range(6)], jobs=3):
            got.append(r)
    assert got == [0, 1, 4]
    assert list(run_tasks(_square, [(i,) for i in (5, 1, 4)], jobs=1)) == [25, 1, 16]


def test_runner_one_progress_for_all_tasks():
    seen = []
    list(run_tasks(_square, [(i,) for i in (1, 2)], jobs=2, sizes=[10, 20],
                   progress=lambda d, t: seen.append((d, t))))
    assert seen and all(t == 30 for _, t in seen)
    assert seen[-1][0] == 30


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "table"])
def test_memory_jobs_same_output(fmt, damaged):
    files = GOOD[:2] + [damaged] + GOOD[2:]
    one = _run(["memory", *files, "--format", fmt])
    many = _run(["memory", *files, "--format", fmt, "--jobs", "3"])
    assert one.returncode == many.returncode == 1
    assert one.stdout == many.stdout and one.stdout
    assert one.stderr == many.stderr and b"cut.rdb" in one.stderr


def test_memory_parquet_jobs_same_rows(tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert _run(["memory", *GOOD, "--format", "parquet", "-o", str(a)]).returncode == 0
    assert _run(["memory", *GOOD, "--format", "parquet", "-o", str(b), "-j", "2"]).returncode == 0
    assert pq.read_table(a).equals(pq.read_table(b))


def test_verify_jobs_same_json(damaged):
    files = GOOD + [damaged]
    one = _run(["verify", *files, "--json"])
    many = _run(["verify", *files, "--json", "--jobs", "2"])
    assert one.returncode == many.returncode == 1
    assert json.loads(one.stdout) == json.loads(many.stdout)
    doc = json.loads(many.stdout)
    assert [r["path"] for r in doc["reports"]] == files


def test_verify_jobs_missing_file_is_exit_2():
    r = _run(["verify", GOOD[0], "/nonexistent/x.rdb", "--jobs", "2"])
    assert r.returncode == 2 and b"Traceback" not in r.stderr


def test_inspect_jobs_same_json(damaged):
    files = GOOD + [damaged]
    args = ["inspect", *files, "--json", "--now", "1764056796000"]
    one = _run(args)
    many = _run(args + ["--jobs", "3"])
    assert one.returncode == many.returncode == 1
    assert json.loads(one.stdout) == json.loads(many.stdout)
    docs = json.loads(one.stdout)["files"]
    assert [d["path"] for d in docs] == files
    assert "error" in docs[-1] and docs[0]["keys"] > 0


def test_inspect_one_file_output_unchanged():
    doc = json.loads(_run(["inspect", GOOD[2], "--json"]).stdout)
    assert doc["path"] == GOOD[2] and "files" not in doc


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "resp"])
def test_export_jobs_same_bytes(fmt, tmp_path):
    files = GOOD[1:4]
    one = _run(["export", *files, "--format", fmt])
    many = _run(["export", *files, "--format", fmt, "--jobs", "3"])
    assert one.returncode == many.returncode == 0
    assert one.stdout == many.stdout
    # the concatenation of the files' own exports (CSV: one header)
    parts = [_run(["export", f, "--format", fmt]).stdout for f in files]
    if fmt == "csv":
        parts = parts[:1] + [p.split(b"\n", 1)[1] for p in parts[1:]]
    assert one.stdout == b"".join(parts)
    out = tmp_path / f"all.{fmt}"
    assert _run(["export", *files, "--format", fmt, "-j", "2", "-o", str(out)]).returncode == 0
    assert out.read_bytes() == one.stdout


def test_export_several_json_is_a_usage_error():
    r = _run(["export", *GOOD[:2], "--format", "json"])
    assert r.returncode == 2 and b"jsonl" in r.stderr
