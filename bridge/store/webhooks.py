"""The webhook outbox: work-order events rendered for each target, kept until delivered.

A work-order event and its webhook bodies are committed together (call `enqueue` with the
transaction's connection, as `Store.record_order_events` does), so an event recorded while
a receiver is down — or just before a crash — is delivered when the receiver is back.
`StoreWebhookQueue` is the `bridge.webhook_sender.WebhookQueue` the sender drains.

Order per target is the promise: rows are delivered in id order, and a row waiting for its
next attempt holds up every row of its target behind it (`due`).  Ids follow commit order:
on PostgreSQL `enqueue` serialises the writers of this table (an id taken by a transaction
that commits later could otherwise be overtaken by a higher one already delivered); SQLite
has one writer at a time anyway.

Functions taking a connection run inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.store.tables import ID_LENGTH, WEBHOOK_ERROR_LENGTH, webhook_outbox_t

if TYPE_CHECKING:
    from bridge.store import Store

__all__ = [
    "StoreWebhookQueue",
    "backlog",
    "delivered",
    "due",
    "enqueue",
    "failed",
    "prune",
    "retry",
]

# Key of the transaction-level advisory lock that orders enqueues on PostgreSQL: an
# arbitrary constant of this application ("gb" "whk" in ASCII), held until commit.
_ENQUEUE_LOCK_KEY = 0x6762_77686B

_t = webhook_outbox_t
_PENDING = and_(_t.c.delivered_at.is_(None), _t.c.failed_at.is_(None))


async def enqueue(conn: AsyncConnection, items: Sequence[tuple[str, bytes]], at: datetime) -> int:
    """Queue ``items`` — ``(target name, body)`` — in their order (ids increase), created
    at ``at`` (timezone-aware) and due at once.  Returns how many were queued.  Raises
    `ValueError` for a target name longer than the column (nothing is queued)."""
    if not items:
        return 0
    for target, _ in items:
        if not target or len(target) > ID_LENGTH:
            raise ValueError(f"webhook target name must be 1 to {ID_LENGTH} characters")
    if conn.dialect.name == "postgresql":
        # Held until this transaction ends: the next enqueuer takes its ids after our
        # commit, so id order is commit order and `due` never skips a row still in flight.
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ENQUEUE_LOCK_KEY})
    await conn.execute(
        insert(_t),
        [
            {
                "target": target,
                "body": body,
                "created_at": at,
                "next_at": at,
                "attempts": 0,
                "delivered_at": None,
                "failed_at": None,
                "error": "",
            }
            for target, body in items
        ],
    )
    return len(items)


async def due(
    conn: AsyncConnection, target: str, limit: int, now: datetime
) -> list[tuple[int, bytes]]:
    """Up to ``limit`` pending rows of ``target`` as ``(id, body)``, oldest first, that may
    be tried at ``now``: none when the oldest pending row's ``next_at`` is later, and never
    a row behind one that is not due (strict order, also after a restart)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    rows = await conn.execute(
        select(_t.c.id, _t.c.body, _t.c.next_at)
        .where(_t.c.target == target, _PENDING)
        .order_by(_t.c.id)
        .limit(limit)
    )
    out: list[tuple[int, bytes]] = []
    for row_id, body, next_at in rows:
        if next_at > now:
            break
        out.append((row_id, bytes(body)))
    return out


async def delivered(conn: AsyncConnection, item_id: int, at: datetime) -> bool:
    """Mark the row delivered at ``at``.  False (and nothing changed) when it is not
    pending: unknown, already delivered or given up."""
    result = await conn.execute(
        update(_t).where(_t.c.id == item_id, _PENDING).values(delivered_at=at, error="")
    )
    return result.rowcount > 0


async def retry(
    conn: AsyncConnection, item_id: int, next_at: datetime, attempts: int, error: str
) -> bool:
    """Record a failed attempt of a pending row: not tried again before ``next_at``, with
    the reason ``error`` (shortened).  The row counts its failed attempts itself, across
    restarts; ``attempts`` (the sender's count since it took the row up, which starts again
    with the daemon) only raises that count.  False when the row is not pending."""
    result = await conn.execute(
        update(_t)
        .where(_t.c.id == item_id, _PENDING)
        .values(
            next_at=next_at,
            attempts=func.max(_t.c.attempts + 1, attempts)
            if conn.dialect.name == "sqlite"
            else func.greatest(_t.c.attempts + 1, attempts),
            error=_short(error),
        )
    )
    return result.rowcount > 0


async def failed(conn: AsyncConnection, item_id: int, at: datetime, error: str) -> bool:
    """Give a pending row up at ``at`` (its receiver refused it for good), with the reason;
    that refusal counts as an attempt.  False when the row is not pending."""
    result = await conn.execute(
        update(_t)
        .where(_t.c.id == item_id, _PENDING)
        .values(failed_at=at, attempts=_t.c.attempts + 1, error=_short(error))
    )
    return result.rowcount > 0


async def prune(conn: AsyncConnection, older_than: datetime) -> int:
    """Delete the rows delivered or given up before ``older_than``; pending rows are never
    deleted.  Returns how many were deleted."""
    result = await conn.execute(
        delete(_t).where(or_(_t.c.delivered_at < older_than, _t.c.failed_at < older_than))
    )
    return max(result.rowcount, 0)


async def backlog(conn: AsyncConnection) -> dict[str, tuple[int, datetime]]:
    """target → (pending rows, when the oldest of them was queued), for targets with any
    pending — also targets no longer configured, whose rows wait for their return."""
    rows = await conn.execute(
        select(_t.c.target, func.count(), func.min(_t.c.created_at))
        .where(_PENDING)
        .group_by(_t.c.target)
    )
    return {target: (int(count), oldest) for target, count, oldest in rows}


def _short(error: str) -> str:
    return error if len(error) <= WEBHOOK_ERROR_LENGTH else error[: WEBHOOK_ERROR_LENGTH - 1] + "…"


class StoreWebhookQueue:
    """The `bridge.webhook_sender.WebhookQueue` kept in ``store``: each call is one
    transaction and raises `bridge.store.StoreError` when the database fails (the sender
    then tries again; nothing is lost).  Settling a row that is no longer pending is a
    no-op.  Only assigns; the store must be started before the first call."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def due(self, target: str, limit: int, now: datetime) -> list[tuple[int, bytes]]:
        return await self._store.webhooks_due(target, limit, now)

    async def delivered(self, item_id: int, at: datetime) -> None:
        await self._store.webhook_delivered(item_id, at)

    async def retry(self, item_id: int, next_at: datetime, attempts: int, error: str) -> None:
        await self._store.webhook_retry(item_id, next_at, attempts, error)

    async def failed(self, item_id: int, at: datetime, error: str) -> None:
        await self._store.webhook_failed(item_id, at, error)
