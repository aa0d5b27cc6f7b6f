"""The grid map: validating grid-file features and finding the cell a point lies in.

Pure core (DESIGN §2): shapely and numpy, no I/O, asyncio or SQL.  The grid file is read by
:mod:`adapters.geojson`; :func:`validate_cells` judges its raw features and :class:`GridIndex`
answers "which grid cell is this WGS-84 point in?" for single cameras and bulk imports alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from bridge.model import GridCell, Level

__all__ = ["GridIndex", "GridProblem", "validate_cells"]


@dataclass(frozen=True, slots=True)
class GridProblem:
    """Why one feature of a grid file was rejected.

    ``index`` is the 0-based position of the feature in the file's ``features`` array;
    ``code`` is its code when it had a usable one; ``message`` is plain English for the
    person who made the file and names the feature, e.g.
    ``feature 12 (419901001002003): polygon is self-intersecting at (114.1, 32.1)``.
    """

    index: int
    code: str | None
    message: str


@dataclass(slots=True)
class _Candidate:
    index: int
    code: str | None
    name: str
    level: Level | None
    parent: str | None
    geometry: dict[str, Any]
    issues: list[str]


def validate_cells(features: list[dict[str, Any]]) -> tuple[list[GridCell], list[GridProblem]]:
    """Check the raw features of a grid file; return the good cells and one problem per bad one.

    A feature is good when it has the properties ``code``, ``name``, ``level`` (``township``,
    ``village`` or ``grid``, any case) and ``parent``; its code is not used by an earlier
    feature; its geometry is a valid ``Polygon`` or ``MultiPolygon`` whose rings are closed
    and have at least 4 points, in WGS-84 degrees; and, for a village or grid, its parent is
    a good feature of the file one level up.  A township's parent may be any code (usually the
    district's, which is not in the file) or null.

    Codes are strings with surrounding whitespace stripped; a code written as a JSON integer
    becomes its decimal string.  Nothing else is assumed about codes (DESIGN §7).

    The good cells form a closed tree: every village or grid cell's parent is among them, so
    a child of a rejected cell is rejected too (its message says so).  Cells keep the file's
    order; problems are ordered by feature index.
    """
    candidates = [_parse(index, raw) for index, raw in enumerate(features)]

    first_with_code: dict[str, _Candidate] = {}
    for cand in candidates:
        first = first_with_code.setdefault(cand.code, cand) if cand.code else cand
        if first is not cand:
            cand.issues.append(f"duplicate code, already used by feature {first.index}")

    for cand in candidates:
        if cand.level is not None and cand.level is not Level.TOWNSHIP:
            issue = _parent_issue(cand, first_with_code)
            if issue is not None:
                cand.issues.append(issue)

    # Reject children of rejected cells, top level first so that rejection cascades down.
    accepted: set[str] = set()
    for cand in sorted(candidates, key=lambda c: c.level.depth if c.level is not None else 9):
        if cand.issues or cand.code is None or cand.level is None:
            continue
        if cand.level is not Level.TOWNSHIP and cand.parent not in accepted:
            parent = first_with_code[str(cand.parent)]
            cand.issues.append(f"its parent {parent.code} (feature {parent.index}) was rejected")
            continue
        accepted.add(cand.code)

    cells: list[GridCell] = []
    problems: list[GridProblem] = []
    for cand in candidates:
        if cand.issues:
            label = f"feature {cand.index}" + (f" ({cand.code})" if cand.code else "")
            problems.append(
                GridProblem(cand.index, cand.code, f"{label}: {'; '.join(cand.issues)}")
            )
        else:
            assert cand.code is not None  # no issues implies a code and a level
            assert cand.level is not None
            cells.append(GridCell(cand.code, cand.name, cand.level, cand.parent, cand.geometry))
    return cells, problems


def _parse(index: int, raw: object) -> _Candidate:
    """Check one feature on its own (everything except parent links and duplicates)."""
    if not isinstance(raw, dict):
        return _Candidate(index, None, "", None, None, {}, ["not a JSON object"])
    geometry = raw.get("geometry")
    out = _Candidate(
        index, None, "", None, None, geometry if isinstance(geometry, dict) else {}, []
    )
    if raw.get("type") != "Feature":
        out.issues.append(f"type is {_show(raw.get('type'))}, expected 'Feature'")
    properties = raw.get("properties")
    if not isinstance(properties, dict):
        out.issues.append("has no properties object")
    _read_properties(properties if isinstance(properties, dict) else {}, out)
    out.issues.extend(_check_geometry(geometry))
    return out


def _parent_issue(cand: _Candidate, by_code: dict[str, _Candidate]) -> str | None:
    """Why a village's or grid cell's parent link is wrong, or ``None`` when it is right."""
    assert cand.level is not None
    wanted = Level.TOWNSHIP if cand.level is Level.VILLAGE else Level.VILLAGE
    if cand.parent is None:
        if any(i.startswith("missing properties") and "parent" in i for i in cand.issues):
            return None  # already said
        return f"a {cand.level.value} needs a parent (the code of its {wanted.value})"
    if cand.parent == cand.code:
        return "is its own parent"
    parent = by_code.get(cand.parent)
    if parent is None:
        return f"unknown parent {cand.parent}: no feature of the file has that code"
    if parent.level is not None and parent.level is not wanted:
        return (
            f"level out of order: a {cand.level.value}'s parent must be a {wanted.value}, "
            f"but {parent.code} (feature {parent.index}) is a {parent.level.value}"
        )
    return None


# --- checks of one feature --------------------------------------------------------------

_REQUIRED = ("code", "name", "level", "parent")
# Degrees never exceed 360 in magnitude; projected metres (UTM, Gauss-Krüger, Web Mercator)
# are in the hundreds of thousands or millions.
_PROJECTED_ABOVE = 1000.0
_VALIDITY_WORDS = {
    "Self-intersection": "polygon is self-intersecting",
    "Ring Self-intersection": "a ring touches itself",
    "Too few points in geometry component": "a ring has too few distinct points",
    "Hole lies outside shell": "a hole lies outside its polygon",
}  # other GEOS reasons are quoted in GEOS words
_LEVELS = {level.value: level for level in Level}


def _as_code(value: object) -> str | None:
    """A code as a stripped string (``None`` when blank); JSON integers become decimal."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        return str(int(value))
    raise TypeError


def _read_properties(properties: dict[str, Any], out: _Candidate) -> None:
    """Set ``out``'s code, name, level and parent; add what is missing or malformed."""
    given = {key: value for key, value in properties.items() if value is not None}
    missing = [k for k in _REQUIRED if k not in given and not (k == "parent" and k in properties)]
    if missing:
        out.issues.append("missing properties: " + ", ".join(missing))
    for key in ("code", "parent"):
        try:
            setattr(out, key, _as_code(given[key]) if key in given else None)
        except TypeError:
            out.issues.append(f"{key} must be a string, got {_show(given[key])}")
    if "code" in given and out.code is None and isinstance(given["code"], str):
        out.issues.append("code is empty")
    if "name" in given:
        name = given["name"]
        if isinstance(name, str | int | float) and not isinstance(name, bool) and str(name).strip():
            out.name = str(name).strip()
        else:
            out.issues.append(f"name must be a non-empty string, got {_show(name)}")
    if "level" in given:
        level = given["level"]
        out.level = _LEVELS.get(level.strip().lower()) if isinstance(level, str) else None
        if out.level is None:
            out.issues.append(f"level must be township, village or grid, got {_show(level)}")


def _show(value: object) -> str:
    """``repr`` cut to a readable length: the file is untrusted and may hold anything."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _point(x: float, y: float) -> str:
    return "(" + ", ".join(f"{v:.7f}".rstrip("0").rstrip(".") for v in (x, y)) + ")"


def _rings(geometry: dict[str, Any]) -> tuple[list[tuple[str, Any]], str | None]:
    """Label and raw coordinates of every ring, or why the structure is wrong."""
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind not in ("Polygon", "MultiPolygon"):
        return [], f"geometry type is {_show(kind)}, expected Polygon or MultiPolygon"
    if not isinstance(coords, list) or not coords:
        return [], f"{kind} has no coordinates"
    polygons = (
        [("", coords)]
        if kind == "Polygon"
        else list((f"polygon {i} ", poly) for i, poly in enumerate(coords))
    )
    rings: list[tuple[str, Any]] = []
    for label, poly in polygons:
        if not isinstance(poly, list) or not poly:
            return [], f"{label or 'polygon '}has no rings"
        rings.extend((f"{label}ring {j}", ring) for j, ring in enumerate(poly))
    return rings, None


def _check_geometry(geometry: object) -> list[str]:
    """Why a feature's geometry is not a valid WGS-84 (Multi)Polygon; empty when it is."""
    if not isinstance(geometry, dict):
        return ["has no geometry" if geometry is None else "geometry is not a JSON object"]
    rings, structure_issue = _rings(geometry)
    if structure_issue is not None:
        return [structure_issue]
    points: list[tuple[float, float]] = []
    for label, ring in rings:
        if not isinstance(ring, list):
            return [f"{label} is not a list of positions"]
        for position in ring:
            if not (
                isinstance(position, list)
                and len(position) in (2, 3)
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in position)
                and all(math.isfinite(v) for v in position)
            ):
                return [f"{label} has a malformed position {_show(position)}"]
        if len(ring) < 4:
            return [f"{label} has {len(ring)} points, a closed ring needs at least 4"]
        if ring[0][:2] != ring[-1][:2]:
            return [
                f"{label} is not closed: it starts at {_point(*ring[0][:2])} "
                f"and ends at {_point(*ring[-1][:2])}"
            ]
        points.extend((p[0], p[1]) for p in ring)
    for x, y in points:
        if abs(x) > _PROJECTED_ABOVE or abs(y) > _PROJECTED_ABOVE:
            return [f"coordinates look projected (metres), expected WGS-84 degrees: {_point(x, y)}"]
    for x, y in points:
        if abs(x) <= 90 < abs(y) <= 180:
            return [
                f"latitude out of range at {_point(x, y)}: are longitude and latitude "
                "swapped? GeoJSON puts longitude first"
            ]
        if abs(x) > 180 or abs(y) > 90:
            return [f"coordinate {_point(x, y)} is out of range for WGS-84 longitude/latitude"]
    reason = shapely.is_valid_reason(shape(geometry))
    if reason == "Valid Geometry":
        return []
    words, _, where = reason.partition("[")
    text = _VALIDITY_WORDS.get(words, f"polygon is not valid ({words})")
    try:
        x, y = (float(v) for v in where.rstrip("]").split()[:2])
    except ValueError:
        return [text]
    return [f"{text} at {_point(x, y)}"]


class GridIndex:
    """Point lookup and hierarchy queries over a set of grid cells (WGS-84 degrees).

    Points are located in the *leaf* cells: those no cell names as parent one level down —
    the grid cells of a full map, the villages of a map without grid cells.  A point on a
    border shared by several leaves (boundaries count as inside) belongs to the one with the
    smallest code in string order, whatever order the cells were given in.  A point inside a
    non-leaf cell but in none of its children is in no cell.

    Built once from validated cells (see :func:`validate_cells`); immutable afterwards.
    Raises ``ValueError`` when two cells share a code.
    """

    def __init__(self, cells: Sequence[GridCell]) -> None:
        by_code: dict[str, GridCell] = {}
        for cell in cells:
            if cell.code in by_code:
                raise ValueError(f"duplicate grid code {cell.code}")
            by_code[cell.code] = cell
        children: dict[str, list[str]] = {}
        for cell in by_code.values():
            parent = by_code.get(cell.parent) if cell.parent is not None else None
            # Only a link one level up counts, so odd township parents cannot make cycles.
            if parent is not None and parent.level.depth == cell.level.depth - 1:
                children.setdefault(parent.code, []).append(cell.code)
        # Leaves sorted by code: the smallest tree index among matches is the smallest code.
        leaf_codes = sorted(code for code in by_code if code not in children)
        geometries = np.array([shape(by_code[code].geometry) for code in leaf_codes], dtype=object)
        shapely.prepare(geometries)

        self._cells = by_code
        self._children = children
        self._codes = frozenset(by_code)
        self._leaf_codes = tuple(leaf_codes)
        self._geometries = geometries
        self._tree = shapely.STRtree(geometries)

    def __len__(self) -> int:
        """Number of cells of every level."""
        return len(self._cells)

    def __contains__(self, code: object) -> bool:
        """True when a cell of any level has this code."""
        return code in self._cells

    @property
    def codes(self) -> frozenset[str]:
        """Codes of all cells, every level."""
        return self._codes

    @property
    def leaf_codes(self) -> tuple[str, ...]:
        """Codes of the cells points are located in, sorted."""
        return self._leaf_codes

    def cell(self, code: str) -> GridCell | None:
        """The cell with this code, or ``None``."""
        return self._cells.get(code)

    def locate(self, lon: float, lat: float) -> str | None:
        """Code of the leaf cell covering the WGS-84 point, or ``None`` when none does.

        Boundaries are inside; ties go to the smallest code.  Non-finite input gives ``None``.
        """
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return None
        point = shapely.Point(lon, lat)
        for tree_index in np.sort(self._tree.query(point)).tolist():
            if shapely.covers(self._geometries[tree_index], point):
                return self._leaf_codes[int(tree_index)]
        return None

    def locate_many(self, points: Iterable[tuple[float, float]]) -> list[str | None]:
        """:meth:`locate` for many ``(lon, lat)`` points at once, in one vectorised pass.

        Returns one code or ``None`` per point, in input order, exactly as :meth:`locate`
        would answer each point.
        """
        coords = np.array(list(points), dtype=float).reshape(-1, 2)
        result: list[str | None] = [None] * len(coords)
        if not len(coords) or not len(self._leaf_codes):
            return result
        geoms = shapely.points(coords)
        geoms[~np.isfinite(coords).all(axis=1)] = None
        # Bounding-box candidates, then an exact test against the prepared polygons.
        point_idx, tree_idx = self._tree.query(geoms)
        hit = shapely.covers(self._geometries[tree_idx], geoms[point_idx])
        point_idx, tree_idx = point_idx[hit], tree_idx[hit]
        order = np.lexsort((tree_idx, point_idx))
        point_idx, tree_idx = point_idx[order], tree_idx[order]
        firsts, where = np.unique(point_idx, return_index=True)
        for point_i, tree_i in zip(firsts.tolist(), tree_idx[where].tolist(), strict=True):
            result[point_i] = self._leaf_codes[tree_i]
        return result

    def descendants(self, code: str) -> set[str]:
        """``code`` and the codes of every cell below it; empty when ``code`` is unknown."""
        if code not in self._cells:
            return set()
        found = {code}
        stack = [code]
        while stack:
            for child in self._children.get(stack.pop(), ()):
                found.add(child)
                stack.append(child)
        return found

    def ancestors(self, code: str) -> list[str]:
        """Path of codes from the topmost cell in the map down to ``code`` itself.

        For a grid cell of a full map: ``[township, village, grid]``.  Codes not in the map
        (such as the district above the townships) are left out; unknown ``code`` gives ``[]``.
        """
        cell = self._cells.get(code)
        path: list[str] = []
        while cell is not None:
            path.append(cell.code)
            parent = self._cells.get(cell.parent) if cell.parent is not None else None
            if parent is None or parent.level.depth != cell.level.depth - 1:
                break
            cell = parent
        path.reverse()
        return path
