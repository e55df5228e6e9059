"""The framing of a module value: typed opcodes up to an EOF opcode, copied byte for byte.

redis/redis src/rdb.c ``rdbLoadCheckModuleValue`` (RDB_TYPE_MODULE_2 values, MODULE_AUX
payloads, and the key metadata of RDB 13+): a sequence of ``opcode`` lengths, each
followed by its payload -- SINT/UINT a length, FLOAT 4 bytes, DOUBLE 8 bytes, STRING an
RDB string -- until ``MOD_EOF``. The values are not interpreted (the module that wrote
them is not loaded); their exact bytes are kept so a writer can copy them. Lengths and
strings go through ``lengths`` (``read_length_raw`` / ``read_string_raw``), so an LZF
string inside is checked as everywhere else.
"""

from __future__ import annotations

from .errors import FormatError
from .lengths import read_length_raw, read_string_raw
from .source import ByteSource

# rdb.h RDB_MODULE_OPCODE_*
MOD_EOF, MOD_SINT, MOD_UINT, MOD_FLOAT, MOD_DOUBLE, MOD_STRING = range(6)


def read_module_opcodes(src: ByteSource, what: str, parts: list) -> int:
    """Consume module opcodes through their EOF, appending the exact bytes read to
    ``parts``; returns how many values there were (EOF not counted)."""
    n = 0
    while True:
        at = src.tell()
        code, _, raw = read_length_raw(src, f"{what} opcode")
        parts.append(raw)
        if code == MOD_EOF:
            return n
        n += 1
        if code == MOD_SINT or code == MOD_UINT:
            parts.append(read_length_raw(src, f"{what} integer")[2])
        elif code == MOD_STRING:
            parts.append(read_string_raw(src, f"{what} string"))
        elif code == MOD_FLOAT:
            parts.append(src.read(4, f"{what} float"))
        elif code == MOD_DOUBLE:
            parts.append(src.read(8, f"{what} double"))
        else:
            raise FormatError(f"unknown opcode in {what}", at, expected="module opcode 0-5",
                              found=str(code))


def capture_module_value(src: ByteSource, what: str) -> bytes:
    """The exact bytes of a module value's opcodes up to and including EOF."""
    parts: list = []
    read_module_opcodes(src, what, parts)
    return b"".join(parts)
