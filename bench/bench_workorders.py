"""Benchmark: the work-order engine and its store writes for a 20,000-camera district.

A bad day, through the real pure core (`OrderBook` with the real `CommonCause`, the daemon's
default rules) on a fake clock, a check of every camera every 30 s:

1. 2 % of the cameras fail one by one over an hour (single orders), 8 NVRs of 16 cameras go
   down (parent orders), 50 cameras bounce (down 90 s, up 90 s: each outage shorter than
   the debounce, so no order); two hours in, everything recovers and is verified;
2. 40 % of the cameras fail within a minute (the bridge_network alarm: no orders) and recover.

Printed: CPU per transition fed to the book, per healthy check and per tick, the largest
tick; orders and events; memory per camera (tracemalloc: what the book and the detector
allocate during the day, beyond their start).  Then
the store: the events of part 1 written with `Store.record_order_events` as the desk does
(one transaction per flush of the events of one tick) on SQLite — ms per flush and per event.

    .venv/bin/python bench/bench_workorders.py [--cameras 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.bootstrap import build_store
from bridge.model import CameraState
from bridge.settings import Settings, StoreSettings
from bridge.workorder_desk import rules_of
from bridge.workorders.common_cause import CommonCause
from bridge.workorders.engine import OrderBook
from bridge.workorders.model import OrderEvent

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
CHECK_S = 30
NVRS, PER_NVR = 8, 16
OFF, ON = CameraState.OFFLINE, CameraState.ONLINE
DOWN = ("unreachable",)
MASS_START = T0 + timedelta(hours=3)


class Feeder:
    """Feeds the book as the daemon does and times each kind of call."""

    def __init__(self, cameras: int) -> None:
        rules, cc_rules = rules_of(Settings())
        self.cc = CommonCause(cc_rules)
        self.book = OrderBook(rules, common_cause=self.cc)
        self.ids = [f"4199010001132{i:07d}" for i in range(cameras)]
        self.upstream = {c: f"nvr-{i // PER_NVR}" if i < NVRS * PER_NVR else None
                         for i, c in enumerate(self.ids)}  # fmt: skip
        self.cc.set_fleet(self.upstream, T0)
        self.state = dict.fromkeys(self.ids, ON)
        self.cpu = Counter[str]()
        self.calls = Counter[str]()
        self.max_tick_s = 0.0
        self.events: list[list[OrderEvent]] = []  # per tick, as the desk flushes them

    def _timed(self, kind: str, fn, *args, **kw) -> list[OrderEvent]:  # type: ignore[no-untyped-def]
        t = time.process_time()
        out: list[OrderEvent] = fn(*args, **kw)
        spent = time.process_time() - t
        self.cpu[kind] += spent
        self.calls[kind] += 1
        if kind == "tick":
            self.max_tick_s = max(self.max_tick_s, spent)
        return out

    def transition(self, cam: str, to: CameraState, at: datetime) -> list[OrderEvent]:
        self.state[cam] = to
        faults = DOWN if to is OFF else ()
        self.cc.observe(cam, faults, at)
        return self._timed("transition", self.book.observe, cam, to, faults, at,
                           upstream=self.upstream[cam])  # fmt: skip

    def check_round(self, at: datetime) -> list[OrderEvent]:
        """Healthy checks of the cameras with an order (the desk passes only those), a
        fresh picture for those awaiting one, then a tick."""
        events: list[OrderEvent] = []
        for order in list(self.book.open_orders()):
            for cam in order.camera_ids:
                if self.state[cam] is ON:
                    events += self._timed("healthy_check", self.book.healthy_check, cam, at)
        for cam in self.book.awaiting_picture():
            events += self.book.picture(cam, at, healthy=True, evidence=f"{cam}/history/x.jpg")
        events += self._timed("tick", self.book.tick, at)
        return events


def bad_day(cameras: int, seed: int = 7) -> tuple[Feeder, float, int]:
    rng = random.Random(seed)
    f = Feeder(cameras)
    singles = rng.sample(f.ids[NVRS * PER_NVR :], cameras // 50)
    flappers = set(rng.sample([c for c in f.ids[NVRS * PER_NVR :] if c not in singles], 50))
    fail_at = {c: rng.uniform(0, 3600) for c in singles}
    nvr_at = {n: rng.uniform(0, 3600) for n in range(NVRS)}
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    peak_mem = 0
    for step in range(0, 3 * 3600, CHECK_S):
        at = T0 + timedelta(seconds=step)
        events: list[OrderEvent] = []
        for cam, t in fail_at.items():
            if t <= step < t + CHECK_S:
                events += f.transition(cam, OFF, at)
        for n, t in nvr_at.items():
            if t <= step < t + CHECK_S:
                for cam in f.ids[n * PER_NVR : (n + 1) * PER_NVR]:
                    events += f.transition(cam, OFF, at)
        if step < 3600:
            for cam in flappers:  # down for 90 s, up for 90 s
                want = OFF if (step // 90) % 2 == 0 else ON
                if f.state[cam] is not want:
                    events += f.transition(cam, want, at)
        if step == 2 * 3600:  # the crews fixed everything; flappers settle
            for cam in [c for c, s in f.state.items() if s is OFF]:
                events += f.transition(cam, ON, at)
        events += f.check_round(at)
        f.events.append(events)
        peak_mem = max(peak_mem, tracemalloc.get_traced_memory()[0] - base)
    tracemalloc.stop()
    # Part 2: 40 % within a minute, back 10 minutes later.
    start = MASS_START
    mass = rng.sample(f.ids, int(cameras * 0.4))
    for i, cam in enumerate(mass):
        f.transition(cam, OFF, start + timedelta(seconds=60 * i / len(mass)))
    for k in range(1, 20):
        f.check_round(start + timedelta(seconds=30 * k))
    for cam in mass:
        f.transition(cam, ON, start + timedelta(seconds=600))
    for k in range(21, 40):
        f.check_round(start + timedelta(seconds=30 * k))
    return f, peak_mem / cameras, len(mass)


async def store_writes(feeder: Feeder) -> tuple[int, int, float, float]:
    flushes = [e for e in feeder.events if e]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(store=StoreSettings(data_dir=Path(tmp)))
        async with build_store(settings) as store:
            t = time.perf_counter()
            worst = 0.0
            for events in flushes:
                t1 = time.perf_counter()
                touched = {c for e in events for c in e.order.camera_ids}
                await store.record_order_events(events, feeder.book.episodes(touched), [])
                worst = max(worst, time.perf_counter() - t1)
            spent = time.perf_counter() - t
    count = sum(len(e) for e in flushes)
    return len(flushes), count, spent, worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=20_000)
    args = parser.parse_args()
    t = time.perf_counter()
    feeder, bytes_per_camera, mass = bad_day(args.cameras)
    wall = time.perf_counter() - t
    orders = feeder.book.orders()
    kinds = Counter(len(o.camera_ids) > 1 for o in orders)
    events = sum(len(e) for e in feeder.events)
    print(f"work-order engine, {args.cameras} cameras, a bad day then {mass} down at once "
          f"({wall:.1f} s wall for the whole scenario)")  # fmt: skip
    print(f"  orders: {kinds[False]} single, {kinds[True]} parent (NVR); {events} events; "
          f"open at the end: {sum(1 for o in orders if o.is_open)}")  # fmt: skip
    during_mass = [o for o in orders if o.opened_at >= MASS_START]
    print(f"  orders opened during the mass failure: {len(during_mass)} (expected 0)")
    for kind in ("transition", "healthy_check", "tick"):
        n = feeder.calls[kind]
        print(f"  {kind:<14} {n:>8} calls  {feeder.cpu[kind] / max(n, 1) * 1e6:8.1f} µs CPU each")
    print(f"  largest tick   {feeder.max_tick_s * 1e3:8.2f} ms CPU")
    print(f"  memory         {bytes_per_camera:8.0f} bytes per camera at the peak of the bad day")
    flushes, count, spent, worst = asyncio.run(store_writes(feeder))
    print(f"store (SQLite): {flushes} flushes, {count} events in {spent:.2f} s — "
          f"{spent / flushes * 1e3:.1f} ms per flush, {spent / count * 1e3:.2f} ms per event, "
          f"largest flush {worst * 1e3:.0f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
