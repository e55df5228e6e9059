"""AOF logs: plain RESP, single-file hybrid and Redis 7 multi-part (manifest) sets.

Modules (each documents its API in its docstring):

* ``model``     AOFCommand (what the reader yields), AOFPart / AOFSet (files in load order)
* ``manifest``  the Redis 7 manifest, parsed and written as the server does
* ``reader``    AOFReader: streaming commands (+ RDB preamble items) of any layout
* ``writer``    AOFWriter, write_resp_file, write_hybrid_file, MultiPartWriter, write_manifest
* ``verify``    verify_aof: redis-check-aof's verdict and "valid up to" offset
* ``repair``    repair_aof: keep every complete command before the first damage
* ``inspect``   inspect_aof: layout, preamble vs tail, command statistics
* ``export``    export_aof: commands as JSON lines or RESP (preamble keys as commands)

The RESP codec itself is ``persistkit.kvencoding.resp``; RDB salvage is
``persistkit.rdbtools.salvage``.
"""
