"""Command handlers, one module per family. Each handler is ``fn(session, args) -> reply``
and is registered in ``kvengine.table`` with its arity and flags."""
