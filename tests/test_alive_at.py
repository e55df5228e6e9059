"""corpus.alive_at: the one rule for comparing through a live server "as of a moment"."""

from corpus import LIVE_MARGIN_MS, alive_at, expected_keyspace, real_ids


def _k(expire=None, value=b"v", ktype="string", fe=None):
    return {"type": ktype, "value": value, "expire_ms": expire, "field_expires": fe}


def test_keys_at_or_before_the_cutoff_go_the_rest_stay_untouched():
    at = 1_000_000
    cut = at + LIVE_MARGIN_MS
    ks = {(0, b"none"): _k(), (0, b"past"): _k(at - 1), (0, b"edge"): _k(cut),
          (0, b"after"): _k(cut + 1), (5, b"far"): _k(253402300799000)}
    got = alive_at(ks, at)
    assert set(got) == {(0, b"none"), (0, b"after"), (5, b"far")}
    assert got[(0, b"after")] is ks[(0, b"after")]          # survivors unchanged, TTL included


def test_expired_hash_fields_go_and_an_emptied_hash_with_them():
    at = 1_000_000
    late = at + LIVE_MARGIN_MS + 1
    ks = {(0, b"h"): _k(ktype="hash", value=[(b"a", b"1"), (b"b", b"2"), (b"c", b"3")],
                        fe={b"a": at, b"b": late}),
          (0, b"gone"): _k(ktype="hash", value=[(b"x", b"1")], fe={b"x": at - 5}),
          (0, b"all-late"): _k(ktype="hash", value=[(b"y", b"1")], fe={b"y": late})}
    got = alive_at(ks, at)
    assert got[(0, b"h")]["value"] == [(b"b", b"2"), (b"c", b"3")]
    assert got[(0, b"h")]["field_expires"] == {b"b": late}
    assert (0, b"gone") not in got and got[(0, b"all-late")] is ks[(0, b"all-late")]
    assert ks[(0, b"h")]["field_expires"] == {b"a": at, b"b": late}  # input not modified


def test_corpus_ttls_are_kept_by_an_early_moment_and_dropped_by_a_late_one():
    folder = next(f for f in real_ids() if f.startswith("redis-7.4"))  # key and field TTLs
    want = expected_keyspace(folder)
    assert alive_at(want, 0) == want
    late = alive_at(want, 2**63)  # after every TTL (some lie far past year 9999)
    assert late and all(v["expire_ms"] is None and not v["field_expires"] for v in late.values())
