"""Baselines of bench_checks.py, in a process of their own, on a few healthy simulated cameras.

    python bench/_baselines.py --data-dir DIR --ids FILE [--parallel 10]

- ``ffprobe`` per camera (``-rtsp_transport tcp -timeout 3000000``), ``--parallel`` at a time:
  children's CPU from ``getrusage(RUSAGE_CHILDREN)``, wall per process;
- ONVIF GetSystemDateAndTime through onvif-zeep-async with a new ``ONVIFCamera`` per camera
  (what a naive integration does) against our lean heartbeat (``OnvifHeartbeat``), new
  connections and then keep-alive;
- our whole cheap check (``Checker.check``) on the same cameras, one at a time.
Prints one JSON object on its last stdout line.  No URL or password is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _client import load_targets
from _pipeline import settings_for

from adapters.onvif_soap import OnvifHeartbeat, OnvifTarget
from bridge.checker import ONVIF_DEVICE_PATH, CheckTarget
from bridge.logs import setup_logging
from bridge.probes import real_probes

Result = dict[str, Any]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ffprobe_loop(targets: list[CheckTarget], parallel: int) -> Result:
    exe = shutil.which("ffprobe")
    if exe is None:
        return {"skipped": "ffprobe not found (apt-get install ffmpeg)"}

    def one(t: CheckTarget) -> tuple[float, int]:
        auth = f"{quote(t.username or '', safe='')}:{quote(t.password or '', safe='')}@"
        url = f"rtsp://{auth}{t.host}:{t.rtsp_port}{t.rtsp_path or '/'}"
        cmd = [exe, "-v", "error", "-rtsp_transport", "tcp", "-timeout", "3000000", "-i", url]
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
        return time.perf_counter() - started, done.returncode

    cpu0, wall0 = _children_cpu_s(), time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        runs = list(pool.map(one, targets))
    cpu, wall = _children_cpu_s() - cpu0, time.perf_counter() - wall0
    walls = [w for w, _ in runs]
    return {
        "n": len(runs),
        "cpu_ms": cpu / len(runs) * 1000,
        "wall_s_median": statistics.median(walls),
        "wall_s_min": min(walls),
        "wall_s_max": max(walls),
        "loop_wall_s": wall,
        "parallel": parallel,
        "exit_codes": sorted({code for _, code in runs}),
    }


async def zeep_naive(targets: list[CheckTarget]) -> Result:
    """A new ONVIFCamera per camera, its device service, GetSystemDateAndTime, close."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    from onvif import ONVIFCamera  # type: ignore[import-untyped]  # calls basicConfig

    root.handlers[:], root.level = handlers, level

    async def one(t: CheckTarget) -> None:
        cam = ONVIFCamera(t.host, t.onvif_port, t.username, t.password, no_cache=True)
        try:
            device = await cam.create_devicemgmt_service()
            await device.GetSystemDateAndTime()
        finally:
            await cam.close()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await one(targets[0])  # the first one parses the WSDLs
    first_cpu, first_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for t in targets[1:]:
        await one(t)
    n = len(targets) - 1
    return {
        "n": n,
        "first_cpu_ms": first_cpu * 1000,
        "first_wall_ms": first_wall * 1000,
        "cpu_ms": (time.process_time() - cpu0) / n * 1000,
        "wall_ms": (time.perf_counter() - wall0) / n * 1000,
    }


async def lean_heartbeat(targets: list[CheckTarget]) -> Result:
    out: Result = {"n": len(targets)}
    async with OnvifHeartbeat(keepalive_timeout_s=60) as heartbeat:
        for label in ("new_conn", "keep_alive"):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for t in targets:
                target = OnvifTarget(
                    t.host, t.onvif_port, t.username or "", t.password or "", ONVIF_DEVICE_PATH
                )
                await heartbeat.system_date_time(target, 3.0)
            out[f"{label}_cpu_ms"] = (time.process_time() - cpu0) / len(targets) * 1000
            out[f"{label}_wall_ms"] = (time.perf_counter() - wall0) / len(targets) * 1000
    return out


async def our_check(targets: list[CheckTarget], args: argparse.Namespace) -> Result:
    """Our whole cheap check (DESCRIBE + GetSystemDateAndTime), one camera at a time, warm."""
    async with real_probes(settings_for(args, 30.0)) as probes:
        for t in targets:  # warm: Digest nonces cached, as in every interval but the first
            await probes.checker.check(t)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for t in targets:
            await probes.checker.check(t)
        n = len(targets)
        return {
            "n": n,
            "cpu_ms": (time.process_time() - cpu0) / n * 1000,
            "wall_ms": (time.perf_counter() - wall0) / n * 1000,
        }


async def run(args: argparse.Namespace) -> Result:
    wanted = json.loads(args.ids.read_text(encoding="utf-8"))
    by_id = {t.camera_id: t for t in await load_targets(settings_for(args, 30.0))}
    targets = [by_id[i] for i in wanted if i in by_id]
    result: Result = {"cameras": len(targets)}
    result["ours"] = await our_check(targets, args)
    result["lean"] = await lean_heartbeat(targets)
    result["zeep"] = await zeep_naive(targets)
    result["ffprobe"] = await asyncio.to_thread(ffprobe_loop, targets, args.parallel)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--ids", type=Path, required=True, help="JSON list of camera ids")
    parser.add_argument("--parallel", type=int, default=10, help="ffprobe processes at once")
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--per-host", type=int, default=2)
    args = parser.parse_args()
    setup_logging("WARNING", json_lines=False)
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
