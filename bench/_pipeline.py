"""Monitor figures of bench_checks.py (run inside bench/_client.py): memory per camera and
time to a first state at probe.interval_s = 30, and the steady state at a demanded rate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from _proc import Clock, open_fds, rss_kib

from adapters.onvif_soap import OnvifHeartbeat
from adapters.rtsp import RtspProber
from adapters.tcp import TcpConnector
from bridge.bootstrap import build_store
from bridge.check_stats import CheckStats
from bridge.checker import Checker
from bridge.model import CameraState
from bridge.monitor import Monitor
from bridge.probes import ONBOARD_TIMEOUT_FACTOR, Probes, real_probes
from bridge.settings import ProbeSettings, Settings, StoreSettings
from health.verdict import CameraHealth

Result = dict[str, Any]
TIMEOUT_S = 3.0  # probe.timeout_s (its default) except where the interval is shorter


def settings_for(
    args: argparse.Namespace, interval_s: float, timeout_s: float = TIMEOUT_S
) -> Settings:
    probe = ProbeSettings(
        interval_s=interval_s,
        timeout_s=timeout_s,
        concurrency=args.concurrency,
        per_host_concurrency=args.per_host,
    )
    return Settings(store=StoreSettings(data_dir=args.data_dir), probe=probe)


@asynccontextmanager
async def bench_probes(settings: Settings, keepalive_s: float | None) -> AsyncIterator[Probes]:
    """``real_probes``, or the same adapters with another idle ONVIF keep-alive: with the
    shipped 15 s, checking 20,000 cameras faster than in 15 s keeps ~20,000 idle sockets,
    past this machine's hard limit of 20,000 descriptors."""
    if keepalive_s is None:
        async with real_probes(settings) as probes:
            yield probes
        return
    timeout_s = settings.probe.timeout_s
    async with OnvifHeartbeat(keepalive_timeout_s=keepalive_s) as heartbeat:
        checker = Checker(RtspProber(), heartbeat, TcpConnector(), timeout_s)
        yield Probes(checker, timeout_s * ONBOARD_TIMEOUT_FACTOR)


class TimedMonitor(Monitor):
    """A Monitor that notes when each camera's first check starts, and how late each later
    check starts against the time its previous check asked for (waits for a slot, a busy
    event loop): does the pipeline keep up?  (Wraps the private job: a measurement hook.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lateness: list[float] = []
        self.first_start: dict[str, float] = {}
        self._next: dict[str, float] = {}

    async def _check(self, camera_id: str) -> float:
        loop = asyncio.get_running_loop()
        due = self._next.get(camera_id)
        if due is not None:
            self.lateness.append(loop.time() - due)
        else:
            self.first_start[camera_id] = loop.time()
        delay = await super()._check(camera_id)
        self._next[camera_id] = loop.time() + delay
        return delay

    def tally(self, expected: dict[str, str]) -> Result:
        """Published states, and cameras whose faults are not what the simulator implies."""
        states: Counter[str] = Counter()
        wrong: list[str] = []
        for camera_id, want in expected.items():
            state, faults, _ = self.state_of(camera_id)
            states[state.value] += 1
            if (want not in faults) if want else state is not CameraState.ONLINE:
                wrong.append(f"{camera_id}: want {want or 'online'}, got {state.value} {faults}")
        return {"states": dict(states), "unexpected": len(wrong), "unexpected_sample": wrong[:3]}


async def first_state(args: argparse.Namespace, expected: dict[str, str]) -> Result:
    """Memory and time to a first state for every camera, at probe.interval_s = 30, with the
    adapters as shipped (``real_probes``) unless ``args.first_keepalive_s`` says otherwise."""
    settings = settings_for(args, 30.0)
    loop = asyncio.get_running_loop()
    async with bench_probes(settings, args.first_keepalive_s) as probes:
        gc.collect()
        rss_base = rss_kib()
        async with build_store(settings) as store:
            gc.collect()
            rss_store = rss_kib()
            monitor = TimedMonitor(store, probes.checker, settings, stats=CheckStats())
            firsts: list[float] = []
            all_first = asyncio.Event()

            async def listener(t: Any, _: CameraHealth) -> None:
                if t.from_state is CameraState.UNKNOWN:
                    firsts.append(loop.time())
                    if len(firsts) >= n:
                        all_first.set()

            monitor.add_listener(listener)
            t_load = time.perf_counter()
            n = await monitor.load()
            load_s = time.perf_counter() - t_load
            clock = Clock(args.sim_pid).start()
            t0 = loop.time()
            task = asyncio.create_task(monitor.run())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30.0 + settings.probe.timeout_s * 5 + 10):
                    await all_first.wait()
            used = clock.stop()
            gc.collect()
            rss_round, fds_round = rss_kib(), open_fds()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    after = sorted(t - t0 for t in firsts)

    def pct(q: float) -> float | None:
        return after[min(len(after) - 1, int(q * len(after)))] if after else None

    return {
        "cameras": n,
        "load_s": load_s,
        "first_states": monitor.first_states,
        "first_p50_s": pct(0.5),
        "first_p95_s": pct(0.95),
        "first_max_s": after[-1] if after else None,
        "within_interval": sum(1 for t in after if t <= 30.0),
        "last_first_start_s": max(monitor.first_start.values(), default=t0) - t0,
        "cpu_pct": used["cpu"] / used["wall"] * 100,
        "others_pct": used["others"] / used["wall"] * 100,
        "rss_base_kib": rss_base,
        "rss_store_kib": rss_store,
        "rss_round_kib": rss_round,
        "fds_round": fds_round,
        "tally": monitor.tally(expected),
    }


async def steady(args: argparse.Namespace, expected: dict[str, str]) -> Result:
    """Achieved checks/s and CPU at the interval that demands ``args.rate`` checks/s."""
    n = len(expected)
    interval = max(1.0, n / args.rate)
    settings = settings_for(args, interval, timeout_s=min(TIMEOUT_S, 0.8 * interval))
    window = max(2 * interval, 10.0)
    async with (
        bench_probes(settings, args.onvif_keepalive_s) as probes,
        build_store(settings) as store,
    ):
        monitor = TimedMonitor(store, probes.checker, settings, stats=CheckStats())
        await monitor.load()
        task = asyncio.create_task(monitor.run())
        await asyncio.sleep(interval)  # the first round, spread over one interval
        checks0, clock = monitor.checks, Clock(args.sim_pid).start()
        late0, peak_fds = len(monitor.lateness), 0
        for _ in range(int(window / 2)):
            await asyncio.sleep(2)
            peak_fds = max(peak_fds, open_fds())
        used = clock.stop()
        checks = monitor.checks - checks0
        late = sorted(monitor.lateness[late0:]) or [0.0]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    wall = used["wall"]
    return {
        "interval_s": interval,
        "timeout_s": settings.probe.timeout_s,
        "demanded": n / interval,
        "achieved": checks / wall,
        "window_s": wall,
        "cpu_pct": used["cpu"] / wall * 100,
        "sim_cpu_pct": used["sim"] / wall * 100,
        "others_pct": used["others"] / wall * 100,
        "cpu_ms_per_check": used["cpu"] / max(checks, 1) * 1000,
        "peak_in_flight": monitor.scheduler.peak_in_flight,
        "peak_fds": peak_fds,
        "late_p50_s": late[len(late) // 2],
        "late_p99_s": late[int(len(late) * 0.99)],
        "late_max_s": late[-1],
        "tally": monitor.tally(expected),
    }
