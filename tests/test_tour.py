"""The README's first command: the tour runs end to end and tells the story it claims."""

import subprocess
import sys

import pytest


@pytest.mark.redis
def test_tour_runs_the_whole_story(tmp_path):
    from realredis import redis_binary

    redis_binary()  # the tour's last step loads the result into a real server
    proc = subprocess.run([sys.executable, "-m", "persistkit", "tour", "--workdir", str(tmp_path / "tour")],
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "Traceback" not in out + proc.stderr
    # The damaged fixtures are caught, the live files verify, the FLUSHALL is undone.
    assert "FAILED" in out and "crc-mismatch" in out
    assert "OK " in out and "(aof-multipart)" in out
    assert "skipped FLUSHALL" in out
    flat = " ".join(out.split())  # rich wraps long lines at the terminal width
    assert "after:flush = b'written after the accident'" in flat
    assert (tmp_path / "tour" / "recovered.rdb").is_file()
