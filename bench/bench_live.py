"""Benchmark: the live view (issue 7 item 3) — CPU per live stream and per added viewer.

Sources, each in a process of its own (their CPU is not ours):

* **H.264 1920x1080 25 fps**, as an IP camera's main stream: a 30 s clip of a street scene
  (``bridge.simulator.pictures``) with sensor noise and a moving car, encoded once by x264
  (main profile, ~4 Mbit/s, a keyframe every 2 s, no B-frames — as cameras send), served
  in real time by Debian's GStreamer RTSP server (``tests/peers/gst_rtsp_server.py`` with
  its pipeline patched in memory to play the file: no encoder running while we measure).
* **H.264 640x360 25 fps**, a sub-stream (same clip, scaled).
* **H.265 1920x1080 25 fps** (x265, ~2 Mbit/s): many newer cameras send H.265 by default.
* **RTP/JPEG 1920x1080 25 fps** from the project's simulator (MJPEG cameras).

Rows (this process's CPU, all threads, from ``getrusage``; ``--seconds`` each after a warm-up):

1. ``LiveHub``, one stream, one in-process viewer: CPU per stream, for each source.
2. Baseline, same stream: OpenCV ``read()`` of every frame (BGR conversion of all 25),
   then the same scaling and encoding of 5 a second — what ``grab()`` without ``retrieve()``
   saves.
3. ``LiveHub`` with 4 streams at once (the default ``http.live_max_streams``).
4. The HTTP endpoint (``bridge.web.live_api``) with 1, 5 and 20 ``curl`` viewers (child
   processes) of one stream: the cost of an added viewer.

    .venv/bin/python bench/bench_live.py [--seconds 10] [--only 1080p|360p|1080p-h265|mjpeg]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from _proc import server_process
from aiohttp import web

from adapters.live_decoder import fit_size
from adapters.rtsp_grab import CAPTURE_OPTIONS, configure_opencv, ffmpeg_url, jpeg_encode
from bridge.live import LiveConfig, LiveHub
from bridge.web import live_api
from bridge.web.context import set_principal
from bridge.web.principal import Principal, Role

ROOT = Path(__file__).resolve().parents[1]
GST_SCRIPT = ROOT / "tests" / "peers" / "gst_rtsp_server.py"
GST_PYTHON = os.environ.get("GRIDBRIDGE_GST_PYTHON", "/usr/bin/python3")
CLIP_S = 30
FPS = 25
CAMERA_ID = "41990100011326000001"
SIM_CODE = """
import asyncio, sys
from bridge.simulator import SimCamera, Simulator, StreamLimits
async def main():
    cam = SimCamera(id="41990100011326000001", name="bench", host="127.0.0.1",
                    rtsp_port=int(sys.argv[1]), onvif_port=int(sys.argv[2]))
    async with Simulator([cam], snapshot_size=(1920, 1080), stream=StreamLimits(fps=25)):
        print("READY", sys.argv[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_s() -> float:
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- sources --------------------------------------------------------------------------------


# GStreamer encoders as cameras are set: no B-frames, a keyframe every 2 s, ~4 Mbit/s at
# 1080p for H.264 (main profile), half of that for H.265 (its point).
ENCODERS = {
    "h264": "x264enc bitrate={kbps} speed-preset=veryfast tune=zerolatency key-int-max={gop} "
    "! video/x-h264,profile=main ! h264parse",
    "h265": "x265enc bitrate={kbps} speed-preset=superfast tune=zerolatency key-int-max={gop} "
    "! h265parse",
}
PAYLOADERS = {"h264": "h264parse ! rtph264pay", "h265": "h265parse ! rtph265pay"}


def make_clip(work: Path, width: int, height: int, codec: str) -> Path:
    """A CLIP_S-second MP4 of a street scene with noise and a moving car."""
    from bridge.simulator.pictures import live, scene

    frames = work / f"frames-{width}-{codec}"
    frames.mkdir()
    base = scene(3, 1920, 1080)
    for i in range(50):  # two seconds, looped: noise differs per frame, the car moves
        image = live(base, i / FPS, seed=3, osd=f"2026-06-01 12:00:{i // FPS:02d}")
        x = 200 + 30 * i
        cv2.rectangle(image, (x, 700), (x + 260, 820), (40, 40, 170), -1)
        if (width, height) != (1920, 1080):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(frames / f"{i:03d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    clip = work / f"clip-{width}-{codec}.mp4"
    kbps = (4096 if width >= 1280 else 768) // (2 if codec == "h265" else 1)
    encoder = ENCODERS[codec].format(kbps=kbps, gop=2 * FPS)
    pipeline = (
        f"multifilesrc location={frames}/%03d.jpg loop=true num-buffers={CLIP_S * FPS} "
        f'caps="image/jpeg,framerate={FPS}/1" ! jpegdec ! videoconvert ! '
        f"{encoder} ! mp4mux ! filesink location={clip}"
    )
    subprocess.run(["gst-launch-1.0", "-q", *_split(pipeline)], check=True, timeout=600)
    return clip


def _split(pipeline: str) -> list[str]:
    import shlex

    return shlex.split(pipeline)


def gst_file_server(clip: Path, codec: str) -> list[str]:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('peer', {str(GST_SCRIPT)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"m.PIPELINE = '( filesrc location={clip} ! qtdemux ! {PAYLOADERS[codec]} "
        "name=pay0 pt=96 config-interval=1 )'\n"
        "sys.argv = ['peer', '--auth', 'none']\n"
        "sys.exit(m.main())\n"
    )
    return [GST_PYTHON, "-c", code]


@dataclass(frozen=True)
class Source:
    label: str
    url: str


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    streams: int
    viewers: int
    cpu_s: float
    wall_s: float
    busy_s: float  # the whole machine, all processes
    pictures: int = 0  # pictures encoded (hub) or sent
    picture_kib: float = 0.0  # mean size of a picture (hub rows)

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s


async def measure(seconds: float, pictures: Callable[[], int]) -> tuple[float, float, float, int]:
    c0, w0, b0, p0 = cpu_s(), time.monotonic(), machine_busy_s(), pictures()
    await asyncio.sleep(seconds)
    return cpu_s() - c0, time.monotonic() - w0, machine_busy_s() - b0, pictures() - p0


@contextlib.asynccontextmanager
async def viewers_of(hub: LiveHub, urls: list[str], sizes: list[int]) -> AsyncIterator[None]:
    """One in-process viewer per URL (camera id = its index), taking every picture (its
    size appended to ``sizes``)."""
    started = asyncio.Event()
    count = 0

    async def view(i: int, url: str) -> None:
        nonlocal count

        async def source() -> str:
            return url

        async with hub.subscribe(f"cam{i}", source) as viewer:
            await viewer.next_frame()
            count += 1
            if count == len(urls):
                started.set()
            while True:
                sizes.append(len(await viewer.next_frame()))

    tasks = [asyncio.create_task(view(i, u)) for i, u in enumerate(urls)]
    try:
        async with asyncio.timeout(20):
            await started.wait()
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def hub_rows(source: Source, seconds: float, streams: int) -> Row:
    config = LiveConfig(max_streams=max(4, streams))
    sizes: list[int] = []
    async with LiveHub(config) as hub, viewers_of(hub, [source.url] * streams, sizes):
        await asyncio.sleep(1.0)  # past the start-up
        cpu, wall, busy, pictures = await measure(seconds, lambda: hub.stats().frames_encoded)
    kib = sum(sizes) / max(1, len(sizes)) / 1024
    return Row(f"LiveHub, {source.label}", streams, streams, cpu, wall, busy, pictures, kib)


def read_every_frame(url: str, stop: threading.Event, counts: list[int]) -> None:
    """The baseline: ``read()`` (grab + BGR) every frame; scale and encode 5 a second."""
    capture = cv2.VideoCapture(
        ffmpeg_url(url),
        cv2.CAP_FFMPEG,
        [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000,
         cv2.CAP_PROP_N_THREADS, 1],
    )  # fmt: skip
    due = 0.0
    try:
        while not stop.is_set():
            ok, image = capture.read()
            if not ok:
                return
            now = time.monotonic()
            if now >= due:
                due = now + 0.2
                height, width = image.shape[:2]
                small = cv2.resize(
                    image, fit_size(width, height, 640), interpolation=cv2.INTER_AREA
                )
                jpeg_encode(small, 70)
                counts[0] += 1
    finally:
        capture.release()


async def baseline_row(source: Source, seconds: float) -> Row:
    stop = threading.Event()
    counts = [0]
    thread = threading.Thread(target=read_every_frame, args=(source.url, stop, counts))
    thread.start()
    try:
        await asyncio.sleep(1.5)
        cpu, wall, busy, pictures = await measure(seconds, lambda: counts[0])
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 10)
    return Row(f"read() every frame, {source.label}", 1, 1, cpu, wall, busy, pictures)


class OneCamera:
    """:class:`bridge.web.live_api.LiveSources` for one camera, in every grid."""

    def __init__(self, url: str) -> None:
        self.url = url

    def paths_of(self, camera_id: str) -> tuple[()] | None:
        return () if camera_id == CAMERA_ID else None

    async def rtsp_url(self, camera_id: str) -> str | None:
        return self.url


@web.middleware
async def as_admin(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    set_principal(request, Principal("bench", Role.ADMIN))
    return await handler(request)


async def http_rows(source: Source, seconds: float, counts: list[int]) -> list[Row]:
    """One row per viewer count, each with a fresh hub and server (and so a fresh stream:
    the clip lasts CLIP_S seconds)."""
    return [await http_row(source, seconds, n) for n in counts]


async def http_row(source: Source, seconds: float, n: int) -> Row:
    async with LiveHub(LiveConfig(max_viewers=n)) as hub:
        app = web.Application(middlewares=[as_admin])
        live_api.setup(app, hub, OneCamera(source.url))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}/api/cameras/{CAMERA_ID}/live.mjpeg"
        curl = ["-s", "-N", "-o", "/dev/null", "--max-time", str(int(seconds) + 10), url]
        procs = [await asyncio.create_subprocess_exec("curl", *curl) for _ in range(n)]
        try:
            await until(lambda: hub.viewers >= n, 20)
            await asyncio.sleep(1.0)
            cpu, wall, busy, sent = await measure(seconds, lambda: hub.stats().frames_sent)
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):  # it may have ended by itself
                    proc.terminate()
            for proc in procs:
                await proc.wait()
            await runner.cleanup()
    return Row(f"HTTP, {source.label}", 1, n, cpu, wall, busy, sent)


async def until(condition: Callable[[], bool], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.05)


def print_rows(rows: list[Row], base: Row | None = None) -> None:
    for r in rows:
        ratio = f"{r.cpu_s / base.cpu_s:>7.2f}x" if base is not None else ""
        per_stream = r.cores / r.streams * 100
        print(
            f"   {r.what:<44}{r.streams:>4}{r.viewers:>5}{100 * r.cores:>8.1f}%"
            f"{per_stream:>9.1f}%{r.pictures / r.wall_s:>9.1f}"
            f"{100 * r.busy_s / r.wall_s:>9.0f}%{r.picture_kib or float('nan'):>8.1f}{ratio}"
        )


HEAD = (
    f"   {'what':<44}{'str':>4}{'view':>5}{'CPU':>9}{'/stream':>10}{'pic/s':>9}{'machine':>10}"
    f"{'KiB/pic':>8}"
)


SourceMaker = Callable[[], contextlib.AbstractContextManager[Source]]


def prepare(args: argparse.Namespace, work: Path) -> list[tuple[str, SourceMaker]]:
    """The sources to measure (clips made now, servers started when used)."""
    sources: list[tuple[str, SourceMaker]] = []
    have_gst = Path(GST_PYTHON).exists() and shutil.which("gst-launch-1.0") is not None
    if have_gst:
        clips = (
            ("1080p", (1920, 1080), "h264"),
            ("360p", (640, 360), "h264"),
            ("1080p-h265", (1920, 1080), "h265"),
        )
        for label, size, codec in clips:
            if args.only not in (None, label):
                continue
            started = time.monotonic()
            clip = make_clip(work, *size, codec)
            print(
                f"   clip {size[0]}x{size[1]} {codec}: "
                f"{clip.stat().st_size * 8 / CLIP_S / 1e6:.1f} Mbit/s, made in "
                f"{time.monotonic() - started:.0f} s"
            )
            name = f"{'H.265' if codec == 'h265' else 'H.264'} {size[1]}p 25 fps"

            @contextlib.contextmanager
            def gst(clip: Path = clip, codec: str = codec, name: str = name) -> Iterator[Source]:
                with server_process(gst_file_server(clip, codec)) as port:
                    yield Source(name, f"rtsp://127.0.0.1:{port}/test")

            sources.append((label, gst))
    else:
        print("   GStreamer missing: H.264 and H.265 rows skipped")
    if args.only in (None, "mjpeg"):

        @contextlib.contextmanager
        def sim() -> Iterator[Source]:
            rtsp, onvif = free_port(), free_port()
            cmd = [sys.executable, "-c", SIM_CODE, str(rtsp), str(onvif)]
            with server_process(cmd) as port:
                yield Source(
                    "MJPEG 1080p 25 fps", f"rtsp://127.0.0.1:{port}/Streaming/Channels/101"
                )

        sources.append(("mjpeg", sim))
    return sources


async def run(args: argparse.Namespace, sources: list[tuple[str, SourceMaker]]) -> None:
    await asyncio.to_thread(configure_opencv)
    print(f"\n1-3. Decoding: this process's CPU over {args.seconds:g} s (100% = one core)")
    print(HEAD + "  vs hub")
    for label, make in sources:
        with make() as source:
            one = await hub_rows(source, args.seconds, 1)
            print_rows([one], one)
            if label == "1080p":
                print_rows([await baseline_row(source, args.seconds)], one)
                print_rows([await hub_rows(source, args.seconds, 4)], one)
    for label, make in sources:
        if label != "1080p":
            continue
        print(f"\n4. Viewers over HTTP (curl children, not counted), {args.seconds:g} s each")
        print(HEAD)
        with make() as source:
            rows = await http_rows(source, args.seconds, [1, 5, 20])
        print_rows(rows)
        first, last = rows[0], rows[-1]
        per_viewer = (last.cpu_s / last.wall_s - first.cpu_s / first.wall_s) / (
            last.viewers - first.viewers
        )
        print(f"   per added viewer: {100 * per_viewer:.2f}% of a core")
    print(
        "\n   str/view = streams (decoders) and viewers; CPU = this process, all threads; "
        "/stream = CPU / streams; pic/s = pictures encoded (rows 1-3) or sent (row 4) a "
        "second; machine = all cores busy, all processes (2 cores = 200%: the sources run "
        "beside us); KiB/pic = mean picture size.  "
        f"OPENCV_FFMPEG_CAPTURE_OPTIONS={CAPTURE_OPTIONS}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", choices=("1080p", "360p", "1080p-h265", "mjpeg"))
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} cores, load average {load} at start; Python "
        f"{platform.python_version()}; OpenCV {cv2.__version__}; numpy {np.__version__}"
    )
    with tempfile.TemporaryDirectory(prefix="gridbridge-live-") as tmp:
        sources = prepare(args, Path(tmp))
        asyncio.run(run(args, sources))
    return 0


if __name__ == "__main__":
    sys.exit(main())
