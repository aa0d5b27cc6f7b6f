"""Benchmark: the frame tier (DESIGN §9, issue 5 item 1) — what a picture costs us.

A. HTTP-JPEG snapshot + full diagnosis at 1080p.  A loopback aiohttp server in a process of
   its own (its CPU is not ours) serves 1920x1080 JPEGs of a street scene with live sensor
   noise (``bridge.simulator.pictures``), behind Digest auth.  This process fetches them with
   ``adapters.snapshot_http.fetch_snapshot`` over a new connection each time (as
   ``bridge.frame_sources`` does), decodes them with ``health.vqd.decode_jpeg`` and diagnoses
   them with ``health.vqd.diagnose`` (previous frame and reference given), inline on the event
   loop or in a thread pool; and, when ``bridge.frame_analysis`` is there, whole looks (two
   snapshots + ``analyse``: decode, diagnose, learn, thumbnail).  Figures: frames/s of wall
   time, CPU ms per frame, frames/s per core (= 1000 / CPU ms).  Goal: >= 50 per core.
B. RTSP grab CPU per camera: ``adapters.rtsp_grab.FrameGrabber`` against the ``ffmpeg`` command
   line grabbing one frame, both against Debian's GStreamer RTSP server on loopback
   (640x360 10 fps as in the tests, and 1920x1080 25 fps), the child's CPU from
   ``RUSAGE_CHILDREN``.  Also two frames 2 s apart: reopen (what FrameGrabber does) against
   one open stream decoding through the gap.

    .venv/bin/python bench/bench_frames.py [--frames 400] [--concurrency 8] [--grabs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
from _proc import server_process

from adapters.rtsp_grab import CAPTURE_OPTIONS, FrameGrabber, ffmpeg_url
from adapters.snapshot_http import AuthMemory, fetch_snapshot

ROOT = Path(__file__).resolve().parents[1]
GST_SCRIPT = ROOT / "tests" / "peers" / "gst_rtsp_server.py"
GST_PYTHON = os.environ.get("GRIDBRIDGE_GST_PYTHON", "/usr/bin/python3")
USER, PASSWORD = "admin", "bench-pw"
GOAL_PER_CORE = 50.0
TIMEOUT_S = 10.0
Row = tuple[str, float, float]


def have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# --- A. the snapshot server (a process of its own) ------------------------------------------


def serve(directory: Path) -> None:
    """``--serve DIR``: serve DIR's *.jpg in turn at any path behind a Digest challenge
    (any answer accepted: the server's CPU is not what is measured); print READY <port>."""
    from aiohttp import web

    bodies = [p.read_bytes() for p in sorted(directory.glob("*.jpg"))]
    turn = 0

    async def snapshot(request: web.Request) -> web.Response:
        nonlocal turn
        if not request.headers.get("Authorization", "").startswith("Digest "):
            challenge = 'Digest realm="bench", qop="auth", nonce="0123456789abcdef"'
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        turn += 1
        return web.Response(body=bodies[turn % len(bodies)], content_type="image/jpeg")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", snapshot)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=512)
        await site.start()
        print(f"READY {runner.addresses[0][1]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
        await runner.cleanup()

    asyncio.run(main())


def make_jpegs(directory: Path, count: int) -> str:
    """``count`` 1080p JPEGs (quality 85, as cameras send); what they show."""
    try:
        from bridge.simulator.pictures import live, scene

        base = scene(3, 1920, 1080)
        images = [live(base, t, seed=3, osd="2025-06-01 12:00:00") for t in range(count)]
        what = "street scene (bridge.simulator.pictures) with live noise"
    except ImportError:
        rng = np.random.default_rng(3)
        ramp = np.linspace(0, 255, 1920, dtype=np.float32)[np.newaxis, :, np.newaxis]
        base = np.broadcast_to(ramp, (1080, 1920, 3)).astype(np.uint8)
        images = [
            cv2.add(base, rng.normal(0, 2, base.shape), dtype=cv2.CV_8U) for _ in range(count)
        ]
        what = "a grey ramp with noise (bridge.simulator.pictures missing)"
    sizes = []
    for i, image in enumerate(images):
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        (directory / f"{i:03d}.jpg").write_bytes(data.tobytes())
        sizes.append(len(data))
    return f"{what}, {statistics.mean(sizes) / 1024:.0f} KiB each"


# --- A. the client ---------------------------------------------------------------------------


class Vqd:
    """decode + diagnose of one frame against the previous one and the reference."""

    def __init__(self) -> None:
        from health.vqd import decode_jpeg, diagnose

        self.decode, self.diagnose = decode_jpeg, diagnose
        self.previous: Any = None
        self.reference: Any = None

    def __call__(self, jpeg: bytes) -> tuple[str, ...]:
        frame = self.decode(jpeg)
        if self.reference is None:
            self.reference = frame
        faults: tuple[str, ...] = self.diagnose(
            frame, previous=self.previous, reference=self.reference
        ).faults
        self.previous = frame
        return faults


class Look:
    """The daemon's whole look (bridge.frame_analysis.analyse) on two snapshots."""

    def __init__(self) -> None:
        from bridge.frame_analysis import ThumbRules, analyse
        from bridge.frame_sources import Pictures
        from health.vqd import VqdRules

        self.analyse, self.pictures = analyse, Pictures
        self.rules, self.thumbs = VqdRules(), ThumbRules()
        self.reference: bytes | None = None
        self.baseline: dict[str, Any] | None = None

    def __call__(self, first: bytes, second: bytes) -> tuple[str, ...]:
        result = self.analyse(
            self.pictures("http", jpegs=(first, second)),
            reference_jpeg=self.reference,
            baseline_json=self.baseline,
            night_window=False,
            rules=self.rules,
            thumbs=self.thumbs,
        )
        self.reference = self.reference or result.new_reference
        self.baseline = result.baseline
        faults: tuple[str, ...] = result.diagnosis.faults
        return faults


async def run_a(url: str, mode: str, frames: int, concurrency: int) -> dict[str, float]:
    """``frames`` snapshots (+ work per ``mode``) with ``concurrency`` workers: wall, CPU."""
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    memory = AuthMemory()
    loop = asyncio.get_running_loop()
    faults: dict[tuple[str, ...], int] = {}
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def shot() -> bytes:
            snap = await fetch_snapshot(
                session, url, username=USER, password=PASSWORD, timeout_s=TIMEOUT_S,
                auth_memory=memory,
            )  # fmt: skip
            return snap.jpeg

        async def worker(count: int) -> None:
            vqd = Vqd() if mode in ("inline", "threads") else None
            look = Look() if mode == "look" else None
            for _ in range(count):
                if look is not None:
                    first, second = await shot(), await shot()
                    found = await loop.run_in_executor(pool, look, first, second)
                elif vqd is not None and mode == "inline":
                    found = vqd(await shot())
                elif vqd is not None:
                    found = await loop.run_in_executor(pool, vqd, await shot())
                else:
                    await shot()
                    found = ()
                faults[found] = faults.get(found, 0) + 1

        per_worker = frames // concurrency // (2 if mode == "look" else 1)
        await asyncio.gather(*(worker(1) for _ in range(concurrency)))  # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(per_worker) for _ in range(concurrency)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pool.shutdown()
    done = per_worker * concurrency * (2 if mode == "look" else 1)
    top = max(faults, key=lambda k: faults[k])
    return {"frames": done, "wall": wall, "cpu": cpu, "faults": ",".join(top) or "none"}  # type: ignore[dict-item]


def breakdown(directory: Path, rounds: int = 3) -> str:
    """CPU ms per frame of decode_jpeg and of diagnose alone (no network)."""
    from health.vqd import decode_jpeg, diagnose

    jpegs = [p.read_bytes() for p in sorted(directory.glob("*.jpg"))]
    reference = decode_jpeg(jpegs[0])
    c0 = time.process_time()
    frames = [decode_jpeg(j) for _ in range(rounds) for j in jpegs]
    c1 = time.process_time()
    for previous, frame in itertools.pairwise(frames):
        diagnose(frame, previous=previous, reference=reference)
    c2 = time.process_time()
    decode_ms = 1000 * (c1 - c0) / len(frames)
    diagnose_ms = 1000 * (c2 - c1) / (len(frames) - 1)
    return f"decode_jpeg {decode_ms:.2f} ms, diagnose {diagnose_ms:.2f} ms CPU per frame"


def part_a(args: argparse.Namespace, work: Path) -> None:
    print(f"\nA. HTTP-JPEG snapshot + diagnosis, 1920x1080 input ({args.frames} frames each)")
    jpegs = work / "jpegs"
    jpegs.mkdir()
    print(f"   pictures: {make_jpegs(jpegs, 16)}; Digest auth, a new connection per fetch")
    modes = ["fetch"]
    if have("health.vqd"):
        modes += ["inline", "threads"]
    else:
        print("   health.vqd is missing: fetch only (ask the lead)")
    if have("bridge.frame_analysis"):
        modes.append("look")
    cmd = [sys.executable, __file__, "--serve", str(jpegs)]
    with server_process(cmd) as port:
        url = f"http://127.0.0.1:{port}/onvif/snapshot.jpg"
        head = f"   {'mode':<34}{'frames/s':>10}{'CPU ms/frame':>14}{'frames/s/core':>15}  goal"
        print(head + "  (most frequent faults)")
        labels = {
            "fetch": "fetch_snapshot only",
            "inline": "fetch + decode + diagnose, inline",
            "threads": "fetch + decode + diagnose, threads",
            "look": "whole looks (2 fetches + analyse)",
        }
        for mode in modes:
            r = asyncio.run(run_a(url, mode, args.frames, args.concurrency))
            ms = 1000 * r["cpu"] / r["frames"]
            per_core = 1000 / ms
            verdict = "ok" if per_core >= GOAL_PER_CORE else "MISSED"
            print(
                f"   {labels[mode]:<34}{r['frames'] / r['wall']:>10.1f}{ms:>14.2f}"
                f"{per_core:>15.1f}  {verdict if mode != 'fetch' else '':<6}({r['faults']})"
            )
    if "inline" in modes:
        print(f"   of which, on one thread: {breakdown(jpegs)}")
    print(
        f"   {args.concurrency} concurrent cameras; CPU = this process (all threads); the "
        "server's process is not counted.  'look' counts each of its two pictures as a frame."
    )


# --- B. RTSP grabs ---------------------------------------------------------------------------


def gst_server(size: str) -> list[str]:
    """A command starting the test peer; for 1080p with its pipeline patched in memory."""
    if size == "360p":
        return [GST_PYTHON, str(GST_SCRIPT), "--auth", "digest", "--user", USER]
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('peer', {str(GST_SCRIPT)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "m.PIPELINE = m.PIPELINE.replace('width=640,height=360,framerate=10/1', "
        "'width=1920,height=1080,framerate=25/1').replace('key-int-max=10', 'key-int-max=50')\n"
        f"sys.argv = ['peer', '--auth', 'digest', '--user', {USER!r}]\n"
        "sys.exit(m.main())\n"
    )
    return [GST_PYTHON, "-c", code]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


Step = Callable[[], Awaitable[None]]


async def measure(n: int, one: Step, cpu: Callable[[], float]) -> tuple[float, float]:
    """Median CPU ms and median wall s of ``n`` runs of ``one`` (after one warm-up)."""
    await one()
    cpus, walls = [], []
    for _ in range(n):
        c, w = cpu(), time.perf_counter()
        await one()
        cpus.append(1000 * (cpu() - c))
        walls.append(time.perf_counter() - w)
    return statistics.median(cpus), statistics.median(walls)


def grab(grabber: FrameGrabber, url: str, frames: int = 1, gap_s: float = 0.0) -> Step:
    async def one() -> None:
        got = await grabber.grab(url, deadline_s=TIMEOUT_S + gap_s, frames=frames, gap_s=gap_s)
        assert len(got) == frames

    return one


def keep_open(url: str, gap_s: float) -> Step:
    """Two frames ``gap_s`` apart from one open stream, decoding every frame between (run
    on the loop's thread: nothing else runs meanwhile)."""
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
    params += [cv2.CAP_PROP_N_THREADS, 1]

    async def one() -> None:
        capture = cv2.VideoCapture(ffmpeg_url(url), cv2.CAP_FFMPEG, params)
        ok, _ = capture.read()
        until = time.monotonic() + gap_s
        while ok and time.monotonic() < until:
            ok = capture.grab()
        ok = ok and capture.read()[0]
        capture.release()
        assert ok

    return one


def ffmpeg_cli(url: str, out: Path, fast: bool) -> Step:
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp"]
    cmd += ["-analyzeduration", "0", "-probesize", "32"] if fast else []
    cmd += ["-i", ffmpeg_url(url), "-frames:v", "1", "-f", "image2", "-y", str(out)]

    async def one() -> None:
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.DEVNULL)
        assert await proc.wait() == 0

    return one


async def grab_rows(url: str, args: argparse.Namespace, work: Path) -> list[Row]:
    gap_n = max(3, args.grabs // 4)
    async with FrameGrabber(threads=2) as grabber:
        rows = [
            ("FrameGrabber.grab, 1 frame",)
            + await measure(args.grabs, grab(grabber, url), time.process_time)
        ]
        if shutil.which("ffmpeg"):
            for fast in (False, True):
                label = "ffmpeg CLI -frames:v 1" + (", fast probing" if fast else "")
                one = ffmpeg_cli(url, work / "out.jpg", fast)
                rows.append((label,) + await measure(args.grabs, one, children_cpu))
        two = grab(grabber, url, frames=2, gap_s=2.0)
        rows.append(
            ("FrameGrabber, 2 frames 2 s apart (reopen)",)
            + await measure(gap_n, two, time.process_time)
        )
        rows.append(
            ("one open stream, 2 frames 2 s apart",)
            + await measure(gap_n, keep_open(url, 2.0), time.process_time)
        )
    return rows


def part_b(args: argparse.Namespace, work: Path) -> None:
    print(f"\nB. RTSP frame grab, CPU per camera (medians of {args.grabs}; GStreamer, Digest)")
    if not Path(GST_PYTHON).exists() or not GST_SCRIPT.exists():
        print(f"   skipped: {GST_PYTHON} or {GST_SCRIPT} missing")
        return
    print(f"   OPENCV_FFMPEG_CAPTURE_OPTIONS={CAPTURE_OPTIONS}")
    env = dict(os.environ, GST_RTSP_TEST_PASSWORD=PASSWORD)
    print(f"   {'stream':<8}{'grab':<44}{'CPU ms':>8}{'wall s':>8}{'CPU vs FrameGrabber':>21}")
    for size in ("360p", "1080p"):
        with server_process(gst_server(size), env) as port:
            url = f"rtsp://{USER}:{PASSWORD}@127.0.0.1:{port}/test"
            rows = asyncio.run(grab_rows(url, args, work))
        base = rows[0][1]
        for label, cpu_ms, wall in rows:
            print(f"   {size:<8}{label:<44}{cpu_ms:>8.1f}{wall:>8.2f}{cpu_ms / base:>20.1f}x")
    if not shutil.which("ffmpeg"):
        print("   ffmpeg not installed (apt-get install ffmpeg): no command-line baseline")
    print(
        "   360p = 640x360 10 fps (the tests' stream), 1080p = 1920x1080 25 fps, H.264 "
        "(x264 ultrafast).  CPU: FrameGrabber rows = this process, all threads; ffmpeg rows "
        "= the child (RUSAGE_CHILDREN).  Wall on loopback; cameras add up to a keyframe "
        "interval."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--frames", type=int, default=400, help="snapshots per mode (A)")
    parser.add_argument("--concurrency", type=int, default=8, help="cameras at once (A)")
    parser.add_argument("--grabs", type=int, default=20, help="grabs per row (B)")
    parser.add_argument("--only", choices=("a", "b"), help="run one part")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} cores, load average {load} at start; Python "
        f"{platform.python_version()}; OpenCV {cv2.__version__}"
    )
    with tempfile.TemporaryDirectory(prefix="gridbridge-frames-") as tmp:
        if args.only in (None, "a"):
            part_a(args, Path(tmp))
        if args.only in (None, "b"):
            part_b(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
