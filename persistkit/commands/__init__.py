"""CLI command families, each in its own module with a ``register(main)`` function.

Imports point one way (cli -> commands -> render / recovery -> kvengine -> aoftools ->
rdbtools -> kvencoding); these modules only parse options, call the library and hand
results to ``persistkit.render``. They take the CLI contract (exit codes, ``guarded``,
``--json``) from ``persistkit.cli_contract``, never from the entry point.
"""

from . import aof, convert, engine, lab, memory, rdb, recovery, tour

FAMILIES = (rdb, convert, aof, engine, recovery, tour, memory, lab)


def register_all(main) -> None:
    for family in FAMILIES:
        family.register(main)
