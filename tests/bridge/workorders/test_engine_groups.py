"""The order book with many cameras: common cause (NVR groups, mass failure) and flapping.

The common-cause detector is the other module's job; here a small in-test implementation of
``CommonCauseView`` says what it would (a fake collaborator, not of the thing under test).
Flapping goes through the real tracker, fed verdicts on a fake clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.model import CameraState
from bridge.tracker import Tracker, TrackerRules
from bridge.workorders.engine import OrderBook
from bridge.workorders.model import CommonCauseView, EventKind, OrderEvent, OrderKind, Step
from bridge.workorders.rules import WorkOrderRules
from health.verdict import CameraHealth

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
OFF = CameraState.OFFLINE
ON = CameraState.ONLINE
NVR = "NVR-城关-03"
CAMS = [f"4199010001132600{n:04d}" for n in range(1, 13)]


class FakeCommonCause:
    """Says what the test sets: whether it is a mass failure, and each camera's group."""

    def __init__(self) -> None:
        self.mass = False
        self.groups: dict[str, tuple[str, frozenset[str]]] = {}

    def mass_failure(self, at: datetime) -> bool:
        return self.mass

    def group_of(self, camera_id: str, at: datetime) -> tuple[str, frozenset[str]] | None:
        return self.groups.get(camera_id)

    def group(self, upstream: str, cameras: list[str]) -> None:
        for camera_id in cameras:
            self.groups[camera_id] = (upstream, frozenset(cameras))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def opened(events: list[OrderEvent]) -> list[OrderEvent]:
    return [e for e in events if e.kind in (EventKind.OPENED, EventKind.REOPENED)]


def test_the_fake_is_a_common_cause_view() -> None:
    view: CommonCauseView = FakeCommonCause()
    assert view.group_of("x", T0) is None


def test_an_nvr_with_twelve_cameras_down_is_one_parent_order_and_no_child_orders() -> None:
    cc = FakeCommonCause()
    book = OrderBook(WorkOrderRules(), cc)
    events: list[OrderEvent] = []
    for i, camera_id in enumerate(CAMS):
        book.picture(camera_id, at(-600), healthy=True, evidence=f"snap/{camera_id}-before.jpg")
        events += book.observe(camera_id, OFF, ("unreachable",), at(i * 5), upstream=NVR)
    cc.group(NVR, CAMS)
    events += book.tick(at(179))
    assert events == []
    for second in range(180, 600, 30):
        events += book.tick(at(second))
    (parent,) = opened(events)
    order = parent.order
    assert (order.kind, order.upstream, order.camera_ids) == (OrderKind.UPSTREAM, NVR, tuple(CAMS))
    assert NVR in parent.note
    assert "12" in parent.note
    assert order.before_evidence == f"snap/{CAMS[0]}-before.jpg"
    assert [o.id for o in book.orders()] == [order.id]
    assert all(book.order_of(c) == order for c in CAMS)

    # Some cameras come back: the parent stays open until all have.
    for camera_id in CAMS[:6]:
        book.observe(camera_id, ON, (), at(900))
        book.healthy_check(camera_id, at(900))
        book.healthy_check(camera_id, at(930))
    assert book.picture(CAMS[0], at(940), healthy=True, evidence="snap/after.jpg") == []
    assert book.order(order.id) == order
    for camera_id in CAMS[6:]:
        book.observe(camera_id, ON, (), at(1200))
        book.healthy_check(camera_id, at(1200))
    last: list[OrderEvent] = []
    for camera_id in CAMS[6:]:
        last += book.healthy_check(camera_id, at(1230))
    steps = [e.step for e in last]
    assert steps == [Step.VERIFIED, Step.CLOSED]
    closed = last[-1].order
    assert closed.self_recovered
    assert closed.after_evidence == "snap/after.jpg"


def test_cameras_failing_later_join_the_open_parent() -> None:
    cc = FakeCommonCause()
    book = OrderBook(WorkOrderRules(), cc)
    for camera_id in CAMS[:3]:
        book.observe(camera_id, OFF, ("unreachable",), at(0))
    cc.group(NVR, CAMS[:3])
    (parent,) = book.tick(at(180))
    book.observe(CAMS[3], OFF, ("no_signal",), at(300), key_location=True)
    cc.group(NVR, CAMS[:4])
    assert book.tick(at(400)) == []  # it debounces like any camera
    (added,) = book.tick(at(480))
    assert added.kind is EventKind.CAMERAS_ADDED
    assert added.order.id == parent.order.id
    assert added.order.camera_ids == tuple(CAMS[:4])
    assert added.order.faults == ("unreachable", "no_signal")
    # A key location joined: the order gets the key deadlines, counted from its opening.
    assert added.order.respond_by == parent.order.opened_at + timedelta(hours=2)
    assert len(book.orders()) == 1


def test_a_camera_with_its_own_order_keeps_it_when_a_group_forms_later() -> None:
    cc = FakeCommonCause()
    book = OrderBook(WorkOrderRules(), cc)
    book.observe(CAMS[0], OFF, ("unreachable",), at(0))
    (own,) = book.tick(at(180))
    for camera_id in CAMS[1:4]:
        book.observe(camera_id, OFF, ("unreachable",), at(200))
    cc.group(NVR, CAMS[:4])
    (parent,) = book.tick(at(380))
    assert parent.order.camera_ids == tuple(CAMS[1:4])
    assert book.order_of(CAMS[0]) == own.order


def test_a_mass_failure_opens_no_orders_and_normal_rules_resume_when_it_clears() -> None:
    cc = FakeCommonCause()
    cc.mass = True
    book = OrderBook(WorkOrderRules(), cc)
    for camera_id in CAMS:
        book.observe(camera_id, OFF, ("unreachable",), at(0))
    events: list[OrderEvent] = []
    for second in range(0, 1800, 30):
        events += book.tick(at(second))
    assert events == []
    assert book.orders() == []
    # The network is back; most cameras recover, two really are broken.
    cc.mass = False
    for camera_id in CAMS[2:]:
        book.observe(camera_id, ON, (), at(1800))
    # The debounce counts again from the last tick that saw the mass failure (1770 s).
    assert book.tick(at(1800 + 120)) == []
    events = book.tick(at(1770 + 180))
    assert sorted(e.order.camera_ids[0] for e in opened(events)) == CAMS[:2]


def feed_flapping_hour(book: OrderBook, down_s: int, up_s: int) -> list[OrderEvent]:
    """One hour of a camera going down for ``down_s`` and up for ``up_s``, checked every
    30 s through the real tracker; the book sees its transitions, healthy checks, a picture
    every 5 minutes and a tick every check.  Then the camera settles online for an hour."""
    tracker = Tracker(TrackerRules())
    camera_id = CAMS[0]
    good = CameraHealth(ON, (), "ok")
    bad = CameraHealth(OFF, ("unreachable",), "no answer")
    events: list[OrderEvent] = []
    for second in range(0, 7200, 30):
        now = at(second)
        up = second >= 3600 or second % (down_s + up_s) >= down_s
        t = tracker.observe(camera_id, good if up else bad, now)
        if t is not None:
            events += book.observe(camera_id, t.to_state, t.faults, now, flapping=t.flapping)
        state, _, flapping = tracker.state_of(camera_id)
        if up and state is ON and not flapping:
            events += book.healthy_check(camera_id, now)
            if second % 300 == 0:
                events += book.picture(camera_id, now, healthy=True, evidence=f"snap/{second}")
        events += book.tick(now)
    return events


def test_a_flapping_camera_gets_one_order_for_the_hour_not_one_per_flap() -> None:
    book = OrderBook(WorkOrderRules())
    events = feed_flapping_hour(book, down_s=150, up_s=150)
    assert [e.kind for e in opened(events)] == [EventKind.OPENED]
    (order,) = book.orders()
    assert order.kind is OrderKind.NETWORK
    assert order.repeats == 0
    # It settled: verified and closed after the flapping ended.
    assert order.state is Step.CLOSED
    assert order.self_recovered


def test_slow_flaps_the_tracker_does_not_call_flapping_reopen_the_same_order() -> None:
    # Down 5 min, up 10 min: two state changes per 15 min, below the tracker's flapping
    # threshold, each outage longer than the debounce.  One order, reopened as 返修.
    book = OrderBook(WorkOrderRules())
    events = feed_flapping_hour(book, down_s=300, up_s=600)
    kinds = [e.kind for e in opened(events)]
    assert kinds[0] is EventKind.OPENED
    assert set(kinds[1:]) == {EventKind.REOPENED}
    (order,) = book.orders()
    assert order.repeats == len(kinds) - 1 >= 2
