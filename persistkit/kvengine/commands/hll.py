"""HyperLogLog commands (redis/src/hyperloglog.c): see kvengine.hyperloglog for the codec."""

from __future__ import annotations

from ..reply import WRONGTYPE, CommandError
from ..table import command


def _hll(s, key):
    from ..hyperloglog import is_hll

    v = s.lookup(key)
    if v is None:
        return None
    if type(v) is not bytes:
        raise CommandError(WRONGTYPE)
    if not is_hll(v):
        raise CommandError("WRONGTYPE Key is not a valid HyperLogLog string value.")
    return v


@command("pfadd", -2, "write denyoom fast")
def pfadd(s, args):
    from ..hyperloglog import hll_add, hll_new

    key = args[1]
    cur = _hll(s, key)
    created = cur is None
    if created:
        cur = hll_new()
    new, changed = hll_add(cur, args[2:])
    if created or changed:
        s.set_key(key, new, keepttl=True, encoding="raw")
        s.touch()
        return 1
    return 0


@command("pfcount", -2, "write", keys=(1, -1, 1))
def pfcount(s, args):
    """A single key's count is cached in its header; writing the cache back dirties the
    key, so Redis logs that PFCOUNT to the AOF (pfcountCommand: server.dirty++)."""
    from ..hyperloglog import (cache_valid, hll_count, hll_count_registers, hll_merge_registers,
                               with_cached_count)

    if len(args) == 2:
        v = _hll(s, args[1])
        if v is None:
            return 0
        card = hll_count(v)
        if not cache_valid(v):
            s.set_key(args[1], with_cached_count(v, card), keepttl=True, encoding="raw")
            s.touch()
        return card
    regs = None
    for k in args[1:]:
        v = _hll(s, k)
        if v is not None:
            regs = hll_merge_registers(regs, v)
    return 0 if regs is None else hll_count_registers(regs)


@command("pfmerge", -2, "write denyoom", keys=(1, -1, 1))
def pfmerge(s, args):
    from ..hyperloglog import hll_from_registers, hll_merge_registers, hll_new

    # pfmergeCommand: the result is dense if any input (destination included) is dense,
    # else sparse (promoted to dense past the sparse limits); the cache is invalidated.
    regs = None
    dense = False
    for k in args[1:]:
        v = _hll(s, k)
        if v is not None:
            regs = hll_merge_registers(regs, v)
            dense = dense or v[4] == 0
    if regs is None:
        regs = hll_merge_registers(None, hll_new())
    out = hll_from_registers(regs, dense=dense)
    s.set_key(args[1], out, keepttl=True, encoding="raw")
    s.touch()
    return Status_OK()


def Status_OK():
    from ..reply import OK

    return OK
