"""One Redis glob (kvencoding.glob) for every --match / --skip pattern, checked against a
real redis-server's KEYS and SCAN MATCH on the same keys, on the patterns where
fnmatch and Redis differ."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys

import pytest

from persistkit.kvencoding.glob import compile_glob, glob_match, key_matcher
from persistkit.kvencoding.resp import encode_command

KEYS = [b"a", b"b", b"!", b"-", b"]", b"^", b"_", b"`", b"[", b"*", b"\\", b"ab", b"abc",
        b"a*b", b"a-b", b"user:1", b"user:2", b"user:10", b"usr:1", b"hello", b"hallo",
        b"x\xff", b"\xff", b"\xc3\xa9t\xc3\xa9", b"\x80\x00z", b"caf\xe9", b"aXc", b"a\nb",
        b"", b"[abc]", b"]a]", b"!a"]

PATTERNS = [b"[!a]", b"[!a]*", b"\\*", b"a\\*b", b"[a-]", b"[a-]*", b"[", b"[abc", b"[^",
            b"[]", b"[^]", b"[]a]", b"[\\]]", b"[c-a]", b"[a-c]*", b"[^a-z]*", b"\\",
            b"ab\\", b"*", b"**", b"?", b"??", b"user:*", b"user:?", b"h[ae]llo", b"*\xff*",
            b"[\x80-\xff]*", b"[a-\xff]*", b"[\x00-a]", b"a?c", b"a*", b"*a", b"[^^]",
            b"\\[*", b"*]", b"a[\\-]b", b"[!-a]"]

# Patterns fnmatch reads otherwise (the reason for one matcher): checked below to differ.
FNMATCH_DIFFERS = [b"[!a]", b"\\*", b"[a-]", b"[", b"[abc", b"[]a]", b"[^]"]


def _expected(pattern: bytes) -> set:
    return {k for k in KEYS if glob_match(pattern, k)}


@pytest.fixture
def keyed_server(redis_server):
    r = redis_server.client()
    for k in KEYS:
        r.set(k, b"v")
    return redis_server


def test_keys_and_scan_match_agree_with_redis(keyed_server):
    r = keyed_server.client()
    for pattern in PATTERNS:
        want = set(r.keys(pattern))
        assert _expected(pattern) == want, pattern
        scanned = set(r.scan_iter(match=pattern, count=1000))
        assert scanned == want, pattern


def test_fnmatch_would_have_answered_otherwise():
    for pattern in FNMATCH_DIFFERS:
        fn = {k for k in KEYS if fnmatch.fnmatchcase(k.decode("latin-1"), pattern.decode("latin-1"))}
        assert fn != _expected(pattern), pattern


def test_matcher_forms():
    assert key_matcher(None) is None
    assert key_matcher("*")(b"")
    assert key_matcher("user:*")(b"user:1") and not key_matcher("user:*")(b"usr:1")
    # A non-UTF-8 pattern from the command line reaches the matcher as its bytes.
    assert key_matcher(os.fsdecode(b"x\xff"))(b"x\xff")
    assert compile_glob(b"a[bc]d").fullmatch(b"acd")
    from persistkit.kvengine.glob import glob_match as engine_glob

    assert engine_glob is glob_match


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "persistkit.cli", *args], capture_output=True,
                          timeout=120, **kw)


SOME = [b"[!a]*", b"\\*", b"[a-]", b"[abc", b"[\x80-\xff]*", b"user:?"]


def test_every_match_option_is_redis_glob(keyed_server, tmp_path):
    """RDB export (jsonl and parquet), AOF export, convert and replay --skip select the
    keys KEYS lists."""
    r = keyed_server.client()
    r.save()
    dump = keyed_server.workdir / "dump.rdb"
    aof = tmp_path / "log.aof"
    aof.write_bytes(b"".join(encode_command([b"SET", k, b"v"]) for k in KEYS))
    for pattern in SOME:
        want = set(r.keys(pattern))
        arg = os.fsdecode(pattern)
        got = _run("export", str(dump), "--match", arg)
        assert got.returncode == 0, got.stderr
        assert {_key(json.loads(line)["key"]) for line in got.stdout.splitlines()} == want, pattern
        got = _run("export", str(aof), "--format", "jsonl", "--match", arg)
        assert got.returncode == 0, got.stderr
        assert {_key(json.loads(line)["args"][1]) for line in got.stdout.splitlines()} == want
        out = tmp_path / "carved.rdb"
        got = _run("convert", str(dump), "-o", str(out), "--match", arg)
        assert got.returncode == 0, got.stderr
        from persistkit.rdbtools.reader import iter_keys

        assert {rec.key for rec in iter_keys(str(out))} == want, pattern
        pq = tmp_path / "keys.parquet"
        got = _run("export", str(dump), "--format", "parquet", "-o", str(pq), "--match", arg)
        assert got.returncode == 0, got.stderr
        import pyarrow.parquet as papq

        assert set(papq.read_table(pq).column("key").to_pylist()) == want, pattern
        from persistkit.recovery.replay import SkipRule

        rule = SkipRule.parse("SET " + arg)
        assert {k for k in KEYS if rule.matches(b"SET", [b"SET", k, b"v"])} == want


def _key(v):
    return bytes.fromhex(v["hex"]) if isinstance(v, dict) else v.encode("utf-8")
