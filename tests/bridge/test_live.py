"""The live-view hub against real decoders: OpenCV reading the simulator's RTSP streams.

What is counted comes from both sides: the hub's own counters and the simulator's RTSP
sessions (one decoder is one session).  Timing assertions leave slack for a busy 2-core
machine: the caps and deadlines are the promise, not the speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from bridge.jpeg import jpeg_dimensions
from bridge.live import (
    LiveClosed,
    LiveConfig,
    LiveHub,
    LiveLimit,
    LiveStreamError,
    UrlSource,
    Viewer,
)
from tests.bridge.live_sim import PASSWORD, eventually, live_sim

SECONDS = 3.0  # how long frame rates are measured
SLACK = 1  # frames: a window may catch one more than fps x seconds


def source(url: str | None) -> UrlSource:
    async def get() -> str | None:
        return url

    return get


@contextlib.asynccontextmanager
async def hub_for(**config: object) -> AsyncIterator[LiveHub]:
    values: dict[str, object] = {"open_timeout_ms": 3000, "read_timeout_ms": 3000}
    values.update(config)
    async with LiveHub(LiveConfig(**values)) as hub:  # type: ignore[arg-type]
        yield hub


async def watch(viewer: Viewer, seconds: float) -> list[tuple[float, bytes]]:
    """Pictures (arrival time, JPEG) for ``seconds`` after the first one."""
    frames: list[tuple[float, bytes]] = []
    while not frames or time.monotonic() - frames[0][0] < seconds:
        jpeg = await viewer.next_frame()
        frames.append((time.monotonic(), jpeg))
    return frames


async def drain(viewer: Viewer) -> None:
    """Take pictures until the stream ends (by an exception)."""
    while True:
        await viewer.next_frame()


def rate(frames: list[tuple[float, bytes]]) -> float:
    """Pictures per second over the span from the first to the last."""
    span = frames[-1][0] - frames[0][0]
    return (len(frames) - 1) / span


async def test_one_decoder_serves_three_viewers_at_five_fps_and_640_px() -> None:
    async with live_sim(1) as sim, hub_for() as hub:
        camera = sim.cameras[0]

        async def viewer() -> list[tuple[float, bytes]]:
            async with hub.subscribe(camera.id, source(sim.url(camera))) as v:
                return await watch(v, SECONDS)

        results = await asyncio.gather(viewer(), viewer(), viewer())
        stats = hub.stats()
        assert stats.decoders_started == 1
        assert sim.sessions == 1  # the simulator saw one stream, not three
        for frames in results:
            assert 3.0 <= rate(frames) <= 5.0 + SLACK / SECONDS, rate(frames)
            for _, jpeg in frames:
                assert jpeg[:2] == b"\xff\xd8"
                assert jpeg_dimensions(jpeg) == (640, 360)  # 1280x720, aspect kept
        # Encoded once, sent to each of the three.
        assert stats.frames_sent >= 3 * (stats.frames_encoded - 3)
        assert stats.streams == 1
        assert stats.viewers == 0


async def test_fps_and_size_follow_the_config() -> None:
    async with live_sim(1) as sim, hub_for(fps=2, max_side=320) as hub:
        camera = sim.cameras[0]
        async with hub.subscribe(camera.id, source(sim.url(camera))) as v:
            frames = await watch(v, SECONDS)
        assert 1.5 <= rate(frames) <= 2.0 + SLACK / SECONDS, rate(frames)
        assert {jpeg_dimensions(j) for _, j in frames} == {(320, 180)}


async def test_many_viewers_arriving_at_once_share_one_decoder() -> None:
    async with live_sim(1) as sim, hub_for() as hub:
        camera = sim.cameras[0]
        arrived = asyncio.Event()

        async def viewer() -> bytes:
            async with hub.subscribe(camera.id, source(sim.url(camera))) as v:
                await arrived.wait()
                return await v.next_frame()

        tasks = [asyncio.create_task(viewer()) for _ in range(20)]
        await eventually(lambda: hub.viewers == 20, 5, "20 viewers")
        arrived.set()
        pictures = await asyncio.gather(*tasks)
        assert len(set(pictures)) <= 2  # the same newest picture (or the one after)
        assert hub.stats().decoders_started == 1
        assert sim.sessions == 1


async def test_the_decoder_stops_after_the_last_viewer_and_its_grace() -> None:
    async with live_sim(1) as sim, hub_for(grace_s=1.0) as hub:
        camera = sim.cameras[0]
        url = source(sim.url(camera))
        async with hub.subscribe(camera.id, url) as v:
            await v.next_frame()
        # A reload within the grace finds the decoder warm: no new session, a picture at once.
        await asyncio.sleep(0.5)
        assert hub.streams == 1
        started = time.monotonic()
        async with hub.subscribe(camera.id, url) as v:
            await v.next_frame()
        assert time.monotonic() - started < 0.5
        assert hub.stats().decoders_started == 1
        left = time.monotonic()
        await eventually(lambda: hub.streams == 0, 5, "decoder stopped")
        assert time.monotonic() - left >= 0.9  # not before the grace
        await eventually(lambda: sim.sessions == 0, 5, "RTSP session closed")
        # The next viewer starts a new decoder.
        async with hub.subscribe(camera.id, url) as v:
            await v.next_frame()
        assert hub.stats().decoders_started == 2


async def test_a_viewer_arriving_while_the_decoder_winds_down_gets_a_new_one() -> None:
    async with live_sim(1) as sim, hub_for(grace_s=0.1) as hub:
        camera = sim.cameras[0]
        url = source(sim.url(camera))
        async with hub.subscribe(camera.id, url) as v:
            await v.next_frame()
        await asyncio.sleep(0.15)  # grace over: told to stop, thread may still be running
        most = 0

        async def sample() -> None:
            nonlocal most
            while True:
                most = max(most, sim.sessions, hub.streams)
                await asyncio.sleep(0.005)

        sampler = asyncio.create_task(sample())
        try:
            async with hub.subscribe(camera.id, url) as v:
                await v.next_frame()
                await v.next_frame()
        finally:
            sampler.cancel()
        assert hub.stats().decoders_started == 2
        assert most <= 1  # never two decoders (or RTSP sessions) for the camera at once


async def test_the_caps_refuse_clearly() -> None:
    async with live_sim(3) as sim, hub_for(max_streams=2, max_viewers=2) as hub:
        a, b, c = sim.cameras
        async with contextlib.AsyncExitStack() as stack:
            for cam in (a, b):
                v = await stack.enter_async_context(hub.subscribe(cam.id, source(sim.url(cam))))
                await v.next_frame()
            with pytest.raises(LiveLimit) as streams:
                async with hub.subscribe(c.id, source(sim.url(c))):
                    pass
            assert (streams.value.kind, streams.value.limit) == ("streams", 2)
            await stack.enter_async_context(hub.subscribe(a.id, source(sim.url(a))))
            with pytest.raises(LiveLimit) as viewers:
                async with hub.subscribe(a.id, source(sim.url(a))):
                    pass
            assert (viewers.value.kind, viewers.value.limit) == ("viewers", 2)
            assert hub.stats().refusals == {"streams": 1, "viewers": 1}
            assert hub.stats().decoders_started == 2


@pytest.mark.parametrize(
    ("fault", "code"),
    [("down", "unreachable"), ("auth_fail", "auth_failed"), ("rtsp_500", "protocol")],
)
async def test_a_stream_that_cannot_open_fails_fast_and_says_why(fault: str, code: str) -> None:
    async with live_sim(1) as sim, hub_for(open_timeout_ms=3000) as hub:
        camera = sim.cameras[0]
        sim.sim.set_faults({camera.id: fault})
        await sim.sim.settle()
        started = time.monotonic()
        with pytest.raises(LiveStreamError) as failed:
            async with hub.subscribe(camera.id, source(sim.url(camera))) as v:
                await v.next_frame()
        assert time.monotonic() - started < 3.0
        assert failed.value.code == code
        assert PASSWORD not in str(failed.value)
        assert hub.stats().failures == {code: 1}
        await eventually(lambda: hub.streams == 0, 2, "failed stream gone")


async def test_a_silent_camera_fails_at_the_open_timeout() -> None:
    async with live_sim(1) as sim, hub_for(open_timeout_ms=1500) as hub:
        camera = sim.cameras[0]
        sim.sim.set_faults({camera.id: "blackhole"})
        started = time.monotonic()
        with pytest.raises(LiveStreamError) as failed:
            async with hub.subscribe(camera.id, source(sim.url(camera))) as v:
                await v.next_frame()
        assert 1.4 <= time.monotonic() - started < 1.5 + 1.0
        assert failed.value.code == "timeout"


async def test_a_stream_that_stalls_ends_its_viewers() -> None:
    async with live_sim(1) as sim, hub_for(read_timeout_ms=1500) as hub:
        camera = sim.cameras[0]

        async def viewer() -> float:
            async with hub.subscribe(camera.id, source(sim.url(camera))) as v:
                await v.next_frame()
                await v.next_frame()
                sim.sim.set_faults({camera.id: "blackhole"})  # frames stop, socket stays
                stalled = time.monotonic()
                with pytest.raises(LiveStreamError) as failed:
                    await drain(v)
                assert failed.value.code == "timeout"
                return time.monotonic() - stalled

        waited = await asyncio.gather(viewer(), viewer())
        assert all(w < 1.5 + 0.2 + 1.5 for w in waited), waited
        await eventually(lambda: hub.streams == 0, 3, "stalled stream gone")


async def test_a_camera_without_a_stream_address() -> None:
    async with hub_for() as hub:
        with pytest.raises(LiveStreamError) as failed:
            async with hub.subscribe("41990100011326009999", source(None)) as v:
                await v.next_frame()
        assert failed.value.code == "no_stream"


async def test_closing_the_hub_ends_viewers_and_decoders() -> None:
    async with live_sim(2) as sim:
        hub = LiveHub(LiveConfig(close_timeout_s=3.0))
        await hub.start()
        ended: list[BaseException] = []

        async def viewer(sim_cam: int) -> None:
            camera = sim.cameras[sim_cam]
            async with hub.subscribe(camera.id, source(sim.url(camera))) as v:
                try:
                    while True:
                        await v.next_frame()
                except LiveClosed as exc:
                    ended.append(exc)

        tasks = [asyncio.create_task(viewer(i)) for i in (0, 1)]
        await eventually(lambda: hub.stats().frames_sent >= 4, 10, "both streaming")
        started = time.monotonic()
        await hub.aclose()
        assert time.monotonic() - started < 3.0
        await asyncio.wait_for(asyncio.gather(*tasks), 2)
        assert len(ended) == 2
        assert hub.streams == 0
        await eventually(lambda: sim.sessions == 0, 5, "RTSP sessions closed")
        with pytest.raises(LiveClosed):
            async with hub.subscribe(sim.cameras[0].id, source(sim.url(sim.cameras[0]))):
                pass


async def test_a_wrong_password_is_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    async with live_sim(1) as sim, hub_for() as hub:
        camera = sim.cameras[0]
        wrong = "Wr0ng#p@ss:word"
        with pytest.raises(LiveStreamError) as failed:
            async with hub.subscribe(camera.id, source(sim.url(camera, wrong))) as v:
                await v.next_frame()
        assert failed.value.code == "auth_failed"
        assert wrong not in caplog.text
        assert PASSWORD not in caplog.text
        assert wrong not in str(failed.value)


def test_config_from_settings() -> None:
    from bridge.settings import HttpSettings

    config = LiveConfig.from_settings(
        HttpSettings(live_max_streams=3, live_fps=2, live_width=320, live_max_s=60)
    )
    assert (config.max_streams, config.fps, config.max_side, config.max_view_s) == (
        3,
        2,
        320,
        60,
    )


async def test_a_stream_the_camera_ends_is_reopened_once_in_a_while() -> None:
    # The simulator ends every RTSP session after 1.5 s (real cameras have session limits).
    async with live_sim(1, max_session_s=1.5) as sim, hub_for(reopen_interval_s=30) as hub:
        camera = sim.cameras[0]
        async with hub.subscribe(camera.id, source(sim.url(camera))) as v:
            started = time.monotonic()
            with pytest.raises(LiveStreamError) as failed:
                await drain(v)
        lasted = time.monotonic() - started
        # Reopened after the first 1.5 s; the second end within 30 s is the end.
        assert 2.8 <= lasted < 4.5, lasted
        assert v.frames >= 12
        assert failed.value.code == "protocol"
        stats = hub.stats()
        assert (stats.reopens, stats.decoders_started) == (1, 1)
