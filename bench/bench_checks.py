"""Benchmark: cheap checks of a simulated district (DESIGN §9, issue 3 item 7).

For each fleet size: generates an inventory (every camera on its own 127.x.y.z, high ports,
credentials, a latency spread 2-30 ms with a tail to 300 ms, 5 % real faults), stores it in a
fresh SQLite store, starts ``gridbridge simulate`` in its own process(es) and measures a client
process of its own (bench/_client.py): memory per camera, time to a first state for every
camera and steady-state checks/s through the Monitor, and raw cheap-check throughput through
``Checker.check``.  With the first size, the baselines (bench/_baselines.py): an ``ffprobe``
process per camera and onvif-zeep-async per camera, as ratios to ours.  Targets: ≥ 2,000
cameras/s in one process, ≤ 10 KB per camera, a first state within one interval.

    .venv/bin/python bench/bench_checks.py [--cameras 1000 5000 20000] [--repeat 3] [--uvloop]
        [--baseline-cameras 50] [--onvif-keepalive-s 1] [--memory-keepalive-s S] [--work-dir D]

The machine's 2 cores are shared by the simulator and the client: the client's CPU is measured
on its own (process time), the simulator's and everybody else's are shown beside it.  The
default run (three sizes, baselines) takes about 7 minutes, about 9.5 with --uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _report import print_report
from _sim import FAULT_MIX, SimProcess, import_fleet, make_fleet

from bridge.logs import setup_logging

HERE = Path(__file__).resolve().parent


def run_json(cmd: list[str], log: Path) -> dict[str, Any] | None:
    """Run a helper; its last stdout line is JSON.  Its stderr goes to ``log``."""
    with log.open("w", encoding="utf-8") as err:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, check=False)
    problems = [
        line
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
        if " WARNING " in line or " ERROR " in line or "Traceback" in line
    ]
    if problems:
        print(f"  {len(problems)} warning/error line(s) in {log}, e.g.: {problems[0][:160]}")
    if done.returncode != 0 or not done.stdout.strip():
        print(f"  FAILED ({done.returncode}); see {log}")
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def one_size(cameras: int, args: argparse.Namespace, work: Path, first: bool) -> dict[str, Any]:
    here = work / f"n{cameras}"
    here.mkdir(parents=True)
    t0 = time.perf_counter()
    fleet = make_fleet(here, cameras)
    added = asyncio.run(import_fleet(fleet, here / "data"))
    expected = here / "expected.json"
    expected.write_text(json.dumps(fleet.expected), encoding="utf-8")
    kinds = ", ".join(f"{k} {fleet.kinds[k]}" for k in FAULT_MIX)
    print(f"\n== {cameras:,} cameras ==  ({added:,} stored in {time.perf_counter() - t0:.1f} s)")
    print(f"  faults: {sum(fleet.kinds.values())} ({kinds}); the rest: latency spread")
    out: dict[str, Any] = {"cameras": cameras}
    common = ["--data-dir", str(here / "data"), "--concurrency", str(args.concurrency)]
    common += ["--per-host", str(args.per_host)]
    with SimProcess(fleet, here / "simulate.log") as sim:
        print(f"  {sim.start_line()} (ready in {sim.start_s:.1f} s)")
        cmd = [sys.executable, str(HERE / "_client.py"), *common, "--expected", str(expected)]
        cmd += ["--sim-pid", str(sim.pid), "--repeat", str(args.repeat), "--rate", str(args.rate)]
        cmd += ["--onvif-keepalive-s", str(args.onvif_keepalive_s)]
        if args.memory_keepalive_s is not None:
            cmd += ["--first-keepalive-s", str(args.memory_keepalive_s)]
        cmd += ["--uvloop"] if args.uvloop else []
        t0 = time.perf_counter()
        out["client"] = client = run_json(cmd, here / "client.log")
        print(f"  client done in {time.perf_counter() - t0:.0f} s")
        if client and client.get("error"):
            print(f"  client FAILED part-way: {client['error']} (see {here / 'client.log'})")
        if first and args.baseline_cameras > 0:
            ids = here / "baseline-ids.json"
            ids.write_text(json.dumps(fleet.healthy[: args.baseline_cameras]), encoding="utf-8")
            cmd = [sys.executable, str(HERE / "_baselines.py"), *common, "--ids", str(ids)]
            cmd += ["--parallel", str(args.ffprobe_parallel)]
            t0 = time.perf_counter()
            out["baselines"] = run_json(cmd, here / "baselines.log")
            print(f"  baselines done in {time.perf_counter() - t0:.0f} s")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--cameras", type=int, nargs="+", default=[1_000, 5_000, 20_000])
    parser.add_argument("--repeat", type=int, default=3, help="throughput passes (medians)")
    parser.add_argument("--baseline-cameras", type=int, default=50, help="0: no baselines")
    parser.add_argument("--ffprobe-parallel", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=500, help="probe.concurrency")
    parser.add_argument("--per-host", type=int, default=2, help="probe.per_host_concurrency")
    parser.add_argument("--rate", type=float, default=2000.0, help="steady-state demand, /s")
    parser.add_argument(
        "--onvif-keepalive-s",
        type=float,
        default=1.0,
        help="idle ONVIF keep-alive of the steady-state and throughput clients (shipped: 15)",
    )
    parser.add_argument(
        "--memory-keepalive-s",
        type=float,
        help="idle ONVIF keep-alive for memory and first state (default: as shipped, 15)",
    )
    parser.add_argument(
        "--uvloop", action="store_true", help="also measure throughput under uvloop"
    )
    parser.add_argument(
        "--work-dir", type=Path, help="keep logs and files under this directory (default: temp)"
    )
    args = parser.parse_args()
    setup_logging("ERROR", json_lines=False)

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} cores, shared by the simulator and the client (both on "
        f"this machine); load average {load} at start; Python {platform.python_version()}"
    )
    print(
        f"checks: RTSP DESCRIBE (Digest) + ONVIF GetSystemDateAndTime per camera; "
        f"probe.concurrency {args.concurrency}, per host {args.per_host}, timeout 3 s"
    )
    shipped = args.memory_keepalive_s is None
    print(
        f"ONVIF keep-alive: {'as shipped (15 s)' if shipped else f'{args.memory_keepalive_s:g} s'}"
        f" for memory and first state; "
        f"{args.onvif_keepalive_s:g} s for steady state and throughput (with 15 s, a client "
        f"checking 20,000 cameras in < 15 s holds ~20,000 idle sockets: past this machine's "
        f"hard limit of 20,000 descriptors; at the default 30 s interval no connection is "
        f"reused either way)"
    )
    if args.uvloop and importlib.util.find_spec("uvloop") is None:
        print("uvloop is not installed (pip install uvloop): throughput with asyncio's loop only")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gridbridge-bench-") as tmp:
        if args.work_dir:
            args.work_dir.mkdir(parents=True, exist_ok=True)
        kept = args.work_dir and Path(tempfile.mkdtemp(prefix="run-", dir=args.work_dir))
        work = kept or Path(tmp)
        results = [
            one_size(n, args, work, first=(i == 0)) for i, n in enumerate(sorted(args.cameras))
        ]
        print_report(results, args)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nwhole run {time.perf_counter() - started:.0f} s; load average {load} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
