"""The ONVIF heartbeat against a fake camera on loopback: clock, auth, WS-Security with the
camera's clock offset, HTTP Digest, keep-alive, and where requests go."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from adapters.errors import AuthFailed, ProtocolFailure, Unreachable
from adapters.onvif_soap import DeviceClock, OnvifHeartbeat, OnvifHeartbeatClient, OnvifTarget
from bridge.observation import DeviceInfo


async def test_clock_without_auth(heartbeat: OnvifHeartbeat, fake_camera, target) -> None:
    camera, port = await fake_camera(clock_offset_s=-90.0)
    clock = await heartbeat.system_date_time(target(camera, port), timeout_s=5)
    assert isinstance(clock, DeviceClock)
    assert not clock.auth_required
    assert clock.utc is not None
    offset = (clock.utc - datetime.now(UTC)).total_seconds()
    assert -92 < offset < -88
    assert 0 < clock.latency_ms < 5000
    assert camera.calls == {"GetSystemDateAndTime": 1}


async def test_camera_demanding_auth_for_its_clock_is_alive(
    heartbeat: OnvifHeartbeat, fake_camera, target
) -> None:
    camera, port = await fake_camera(auth_for_time=True)
    clock = await heartbeat.system_date_time(target(camera, port), timeout_s=5)
    assert clock == DeviceClock(None, clock.latency_ms, auth_required=True)
    # Asked again with credentials, it tells the time.
    clock = await heartbeat.system_date_time(target(camera, port), timeout_s=5, auth=True)
    assert clock.utc is not None
    assert not clock.auth_required
    with pytest.raises(AuthFailed):
        await heartbeat.system_date_time(target(camera, port, password="wrong"), 5, auth=True)


async def test_device_information_with_ws_security(
    heartbeat: OnvifHeartbeat, fake_camera, target
) -> None:
    camera, port = await fake_camera(serial="DS-7788")
    info, latency_ms = await heartbeat.device_information(target(camera, port), timeout_s=5)
    assert info == DeviceInfo("Hikvision", "DS-2CD2143G2-I", "V5.7.3", "DS-7788", "88")
    assert latency_ms > 0
    assert camera.hosts == [f"127.0.0.1:{port}"]


async def test_wrong_password_is_auth_failed_and_never_shown(
    heartbeat: OnvifHeartbeat, fake_camera, target
) -> None:
    camera, port = await fake_camera()
    bad = target(camera, port, password="hunter2-wrong")
    with pytest.raises(AuthFailed) as info:
        await heartbeat.device_information(bad, timeout_s=5)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(bad)


async def test_token_is_dated_by_the_camera_clock(
    heartbeat: OnvifHeartbeat, fake_camera, target
) -> None:
    # The camera runs two hours ahead and accepts tokens within 5 minutes of its clock.
    camera, port = await fake_camera(clock_offset_s=7200.0)
    with pytest.raises(AuthFailed):
        await heartbeat.device_information(target(camera, port), timeout_s=5)
    clock = await heartbeat.system_date_time(target(camera, port), timeout_s=5)
    assert clock.utc is not None
    offset_s = (clock.utc - datetime.now(UTC)).total_seconds()
    info, _ = await heartbeat.device_information(
        target(camera, port), timeout_s=5, clock_offset_s=offset_s
    )
    assert info.serial == camera.serial


async def test_http_digest_challenge_is_answered(
    heartbeat: OnvifHeartbeat, fake_camera, target
) -> None:
    camera, port = await fake_camera(digest=True)
    info, _ = await heartbeat.device_information(target(camera, port), timeout_s=5)
    assert info.serial == camera.serial
    assert camera.calls == {"GetDeviceInformation": 2}  # challenge, then answer
    with pytest.raises(AuthFailed):
        await heartbeat.device_information(target(camera, port, password="wrong"), 5)


async def test_basic_challenge_is_never_answered(heartbeat: OnvifHeartbeat, serve_app) -> None:
    seen: list[str | None] = []

    async def basic_only(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="cam"'})

    app = web.Application()
    app.router.add_post("/onvif/device_service", basic_only)
    port = await serve_app(app)
    with pytest.raises(AuthFailed):
        await heartbeat.device_information(OnvifTarget("127.0.0.1", port, "admin", "pw"), 5)
    assert seen == [None]  # one request, no password sent in clear


async def test_posts_to_the_targets_path(heartbeat: OnvifHeartbeat, serve_app, soap) -> None:
    paths: list[str] = []

    async def device(request: web.Request) -> web.Response:
        paths.append(request.path_qs)
        return web.Response(
            text=soap.time_reply(datetime.now(UTC)), content_type="application/soap+xml"
        )

    app = web.Application()
    app.router.add_post("/{tail:.*}", device)
    port = await serve_app(app)
    await heartbeat.system_date_time(OnvifTarget("127.0.0.1", port, "", "", "/onvif/device"), 5)
    assert paths == ["/onvif/device"]


async def test_keep_alive_reuses_one_connection(heartbeat: OnvifHeartbeat, serve_app, soap) -> None:
    peers: set[object] = set()

    async def device(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        return web.Response(
            text=soap.time_reply(datetime.now(UTC)), content_type="application/soap+xml"
        )

    app = web.Application()
    app.router.add_post("/onvif/device_service", device)
    port = await serve_app(app)
    for _ in range(20):
        await heartbeat.system_date_time(OnvifTarget("127.0.0.1", port, "", ""), 5)
    assert len(peers) == 1


async def test_a_kept_connection_closed_by_the_camera_is_retried_once(
    heartbeat: OnvifHeartbeat, serve_raw, soap
) -> None:
    """The camera answers the first request on a connection, then closes it without a
    word when the next request arrives (as cameras with short keep-alive do)."""
    reply = soap.time_reply(datetime.now(UTC)).encode()
    connections = 0

    async def once_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        nonlocal connections
        connections += 1
        for answered in (True, False):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            await reader.readexactly(length)
            if not answered:
                return  # close without answering
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply)
            )
            await writer.drain()

    port = await serve_raw(once_per_connection)
    tgt = OnvifTarget("127.0.0.1", port, "", "")
    for _ in range(3):
        clock = await heartbeat.system_date_time(tgt, timeout_s=5)
        assert clock.utc is not None
    assert connections == 3


async def test_refused_connection_is_unreachable(heartbeat: OnvifHeartbeat) -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(Unreachable):
        await heartbeat.system_date_time(OnvifTarget("127.0.0.1", port, "", ""), timeout_s=5)


async def test_invalid_address_is_unreachable(heartbeat: OnvifHeartbeat) -> None:
    with pytest.raises(Unreachable, match="not valid"):
        await heartbeat.system_date_time(OnvifTarget("bad host/x", 80, "", ""), timeout_s=5)


async def test_lifecycle() -> None:
    heartbeat = OnvifHeartbeat()
    target = OnvifTarget("127.0.0.1", 9, "", "")
    with pytest.raises(RuntimeError, match="not started"):
        await heartbeat.system_date_time(target, 1)
    async with heartbeat:
        with pytest.raises(RuntimeError, match="already started"):
            await heartbeat.start()
    await heartbeat.close()  # idempotent
    async with heartbeat:  # reusable
        pass
    client: OnvifHeartbeatClient = heartbeat  # it implements the Protocol
    assert client is heartbeat


async def test_unauthenticated_camera_gets_no_token(heartbeat: OnvifHeartbeat, serve_app, soap):
    bodies: list[bytes] = []

    async def device(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        return web.Response(text=soap.device_reply("S-1"), content_type="application/soap+xml")

    app = web.Application()
    app.router.add_post("/onvif/device_service", device)
    port = await serve_app(app)
    info, _ = await heartbeat.device_information(OnvifTarget("127.0.0.1", port, "", ""), 5)
    assert info.serial == "S-1"
    assert b"UsernameToken" not in bodies[0]


async def test_created_is_shifted_by_the_offset(heartbeat: OnvifHeartbeat, serve_app, soap):
    seen: list[str] = []

    async def device(request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        seen.append(body.split("<wsu:Created>")[1].split("<")[0])
        return web.Response(text=soap.device_reply("S-1"), content_type="application/soap+xml")

    app = web.Application()
    app.router.add_post("/onvif/device_service", device)
    port = await serve_app(app)
    tgt = OnvifTarget("127.0.0.1", port, "admin", "pw")
    await heartbeat.device_information(tgt, 5, clock_offset_s=-3600.0)
    created = datetime.strptime(seen[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(created - (datetime.now(UTC) - timedelta(hours=1))) < timedelta(seconds=5)


async def test_fault_on_unauthenticated_clock_is_not_auth(heartbeat, serve_app, soap) -> None:
    async def device(request: web.Request) -> web.Response:
        return web.Response(
            status=500,
            text=soap.fault12("s:Receiver", "Action failed", "ter:ActionFailed"),
            content_type="application/soap+xml",
        )

    app = web.Application()
    app.router.add_post("/onvif/device_service", device)
    port = await serve_app(app)
    with pytest.raises(ProtocolFailure, match="ter:ActionFailed: Action failed") as info:
        await heartbeat.system_date_time(OnvifTarget("127.0.0.1", port, "", ""), 5)
    assert info.value.status == 500
