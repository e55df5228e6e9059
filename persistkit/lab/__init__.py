"""``persistkit lab``: measure what each persistence mode costs and loses.

A fixed, seeded workload runs against the bundled engine and (when installed) a real
``redis-server`` with the same settings, on loopback, in temporary folders the lab
creates and removes. Per mode it counts the acknowledged writes lost at ``kill -9`` and
at a simulated power cut (files rebuilt from the server's traced write/fsync timeline),
and it measures recovery time, file sizes, rewrite time, write latency while SAVE or
BGSAVE runs, fork time and copy-on-write bytes. ``report`` turns the figures into
verdicts; ``plots`` and ``html`` draw them.

Modules: ``workload`` (the seeded commands), ``client`` (a small RESP client),
``servers`` (starting and killing servers), ``timeline`` (trace parsing and the
power-cut file builder), ``experiments`` (the measurements), ``incremental`` (the
incremental-snapshot model), ``report``, ``plots``, ``html``, ``runner``.
"""
