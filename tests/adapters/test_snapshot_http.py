"""fetch_snapshot against real HTTP servers on 127.0.0.1:0 (aiohttp), well-behaved and hostile,
and against the project's camera simulator; jpeg_size on real, crafted and broken JPEGs.

The Digest check of the test camera is written here from RFC 7616, independently of
``adapters.http_auth``, so the tests do not only agree with themselves.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import re
import secrets
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import aiohttp
import cv2
import numpy as np
import pytest
from aiohttp import web

from adapters.errors import AuthFailed, ProbeTimeout, ProtocolFailure, Unreachable
from adapters.snapshot_http import AuthMemory, JpegError, Snapshot, fetch_snapshot, jpeg_size
from bridge.simulator import AuthMode, SimCamera, Simulator, serial_for

USER = "admin"
PASSWORD = "pa:ss@w#rd"
REALM = "Login to 2J0123456"
TIMEOUT_S = 5.0
SLACK_S = 1.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[..., Awaitable[str]]


def make_jpeg(width: int = 320, height: int = 240, **params: int) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (40, 180, 220)
    flags = [int(x) for pair in params.items() for x in (getattr(cv2, pair[0]), pair[1])]
    ok, data = cv2.imencode(".jpg", image, flags)
    assert ok
    return bytes(data.tobytes())


JPEG = make_jpeg()


def huge_sof(width: int, height: int) -> bytes:
    """SOI, an APP0, a SOF0 declaring ``width`` x ``height``: a header, no picture."""
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0\x00\x11\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big")
    sof += b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``base = await serve(handler, path="/snapshot.jpg")``: an aiohttp server on
    127.0.0.1:0 serving ``handler`` for GET on every path; ``base`` is its http URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handler)
        runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def dead_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        yield sock.getsockname()[1]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@dataclass
class Camera:
    """A snapshot endpoint with Basic or Digest (qop=auth, MD5) and a request log."""

    auth: str = "digest"  # none | basic | digest | bearer
    password: str = PASSWORD
    nonce_single_use: bool = False
    body: bytes = JPEG
    statuses: list[int] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    _nonces: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization")
        self.authorizations.append(header)
        if self.auth != "none" and not self.allowed(request, header):
            self.statuses.append(401)
            return web.Response(status=401, headers=self.challenge(), text="Unauthorized")
        self.statuses.append(200)
        return web.Response(body=self.body, content_type="image/jpeg")

    def challenge(self) -> dict[str, str]:
        if self.auth == "basic":
            return {"WWW-Authenticate": f'Basic realm="{REALM}"'}
        if self.auth == "bearer":
            return {"WWW-Authenticate": 'Bearer realm="x"'}
        nonce = secrets.token_hex(16)
        self._nonces.add(nonce)
        return {"WWW-Authenticate": f'Digest realm="{REALM}", qop="auth", nonce="{nonce}"'}

    def allowed(self, request: web.Request, header: str | None) -> bool:
        if header is None:
            return False
        if self.auth == "basic":
            good = base64.b64encode(f"{USER}:{self.password}".encode()).decode()
            return header == f"Basic {good}"
        if self.auth != "digest" or not header.startswith("Digest "):
            return False
        p = {m[0]: m[1] or m[2] for m in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', header)}
        if p.get("nonce") not in self._nonces or p.get("uri") != request.path_qs:
            return False
        ha1 = md5(f"{USER}:{REALM}:{self.password}")
        ha2 = md5(f"GET:{p['uri']}")
        expected = md5(f"{ha1}:{p['nonce']}:{p.get('nc')}:{p.get('cnonce')}:auth:{ha2}")
        if p.get("username") != USER or p.get("response") != expected:
            return False
        if self.nonce_single_use:
            self._nonces.discard(p["nonce"])
        return True


async def fetch(
    http: aiohttp.ClientSession, url: str, password: str | None = PASSWORD, **kw: object
) -> Snapshot:
    kw.setdefault("timeout_s", TIMEOUT_S)
    kw.setdefault("auth_memory", AuthMemory())
    return await fetch_snapshot(
        http,
        url,
        username=USER if password is not None else None,
        password=password,
        **kw,  # type: ignore[arg-type]
    )


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["none", "basic", "digest"])
async def test_fetch_and_remember_what_worked(
    serve: Serve, http: aiohttp.ClientSession, auth: str
) -> None:
    camera = Camera(auth=auth)
    url = await serve(camera.handle) + "/snapshot.jpg"
    memory = AuthMemory()
    shot = await fetch(http, url, auth_memory=memory)
    assert (shot.width, shot.height, shot.jpeg) == (320, 240, JPEG)
    assert shot.latency_ms > 0
    if auth == "none":
        assert camera.statuses == [200]
        return
    assert camera.statuses == [401, 200]
    camera.statuses.clear()
    for _ in range(3):  # later fetches answer at once: one request each
        await fetch(http, url, auth_memory=memory)
    assert camera.statuses == [200, 200, 200]
    if auth == "digest":
        assert [re.search(r"nc=(\w+)", a or "")[1] for a in camera.authorizations[-3:]] == [  # type: ignore[index]
            "00000002",
            "00000003",
            "00000004",
        ]


async def test_a_refused_remembered_nonce_costs_one_more_request(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    camera = Camera(nonce_single_use=True)
    url = await serve(camera.handle) + "/snap"
    memory = AuthMemory()
    await fetch(http, url, auth_memory=memory)
    await fetch(http, url, auth_memory=memory)
    assert camera.statuses == [401, 200, 401, 200]


@pytest.mark.parametrize("auth", ["basic", "digest"])
async def test_wrong_password_is_auth_failed_and_never_shown(
    serve: Serve, http: aiohttp.ClientSession, auth: str
) -> None:
    camera = Camera(auth=auth)
    url = await serve(camera.handle) + "/snapshot.jpg"
    with pytest.raises(AuthFailed, match="rejected") as info:
        await fetch(http, url, password="Wr0ng#Secret")
    assert "Wr0ng" not in f"{info.value!s} {info.value!r}"
    assert camera.statuses == [401, 401]


async def test_401_without_credentials_or_with_an_unknown_scheme(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    url = await serve(Camera().handle) + "/snapshot.jpg"
    with pytest.raises(AuthFailed, match="no credentials"):
        await fetch(http, url, password=None)
    url = await serve(Camera(auth="bearer").handle) + "/snapshot.jpg"
    with pytest.raises(AuthFailed, match="unsupported authentication \\(bearer\\)"):
        await fetch(http, url)


# --- statuses, redirects, bodies -----------------------------------------------------------


async def test_other_status_is_protocol_failure_with_status(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy")

    url = await serve(handler) + "/snapshot.jpg"
    with pytest.raises(ProtocolFailure, match="HTTP 503") as info:
        await fetch(http, url)
    assert info.value.status == 503


async def test_redirects_followed_only_on_the_same_host_and_port(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    camera = Camera()
    base = await serve(camera.handle)
    elsewhere = await serve(camera.handle)

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/away":
            raise web.HTTPFound(elsewhere + "/snapshot.jpg")
        if request.path == "/loop":
            raise web.HTTPFound("/loop")
        raise web.HTTPFound(f"/cgi-bin/snapshot.cgi?{request.path.strip('/')}")

    base = await serve(handler)
    with pytest.raises(ProtocolFailure, match="another host or port") as info:
        await fetch(http, base + "/away")
    assert info.value.status == 302
    assert camera.statuses == []  # never asked
    with pytest.raises(ProtocolFailure, match="too many redirects"):
        await fetch(http, base + "/loop")


async def test_same_origin_redirect_is_followed_with_auth(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    camera = Camera()

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/snapshot.jpg":
            raise web.HTTPMovedPermanently("/cgi-bin/snapshot.cgi?channel=1")
        return await camera.handle(request)

    url = await serve(handler) + "/snapshot.jpg"
    shot = await fetch(http, url)
    assert shot.width == 320
    assert camera.statuses == [401, 200]


async def test_content_length_over_the_cap_is_refused_before_reading(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(10**12)})
        await response.prepare(request)
        await response.write(b"\xff\xd8")
        await asyncio.sleep(30)  # would only end at the deadline if the client waited
        return response

    url = await serve(handler) + "/snapshot.jpg"
    started = time.monotonic()
    with pytest.raises(ProtocolFailure, match="1000000000000 bytes refused"):
        await fetch(http, url)
    assert time.monotonic() - started < 1.0


async def test_endless_chunked_body_stops_at_the_cap(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    sent = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"\xff\xd8" + bytes(65534)
        while True:
            await response.write(chunk)
            sent += len(chunk)

    url = await serve(handler) + "/snapshot.jpg"
    with pytest.raises(ProtocolFailure, match="over 1048576 bytes refused"):
        await fetch(http, url, max_bytes=1 << 20)
    await asyncio.sleep(0.2)
    assert sent < 16 << 20  # the client hung up instead of draining


async def test_gzip_bomb_is_capped_after_decompression(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    zeros = bytes(1 << 20)
    bomb = packer.compress(b"\xff\xd8") + b"".join(packer.compress(zeros) for _ in range(128))
    bomb += packer.flush()  # 128 MiB of zeros in ~128 KiB: 16 times the cap

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    url = await serve(handler) + "/snapshot.jpg"
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolFailure, match="over 8388608 bytes refused"):
            await fetch(http, url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>Login required</html>", "not a JPEG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated"),
        (huge_sof(60_000, 60_000), "60000x60000 refused"),
        (huge_sof(0, 1080), "0x1080"),
    ],
)
async def test_bodies_that_are_not_a_usable_jpeg(
    serve: Serve, http: aiohttp.ClientSession, body: bytes, match: str
) -> None:
    url = await serve(Camera(auth="none", body=body).handle) + "/snapshot.jpg"
    with pytest.raises(ProtocolFailure, match=match) as info:
        await fetch(http, url)
    assert info.value.status == 200


async def test_max_pixels_applies_to_an_ordinary_jpeg(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    url = await serve(Camera(auth="none").handle) + "/snapshot.jpg"
    with pytest.raises(ProtocolFailure, match="320x240 refused"):
        await fetch(http, url, max_pixels=320 * 240 - 1)
    assert (await fetch(http, url, max_pixels=320 * 240)).height == 240


# --- deadlines and connections ------------------------------------------------------------


async def test_silent_server_ends_at_the_deadline(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(body=JPEG)

    url = await serve(handler) + "/snapshot.jpg"
    started = time.monotonic()
    with pytest.raises(ProbeTimeout, match=r"within 0\.7 s"):
        await fetch(http, url, timeout_s=0.7)
    assert 0.65 <= time.monotonic() - started <= 0.7 + SLACK_S


async def test_dripping_body_ends_at_the_deadline(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(len(JPEG))})
        await response.prepare(request)
        for i in range(len(JPEG)):
            await response.write(JPEG[i : i + 1])
            await asyncio.sleep(0.3)
        return response

    url = await serve(handler) + "/snapshot.jpg"
    started = time.monotonic()
    with pytest.raises(ProbeTimeout):
        await fetch(http, url, timeout_s=1.0)
    assert time.monotonic() - started <= 1.0 + SLACK_S


async def test_refused_port_is_unreachable(http: aiohttp.ClientSession, dead_port: int) -> None:
    with pytest.raises(Unreachable, match="cannot connect"):
        await fetch(http, f"http://127.0.0.1:{dead_port}/snapshot.jpg")


async def test_urls_with_credentials_or_other_schemes_are_refused(
    http: aiohttp.ClientSession,
) -> None:
    for url in ("http://admin:secret@127.0.0.1:1/x.jpg", "ftp://127.0.0.1/x.jpg", "/x.jpg"):
        with pytest.raises(ProtocolFailure) as info:
            await fetch(http, url)
        assert "secret" not in str(info.value)


# --- the project's camera simulator -------------------------------------------------------


@pytest.mark.parametrize("auth", [AuthMode.DIGEST, AuthMode.DIGEST_QOP, AuthMode.BASIC])
async def test_simulator_snapshot(http: aiohttp.ClientSession, auth: AuthMode) -> None:
    host = f"127.32.{random.randrange(1, 250)}.{random.randrange(1, 250)}"
    camera = SimCamera(
        id="41990100001320000001",
        name="测试点位",
        host=host,
        rtsp_port=18554,
        onvif_port=18080,
        username=USER,
        password=PASSWORD,
        serial=serial_for("41990100001320000001"),
        auth=auth,
    )
    async with Simulator([camera]) as sim:
        url = f"http://{host}:{camera.onvif_port}/snapshot.jpg"
        memory = AuthMemory()
        shot = await fetch(http, url, auth_memory=memory)
        assert (shot.width, shot.height) == (1280, 720)
        again = await fetch(http, url, auth_memory=memory)
        assert again.width == 1280
        assert sim.requests["http"] == 3  # 401 + 200, then one preemptive request
        with pytest.raises(AuthFailed):
            await fetch(http, url, password="wrong")


# --- jpeg_size ----------------------------------------------------------------------------


def test_jpeg_size_of_real_jpegs() -> None:
    assert jpeg_size(make_jpeg(1920, 1080)) == (1920, 1080)
    assert jpeg_size(make_jpeg(64, 48, IMWRITE_JPEG_PROGRESSIVE=1)) == (64, 48)
    assert jpeg_size(huge_sof(65535, 65535)) == (65535, 65535)


def test_jpeg_size_skips_fill_bytes_and_stray_bytes() -> None:
    padded = b"\xff\xd8" + b"junk" + b"\xff\xff\xff" + huge_sof(640, 480)[2:]
    assert jpeg_size(padded) == (640, 480)
    with_rst = b"\xff\xd8\xff\xd0" + huge_sof(8, 8)[2:]
    assert jpeg_size(with_rst) == (8, 8)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8",
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"\xff\xd8\xff\xd9",  # SOI, EOI
        b"\xff\xd8\xff\xda\x00\x08" + bytes(8),  # scan before any SOF
        b"\xff\xd8\xff\xe0\x00\x01",  # impossible length
        b"\xff\xd8\xff\xe0\xff\xf0" + bytes(10),  # segment longer than the data
        b"\xff\xd8\xff\xc0\x00\x11\x08\x04",  # SOF cut short
        huge_sof(640, 0),
    ],
)
def test_jpeg_size_refuses_broken_data(data: bytes) -> None:
    with pytest.raises(JpegError):
        jpeg_size(data)


def test_jpeg_size_never_fails_otherwise_on_garbage() -> None:
    rng = random.Random(7)
    good = make_jpeg(64, 48)
    for _ in range(3000):
        data = bytearray(good[: rng.randrange(3, len(good))])
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(2, len(data))] = rng.randrange(256)
        try:
            width, height = jpeg_size(bytes(data))
        except JpegError:
            continue
        assert 0 < width <= 65535
        assert 0 < height <= 65535
    started = time.perf_counter()
    with pytest.raises(JpegError):
        jpeg_size(b"\xff\xd8" + b"\xff" * (8 << 20))  # 8 MiB of fill bytes: linear, bounded
    assert time.perf_counter() - started < 5.0
