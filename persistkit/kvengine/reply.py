"""Reply values a command returns, independent of any wire protocol.

A handler answers with plain Python values; the server turns them into RESP2:

* ``bytes``               bulk string
* ``None``                nil bulk (``$-1``)
* ``int`` / ``bool``      integer
* ``list`` / ``tuple``    array (nested freely)
* ``Status``              simple string (``+OK``)
* ``CommandError``        error reply (also raised by handlers to abort)
* ``NIL_ARRAY``           nil multi-bulk (``*-1``), e.g. EXEC after WATCH abort, BLPOP timeout
* ``Map`` / ``SetReply`` / ``Double`` / ``Pairs``   typed replies: RESP3 map / set / double /
  array of 2-element arrays; in RESP2 a flat array, an array, a bulk string, a flat array

Error messages carry their prefix (``ERR``, ``WRONGTYPE`` ...), exactly as Redis
writes them after the ``-`` (see shared.* objects in redis/src/server.c createSharedObjects).
"""

from __future__ import annotations


class Status(str):
    """A simple-string reply."""

    __slots__ = ()


OK = Status("OK")
QUEUED = Status("QUEUED")
PONG = Status("PONG")


class Map(list):
    """A map reply given as a flat [k1, v1, k2, v2, ...] list."""

    __slots__ = ()


class SetReply(list):
    __slots__ = ()


class Double(float):
    """A double reply (RESP3 ``,``; RESP2 bulk text like addReplyDouble)."""

    __slots__ = ()


class Pairs(list):
    """[(a, b), ...]: RESP3 an array of 2-arrays (ZRANGE WITHSCORES), RESP2 flat."""

    __slots__ = ()


class PairMap(list):
    """[(key, value), ...]: RESP3 a map, RESP2 an array of 2-arrays (XREAD's reply)."""

    __slots__ = ()


class _NilArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NIL_ARRAY"


NIL_ARRAY = _NilArray()


class CommandError(Exception):
    """An error reply. ``message`` is the full text after '-', prefix included."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"CommandError({self.message!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, CommandError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)


# Shared error texts (redis/src/server.c createSharedObjects and the t_*.c files).
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INT = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
NO_SUCH_KEY = "ERR no such key"
OUT_OF_RANGE = "ERR index out of range"
DB_RANGE = "ERR DB index is out of range"
OVERFLOW = "ERR increment or decrement would overflow"
NOT_POSITIVE = "ERR value is out of range, must be positive"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
EXECABORT = "EXECABORT Transaction discarded because of previous errors."


def err(message: str) -> CommandError:
    return CommandError(message)


def wrongtype() -> CommandError:
    return CommandError(WRONGTYPE)


def syntax() -> CommandError:
    return CommandError(SYNTAX)


def arity_error(name: str) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{name}' command")


def unknown_command(args: list[bytes]) -> CommandError:
    # processCommand: "unknown command '%.128s', with args beginning with: " + "'%.*s' " per arg
    name = args[0][:128].decode("utf-8", "replace")
    rest = "".join("'" + a[:128 - 1].decode("utf-8", "replace") + "' " for a in args[1:])
    return CommandError(f"ERR unknown command '{name}', with args beginning with: {rest}")


def unknown_subcommand(sub: bytes, cmd: str) -> CommandError:
    return CommandError(
        f"ERR unknown subcommand '{sub[:128].decode('utf-8', 'replace')}'. Try {cmd.upper()} HELP.")
