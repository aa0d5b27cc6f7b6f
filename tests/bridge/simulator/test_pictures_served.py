"""Pictures as clients get them: a street per camera, live each second, every picture fault in
the snapshot and in the RTSP stream, set and cleared through the control API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import cv2
import numpy as np
import pytest

from bridge.simulator import ControlServer, SimCamera, Simulator
from bridge.simulator.faults import PICTURE_KINDS
from tests.bridge.simulator.conftest import describe_with_auth, fetch_snapshot
from tests.bridge.simulator.rtsp_client import grab, stream_url

Make = Callable[..., list[SimCamera]]
T0 = 1_750_000_000.25
Image = np.ndarray


@pytest.fixture(autouse=True)
def tcp_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")


def decode(jpeg: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def grey(image: Image) -> Image:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def difference(a: Image, b: Image) -> float:
    return float(cv2.absdiff(a, b).mean())


def edges(image: Image) -> float:
    return float((cv2.Canny(grey(image), 100, 200) > 0).mean())


def laplacian(image: Image) -> float:
    return float(cv2.Laplacian(grey(image), cv2.CV_64F).var())


def cast(image: Image) -> float:
    """K = D / M of the Lab a/b planes (DESIGN §5: a colour cast when K > 1.5)."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    a, b = lab[..., 1] - 128, lab[..., 2] - 128
    spread = np.hypot(np.abs(a - a.mean()).mean(), np.abs(b - b.mean()).mean())
    return float(np.hypot(a.mean(), b.mean()) / max(spread, 1e-6))


def uniform_share(image: Image) -> float:
    _, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
    return float(counts.max() / (image.shape[0] * image.shape[1]))


# What each kind does to the picture, judged against the healthy one of the same camera.
EXPECT: dict[str, Callable[[Image, Image], bool]] = {
    "black": lambda f, h: grey(f).mean() < 20,
    "frozen": lambda f, h: difference(f, h) == 0,  # the frame of the moment it was set
    "blur": lambda f, h: edges(f) < 0.3 * edges(h),
    "occluded": lambda f, h: (cv2.absdiff(f, h).max(axis=2) > 40).mean() > 0.25,
    "color_cast": lambda f, h: cast(f) > max(1.5, 2 * cast(h)),
    "too_dark": lambda f, h: grey(f).mean() < 30,
    "too_bright": lambda f, h: grey(f).mean() > 220,
    "noise": lambda f, h: laplacian(f) > 10 * laplacian(h),
    "no_signal": lambda f, h: uniform_share(f) > 0.9,
    "scene_changed": lambda f, h: difference(f, h) > 25 and grey(f).std() > 25,
    "night_ir": lambda f, h: float(cv2.absdiff(f[..., 0], f[..., 2]).mean()) < 6,  # grey
}


def test_every_kind_has_an_expectation() -> None:
    assert set(EXPECT) == {*PICTURE_KINDS, "night_ir"}


async def test_each_camera_has_its_own_street_alive_each_second(make_cameras: Make) -> None:
    clock = [T0]
    async with Simulator(make_cameras(3, username=None), clock=lambda: clock[0]) as sim:
        pictures = [decode(await fetch_snapshot(c)) for c in sim.cameras]
        first = await fetch_snapshot(sim.cameras[0])
        clock[0] += 1
        second = await fetch_snapshot(sim.cameras[0])
    for i, a in enumerate(pictures):
        assert a.shape == (720, 1280, 3)
        assert grey(a).std() > 25  # a scene, not a flat field
        for b in pictures[i + 1 :]:
            assert difference(a, b) > 15
    assert first != second  # sensor noise and the OSD clock change every second
    assert difference(decode(first), decode(second)) < 5  # the same view


async def test_a_scene_pool_shares_streets(make_cameras: Make) -> None:
    async with Simulator(make_cameras(2, username=None), scene_pool=1, clock=lambda: T0) as sim:
        one, two = [decode(await fetch_snapshot(c)) for c in sim.cameras]
    assert difference(one, two) < 5  # one street, each camera its own noise and OSD


@pytest.mark.parametrize("kind", sorted(EXPECT))
async def test_each_picture_kind_in_the_snapshot(make_cameras: Make, kind: str) -> None:
    clock = [T0]
    async with Simulator(make_cameras(1, username=None), clock=lambda: clock[0]) as sim:
        camera = sim.cameras[0]
        healthy = await fetch_snapshot(camera)
        sim.set_faults({camera.id: kind})
        faulty = await fetch_snapshot(camera)
        clock[0] += 3
        later = await fetch_snapshot(camera)
        sim.clear_fault(camera.id)
        recovered = await fetch_snapshot(camera)
    assert EXPECT[kind](decode(faulty), decode(healthy)), kind
    if kind in ("frozen", "no_signal"):
        assert later == faulty  # the same bytes, seconds later
    else:
        assert later != faulty
        assert EXPECT[kind](decode(later), decode(healthy)), kind
    assert difference(decode(recovered), decode(healthy)) < 5


async def test_strength_scales_a_fault(make_cameras: Make) -> None:
    async with Simulator(make_cameras(1, username=None), clock=lambda: T0) as sim:
        camera = sim.cameras[0]
        healthy = decode(await fetch_snapshot(camera))
        changed = []
        for strength in (0.1, 1.0):
            sim.set_faults({camera.id: {"kind": "occluded", "strength": strength}})
            picture = decode(await fetch_snapshot(camera))
            changed.append(float((cv2.absdiff(picture, healthy).max(axis=2) > 40).mean()))
    assert changed[0] < changed[1]


async def test_picture_faults_leave_the_control_answers_healthy(make_cameras: Make) -> None:
    async with Simulator(make_cameras(1)) as sim:
        camera = sim.cameras[0]
        for kind in EXPECT:
            sim.set_faults({camera.id: kind})
            reply = await describe_with_auth(camera)
            assert reply.status == 200
            assert b"m=video 0 RTP/AVP 26" in reply.body
        sim.set_faults({camera.id: "no_signal"})
        (frame,) = await asyncio.to_thread(grab, stream_url(camera))
    assert uniform_share(frame) > 0.85  # the stream opens; the picture is the vendor screen


async def test_faults_through_the_control_api_reach_stream_and_snapshot(
    make_cameras: Make,
) -> None:
    clock = [T0]
    async with Simulator(make_cameras(2), clock=lambda: clock[0]) as sim:
        control = ControlServer(sim, "127.0.0.1:0")
        await control.start()
        camera = sim.cameras[0]
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                (before,) = await asyncio.to_thread(grab, stream_url(camera))
                body = {camera.id: "frozen", sim.cameras[1].id: {"kind": "black"}}
                async with http.post(f"{control.url}/faults", json=body) as response:
                    assert response.status == 200
                clock[0] += 5
                (frozen,) = await asyncio.to_thread(grab, stream_url(camera))
                (black,) = await asyncio.to_thread(grab, stream_url(sim.cameras[1]))
                black_snapshot = decode(await fetch_snapshot(sim.cameras[1]))
                async with http.delete(f"{control.url}/faults/{camera.id}") as response:
                    assert (await response.json()) == {"cleared": True}
                clock[0] += 5
                (alive,) = await asyncio.to_thread(grab, stream_url(camera))
        finally:
            await control.close()
    assert np.array_equal(frozen, before)  # the frame of the moment the fault was set
    assert grey(black).mean() < 20
    assert grey(black_snapshot).mean() < 20
    assert not np.array_equal(alive, before)
    assert difference(alive, before) < 5


async def test_a_slow_camera_delays_its_picture_too(make_cameras: Make) -> None:
    async with Simulator(make_cameras(1, username=None)) as sim:
        camera = sim.cameras[0]
        sim.set_faults({camera.id: {"kind": "slow", "latency_ms": 300}})
        loop = asyncio.get_running_loop()
        started = loop.time()
        picture = decode(await fetch_snapshot(camera))  # rendered off the loop, then delayed
        assert loop.time() - started >= 0.3
        head = f"HEAD /snapshot.jpg HTTP/1.1\r\nHost: {camera.host}\r\n\r\n".encode()
        reader, writer = await asyncio.open_connection(camera.host, camera.onvif_port)
        try:
            writer.write(head)
            reply = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        finally:
            writer.close()
    assert picture.shape == (720, 1280, 3)
    assert b"Content-Type: image/jpeg" in reply
    assert b"Content-Length: 0\r\n" not in reply  # HEAD says the picture's length
