"""Every fault kind, observed the way a plain client (socket, HTTP, SOAP) would see it."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import itertools
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from lxml import etree

from bridge.simulator import FaultError, SimCamera, Simulator, serial_for
from tests.bridge.simulator.conftest import describe_with_auth, exchange, rtsp_request
from tests.bridge.simulator.test_onvif import DEVICE, device_url, soap, username_token

Make = Callable[..., list[SimCamera]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def can_connect(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    except ConnectionRefusedError:
        return False
    writer.close()
    return True


async def options_status(camera: SimCamera, timeout_s: float = 2.0) -> int:
    reply = await exchange(
        camera.host, camera.rtsp_port, rtsp_request("OPTIONS", "*", 1), timeout_s
    )
    return reply.status


async def device_info(http: aiohttp.ClientSession, camera: SimCamera) -> tuple[int, bytes]:
    body = soap("GetDeviceInformation", DEVICE, username_token("admin", camera.password or ""))
    async with http.post(device_url(camera), data=body) as response:
        return response.status, await response.read()


async def test_down_refuses_both_ports_until_cleared(sim: Simulator) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: "down"})
    assert not await can_connect(camera.host, camera.rtsp_port)
    assert not await can_connect(camera.host, camera.onvif_port)
    assert await can_connect(sim.cameras[1].host, camera.rtsp_port)  # the others still serve
    assert sim.clear_fault(camera.id) is True
    await asyncio.wait_for(sim.settle(), 5)
    assert await options_status(camera) == 200
    assert await can_connect(camera.host, camera.onvif_port)


async def test_down_from_the_start(make_cameras: Make) -> None:
    cameras = make_cameras(2)
    async with Simulator(cameras, faults={cameras[0].id: "down"}) as sim:
        assert not await can_connect(cameras[0].host, cameras[0].rtsp_port)
        assert await options_status(cameras[1]) == 200
        assert sim.faults()[cameras[0].id].kind == "down"


async def test_blackhole_accepts_and_never_answers(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: "blackhole"})
    with pytest.raises(TimeoutError):
        await options_status(camera, timeout_s=0.5)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await device_info(http, camera)


async def test_slow_delays_every_reply(sim: Simulator) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: {"kind": "slow", "latency_ms": 600}})
    start = time.monotonic()
    assert await options_status(camera) == 200
    assert time.monotonic() - start >= 0.59
    start = time.monotonic()
    assert await options_status(sim.cameras[1]) == 200  # the others are not held up
    assert time.monotonic() - start < 0.5


async def test_auth_fail_rejects_the_right_credentials(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: "auth_fail"})
    assert (await describe_with_auth(camera)).status == 401
    status, body = await device_info(http, camera)
    assert status == 400
    assert b"NotAuthorized" in body
    async with http.get(f"http://{camera.host}:{camera.onvif_port}/snapshot.jpg") as response:
        assert response.status == 401


async def test_rtsp_500_fails_describe_only(sim: Simulator) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: "rtsp_500"})
    assert await options_status(camera) == 200
    assert (await describe_with_auth(camera)).status == 500


async def test_no_video_track_gives_audio_only_sdp(sim: Simulator) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: "no_video_track"})
    reply = await describe_with_auth(camera)
    assert reply.status == 200
    assert b"m=audio" in reply.body
    assert b"m=video" not in reply.body


async def test_bad_xml_is_not_well_formed(sim: Simulator, http: aiohttp.ClientSession) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: "bad_xml"})
    async with http.post(device_url(camera), data=soap("GetSystemDateAndTime", DEVICE)) as r:
        assert r.status == 200
        body = await r.read()
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(body)


async def test_xml_bomb_carries_a_dtd(sim: Simulator, http: aiohttp.ClientSession) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: "xml_bomb"})
    status, body = await device_info(http, camera)
    assert status == 200
    assert b"<!DOCTYPE" in body
    assert body.count(b"<!ENTITY") == 10
    assert len(body) < 4096
    # a real billion laughs: even lxml with entities off refuses it (amplification guard)
    safe = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    with pytest.raises(etree.XMLSyntaxError, match="amplification"):
        etree.fromstring(body, safe)


async def test_huge_body_declares_and_streams_megabytes(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: {"kind": "huge_body", "mb": 3}})
    body = soap("GetSystemDateAndTime", DEVICE)
    async with http.post(device_url(camera), data=body) as response:
        assert response.status == 200
        assert int(response.headers["Content-Length"]) == 3 * 1024 * 1024
        received = 0
        async for chunk in response.content.iter_chunked(65536):
            received += len(chunk)
    assert received == 3 * 1024 * 1024
    # a client that gives up after 64 KiB leaves the simulator serving others
    reader, writer = await asyncio.open_connection(camera.host, camera.onvif_port)
    writer.write(
        f"POST /onvif/device_service HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await reader.readexactly(65536)
    writer.close()
    assert await options_status(sim.cameras[1]) == 200


async def test_huge_body_default_is_100_mb_without_building_it(sim: Simulator) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: "huge_body"})
    body = soap("GetSystemDateAndTime", DEVICE)
    reader, writer = await asyncio.open_connection(camera.host, camera.onvif_port)
    try:
        writer.write(
            f"POST /onvif/device_service HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    assert b"Content-Length: 104857600" in head


async def test_clock_drift_offsets_the_device_clock(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: {"kind": "clock_drift", "offset_s": 3600}})
    async with http.post(device_url(camera), data=soap("GetSystemDateAndTime", DEVICE)) as r:
        root = etree.fromstring(await r.read())
    tt = "{http://www.onvif.org/ver10/schema}"
    utc = root.find(f".//{tt}UTCDateTime")
    assert utc is not None

    def part(name: str) -> int:
        return int(utc.findtext(f".//{tt}{name}") or 0)

    device = dt.datetime(
        part("Year"), part("Month"), part("Day"), part("Hour"), part("Minute"), part("Second"),
        tzinfo=dt.UTC,
    )  # fmt: skip
    offset = (device - dt.datetime.now(dt.UTC)).total_seconds()
    assert 3590 < offset < 3610
    reply = await exchange(camera.host, camera.rtsp_port, rtsp_request("OPTIONS", "*", 1))
    rtsp_clock = email.utils.parsedate_to_datetime(reply.headers["date"])
    assert 3590 < (rtsp_clock - dt.datetime.now(dt.UTC)).total_seconds() < 3610


async def test_replaced_reports_another_serial(sim: Simulator, http: aiohttp.ClientSession) -> None:
    camera = sim.cameras[0]
    status, before = await device_info(http, camera)
    assert camera.serial.encode() in before
    sim.set_faults({camera.id: "replaced"})
    status, after = await device_info(http, camera)
    assert status == 200
    assert camera.serial.encode() not in after
    assert serial_for(camera.id, replaced=True).encode() in after


async def test_flapping_alternates_refused_and_served(sim: Simulator) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: {"kind": "flapping", "period_s": 0.25}})
    seen: list[bool] = []
    for _ in range(30):
        seen.append(await can_connect(camera.host, camera.rtsp_port))
        await asyncio.sleep(0.05)
    assert seen[0] is False  # starts down
    changes = sum(1 for a, b in itertools.pairwise(seen) if a != b)
    assert True in seen
    assert changes >= 3
    sim.clear_fault(camera.id)
    await asyncio.wait_for(sim.settle(), 5)
    await asyncio.sleep(0.3)  # past the next would-be flip: it must not happen
    assert await options_status(camera) == 200


async def test_invalid_faults_apply_nothing(sim: Simulator) -> None:
    camera = sim.cameras[0]
    with pytest.raises(FaultError):
        sim.set_faults({camera.id: "down", "41990100001320999999": "down"})
    assert sim.faults() == {}
    assert await options_status(camera) == 200


async def test_a_new_fault_replaces_the_old_one(sim: Simulator) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: "down"})
    sim.set_faults({camera.id: "rtsp_500"})
    await asyncio.wait_for(sim.settle(), 5)
    assert await options_status(camera) == 200
    assert (await describe_with_auth(camera)).status == 500
    assert sim.clear_faults() == 1
    assert sim.faults() == {}


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def test_huge_body_is_streamed_not_built(sim: Simulator) -> None:
    camera = sim.cameras[0]
    sim.set_faults({camera.id: {"kind": "huge_body", "mb": 64}})
    body = soap("GetSystemDateAndTime", DEVICE)
    before = rss_kib()
    reader, writer = await asyncio.open_connection(camera.host, camera.onvif_port)
    try:
        writer.write(
            f"POST /onvif/device_service HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await reader.readuntil(b"\r\n\r\n")
        received = 0
        async with asyncio.timeout(30):
            while received < 64 * 1024 * 1024:
                chunk = await reader.read(1 << 20)
                assert chunk
                received += len(chunk)
    finally:
        writer.close()
    assert received == 64 * 1024 * 1024
    assert rss_kib() - before < 16 * 1024  # 64 MiB went through; far less stayed


async def test_faults_set_before_start_are_applied(make_cameras: Make) -> None:
    cameras = make_cameras(2)
    sim = Simulator(cameras, faults={cameras[1].id: "rtsp_500"})
    sim.set_faults({cameras[0].id: "down"})
    async with sim:
        assert not await can_connect(cameras[0].host, cameras[0].rtsp_port)
        assert set(sim.faults()) == {cameras[0].id, cameras[1].id}
