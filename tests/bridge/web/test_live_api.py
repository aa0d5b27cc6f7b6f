"""``GET /api/cameras/{id}/live.mjpeg`` over a real aiohttp server on loopback, read by a real
aiohttp client, the pictures decoded from the simulator's RTSP streams by the real hub.

Who asks is set by a test middleware (``X-Test-User``), standing in for the auth middleware:
what is tested here is what the endpoint does with the principal.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from bridge.bus.topics import GridPath
from bridge.jpeg import jpeg_dimensions
from bridge.live import LiveConfig, LiveHub
from bridge.web import live_api
from bridge.web.context import set_principal
from bridge.web.principal import Principal, Role
from tests.bridge.live_sim import PASSWORD, LiveSim, eventually, live_sim

GRID_A = GridPath("419901001", "419901001001", "419901001001001")
GRID_B = GridPath("419901002", "419901002001", "419901002001001")
USERS = {
    "admin": Principal("admin", Role.ADMIN),
    "op-a": Principal("op-a", Role.OPERATOR, GRID_A.village),
    "op-b": Principal("op-b", Role.OPERATOR, GRID_B.grid),
    "crew": Principal("crew", Role.CREW),
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def principal_from_header(request: web.Request, handler: Handler) -> web.StreamResponse:
    user = USERS.get(request.headers.get("X-Test-User", ""))
    if user is not None:
        set_principal(request, user)
    return await handler(request)


class Sources:
    """Cameras of the simulator, all in grid A."""

    def __init__(self, sim: LiveSim) -> None:
        self.sim = sim
        self.by_id = {c.id: c for c in sim.cameras}

    def paths_of(self, camera_id: str) -> Sequence[GridPath] | None:
        return (GRID_A,) if camera_id in self.by_id else None

    async def rtsp_url(self, camera_id: str) -> str | None:
        return self.sim.url(self.by_id[camera_id])


@dataclass
class Site:
    base: str
    hub: LiveHub
    sim: LiveSim

    def live(self, n: int = 0) -> str:
        return f"{self.base}/api/cameras/{self.sim.cameras[n].id}/live.mjpeg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def site(cameras: int = 1, **config: object) -> AsyncIterator[Site]:
    values: dict[str, object] = {"open_timeout_ms": 3000, "read_timeout_ms": 3000}
    values.update(config)
    async with live_sim(cameras) as sim, LiveHub(LiveConfig(**values)) as hub:  # type: ignore[arg-type]
        app = web.Application(middlewares=[principal_from_header])
        live_api.setup(app, hub, Sources(sim))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield Site(f"http://127.0.0.1:{port}", hub, sim)
        finally:
            await runner.cleanup()


def as_user(name: str) -> dict[str, str]:
    return {"X-Test-User": name}


async def read_part(response: aiohttp.ClientResponse, boundary: str) -> bytes:
    """One part of a multipart/x-mixed-replace body: checks its headers, returns the JPEG."""
    content = response.content
    async with asyncio.timeout(10):
        line = await content.readline()
        while line == b"\r\n":  # the CRLF ending the previous part
            line = await content.readline()
        assert line == f"--{boundary}\r\n".encode(), line
        headers: dict[str, str] = {}
        while (line := await content.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        return await content.readexactly(int(headers["content-length"]))


def boundary_of(response: aiohttp.ClientResponse) -> str:
    kind, _, params = response.headers["Content-Type"].partition(";")
    assert kind == "multipart/x-mixed-replace"
    name, _, value = params.strip().partition("=")
    assert name == "boundary"
    return value


async def test_a_viewer_gets_jpeg_parts_and_leaving_releases_the_stream() -> None:
    async with site(grace_s=1.0) as s, aiohttp.ClientSession() as client:
        async with client.get(s.live(), headers=as_user("op-a")) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            boundary = boundary_of(response)
            started = time.monotonic()
            pictures = [await read_part(response, boundary) for _ in range(6)]
            elapsed = time.monotonic() - started
            assert s.hub.viewers == 1
        # 6 parts at <= 5 fps take at least 5 frame times (the first comes at once).
        assert elapsed >= 5 * 0.2 * 0.8
        for jpeg in pictures:
            assert jpeg[:2] == b"\xff\xd8"
            assert jpeg_dimensions(jpeg) == (640, 360)
        # The client closed mid-stream: its subscription is released, then the decoder.
        await eventually(lambda: s.hub.viewers == 0, 5, "viewer released")
        await eventually(lambda: s.hub.streams == 0, 5, "decoder stopped after grace")
        await eventually(lambda: s.sim.sessions == 0, 5, "RTSP session closed")
        assert s.hub.stats().frames_sent >= 6


async def test_viewers_of_one_camera_share_its_decoder() -> None:
    async with site() as s, aiohttp.ClientSession() as client:

        async def watch(user: str) -> None:
            async with client.get(s.live(), headers=as_user(user)) as response:
                assert response.status == 200
                boundary = boundary_of(response)
                for _ in range(3):
                    await read_part(response, boundary)

        await asyncio.gather(watch("admin"), watch("op-a"), watch("op-a"))
        assert s.hub.stats().decoders_started == 1


async def test_the_cap_refuses_the_next_camera_with_503_and_a_message() -> None:
    async with site(cameras=2, max_streams=1) as s, aiohttp.ClientSession() as client:
        async with client.get(s.live(0), headers=as_user("admin")) as first:
            assert first.status == 200
            await read_part(first, boundary_of(first))
            async with client.get(s.live(1), headers=as_user("admin")) as second:
                assert second.status == 503
                assert second.headers["Retry-After"].isdigit()
                assert await second.json() == {
                    "error": "实时画面路数已满（最多 1 路），请稍后再试 / "
                    "live view limit reached (1 streams), try again later"
                }
            # Another viewer of the camera already streaming is no new stream: welcome.
            async with client.get(s.live(0), headers=as_user("op-a")) as more:
                assert more.status == 200
        assert s.hub.stats().refusals == {"streams": 1}


async def test_a_camera_whose_stream_is_down_answers_502_quickly() -> None:
    async with site(open_timeout_ms=2000) as s, aiohttp.ClientSession() as client:
        s.sim.sim.set_faults({s.sim.cameras[0].id: "down"})
        await s.sim.sim.settle()
        started = time.monotonic()
        async with client.get(s.live(), headers=as_user("admin")) as response:
            body = await response.text()
            assert response.status == 502
        assert time.monotonic() - started < 2.0
        assert response.headers["Content-Type"].startswith("application/json")
        assert "无法连接摄像机的视频流" in body
        assert "cannot reach the camera's video stream" in body
        for secret in ("rtsp://", PASSWORD, s.sim.cameras[0].host):
            assert secret not in body
        assert s.hub.viewers == 0


@pytest.mark.parametrize(
    ("user", "camera", "status"),
    [
        ("op-b", "sim", 404),  # an operator of another grid: as if it did not exist
        ("crew", "sim", 403),  # crews have no live view
        ("admin", "41990100011326009999", 404),  # no such camera
        (None, "sim", 401),
    ],
)
async def test_scoping(user: str | None, camera: str, status: int) -> None:
    async with site() as s, aiohttp.ClientSession() as client:
        camera_id = s.sim.cameras[0].id if camera == "sim" else camera
        headers = as_user(user) if user else {}
        url = f"{s.base}/api/cameras/{camera_id}/live.mjpeg"
        async with client.get(url, headers=headers) as response:
            assert response.status == status
        assert s.hub.stats().decoders_started == 0  # refused before any decoder started


async def test_a_viewing_ends_after_its_time_limit() -> None:
    async with site(max_view_s=1.0) as s, aiohttp.ClientSession() as client:
        started = time.monotonic()
        async with client.get(s.live(), headers=as_user("admin")) as response:
            assert response.status == 200
            body = await asyncio.wait_for(response.read(), 10)  # to the end of the answer
        assert 1.0 <= time.monotonic() - started < 4.0
        assert body.count(b"Content-Type: image/jpeg") >= 4
        await eventually(lambda: s.hub.viewers == 0, 2, "viewer released")
