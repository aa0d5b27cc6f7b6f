"""RTSP media: OpenCV/FFmpeg grabs the camera's picture; sessions are capped and bounded."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from bridge.simulator import AuthMode, SimCamera, Simulator
from bridge.simulator.media import StreamLimits
from tests.bridge.simulator.conftest import fetch_snapshot
from tests.bridge.simulator.rtsp_client import RtspClient, frames_of, grab, stream_url

Make = Callable[..., list[SimCamera]]
T0 = 1_750_000_000.25


@pytest.fixture(autouse=True)
def tcp_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.absdiff(a, b).mean())


async def no_session_left(sim: Simulator) -> bool:
    """True once no session and no stream task is left (within 2 s)."""
    for _ in range(100):
        if sim._media.active == 0 and not sim._media._tasks:
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.parametrize("auth", [AuthMode.DIGEST, AuthMode.DIGEST_QOP, AuthMode.BASIC])
async def test_opencv_grabs_the_cameras_picture_with_credentials(
    make_cameras: Make, auth: AuthMode
) -> None:
    async with Simulator(make_cameras(2, auth=auth), clock=lambda: T0) as sim:
        mine, other = sim.cameras
        frames = await asyncio.to_thread(grab, stream_url(mine), 2)
        snapshot, other_snapshot = (
            decode(await fetch_snapshot(mine)),
            decode(await fetch_snapshot(other)),
        )
        wrong = await asyncio.to_thread(grab, stream_url(mine).replace(":pw-1@", ":nope@"))
    assert len(frames) == 2
    assert frames[0].shape == (720, 1280, 3)
    # the same JPEG as the snapshot of that second; only the decoders differ
    assert difference(frames[0], snapshot) < 3
    assert difference(frames[0], other_snapshot) > 15
    assert wrong == []


async def test_ffmpeg_falls_back_to_tcp_after_461(
    make_cameras: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENCV_FFMPEG_CAPTURE_OPTIONS")  # FFmpeg tries UDP first
    async with Simulator(make_cameras(1)) as sim:
        camera = sim.cameras[0]
        async with RtspClient(camera) as client:
            reply = await client.setup(transport="RTP/AVP;unicast;client_port=5000-5001")
        assert reply.status == 461
        frames = await asyncio.to_thread(grab, stream_url(camera))
    assert len(frames) == 1


async def test_the_stream_is_rtp_jpeg_with_a_burst_then_the_frame_rate(
    make_cameras: Make,
) -> None:
    limits = StreamLimits(fps=5, prebuffer=6)
    async with (
        Simulator(make_cameras(1, username=None), stream=limits) as sim,
        RtspClient(sim.cameras[0]) as client,
    ):
        await client.setup()
        await client.setup("trackID=2", "RTP/AVP/TCP;unicast;interleaved=2-3")
        reply = await client.request("PLAY")
        assert reply.status == 200
        assert "seq=" in reply.headers["rtp-info"]
        loop = asyncio.get_running_loop()
        started = loop.time()
        await client.read_frames(6, timeout_s=1)
        burst_s = loop.time() - started
        frames = await client.read_frames(9)
        all_s = loop.time() - started
    assert burst_s < 0.8  # the first six at once (at 5 fps they would take 1 s)
    assert 0.45 < all_s < 3  # three more at 5 fps (loose above: a loaded machine is slow)
    stamps = [frame[0].timestamp for frame in frames]
    assert {b - a for a, b in itertools.pairwise(stamps)} == {90_000 // 5}
    video = [p for p in client.packets if p.channel == 0]
    assert {p.payload_type for p in video} == {26}
    steps = {(b.sequence - a.sequence) % 65536 for a, b in itertools.pairwise(video)}
    assert steps == {1}
    audio = [p for p in client.packets if p.channel == 2]
    assert len(audio) >= 6
    assert {p.payload_type for p in audio} == {8}  # PCMA
    assert set(audio[0].payload) == {0xD5}  # A-law silence: FFmpeg waits for every track


async def test_teardown_stops_the_stream_and_frees_the_slot(make_cameras: Make) -> None:
    limits = StreamLimits(max_sessions=1, prebuffer=1)
    async with Simulator(make_cameras(2, username=None), stream=limits) as sim:
        one, two = sim.cameras
        async with RtspClient(one) as first, RtspClient(two) as second:
            assert (await first.play()).status == 200
            await first.read_frames(2)
            assert (await second.setup()).status == 453  # the one slot is taken
            assert await asyncio.to_thread(grab, stream_url(two)) == []
            assert (await first.request("TEARDOWN")).status == 200
            first.packets.clear()
            with pytest.raises(TimeoutError):  # 4 fps: nothing for a second means stopped
                await first.read_frames(1, timeout_s=1)
            assert (await first.request("OPTIONS", "*")).status == 200  # connection kept
            assert (await second.setup()).status == 200
            assert sim._media.active == 1


async def test_closing_the_connection_ends_the_stream(make_cameras: Make) -> None:
    async with Simulator(make_cameras(1, username=None)) as sim:
        async with RtspClient(sim.cameras[0]) as client:
            await client.play()
            await client.read_frames(1)
            assert sim._media.active == 1
        assert await no_session_left(sim)


async def test_a_session_ends_after_its_maximum_length(make_cameras: Make) -> None:
    limits = StreamLimits(max_session_s=0.6)
    async with (
        Simulator(make_cameras(1, username=None), stream=limits) as sim,
        RtspClient(sim.cameras[0]) as client,
    ):
        await client.play()
        assert await client.at_eof(3)
        assert await no_session_left(sim)


async def test_play_without_setup_and_interleaved_rtcp_from_the_client(make_cameras: Make) -> None:
    async with (
        Simulator(make_cameras(1, username=None), stream=StreamLimits(prebuffer=1)) as sim,
        RtspClient(sim.cameras[0]) as client,
    ):
        assert (await client.request("PLAY", None, "Session: 1234")).status == 454
        await client.play()
        # an RTCP receiver report on channel 1, then a keep-alive: both understood
        client.write(b"$\x01\x00\x08" + bytes(8))
        reply = await client.request("GET_PARAMETER")
        assert reply.status == 200
        assert reply.headers["session"].startswith(client.session or "?")
        await client.read_frames(1)


async def test_faults_reach_a_running_stream(make_cameras: Make) -> None:
    limits = StreamLimits(fps=10, prebuffer=1)
    async with Simulator(make_cameras(2, username=None), stream=limits) as sim:
        camera = sim.cameras[0]
        async with RtspClient(camera) as client:
            await client.play()
            await client.read_frames(1)
            sim.set_faults({camera.id: "blackhole"})  # hung: no frames, connection kept
            await client.skip_until_quiet(0.3)  # frames sent before the fault
            client.packets.clear()
            with pytest.raises(TimeoutError):
                await client.read_frames(1, timeout_s=0.5)
            sim.clear_fault(camera.id)
            await client.read_frames(1)
            sim.set_faults({camera.id: "down"})  # gone: connection dropped
            assert await client.at_eof(2)
        async with RtspClient(sim.cameras[1]) as other:  # the others stream on
            await other.play()
            await other.read_frames(2)


async def test_each_frame_carries_the_tables_in_band(make_cameras: Make) -> None:
    async with (
        Simulator(make_cameras(1, username=None), stream=StreamLimits(prebuffer=2)) as sim,
        RtspClient(sim.cameras[0]) as client,
    ):
        await client.play()
        frames = await client.read_frames(2)
    for frame in frames:
        first = frame[0].payload
        assert first[1:4] == b"\x00\x00\x00"  # fragment offset 0
        assert (first[4], first[5], first[6], first[7]) == (1, 255, 1280 // 8, 720 // 8)
        assert first[8:12] == b"\x00\x00\x00\x80"  # 8-bit tables, 128 bytes
        assert all(len(p.payload) <= 1400 for p in frame)
    assert len(frames_of(client.packets)) >= 2
