"""Hysteresis, fault changes, flapping and restore — with a fake clock, no sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.model import CameraState
from bridge.tracker import Tracker, TrackerRules, Transition
from health.verdict import CameraHealth

CAM = "41990100011326000001"
ONLINE = CameraHealth(CameraState.ONLINE, (), "ok")
OFFLINE = CameraHealth(CameraState.OFFLINE, ("unreachable",), "no answer")
DRIFT = CameraHealth(CameraState.DEGRADED, ("clock_drift",), "clock")
DRIFT_REPLACED = CameraHealth(CameraState.DEGRADED, ("clock_drift", "replaced"), "both")


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)

    def tick(self, seconds: float = 30) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def feed(tracker: Tracker, clock: FakeClock, *verdicts: CameraHealth) -> list[Transition | None]:
    return [tracker.observe(CAM, v, clock.tick()) for v in verdicts]


def test_first_check_is_taken_as_is() -> None:
    tracker, clock = Tracker(TrackerRules()), FakeClock()
    assert tracker.state_of(CAM) == (CameraState.UNKNOWN, (), False)
    (t,) = feed(tracker, clock, OFFLINE)
    assert t is not None
    assert (t.from_state, t.to_state, t.faults) == (
        CameraState.UNKNOWN, CameraState.OFFLINE, ("unreachable",)
    )  # fmt: skip


def test_offline_after_three_failures_online_after_two() -> None:
    tracker, clock = Tracker(TrackerRules(worse_after=3, better_after=2)), FakeClock()
    feed(tracker, clock, ONLINE)
    out = feed(tracker, clock, OFFLINE, OFFLINE)
    assert out == [None, None]
    (t,) = feed(tracker, clock, OFFLINE)
    assert t is not None
    assert (t.from_state, t.to_state) == (CameraState.ONLINE, CameraState.OFFLINE)
    assert t.at == clock.now
    assert feed(tracker, clock, ONLINE) == [None]
    (t,) = feed(tracker, clock, ONLINE)
    assert t is not None
    assert (t.from_state, t.to_state, t.faults) == (CameraState.OFFLINE, CameraState.ONLINE, ())


def test_an_interrupted_streak_starts_again() -> None:
    tracker, clock = Tracker(TrackerRules()), FakeClock()
    feed(tracker, clock, ONLINE)
    assert feed(tracker, clock, OFFLINE, OFFLINE, ONLINE, OFFLINE, OFFLINE) == [None] * 5
    assert tracker.state_of(CAM)[0] is CameraState.ONLINE
    assert feed(tracker, clock, OFFLINE)[0] is not None


def test_fault_change_within_a_state_is_published() -> None:
    tracker, clock = Tracker(TrackerRules()), FakeClock()
    feed(tracker, clock, DRIFT)
    (t,) = feed(tracker, clock, DRIFT_REPLACED)
    assert t is not None
    assert (t.from_state, t.to_state) == (CameraState.DEGRADED, CameraState.DEGRADED)
    assert t.faults == ("clock_drift", "replaced")
    assert feed(tracker, clock, DRIFT_REPLACED) == [None]  # no change, nothing published


def test_failures_in_a_row_counts_every_offline_verdict() -> None:
    tracker, clock = Tracker(TrackerRules()), FakeClock()
    feed(tracker, clock, ONLINE, OFFLINE, OFFLINE, OFFLINE, OFFLINE, OFFLINE)
    assert tracker.failures_in_a_row(CAM) == 5
    feed(tracker, clock, ONLINE)
    assert tracker.failures_in_a_row(CAM) == 0


def test_flapping_is_flagged_once_then_state_is_held_until_calm() -> None:
    rules = TrackerRules(worse_after=1, better_after=1, flap_transitions=4, flap_window_s=600)
    tracker, clock = Tracker(rules), FakeClock()
    feed(tracker, clock, ONLINE)
    out = feed(tracker, clock, OFFLINE, ONLINE, OFFLINE)
    assert [t.to_state for t in out if t] == [
        CameraState.OFFLINE, CameraState.ONLINE, CameraState.OFFLINE
    ]  # fmt: skip
    (t,) = feed(tracker, clock, ONLINE)  # fourth change within the window
    assert t is not None
    assert t.flapping is True
    assert t.to_state is CameraState.OFFLINE  # held: the state published before
    assert tracker.state_of(CAM) == (CameraState.OFFLINE, ("unreachable",), True)
    # More flips: nothing is published while flapping.
    assert feed(tracker, clock, OFFLINE, ONLINE, OFFLINE, ONLINE) == [None] * 4
    # Steady online for less than the window: still held.
    quiet = [tracker.observe(CAM, ONLINE, clock.tick(60)) for _ in range(9)]
    assert quiet == [None] * 9
    t = tracker.observe(CAM, ONLINE, clock.tick(60))  # 600 s since the last change
    assert t is not None
    assert (t.flapping, t.to_state, t.reason) == (False, CameraState.ONLINE, "flapping ended")
    assert tracker.state_of(CAM) == (CameraState.ONLINE, (), False)


def test_slow_changes_are_not_flapping() -> None:
    rules = TrackerRules(worse_after=1, better_after=1, flap_transitions=4, flap_window_s=600)
    tracker, clock = Tracker(rules), FakeClock()
    tracker.observe(CAM, ONLINE, clock.tick())
    for verdict in (OFFLINE, ONLINE, OFFLINE, ONLINE, OFFLINE):
        t = tracker.observe(CAM, verdict, clock.tick(301))
        assert t is not None
        assert t.flapping is False


def test_restore_keeps_the_last_known_state() -> None:
    tracker, clock = Tracker(TrackerRules()), FakeClock()
    tracker.restore(CAM, CameraState.OFFLINE, ("unreachable",), clock.now)
    assert feed(tracker, clock, OFFLINE) == [None]  # not a new transition after a restart
    assert feed(tracker, clock, ONLINE) == [None]
    (t,) = feed(tracker, clock, ONLINE)
    assert t is not None
    assert (t.from_state, t.to_state) == (CameraState.OFFLINE, CameraState.ONLINE)
