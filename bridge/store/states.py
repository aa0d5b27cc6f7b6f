"""Camera state storage: the current state per camera and the append-only transition log.

The state machine that decides transitions lives in the pure core; this only records them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.model import CameraState
from bridge.store.engine import UnknownCameraError
from bridge.store.tables import camera_state_t, cameras_t, transitions_t

StateEntry = tuple[CameraState, tuple[str, ...], datetime | None]


async def record_transition(
    conn: AsyncConnection,
    camera_id: str,
    at: datetime,
    from_state: CameraState,
    to_state: CameraState,
    faults: Sequence[str],
    reason: str,
    detail: Mapping[str, Any] | None,
) -> None:
    """Append the transition and set the current state, in the caller's transaction; see
    `Store.record_transition`."""
    await conn.execute(
        insert(transitions_t).values(
            camera_id=camera_id,
            at=at,
            from_state=from_state.value,
            to_state=to_state.value,
            faults=list(faults),
            reason=reason,
        )
    )
    values: dict[str, Any] = {
        "state": to_state.value,
        "faults": list(faults),
        "since": at,
        "checked_at": at,
    }
    if detail is not None:
        values["detail"] = dict(detail)
    t = camera_state_t
    result = await conn.execute(update(t).where(t.c.camera_id == camera_id).values(**values))
    if int(getattr(result, "rowcount", 0) or 0) > 0:
        return
    if await conn.scalar(select(cameras_t.c.id).where(cameras_t.c.id == camera_id)) is None:
        raise UnknownCameraError(f"no camera with id {camera_id} in the store")
    values.setdefault("detail", {})
    await conn.execute(insert(t).values(camera_id=camera_id, **values))


async def current_states(conn: AsyncConnection) -> dict[str, StateEntry]:
    """camera id → (state, faults, since) for every camera that has a state row."""
    t = camera_state_t
    rows = await conn.execute(select(t.c.camera_id, t.c.state, t.c.faults, t.c.since))
    return {
        camera_id: (CameraState(state), tuple(faults or ()), since)
        for camera_id, state, faults, since in rows
    }
