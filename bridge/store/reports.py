"""What the 在线率/完好率 report reads: the grid cells, the cameras with their links and when
they entered the inventory, each camera's last logged state before a period and its
transitions within it (`bridge.reports.online_rate`).

Built for a district of 20,000 cameras and a month of transitions (millions of rows): the
state at the period's start is one index seek per camera (``ix_transitions_camera_id_at``),
and the transitions within are streamed in camera order and handed over one camera at a
time, so memory holds one camera's month, not the district's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, Text, cast, select, true, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.model import CameraState
from bridge.reports.areas import Area
from bridge.reports.online_rate import CameraHistory, StateChange
from bridge.store.tables import camera_links_t, cameras_t, grid_cells_t, transitions_t

PARTITION_ROWS = 5_000
"""Rows fetched at a time while streaming transitions (the event loop runs between)."""
FILTER_MAX_CAMERAS = 2_000
"""A report of at most this many cameras (an operator's scope) asks the database for theirs
only; a larger one reads every camera's rows and skips the others."""


@dataclass(frozen=True, slots=True)
class HistoryReader:
    """Who takes the cameras' histories: ``consume`` each, of ``cameras`` only (``None``:
    of every camera)."""

    consume: Callable[[CameraHistory], None]
    cameras: Collection[str] | None = None


@dataclass(frozen=True, slots=True)
class ReportInventory:
    """The grid map's cells (in file order) and every camera of the inventory: camera id →
    the cell codes it is linked to, and → when it entered the inventory; and when, within
    the period, the daemon was watching (`bridge.runs.watched_spans`; ``None``: no run
    ever recorded, all of it counts)."""

    cells: list[Area]
    links: dict[str, list[str]]
    added_at: dict[str, datetime]
    watched: list[tuple[datetime, datetime]] | None = None


async def inventory(conn: AsyncConnection) -> ReportInventory:
    g = grid_cells_t
    cells = [
        Area(code, name, level, parent)
        for code, name, level, parent in await conn.execute(
            select(g.c.code, g.c.name, g.c.level, g.c.parent).order_by(g.c.position)
        )
    ]
    added_at = {
        camera_id: created
        for camera_id, created in await conn.execute(select(cameras_t.c.id, cameras_t.c.created_at))
    }
    links: dict[str, list[str]] = {camera_id: [] for camera_id in added_at}
    lk = camera_links_t
    for camera_id, code in await conn.execute(
        select(lk.c.camera_id, lk.c.grid_code).order_by(lk.c.camera_id, lk.c.grid_code)
    ):
        if camera_id in links:
            links[camera_id].append(code)
    return ReportInventory(cells, links, added_at)


class _Changes:
    """Turns rows into `StateChange`s.  A month of a district is millions of rows that
    repeat a handful of fault lists: their JSON text is decoded once per distinct value and
    the tuples shared; on SQLite the time text is parsed by ``fromisoformat`` (several times
    faster than through the column types)."""

    def __init__(self) -> None:
        self._states = {state.value: state for state in CameraState}
        self._faults: dict[Any, tuple[str, ...]] = {}

    def __call__(self, at: Any, state: str, faults: Any) -> StateChange:
        if isinstance(at, str):  # SQLite: naive UTC, as `UTCDateTime` stores it
            at = datetime.fromisoformat(at + "+00:00")  # 8x faster than .replace(tzinfo=)
        elif at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        if isinstance(faults, list):  # a driver that decodes JSON itself
            faults = tuple(faults)
        shared = self._faults.get(faults)
        if shared is None:
            decoded = json.loads(faults) if isinstance(faults, str) else faults
            shared = self._faults[faults] = tuple(str(f) for f in decoded or ())
        return StateChange(at, self._states.get(state, CameraState.UNKNOWN), shared)


def _text(column: Any) -> Any:
    """``column`` read as the stored text (SQLite), without its type's result processing."""
    return type_coerce(column, Text)


def _json_text(column: Any) -> Any:
    """A JSON column as its text, decoded by `_Changes` once per distinct value (cast in
    SQL: asyncpg would decode every row's JSON itself)."""
    return cast(column, Text)


async def initial_states(
    conn: AsyncConnection, start: datetime, cameras: Collection[str] | None = None
) -> dict[str, StateChange]:
    """camera id → its last logged state before ``start``, for every camera of the inventory
    (or of ``cameras``) that has one (one index seek per camera; ties in time go to the
    later row)."""
    change = _Changes()
    return {
        camera_id: change(at, state, faults)
        for camera_id, at, state, faults in await conn.execute(
            _only(_initial(conn, start), cameras)
        )
    }


def _only(stmt: Select[Any], cameras: Collection[str] | None) -> Select[Any]:
    """``stmt`` (over ``cameras_t``) for ``cameras`` only, when they are few enough to name."""
    if cameras is None or len(cameras) > FILTER_MAX_CAMERAS:
        return stmt
    return stmt.where(cameras_t.c.id.in_(sorted(cameras)))


def _initial(conn: AsyncConnection, start: datetime) -> Select[Any]:
    t, c = transitions_t, cameras_t
    if conn.dialect.name == "postgresql":
        # A LATERAL join: one backward index scan per camera.  (A join on a correlated
        # subquery makes PostgreSQL hash the whole transitions table.)
        last = (
            select(t.c.at, t.c.to_state, t.c.faults)
            .where(t.c.camera_id == c.c.id, t.c.at < start)
            .order_by(t.c.at.desc(), t.c.id.desc())
            .limit(1)
            .lateral("last")
        )
        return select(c.c.id, last.c.at, last.c.to_state, _json_text(last.c.faults)).select_from(
            c.join(last, true())
        )
    # SQLite has no LATERAL; it runs the correlated subquery as one seek per camera.
    before = t.alias("before")
    last_id = (
        select(before.c.id)
        .where(before.c.camera_id == c.c.id, before.c.at < start)
        .order_by(before.c.at.desc(), before.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(t.c.camera_id, _text(t.c.at), t.c.to_state, _json_text(t.c.faults)).select_from(
        c.join(t, t.c.id == last_id)
    )


def _within(conn: AsyncConnection, start: datetime, end: datetime) -> Select[Any]:
    """The transitions in [start, end) of the inventory's cameras, by camera, in order —
    planned as a loop over the cameras with an index range scan each, so that a month is
    read without scanning the rest of a long log."""
    t, c = transitions_t, cameras_t
    if conn.dialect.name == "postgresql":
        rows = (
            select(t.c.at, t.c.to_state, t.c.faults, t.c.id)
            .where(t.c.camera_id == c.c.id, t.c.at >= start, t.c.at < end)
            .lateral("within")
        )
        return (
            select(c.c.id, rows.c.at, rows.c.to_state, _json_text(rows.c.faults))
            .select_from(c.join(rows, true()))
            .order_by(c.c.id, rows.c.at, rows.c.id)
        )
    # Ordered by the cameras' key, SQLite loops over the cameras (ordered by the transitions'
    # camera_id, it scans the whole index).
    return (
        select(c.c.id, _text(t.c.at), t.c.to_state, _json_text(t.c.faults))
        .select_from(c.join(t, t.c.camera_id == c.c.id))
        .where(t.c.at >= start, t.c.at < end)
        .order_by(c.c.id, t.c.at, t.c.id)
    )


async def histories(
    conn: AsyncConnection,
    added_at: dict[str, datetime],
    start: datetime,
    end: datetime,
    reader: HistoryReader,
) -> int:
    """Call ``reader.consume`` once per camera of ``added_at`` (and of ``reader.cameras``)
    that has a logged state before ``start`` or a transition in [``start``, ``end``), with
    its `CameraHistory`; cameras with neither are skipped (never monitored).  Returns the
    transitions read."""
    wanted = reader.cameras
    initial = await initial_states(conn, start, wanted)
    stmt = _only(_within(conn, start, end), wanted)
    change = _Changes()
    current: str | None = None
    changes: list[StateChange] = []
    read = 0

    def hand_over() -> None:
        if current is not None and (wanted is None or current in wanted):
            history = CameraHistory(current, initial.pop(current, None), changes, added_at[current])
            reader.consume(history)

    result = await conn.stream(stmt)
    async for partition in result.partitions(PARTITION_ROWS):
        for camera_id, at, state, faults in partition:
            if camera_id != current:
                hand_over()
                current, changes = camera_id, []
            changes.append(change(at, state, faults))
        read += len(partition)
    hand_over()
    for camera_id, state in initial.items():
        if wanted is None or camera_id in wanted:
            reader.consume(CameraHistory(camera_id, state, (), added_at[camera_id]))
    return read
