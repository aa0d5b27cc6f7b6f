"""Coordinate systems of camera positions and their conversion to WGS-84 (DESIGN §7).

Pure: no I/O.  Every function takes and returns ``(lon, lat)`` in degrees, longitude first,
as GeoJSON does.

GCJ-02 (国测局, used by 高德 and 腾讯 maps) is WGS-84 shifted by a published, deliberately
irregular formula: 100–700 m inside China, nothing outside it.  BD-09 (百度) adds a further
rotation-and-scale offset on top of GCJ-02.  CGCS2000 differs from WGS-84 by centimetres, so
it is treated as WGS-84.
"""

from __future__ import annotations

import math
import unicodedata

from bridge.model import Crs

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_wgs84",
    "in_china",
    "parse_crs",
    "to_wgs84",
    "wgs84_to_gcj02",
]

# Krasovsky 1940 ellipsoid, as the GCJ-02 formula uses it (not WGS-84's 6378137.0).
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

# Forward transform of the inverse's estimate must land within this many degrees of the
# GCJ-02 input: 1e-7° is about 1 cm, far below the 0.5 m DESIGN §7 asks for.
_INVERSE_TOLERANCE_DEG = 1e-7
# The fixed-point iteration converges in 3–5 steps in practice; the cap only guards against
# pathological input so that a bad row can never hang an import.
_INVERSE_MAX_ITERATIONS = 30

# Normalised spelling (see _normalise) → coordinate system.  Nothing else is guessed.
_CRS_SPELLINGS: dict[str, Crs] = {
    **dict.fromkeys(
        ("wgs84", "gps", "cgcs2000", "2000", "大地2000", "国家2000", "epsg:4326", "epsg:4490"),
        Crs.WGS84,
    ),
    **dict.fromkeys(
        ("gcj02", "国测局", "高德", "高德地图", "腾讯", "腾讯地图", "火星"),
        Crs.GCJ02,
    ),
    **dict.fromkeys(("bd09", "bd09ll", "百度", "百度地图"), Crs.BD09),
}

# Chinese exports often write "火星坐标", "百度坐标系", "WGS84坐标系": the suffix means
# "coordinates"/"coordinate system" and carries no information.
_CRS_SUFFIXES = ("坐标系", "坐标")


def _normalise(text: str) -> str:
    """Fold full-width forms (NFKC), case, spaces, hyphens and underscores away."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in "-_")


def parse_crs(text: str) -> Crs | None:
    """Return the coordinate system a person meant by ``text``, or ``None``.

    Accepts the spellings found in inventories: ``WGS84``/``WGS-84``/``wgs 84``/``GPS``/
    ``CGCS2000``/``2000``/``大地2000`` (WGS-84), ``GCJ02``/``GCJ-02``/``国测局``/``高德``/
    ``腾讯``/``火星`` with or without ``地图``/``坐标`` (GCJ-02), ``BD09``/``BD-09``/``BD09LL``/
    ``百度``/``百度地图`` (BD-09); case, spaces, hyphens, underscores and full-width characters
    do not matter.  Anything else — ``BJ54``, ``西安80``, ``bd09mc`` (Baidu's projected
    metres), an empty cell — gives ``None``: the caller reports the row, never guesses.
    """
    key = _normalise(text)
    for suffix in _CRS_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key.removesuffix(suffix)
            break
    return _CRS_SPELLINGS.get(key)


def in_china(lon: float, lat: float) -> bool:
    """True when the point lies in the rough box where GCJ-02 differs from WGS-84.

    The box (lon 72.004–137.8347, lat 0.8293–55.8271) is the one every GCJ-02
    implementation uses; outside it GCJ-02 equals WGS-84.  ``NaN`` is never in China.
    """
    return 72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271


def _offset(lon: float, lat: float) -> tuple[float, float]:
    """The GCJ-02 shift (dlon, dlat) in degrees at WGS-84 point (lon, lat); no box check."""
    x = lon - 105.0
    y = lat - 35.0
    xp = x * math.pi
    yp = y * math.pi
    common = 20.0 * math.sin(6.0 * xp) + 20.0 * math.sin(2.0 * xp)
    dlat = common + 20.0 * math.sin(yp) + 40.0 * math.sin(yp / 3.0)
    dlat += 160.0 * math.sin(yp / 12.0) + 320.0 * math.sin(yp / 30.0)
    dlat = dlat * 2.0 / 3.0 - 100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y
    dlat += 0.2 * math.sqrt(abs(x))
    dlon = common + 20.0 * math.sin(xp) + 40.0 * math.sin(xp / 3.0)
    dlon += 150.0 * math.sin(xp / 12.0) + 300.0 * math.sin(xp / 30.0)
    dlon = dlon * 2.0 / 3.0 + 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y
    dlon += 0.1 * math.sqrt(abs(x))

    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Convert a WGS-84 point to GCJ-02 with the standard published formula.

    Outside China (see :func:`in_china`) the point is returned unchanged.
    """
    if not in_china(lon, lat):
        return lon, lat
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert a GCJ-02 point to WGS-84 by iterating the forward formula.

    The result ``w`` satisfies ``wgs84_to_gcj02(w) ≈ (lon, lat)`` within 1e-7 degrees
    (about 1 cm; DESIGN §7 asks for < 0.5 m).  Outside China the point is returned unchanged.
    """
    if not in_china(lon, lat):
        return lon, lat
    # Fixed-point iteration w ← w − (forward(w) − g): the offset varies slowly with position
    # (its derivative is ~1e-5 per degree), so each step gains about five digits.
    est_lon, est_lat = lon, lat
    for _ in range(_INVERSE_MAX_ITERATIONS):
        dlon, dlat = _offset(est_lon, est_lat)
        err_lon = est_lon + dlon - lon
        err_lat = est_lat + dlat - lat
        if abs(err_lon) < _INVERSE_TOLERANCE_DEG and abs(err_lat) < _INVERSE_TOLERANCE_DEG:
            break
        est_lon -= err_lon
        est_lat -= err_lat
    return est_lon, est_lat


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Convert a BD-09 (百度) point to GCJ-02 with the standard ``x_pi`` formula.

    The formula is applied everywhere (it has no box of its own), as Baidu's SDKs document it.
    """
    x = lon - 0.0065
    y = lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Convert a BD-09 (百度) point to WGS-84: BD-09 → GCJ-02 → WGS-84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: float, lat: float, crs: Crs) -> tuple[float, float]:
    """Convert ``(lon, lat)`` given in ``crs`` to WGS-84 (a WGS-84 point is returned as is)."""
    if crs is Crs.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if crs is Crs.BD09:
        return bd09_to_wgs84(lon, lat)
    return lon, lat
