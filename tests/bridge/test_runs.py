"""The daemon's runs (`bridge.runs`): when it watched, and the gaps a report leaves out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.runs import ALIVE_GRACE_S, MonitorRun, down_spans, watched_spans

T0 = datetime(2026, 11, 1, tzinfo=UTC)
END = T0 + timedelta(days=1)
GRACE = timedelta(seconds=ALIVE_GRACE_S)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_no_run_ever_recorded_counts_everything() -> None:
    assert watched_spans([], None, T0, END) is None
    assert down_spans(None, T0, END) == []


def test_time_before_the_first_recorded_run_counts_as_before() -> None:
    # A store older than the record: the first run started at 10:00, still running.
    run = MonitorRun(at(10), alive_at=at(23.99))
    watched = watched_spans([run], at(10), T0, END)
    assert watched == [(T0, END)]  # before 10:00 as it always was; the run to the end
    assert down_spans(watched, T0, END) == []


def test_a_stop_a_kill_and_overlapping_runs() -> None:
    runs = [
        MonitorRun(at(-30), alive_at=at(2), ended_at=at(2)),  # stopped in order at 02:00
        MonitorRun(at(5), alive_at=at(8)),  # killed: last alive 08:00
        MonitorRun(at(8), alive_at=at(9), ended_at=at(12)),  # started before the grace ran out
        MonitorRun(at(20), alive_at=at(30)),  # running past the end
    ]
    watched = watched_spans(runs, at(-100), T0, END)
    assert watched == [(T0, at(2)), (at(5), at(12)), (at(20), END)]
    assert down_spans(watched, T0, END) == [(at(2), at(5)), (at(12), at(20))]


def test_a_quick_restart_is_no_gap() -> None:
    runs = [
        MonitorRun(at(-5), alive_at=at(3), ended_at=at(3)),
        MonitorRun(at(3) + GRACE - timedelta(seconds=1), alive_at=at(6), ended_at=at(6)),
        MonitorRun(at(6) + GRACE, alive_at=at(30)),  # a restart of 2 minutes is one
    ]
    watched = watched_spans(runs, at(-5), T0, END)
    assert watched == [(T0, at(6)), (at(6) + GRACE, END)]
    assert down_spans(watched, T0, END) == [(at(6), at(6) + GRACE)]


def test_a_killed_run_counts_its_grace_and_no_more() -> None:
    run = MonitorRun(at(1), alive_at=at(3))
    watched = watched_spans([run], at(-50), T0, END)  # runs recorded long before
    assert watched == [(at(1), at(3) + GRACE)]
    assert down_spans(watched, T0, END) == [(T0, at(1)), (at(3) + GRACE, END)]


def test_runs_outside_the_period_leave_it_all_down() -> None:
    runs = [MonitorRun(at(-10), alive_at=at(-5), ended_at=at(-5))]
    watched = watched_spans(runs, at(-10), T0, END)
    assert watched == []
    assert down_spans(watched, T0, END) == [(T0, END)]
