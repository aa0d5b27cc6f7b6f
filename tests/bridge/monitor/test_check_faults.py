"""`gridbridge check` against the simulator: every simulator fault gives its fault code.

The command's coroutine runs in the test's event loop beside the simulator (the CLI's
`main` would start a loop of its own); the store is a real SQLite file.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge.bootstrap import build_store
from bridge.cli.check import check_command
from bridge.model import CameraRecord, Mapping
from bridge.settings import ProbeSettings, Settings, StoreSettings
from bridge.simulator import Simulator
from bridge.simulator.model import AuthMode, SimCamera
from tests.support import WORKER

TIMEOUT_S = 0.6


def camera(n: int, auth: AuthMode = AuthMode.DIGEST_QOP) -> SimCamera:
    return SimCamera(
        id=f"41990100011326{n:06d}",
        name=f"校验{n}",
        host=f"127.42.{WORKER}.{n}",
        rtsp_port=18554,
        onvif_port=18080,
        username="admin",
        password="Uv_pass88",
        rtsp_path="/cam/realmonitor?channel=1&subtype=0",
        vendor="大华",
        serial=f"DH{n:04d}",
        auth=auth,
    )


CAMS = [camera(n, AuthMode.DIGEST if n % 2 else AuthMode.DIGEST_QOP) for n in range(1, 15)]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Settings, Simulator]]:
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path / "data"),
        probe=ProbeSettings(interval_s=5, timeout_s=TIMEOUT_S),
    )
    records = [
        CameraRecord(
            id=c.id,
            name=c.name,
            type_code="132",
            host=c.host,
            rtsp_port=c.rtsp_port,
            onvif_port=c.onvif_port,
            username=c.username,
            password=c.password,
            rtsp_url=f"rtsp://{c.host}:{c.rtsp_port}{c.rtsp_path}",
        )
        for c in CAMS
    ]
    async with build_store(settings) as store:
        await store.apply_import(records, {}, {c.id: Mapping.UNMAPPED for c in CAMS})
    async with Simulator(CAMS) as sim:
        yield settings, sim


async def check(
    settings: Settings,
    cam: SimCamera,
    capsys: pytest.CaptureFixture[str],
    *,
    no_picture: bool = False,
) -> Any:
    args = argparse.Namespace(camera_id=cam.id, format="json", no_picture=no_picture)
    code = await check_command(args, settings)
    assert code == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("kind", "state", "faults"),
    [
        (None, "online", []),
        ("down", "offline", ["unreachable"]),
        ("blackhole", "offline", ["unreachable"]),
        ({"kind": "slow", "latency_ms": 2000}, "offline", ["unreachable"]),
        ("auth_fail", "degraded", ["auth_failed"]),
        ("rtsp_500", "degraded", ["rtsp_error"]),
        ("no_video_track", "degraded", ["rtsp_error"]),
        ("bad_xml", "degraded", ["onvif_error"]),
        ("xml_bomb", "degraded", ["onvif_error"]),
        ({"kind": "huge_body", "mb": 100}, "degraded", ["onvif_error"]),
        ({"kind": "clock_drift", "offset_s": 300}, "degraded", ["clock_drift"]),
    ],
)
async def test_fault_kind_gives_its_code(
    setup: tuple[Settings, Simulator],
    capsys: pytest.CaptureFixture[str],
    kind: str | dict[str, Any] | None,
    state: str,
    faults: list[str],
) -> None:
    settings, sim = setup
    cam = CAMS[0]
    if kind is not None:
        sim.set_faults({cam.id: kind})
    started = time.monotonic()
    tracemalloc.start()
    try:
        # The cheap layers only: the simulator renders pictures in this process, and
        # tracemalloc would count its numpy arrays as ours.
        item = await check(settings, cam, capsys, no_picture=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    assert (item["state"], item["faults"]) == (state, faults), json.dumps(item["layers"])
    assert set(item["layers"]) >= {"rtsp", "onvif_time", "rtsp_tcp", "onvif_tcp"}
    # Every layer ends at its deadline, however the camera behaves.
    assert elapsed < 6 * TIMEOUT_S + 3
    # A 100 MB body or an entity bomb must not grow memory.
    assert peak < 20 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("kind", ["black", "no_signal", "frozen"])
async def test_picture_fault_kind_gives_its_code(
    setup: tuple[Settings, Simulator], capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    settings, sim = setup
    cam = CAMS[6]
    sim.set_faults({cam.id: kind})
    item = await check(settings, cam, capsys)
    assert (item["state"], item["faults"]) == ("degraded", [kind]), item["layers"]["picture"]


async def test_slow_camera_within_the_deadline_is_online(
    setup: tuple[Settings, Simulator], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, sim = setup
    sim.set_faults({CAMS[1].id: {"kind": "slow", "latency_ms": 150}})
    item = await check(settings, CAMS[1], capsys)
    assert (item["state"], item["faults"]) == ("online", [])
    assert item["layers"]["rtsp"]["latency_ms"] >= 150


async def test_replaced_after_onboarding(
    setup: tuple[Settings, Simulator], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, sim = setup
    cam = CAMS[2]
    first = await check(settings, cam, capsys)  # onboards: the serial is recorded
    assert first["onboarded"] is True
    assert first["layers"]["device"]["serial"] == cam.serial
    sim.set_faults({cam.id: "replaced"})
    item = await check(settings, cam, capsys)
    assert (item["state"], item["faults"]) == ("degraded", ["replaced"])


async def test_flapping_camera_alternates(
    setup: tuple[Settings, Simulator], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, sim = setup
    cam = CAMS[3]
    sim.set_faults({cam.id: {"kind": "flapping", "period_s": 1.5}})
    seen = set()
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        seen.add((await check(settings, cam, capsys, no_picture=True))["state"])
        await sim.settle()
    assert seen == {"offline", "online"}


async def test_table_output_and_no_secrets(
    setup: tuple[Settings, Simulator], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _ = setup
    args = argparse.Namespace(camera_id=CAMS[4].id, format="table", no_picture=False)
    code = await check_command(args, settings)
    out = capsys.readouterr()
    assert code == 0
    assert "state: online" in out.out
    assert "picture: http 1280x720, ok 正常" in out.out
    assert "Uv_pass88" not in out.out + out.err


async def test_the_picture_layer_says_what_it_saw_and_can_be_skipped(
    setup: tuple[Settings, Simulator], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, sim = setup
    cam = CAMS[5]
    sim.set_faults({cam.id: "black"})
    item = await check(settings, cam, capsys)
    picture = item["layers"]["picture"]
    assert picture["ok"]
    assert picture["source"] == "http"
    assert picture["faults"] == ["black"]
    assert picture["metrics"]["brightness"] < 20
    skipped = await check(settings, cam, capsys, no_picture=True)
    assert skipped["layers"]["picture"] is None
    assert (skipped["state"], skipped["faults"]) == ("online", [])
    sim.set_faults({cam.id: "down"})
    await sim.settle()
    down = await check(settings, cam, capsys)
    assert down["layers"]["picture"] is None  # offline: nothing to look at
