"""The inspect / verify / export commands: exit codes, --json shapes, bad paths."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from corpus import PUBLIC, REAL
from persistkit.cli import main

DUMP = REAL / "redis-7.2.6" / "dump.rdb"


def run(*args):
    runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_verify_ok_and_json_shape():
    r = run("verify", DUMP)
    assert r.exit_code == 0 and "OK" in r.stdout
    r = run("verify", "--json", DUMP, REAL / "redis-5.0.14" / "dump.rdb")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and len(doc["reports"]) == 2 and doc["errors"] == []
    rep = doc["reports"][1]
    assert set(rep) >= {"path", "kind", "ok", "problems", "stats", "valid_up_to"}
    assert rep["problems"][0]["code"] == "checksum-disabled"
    assert set(rep["problems"][0]) == {"severity", "code", "message", "file", "offset", "key",
                                       "expected", "found"}


def test_verify_problem_exit_1():
    r = run("verify", "--json", PUBLIC / "redis__librdb/invalid_chksum_v8.rdb")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["reports"][0]["problems"][0]["code"] == "crc-mismatch"


def test_verify_bad_paths(tmp_path):
    r = run("verify", tmp_path / "missing.rdb")
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = run("verify", tmp_path)
    assert r.exit_code == 2 and "directory" in r.stderr
    r = run("verify", "--json", DUMP, tmp_path / "missing.rdb")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["reports"][0]["ok"] and doc["errors"][0]["path"].endswith("missing.rdb")


def test_verify_text_file_and_future_version(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a dump\n")
    r = run("verify", text)
    assert r.exit_code == 1 and "not an RDB or AOF" in r.stdout
    future = tmp_path / "future.rdb"
    future.write_bytes(b"REDIS0016\xff" + b"\0" * 8)
    r = run("verify", "--json", future)
    assert r.exit_code == 1
    prob = json.loads(r.stdout)["reports"][0]["problems"][0]
    assert prob["code"] == "unsupported-version" and "newer than this tool knows" in prob["message"]


def test_verify_empty_file_is_an_aof_question(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    r = run("verify", "--json", empty)
    # An empty file is detected as an (empty) AOF: the AOF verifier answers, or, when
    # it is not installed, a usage error says so. Never a traceback.
    assert r.exit_code in (0, 1, 2)
    if r.exit_code == 2:
        assert "AOF verification not available" in r.stderr


def test_inspect_text_and_json():
    r = run("inspect", DUMP, "--top", 3)
    assert r.exit_code == 0 and "Biggest keys" in r.stdout and "str:1mb" in r.stdout
    r = run("inspect", "--json", DUMP)
    doc = json.loads(r.stdout)
    assert doc["keys"] == 121 and doc["version"] == 11 and doc["checksum"] == "ok"
    assert len(doc["biggest"]) == 10


def test_inspect_errors(tmp_path):
    r = run("inspect", tmp_path / "nope.rdb")
    assert r.exit_code == 2
    r = run("inspect", PUBLIC / "redis__librdb/future_v19.rdb")
    assert r.exit_code == 1 and "newer than this tool knows" in r.stderr
    assert "Traceback" not in r.stderr
    bad = tmp_path / "cut.rdb"
    bad.write_bytes(DUMP.read_bytes()[:5000])
    r = run("inspect", bad)
    assert r.exit_code == 1 and "offset" in r.stderr


def test_export_to_file_atomic_and_stdout(tmp_path):
    out = tmp_path / "out.jsonl"
    r = run("export", DUMP, "-o", out, "--db", 1)
    assert r.exit_code == 0 and r.stdout == ""
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines and all(o["db"] == 1 for o in lines if o["kind"] == "key")
    r = run("export", DUMP, "--format", "resp", "--match", "str:*", "--type", "string")
    assert r.exit_code == 0 and r.stdout_bytes.startswith(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n")
    assert b"FUNCTION" not in r.stdout_bytes and b"HSET" not in r.stdout_bytes
    # Refuses to overwrite its input.
    copy = tmp_path / "dump.rdb"
    shutil.copy(DUMP, copy)
    r = run("export", copy, "-o", copy)
    assert r.exit_code == 2 and copy.read_bytes() == DUMP.read_bytes()
    # A failing export leaves no output file behind.
    cut = tmp_path / "cut.rdb"
    cut.write_bytes(DUMP.read_bytes()[:3000])
    target = tmp_path / "never.jsonl"
    r = run("export", cut, "-o", target)
    assert r.exit_code == 1 and not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".never")] == []


def test_stdin_is_read_once(tmp_path):
    import subprocess
    import sys

    data = DUMP.read_bytes()
    # The installed entry point (``python -m persistkit.cli`` would import cli twice).
    cmd = [sys.executable, "-c", "import sys; from persistkit.cli import main; sys.exit(main())"]
    r = subprocess.run(cmd + ["verify", "--json", "-"], input=data, capture_output=True, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["reports"][0]["stats"]["keys"] == 121
    r = subprocess.run(cmd + ["export", "-", "--format", "jsonl"], input=data, capture_output=True, timeout=60)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 121 + 2  # keys + 2 function libraries
    r = subprocess.run(cmd + ["inspect", "--json", "-"], input=data, capture_output=True, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["keys"] == 121
