"""The daemon's runs in the store (`bridge.runs`): started, alive, ended; read for a
report.  Functions run in the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.runs import ALIVE_GRACE_S, MonitorRun
from bridge.store.tables import monitor_runs_t


async def start(conn: AsyncConnection, at: datetime) -> int:
    """Record a run starting at ``at``; returns its id."""
    result = await conn.execute(
        insert(monitor_runs_t).values(started_at=at, alive_at=at).returning(monitor_runs_t.c.id)
    )
    return int(result.scalar_one())


async def alive(conn: AsyncConnection, run_id: int, at: datetime) -> None:
    t = monitor_runs_t
    await conn.execute(update(t).where(t.c.id == run_id).values(alive_at=at))


async def end(conn: AsyncConnection, run_id: int, at: datetime) -> None:
    t = monitor_runs_t
    await conn.execute(update(t).where(t.c.id == run_id).values(alive_at=at, ended_at=at))


async def overlapping(
    conn: AsyncConnection, start: datetime, end: datetime
) -> tuple[list[MonitorRun], datetime | None]:
    """The runs that may overlap [``start``, ``end``) in order of their start, and the
    start of the first run ever recorded (``None``: none)."""
    t = monitor_runs_t
    since = start - timedelta(seconds=ALIVE_GRACE_S)
    rows = await conn.execute(
        select(t.c.started_at, t.c.alive_at, t.c.ended_at)
        .where(
            t.c.started_at < end,
            or_(t.c.ended_at >= start, and_(t.c.ended_at.is_(None), t.c.alive_at >= since)),
        )
        .order_by(t.c.started_at, t.c.id)
    )
    runs = [MonitorRun(started, alive_at, ended) for started, alive_at, ended in rows]
    first = (await conn.execute(select(func.min(t.c.started_at)))).scalar_one_or_none()
    return runs, first
