"""Benchmark: the report's fold of one busy camera-month (`camera_days`), pure CPU, and what
the daemon's runs (`bridge.runs`: no monitored time while it was stopped) add to it.

One camera with 300 state changes in November (a busy one: ten a day), folded into
per-day seconds: without any run recorded (a store from before runs were recorded), with a
run covering the whole month (the usual case), and with 30 restarts of 10 minutes (one a
day: far more than a district does).

    .venv/bin/python bench/bench_report_fold.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime, timedelta

from bridge.model import CameraState
from bridge.reports.online_rate import CameraHistory, StateChange, Watched, camera_days, period

CHANGES = 300


def history(start: datetime) -> CameraHistory:
    changes = []
    at = start
    for i in range(CHANGES):
        at += timedelta(minutes=137)
        down = i % 2 == 1
        state = CameraState.OFFLINE if down else CameraState.ONLINE
        changes.append(StateChange(at, state, ("unreachable",) if down else ()))
    return CameraHistory("cam", StateChange(start - timedelta(days=1), CameraState.ONLINE), changes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    within = period(date(2026, 11, 1), date(2026, 11, 30), datetime(2026, 12, 5, tzinfo=UTC))
    h = history(within.start)
    daily = [
        (within.start + timedelta(days=d), within.start + timedelta(days=d + 1, minutes=-10))
        for d in range(30)
    ]
    cases: dict[str, Watched | None] = {
        "no run recorded": None,
        "one run, all month": Watched([(within.start - timedelta(days=3), within.end)]),
        "30 restarts": Watched(daily),
    }
    for label, watched in cases.items():
        started = time.process_time()
        for _ in range(args.repeat):
            camera_days(h, within, watched)
        took = (time.process_time() - started) / args.repeat
        print(
            f"{label:20} {took * 1e6:6.0f} µs CPU per camera-month "
            f"({took / CHANGES * 1e9:5.0f} ns per change)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
