"""What the monitor needs from the store, in bulk: the cameras to check (passwords
decrypted), their last known state, and batches of transitions and check times.

A district of 20,000 cameras produces 20,000 first transitions in its first interval and
hundreds of check times a second: one transaction per camera would not keep up, so every
write here takes a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.model import CameraRecord, CameraState
from bridge.secretbox import SecretBox, SecretError
from bridge.store.cameras import all_records
from bridge.store.tables import camera_state_t, cameras_t, grid_cells_t, transitions_t


@dataclass(frozen=True, slots=True)
class StateRow:
    """A camera's stored current state."""

    state: CameraState
    faults: tuple[str, ...]
    since: datetime | None
    checked_at: datetime | None
    flapping: bool


@dataclass(frozen=True, slots=True)
class LoggedTransition:
    """One transition as the log keeps it (the camera page's timeline)."""

    at: datetime
    from_state: str
    to_state: str
    faults: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One transition to append, and the state it leaves the camera in."""

    camera_id: str
    at: datetime
    from_state: CameraState
    to_state: CameraState
    faults: tuple[str, ...]
    flapping: bool
    reason: str
    summary: dict[str, Any]


async def monitor_records(
    conn: AsyncConnection, box: SecretBox
) -> tuple[list[CameraRecord], list[str]]:
    """Every camera with its password decrypted, and the ids whose password cannot be
    (stored under another key: they are checked without one and reported once)."""
    records = await all_records(conn)
    rows = await conn.execute(select(cameras_t.c.id, cameras_t.c.password_enc))
    tokens = {camera_id: token for camera_id, token in rows if token is not None}
    undecryptable: list[str] = []
    out: list[CameraRecord] = []
    for record in records:
        token = tokens.get(record.id)
        password = None
        if token is not None:
            try:
                password = box.decrypt(token)
            except SecretError:
                undecryptable.append(record.id)
        out.append(_with_password(record, password))
    return out, undecryptable


def _with_password(record: CameraRecord, password: str | None) -> CameraRecord:
    return replace(record, password=password)


async def state_rows(conn: AsyncConnection) -> dict[str, StateRow]:
    """camera id → stored state (with the flapping flag kept in ``detail``)."""
    t = camera_state_t
    rows = await conn.execute(
        select(t.c.camera_id, t.c.state, t.c.faults, t.c.since, t.c.checked_at, t.c.detail)
    )
    return {
        camera_id: StateRow(
            CameraState(state),
            tuple(faults or ()),
            since,
            checked_at,
            bool((detail or {}).get("flapping", False)),
        )
        for camera_id, state, faults, since, checked_at, detail in rows
    }


async def record_transitions(conn: AsyncConnection, batch: Sequence[TransitionRecord]) -> int:
    """Append ``batch`` to the log and set each camera's current state; cameras no longer
    stored are skipped (their transitions are still logged).  Returns the number applied."""
    if not batch:
        return 0
    await conn.execute(
        insert(transitions_t),
        [
            {
                "camera_id": r.camera_id,
                "at": r.at,
                "from_state": r.from_state.value,
                "to_state": r.to_state.value,
                "faults": list(r.faults),
                "reason": r.reason,
            }
            for r in batch
        ],
    )
    known = {row[0] for row in await conn.execute(select(camera_state_t.c.camera_id))}
    t = camera_state_t
    moved = [r for r in batch if r.camera_id in known and r.to_state is not r.from_state]
    same = [r for r in batch if r.camera_id in known and r.to_state is r.from_state]
    if moved:
        await conn.execute(
            update(t)
            .where(t.c.camera_id == bindparam("cid"))
            .values(
                state=bindparam("st"),
                faults=bindparam("fl"),
                since=bindparam("at"),
                checked_at=bindparam("at"),
                detail=bindparam("dt"),
            ),
            [_params(r) for r in moved],
        )
    if same:
        await conn.execute(
            update(t)
            .where(t.c.camera_id == bindparam("cid"))
            .values(
                faults=bindparam("fl"),
                checked_at=bindparam("at"),
                detail=bindparam("dt"),
            ),
            [_params(r) for r in same],
        )
    return len(moved) + len(same)


async def transitions_of(
    conn: AsyncConnection, camera_id: str, limit: int
) -> list[LoggedTransition]:
    """The camera's last ``limit`` logged transitions, newest first (the index on
    ``(camera_id, at)`` serves it)."""
    t = transitions_t
    rows = await conn.execute(
        select(t.c.at, t.c.from_state, t.c.to_state, t.c.faults, t.c.reason)
        .where(t.c.camera_id == camera_id)
        .order_by(t.c.at.desc(), t.c.id.desc())
        .limit(limit)
    )
    return [
        LoggedTransition(at, from_state, to_state, tuple(faults or ()), reason)
        for at, from_state, to_state, faults, reason in rows
    ]


def _params(r: TransitionRecord) -> dict[str, Any]:
    return {
        "cid": r.camera_id,
        "st": r.to_state.value,
        "fl": list(r.faults),
        "at": r.at,
        "dt": {"flapping": r.flapping, "summary": r.summary},
    }


async def touch_checked(conn: AsyncConnection, checked: Sequence[tuple[str, datetime]]) -> None:
    """Set the time of the latest check for many cameras at once."""
    if not checked:
        return
    t = camera_state_t
    await conn.execute(
        update(t).where(t.c.camera_id == bindparam("cid")).values(checked_at=bindparam("at")),
        [{"cid": cid, "at": at} for cid, at in checked],
    )


async def inventory_mark(conn: AsyncConnection) -> tuple[int, datetime | None, int]:
    """(cameras, their latest ``updated_at``, grid cells): changes whenever an import, a grid
    map, a manual link or a changed password touched the inventory — one cheap query."""
    cameras = await conn.execute(select(func.count(), func.max(cameras_t.c.updated_at)))
    count, latest = cameras.one()
    cells = await conn.scalar(select(func.count()).select_from(grid_cells_t))
    return int(count), latest, int(cells or 0)
