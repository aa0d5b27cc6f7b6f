"""The scheduler on a real event loop with short intervals: caps, phases, recheck, errors."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict

import pytest

from bridge.scheduler import Scheduler


async def run_for(scheduler: Scheduler, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_every_camera_checked_each_interval_within_global_cap() -> None:
    seen: Counter[str] = Counter()

    async def job(camera_id: str) -> float:
        seen[camera_id] += 1
        await asyncio.sleep(0.01)
        return 0.2

    scheduler = Scheduler(job, concurrency=5, per_host=5, deadline_s=1, retry_s=0.2)
    for n in range(50):
        scheduler.schedule(f"cam{n}", f"10.0.0.{n}", n / 50 * 0.2)
    await run_for(scheduler, 0.65)
    assert set(seen) == {f"cam{n}" for n in range(50)}
    assert all(2 <= count <= 4 for count in seen.values()), seen
    assert scheduler.peak_in_flight <= 5


async def test_per_host_cap_and_busy_host_does_not_block_others() -> None:
    active: defaultdict[str, int] = defaultdict(int)
    peak: defaultdict[str, int] = defaultdict(int)
    finished_at: dict[str, float] = {}
    start = time.monotonic()

    async def job(camera_id: str) -> float:
        host = "nvr" if camera_id.startswith("nvr") else camera_id
        active[host] += 1
        peak[host] = max(peak[host], active[host])
        await asyncio.sleep(0.1 if host == "nvr" else 0.01)
        active[host] -= 1
        finished_at.setdefault(camera_id, time.monotonic() - start)
        return 60

    scheduler = Scheduler(job, concurrency=4, per_host=2, deadline_s=5, retry_s=60)
    for ch in range(16):
        scheduler.schedule(f"nvr-ch{ch}", "127.0.0.9", 0)
    for n in range(8):
        scheduler.schedule(f"ipc{n}", f"127.0.1.{n}", 0.001)
    await run_for(scheduler, 1.2)
    assert peak["nvr"] == 2
    # The 16 NVR channels take 8 × 0.1 s, but the other cameras are not stuck behind them.
    assert max(finished_at[f"ipc{n}"] for n in range(8)) < 0.3
    assert len([c for c in finished_at if c.startswith("nvr")]) == 16


async def test_deadline_and_failing_job_reschedule_and_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: Counter[str] = Counter()

    async def job(camera_id: str) -> float:
        calls[camera_id] += 1
        if camera_id == "hang":
            await asyncio.sleep(10)
        if camera_id == "boom":
            raise RuntimeError("bug in a check")
        return 0.05

    scheduler = Scheduler(job, concurrency=10, per_host=1, deadline_s=0.05, retry_s=0.05)
    for cam in ("hang", "boom", "fine"):
        scheduler.schedule(cam, cam, 0)
    await run_for(scheduler, 0.4)
    assert calls["hang"] >= 2
    assert calls["boom"] >= 2
    assert calls["fine"] >= 4
    assert "overran" in caplog.text
    assert "bug in a check" in caplog.text


async def test_recheck_and_remove() -> None:
    calls: Counter[str] = Counter()

    async def job(camera_id: str) -> float:
        calls[camera_id] += 1
        return 3600

    scheduler = Scheduler(job, concurrency=10, per_host=1, deadline_s=1, retry_s=1)
    scheduler.schedule("a", "a", 3600)
    scheduler.schedule("b", "b", 0)
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.05)
    assert calls == {"b": 1}
    assert scheduler.recheck("a")
    assert not scheduler.recheck("zzz")
    await asyncio.sleep(0.05)
    assert calls == {"a": 1, "b": 1}
    scheduler.remove("a")
    scheduler.recheck("a")
    await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert calls == {"a": 1, "b": 1}
    assert len(scheduler) == 1


async def test_drain_lets_running_checks_finish_and_starts_no_more() -> None:
    started: list[str] = []
    finished: list[str] = []

    async def job(camera_id: str) -> float:
        started.append(camera_id)
        await asyncio.sleep(0.2)
        finished.append(camera_id)
        return 0.01

    scheduler = Scheduler(job, concurrency=10, per_host=1, deadline_s=5, retry_s=0.01)
    for n in range(3):
        scheduler.schedule(f"c{n}", f"h{n}", 0)
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.05)
    assert await scheduler.drain(2.0) == 0
    await asyncio.wait_for(task, 1.0)  # run() returns once drained
    assert sorted(finished) == ["c0", "c1", "c2"]
    assert len(started) == 3


async def test_moved_camera_counts_against_its_new_host() -> None:
    hosts_seen: list[str] = []
    scheduler: Scheduler

    async def job(camera_id: str) -> float:
        hosts_seen.append(scheduler._host_of[camera_id])
        return 0.05

    scheduler = Scheduler(job, concurrency=10, per_host=1, deadline_s=1, retry_s=1)
    scheduler.schedule("cam", "127.0.0.1", 0)
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.03)
    scheduler.move("cam", "127.0.0.2")
    scheduler.move("unknown", "127.0.0.3")  # ignored
    await asyncio.sleep(0.1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert hosts_seen[0] == "127.0.0.1"
    assert hosts_seen[-1] == "127.0.0.2"
    assert len(scheduler) == 1
