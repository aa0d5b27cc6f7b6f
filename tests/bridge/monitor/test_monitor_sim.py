"""The monitor end to end: simulated cameras on loopback, the real adapters, a real store.

Faults injected in the simulator must reach the published state with the right codes,
through the hysteresis, and be recorded; recovery too; a restart keeps the last states.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bridge.check_stats import CheckStats
from bridge.model import CameraRecord, CameraState, Mapping
from bridge.monitor import Monitor
from bridge.probes import real_probes
from bridge.secretbox import SecretBox
from bridge.settings import ProbeSettings, Settings
from bridge.simulator import Simulator
from bridge.simulator.model import AuthMode, SimCamera
from bridge.store import Store, sqlite_url
from tests.support import WORKER

N = 8
PASSWORD = "Dh#2020pw"


def sim_cameras(base: int) -> list[SimCamera]:
    return [
        SimCamera(
            id=f"419901000113260{base + n:05d}",
            name=f"测试{n}",
            host=f"127.41.{WORKER}.{n + 1}",
            rtsp_port=18554,
            onvif_port=18080,
            username="admin",
            password=PASSWORD,
            rtsp_path="/Streaming/Channels/101",
            vendor="海康威视",
            serial=f"SN{n}",
            auth=AuthMode.DIGEST_QOP if n % 2 else AuthMode.DIGEST,
        )
        for n in range(N)
    ]


def record(cam: SimCamera) -> CameraRecord:
    return CameraRecord(
        id=cam.id,
        name=cam.name,
        type_code="132",
        host=cam.host,
        rtsp_port=cam.rtsp_port,
        onvif_port=cam.onvif_port,
        username=cam.username,
        password=cam.password,
        rtsp_url=f"rtsp://{cam.host}:{cam.rtsp_port}{cam.rtsp_path}",
    )


SETTINGS = Settings(
    probe=ProbeSettings(
        interval_s=1,
        timeout_s=0.5,
        offline_after=2,
        online_after=1,
        max_backoff_s=1,
        concurrency=50,
        onvif_interval_s=0,
    )
)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store(sqlite_url(tmp_path), SecretBox(SecretBox.generate_key())) as s:
        yield s


async def wait_for(what: Callable[[], bool], timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in time {what.__doc__ or ''}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(monitor: Monitor) -> AsyncIterator[None]:
    task = asyncio.create_task(monitor.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_faults_reach_the_state_and_the_store(store: Store) -> None:
    cams = sim_cameras(1)
    await store.apply_import([record(c) for c in cams], {}, {c.id: Mapping.UNMAPPED for c in cams})
    expected = {
        0: (CameraState.OFFLINE, ("unreachable",), "down"),
        1: (CameraState.DEGRADED, ("auth_failed",), "auth_fail"),
        2: (CameraState.DEGRADED, ("clock_drift",), "clock_drift"),
        3: (CameraState.DEGRADED, ("rtsp_error",), "no_video_track"),
        4: (CameraState.DEGRADED, ("rtsp_error",), "rtsp_500"),
        5: (CameraState.DEGRADED, ("onvif_error",), "bad_xml"),
    }
    async with Simulator(cams) as sim, real_probes(SETTINGS) as probes:
        stats = CheckStats()
        monitor = Monitor(store, probes.checker, SETTINGS, onboard=probes.onboard, stats=stats)
        assert await monitor.load() == N
        assert monitor.last_checked_at is None
        async with running(monitor):
            await wait_for(lambda: monitor.first_states == N)
            assert {monitor.state_of(c.id)[0] for c in cams} == {CameraState.ONLINE}
            sim.set_faults({cams[n].id: kind for n, (_, _, kind) in expected.items()})
            await wait_for(
                lambda: all(
                    monitor.state_of(cams[n].id)[:2] == want[:2] for n, want in expected.items()
                )
            )
            for n in (6, 7):
                assert monitor.state_of(cams[n].id)[0] is CameraState.ONLINE
            sim.clear_fault(cams[0].id)
            await sim.settle()
            await wait_for(lambda: monitor.state_of(cams[0].id)[0] is CameraState.ONLINE)
            # Every check counted for /metrics, with its layers and its duration.
            assert sum(stats.checks.values()) == monitor.checks
            assert stats.checks["failed"] > 0
            assert stats.layers["rtsp", "unreachable"] > 0  # the camera that was down
            assert stats.layers["rtsp", "auth_failed"] > 0
            assert stats.layers["rtsp", "ok"] > 0
            assert monitor.last_checked_at is not None
        rows = await store.state_rows()
        for n, (state, faults, _) in expected.items():
            if n == 0:
                continue
            assert (rows[cams[n].id].state, rows[cams[n].id].faults) == (state, faults)
        assert rows[cams[0].id].state is CameraState.ONLINE
        # The onboarding task recorded the serial of the reachable cameras.
        onboarded = await store.onboarded()
        assert onboarded[cams[6].id][0] == "SN6"

        # A restart keeps the last known states: no camera is "unknown" again, and no new
        # first-check transitions are made.
        again = Monitor(store, probes.checker, SETTINGS)
        await again.load()
        assert again.state_of(cams[1].id)[:2] == (CameraState.DEGRADED, ("auth_failed",))
        assert again.target(cams[6].id) is not None
        assert again.target(cams[6].id).expected_serial == "SN6"  # type: ignore[union-attr]
