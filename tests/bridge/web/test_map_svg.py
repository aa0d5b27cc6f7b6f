"""The map SVG with the demo district (276 cells, 1,200 cameras, 40 % of them given in
GCJ-02 and converted as the importer does) at every level, and with a made-up 20,000-camera
district; sizes printed with ``-s`` and pinned loosely."""

from __future__ import annotations

import gzip
import random
import re
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
import shapely
from shapely.geometry import Point, shape

from bridge.model import GridCell, Level
from bridge.web.i18n import Texts
from bridge.web.map_svg import (
    DOTS_MAX,
    MapLevel,
    MapPoint,
    UnknownCellError,
    _Frame,
    render_map,
)
from tests.bridge.web.sample_pages import demo_district

NS = "{http://www.w3.org/2000/svg}"
CELLS, POINTS = demo_district()
TOWN = next(c for c in CELLS if c.level is Level.TOWNSHIP)
VILLAGE = next(c for c in CELLS if c.level is Level.VILLAGE and c.parent == TOWN.code)
GRID = next(c for c in CELLS if c.level is Level.GRID and c.parent == VILLAGE.code)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def camera_links(root: ET.Element) -> dict[str, str]:
    """camera id → its link's title."""
    out = {}
    for a in root.iter(f"{NS}a"):
        href = a.get("href", "")
        if href.startswith("/camera/"):
            title = a.find(f"{NS}title")
            assert title is not None
            assert title.text
            out[href.removeprefix("/camera/")] = title.text
    return out


def subtree(code: str) -> set[str]:
    codes, todo = {code}, [code]
    while todo:
        parent = todo.pop()
        for cell in CELLS:
            if cell.parent == parent:
                codes.add(cell.code)
                todo.append(cell.code)
    return codes


@pytest.mark.parametrize(
    ("root", "level", "max_bytes"),
    [
        (None, MapLevel.DISTRICT, 260_000),
        (TOWN.code, MapLevel.TOWNSHIP, 60_000),
        (VILLAGE.code, MapLevel.VILLAGE, 12_000),
        (GRID.code, MapLevel.GRID, 6_000),
    ],
)
def test_each_level_of_the_demo_district(root: str | None, level: MapLevel, max_bytes: int) -> None:
    result = render_map(CELLS, POINTS, root=root)
    size = len(result.svg.encode())
    print(f"{level}: {size:,} bytes, {len(gzip.compress(result.svg.encode())):,} gzipped, "
          f"{result.shown} cameras, {len(result.off_map)} off the map")  # fmt: skip
    assert result.level is level
    assert size <= max_bytes
    svg = parse(result.svg)
    assert svg.tag == f"{NS}svg"
    links = camera_links(svg)
    scope = subtree(root) if root else None
    expected = {
        p.id
        for p in POINTS
        if p.lon_wgs84 is not None and (scope is None or scope.intersection(p.grids))
    } - set(result.off_map)
    assert set(links) == expected
    assert result.shown == len(expected) > 0
    assert not result.aggregated


def test_every_camera_says_its_name_and_state_in_words() -> None:
    result = render_map(CELLS, POINTS, root=VILLAGE.code)
    links = camera_links(parse(result.svg))
    for point in POINTS:
        if point.id in links:
            assert links[point.id].startswith(f"{point.name}：{Texts().state(point.state)}")
            if point.state == "offline":
                assert links[point.id].endswith("（网络不通）")


def test_state_is_a_shape_as_well_as_a_colour() -> None:
    svg = render_map(CELLS, POINTS).svg
    uses = re.findall(r'<use class="mk m-(\w+)" href="#gbm-(\w+)"', svg)
    assert uses
    assert all(cls == ref for cls, ref in uses)
    assert {"online", "degraded", "offline", "unknown"} <= {cls for cls, _ in uses}
    shapes = {
        g.get("id"): [child.tag.removeprefix(NS) for child in g][1]
        for g in parse(svg).iter(f"{NS}g")
        if (g.get("id") or "").startswith("gbm-")
    }
    assert shapes == {"gbm-online": "circle", "gbm-degraded": "path",
                      "gbm-offline": "rect", "gbm-unknown": "path"}  # fmt: skip
    # Broken cameras are drawn last: on top of the healthy ones.
    order = [cls for cls, _ in uses]
    assert order.index("offline") > max(i for i, c in enumerate(order) if c == "online")


def test_polygons_link_to_zoom_or_to_the_grid_page() -> None:
    district = parse(render_map(CELLS, POINTS).svg)
    hrefs = [a.get("href") for a in district.iter(f"{NS}a")]
    towns = [c for c in CELLS if c.level is Level.TOWNSHIP]
    assert [h for h in hrefs if h and h.startswith("/map/")] == [f"/map/{c.code}" for c in towns]
    labels = [t.text for t in district.iter(f"{NS}text")]
    assert labels == [c.name for c in towns]
    village = parse(render_map(CELLS, POINTS, root=VILLAGE.code).svg)
    grid_links = [
        a.get("href") for a in village.iter(f"{NS}a") if a.get("href", "").startswith("/grid/")
    ]
    grids = [c for c in CELLS if c.parent == VILLAGE.code]
    assert grid_links == [f"/grid/{c.code}" for c in grids]


def test_cameras_sit_in_their_cells_after_the_gcj02_conversion() -> None:
    """Each coordinate-linked camera's dot lies inside its grid polygon as drawn (the
    conversion happened: about half of the GCJ-02 rows would be outside unconverted)."""
    result = render_map(CELLS, POINTS, root=TOWN.code)
    svg = result.svg
    cells = {c.code: c for c in CELLS}
    frame = _Frame.fit(shape(cells[TOWN.code].geometry).bounds)
    inside = outside = 0
    for point in POINTS:
        if point.id in result.off_map or not subtree(TOWN.code).intersection(point.grids):
            continue
        x, y = frame.xy(point.lon_wgs84 or 0, point.lat_wgs84 or 0)
        polygon = frame.project(shape(cells[point.grids[0]].geometry))
        if polygon.contains(Point(x, y)):
            inside += 1
        else:
            outside += 1
    assert inside > 150
    assert outside <= 3
    assert svg.count("<use ") == result.shown


def test_untrusted_names_and_codes_are_escaped() -> None:
    square = {"type": "Polygon", "coordinates": [[[114, 32], [114.01, 32], [114.01, 32.01],
                                                  [114, 32.01], [114, 32]]]}  # fmt: skip
    town = GridCell('9"><script>alert(1)</script>', "<b>镇</b> & 'x'", Level.TOWNSHIP, None, square)
    cam = MapPoint('1"/><a href="javascript:x', "</title><script>", "offline", 114.005, 32.005)
    svg = render_map([town], [cam]).svg
    parse(svg)  # still well-formed
    assert "<script>" not in svg
    assert "<b>" not in svg
    assert "&lt;b&gt;镇&lt;/b&gt; &amp; &#x27;x&#x27;" in svg
    assert 'href="/map/9%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E"' in svg
    assert 'href="/camera/1%22%2F%3E%3Ca%20href%3D%22javascript%3Ax"' in svg


def test_cameras_on_one_spot_are_spread_to_stay_clickable() -> None:
    base = next(p for p in POINTS if p.grids and GRID.code in p.grids and p.lon_wgs84)
    pole = [MapPoint(f"{i:020d}", f"杆{i}", "online", base.lon_wgs84, base.lat_wgs84,
                     (GRID.code,)) for i in range(4)]  # fmt: skip
    svg = render_map(CELLS, pole, root=GRID.code).svg
    spots = re.findall(r'x="([\d.]+)" y="([\d.]+)"/></a>', svg)
    assert len(spots) == 4
    assert len(set(spots)) == 4
    xy = [(float(x), float(y)) for x, y in spots]
    closest = min(
        ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5
        for i, a in enumerate(xy)
        for b in xy[i + 1 :]
    )
    assert closest >= 2 * 13.0 * 0.9  # about a marker apart at grid level (radius 13)


def test_cameras_without_coordinates_are_listed_not_drawn() -> None:
    lost = MapPoint("41990100011326099999", "无坐标", "online", None, None, (GRID.code,))
    far = MapPoint("41990100011326099998", "坐标错", "online", 120.0, 30.0, (GRID.code,))
    result = render_map(CELLS, [lost, far], root=GRID.code)
    assert result.off_map == (lost.id, far.id)
    assert result.shown == 0


def test_unknown_root_is_an_error() -> None:
    with pytest.raises(UnknownCellError):
        render_map(CELLS, POINTS, root="nope")


def test_english_titles() -> None:
    svg = render_map(CELLS, POINTS, root=VILLAGE.code, texts=Texts("en")).svg
    assert re.search(r"<title>[^<]+: (Online|Offline|Degraded|Not checked)", svg)


def test_the_map_goes_into_a_template_without_safe() -> None:
    from bridge.web.templating import environment

    result = render_map(CELLS, POINTS, root=GRID.code)
    html = environment().from_string("<div>{{ m }}</div>").render(m=result)
    assert "<svg" in html
    assert "&lt;svg" not in html


def big_district(n: int = 20_000) -> list[MapPoint]:
    """20,000 cameras spread over the demo's grid cells, 10 % broken."""
    rng = random.Random(3)
    grids = [c for c in CELLS if c.level is Level.GRID]
    points = []
    for i in range(n):
        cell = grids[i % len(grids)]
        poly = shape(cell.geometry)
        c = shapely.point_on_surface(poly)
        state = rng.choices(["online", "degraded", "offline", "unknown"], [90, 4, 5, 1])[0]
        points.append(MapPoint(f"{i:020d}", f"摄像机{i}", state, c.x + rng.uniform(-1e-4, 1e-4),
                               c.y + rng.uniform(-1e-4, 1e-4), (cell.code,)))  # fmt: skip
    return points


def test_a_big_district_is_drawn_as_counts_per_grid() -> None:
    points = big_district()
    result = render_map(CELLS, points)
    size = len(result.svg.encode())
    print(f"20,000 cameras, district: {size:,} bytes, aggregated per grid")
    assert len(points) > DOTS_MAX
    assert result.aggregated
    assert result.shown == len(points)
    assert size < 120_000
    svg = parse(result.svg)
    grid_links = [a for a in svg.iter(f"{NS}a") if a.get("href", "").startswith("/grid/")]
    assert len(grid_links) == sum(1 for c in CELLS if c.level is Level.GRID)
    titles = [a.find(f"{NS}title").text or "" for a in grid_links]  # type: ignore[union-attr]
    totals = [int(m.group(1)) for t in titles if (m := re.search(r"共 (\d+) 台", t))]
    assert sum(totals) == len(points)
    # The number beside a marker: its cameras that need attention.
    by_grid = Counter(p.grids[0] for p in points if p.state in ("offline", "degraded"))
    first = grid_links[0]
    code = first.get("href", "").removeprefix("/grid/")
    number = first.find(f"{NS}text")
    assert (number.text if number is not None else "0") == str(by_grid[code])
    # A township of it has 3,333 cameras: per grid as well; a village's 370 are dots.
    town = render_map(CELLS, points, root=TOWN.code)
    assert town.aggregated
    assert town.shown == sum(1 for p in points if p.grids[0] in subtree(TOWN.code))
    village = render_map(CELLS, points, root=VILLAGE.code)
    assert not village.aggregated
    assert village.svg.count("<use ") == village.shown
