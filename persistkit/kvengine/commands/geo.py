"""GEOADD, GEOPOS, GEODIST (redis/src/geo.c, geohash.c): points stored in a sorted set
with their 52-bit interleaved geohash as the score. GEOADD is logged as ZADD."""

from __future__ import annotations

import math

from ..numbers import parse_float
from ..reply import NIL_ARRAY, SYNTAX, WRONGTYPE, CommandError
from ..table import command
from ..values import ZSet

LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
LON_MIN, LON_MAX = -180.0, 180.0
STEP = 26
EARTH_RADIUS_M = 6372797.560856
_UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}


def _spread(v: int) -> int:
    out = 0
    for i in range(32):
        out |= ((v >> i) & 1) << (2 * i)
    return out


def _squash(v: int) -> int:
    out = 0
    for i in range(32):
        out |= ((v >> (2 * i)) & 1) << i
    return out


def encode(lon: float, lat: float) -> int:
    """geohashEncodeWGS84: latitude bits in the even positions, longitude in the odd."""
    lat_off = (lat - LAT_MIN) / (LAT_MAX - LAT_MIN)
    lon_off = (lon - LON_MIN) / (LON_MAX - LON_MIN)
    ilat = int(lat_off * (1 << STEP))
    ilon = int(lon_off * (1 << STEP))
    return _spread(ilat) | (_spread(ilon) << 1)


def decode(bits: int) -> tuple[float, float]:
    """Centre of the cell (geohashDecodeToLongLatWGS84), clamped like Redis."""
    ilat, ilon = _squash(bits), _squash(bits >> 1)
    lat_scale, lon_scale = LAT_MAX - LAT_MIN, LON_MAX - LON_MIN
    lat_min = LAT_MIN + (ilat * 1.0 / (1 << STEP)) * lat_scale
    lat_max = LAT_MIN + ((ilat + 1) * 1.0 / (1 << STEP)) * lat_scale
    lon_min = LON_MIN + (ilon * 1.0 / (1 << STEP)) * lon_scale
    lon_max = LON_MIN + ((ilon + 1) * 1.0 / (1 << STEP)) * lon_scale
    lon = min(max((lon_min + lon_max) / 2, LON_MIN), LON_MAX)
    lat = min(max((lat_min + lat_max) / 2, LAT_MIN), LAT_MAX)
    return lon, lat


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """geohashGetDistance (haversine)."""
    lat1r, lon1r, lat2r, lon2r = map(math.radians, (lat1, lon1, lat2, lon2))
    u = math.sin((lat2r - lat1r) / 2)
    v = math.sin((lon2r - lon1r) / 2)
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(u * u + math.cos(lat1r) * math.cos(lat2r) * v * v))


@command("geoadd", -5, "write denyoom")
def geoadd(s, args):
    from .zsets import zadd

    i = 2
    flags = []
    while i < len(args) and args[i].upper() in (b"NX", b"XX", b"CH"):
        flags.append(args[i])
        i += 1
    triples = args[i:]
    if not triples or len(triples) % 3:
        raise CommandError(SYNTAX)
    if any(f.upper() == b"NX" for f in flags) and any(f.upper() == b"XX" for f in flags):
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    zargs = [b"zadd", args[1], *flags]
    for j in range(0, len(triples), 3):
        lon, lat = parse_float(triples[j]), parse_float(triples[j + 1])
        if lon is None or lat is None:
            raise CommandError("ERR value is not a valid float")
        if not (LON_MIN <= lon <= LON_MAX and LAT_MIN <= lat <= LAT_MAX):
            raise CommandError(f"ERR invalid longitude,latitude pair {lon:f},{lat:f}")
        zargs += [b"%d" % encode(lon, lat), triples[j + 2]]
    reply = zadd(s, zargs)
    s.propagate(zargs)   # geoaddCommand rewrites its arguments into a ZADD
    return reply


def _points(s, key):
    v = s.lookup(key)
    if v is not None and type(v) is not ZSet:
        raise CommandError(WRONGTYPE)
    return v


@command("geopos", -2, "readonly")
def geopos(s, args):
    z = _points(s, args[1])
    out = []
    for m in args[2:]:
        sc = None if z is None else z.scores.get(m)
        if sc is None:
            out.append(NIL_ARRAY)
        else:
            from fractions import Fraction

            from ..numbers import format_long_double_human

            lon, lat = decode(int(sc))   # addReplyHumanLongDouble: "%.17Lf", zeros trimmed
            out.append([format_long_double_human(Fraction(lon)), format_long_double_human(Fraction(lat))])
    return out


@command("geodist", -4, "readonly")
def geodist(s, args):
    unit = b"m"
    if len(args) == 5:
        unit = args[4].lower()
        if unit not in _UNITS:
            raise CommandError("ERR unsupported unit provided. please use M, KM, FT, MI")
    elif len(args) > 5:
        raise CommandError(SYNTAX)
    z = _points(s, args[1])
    a = None if z is None else z.scores.get(args[2])
    b = None if z is None else z.scores.get(args[3])
    if a is None or b is None:
        return None
    d = distance(*decode(int(a)), *decode(int(b))) / _UNITS[unit]
    return b"%.4f" % d
