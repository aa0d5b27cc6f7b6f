"""Draining the outbox and re-publishing, with the real store and a recording ``publish``
(the broker side is in test_publisher.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bridge.bus.message import Message
from bridge.bus.outbox import Planned, coalesce, drain, publish_all, publish_stream, republish
from bridge.store import Store

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def now() -> datetime:
    return T0


def retained(topic: str, n: int) -> Message:
    return Message(topic, f"v{n}".encode(), 1, True)


def event(topic: str, n: int) -> Message:
    return Message(topic, f"e{n}".encode(), 1, False)


class Broker:
    """Records what is published; can fail on a given message (connection lost) and
    tracks how many publishes are in flight at once."""

    def __init__(self, *, lose_at: int | None = None, refuse: bytes | None = None) -> None:
        self.sent: list[Message] = []
        self.lose_at = lose_at
        self.refuse = refuse
        self.in_flight = 0
        self.most_in_flight = 0

    async def publish(self, message: Message) -> None:
        if self.lose_at is not None and len(self.sent) >= self.lose_at:
            raise ConnectionError("connection lost")
        if message.payload == self.refuse:
            raise ValueError("topic too long")
        self.sent.append(message)  # on the wire, in call order
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001)  # the PUBACK
        finally:
            self.in_flight -= 1


def test_coalesce_keeps_the_newest_retained_message_per_topic() -> None:
    rows = [
        (1, retained("a", 1)),
        (2, retained("b", 1)),
        (3, event("w", 1)),
        (4, retained("a", 2)),
        (5, event("w", 2)),
        (7, retained("a", 3)),
    ]
    assert coalesce(rows) == [
        Planned(retained("b", 1), (2,)),
        Planned(event("w", 1), (3,)),
        Planned(event("w", 2), (5,)),
        Planned(retained("a", 3), (1, 4, 7)),
    ]
    assert coalesce([]) == []


async def test_publish_all_keeps_order_and_bounds_the_window() -> None:
    broker = Broker()
    items = [Planned(retained(f"t{n}", n)) for n in range(200)]
    done: list[Planned] = []
    await publish_all(broker.publish, items, 20, lambda item, ok: done.append(item))
    assert broker.sent == [i.message for i in items]
    assert 1 < broker.most_in_flight <= 20
    assert sorted(done, key=lambda i: i.message.topic) == sorted(
        items, key=lambda i: i.message.topic
    )


async def test_publish_all_window_of_one_waits_for_each() -> None:
    broker = Broker()
    await publish_all(broker.publish, [Planned(retained(f"t{n}", n)) for n in range(20)], 1)
    assert broker.most_in_flight == 1


async def test_publish_all_raises_a_lost_connection_not_a_group() -> None:
    broker = Broker(lose_at=50)
    done: list[Planned] = []
    with pytest.raises(ConnectionError):
        await publish_all(
            broker.publish,
            [Planned(retained(f"t{n}", n)) for n in range(200)],
            20,
            lambda item, ok: done.append(item),
        )
    assert len(done) <= 50


async def test_drain_publishes_newest_and_marks_everything(store: Store) -> None:
    await store.enqueue([retained("a", 1), retained("b", 1), retained("a", 2), event("w", 1)])
    broker = Broker()
    result = await drain(store, broker.publish, now, batch=2)
    # batches of two rows: a1,b1 then a2,w1 (coalescing is per batch)
    assert broker.sent == [retained("a", 1), retained("b", 1), retained("a", 2), event("w", 1)]
    assert (result.published, result.superseded, result.dropped) == (4, 0, 0)
    assert await store.pending(10) == []

    await store.enqueue([retained("a", n) for n in range(3, 9)] + [retained("b", 2)])
    broker.sent.clear()
    result = await drain(store, broker.publish, now)
    assert broker.sent == [retained("a", 8), retained("b", 2)]
    assert (result.published, result.superseded) == (2, 5)
    assert await store.pending(10) == []


async def test_drain_marks_only_what_was_acknowledged_when_the_connection_is_lost(
    store: Store,
) -> None:
    await store.enqueue([retained(f"t{n}", n) for n in range(100)])
    broker = Broker(lose_at=30)
    with pytest.raises(ConnectionError):
        await drain(store, broker.publish, now, window=1)
    left = await store.pending(1000)
    assert [m for _, m in left] == [retained(f"t{n}", n) for n in range(30, 100)]
    broker = Broker()
    result = await drain(store, broker.publish, now)  # the next connection
    assert result.published == 70
    assert await store.pending(10) == []


async def test_drain_drops_a_message_the_client_refuses(store: Store) -> None:
    await store.enqueue([retained("a", 1), retained("bad", 666), retained("c", 1)])
    broker = Broker(refuse=b"v666")
    result = await drain(store, broker.publish, now)
    assert broker.sent == [retained("a", 1), retained("c", 1)]
    assert (result.published, result.dropped) == (2, 1)
    assert await store.pending(10) == []  # a poison row must not block the outbox


async def test_republish_in_chunks() -> None:
    async def view() -> AsyncIterator[Message]:
        for n in range(2500):
            yield retained(f"s{n}", n)

    broker = Broker()
    assert await republish(view(), broker.publish, window=20, chunk=1000) == 2500
    assert broker.sent == [retained(f"s{n}", n) for n in range(2500)]


async def test_republish_waits_for_the_source_within_its_deadline() -> None:
    async def stuck() -> AsyncIterator[Message]:
        yield retained("s", 1)
        await asyncio.sleep(60)
        yield retained("s", 2)

    broker = Broker()
    with pytest.raises(TimeoutError):
        await republish(stuck(), broker.publish, fetch_timeout_s=0.1)


async def test_the_next_batch_is_read_while_the_last_one_is_in_flight() -> None:
    broker = Broker()
    in_flight_at_fetch: list[int] = []
    batches = [[Planned(retained(f"b{b}-{n}", n)) for n in range(100)] for b in range(5)]

    async def fetch() -> list[Planned]:
        in_flight_at_fetch.append(broker.in_flight)
        await asyncio.sleep(0.002)  # a store read
        return batches.pop(0) if batches else []

    await publish_stream(broker.publish, fetch, 20, prefetch=50)
    assert len(broker.sent) == 500
    assert [m.topic for m in broker.sent[:3]] == ["b0-0", "b0-1", "b0-2"]
    assert broker.sent[-1].topic == "b4-99"
    assert max(in_flight_at_fetch[1:]) > 0  # the window did not run dry between batches


async def test_republish_closes_its_source() -> None:
    closed = []

    async def view() -> AsyncIterator[Message]:
        try:
            yield retained("s", 1)
            raise RuntimeError("store gone")
        finally:
            closed.append(True)

    with pytest.raises(RuntimeError, match="store gone"):
        await republish(view(), Broker().publish)
    assert closed == [True]
