"""GCJ-02 / BD-09 conversion pinned by published vectors, round trips and CRS spellings."""

from __future__ import annotations

import math

import pytest

from bridge.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    in_china,
    parse_crs,
    to_wgs84,
    wgs84_to_gcj02,
)
from bridge.model import Crs

# (WGS-84 lon, lat) → (GCJ-02 lon, lat).
# The first three are the published vectors of googollee/eviltransform python/test.py
# (Shanghai, Shenzhen, Beijing).  The rest were computed once with the reference
# implementation wandergis/coordTransform_py coordTransform_utils.py `wgs84togcj02`
# (a = 6378245.0, ee = 0.00669342162296594323), run outside this repository.
FORWARD_VECTORS = [
    pytest.param(
        (121.5272106, 31.1774276), (121.531541859215, 31.17530398364597), id="shanghai-evil"
    ),
    pytest.param(
        (113.912316, 22.543847), (113.9171764808363, 22.540796131694766), id="shenzhen-evil"
    ),
    pytest.param(
        (116.377817, 39.911954), (116.38404722455657, 39.91334545536069), id="beijing-evil"
    ),
    pytest.param((116.391305, 39.907333), (116.39754616292328, 39.90873427128538), id="beijing"),
    pytest.param((121.473701, 31.230416), (121.47822405739267, 31.22847374224698), id="shanghai"),
    pytest.param((113.264385, 23.129112), (113.26971458288735, 23.126435336538538), id="guangzhou"),
    pytest.param((114.1, 32.1), (114.10587671374952, 32.098065990377044), id="demo-district"),
    pytest.param((87.617733, 43.792818), (87.62058226041898, 43.79404257315041), id="urumqi"),
    pytest.param((126.642464, 45.756967), (126.64843401023796, 45.758918130663396), id="harbin"),
]

# BD-09 → GCJ-02, computed with coordTransform_py `bd09togcj02`.
BD09_VECTORS = [
    pytest.param((116.404, 39.915), (116.39762729119315, 39.90865673957631), id="beijing"),
    pytest.param((120.019809, 29.199786), (120.01335710984046, 29.19350526408319), id="jinhua"),
    pytest.param((114.1, 32.1), (114.09351159654362, 32.09393595078056), id="demo-district"),
]

EARTH_RADIUS_M = 6371008.8


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def china_grid() -> list[tuple[float, float]]:
    """Every 0.5° over mainland China's extent, plus odd offsets to avoid round numbers."""
    return [
        (73.3 + 0.5 * i + 0.0137, 18.1 + 0.5 * j + 0.0071)
        for i in range(128)  # 73.3 .. 137.3 E
        for j in range(74)  # 18.1 .. 54.6 N
    ]


@pytest.mark.parametrize(("wgs", "gcj"), FORWARD_VECTORS)
def test_forward_matches_published_vectors(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    lon, lat = wgs84_to_gcj02(*wgs)
    assert lon == pytest.approx(gcj[0], abs=1e-9)
    assert lat == pytest.approx(gcj[1], abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), FORWARD_VECTORS)
def test_inverse_recovers_published_vectors(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    assert haversine_m(gcj02_to_wgs84(*gcj), wgs) < 0.5
    assert to_wgs84(*gcj, Crs.GCJ02) == gcj02_to_wgs84(*gcj)


@pytest.mark.parametrize(("bd", "gcj"), BD09_VECTORS)
def test_bd09_to_gcj02_matches_reference(bd: tuple[float, float], gcj: tuple[float, float]) -> None:
    lon, lat = bd09_to_gcj02(*bd)
    assert lon == pytest.approx(gcj[0], abs=1e-9)
    assert lat == pytest.approx(gcj[1], abs=1e-9)
    assert bd09_to_wgs84(*bd) == gcj02_to_wgs84(*gcj)
    assert to_wgs84(*bd, Crs.BD09) == bd09_to_wgs84(*bd)


def test_round_trip_under_half_a_metre_across_china() -> None:
    worst = 0.0
    for point in china_grid():
        worst = max(worst, haversine_m(gcj02_to_wgs84(*wgs84_to_gcj02(*point)), point))
    assert worst < 0.5
    # The tolerance is 1e-7°, so in practice the error is centimetres at most.
    assert worst < 0.02


def test_offset_is_100_to_700_metres_in_china() -> None:
    # "100-700 m" (DESIGN §7) holds east of 100° E and south of China's northern tip (53.6° N),
    # where nearly everyone lives; on the Qinghai-Tibet plateau around 97° E the shift drops
    # to some 30 m, and the box's Russian corner north of 54° N reaches 701 m.
    for point in china_grid():
        if not in_china(*point):
            continue
        offset_m = haversine_m(wgs84_to_gcj02(*point), point)
        assert 20.0 < offset_m < 720.0, point
        if point[0] >= 100.0 and point[1] <= 53.6:
            assert 100.0 < offset_m < 700.0, point


@pytest.mark.parametrize(
    "point",
    [
        (2.3522, 48.8566),  # Paris
        (-74.006, 40.7128),  # New York
        (151.2093, -33.8688),  # Sydney
        (139.6917, 35.6895),  # Tokyo (east of the box)
        (114.1, 56.0),  # north of the box
        (114.1, 0.5),  # south of the box
        (71.9, 40.0),  # west of the box
    ],
)
def test_identity_outside_china(point: tuple[float, float]) -> None:
    assert not in_china(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


def test_wgs84_is_returned_unchanged() -> None:
    assert to_wgs84(114.1, 32.1, Crs.WGS84) == (114.1, 32.1)


def test_nan_is_not_in_china_and_passes_through() -> None:
    lon, lat = gcj02_to_wgs84(math.nan, 32.1)
    assert math.isnan(lon)
    assert lat == 32.1


@pytest.mark.parametrize(
    "text",
    [
        "WGS84",
        "WGS-84",
        "wgs 84",
        "wgs_84",
        " Wgs84 ",
        "ＷＧＳ－８４",
        "GPS",
        "gps",
        "CGCS2000",
        "cgcs 2000",
        "2000",
        "２０００",
        "大地2000",
        "WGS84坐标系",
        "EPSG:4326",
    ],
)
def test_parse_wgs84_spellings(text: str) -> None:
    assert parse_crs(text) is Crs.WGS84


@pytest.mark.parametrize(
    "text",
    [
        "GCJ02",
        "GCJ-02",
        "gcj_02",
        "gcj 02",
        "ＧＣＪ０２",
        "国测局",
        "高德",
        "高德地图",
        "腾讯",
        "腾讯地图",
        "火星",
        "火星坐标",
        "火星坐标系",
        " 高德 ",
    ],
)
def test_parse_gcj02_spellings(text: str) -> None:
    assert parse_crs(text) is Crs.GCJ02


@pytest.mark.parametrize(
    "text", ["BD09", "BD-09", "bd09ll", "BD09LL", "百度", "百度地图", "百度坐标"]
)
def test_parse_bd09_spellings(text: str) -> None:
    assert parse_crs(text) is Crs.BD09


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "BJ54",
        "北京54",
        "西安80",
        "bd09mc",
        "EPSG:3857",
        "wgs",
        "gcj",
        "坐标",
        "utm",
        "84",
        "GCJ02x",
        "百度墨卡托",
    ],
)
def test_parse_unknown_spellings_give_none(text: str) -> None:
    assert parse_crs(text) is None
