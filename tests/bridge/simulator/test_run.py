"""run_simulate (the command's body), the sharded simulator, and a 1,000-camera smoke test."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from bridge.simulator import ShardedSimulator, SimCamera, Simulator, load_inventory, run_simulate
from bridge.simulator.shards import capacity, shards_needed
from tests.bridge.simulator.conftest import (
    camera_id,
    exchange,
    inventory_row,
    rtsp_request,
    write_inventory,
)

Make = Callable[..., list[SimCamera]]


def small_inventory(tmp_path: Path, subnet: str, count: int = 4) -> Path:
    rows = [
        inventory_row(i, f"{subnet}.{i}", ports=("18554", "18080")) for i in range(1, count + 1)
    ]
    return write_inventory(tmp_path / "cams.csv", rows)


async def options_ok(host: str, port: int = 18554) -> bool:
    try:
        reply = await exchange(host, port, rtsp_request("OPTIONS", "*", 1), 2)
    except ConnectionRefusedError:
        return False
    return reply.status == 200


async def test_run_simulate_serves_until_stopped(
    tmp_path: Path, subnet: str, caplog: pytest.LogCaptureFixture
) -> None:
    inventory = small_inventory(tmp_path, subnet)
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({camera_id(1): "down"}))
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, "bridge.simulator")
    task = asyncio.create_task(run_simulate(inventory, faults, "127.0.0.1:0", stop))
    for _ in range(100):
        if "control API at" in caplog.text:
            break
        await asyncio.sleep(0.05)
    assert "serving 4 cameras" in caplog.text
    assert not await options_ok(f"{subnet}.1")
    assert await options_ok(f"{subnet}.2")
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0
    assert not await options_ok(f"{subnet}.2")


@pytest.mark.parametrize(
    ("faults_text", "control"),
    [('{"41990100001320000099": "down"}', None), ('{"x": ', None), ("{}", "0.0.0.0:9554")],
)
async def test_run_simulate_bad_input_is_exit_2(
    tmp_path: Path, subnet: str, faults_text: str, control: str | None
) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(faults_text)
    result = await run_simulate(small_inventory(tmp_path, subnet), faults, control, asyncio.Event())
    assert result == 2


async def test_run_simulate_missing_inventory_is_exit_2(tmp_path: Path) -> None:
    assert await run_simulate(tmp_path / "none.csv", None, None, asyncio.Event()) == 2


async def test_busy_address_is_exit_1(tmp_path: Path, make_cameras: Make, subnet: str) -> None:
    async with Simulator(make_cameras(1)):
        result = await run_simulate(small_inventory(tmp_path, subnet), None, "127.0.0.1:0")
    assert result == 1


def test_shard_arithmetic() -> None:
    assert capacity(20_000) == 9_488
    assert shards_needed(9_488, 20_000) == 1
    assert shards_needed(20_000, 20_000) == 3


async def test_sharded_simulator_serves_and_applies_faults(tmp_path: Path, subnet: str) -> None:
    inventory = small_inventory(tmp_path, subnet, count=5)
    cameras = load_inventory(inventory)
    sharded = ShardedSimulator(inventory, cameras, 2, faults={camera_id(2): "down"})
    await sharded.start()
    try:
        assert not await options_ok(f"{subnet}.2")
        assert all([await options_ok(f"{subnet}.{i}") for i in (1, 3, 4, 5)])
        sharded.set_faults({camera_id(3): "down"})
        sharded.clear_fault(camera_id(2))
        deadline = time.monotonic() + 15  # the workers apply changes asynchronously
        while time.monotonic() < deadline:
            if await options_ok(f"{subnet}.2") and not await options_ok(f"{subnet}.3"):
                break
            await asyncio.sleep(0.05)
        assert await options_ok(f"{subnet}.2")
        assert not await options_ok(f"{subnet}.3")
        assert set(sharded.faults()) == {camera_id(3)}
        assert not sharded.is_listening(camera_id(3))
        assert sharded.clear_faults() == 1
    finally:
        await sharded.close()
    assert not await options_ok(f"{subnet}.1")


async def test_a_thousand_cameras_start_and_answer(make_cameras: Make, subnet: str) -> None:
    cameras = [
        SimCamera(
            id=f"41990100001320{i:06d}",
            name=f"c{i}",
            host=f"{subnet}.{i % 250 + 1}",
            rtsp_port=20000 + 2 * (i // 250),
            onvif_port=20001 + 2 * (i // 250),
        )
        for i in range(1000)
    ]
    start = time.perf_counter()
    async with Simulator(cameras) as sim:
        started_s = time.perf_counter() - start
        sample = cameras[::50]
        replies = await asyncio.gather(
            *(
                exchange(c.host, c.rtsp_port, rtsp_request("DESCRIBE", c.rtsp_path, 1))
                for c in sample
            )
        )
        assert all(r.status == 200 and b"m=video" in r.body for r in replies)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            last = cameras[-1]
            async with http.get(f"http://{last.host}:{last.onvif_port}/snapshot.jpg") as r:
                assert r.status == 200
        assert len(sim.cameras) == 1000
    print(f"1,000 cameras started in {started_s:.2f} s")
