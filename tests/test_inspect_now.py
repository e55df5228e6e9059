"""``inspect --now TIME|file``: TTL buckets as of a given moment (an ISO time, unix
seconds or milliseconds, or the snapshot's own ctime)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from corpus import REAL
from persistkit.rdbtools.asof import BadMoment, parse_moment, resolve_now, snapshot_ctime_ms
from persistkit.rdbtools.reader import read_rdb

PK = [sys.executable, "-m", "persistkit"]
DUMP = Path(REAL) / "redis-7.0.15" / "dump.rdb"


def _inspect(*args) -> subprocess.CompletedProcess:
    return subprocess.run(PK + ["inspect", str(DUMP), "--json", *args], capture_output=True)


def test_parse_moment_forms():
    ms = 1764056796000  # 2025-11-25T07:46:36Z
    assert parse_moment("2025-11-25T07:46:36Z") == ms
    assert parse_moment("2025-11-25T08:46:36+01:00") == ms
    assert parse_moment("2025-11-25 07:46:36") == ms          # no offset: UTC
    assert parse_moment("1764056796") == ms                   # seconds
    assert parse_moment("1764056796000") == ms                # milliseconds
    assert parse_moment("1764056796.5") == ms + 500
    with pytest.raises(BadMoment):
        parse_moment("yesterday")


def test_file_moment_is_the_ctime_aux():
    aux = {x.key: x.value for x in read_rdb(str(DUMP), decode=False) if x.__class__.__name__ == "Aux"}
    assert snapshot_ctime_ms(DUMP) == int(aux[b"ctime"]) * 1000
    assert resolve_now("file", DUMP) == int(aux[b"ctime"]) * 1000
    assert resolve_now(None, DUMP) is None


def _expiries() -> list[int]:
    return [r.expire_ms for r in read_rdb(str(DUMP), decode=False)
            if r.__class__.__name__ == "Record" and r.expire_ms is not None]


def _buckets(now: int) -> dict:
    want = {"expired": 0, "lt_1h": 0, "lt_1d": 0, "lt_30d": 0, "later": 0}
    hour = 3600 * 1000
    for e in _expiries():
        left = e - now
        key = ("expired" if left <= 0 else "lt_1h" if left < hour else "lt_1d" if left < 24 * hour
               else "lt_30d" if left < 30 * 24 * hour else "later")
        want[key] += 1
    return want


def test_now_file_reads_the_backup_as_of_its_moment():
    doc = json.loads(_inspect("--now", "file").stdout)
    ctime = snapshot_ctime_ms(DUMP)
    assert doc["ttl"]["reference_ms"] == ctime
    got = {k: doc["ttl"][k] for k in ("expired", "lt_1h", "lt_1d", "lt_30d", "later")}
    assert got == _buckets(ctime)
    # as of the save nothing had expired yet; long after, everything with a TTL has
    assert got["expired"] == 0 and sum(got.values()) == len(_expiries()) > 0
    after_all = max(_expiries())
    late = json.loads(_inspect("--now", str(after_all)).stdout)["ttl"]
    assert late["expired"] == len(_expiries())


def test_now_iso_and_numbers_agree():
    ctime = snapshot_ctime_ms(DUMP)
    a = json.loads(_inspect("--now", str(ctime // 1000)).stdout)["ttl"]
    b = json.loads(_inspect("--now", str(ctime)).stdout)["ttl"]
    assert a == b and a["reference_ms"] == ctime


def test_bad_now_is_a_usage_error():
    r = _inspect("--now", "someday")
    assert r.returncode == 2 and b"--now" in r.stderr and b"Traceback" not in r.stderr
