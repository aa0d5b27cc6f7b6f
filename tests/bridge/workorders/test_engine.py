"""The order book with one camera: opening, verification, crew steps, deadlines, repeats.

Fake clock only (the ``at`` of every call), no sleeps, no mocks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bridge.model import CameraState
from bridge.workorders.engine import OrderBook
from bridge.workorders.model import (
    EventKind,
    Order,
    OrderEvent,
    OrderKind,
    Priority,
    Step,
    kind_of,
)
from bridge.workorders.rules import WorkOrderRules
from bridge.workorders.steps import StepError

CAM = "41990100011326000001"
T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 08:00 in the district
OFF = CameraState.OFFLINE
ON = CameraState.ONLINE


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def after(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def kinds(events: list[OrderEvent]) -> list[tuple[EventKind, Step | None]]:
    return [(e.kind, e.step) for e in events]


def opened(book: OrderBook, clock: Clock, *, key_location: bool = False) -> Order:
    """A healthy picture, then CAM down until its order opens (after the 180 s debounce)."""
    book.observe(CAM, ON, (), clock.now)
    book.picture(CAM, clock.after(60), healthy=True, evidence="snap/before.jpg")
    book.observe(CAM, OFF, ("unreachable",), clock.after(60), key_location=key_location)
    (event,) = book.tick(clock.after(180))
    assert event.kind is EventKind.OPENED
    return event.order


def recover(
    book: OrderBook, clock: Clock, picture: str | None = "snap/after.jpg"
) -> list[OrderEvent]:
    """The camera is back: the transition, two healthy checks and maybe a fresh picture."""
    events = book.observe(CAM, ON, (), clock.after(60))
    events += book.healthy_check(CAM, clock.now)
    events += book.healthy_check(CAM, clock.after(30))
    if picture is not None:
        events += book.picture(CAM, clock.after(10), healthy=True, evidence=picture)
    return events


def test_one_camera_down_gets_exactly_one_order_after_the_debounce() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    book.observe(CAM, ON, (), clock.now)
    book.picture(CAM, clock.after(60), healthy=True, evidence="snap/before.jpg")
    down_at = clock.after(60)
    assert book.observe(CAM, OFF, ("unreachable",), down_at) == []
    assert book.tick(clock.after(179)) == []
    (event,) = book.tick(clock.after(1))
    order = event.order
    assert (event.kind, event.step, event.actor, event.seq) == (
        EventKind.OPENED, Step.OPEN, "system", 1
    )  # fmt: skip
    assert re.fullmatch(r"WO-20261127-[0-9A-F]{8}", order.id)
    assert order.camera_ids == (CAM,)
    assert order.upstream is None
    assert (order.kind, order.priority, order.state) == (
        OrderKind.NETWORK, Priority.NORMAL, Step.OPEN
    )  # fmt: skip
    assert order.faults == ("unreachable",)
    assert order.before_evidence == "snap/before.jpg"
    assert order.respond_by == clock.now + timedelta(hours=24)
    assert order.repair_by == clock.now + timedelta(hours=48)
    assert "网络不通" in event.note
    # Never two for the same open fault: more ticks, a repeated report, a new fault class.
    assert book.tick(clock.after(600)) == []
    assert book.observe(CAM, OFF, ("unreachable",), clock.after(60)) == []
    assert [o.id for o in book.orders()] == [order.id]
    assert book.order_of(CAM) == book.order(order.id)


def test_a_fault_shorter_than_the_debounce_opens_nothing() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    book.observe(CAM, OFF, ("unreachable",), clock.now)
    book.tick(clock.after(120))
    book.observe(CAM, ON, (), clock.after(30))
    assert book.tick(clock.after(3600)) == []
    assert book.orders() == []


def test_self_recovery_is_verified_and_closed_with_before_and_after_pictures() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    order = opened(book, clock)
    events = recover(book, clock, picture=None)
    assert events == []  # two healthy checks, but no fresh picture yet
    assert book.awaiting_picture() == [CAM]
    events = book.picture(CAM, clock.after(10), healthy=True, evidence="snap/after.jpg")
    assert kinds(events) == [(EventKind.STEP, Step.VERIFIED), (EventKind.STEP, Step.CLOSED)]
    closed = events[-1].order
    assert closed.id == order.id
    assert closed.state is Step.CLOSED
    assert closed.self_recovered
    assert closed.verified
    assert closed.closed_at == clock.now
    assert (closed.before_evidence, closed.after_evidence) == ("snap/before.jpg", "snap/after.jpg")
    assert [s.step for s in closed.steps] == [Step.OPEN, Step.VERIFIED, Step.CLOSED]
    assert book.open_orders() == []
    assert book.order_of(CAM) is None
    assert book.awaiting_picture() == []


def test_verification_counts_only_checks_after_the_recovery_and_a_bad_look_restarts_it() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    opened(book, clock)
    assert book.healthy_check(CAM, clock.after(10)) == []  # still offline: does not count
    book.observe(CAM, ON, (), clock.after(60))
    book.healthy_check(CAM, clock.now)
    book.picture(CAM, clock.after(5), healthy=False, evidence="snap/black.jpg")
    assert book.healthy_check(CAM, clock.after(30)) == []  # one check since the bad look
    assert book.picture(CAM, clock.after(5), healthy=True, evidence="snap/ok.jpg") == []
    events = book.healthy_check(CAM, clock.after(30))
    assert events[-1].order.after_evidence == "snap/ok.jpg"


def test_a_crew_walks_the_order_to_verified_and_closed_with_evidence() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    order = opened(book, clock)
    (accepted,) = book.act(
        order.id, Step.ACCEPTED, actor="王师傅", note="马上去", at=clock.after(600)
    )
    (on_site,) = book.act(order.id, Step.ON_SITE, actor="王师傅", at=clock.after(1800))
    assert (accepted.step, on_site.step, on_site.order.state) == (
        Step.ACCEPTED, Step.ON_SITE, Step.ON_SITE
    )  # fmt: skip
    book.observe(CAM, ON, (), clock.after(300))  # fixed before the crew pressed 修复
    book.healthy_check(CAM, clock.now)
    (repaired,) = book.act(
        order.id, Step.REPAIRED, actor="王师傅", note="更换光模块", at=clock.after(20)
    )
    assert repaired.order.state is Step.REPAIRED
    # Checks from before the repair do not count: two more, then the picture.
    assert book.healthy_check(CAM, clock.after(30)) == []
    assert book.healthy_check(CAM, clock.after(30)) == []
    events = book.picture(CAM, clock.after(30), healthy=True, evidence="snap/fixed.jpg")
    assert kinds(events) == [(EventKind.STEP, Step.VERIFIED), (EventKind.STEP, Step.CLOSED)]
    closed = events[-1].order
    assert not closed.self_recovered
    assert closed.after_evidence == "snap/fixed.jpg"
    history = [(s.step, s.actor, s.note) for s in closed.steps]
    assert history[1:4] == [
        (Step.ACCEPTED, "王师傅", "马上去"),
        (Step.ON_SITE, "王师傅", ""),
        (Step.REPAIRED, "王师傅", "更换光模块"),
    ]
    assert [s.at for s in closed.steps] == sorted(s.at for s in closed.steps)


def test_repaired_while_the_camera_is_still_broken_goes_back_to_on_site() -> None:
    rules = WorkOrderRules()
    book, clock = OrderBook(rules), Clock()
    order = opened(book, clock)
    book.act(order.id, Step.ACCEPTED, actor="crew", at=clock.after(60))
    book.act(order.id, Step.ON_SITE, actor="crew", at=clock.after(60))
    assert book.awaiting_recovery() == []  # on site: the crew is at work, no hurry
    book.act(order.id, Step.REPAIRED, actor="crew", at=clock.after(60))
    assert book.awaiting_recovery() == [CAM]  # 修复 said, still down: check it often
    assert book.tick(clock.after(rules.verify_timeout_s - 1)) == []
    (back,) = book.tick(clock.after(1))
    assert (back.kind, back.step, back.order.state) == (EventKind.STEP, Step.ON_SITE, Step.ON_SITE)
    assert "修复后 30 分钟仍故障" in back.note
    assert "still faulty 30 min after the repair: back to on_site" in back.note
    assert book.awaiting_recovery() == []
    # The crew tries again; this time the camera comes back.
    book.act(order.id, Step.REPAIRED, actor="crew", at=clock.after(600))
    events = book.observe(CAM, ON, (), clock.after(60))
    assert book.awaiting_recovery() == []  # back online: verification takes over
    events += recover(book, clock)
    assert events[-1].order.state is Step.CLOSED
    assert not events[-1].order.self_recovered


def test_a_relapse_after_the_repair_goes_back_to_on_site_at_once() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    order = opened(book, clock)
    for step in (Step.ACCEPTED, Step.ON_SITE):
        book.act(order.id, step, actor="crew", at=clock.after(60))
    book.observe(CAM, ON, (), clock.after(60))
    book.act(order.id, Step.REPAIRED, actor="crew", at=clock.after(60))
    (back,) = book.observe(CAM, OFF, ("unreachable",), clock.after(90))
    assert back.step is Step.ON_SITE
    assert "再次故障" in back.note


def test_illegal_steps_are_refused_with_a_clear_message() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    order = opened(book, clock)
    with pytest.raises(StepError, match=r"下一步应为「接单」.*next step is accepted"):
        book.act(order.id, Step.ON_SITE, actor="crew", at=clock.after(60))
    with pytest.raises(StepError, match="系统自动完成"):
        book.act(order.id, Step.VERIFIED, actor="crew", at=clock.now)
    with pytest.raises(StepError, match="no order WO-nope"):
        book.act("WO-nope", Step.ACCEPTED, actor="crew", at=clock.now)
    (first,) = book.act(order.id, Step.ACCEPTED, actor="crew", at=clock.after(60))
    # A retried request (the crew's app after a timeout) changes nothing.
    assert book.act(order.id, Step.ACCEPTED, actor="crew", at=clock.after(5)) == []
    with pytest.raises(StepError, match="before the order's last step"):
        book.act(order.id, Step.ON_SITE, actor="crew", at=first.at - timedelta(seconds=1))
    with pytest.raises(StepError, match="needs a note"):
        book.close(order.id, actor="admin", note=" ", at=clock.now)
    book.close(order.id, actor="admin", note="误报", at=clock.after(60))
    with pytest.raises(StepError, match=r"已结案.*closed"):
        book.act(order.id, Step.ON_SITE, actor="crew", at=clock.after(60))
    closed = book.order(order.id)
    assert closed is not None
    assert closed.state is Step.CLOSED


def test_key_locations_get_short_deadlines_and_escalate_once_per_deadline() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    order = opened(book, clock, key_location=True)
    assert order.priority is Priority.KEY
    assert (order.respond_by, order.repair_by) == (
        order.opened_at + timedelta(hours=2), order.opened_at + timedelta(hours=24)
    )  # fmt: skip
    assert book.tick(clock.after(2 * 3600)) == []  # exactly at the deadline: not late yet
    (late,) = book.tick(clock.after(1))
    assert late.kind is EventKind.ESCALATED
    assert "响应时限" in late.note
    assert late.order.overdue
    assert late.order.escalated
    assert late.order.missed == ("respond",)
    assert book.tick(clock.after(600)) == []  # once
    book.act(order.id, Step.ACCEPTED, actor="crew", at=clock.after(60))
    (late,) = book.tick(clock.after(22 * 3600))
    assert late.order.missed == ("respond", "repair")
    assert "修复时限" in late.note
    assert book.tick(clock.after(3600)) == []


def test_the_same_fault_within_the_window_reopens_the_order_and_counts_a_repeat() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    order = opened(book, clock)
    recover(book, clock)
    book.observe(CAM, OFF, ("unreachable",), clock.after(6 * 3600))
    (again,) = book.tick(clock.after(180))
    assert (again.kind, again.step, again.order.id) == (EventKind.REOPENED, Step.OPEN, order.id)
    reopened = again.order
    assert reopened.repeats == 1
    assert reopened.state is Step.OPEN
    assert reopened.closed_at is None
    assert reopened.after_evidence is None
    assert reopened.respond_by == clock.now + timedelta(hours=24)
    assert len(reopened.episode_keys) == 2
    assert "返修第 1 次" in again.note
    assert len(book.orders()) == 1


def test_a_different_fault_or_one_after_the_window_is_a_new_order() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    first = opened(book, clock)
    recover(book, clock)
    book.observe(CAM, CameraState.DEGRADED, ("auth_failed",), clock.after(3600))
    (login,) = book.tick(clock.after(180))
    assert login.kind is EventKind.OPENED
    assert login.order.kind is OrderKind.LOGIN
    recover(book, clock)
    book.observe(CAM, OFF, ("unreachable",), clock.after(86_400 + 60))
    (late,) = book.tick(clock.after(180))
    assert late.kind is EventKind.OPENED
    assert len({first.id, login.order.id, late.order.id}) == 3


def test_closing_by_hand_is_never_reopened_and_a_remaining_fault_gets_a_new_order() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    order = opened(book, clock)
    (closed,) = book.close(order.id, actor="admin", note="已报运营商", at=clock.after(60))
    assert closed.order.state is Step.CLOSED
    assert not closed.order.verified
    assert book.tick(clock.after(179)) == []  # the remaining fault debounces again
    (new,) = book.tick(clock.after(1))
    assert new.kind is EventKind.OPENED
    assert new.order.id != order.id


def test_a_new_fault_during_the_episode_is_added_to_the_order() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    book.observe(CAM, CameraState.DEGRADED, ("rtsp_error",), clock.now)
    (opened_event,) = book.tick(clock.after(180))
    assert opened_event.order.kind is OrderKind.STREAM
    (grown,) = book.observe(CAM, OFF, ("unreachable",), clock.after(60))
    assert grown.kind is EventKind.FAULTS_CHANGED
    assert grown.order.faults == ("unreachable", "rtsp_error")
    assert grown.order.kind is OrderKind.STREAM  # the kind it was sent out as
    assert book.observe(CAM, CameraState.DEGRADED, ("rtsp_error",), clock.after(60)) == []


def test_event_seq_is_the_order_version() -> None:
    book, clock = OrderBook(WorkOrderRules()), Clock()
    order = opened(book, clock)
    events = book.act(order.id, Step.ACCEPTED, actor="crew", at=clock.after(60))
    events += recover(book, clock)
    assert [e.seq for e in events] == [2, 3, 4]
    assert events[-1].order.version == 4


def test_naive_times_are_refused() -> None:
    book = OrderBook(WorkOrderRules())
    with pytest.raises(ValueError, match="aware"):
        book.tick(datetime(2026, 11, 27))


@pytest.mark.parametrize(
    ("faults", "flapping", "kind"),
    [
        (("unreachable",), False, OrderKind.NETWORK),
        (("no_signal",), False, OrderKind.STREAM),
        (("auth_failed", "clock_drift"), False, OrderKind.LOGIN),
        (("blur", "clock_drift"), False, OrderKind.PICTURE),
        (("replaced",), False, OrderKind.DEVICE),
        (("rtsp_error", "unreachable"), False, OrderKind.NETWORK),
        (("something_new",), False, OrderKind.OTHER),
        ((), True, OrderKind.NETWORK),
    ],
)
def test_the_order_kind_follows_the_most_blocking_fault(
    faults: tuple[str, ...], flapping: bool, kind: OrderKind
) -> None:
    assert kind_of(faults, flapping=flapping) is kind


def test_rules_refuse_negative_durations() -> None:
    with pytest.raises(ValueError, match="debounce_s"):
        WorkOrderRules(debounce_s=-1)


def test_closed_orders_are_forgotten_after_their_window_unless_their_camera_is_faulty() -> None:
    """A daemon runs for years: closed orders leave the book (not the store) once they can
    no longer be reopened, but never while their camera is faulty (a restart may replay its
    episode)."""
    book, clock = OrderBook(WorkOrderRules()), Clock()
    first = opened(book, clock)
    recover(book, clock)
    closed_at = book.order(first.id).closed_at  # type: ignore[union-attr]
    assert closed_at is not None
    assert book.prune(closed_at) == 0  # closed at that instant: not before it
    # Down again for good within the window: reopened (返修), open, kept.
    book.observe(CAM, OFF, ("unreachable",), clock.after(3600))
    (again,) = book.tick(clock.after(180))
    assert again.kind is EventKind.REOPENED
    assert book.prune(clock.after(30 * 86_400)) == 0  # open orders stay
    # Closed by hand while the camera is still broken: kept while it stays broken.
    book.close(first.id, actor="admin", note="已报运营商", at=clock.after(60))
    assert book.prune(clock.after(30 * 86_400)) == 0
    assert book.order(first.id) is not None
    (replaced,) = book.tick(clock.now)  # the remaining fault got its own order meanwhile
    recover(book, clock)
    assert book.order(replaced.order.id).state is Step.CLOSED  # type: ignore[union-attr]
    # Healthy now: both go once closed before the cut.
    assert book.prune(clock.now - timedelta(seconds=1)) == 1  # the one closed by hand
    assert book.order(first.id) is None
    assert book.prune(clock.now + timedelta(seconds=1)) == 1
    assert book.orders() == []
    # A new fault after all that is a new order with a new id, not a reopen of a ghost.
    book.observe(CAM, OFF, ("unreachable",), clock.after(60))
    (late,) = book.tick(clock.after(180))
    assert late.kind is EventKind.OPENED
    assert late.order.id not in (first.id, replaced.order.id)
    assert late.order.repeats == 0
