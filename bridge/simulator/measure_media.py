"""Measure the simulator's pictures and RTSP streams: render cost, CPU per streamed frame.

Run ``python -m bridge.simulator.measure_media [--streams N] [--seconds S] [--fps F]``.

Not a test: prints figures for docs/simulator.md.  Part one times ``snapshot.render`` for a
healthy picture and every picture kind, with and without the cached base.  Part two starts a
simulator of N cameras (127.41.x.y, port 28654), opens one RTSP stream to each from this same
process (raw sockets, TCP interleaved, read and thrown away), and reports frames sent, process
CPU per frame (the readers included, so an upper bound) and the event loop's worst lateness
(how long anything else on the loop had to wait).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import time

from bridge.simulator.faults import PICTURE_KINDS
from bridge.simulator.media import StreamLimits
from bridge.simulator.model import SimCamera
from bridge.simulator.server import Simulator
from bridge.simulator.snapshot import Render, picture_seed, render

__all__ = ["main", "measure_renders", "measure_streams"]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_renders(width: int = 1280, height: int = 720, rounds: int = 5) -> None:
    """Print what one picture costs: the base once, then each second's live frame + encode."""
    seed = picture_seed("41990100001320000001")
    print(f"pictures {width}x{height}, JPEG quality 80 (ms: base+frame / frame from cached base)")
    for kind in (None, *PICTURE_KINDS, "night_ir"):
        job = Render(seed, seed, width, height, kind, 1.0, 1_750_000_000, "2025-06-15 23:06:40", 80)
        base, data = render(job, None)  # warm up (imports, noise pool)
        start = time.perf_counter()
        for _ in range(rounds):
            base, data = render(job, None)
        full_ms = (time.perf_counter() - start) * 1000 / rounds
        start = time.perf_counter()
        for _ in range(rounds):
            render(job, base)
        frame_ms = (time.perf_counter() - start) * 1000 / rounds
        name = kind or "healthy"
        print(f"  {name:14} {full_ms:6.1f} / {frame_ms:5.1f} ms   JPEG {len(data) / 1024:6.1f} KiB")


async def _reader(camera: SimCamera, stop: asyncio.Event, received: list[int]) -> None:
    reader, writer = await asyncio.open_connection(camera.host, camera.rtsp_port)
    url = f"rtsp://{camera.host}:{camera.rtsp_port}{camera.rtsp_path}"
    writer.write(
        f"SETUP {url}/trackID=1 RTSP/1.0\r\nCSeq: 1\r\n"
        "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
        f"PLAY {url} RTSP/1.0\r\nCSeq: 2\r\nSession: x\r\n\r\n".encode()
    )
    try:
        while not stop.is_set():
            chunk = await reader.read(1 << 20)
            if not chunk:
                return
            received[0] += len(chunk)
    finally:
        writer.close()


async def _lateness(stop: asyncio.Event, late: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + 0.01
        await asyncio.sleep(0.01)
        late.append(loop.time() - due)


async def measure_streams(streams: int, seconds: float, fps: float) -> None:
    """Stream ``streams`` cameras for ``seconds`` to readers in this process; print costs."""
    cameras = [
        SimCamera(
            id=f"41990100001320{i:06d}",
            name=f"cam {i}",
            host=f"127.41.{i // 250}.{i % 250 + 1}",
            rtsp_port=28654,
            onvif_port=28180,
        )
        for i in range(streams)
    ]
    limits = StreamLimits(fps=fps, max_sessions=max(64, streams))
    async with Simulator(cameras, stream=limits) as sim:
        stop, received, late = asyncio.Event(), [0], [0.0]
        tasks = [asyncio.create_task(_reader(c, stop, received)) for c in cameras]
        for _ in range(600):  # up to 60 s: past every stream's start-up burst
            if sim._media.frames_sent >= streams * limits.prebuffer:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        sent, skipped, encodes = (
            sim._media.frames_sent,
            sim._media.frames_skipped,
            sim._snapshots.encodes,
        )
        bytes_before, cpu = received[0], _cpu_s()
        ticker = asyncio.create_task(_lateness(stop, late))
        await asyncio.sleep(seconds)
        cpu = _cpu_s() - cpu
        frames = sim._media.frames_sent - sent
        rate = (received[0] - bytes_before) / seconds / 1e6
        renders = sim._snapshots.encodes - encodes
        stop.set()
        for task in [*tasks, ticker]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        print(
            f"{streams} streams at {fps:g} fps for {seconds:g} s: {frames} frames "
            f"({frames / seconds:.0f}/s, {sim._media.frames_skipped - skipped} skipped), "
            f"{renders} renders, {rate:.1f} MB/s; CPU {cpu:.2f} s = "
            f"{cpu / max(frames, 1) * 1000:.2f} ms per frame "
            f"({cpu / seconds * 100:.0f} % of a core, readers included); event-loop "
            f"lateness p99 {_percentile(late, 0.99) * 1000:.1f} ms, "
            f"worst {max(late) * 1000:.0f} ms"
        )


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    """Command line: ``--streams N --seconds S --fps F [--no-renders]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=StreamLimits().fps)
    parser.add_argument("--no-renders", action="store_true", help="skip part one")
    args = parser.parse_args()
    if not args.no_renders:
        measure_renders()
    asyncio.run(measure_streams(args.streams, args.seconds, args.fps))


if __name__ == "__main__":
    main()
