"""``memory``: per-key memory estimates of RDB snapshots as a loading Redis 7.0 would hold
them, and their summaries (types, dbs, key prefixes, top keys).

    from persistkit.rdbtools.memory import iter_rows, Summary
"""

from persistkit.rdbtools.memory.estimate import ROW_FIELDS, estimate  # noqa: F401
from persistkit.rdbtools.memory.scan import FileMeta, iter_batches, iter_rows  # noqa: F401
from persistkit.rdbtools.memory.summary import Summary  # noqa: F401
