"""Work orders in the store: events recorded idempotently with their orders, episodes for a
restart, and reads for the command line and the web page.  Functions run in the caller's
transaction.

Idempotency (issue 6: a restart or SIGKILL never duplicates or loses an order): an event is
keyed by ``(order_id, seq)`` — ``seq`` is the order's version after it — and an order row is
only ever replaced by a higher version.  Recording the same events twice records them once.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.store.tables import (
    work_order_cameras_t,
    work_order_episodes_t,
    work_order_events_t,
    work_orders_t,
)
from bridge.workorders.codec import (
    episode_from_json,
    episode_to_json,
    order_from_json,
    order_to_json,
)
from bridge.workorders.model import Episode, Order, OrderEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One recorded event of an order (its history, as ``workorders show`` prints it)."""

    seq: int
    at: datetime
    kind: str
    step: str | None
    actor: str
    note: str


def _order_values(order: Order, at: datetime) -> dict[str, Any]:
    return {
        "state": order.state.value,
        "kind": order.kind.value,
        "priority": order.priority.value,
        "upstream_id": order.upstream,
        "faults": list(order.faults),
        "opened_at": order.opened_at,
        "deadline": order.deadline,
        "updated_at": at,
        "closed_at": order.closed_at,
        "version": order.version,
        "data": order_to_json(order),
    }


async def record_events(
    conn: AsyncConnection,
    events: Sequence[OrderEvent],
    episodes: Sequence[Episode],
    forget: Collection[str],
    at: datetime,
) -> int:
    """Record ``events`` with the orders they leave behind, set ``episodes`` (one per
    camera), drop the episodes of the cameras in ``forget``.  Returns how many events were
    new (already recorded ones are skipped)."""
    latest: dict[str, Order] = {}
    for event in events:
        old = latest.get(event.order_id)
        if old is None or event.order.version > old.version:
            latest[event.order_id] = event.order
    if latest:
        await _upsert_orders(conn, latest, at)
    new = 0
    if events:
        t = work_order_events_t
        keys = {(e.order_id, e.seq) for e in events}
        have = {
            (row.order_id, row.seq)
            for row in await conn.execute(
                select(t.c.order_id, t.c.seq).where(tuple_(t.c.order_id, t.c.seq).in_(keys))
            )
        }
        rows = []
        for event in events:
            key = (event.order_id, event.seq)
            if key in have:
                continue
            have.add(key)
            rows.append(
                {
                    "order_id": event.order_id,
                    "seq": event.seq,
                    "at": event.at,
                    "kind": event.kind.value,
                    "step": event.step.value if event.step is not None else "",
                    "actor": event.actor,
                    "note": event.note,
                }
            )
        if rows:
            await conn.execute(insert(t), rows)
        new = len(rows)
    gone = set(forget) | {e.camera_id for e in episodes}
    if gone:
        e = work_order_episodes_t
        await conn.execute(delete(e).where(e.c.camera_id.in_(gone)))
    if episodes:
        await conn.execute(
            insert(work_order_episodes_t),
            [
                {"camera_id": ep.camera_id, "data": episode_to_json(ep), "updated_at": at}
                for ep in episodes
            ],
        )
    return new


async def _upsert_orders(conn: AsyncConnection, orders: dict[str, Order], at: datetime) -> None:
    t = work_orders_t
    stored = {
        row.id: row.version
        for row in await conn.execute(select(t.c.id, t.c.version).where(t.c.id.in_(orders)))
    }
    fresh = [o for oid, o in orders.items() if oid not in stored]
    if fresh:
        await conn.execute(insert(t), [{"id": o.id, **_order_values(o, at)} for o in fresh])
    for oid, order in orders.items():
        if oid in stored and order.version > stored[oid]:
            await conn.execute(
                update(t)
                .where(t.c.id == oid, t.c.version < order.version)
                .values(**_order_values(order, at))
            )
    c = work_order_cameras_t
    have = {
        (row.order_id, row.camera_id)
        for row in await conn.execute(
            select(c.c.order_id, c.c.camera_id).where(c.c.order_id.in_(orders))
        )
    }
    links = [
        {"order_id": oid, "camera_id": cam}
        for oid, order in orders.items()
        for cam in order.camera_ids
        if (oid, cam) not in have
    ]
    if links:
        await conn.execute(insert(c), links)


def _orders_of(rows: Any) -> list[Order]:
    out = []
    for row in rows:
        try:
            out.append(order_from_json(row.data))
        except ValueError as exc:
            # A damaged row must not stop the daemon nor become a wrong order: say which.
            log.error("work order %s in the store is unreadable (%s); left out", row.id, exc)
    return out


async def load_orders(
    conn: AsyncConnection,
    *,
    open_only: bool = False,
    state: str | None = None,
    camera_id: str | None = None,
) -> list[Order]:
    """Orders, oldest first: all, the open ones, those in ``state``, or those of a camera."""
    t = work_orders_t
    query = select(t.c.id, t.c.data).order_by(t.c.opened_at, t.c.id)
    if open_only:
        query = query.where(t.c.state != "closed")
    if state is not None:
        query = query.where(t.c.state == state)
    if camera_id is not None:
        c = work_order_cameras_t
        query = query.where(t.c.id.in_(select(c.c.order_id).where(c.c.camera_id == camera_id)))
    return _orders_of(await conn.execute(query))


CAMERA_CHUNK = 500  # camera ids per query (SQLite and asyncpg limit the parameters)


async def load_book_orders(
    conn: AsyncConnection, closed_since: datetime, faulty: Sequence[str]
) -> list[Order]:
    """What the order book keeps in memory, oldest first: the open orders, those closed at
    or after ``closed_since``, and every order of the ``faulty`` cameras (a restart may
    replay their episodes)."""
    t = work_orders_t
    found = {
        order.id: order
        for order in _orders_of(
            await conn.execute(
                select(t.c.id, t.c.data).where(
                    or_(t.c.state != "closed", t.c.closed_at >= closed_since)
                )
            )
        )
    }
    c = work_order_cameras_t
    for i in range(0, len(faulty), CAMERA_CHUNK):
        theirs = select(c.c.order_id).where(c.c.camera_id.in_(faulty[i : i + CAMERA_CHUNK]))
        rows = await conn.execute(select(t.c.id, t.c.data).where(t.c.id.in_(theirs)))
        for order in _orders_of(rows):
            found.setdefault(order.id, order)
    return sorted(found.values(), key=lambda o: (o.opened_at, o.id))


async def get_order(conn: AsyncConnection, order_id: str) -> Order | None:
    t = work_orders_t
    found = _orders_of(await conn.execute(select(t.c.id, t.c.data).where(t.c.id == order_id)))
    return found[0] if found else None


async def order_events(conn: AsyncConnection, order_id: str) -> list[StoredEvent]:
    t = work_order_events_t
    rows = await conn.execute(select(t).where(t.c.order_id == order_id).order_by(t.c.seq))
    return [
        StoredEvent(row.seq, row.at, row.kind, row.step or None, row.actor, row.note)
        for row in rows
    ]


async def load_episodes(conn: AsyncConnection) -> list[Episode]:
    e = work_order_episodes_t
    out = []
    for row in await conn.execute(select(e.c.camera_id, e.c.data)):
        try:
            out.append(episode_from_json(row.data))
        except ValueError as exc:
            log.error("work-order episode of %s unreadable (%s); left out", row.camera_id, exc)
    return out
