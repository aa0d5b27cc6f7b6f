"""The bus outbox in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bridge.bus.message import Message
from bridge.store import Store, StoreError
from bridge.store import outbox as outbox_sql
from bridge.store.engine import create_engine, parse_url
from bridge.store.outbox import id_runs

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def msg(n: int, *, topic: str | None = None, retain: bool = True) -> Message:
    return Message(topic or f"gb/grid/t/v/g/camera/c{n}/status", f'{{"n":{n}}}'.encode(), 1, retain)


async def test_enqueue_then_pending_in_id_order(store: Store) -> None:
    sent = [msg(1), msg(2, retain=False), Message("gb/bridge/x", b"\x00\xff", 0, False)]
    assert await store.enqueue(sent) == 3
    rows = await store.pending(10)
    assert [m for _, m in rows] == sent
    ids = [i for i, _ in rows]
    assert ids == sorted(ids)
    assert isinstance(rows[0][1].payload, bytes)  # not memoryview (PostgreSQL bytea)


async def test_pending_honours_the_limit_and_skips_sent(store: Store) -> None:
    await store.enqueue([msg(n) for n in range(5)])
    first = await store.pending(2)
    assert [m.payload for _, m in first] == [b'{"n":0}', b'{"n":1}']
    assert await store.mark_sent([i for i, _ in first], T0) == 2
    rest = await store.pending(10)
    assert [m.payload for _, m in rest] == [b'{"n":2}', b'{"n":3}', b'{"n":4}']


async def test_mark_sent_covers_only_the_given_ids(store: Store, store_url: str) -> None:
    await store.enqueue([msg(n) for n in range(6)])
    ids = [i for i, _ in await store.pending(10)]
    chosen = [ids[0], ids[1], ids[3], ids[5]]  # a gap at ids[2] and ids[4]
    assert await store.mark_sent(chosen, T0) == 4
    assert [i for i, _ in await store.pending(10)] == [ids[2], ids[4]]
    # already sent rows keep their first time
    assert await store.mark_sent(chosen, T0 + timedelta(hours=1)) == 0
    engine = create_engine(parse_url(store_url), connect_timeout_s=5.0)
    try:
        async with engine.connect() as conn:
            rows = list(await conn.execute(text("SELECT id, sent_at FROM outbox ORDER BY id")))
    finally:
        await engine.dispose()
    sent = {row_id for row_id, at in rows if at is not None}
    assert sent == set(chosen)


async def test_mark_sent_with_many_runs(store: Store) -> None:
    await store.enqueue([msg(n) for n in range(1000)])
    ids = [i for i, _ in await store.pending(1000)]
    every_other = ids[::2]  # 500 runs of one: more than one statement
    assert await store.mark_sent(every_other, T0) == 500
    assert [i for i, _ in await store.pending(1000)] == ids[1::2]
    assert await store.mark_sent([], T0) == 0


async def test_prune_deletes_only_old_sent_rows(store: Store) -> None:
    await store.enqueue([msg(n) for n in range(4)])
    ids = [i for i, _ in await store.pending(10)]
    await store.mark_sent(ids[:1], T0)
    await store.mark_sent(ids[1:2], T0 + timedelta(hours=2))
    assert await store.prune_sent(T0 + timedelta(hours=1)) == 1
    assert await store.prune_sent(T0 + timedelta(days=9)) == 1
    assert [i for i, _ in await store.pending(10)] == ids[2:]  # unsent rows never pruned


async def test_enqueue_in_the_callers_transaction_rolls_back_with_it(
    store: Store, store_url: str
) -> None:
    engine = create_engine(parse_url(store_url), connect_timeout_s=5.0)

    async def transition_that_fails() -> None:
        async with engine.connect() as conn, conn.begin():
            await outbox_sql.enqueue(conn, [msg(1)], T0)
            raise RuntimeError("the transition failed")

    try:
        with pytest.raises(RuntimeError):
            await transition_that_fails()
        async with engine.connect() as conn, conn.begin():
            assert await outbox_sql.enqueue(conn, [msg(2)], T0) == 1
            assert await outbox_sql.enqueue(conn, [], T0) == 0
    finally:
        await engine.dispose()
    assert [m.payload for _, m in await store.pending(10)] == [b'{"n":2}']


async def test_20000_rows_round_trip(store: Store) -> None:
    await store.enqueue([msg(n) for n in range(20_000)])
    rows = await store.pending(20_000)
    assert len(rows) == 20_000
    assert await store.mark_sent([i for i, _ in rows], T0) == 20_000
    assert await store.pending(10) == []


async def test_bad_arguments(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.pending(0)
    with pytest.raises((StoreError, ValueError)):
        await store.mark_sent([1], datetime(2026, 1, 1))  # naive: refused


def test_id_runs() -> None:
    assert id_runs([5, 1, 2, 3, 7, 8, 2]) == [(1, 3), (5, 5), (7, 8)]
    assert id_runs([]) == []


def test_message_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="wildcard"):
        Message("gb/+/status", b"", 1, True)
    with pytest.raises(ValueError, match="empty"):
        Message("", b"", 1, True)
    with pytest.raises(ValueError, match="QoS"):
        Message("gb/x", b"", 3, True)
    with pytest.raises(TypeError):
        Message("gb/x", "text", 1, True)  # type: ignore[arg-type]


async def test_pending_after_an_id(store: Store) -> None:
    await store.enqueue([msg(n) for n in range(5)])
    ids = [i for i, _ in await store.pending(10)]
    assert [i for i, _ in await store.pending(2, after=ids[1])] == ids[2:4]
    assert await store.pending(10, after=ids[-1]) == []
