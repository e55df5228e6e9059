"""CLI command families, each in its own module with a ``register(main)`` function.

Imports point one way (cli -> kvengine/recovery -> aoftools -> rdbtools -> kvencoding);
these modules only parse options, call the library and hand results to
``persistkit.render``.
"""

from importlib import import_module

FAMILIES = ("rdb", "convert", "aof", "engine", "recovery", "tour")


def register_all(main) -> None:
    for name in FAMILIES:
        import_module(f"{__name__}.{name}").register(main)
