"""Import jobs: the camera inventory and the grid map, from file to store.

Each job reads its file (adapters, in a worker thread: openpyxl and JSON parsing block),
validates it in the pure core, links cameras to cells, and writes the store in one
transaction.  Bad input is reported row by row; nothing is lost: the good rows go in, and a
bad grid file changes nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping as MappingT
from dataclasses import dataclass, field
from pathlib import Path

from adapters.geojson import read_grid_file
from adapters.inventory_file import read_table
from bridge.coords import parse_crs
from bridge.grid import GridIndex, GridProblem, validate_cells
from bridge.inventory import is_header, resolve_columns, validate_rows
from bridge.mapping import link_cameras
from bridge.model import GridCell, Level, Mapping, RowIssue, Severity
from bridge.settings import Settings
from bridge.store import ImportCounts, Store

log = logging.getLogger(__name__)


class NoGridMapError(ValueError):
    """Cameras cannot be imported before a grid map exists."""


@dataclass(frozen=True)
class InventoryReport:
    """What an inventory import did, for people and scripts."""

    source: str
    sheet: str | None
    header_row: int
    rows: int
    imported: int
    counts: ImportCounts | None
    issues: list[RowIssue]
    missing: list[str]
    mappings: dict[str, int]
    strict_refused: bool = False

    @property
    def errors(self) -> list[RowIssue]:
        return [i for i in self.issues if i.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[RowIssue]:
        return [i for i in self.issues if i.severity is Severity.WARNING]


@dataclass(frozen=True)
class GridReport:
    """What a grid load did (or, with problems, why it changed nothing)."""

    source: str
    cells: dict[str, int] = field(default_factory=dict)
    problems: list[GridProblem] = field(default_factory=list)
    relinked: int = 0
    mappings: dict[str, int] = field(default_factory=dict)
    warnings: list[RowIssue] = field(default_factory=list)


async def import_inventory(
    store: Store,
    settings: Settings,
    path: Path,
    *,
    column_map: MappingT[str, str] | None = None,
    strict: bool = False,
    prune: bool = False,
) -> InventoryReport:
    """Import an inventory file into the store; see :class:`InventoryReport`.

    Raises the adapters' file errors (``InventoryFileError``) and ``ColumnError`` for a file
    that cannot be read as an inventory at all; row problems are reported, not raised.
    """
    cfg = settings.inventory
    cells = await store.load_grid()
    if not cells:
        raise NoGridMapError(
            "no grid map is loaded: run `gridbridge grid load FILE.geojson` first, so that "
            "cameras can be linked to their grids"
        )
    index = GridIndex(cells)
    names = {**cfg.columns, **(column_map or {})}
    table = await asyncio.to_thread(
        read_table,
        path,
        max_bytes=cfg.max_file_mb * 1024 * 1024,
        max_rows=cfg.max_rows,
        is_header=functools.partial(is_header, column_map=names),
    )
    columns = resolve_columns(table.headers, names)
    records, issues = validate_rows(
        table,
        columns,
        known_grids=index.codes,
        default_crs=parse_crs(cfg.default_crs) if cfg.default_crs else None,
        default_rtsp_port=settings.cameras.default_rtsp_port,
        default_onvif_port=settings.cameras.default_onvif_port,
    )
    linked = link_cameras(records, index)
    issues = sorted([*issues, *linked.issues], key=lambda i: (i.row, i.kind))
    seen_ids = _ids_in_file(table.rows, columns.get("id"))
    existing = await store.camera_ids()
    missing = sorted(existing - seen_ids)
    mappings = {m.value: linked.count(m) for m in Mapping}
    errors = any(i.severity is Severity.ERROR for i in issues)
    if strict and errors:
        log.warning("strict import of %s refused: %d bad rows", table.source, len(issues))
        return InventoryReport(
            table.source,
            table.sheet,
            table.header_row,
            len(table.rows),
            0,
            None,
            issues,
            missing,
            mappings,
            strict_refused=True,
        )
    counts = await store.apply_import(
        records, linked.links, linked.mappings, prune=missing if prune else ()
    )
    log.info(
        "imported %s: %d rows, %d added, %d updated, %d unchanged, %d pruned, %d rejected",
        table.source,
        len(table.rows),
        counts.added,
        counts.updated,
        counts.unchanged,
        counts.pruned,
        sum(1 for i in issues if i.severity is Severity.ERROR),
    )
    return InventoryReport(
        table.source,
        table.sheet,
        table.header_row,
        len(table.rows),
        len(records),
        counts,
        issues,
        missing,
        mappings,
    )


def _ids_in_file(rows: list[tuple[int, tuple[str, ...]]], column: int | None) -> set[str]:
    if column is None:
        return set()
    return {cells[column].strip() for _, cells in rows if column < len(cells)}


async def load_grid(store: Store, settings: Settings, path: Path) -> GridReport:
    """Validate a grid file and, only if it is wholly good, replace the map atomically.

    Every camera is re-linked against the new map in the same transaction, so links never
    point at cells that no longer exist.
    """
    features = await asyncio.to_thread(
        read_grid_file, path, max_bytes=settings.grid.max_file_mb * 1024 * 1024
    )
    cells, problems = validate_cells(features)
    if problems:
        log.warning("grid file %s refused: %d bad features", path.name, len(problems))
        return GridReport(path.name, problems=problems)
    index = GridIndex(cells)
    records = await store.cameras_for_relink()
    linked = link_cameras(records, index)
    await store.replace_grid(cells, linked.links, linked.mappings)
    report = GridReport(
        path.name,
        cells=_count_levels(cells),
        relinked=len(records),
        mappings={m.value: linked.count(m) for m in Mapping},
        warnings=linked.issues,
    )
    log.info("grid map %s loaded: %s; %d cameras re-linked", path.name, report.cells, len(records))
    return report


def _count_levels(cells: list[GridCell]) -> dict[str, int]:
    return {level.value: sum(1 for c in cells if c.level is level) for level in Level}
