"""The moment a report is made "as of" (``inspect --now``): an ISO time, unix seconds or
milliseconds, or ``file`` for the snapshot's own ``ctime`` AUX field, so that the TTL
spread of an old backup reads as it was when the backup was taken."""

from __future__ import annotations

import datetime
import re
from typing import Optional

from persistkit.kvencoding.fileio import open_input
from persistkit.rdbtools import model
from persistkit.rdbtools.reader import RDBReader

# A bare number below this is seconds (up to the year 5138), at or above it milliseconds.
_MS_FROM = 10 ** 11
_NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")


class BadMoment(ValueError):
    """``--now`` could not be understood (a usage error)."""


def parse_moment(text: str) -> int:
    """Unix milliseconds of an ISO 8601 time (UTC when it has no offset; ``Z`` allowed),
    of unix seconds, or of unix milliseconds."""
    t = text.strip()
    if _NUMBER.match(t):
        v = float(t)
        return int(round(v)) if v >= _MS_FROM else int(round(v * 1000))
    iso = t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t
    try:
        dt = datetime.datetime.fromisoformat(iso)
    except ValueError:
        raise BadMoment(f"--now {text!r}: expected an ISO time (2026-11-25T07:46:36Z), "
                        "unix seconds or milliseconds, or 'file'") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return int(round(dt.timestamp() * 1000))


def snapshot_ctime_ms(path, stream=None) -> Optional[int]:
    """The ``ctime`` AUX field (rdbSaveInfoAuxFields: the unix time of the save) in ms,
    read from the AUX fields at the start of the file; None when the file has none."""
    def scan(s) -> Optional[int]:
        for item in RDBReader(s, decode=False, name=str(path), strict_crc=False):
            if item.__class__ is model.Header:
                continue
            if item.__class__ is not model.Aux:
                return None
            if item.key == b"ctime":
                try:
                    return int(item.value) * 1000
                except ValueError:
                    return None
        return None

    if stream is not None:
        return scan(stream)
    with open_input(path) as s:
        return scan(s)


def resolve_now(text: Optional[str], path=None) -> Optional[int]:
    """``--now`` as unix ms (None: the wall clock); ``file`` needs ``path``."""
    if text is None:
        return None
    if text.strip().lower() == "file":
        if path is None or path == "-":
            raise BadMoment("--now file needs a snapshot file (not standard input)")
        ms = snapshot_ctime_ms(path)
        if ms is None:
            raise BadMoment(f"--now file: {path} has no ctime AUX field (written before Redis 4.0?)")
        return ms
    return parse_moment(text)
