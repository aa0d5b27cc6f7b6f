"""Work orders in the real store (SQLite and PostgreSQL), fed by the real order book: events
recorded once however often they are recorded, orders never replaced by older versions,
episodes for a restart, messages in the same transaction, damaged rows left out loudly, and
a restart from the store that neither duplicates nor loses an order."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bridge.bus.message import Message
from bridge.model import CameraState
from bridge.store import Store
from bridge.store.engine import create_engine, parse_url
from bridge.workorders.codec import (
    episode_from_json,
    episode_to_json,
    order_from_json,
    order_to_json,
)
from bridge.workorders.engine import OrderBook
from bridge.workorders.model import OrderEvent, Step
from bridge.workorders.rules import WorkOrderRules

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
OFF, ON = CameraState.OFFLINE, CameraState.ONLINE


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def opened(book: OrderBook, camera_id: str) -> list[OrderEvent]:
    book.observe(camera_id, ON, (), at(0))
    book.picture(camera_id, at(30), healthy=True, evidence=f"snap/{camera_id}/before.jpg")
    events = book.observe(camera_id, OFF, ("unreachable",), at(60))
    return events + book.tick(at(300))


async def test_events_are_recorded_once_and_orders_read_back(store: Store, make_camera) -> None:
    cam = make_camera(1)
    book = OrderBook(WorkOrderRules())
    events = opened(book, cam.id)
    [order] = book.orders()
    message = Message(f"gb/workorders/419901001/{order.id}", b"{}", 1, False)
    assert await store.record_order_events(events, book.episodes(), [message]) == len(events)
    assert await store.record_order_events(events, book.episodes(), []) == 0  # a replay
    assert await store.get_order(order.id) == order
    assert await store.load_orders(open_only=True) == [order]
    assert await store.load_orders(camera_id=cam.id) == [order]
    assert await store.load_orders(state="closed") == []
    history = await store.order_events(order.id)
    assert [(e.seq, e.kind, e.step) for e in history] == [(1, "opened", "open")]
    assert [m for _, m in await store.pending(10)] == [message]
    assert await store.load_order_episodes() == book.episodes()


async def test_an_older_version_never_replaces_a_newer_one(store: Store, make_camera) -> None:
    cam = make_camera(2)
    book = OrderBook(WorkOrderRules())
    first = opened(book, cam.id)
    [order] = book.orders()
    accepted = book.act(order.id, Step.ACCEPTED, actor="张师傅", note="马上出发", at=at(400))
    await store.record_order_events(first + accepted)
    await store.record_order_events(first)  # late, out of order
    stored = await store.get_order(order.id)
    assert stored is not None
    assert stored.state is Step.ACCEPTED
    history = await store.order_events(order.id)
    assert [(e.step, e.actor, e.note) for e in history][-1] == ("accepted", "张师傅", "马上出发")


async def test_a_restart_from_the_store_neither_duplicates_nor_loses(
    store: Store, make_camera
) -> None:
    cams = [make_camera(3), make_camera(4)]
    book = OrderBook(WorkOrderRules())
    recorded = opened(book, cams[0].id)
    await store.record_order_events(recorded, book.episodes())
    # The second camera's order was produced but the daemon died before recording it.
    opened(book, cams[1].id)
    again = OrderBook(WorkOrderRules())
    again.restore(await store.load_orders(), await store.load_order_episodes(), at(320))
    replay = again.observe(cams[1].id, ON, (), at(0))
    replay += again.observe(cams[1].id, OFF, ("unreachable",), at(60))
    replay += again.tick(at(330))
    await store.record_order_events(replay, again.episodes())
    orders = await store.load_orders()
    assert sorted(o.id for o in orders) == sorted(o.id for o in book.orders())
    assert len(orders) == 2


async def test_a_damaged_row_is_left_out_and_named(
    store: Store, store_url: str, make_camera, caplog: pytest.LogCaptureFixture
) -> None:
    cam = make_camera(5)
    book = OrderBook(WorkOrderRules())
    await store.record_order_events(opened(book, cam.id), book.episodes())
    [order] = book.orders()
    engine = create_engine(parse_url(store_url), connect_timeout_s=5.0)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE work_orders SET data = :data WHERE id = :id"),
                {"data": '{"format": 99}', "id": order.id},
            )
    finally:
        await engine.dispose()
    with caplog.at_level(logging.ERROR):
        assert await store.load_orders() == []
    assert order.id in caplog.text


def test_codec_round_trip_and_refusals() -> None:
    book = OrderBook(WorkOrderRules())
    opened(book, "41990100011326000009")
    [order] = book.orders()
    assert order_from_json(order_to_json(order)) == order
    for episode in book.episodes():
        assert episode_from_json(episode_to_json(episode)) == episode
    bad = order_to_json(order)
    for key, value in (("state", "lost"), ("opened_at", "yesterday"), ("steps", "x"),
                       ("camera_ids", [1]), ("version", "2"), ("episode_keys", [])):  # fmt: skip
        with pytest.raises(ValueError, match=key.split("_")[0]):
            order_from_json({**bad, key: value})
    with pytest.raises(ValueError, match="format"):
        order_from_json({**bad, "format": 2})
    with pytest.raises(ValueError, match="object"):
        order_from_json([])
