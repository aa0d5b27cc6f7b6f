"""A restart or crash at any point neither duplicates nor loses an order.

``Store`` below keeps what the daemon would store from the events (the order snapshot by
id, the event by ``(order_id, seq)``) and the cameras' episodes; a crash is a new
``OrderBook`` restored from it, then fed the same inputs again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bridge.model import CameraState
from bridge.workorders.engine import OrderBook
from bridge.workorders.model import Episode, EventKind, Order, OrderEvent, Step
from bridge.workorders.rules import WorkOrderRules

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
CAM = "41990100011326000001"
OFF = CameraState.OFFLINE
ON = CameraState.ONLINE


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Store:
    """What survives a crash: orders and events as stored (idempotent upserts), episodes."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.events: dict[tuple[str, int], OrderEvent] = {}
        self.episodes: list[Episode] = []

    def save(self, events: list[OrderEvent], book: OrderBook) -> None:
        for e in events:
            self.events[(e.order_id, e.seq)] = e
            self.orders[e.order_id] = e.order
        self.episodes = book.episodes()

    def restart(self, now: datetime) -> OrderBook:
        book = OrderBook(WorkOrderRules())
        book.restore(self.orders.values(), self.episodes, now)
        return book


def down_until_opened() -> tuple[OrderBook, Store, list[OrderEvent]]:
    book, store = OrderBook(WorkOrderRules()), Store()
    book.observe(CAM, ON, (), at(0))
    book.picture(CAM, at(30), healthy=True, evidence="snap/before.jpg")
    store.save(book.observe(CAM, OFF, ("unreachable",), at(60)), book)
    return book, store, book.tick(at(240))


def test_a_crash_between_producing_and_storing_the_opening_reopens_the_same_id() -> None:
    _, store, lost = down_until_opened()  # produced, never stored
    assert store.orders == {}
    book = store.restart(at(250))
    replayed = book.tick(at(250))
    assert [e.order_id for e in replayed] == [lost[0].order_id]
    assert replayed[0].order.before_evidence == "snap/before.jpg"
    store.save(replayed, book)
    assert list(store.orders) == [lost[0].order_id]
    assert len(store.events) == 1


def test_a_crash_after_storing_the_opening_replays_into_nothing_new() -> None:
    book, store, events = down_until_opened()
    store.save(events, book)
    book = store.restart(at(250))
    # The same inputs again: the transition, ticks.
    replayed = book.observe(CAM, OFF, ("unreachable",), at(60))
    replayed += book.tick(at(240)) + book.tick(at(900))
    assert replayed == []
    assert [o.id for o in book.open_orders()] == [events[0].order_id]


def test_a_crash_during_verification_closes_later_and_loses_nothing() -> None:
    book, store, events = down_until_opened()
    store.save(events, book)
    store.save(book.observe(CAM, ON, (), at(600)), book)
    book.healthy_check(CAM, at(600))
    book.healthy_check(CAM, at(630))
    lost = book.picture(CAM, at(640), healthy=True, evidence="snap/after.jpg")
    assert [e.step for e in lost] == [Step.VERIFIED, Step.CLOSED]  # never stored
    book = store.restart(at(700))
    # Progress is not stored: verification starts again at the restart.
    assert book.healthy_check(CAM, at(700)) == []
    assert book.picture(CAM, at(710), healthy=True, evidence="snap/after2.jpg") == []
    closing = book.healthy_check(CAM, at(730))
    assert [(e.order_id, e.seq) for e in closing] == [(lost[0].order_id, 2), (lost[0].order_id, 3)]
    store.save(closing, book)
    (order,) = store.orders.values()
    assert order.state is Step.CLOSED
    assert order.after_evidence == "snap/after2.jpg"


def test_a_crew_step_retried_after_a_restart_is_applied_once() -> None:
    book, store, events = down_until_opened()
    store.save(events, book)
    order_id = events[0].order_id
    store.save(book.act(order_id, Step.ACCEPTED, actor="crew", at=at(400)), book)
    book = store.restart(at(500))
    assert book.act(order_id, Step.ACCEPTED, actor="crew", at=at(400)) == []
    assert len(store.events) == 2


def test_episode_start_and_the_parent_cover_survive_a_restart() -> None:
    book, store = OrderBook(WorkOrderRules()), Store()
    store.save(book.observe(CAM, OFF, ("unreachable",), at(0)), book)
    # Restarted mid-debounce: the episode still started at 0, so the order opens at 180.
    book = store.restart(at(100))
    assert book.tick(at(179)) == []
    (opened,) = book.tick(at(180))
    assert opened.kind is EventKind.OPENED
    # A camera already listed on a stored parent order gets no order of its own.
    parent = replace(
        opened.order,
        id="WO-20261127-PARENT00",
        camera_ids=("c1", "c2"),
        upstream="NVR-1",
        episode_keys=("upstream:NVR-1@x",),
    )
    store.orders = {parent.id: parent}
    store.episodes = [
        Episode("c1", OFF, ("unreachable",), False, False, "NVR-1", at(0)),
        Episode("c2", ON, (), False, False, "NVR-1", None),
    ]
    book = store.restart(at(1000))
    assert book.tick(at(2000)) == []
    assert book.order_of("c1") == parent
    # c2 was healthy at the restart: it verifies from then on; c1 must come back too.
    assert book.healthy_check("c2", at(1010)) == []
