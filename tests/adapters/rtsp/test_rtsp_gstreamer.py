"""RtspProber against a real peer: Debian's GStreamer RTSP server on loopback (PEERS.md).

Skipped when GStreamer or its Python bindings are missing; failed instead under CI=true.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from adapters.errors import AuthFailed, ProtocolFailure
from adapters.rtsp import RtspProber, RtspTarget

Peers = Callable[[str], Any]  # conftest.GstPeer: port, user, password, path
TIMEOUT_S = 10.0  # a non-shared media builds and prerolls an x264 pipeline per DESCRIBE


def target(peer: Any, password: str | None = None) -> RtspTarget:
    return RtspTarget("127.0.0.1", peer.port, peer.path, peer.user, password or peer.password)


async def test_describe_without_auth(gst_rtsp: Peers) -> None:
    peer = gst_rtsp("none")
    reply = await RtspProber().describe(
        RtspTarget("127.0.0.1", peer.port, peer.path, None, None), TIMEOUT_S
    )
    assert (reply.status, reply.auth, reply.server) == (200, "none", "GStreamer RTSP server")
    assert reply.sdp.has_video
    assert (reply.sdp.codec, reply.sdp.width, reply.sdp.height) == ("H264", 640, 360)
    assert reply.sdp.fps == 10.0


async def test_unknown_mount_is_404(gst_rtsp: Peers) -> None:
    peer = gst_rtsp("none")
    with pytest.raises(ProtocolFailure) as info:
        await RtspProber().describe(RtspTarget("127.0.0.1", peer.port, "/nope"), TIMEOUT_S)
    assert info.value.status == 404


@pytest.mark.parametrize("auth", ["basic", "digest"])
async def test_auth_right_and_wrong_password(gst_rtsp: Peers, auth: str) -> None:
    peer = gst_rtsp(auth)
    prober = RtspProber()
    for _ in range(3):  # the first check, then with cached auth state
        reply = await prober.describe(target(peer), TIMEOUT_S)
        assert (reply.status, reply.auth, reply.sdp.codec) == (200, auth, "H264")
    with pytest.raises(AuthFailed, match="credentials rejected") as info:
        await prober.describe(target(peer, "wrong-password"), TIMEOUT_S)
    assert "wrong-password" not in str(info.value)
    assert peer.password not in str(info.value)
    with pytest.raises(AuthFailed, match="no credentials"):
        await prober.describe(RtspTarget("127.0.0.1", peer.port, peer.path), TIMEOUT_S)


@pytest.mark.parametrize("auth", ["none", "digest"])
async def test_100_concurrent_describes(gst_rtsp: Peers, auth: str) -> None:
    peer = gst_rtsp(auth)
    prober = RtspProber()
    replies = await asyncio.gather(
        *(prober.describe(target(peer), TIMEOUT_S * 3) for _ in range(100))
    )
    assert all(r.status == 200 and r.sdp.has_video for r in replies)
