"""The command table: name -> handler, arity, flags, key positions.

Command modules register their handlers with the ``command`` decorator; the
session looks commands up here (never an if-chain). ``arity`` follows Redis:
positive = exact argument count (name included), negative = at least that many.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

# Flags used by the engine:
#   write     changes data: propagated to the AOF when it dirtied the keyspace; refused
#             in the middle of a failed MULTI like Redis
#   readonly  reads data only
#   admin     server administration (SAVE, CONFIG ...)
#   noauth    allowed before AUTH (AUTH, HELLO, QUIT)
#   nomulti   executed immediately even inside MULTI (EXEC, DISCARD, MULTI, WATCH, QUIT)
#   server    needs a running server (BGSAVE ...); the pure library answers with an error
#   fast / denyoom / loading / stale: reported by COMMAND for clients


@dataclass(slots=True)
class CommandSpec:
    name: str
    handler: Callable
    arity: int
    flags: frozenset
    first_key: int
    last_key: int
    step: int

    @property
    def is_write(self) -> bool:
        return "write" in self.flags


COMMANDS: dict[bytes, CommandSpec] = {}


def command(name: str, arity: int, flags: str = "", keys: tuple[int, int, int] = (1, 1, 1)):
    """Register ``fn(session, args)`` as the handler of ``name``."""

    def deco(fn):
        spec = CommandSpec(name.lower(), fn, arity, frozenset(flags.split()), *keys)
        COMMANDS[name.lower().encode()] = spec
        return fn

    return deco


# Names as clients spell them ("SET", "Set") -> spec, so that the usual upper-case names
# cost one dict lookup; only found commands are cached, and only a bounded number.
_SPELLINGS: dict[bytes, CommandSpec] = {}


def lookup(name: bytes) -> CommandSpec | None:
    spec = _SPELLINGS.get(name)
    if spec is not None:
        return spec
    spec = COMMANDS.get(name)
    if spec is None:
        spec = COMMANDS.get(name.lower())
        if spec is not None and len(_SPELLINGS) < 4096:
            _SPELLINGS[bytes(name)] = spec
    return spec
