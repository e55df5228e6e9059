"""Command handlers, one module per family. Each handler is ``fn(session, args) -> reply``
and is registered in ``kvengine.table`` with its arity and flags; importing this package
imports every family, which fills the table."""

from . import bits, geo, hashes, hll, keys, lists, server, sets, streams, strings, zsets  # noqa: F401
