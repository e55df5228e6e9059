"""Files of the engine, in three modules re-exported here:

* ``rdbfile``: RDB snapshots (``write_rdb``, ``save_rdb_file``, ``load_rdb_file``);
* ``aof``: the Redis 7 multi-part AOF (``AppendOnlyFile``, ``rewrite_commands``, ``load_aof``);
* ``forking``: BGSAVE / BGREWRITEAOF children with their copy-on-write report.
"""

from .aof import (AofLoadResult, AppendOnlyFile, FsyncWorker, load_aof,  # noqa: F401
                  rewrite_commands, write_commands_base)
from .forking import Child, fork_child, private_dirty_bytes, read_child_info  # noqa: F401
from .rdbfile import REDIS_VER, fsync_dir, load_rdb_file, save_rdb_file, write_rdb  # noqa: F401
