"""The map (pure): grid polygons and cameras drawn as one SVG, served inside the page.

No map tiles: district intranets have no internet.  The grid map itself is the background.

Levels, from the cell the map is centred on (``root``):

=========  ==========================================================================
district   ``root=None``: every township outlined and clickable (to its own map), the
           grid cells as a faint mesh, township names; cameras as dots — or, above
           :data:`DOTS_MAX` cameras, one marker per grid cell with the number that need
           attention (a 20,000-camera district would otherwise be 3 MB of overlapping dots)
township   its villages clickable (to their map) and named, grid cells faint, its cameras
           (per grid cell above :data:`DOTS_MAX`, as for the district)
village    its grid cells clickable (to the grid page) and named, its cameras big enough
           to click (24 px at a 1,000 px wide map)
grid       the one cell (clickable to its page) and its cameras
=========  ==========================================================================

Projection: equirectangular, longitudes scaled by cos(latitude) at the middle of the view —
at a district's size (tens of km) the distortion is far below a pixel.  Coordinates are in a
viewBox 1,000 units wide, rounded to 0.1.  Polygons are simplified (Douglas-Peucker, shapely)
with a tolerance of :data:`SIMPLIFY_UNITS` of the viewBox (well below a screen pixel), so a
village-level map carries as few vertices as a district map.

Every camera state is a colour *and* a shape (online ● circle, degraded ▲ triangle, offline
■ square, unknown ◆ diamond; styled by ``app.css``, classes ``m-online`` …) and its link's
``<title>`` says the camera's name, the state's word and its faults.  Cameras at the same
spot (several on one pole) are spread on a small ring so that each can be clicked.  All text
is XML-escaped; codes and IDs in links are URL-quoted: inventory and grid files are untrusted.

The SVG uses classes, not inline styles (the page's CSP has no ``'unsafe-inline'``), so it is
meant to be embedded in a page that links ``app.css``.  :class:`MapSvg` has ``__html__``:
templates insert it as is, without ``|safe``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final, Protocol
from urllib.parse import quote

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from bridge.model import GridCell, Level
from bridge.web.i18n import Texts

__all__ = [
    "DOTS_MAX",
    "MapCamera",
    "MapLevel",
    "MapPoint",
    "MapSvg",
    "UnknownCellError",
    "camera_href",
    "cell_href",
    "render_map",
]

WIDTH: Final = 1000.0
PAD: Final = 12.0
MAX_HEIGHT: Final = 800.0  # a tall region is fitted to this height (a screen), narrower
SIMPLIFY_UNITS: Final = 0.5  # half a viewBox unit ≈ 0.6 px on a desktop map
# Above this many cameras in view, a district or township map shows one marker per grid cell.  A
# 1,000-unit map holds about 2,000 dots of radius 3.5 before they merge into a carpet; each
# dot costs ~150 bytes (link, title, marker): 2,000 dots ≈ 300 KB (≈ 40 KB gzipped).
DOTS_MAX: Final = 2000
_DOT_RADIUS: Final = {"district": 3.5, "township": 6.0, "village": 11.0, "grid": 13.0}
_LABEL_SIZE: Final = {"district": 24.0, "township": 19.0, "village": 20.0, "grid": 20.0}
_LABEL_MIN: Final = 11.0
# Drawn last = on top: the cameras that need attention.
_DRAW_ORDER: Final = {"online": 0, "unknown": 1, "degraded": 2, "offline": 3}
_WORST: Final = ("offline", "degraded", "unknown", "online")
_MAY_AGGREGATE: Final = frozenset({"district", "township"})


class MapLevel(enum.StrEnum):
    DISTRICT = "district"
    TOWNSHIP = "township"
    VILLAGE = "village"
    GRID = "grid"


class MapCamera(Protocol):
    """What the map needs of a camera (a ``CameraView`` has all of it)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def faults(self) -> tuple[str, ...]: ...
    @property
    def grids(self) -> tuple[str, ...]: ...
    @property
    def lon_wgs84(self) -> float | None: ...
    @property
    def lat_wgs84(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class MapPoint:
    """A camera for the map when no ``CameraView`` is at hand (tests, other callers)."""

    id: str
    name: str
    state: str
    lon_wgs84: float | None
    lat_wgs84: float | None
    grids: tuple[str, ...] = ()
    faults: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MapSvg:
    """A rendered map: the SVG and what it shows.

    ``shown`` counts the cameras on the map (as dots, or within the per-grid markers);
    ``off_map`` lists the cameras of the view that could not be placed (no coordinates, or
    coordinates outside the view — a typo in the inventory), for the page to name them.
    """

    svg: str
    level: MapLevel
    shown: int
    aggregated: bool
    off_map: tuple[str, ...]

    def __html__(self) -> str:
        return self.svg

    def __str__(self) -> str:
        return self.svg


class UnknownCellError(KeyError):
    """The map was asked for a cell the grid map does not have."""


def cell_href(cell: GridCell) -> str:
    """Default link of a polygon: a township or village zooms the map in, a grid cell opens
    its page (its cameras' cards)."""
    code = quote(cell.code, safe="")
    return f"/grid/{code}" if cell.level is Level.GRID else f"/map/{code}"


def camera_href(camera_id: str) -> str:
    return f"/camera/{quote(camera_id, safe='')}"


# --- geometry --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Frame:
    """The projection of one view: lon/lat → viewBox units."""

    min_lon: float
    max_lat: float
    kx: float  # units per degree of longitude
    ky: float  # units per degree of latitude
    off_x: float
    off_y: float
    width: float
    height: float

    @classmethod
    def fit(cls, bounds: tuple[float, float, float, float]) -> _Frame:
        min_lon, min_lat, max_lon, max_lat = bounds
        cos_lat = math.cos(math.radians((min_lat + max_lat) / 2))
        span_x = max((max_lon - min_lon) * cos_lat, 1e-9)
        span_y = max(max_lat - min_lat, 1e-9)
        scale = min((WIDTH - 2 * PAD) / span_x, (MAX_HEIGHT - 2 * PAD) / span_y)
        height = math.ceil(span_y * scale + 2 * PAD)
        off_x = (WIDTH - span_x * scale) / 2
        return cls(min_lon, max_lat, scale * cos_lat, scale, off_x, PAD, WIDTH, float(height))

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            self.off_x + (lon - self.min_lon) * self.kx,
            self.off_y + (self.max_lat - lat) * self.ky,
        )

    def project(self, geom: BaseGeometry) -> BaseGeometry:
        def move(coords: np.ndarray) -> np.ndarray:
            out = np.empty_like(coords)
            out[:, 0] = self.off_x + (coords[:, 0] - self.min_lon) * self.kx
            out[:, 1] = self.off_y + (self.max_lat - coords[:, 1]) * self.ky
            return out

        return shapely.transform(geom, move)

    def inside(self, x: float, y: float) -> bool:
        return -PAD <= x <= self.width + PAD and -PAD <= y <= self.height + PAD


def _num(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _ring_path(coords: np.ndarray) -> str:
    rounded = np.round(coords[:, :2], 1)
    keep = np.ones(len(rounded), dtype=bool)
    keep[1:] = np.any(rounded[1:] != rounded[:-1], axis=1)
    points = rounded[keep]
    if len(points) > 1 and np.all(points[0] == points[-1]):
        points = points[:-1]
    if len(points) < 3:
        return ""
    first, rest = points[0], points[1:]
    tail = " ".join(f"{_num(x)} {_num(y)}" for x, y in rest)
    return f"M{_num(first[0])} {_num(first[1])}L{tail}Z"


def _path_d(geom: BaseGeometry) -> str:
    """SVG path data of a projected Polygon or MultiPolygon (holes by even-odd)."""
    parts: list[str] = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        for ring in (poly.exterior, *poly.interiors):
            parts.append(_ring_path(np.asarray(ring.coords)))
    return "".join(parts)


@dataclass(slots=True)
class _Shape:
    cell: GridCell
    geom: BaseGeometry  # projected and simplified


def _shapes_of(geom: BaseGeometry, frame: _Frame, tolerance: float) -> BaseGeometry:
    """``geom`` (lon/lat) projected and simplified (never to nothing)."""
    projected = frame.project(geom)
    simple = shapely.simplify(projected, tolerance, preserve_topology=True)
    return simple if not simple.is_empty else projected


def _shapes(cells: Iterable[GridCell], frame: _Frame, tolerance: float) -> list[_Shape]:
    return [_Shape(c, _shapes_of(shape(c.geometry), frame, tolerance)) for c in cells]


# --- text ------------------------------------------------------------------------------


def _x(text: str) -> str:
    """XML-escaped text or attribute value (quotes too)."""
    return escape(text, quote=True)


def _ems(text: str) -> float:
    """Rough width of ``text`` in ems: CJK characters are square, Latin ones about half."""
    return sum(1.0 if ord(ch) > 0x2E80 else 0.58 for ch in text)


def _label(shp: _Shape, size: float) -> str:
    """The cell's name at a point inside it, shrunk to fit, or nothing when it cannot fit."""
    geom = shp.geom
    if geom.is_empty:
        return ""
    point = shapely.point_on_surface(geom)
    min_x, min_y, max_x, max_y = geom.bounds
    room_x, room_y = (max_x - min_x) * 0.9, (max_y - min_y) * 0.8
    ems = max(_ems(shp.cell.name), 1.0)
    fitted = min(size, room_x / ems, room_y)
    if fitted < _LABEL_MIN:
        return ""
    return (
        f'<text class="lbl" x="{_num(point.x)}" y="{_num(point.y)}" '
        f'font-size="{_num(fitted)}">{_x(shp.cell.name)}</text>'
    )


# --- markers ---------------------------------------------------------------------------


def _marker_defs(prefix: str, r: float) -> str:
    """One shape per state, centred on 0,0, with a transparent ring that widens the click
    target; the fill comes from the ``<use>`` element's class (it inherits).  Offline and
    degraded markers are a third larger: they are what an operator looks for."""
    hit = max(r + 4.0, 8.0)
    tri = r * 1.6
    sq = r * 1.25
    dia = r * 1.25
    ring = f'<circle r="{_num(hit)}" fill="transparent" stroke="none"/>'
    return (
        "<defs>"
        f'<g id="{prefix}-online">{ring}<circle r="{_num(r)}"/></g>'
        f'<g id="{prefix}-degraded">{ring}<path d="M0 {_num(-tri)}L{_num(tri * 0.95)} '
        f'{_num(tri * 0.7)} {_num(-tri * 0.95)} {_num(tri * 0.7)}Z"/></g>'
        f'<g id="{prefix}-offline">{ring}<rect x="{_num(-sq)}" y="{_num(-sq)}" '
        f'width="{_num(2 * sq)}" height="{_num(2 * sq)}"/></g>'
        f'<g id="{prefix}-unknown">{ring}<path d="M0 {_num(-dia)}L{_num(dia)} 0 0 '
        f'{_num(dia)} {_num(-dia)} 0Z"/></g>'
        "</defs>"
    )


def _state(value: str) -> str:
    state = str(value)
    return state if state in _DRAW_ORDER else "unknown"


def _spread(points: list[tuple[float, float]], r: float) -> list[tuple[float, float]]:
    """Cameras closer than a marker apart are moved onto a small ring around their middle,
    so each stays clickable (several cameras on one pole are common)."""
    cell = 2.0 * r
    buckets: dict[tuple[int, int], list[int]] = {}
    for i, (x, y) in enumerate(points):
        buckets.setdefault((round(x / cell), round(y / cell)), []).append(i)
    out = list(points)
    for members in buckets.values():
        if len(members) < 2:
            continue
        cx = sum(points[i][0] for i in members) / len(members)
        cy = sum(points[i][1] for i in members) / len(members)
        radius = max(r * 1.3, len(members) * 2.3 * r / (2 * math.pi))
        for k, i in enumerate(members):
            angle = -math.pi / 2 + 2 * math.pi * k / len(members)
            out[i] = (cx + radius * math.cos(angle), cy + radius * math.sin(angle))
    return out


# --- the map ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _View:
    level: MapLevel
    root: GridCell | None
    clickable: list[GridCell]
    mesh: list[GridCell]
    scope: frozenset[str]  # codes whose cameras the view shows (None root: every camera)


def _view(cells: Sequence[GridCell], root: str | None) -> _View:
    children: dict[str | None, list[GridCell]] = {}
    for cell in cells:
        children.setdefault(cell.parent, []).append(cell)

    def below(code: str) -> list[GridCell]:
        found, todo = [], [code]
        while todo:
            for child in children.get(todo.pop(), ()):
                found.append(child)
                todo.append(child.code)
        return found

    if root is None:
        towns = [c for c in cells if c.level is Level.TOWNSHIP]
        grids = [c for c in cells if c.level is Level.GRID]
        return _View(MapLevel.DISTRICT, None, towns or list(cells), grids, frozenset())
    by_code = {c.code: c for c in cells}
    centre = by_code.get(root)
    if centre is None:
        raise UnknownCellError(root)
    subtree = below(centre.code)
    scope = frozenset({centre.code, *(c.code for c in subtree)})
    direct = children.get(centre.code, [])
    if centre.level is Level.TOWNSHIP:
        mesh = [c for c in subtree if c.level is Level.GRID]
        return _View(MapLevel.TOWNSHIP, centre, direct, mesh, scope)
    if centre.level is Level.VILLAGE:
        return _View(MapLevel.VILLAGE, centre, direct, [], scope)
    return _View(MapLevel.GRID, centre, [centre], [], scope)


def render_map(
    cells: Sequence[GridCell],
    cameras: Iterable[MapCamera],
    *,
    root: str | None = None,
    texts: Texts | None = None,
    title: str | None = None,
    dots_max: int = DOTS_MAX,
    link_cell: Callable[[GridCell], str] = cell_href,
    link_camera: Callable[[str], str] = camera_href,
    id_prefix: str = "gbm",
) -> MapSvg:
    """The map of ``root`` (a township, village or grid code; ``None``: the district).

    ``cameras`` are the cameras the viewer may see (the caller filters by scope); the map
    shows those linked to a cell of the view (at district level: all of them).  Raises
    :class:`UnknownCellError` when ``root`` is not a cell of ``cells``.
    """
    texts = texts or Texts()
    view = _view(cells, root)
    level = view.level.value
    extent_cells = [view.root] if view.root is not None else view.clickable
    if not extent_cells:
        return MapSvg(_empty_svg(title or texts("map.title")), view.level, 0, False, ())
    extent = shapely.union_all([shape(c.geometry) for c in extent_cells])
    frame = _Frame.fit(extent.bounds)

    # Cameras of the view, placed.
    placed: list[tuple[MapCamera, float, float]] = []
    off_map: list[str] = []
    for cam in cameras:
        if view.root is not None and not view.scope.intersection(cam.grids):
            continue
        if cam.lon_wgs84 is None or cam.lat_wgs84 is None:
            off_map.append(cam.id)
            continue
        x, y = frame.xy(cam.lon_wgs84, cam.lat_wgs84)
        if not frame.inside(x, y):
            off_map.append(cam.id)
            continue
        placed.append((cam, x, y))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_num(frame.width)} '
        f'{_num(frame.height)}" class="map-svg map-{level}" role="group" '
        f'aria-labelledby="{id_prefix}-title">',
        f'<title id="{id_prefix}-title">{_x(title or texts("map.title"))}</title>',
    ]
    radius = _DOT_RADIUS[level]
    aggregated = view.level in _MAY_AGGREGATE and len(placed) > dots_max
    parts.append(_marker_defs(id_prefix, radius if not aggregated else 7.0))

    # Land first (the view's outline, filled), then the faint mesh, then the clickable
    # cells (transparent, outlined: their borders stay on top of the mesh).
    land = _path_d(_shapes_of(extent, frame, SIMPLIFY_UNITS))
    parts.append(f'<path class="land" pointer-events="none" d="{land}"/>')
    if view.mesh:
        mesh = "".join(_path_d(s.geom) for s in _shapes(view.mesh, frame, SIMPLIFY_UNITS * 2))
        parts.append(f'<path class="mesh" pointer-events="none" d="{mesh}"/>')
    clickable = _shapes(view.clickable, frame, SIMPLIFY_UNITS)
    css = "cell cell-township" if view.level is MapLevel.DISTRICT else "cell"
    parts.append('<g class="cells">')
    for shp in clickable:
        d = _path_d(shp.geom)
        if d:
            parts.append(
                f'<a href="{_x(link_cell(shp.cell))}"><title>{_x(shp.cell.name)}</title>'
                f'<path class="{css}" d="{d}"/></a>'
            )
    parts.append("</g>")
    if view.root is not None and view.level is not MapLevel.GRID:
        parts.append(f'<path class="cell-root" pointer-events="none" d="{land}"/>')
    labels = "".join(label for s in clickable if (label := _label(s, _LABEL_SIZE[level])))
    if labels and view.level is MapLevel.VILLAGE:
        parts.append(f'<g class="labels">{labels}</g>')  # under the big markers: all seen
    if aggregated:
        parts.append(_aggregates(cells, placed, frame, texts, link_cell, link_camera, id_prefix))
    else:
        parts.append(_dots(placed, radius, texts, link_camera, id_prefix))
    if labels and view.level in _MAY_AGGREGATE:
        # Over the small dots (labels let clicks through): the names orient the reader.
        parts.append(f'<g class="labels">{labels}</g>')
    parts.append("</svg>")
    return MapSvg("".join(parts), view.level, len(placed), aggregated, tuple(off_map))


def _camera_title(cam: MapCamera, texts: Texts) -> str:
    state = _state(cam.state)
    word = texts.state(state)
    faults = texts.faults(cam.faults) if cam.faults else ""
    if texts.lang == "zh":
        return f"{cam.name}：{word}" + (f"（{faults}）" if faults else "")
    return f"{cam.name}: {word}" + (f" ({faults})" if faults else "")


def _dots(
    placed: list[tuple[MapCamera, float, float]],
    radius: float,
    texts: Texts,
    link: Callable[[str], str],
    prefix: str,
) -> str:
    ordered = sorted(placed, key=lambda p: (_DRAW_ORDER[_state(p[0].state)], p[0].id))
    spots = _spread([(x, y) for _, x, y in ordered], radius)
    out = ['<g class="cameras">']
    for (cam, _, _), (x, y) in zip(ordered, spots, strict=True):
        state = _state(cam.state)
        out.append(
            f'<a href="{_x(link(cam.id))}"><title>{_x(_camera_title(cam, texts))}</title>'
            f'<use class="mk m-{state}" href="#{prefix}-{state}" x="{_num(x)}" y="{_num(y)}"/></a>'
        )
    out.append("</g>")
    return "".join(out)


def _aggregates(
    cells: Sequence[GridCell],
    placed: list[tuple[MapCamera, float, float]],
    frame: _Frame,
    texts: Texts,
    link_cell: Callable[[GridCell], str],
    link_camera: Callable[[str], str],
    prefix: str,
) -> str:
    """One marker per grid cell: the shape and colour of its worst state, the number of its
    cameras offline or degraded beside it, every count in its title."""
    grids = {c.code: c for c in cells if c.level is Level.GRID}
    counts: dict[str, dict[str, int]] = {}
    loose: list[tuple[MapCamera, float, float]] = []  # linked to no grid cell: as dots
    for cam, x, y in placed:
        linked = [g for g in dict.fromkeys(cam.grids) if g in grids]
        if not linked:
            loose.append((cam, x, y))
        for code in linked:
            row = counts.setdefault(code, dict.fromkeys(_DRAW_ORDER, 0))
            row[_state(cam.state)] += 1
    out = ['<g class="cameras">']
    for shp in _shapes((grids[code] for code in sorted(counts)), frame, SIMPLIFY_UNITS):
        row = counts[shp.cell.code]
        worst = next(s for s in _WORST if row[s])
        point = shapely.point_on_surface(shp.geom)
        title = texts("map.grid_summary", name=shp.cell.name, total=sum(row.values()), **row)
        attention = row["offline"] + row["degraded"]
        number = (
            f'<text class="agg-n" x="{_num(point.x + 9)}" y="{_num(point.y)}" '
            f'font-size="14">{attention}</text>'
            if attention
            else ""
        )
        out.append(
            f'<a href="{_x(link_cell(shp.cell))}"><title>{_x(title)}</title>'
            f'<use class="mk m-{worst}" href="#{prefix}-{worst}" x="{_num(point.x)}" '
            f'y="{_num(point.y)}"/>{number}</a>'
        )
    out.append("</g>")
    if loose:
        out.append(_dots(loose, 7.0, texts, link_camera, prefix))
    return "".join(out)


def _empty_svg(title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_num(WIDTH)} 200" '
        f'class="map-svg" role="img"><title>{_x(title)}</title></svg>'
    )
