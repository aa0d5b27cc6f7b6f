"""Picture-check records per camera: saved after each look, read back at start-up.

Functions run in the caller's transaction.  Pictures are on disk (`bridge.snapshots`); this
holds what was concluded from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.store.engine import UnknownCameraError
from bridge.store.tables import camera_frames_t, cameras_t


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """The last picture check of a camera.  ``faults`` are the confirmed picture faults,
    ``pending`` those seen once and awaiting a second look; ``error`` says why no picture
    could be had ("" when one was)."""

    checked_at: datetime
    source: str | None = None
    faults: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None
    thumbnail_sha256: str | None = None
    snapshot_at: datetime | None = None
    error: str = ""


def _values(record: FrameRecord) -> dict[str, Any]:
    return {
        "checked_at": record.checked_at,
        "source": record.source,
        "faults": list(record.faults),
        "pending": list(record.pending),
        "metrics": dict(record.metrics),
        "baseline": record.baseline,
        "thumbnail_sha256": record.thumbnail_sha256,
        "snapshot_at": record.snapshot_at,
        "error": record.error[:500],
    }


async def save_frame(conn: AsyncConnection, camera_id: str, record: FrameRecord) -> None:
    """Store ``record`` as the camera's last picture check; raises `UnknownCameraError`
    when the camera is not in the store (removed meanwhile)."""
    t = camera_frames_t
    values = _values(record)
    done = await conn.execute(update(t).where(t.c.camera_id == camera_id).values(**values))
    if int(getattr(done, "rowcount", 0) or 0) > 0:
        return
    if await conn.scalar(select(cameras_t.c.id).where(cameras_t.c.id == camera_id)) is None:
        raise UnknownCameraError(f"no camera with id {camera_id} in the store")
    await conn.execute(insert(t).values(camera_id=camera_id, **values))


def _record(row: Any) -> FrameRecord:
    return FrameRecord(
        checked_at=row.checked_at,
        source=row.source,
        faults=tuple(str(f) for f in row.faults or ()),
        pending=tuple(str(f) for f in row.pending or ()),
        metrics=dict(row.metrics or {}),
        baseline=dict(row.baseline) if isinstance(row.baseline, dict) else None,
        thumbnail_sha256=row.thumbnail_sha256,
        snapshot_at=row.snapshot_at,
        error=row.error or "",
    )


async def frame_records(conn: AsyncConnection) -> dict[str, FrameRecord]:
    """Every camera's last picture check."""
    t = camera_frames_t
    rows = await conn.execute(select(t))
    return {row.camera_id: _record(row) for row in rows}


async def get_frame(conn: AsyncConnection, camera_id: str) -> FrameRecord | None:
    t = camera_frames_t
    row = (await conn.execute(select(t).where(t.c.camera_id == camera_id))).first()
    return _record(row) if row is not None else None


async def forget_baseline(conn: AsyncConnection, camera_id: str) -> bool:
    """Drop what was learnt of the camera's pictures (its baseline); True if it had one."""
    t = camera_frames_t
    had = await conn.scalar(select(t.c.baseline).where(t.c.camera_id == camera_id))
    if had is None:  # no row, SQL NULL or JSON null
        return False
    await conn.execute(update(t).where(t.c.camera_id == camera_id).values(baseline=None))
    return True
