"""RtspProber.describe against a scripted camera on loopback: replies, auth, caching."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters.errors import AuthFailed, ProtocolFailure
from adapters.rtsp import RtspProbe, RtspProber, RtspReply, RtspTarget, request_uri
from bridge.observation import SdpInfo

StartCamera = Callable[..., Awaitable[Any]]
TIMEOUT_S = 5.0
PATH = "/Streaming/Channels/101?transportmode=unicast"


def target(
    camera: Any, *, user: str | None = None, password: str | None = None, path: str = PATH
) -> RtspTarget:
    return RtspTarget("127.0.0.1", camera.port, path, user, password)


def creds(camera: Any, password: str | None = None) -> RtspTarget:
    return target(camera, user=camera.user, password=password or camera.password)


async def test_happy_path_without_auth(fake_camera: StartCamera) -> None:
    camera = await fake_camera()
    prober = RtspProber()
    reply = await prober.describe(target(camera), TIMEOUT_S)
    assert reply.status == 200
    assert reply.auth == "none"
    assert reply.server == "FakeCam/1.0"
    assert reply.sdp == SdpInfo(
        has_video=True, codec="H264", width=1920, height=1080, fps=25.0, media_count=2
    )
    assert 0 < reply.latency_ms < TIMEOUT_S * 1000
    [request] = camera.requests
    assert request["method"] == "DESCRIBE"
    assert request["uri"] == f"rtsp://127.0.0.1:{camera.port}{PATH}"
    assert (request["cseq"], request["accept"], request["user-agent"]) == (
        "1",
        "application/sdp",
        "gridbridge",
    )
    assert "authorization" not in request


def test_prober_satisfies_the_protocol() -> None:
    probe: RtspProbe = RtspProber()
    assert callable(probe.describe)


def test_request_uri() -> None:
    assert request_uri("::1", 554, "/a b/ü?x=1") == "rtsp://[::1]:554/a%20b/%C3%BC?x=1"
    assert request_uri("10.0.0.7", 8554, "live") == "rtsp://10.0.0.7:8554/live"
    assert request_uri("h", 1, "/x\r\nInjected: 1") == "rtsp://h:1/x%0D%0AInjected:%201"


def test_password_is_not_in_the_target_repr() -> None:
    assert "s3cret" not in repr(RtspTarget("h", 554, "/", "admin", "s3cret"))


async def test_basic(fake_camera: StartCamera) -> None:
    camera = await fake_camera(auth="basic")
    prober = RtspProber()
    assert (await prober.describe(creds(camera), TIMEOUT_S)).auth == "basic"
    assert len(camera.requests) == 2
    assert (await prober.describe(creds(camera), TIMEOUT_S)).auth == "basic"
    assert len(camera.requests) == 3  # Basic sent preemptively the second time


@pytest.mark.parametrize("qop", [True, False])
@pytest.mark.parametrize("algorithm", [None, "MD5", "MD5-sess", "SHA-256"])
async def test_digest_then_preemptive(
    fake_camera: StartCamera, qop: bool, algorithm: str | None
) -> None:
    camera = await fake_camera(auth="digest", qop=qop, algorithm=algorithm)
    prober = RtspProber()
    if algorithm == "MD5-sess" and not qop:  # ill-defined (RFC 2617): refused, not guessed
        with pytest.raises(AuthFailed, match="unsupported authentication"):
            await prober.describe(creds(camera), TIMEOUT_S)
        return
    reply = await prober.describe(creds(camera), TIMEOUT_S)
    assert (reply.status, reply.auth, reply.sdp.has_video) == (200, "digest", True)
    assert len(camera.requests) == 2
    first_auth = camera.requests[1]["authorization"]
    assert camera.requests[0].get("authorization") is None
    reply = await prober.describe(creds(camera), TIMEOUT_S)
    assert reply.auth == "digest"
    assert len(camera.requests) == 3, "the second describe must cost one request"
    second_auth = camera.requests[2]["authorization"]
    if qop:
        assert "nc=00000001" in first_auth
        assert "nc=00000002" in second_auth
    else:
        assert "nc=" not in second_auth


async def test_digest_preferred_over_basic(fake_camera: StartCamera) -> None:
    camera = await fake_camera(auth="digest", offer_basic_too=True)
    assert (await RtspProber().describe(creds(camera), TIMEOUT_S)).auth == "digest"
    assert camera.requests[1]["authorization"].startswith("Digest ")


async def test_stale_nonce_costs_one_retry(fake_camera: StartCamera) -> None:
    camera = await fake_camera(auth="digest", retire_nonce_after_success=True)
    prober = RtspProber()
    for _ in range(3):
        assert (await prober.describe(creds(camera), TIMEOUT_S)).auth == "digest"
    # 2 for the first; then preemptive → 401 stale=true → retry, every time
    assert len(camera.requests) == 6
    assert all(a is not None for a in camera.authorizations()[1:])


async def test_expired_nonce_without_stale_flag_still_retries(fake_camera: StartCamera) -> None:
    camera = await fake_camera(auth="digest", retire_nonce_after_success=True, stale_flag=False)
    prober = RtspProber()
    for _ in range(2):
        await prober.describe(creds(camera), TIMEOUT_S)
    assert len(camera.requests) == 4


async def test_nonce_bound_to_its_connection_stops_preemptive_auth(
    fake_camera: StartCamera,
) -> None:
    """GStreamer/live555-like: a cached nonce never works on a new connection."""
    camera = await fake_camera(auth="digest", nonce_reuse=False, stale_flag=False)
    prober = RtspProber()
    for _ in range(5):
        assert (await prober.describe(creds(camera), TIMEOUT_S)).auth == "digest"
    auths = camera.authorizations()
    assert len(auths) == 10  # two requests per check whatever we do
    # checks 2 and 3 try the cached nonce; after two misses, checks 4 and 5 ask first
    assert [auths[i] is None for i in (0, 2, 4, 6, 8)] == [True, False, False, True, True]


async def test_server_closing_after_401_gets_a_new_connection(fake_camera: StartCamera) -> None:
    camera = await fake_camera(auth="digest", close_after_401=True)
    reply = await RtspProber().describe(creds(camera), TIMEOUT_S)
    assert reply.auth == "digest"
    assert (len(camera.requests), camera.connections) == (2, 2)


async def test_connection_close_header_is_honoured(fake_camera: StartCamera) -> None:
    """A 401 with "Connection: close" from a server that then neither closes nor answers:
    the retry goes on a new connection instead of waiting for the deadline."""
    camera = await fake_camera(auth="basic", close_header_then_ignore=True)
    reply = await RtspProber().describe(creds(camera), TIMEOUT_S)
    assert reply.auth == "basic"
    assert camera.connections == 2


@pytest.mark.parametrize("auth", ["basic", "digest"])
async def test_wrong_password_is_auth_failed_after_two_requests(
    fake_camera: StartCamera, auth: str
) -> None:
    camera = await fake_camera(auth=auth)
    wrong = "WrongPass#42"
    with pytest.raises(AuthFailed, match="credentials rejected") as info:
        await RtspProber().describe(creds(camera, wrong), TIMEOUT_S)
    assert len(camera.requests) == 2, "no hammering: cameras lock accounts"
    assert wrong not in str(info.value)
    assert camera.password not in str(info.value)


async def test_password_changed_after_caching(fake_camera: StartCamera) -> None:
    camera = await fake_camera(auth="digest")
    prober = RtspProber()
    await prober.describe(creds(camera), TIMEOUT_S)
    camera.password = "changed-on-the-camera"
    with pytest.raises(AuthFailed):
        await prober.describe(creds(camera, "old"), TIMEOUT_S)
    assert len(camera.requests) == 4  # preemptive (refused) + one fresh answer
    await prober.describe(creds(camera), TIMEOUT_S)
    assert camera.authorizations()[4] is None  # the cache entry was dropped


async def test_401_without_credentials(fake_camera: StartCamera) -> None:
    camera = await fake_camera(auth="digest")
    with pytest.raises(AuthFailed, match="no credentials are configured"):
        await RtspProber().describe(target(camera), TIMEOUT_S)
    assert len(camera.requests) == 1


async def test_unsupported_scheme(fake_camera: StartCamera) -> None:
    camera = await fake_camera(auth="bearer")
    with pytest.raises(AuthFailed, match=r"unsupported authentication \(bearer\)"):
        await RtspProber().describe(creds(camera), TIMEOUT_S)


@pytest.mark.parametrize("status", [404, 454, 500, 503, 302])
async def test_error_status_is_protocol_failure_with_status(
    fake_camera: StartCamera, status: int
) -> None:
    camera = await fake_camera(
        status=status, reason="Nope", extra_headers="Location: rtsp://203.0.113.9/evil\r\n"
    )
    with pytest.raises(ProtocolFailure, match=f"DESCRIBE answered {status} Nope") as info:
        await RtspProber().describe(target(camera), TIMEOUT_S)
    assert info.value.status == status
    assert camera.connections == 1  # a redirect is never followed


async def test_no_video_track_is_a_reply(fake_camera: StartCamera) -> None:
    sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 8\r\n"
    camera = await fake_camera(sdp=sdp)
    reply = await RtspProber().describe(target(camera), TIMEOUT_S)
    assert reply.sdp == SdpInfo(has_video=False, media_count=1)


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ({"content_type": "text/html", "sdp": "<html></html>"}, "not SDP"),
        ({"content_type": None, "sdp": "<html></html>"}, "not SDP"),
        ({"sdp": ""}, "not SDP"),
        ({"sdp": "v=0\r\n" + "m=audio 0 RTP/AVP 0\r\n" * 33}, "more than 32 media"),
    ],
)
async def test_2xx_without_usable_sdp(
    fake_camera: StartCamera, behaviour: dict[str, Any], message: str
) -> None:
    camera = await fake_camera(**behaviour)
    with pytest.raises(ProtocolFailure, match=message) as info:
        await RtspProber().describe(target(camera), TIMEOUT_S)
    assert info.value.status == 200


async def test_content_type_with_parameters(fake_camera: StartCamera) -> None:
    camera = await fake_camera(content_type="Application/SDP; charset=utf-8")
    assert (await RtspProber().describe(target(camera), TIMEOUT_S)).sdp.has_video


async def test_messages_never_carry_the_password(fake_camera: StartCamera) -> None:
    secret = "S3cret!x"
    camera = await fake_camera(
        status=404, reason=f"no stream for {secret}", extra_headers=f"Server: cam {secret}\r\n"
    )
    path = f"/live?user=admin&password={secret}&channel=1"
    with pytest.raises(ProtocolFailure) as info:
        await RtspProber().describe(
            target(camera, user="admin", password=secret, path=path), TIMEOUT_S
        )
    text = str(info.value)
    assert secret not in text
    assert "password=***" in text
    assert "no stream for ***" in text


async def test_server_text_is_made_printable_and_short(fake_camera: StartCamera) -> None:
    camera = await fake_camera(extra_headers="Server: \x1b[31m" + "x" * 300 + "\r\n")
    reply = await RtspProber().describe(target(camera), TIMEOUT_S)
    # the header repeated by FakeCamera is joined: "FakeCam/1.0, \x1b[31mxxx…"
    assert reply.server.isprintable()
    assert len(reply.server) <= 81


async def test_auth_cache_is_bounded(fake_camera: StartCamera) -> None:
    cameras = [await fake_camera(auth="digest") for _ in range(3)]
    prober = RtspProber(auth_cache_size=2)
    for camera in cameras:
        await prober.describe(creds(camera), TIMEOUT_S)
    for camera in cameras:
        await prober.describe(creds(camera), TIMEOUT_S)
    # the first camera was evicted by the third, then evicted the second, and so on
    assert [len(c.requests) for c in cameras] == [4, 4, 4]
    await prober.describe(creds(cameras[2]), TIMEOUT_S)
    assert len(cameras[2].requests) == 5  # the most recent entries survive


async def test_many_concurrent_describes(fake_camera: StartCamera) -> None:
    camera = await fake_camera(auth="basic")
    prober = RtspProber()
    replies: list[RtspReply] = await asyncio.gather(
        *(prober.describe(creds(camera), TIMEOUT_S) for _ in range(200))
    )
    assert all(r.status == 200 and r.sdp.has_video for r in replies)
