"""The bus outbox: messages written with the change that caused them, published from here.

A status change and its message are committed together (call `enqueue` with the
transaction's connection), so a change made while the broker is away — or just before a
crash — is published when the publisher next drains the outbox (DESIGN §4).

Every function takes a connection and runs inside the caller's transaction; bulk work is one
executemany, never one round-trip per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.bus.message import Message
from bridge.store.tables import outbox_t

__all__ = [
    "RUNS_PER_STATEMENT",
    "backlog",
    "enqueue",
    "id_runs",
    "mark_sent",
    "pending",
    "prune_sent",
]

# Ranges OR-ed into one UPDATE: few enough for any backend's parameter limit (2 per range).
RUNS_PER_STATEMENT = 200


async def enqueue(conn: AsyncConnection, messages: Sequence[Message], at: datetime) -> int:
    """Append ``messages`` to the outbox in their order (ids increase), created at ``at``
    (timezone-aware).  Returns how many were written."""
    if not messages:
        return 0
    await conn.execute(
        insert(outbox_t),
        [
            {
                "topic": m.topic,
                "payload": m.payload,
                "qos": m.qos,
                "retain": m.retain,
                "created_at": at,
                "sent_at": None,
            }
            for m in messages
        ],
    )
    return len(messages)


async def pending(
    conn: AsyncConnection, limit: int, after: int | None = None
) -> list[tuple[int, Message]]:
    """Up to ``limit`` messages not sent yet, oldest (lowest id) first, with their ids;
    with ``after``, only rows of a higher id (to read on while earlier rows are in flight)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    t = outbox_t
    stmt = select(t.c.id, t.c.topic, t.c.payload, t.c.qos, t.c.retain).where(t.c.sent_at.is_(None))
    if after is not None:
        stmt = stmt.where(t.c.id > after)
    rows = await conn.execute(stmt.order_by(t.c.id).limit(limit))
    return [
        (row_id, Message(topic, bytes(payload), qos, bool(retain)))
        for row_id, topic, payload, qos, retain in rows
    ]


async def backlog(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """How many messages are not sent yet, and when the oldest of them was queued."""
    t = outbox_t
    row = (
        await conn.execute(
            select(func.count(), func.min(t.c.created_at)).where(t.c.sent_at.is_(None))
        )
    ).one()
    count, oldest = row
    return int(count), oldest


def id_runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """``ids`` as sorted runs of consecutive integers, ``(first, last)`` inclusive.

    ``[5, 1, 2, 3, 7, 8]`` → ``[(1, 3), (5, 5), (7, 8)]``.  Only ids given are covered: a
    gap (an id another transaction holds, not read by the caller) always splits a run.
    """
    runs: list[tuple[int, int]] = []
    for i in sorted(set(ids)):
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


async def mark_sent(conn: AsyncConnection, ids: Sequence[int], at: datetime) -> int:
    """Mark the rows ``ids`` sent at ``at``; rows already sent keep their time.  Returns how
    many rows changed.  Runs of consecutive ids become ``BETWEEN`` ranges, up to
    `RUNS_PER_STATEMENT` per statement: a batch of 20,000 ids is usually one statement."""
    runs = id_runs(ids)
    t = outbox_t
    changed = 0
    for start in range(0, len(runs), RUNS_PER_STATEMENT):
        chunk = runs[start : start + RUNS_PER_STATEMENT]
        result = await conn.execute(
            update(t)
            .where(t.c.sent_at.is_(None), or_(*(t.c.id.between(lo, hi) for lo, hi in chunk)))
            .values(sent_at=at)
        )
        changed += max(result.rowcount, 0)
    return changed


async def prune_sent(conn: AsyncConnection, older_than: datetime) -> int:
    """Delete the rows sent before ``older_than``; unsent rows are never deleted.  Returns
    how many were deleted."""
    t = outbox_t
    result = await conn.execute(
        delete(t).where(and_(t.c.sent_at.is_not(None), t.c.sent_at < older_than))
    )
    return max(result.rowcount, 0)
