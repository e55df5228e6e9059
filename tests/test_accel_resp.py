"""The compiled RESP framing (persistkit/_accel/resp.pyx) against the pure path: AOF
``verify`` and the AOF reader that ``replay``/``merge`` use must give the same verdicts,
problem codes, offsets, commands (arguments, db, time, MULTI grouping) and error
positions on every AOF of the corpus, on every truncation of a few of them and on seeded
random mutations, read through windows of many sizes."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from corpus import PUBLIC, REAL
from persistkit import accel
from persistkit.aoftools import model
from persistkit.aoftools.reader import AOFReader, _State
from persistkit.aoftools.verify import PartResult, _check_resp, verify_aof
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.resp import encode_command
from persistkit.kvencoding.source import ByteSource

pytestmark = pytest.mark.skipif(accel.compiled_available("resp") is None,
                                reason="the compiled RESP framing is not built")

WINDOWS = (None, 1, 7, 64, 1000, 4096)


def _aof_inputs() -> list[Path]:
    """Every AOF input of the corpus: single files, multi-part folders, the parts alone."""
    out = []
    for root in (REAL, PUBLIC):
        if not root.exists():
            continue
        for f in sorted(root.rglob("*")):
            if f.is_file() and (f.suffix == ".aof" or f.name.endswith(".aof.manifest")):
                out.append(f)
            elif f.is_dir() and any(c.name.endswith(".manifest") for c in f.iterdir()):
                out.append(f)
    return out


def _resp_files() -> list[tuple[str, bytes]]:
    out = []
    for f in _aof_inputs():
        if f.is_file() and f.suffix == ".aof":
            data = f.read_bytes()
            if data[:5] != b"REDIS" and data[:6] != b"VALKEY":
                out.append((str(f.relative_to(f.parents[2])), data))
    return out


def _source(data: bytes, window) -> ByteSource:
    if window is None:
        return ByteSource(data)
    # a stream read a few bytes at a time: items cross window ends everywhere
    return ByteSource(io.BytesIO(data), chunk=window, size=len(data))


def _both(fn, *args):
    with accel.forced_pure(True):
        pure = fn(*args)
    with accel.forced_pure(False):
        compiled = fn(*args)
    return pure, compiled


def _error(exc: FormatError):
    return (type(exc).__name__, exc.message, exc.offset, exc.expected, exc.found, exc.file)


def verify_outcome(data: bytes, window=None):
    part = model.AOFPart(path="-", name="t.aof", role=model.ROLE_SINGLE, size=len(data))
    res = PartResult(part)
    _check_resp(_source(data, window), res)
    problem = None
    if res.problem is not None:
        code, msg, offset, exc = res.problem
        problem = (code, msg, offset, None if exc is None else _error(exc))
    return res.as_dict(), res.annotations, problem


def reader_outcome(data: bytes, window=None):
    reader = AOFReader("-", aof_set=model.AOFSet(path="-", layout=model.SINGLE))
    state = _State()
    got = []
    error = None
    try:
        for c in reader.resp_items(_source(data, window), "t.aof", state):
            got.append((c.offset, c.length, c.db, c.args, c.time, c.in_multi, c.multi_offset))
    except FormatError as exc:
        error = _error(exc)
    return got, error, reader.position, reader.last_complete, reader.last_complete_outside_multi


def _report(path):
    return verify_aof(path).as_dict()


def _read_all(path):
    reader = AOFReader(path, decode=False)
    got = []
    error = None
    try:
        for c in reader.commands():
            got.append((c.file, c.offset, c.length, c.db, c.args, c.time, c.in_multi,
                        c.multi_offset))
    except FormatError as exc:
        error = _error(exc)
    return got, error, reader.position, reader.last_complete


@pytest.mark.parametrize("path", _aof_inputs(), ids=lambda p: str(p).split("corpus/")[-1])
def test_corpus_verify_and_reader_agree(path):
    pure, compiled = _both(_report, path)
    assert pure == compiled
    pure, compiled = _both(_read_all, path)
    assert pure == compiled


def test_corpus_resp_files_agree_through_small_windows():
    files = _resp_files()
    assert len(files) >= 10
    for name, data in files:
        for window in WINDOWS if len(data) < 100_000 else (4096,):
            p, c = _both(verify_outcome, data, window)
            assert p == c, (name, window)
            p, c = _both(reader_outcome, data, window)
            assert p == c, (name, window)


def _truncation_files():
    wanted = {"appendonly-with-ts.aof": 7, "appendonly5.aof": 3, "memory.aof": 1,
              "hash_with_hfe.aof": 1}
    return [(n, d, wanted[n.rsplit("/", 1)[-1]]) for n, d in _resp_files()
            if n.rsplit("/", 1)[-1] in wanted]


@pytest.mark.parametrize("name,data,step", _truncation_files(),
                         ids=lambda x: x if isinstance(x, str) else "")
def test_every_truncation_agrees(name, data, step):
    """Every cut of two small files, every 3rd / 7th of two others (one with #TS lines)."""
    assert data
    for cut in range(0, len(data) + 1, step):
        head = data[:cut]
        p, c = _both(verify_outcome, head)
        assert p == c, (name, cut)
        p, c = _both(reader_outcome, head)
        assert p == c, (name, cut)


def test_every_truncation_of_a_real_incr_file_verifies_alike():
    incr = REAL / "redis-7.0.15" / "aof-hybrid" / "appendonlydir" / "appendonly.aof.2.incr.aof"
    data = incr.read_bytes()
    for cut in range(0, len(data) + 1, 11):
        p, c = _both(verify_outcome, data[:cut])
        assert p == c, cut


# ---------------------------------------------------------------------------
# seeded mutations


def _stream(rng: random.Random) -> bytes:
    """A command stream with what the fast paths must notice: MULTI/EXEC (also in other
    spellings and with a NUL), SELECT, #TS annotations, empty and binary arguments."""
    out = []
    multi = False
    for _ in range(rng.randint(1, 40)):
        roll = rng.random()
        if roll < 0.08:
            out.append(b"#TS:%d\r\n" % rng.randint(0, 2_000_000_000))
        elif roll < 0.1:
            out.append(b"#" + bytes(rng.randrange(256) for _ in range(rng.randint(0, 30))) + b"\n")
        elif roll < 0.2:
            out.append(encode_command([b"EXEC" if multi else rng.choice([b"MULTI", b"multi", b"Multi"])]))
            multi = not multi
        elif roll < 0.23:
            out.append(encode_command([rng.choice([b"exec\0x", b"MULTI\0", b"multix", b"exe", b"DISCARD"])]))
        elif roll < 0.3:
            out.append(encode_command([b"SELECT", b"%d" % rng.randint(0, 15)]))
        else:
            n = rng.randint(0, 6)
            args = [rng.choice([b"SET", b"RPUSH", b"HSET", b"DEL"])]
            for _ in range(n):
                args.append(bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 3, 10, 200]))))
            out.append(encode_command(args))
    return b"".join(out)


_SPECIAL = b"*$#\r\n0123456789- \t\x00"


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not b:
            break
        kind = rng.random()
        i = rng.randrange(len(b))
        if kind < 0.25:
            b[i] ^= 1 << rng.randrange(8)
        elif kind < 0.5:
            b[i] = rng.choice(_SPECIAL)
        elif kind < 0.65:
            b[i] = rng.randrange(256)
        elif kind < 0.8:
            b.insert(i, rng.choice(_SPECIAL))
        elif kind < 0.9:
            del b[i]
        else:
            del b[i:]
    return bytes(b)


def _fuzz(seed: int, rounds: int) -> int:
    rng = random.Random(seed)
    failures = 0
    for _ in range(rounds):
        data = _stream(rng)
        if rng.random() < 0.85:
            data = _mutate(rng, data)
        window = rng.choice(WINDOWS)
        p, c = _both(verify_outcome, data, window)
        assert p == c, (data, window)
        failures += p[2] is not None
        p, c = _both(reader_outcome, data, window)
        assert p == c, (data, window)
    return failures


def test_seeded_mutations_agree():
    failures = _fuzz(seed=10, rounds=600)
    # the mutations must reach the error paths, not only the happy one
    assert 100 < failures < 600


@pytest.mark.slow
def test_seeded_mutations_agree_long():
    for seed in range(20):
        _fuzz(seed=1000 + seed, rounds=5000)


def test_fast_paths_really_run_compiled():
    """The compiled module is what the two call sites use when it is available."""
    from persistkit._accel import resp

    buf = encode_command([b"MULTI"]) + b"#TS:5\r\n" + encode_command([b"SET", b"k", b"v"]) \
        + encode_command([b"EXEC"])
    pos, commands, annotations, blocks, multi, multi_at, t0, t1 = resp.verify_scan(buf, 0, 0, None, 100)
    assert (pos, commands, annotations, blocks, multi, multi_at, t0, t1) == (
        len(buf), 3, 1, 1, 0, 100, 5, 5)
    batch, ends = resp.frame_commands(buf, 0, 10)
    assert batch == [[b"MULTI"]] and ends == [len(encode_command([b"MULTI"]))]
    # a huge length is a stop, not an allocation
    assert resp.frame_commands(b"*1\r\n$999999999999999999\r\nx\r\n", 0, 10) == ([], [])
    assert resp.verify_scan(b"*1\r\n$999999999999999999\r\n", 0, 0, None, 0)[0] == 0
