"""The bundled reference engine: keyspace, command table, persistence, RESP server.

The keyspace and the command layer are a pure library (no I/O, no server needed);
``replay`` and ``merge`` use them as the state machine that rebuilds a keyspace.

Public API (stable)::

    from persistkit.kvengine import Keyspace

    ks = Keyspace()                      # 16 dbs; Keyspace(expiry=False) = loading semantics
                                         # Keyspace(compat="7.2"): replay rules of that server
                                         # generation ("5.0" "6.2" "7.0" (default) "7.2" "7.4")
    s = ks.session(db=0)                 # one client's context: SELECT, MULTI/EXEC, AUTH
    reply = s.execute([b"SET", b"k", b"v", b"EX", b"10"], now_ms=1700000000000)
    reply = ks.execute(args, db=0, now_ms=None)   # one command on a throw-away session
    ks.apply(...) / ks.to_records()      # the same, under DESIGN.md's names

    # replies: bytes (bulk), None (nil), int, list (array), reply.Status (+OK),
    # reply.CommandError (an error reply, returned not raised; .message has the
    # Redis text with its prefix), reply.NIL_ARRAY, and typed lists/floats that RESP3
    # shows differently: reply.Map (flat k/v list), SetReply, Double (a float),
    # Pairs / PairMap (lists of 2-tuples: ZRANGE WITHSCORES, XREAD).

    ks.propagate_sink = fn(db, args)     # receives every write as Redis logs it to the AOF
                                         # (PEXPIREAT, SET ... PXAT, DEL of expired keys,
                                         # MULTI/EXEC around transactions, XCLAIM for XREADGROUP)
    ks.load_records(records)             # model.Record / model.Function from RDBReader
    ks.iter_records(now_ms=None)         # model.Record, db by db, keys sorted (stable)
    ks.iter_functions()                  # model.Function, libraries sorted by name
    ks.dbsize(db); ks.keys(db); ks.get(key, db); ks.ttl_ms(key, db); ks.type_of(key, db)
    ks.flushall(); ks.active_expire(now_ms)

    from persistkit.kvengine.persistence import load_rdb_file, load_aof, save_rdb_file, write_rdb
    load_aof(ks, "dir/appendonlydir")    # replay an AOF set as the server loads it (nothing
                                         # expires; a cut last command is dropped and the
                                         # file truncated, like aof-load-truncated yes)
    write_rdb(ks, binary_stream, version=10)   # through rdbtools.writer.RDBWriter

Replaying an AOF by hand: keep one ``Session`` per file (the server loads each file
with a fresh client at db 0), feed every command including SELECT/MULTI/EXEC to
``session.execute``; use ``Keyspace(expiry=False)`` for the server's loading semantics
or pass each command's ``now_ms`` to evaluate TTLs at that time.

Known limits: WATCH marks every key argument of a write that changed something (a
superset of what Redis marks, so at worst an extra abort); EVAL/FCALL answer an error
(AOFs log their effects, which replay); blocking commands (BLPOP ...) answer at once;
hash fields with a TTL expire lazily (on access), keys also actively; PFCOUNT does not
write its cached cardinality back.

Time: every command runs at ``now_ms`` (wall clock when None): relative TTLs are
computed from it and keys whose TTL is <= now_ms are expired lazily (logged as DEL).
With ``Keyspace(expiry=False)`` nothing expires, like a server loading an AOF.

Values in the keyspace (``ks.get``): bytes, collections.deque, values.Hash (dict +
``fexp`` field TTLs), set, values.ZSet, values.Stream.

Modules: ``keyspace`` (dbs, sessions, expiry), ``table`` (command table), ``commands/``
(one module per family), ``values`` / ``encodings`` (value types, OBJECT ENCODING and RDB
type), ``records`` (model conversion, DUMP/RESTORE), ``rdbfile`` / ``aof`` / ``forking``
(files and fork children; ``persistence`` re-exports them), ``protocol`` (server-side RESP2/3),
``server`` (event loop, SAVE/BGSAVE/BGREWRITEAOF), ``config``, ``info``.
"""

from .keyspace import Keyspace, Session  # noqa: F401
from .reply import NIL_ARRAY, CommandError, Status  # noqa: F401
