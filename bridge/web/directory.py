"""The camera directory: what the web page and API show of the fleet, scoped to who asks.

Pure (no I/O, no asyncio): a read-only view over `bridge.fleet.Fleet` — which the daemon
keeps current at every transition (state, faults, flapping, since, checked_at) and which
holds every camera's inventory facts, grid paths and the per-area summaries — plus what the
fleet does not keep: the grid cells (names, levels, parents) and, per camera, how its grid
was decided (``mapping``) and its address on the network.  The daemon calls `load` at
start-up and whenever it reloads the inventory or the grid map.

Every question takes the `Principal` asking and answers within its scope
(`Principal.sees`): a camera outside it is answered exactly as a camera that does not exist.

Ordering of camera lists — broken first, so an operator sees what needs doing at the top:
``offline``, ``degraded``, ``unknown``, ``online``; within a state the longest in it first
(``since`` ascending, never-changed last), then by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from bridge.bus.summaries import Counts
from bridge.bus.topics import PLACEHOLDER, UNMAPPED, GridPath, path_of
from bridge.fleet import Fleet, FleetCamera
from bridge.grid import GridIndex
from bridge.model import CameraView, Level
from bridge.model import Mapping as CameraMapping
from bridge.web.principal import Principal

__all__ = [
    "STATE_ORDER",
    "CameraDirectory",
    "CameraEntry",
    "Cell",
    "GridTree",
    "TreeNode",
]

STATE_ORDER: tuple[str, ...] = ("offline", "degraded", "unknown", "online")
"""Broken first: the order of camera lists and of the states in pages."""

_RANK = {state: i for i, state in enumerate(STATE_ORDER)}
_NEVER = datetime.max  # naive; only compared through the key below, never with a real time


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell of the grid map as pages show it; ``path`` is its summary key (``t/_/_``
    for a township, ``t/v/_`` for a village, ``t/v/g`` for a grid)."""

    code: str
    name: str
    level: Level
    parent: str | None
    path: GridPath


@dataclass(frozen=True, slots=True)
class CameraEntry:
    """One camera for the page and API: the fleet's record at the time asked, with how its
    grid was decided and its network address (from the inventory)."""

    camera: FleetCamera
    mapping: CameraMapping
    host: str | None

    @property
    def id(self) -> str:
        return self.camera.info.id

    @property
    def state(self) -> str:
        return self.camera.facts.state

    @property
    def paths(self) -> tuple[GridPath, ...]:
        return self.camera.paths


@dataclass(frozen=True, slots=True)
class TreeNode:
    """A cell of the grid tree with the counts by state of the cameras the principal sees
    in it, and its children the principal may open."""

    cell: Cell
    counts: Counts
    children: tuple[TreeNode, ...]


@dataclass(frozen=True, slots=True)
class GridTree:
    """The grid tree as one principal sees it: townships at the top; ``total`` counts every
    camera it sees once (a camera in two grids once); ``unmapped`` the cameras outside every
    cell, for those who see them (admins), else ``None``."""

    nodes: tuple[TreeNode, ...]
    total: Counts
    unmapped: Counts | None


def _sort_key(entry: FleetCamera) -> tuple[int, bool, datetime, str]:
    facts = entry.facts
    since = facts.since
    # Aware times compare with each other; the never-changed sort last through the flag.
    return (_RANK.get(facts.state, len(_RANK)), since is None, since or _NEVER, entry.info.id)


def reaches(paths: Iterable[GridPath], code: str) -> bool:
    """Whether a camera with ``paths`` lies in the cell ``code`` (at any level)."""
    return code != PLACEHOLDER and any(code in (p.town, p.village, p.grid) for p in paths)


class CameraDirectory:
    """Cameras and grid cells for the web page and API, scoped by principal."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._cells: dict[str, Cell] = {}
        self._children: dict[str | None, list[str]] = {}
        self._extra: dict[str, tuple[CameraMapping, str | None]] = {}

    def load(self, index: GridIndex, views: Sequence[CameraView]) -> None:
        """Take the grid map and the inventory as the daemon (re)loaded them, after the
        fleet took them (`Fleet.load`)."""
        cells: dict[str, Cell] = {}
        for code in sorted(index.codes):
            grid_cell = index.cell(code)
            assert grid_cell is not None
            try:
                path = path_of(code, index.ancestors(code))
            except ValueError:  # a code no topic can carry: no camera is published there
                continue
            cells[code] = Cell(code, grid_cell.name, grid_cell.level, grid_cell.parent, path)
        children: dict[str | None, list[str]] = {}
        for cell in cells.values():
            parent = cells.get(cell.parent) if cell.parent is not None else None
            # Only a parent one level up is one (as `GridIndex.ancestors` reads the map).
            up = parent.code if parent and parent.level.depth == cell.level.depth - 1 else None
            children.setdefault(up, []).append(cell.code)
        self._cells = cells
        self._children = children
        self._extra = {v.id: (v.mapping, v.host) for v in views}

    # --- cells ------------------------------------------------------------------------------

    def cell(self, code: str) -> Cell | None:
        return self._cells.get(code)

    def path_cells(self, path: GridPath) -> list[Cell]:
        """The cells a grid path names, township first (placeholders left out)."""
        codes = (path.town, path.village, path.grid)
        return [self._cells[c] for c in codes if c != PLACEHOLDER and c in self._cells]

    def sees_cell(self, principal: Principal, code: str) -> bool:
        """Whether the cell ``code`` lies within the principal's scope."""
        cell = self._cells.get(code)
        return cell is not None and principal.sees_cell(cell.path)

    # --- cameras ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._fleet)

    def entry(self, principal: Principal, camera_id: str) -> CameraEntry | None:
        """The camera, or ``None`` when it does not exist or the principal may not see it
        (the same answer, on purpose)."""
        cam = self._fleet.camera(camera_id)
        if cam is None or not principal.sees(cam.paths):
            return None
        return self._entry(cam)

    def paths_of(self, camera_id: str) -> tuple[GridPath, ...]:
        """The camera's grid paths (``()`` for a camera the inventory does not have): what
        `Principal.sees` takes."""
        return self._fleet.paths_of(camera_id)

    def name_of(self, camera_id: str) -> str | None:
        cam = self._fleet.camera(camera_id)
        return cam.info.name if cam is not None else None

    def cameras(
        self,
        principal: Principal,
        *,
        state: str | None = None,
        grid: str | None = None,
        query: str | None = None,
    ) -> list[CameraEntry]:
        """The cameras the principal sees, broken first (see the module doc).

        ``state``: only that state; ``grid``: only cameras in that cell (any level);
        ``query``: only cameras whose id, name or address contains it (case-insensitive).
        """
        return [self._entry(cam) for cam in self._matching(principal, state, grid, query)]

    def page(
        self,
        principal: Principal,
        *,
        offset: int = 0,
        limit: int = 100,
        state: str | None = None,
        grid: str | None = None,
        query: str | None = None,
    ) -> tuple[int, list[CameraEntry]]:
        """As `cameras`, ``limit`` of them from ``offset`` on, with the number of all that
        match (what the API lists: a district's 20,000 cameras cost one sort, not 20,000
        entries)."""
        found = self._matching(principal, state, grid, query)
        return len(found), [self._entry(cam) for cam in found[offset : offset + limit]]

    def _matching(
        self, principal: Principal, state: str | None, grid: str | None, query: str | None
    ) -> list[FleetCamera]:
        needle = query.strip().casefold() if query else ""
        picked = [
            cam
            for cam in self._visible(principal)
            if (state is None or cam.facts.state == state)
            and (grid is None or reaches(cam.paths, grid))
            and (
                not needle
                or needle in cam.info.id.casefold()
                or needle in cam.info.name.casefold()
                or needle in cam.info.address.casefold()
            )
        ]
        picked.sort(key=_sort_key)
        return picked

    def camera_ids(self, principal: Principal, code: str | None = None) -> list[str]:
        """Ids of the cameras the principal sees (in the cell ``code``, any level, when
        given), sorted."""
        return sorted(
            cam.info.id
            for cam in self._visible(principal)
            if code is None or reaches(cam.paths, code)
        )

    def _visible(self, principal: Principal) -> Iterator[FleetCamera]:
        every = principal.is_admin
        for cam in self._fleet.cameras():
            if every or principal.sees(cam.paths):
                yield cam

    def _entry(self, cam: FleetCamera) -> CameraEntry:
        extra = self._extra.get(cam.info.id)
        if extra is None:  # not in the last inventory read (cannot happen after `load`)
            return CameraEntry(cam, _implied(cam.paths), None)
        return CameraEntry(cam, extra[0], extra[1])

    # --- the tree ---------------------------------------------------------------------------

    def tree(self, principal: Principal) -> GridTree:
        """The grid tree pruned to the principal's scope, with counts by state per node.

        An operator of a grid sees its township and village only as the way down to its
        grid, and their counts are those of its grid alone; cells beside its path are left
        out.  Admins see every cell, and the unmapped cameras apart.
        """
        scope_cell = self._cells.get(principal.scope) if principal.scope else None
        scope_counts = self._summary(scope_cell.path) if scope_cell is not None else Counts()

        def node(code: str) -> TreeNode | None:
            cell = self._cells[code]
            if principal.sees_cell(cell.path):
                counts = self._summary(cell.path)
            elif scope_cell is not None and code in (scope_cell.path.town, scope_cell.path.village):
                counts = scope_counts  # the way down to the scope: its counts only
            else:
                return None
            kids = (node(child) for child in self._children.get(code, ()))
            return TreeNode(cell, counts, tuple(k for k in kids if k is not None))

        nodes = (node(code) for code in self._children.get(None, ()))
        tops = tuple(n for n in nodes if n is not None)
        unmapped = None
        if principal.sees((UNMAPPED,)):  # it sees every camera (admins, crews without scope)
            total = self._fleet.state_counts()
            unmapped = self._fleet.state_counts(unmapped_only=True)
        else:  # a scope: its cell's summary counts each of its cameras once
            total = scope_counts
        return GridTree(tops, total, unmapped)

    def _summary(self, key: GridPath) -> Counts:
        return self._fleet.summary(key) or Counts()


def _implied(paths: tuple[GridPath, ...]) -> CameraMapping:
    return CameraMapping.UNMAPPED if paths == (UNMAPPED,) else CameraMapping.COORDINATES
