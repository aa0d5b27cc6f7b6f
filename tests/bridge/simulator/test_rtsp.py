"""RTSP control from a plain socket client: challenges per vendor, Digest/Basic, keep-alive, SDP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from adapters.sdp import parse_sdp
from bridge.simulator import AuthMode, SimCamera, Simulator
from tests.bridge.simulator.conftest import (
    basic_header,
    describe_with_auth,
    digest_header,
    exchange,
    read_response,
    rtsp_request,
)

Make = Callable[..., list[SimCamera]]


def uri_of(camera: SimCamera) -> str:
    return f"rtsp://{camera.host}:{camera.rtsp_port}{camera.rtsp_path}"


async def test_options_needs_no_credentials_and_echoes_cseq(sim: Simulator) -> None:
    camera = sim.cameras[0]
    reply = await exchange(camera.host, camera.rtsp_port, rtsp_request("OPTIONS", "*", 7))
    assert reply.status == 200
    assert reply.headers["cseq"] == "7"
    assert "DESCRIBE" in reply.headers["public"]


async def test_describe_without_credentials_gets_a_challenge(sim: Simulator) -> None:
    camera = sim.cameras[0]
    reply = await exchange(
        camera.host, camera.rtsp_port, rtsp_request("DESCRIBE", uri_of(camera), 1)
    )
    assert reply.status == 401
    challenge = reply.headers["www-authenticate"]
    assert challenge.startswith("Digest ")
    assert 'qop="auth"' in challenge
    assert "nonce=" in challenge


@pytest.mark.parametrize(
    ("auth", "scheme", "qop"),
    [(AuthMode.DIGEST_QOP, "Digest", True), (AuthMode.DIGEST, "Digest", False),
     (AuthMode.BASIC, "Basic", False)],
)  # fmt: skip
async def test_describe_with_the_right_credentials_gets_a_jpeg_sdp(
    make_cameras: Make, auth: AuthMode, scheme: str, qop: bool
) -> None:
    async with Simulator(make_cameras(1, auth=auth)) as sim:
        camera = sim.cameras[0]
        first = await exchange(
            camera.host, camera.rtsp_port, rtsp_request("DESCRIBE", uri_of(camera), 1)
        )
        assert first.headers["www-authenticate"].startswith(scheme)
        assert ("qop=" in first.headers["www-authenticate"]) is qop
        reply = await describe_with_auth(camera)
    assert reply.status == 200, reply
    assert reply.headers["content-type"] == "application/sdp"
    assert reply.headers["cseq"] == "2"
    sdp = reply.body.decode()
    assert "m=video 0 RTP/AVP 26" in sdp
    assert "a=rtpmap:26 JPEG/90000" in sdp
    assert "a=framerate:4.0" in sdp
    assert "a=x-dimensions:1280,720" in sdp
    assert "a=control:trackID=1" in sdp
    info = parse_sdp(sdp)  # as the daemon's cheap check reads it
    assert (info.has_video, info.codec, info.width, info.height, info.fps) == (
        True, "JPEG", 1280, 720, 4.0,
    )  # fmt: skip


async def test_wrong_password_is_rejected(sim: Simulator) -> None:
    reply = await describe_with_auth(sim.cameras[0], password="wrong")
    assert reply.status == 401


async def test_digest_for_another_camera_is_rejected(sim: Simulator) -> None:
    one, two = sim.cameras[0], sim.cameras[1]
    first = await exchange(one.host, one.rtsp_port, rtsp_request("DESCRIBE", uri_of(one), 1))
    assert two.username is not None
    assert two.password is not None
    auth = digest_header(
        first.headers["www-authenticate"], two.username, two.password, "DESCRIBE", uri_of(two)
    )
    reply = await exchange(
        two.host, two.rtsp_port, rtsp_request("DESCRIBE", uri_of(two), 2, f"Authorization: {auth}")
    )
    assert reply.status == 401  # nonce and realm belong to camera one


async def test_basic_is_refused_by_a_digest_camera(sim: Simulator) -> None:
    camera = sim.cameras[0]
    assert camera.username is not None
    assert camera.password is not None
    auth = basic_header(camera.username, camera.password)
    request = rtsp_request("DESCRIBE", uri_of(camera), 1, f"Authorization: {auth}")
    reply = await exchange(camera.host, camera.rtsp_port, request)
    assert reply.status == 401
    assert reply.headers["www-authenticate"].startswith("Digest")


async def test_keep_alive_several_requests_and_a_full_session(sim: Simulator) -> None:
    camera = sim.cameras[0]
    reply = await describe_with_auth(camera)
    assert reply.status == 200
    first = await exchange(
        camera.host, camera.rtsp_port, rtsp_request("DESCRIBE", uri_of(camera), 1)
    )
    assert camera.username is not None
    assert camera.password is not None
    reader, writer = await asyncio.open_connection(camera.host, camera.rtsp_port)
    try:
        steps = [("OPTIONS", uri_of(camera), ())]
        for method, uri in [
            ("DESCRIBE", uri_of(camera)),
            ("SETUP", uri_of(camera) + "/trackID=1"),
            ("PLAY", uri_of(camera)),
            ("TEARDOWN", uri_of(camera)),
        ]:
            auth = digest_header(
                first.headers["www-authenticate"], camera.username, camera.password, method, uri
            )
            extra: tuple[str, ...] = (f"Authorization: {auth}",)
            if method == "SETUP":
                extra += ("Transport: RTP/AVP/TCP;unicast;interleaved=0-1",)
            if method in ("PLAY", "TEARDOWN"):
                extra += ("Session: 12345678",)
            steps.append((method, uri, extra))
        # all five pipelined in one write, answered in order on one connection
        writer.write(b"".join(rtsp_request(m, u, i, *e) for i, (m, u, e) in enumerate(steps)))
        replies = [await read_response(reader) for _ in steps]
    finally:
        writer.close()
    assert [r.status for r in replies] == [200] * 5
    assert [r.headers["cseq"] for r in replies] == ["0", "1", "2", "3", "4"]
    assert "interleaved=0-1" in replies[2].headers["transport"]
    assert "session" in replies[2].headers


async def test_unknown_path_is_404(sim: Simulator) -> None:
    camera = sim.cameras[0]
    first = await exchange(camera.host, camera.rtsp_port, rtsp_request("DESCRIBE", "/x", 1))
    assert camera.username is not None
    assert camera.password is not None
    uri = f"rtsp://{camera.host}:{camera.rtsp_port}/no/such/stream"
    auth = digest_header(
        first.headers["www-authenticate"], camera.username, camera.password, "DESCRIBE", uri
    )
    reply = await exchange(
        camera.host, camera.rtsp_port, rtsp_request("DESCRIBE", uri, 2, f"Authorization: {auth}")
    )
    assert reply.status == 404


async def test_camera_without_credentials_serves_anyone(make_cameras: Make) -> None:
    async with Simulator(make_cameras(1, username=None, password=None)) as sim:
        camera = sim.cameras[0]
        reply = await exchange(
            camera.host, camera.rtsp_port, rtsp_request("DESCRIBE", uri_of(camera), 1)
        )
    assert reply.status == 200
    assert b"m=video" in reply.body


async def test_header_block_over_16_kib_is_refused_and_closed(sim: Simulator) -> None:
    camera = sim.cameras[0]
    big = rtsp_request("OPTIONS", "*", 1, "X-Pad: " + "a" * 20_000)
    reader, writer = await asyncio.open_connection(camera.host, camera.rtsp_port)
    try:
        writer.write(big)
        reply = await read_response(reader)
        assert reply.status == 431
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # closed by the server
    finally:
        writer.close()


async def test_garbage_request_line_is_400(sim: Simulator) -> None:
    camera = sim.cameras[0]
    reply = await exchange(camera.host, camera.rtsp_port, b"HELLO\r\n\r\n")
    assert reply.status == 400


async def test_expired_nonce_is_answered_stale(make_cameras: Make) -> None:
    now = [1_750_000_000.0]
    async with Simulator(make_cameras(1), clock=lambda: now[0]) as sim:
        camera = sim.cameras[0]
        uri = uri_of(camera)
        first = await exchange(camera.host, camera.rtsp_port, rtsp_request("DESCRIBE", uri, 1))
        assert camera.username is not None
        assert camera.password is not None
        auth = digest_header(
            first.headers["www-authenticate"], camera.username, camera.password, "DESCRIBE", uri
        )
        request = rtsp_request("DESCRIBE", uri, 2, f"Authorization: {auth}")
        assert (await exchange(camera.host, camera.rtsp_port, request)).status == 200
        now[0] += 400  # past the nonce's lifetime
        reply = await exchange(camera.host, camera.rtsp_port, request)
    assert reply.status == 401
    assert 'stale="TRUE"' in reply.headers["www-authenticate"]
