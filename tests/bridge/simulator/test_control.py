"""The control API: list, merge, clear, validation errors, body cap, loopback only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bridge.simulator import ControlServer, Simulator, SimulatorError
from bridge.simulator.control import MAX_BODY_BYTES, parse_listen


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    server = ControlServer(sim, "127.0.0.1:0")
    await server.start()
    try:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(server.url, timeout=timeout) as session:
            yield server.url, session
    finally:
        await server.close()


async def test_merge_list_clear(sim: Simulator, api: tuple[str, aiohttp.ClientSession]) -> None:
    _, http = api
    one, two, three = (c.id for c in sim.cameras)
    async with http.get("/faults") as r:
        assert r.status == 200
        assert await r.json() == {}
    async with http.post(
        "/faults", json={one: "down", two: {"kind": "slow", "latency_ms": 5}}
    ) as r:
        assert r.status == 200
        body = await r.json()
    assert body["applied"][two] == {"kind": "slow", "latency_ms": 5}
    async with http.post("/faults", json={three: "rtsp_500"}) as r:  # merges, keeps the others
        assert r.status == 200
    async with http.get("/faults") as r:
        assert await r.json() == {
            one: {"kind": "down"},
            two: {"kind": "slow", "latency_ms": 5},
            three: {"kind": "rtsp_500"},
        }
    assert not sim.is_listening(one)
    async with http.delete(f"/faults/{one}") as r:
        assert r.status == 200
        assert await r.json() == {"cleared": True}
    async with http.delete(f"/faults/{one}") as r:
        assert await r.json() == {"cleared": False}
    await asyncio.wait_for(sim.settle(), 5)
    assert sim.is_listening(one)
    async with http.delete("/faults") as r:
        assert await r.json() == {"cleared": 2}
    assert sim.faults() == {}


async def test_validation_errors_apply_nothing(
    sim: Simulator, api: tuple[str, aiohttp.ClientSession]
) -> None:
    _, http = api
    one = sim.cameras[0].id
    async with http.post("/faults", json={one: "down", "41990100001320999999": "nope"}) as r:
        assert r.status == 400
        error = (await r.json())["error"]
    assert ("no such camera" in error and "unknown kind" not in error) or "nope" in error
    assert sim.faults() == {}
    async with http.post("/faults", data=b"{not json") as r:
        assert r.status == 400
        assert "not JSON" in (await r.json())["error"]
    async with http.post("/faults", json=[one]) as r:
        assert r.status == 400
    async with http.delete("/faults/41990100001320999999") as r:
        assert r.status == 404


async def test_body_over_the_cap_is_413(api: tuple[str, aiohttp.ClientSession]) -> None:
    _, http = api
    async with http.post("/faults", data=b" " * (MAX_BODY_BYTES + 10)) as r:
        assert r.status == 413


async def test_cameras_and_healthz_never_show_passwords(
    sim: Simulator, api: tuple[str, aiohttp.ClientSession]
) -> None:
    _, http = api
    sim.set_faults({sim.cameras[0].id: "replaced"})
    async with http.get("/cameras") as r:
        assert r.status == 200
        text = await r.text()
        cameras = await r.json()
    assert "pw-1" not in text
    assert "password" not in text
    assert [c["id"] for c in cameras] == [c.id for c in sim.cameras]
    first = cameras[0]
    assert first["fault"] == {"kind": "replaced"}
    assert first["listening"] is True
    assert first["rtsp_url"] == f"rtsp://{first['host']}:18554/Streaming/Channels/101"
    assert first["snapshot_url"].endswith(":18080/snapshot.jpg")
    async with http.get("/healthz") as r:
        health = await r.json()
    assert health["status"] == "ok"
    assert health["cameras"] == 3
    assert "flapping" in health["kinds"]


@pytest.mark.parametrize("listen", ["0.0.0.0:9554", "192.168.1.2:80", "localhost:9554", "9554"])
def test_control_address_must_be_loopback(listen: str) -> None:
    with pytest.raises(SimulatorError):
        parse_listen(listen)
