"""Helpers of bench_checks.py: a generated fleet, its store, and the simulator in its own process.

- ``make_fleet`` writes an inventory (every camera on its own 127.x.y.z, high ports,
  credentials, three vendors) and a faults file: a latency spread for the healthy cameras
  (the simulator's ``slow`` fault) and real faults for a share of them;
- ``import_fleet`` stores the inventory in a fresh SQLite store (unmapped: no grid needed);
- ``SimProcess`` runs ``gridbridge simulate`` as a subprocess (it shards itself past the fd
  limit), waits for its control API, and reads its CPU time (workers included) from /proc.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# Real faults and the fault code the daemon should report for each (DESIGN §5).
FAULT_MIX = {
    "down": "unreachable",
    "blackhole": "unreachable",
    "auth_fail": "auth_failed",
    "rtsp_500": "rtsp_error",
    "no_video_track": "rtsp_error",
    "bad_xml": "onvif_error",
    "clock_drift": "clock_drift",
}
RTSP_PORT, ONVIF_PORT = 18554, 18080
VENDORS = [("海康威视", "DS-2CD3T46WD"), ("大华", "DH-IPC-HFW2433M"), ("宇视", "IPC2124LR3")]
HEADER = ["设备编码", "设备名称", "IP地址", "RTSP端口", "ONVIF端口", "用户名", "密码", "RTSP地址"]
HEADER += ["经度", "纬度", "坐标系", "所属网格", "重点部位", "上级设备", "安装地址", "厂商", "型号"]
PATHS = {"海康威视": "/Streaming/Channels/101", "大华": "/cam/realmonitor?channel=1&subtype=0"}


@dataclass(frozen=True)
class Fleet:
    inventory: Path
    faults: Path
    cameras: int
    expected: dict[str, str]  # camera id → fault code expected ("" for a healthy camera)
    kinds: Counter[str]  # fault kinds given (latency spread not counted)
    healthy: list[str]  # ids of cameras without a real fault, for the baselines


def host_of(n: int) -> str:
    return f"127.{30 + n // 62500}.{n // 250 % 250}.{n % 250 + 1}"


def latency_ms(rnd: random.Random, tail: float = 0.08) -> int:
    """Most cameras 2-30 ms; a tail (log-uniform) up to 300 ms."""
    if rnd.random() >= tail:
        return round(rnd.uniform(2, 30))
    return round(math.exp(rnd.uniform(math.log(30), math.log(300))))


def make_fleet(work: Path, cameras: int, fault_share: float = 0.05, seed: int = 11) -> Fleet:
    rnd = random.Random(seed)
    inventory, faults_path = work / "cameras.csv", work / "faults.json"
    faults: dict[str, object] = {}
    expected: dict[str, str] = {}
    kinds: Counter[str] = Counter()
    faulty = set(rnd.sample(range(cameras), round(cameras * fault_share)))
    mix = sorted(FAULT_MIX)
    with inventory.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for n in range(cameras):
            cam_id = f"4199010001132{n % 10}{n + 1:06d}"
            ip = host_of(n)
            vendor, model = VENDORS[n % len(VENDORS)]
            path = PATHS.get(vendor, "/media/video1")
            password = f"Bench#{n % 7}pw"
            out.writerow(
                [cam_id, f"点位{n + 1}号", ip, RTSP_PORT, ONVIF_PORT, "admin", password,
                 f"rtsp://{ip}:{RTSP_PORT}{path}", f"{114 + n % 500 * 1e-4:.6f}",
                 f"{32 + n // 500 * 1e-4:.6f}", "WGS84", "", "否", "", "示范区", vendor, model]
            )  # fmt: skip
            if n in faulty:
                kind = rnd.choice(mix)
                faults[cam_id] = (
                    {"kind": kind, "offset_s": rnd.choice([-900, 120, 3600])}
                    if kind == "clock_drift"
                    else kind
                )
                expected[cam_id] = FAULT_MIX[kind]
                kinds[kind] += 1
            else:
                faults[cam_id] = {"kind": "slow", "latency_ms": latency_ms(rnd)}
                expected[cam_id] = ""
    faults_path.write_text(json.dumps(faults), encoding="utf-8")
    healthy = [cid for cid, code in expected.items() if not code]
    return Fleet(inventory, faults_path, cameras, expected, kinds, healthy)


async def import_fleet(fleet: Fleet, data_dir: Path) -> int:
    """Store the fleet's inventory as ``gridbridge cameras import`` would, without a grid map."""
    from adapters.inventory_file import read_table
    from bridge.bootstrap import build_store
    from bridge.inventory import resolve_columns, validate_rows
    from bridge.settings import Settings, StoreSettings

    table = read_table(fleet.inventory)
    records, issues = validate_rows(table, resolve_columns(table.headers), known_grids=set())
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise SystemExit(f"generated inventory rejected: {errors[:3]}")
    settings = Settings(store=StoreSettings(data_dir=data_dir))
    async with build_store(settings) as store:
        counts = await store.apply_import(records, {}, {})
    return counts.added


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gridbridge() -> str:
    exe = Path(sys.executable).with_name("gridbridge")
    return str(exe) if exe.exists() else "gridbridge"


class SimProcess:
    """``gridbridge simulate`` in its own process group; ``with`` starts and stops it."""

    def __init__(self, fleet: Fleet, log_path: Path, ready_timeout_s: float = 180.0) -> None:
        self.fleet = fleet
        self.log_path = log_path
        self.control = f"127.0.0.1:{free_port()}"
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_s = 0.0

    def __enter__(self) -> SimProcess:
        cmd = [_gridbridge(), "simulate", "--inventory", str(self.fleet.inventory)]
        cmd += ["--faults", str(self.fleet.faults), "--control", self.control]
        t0 = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        self.start_s = time.perf_counter() - t0
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"simulator exited ({self.proc.returncode}): {self.log_tail()}")
            with contextlib.suppress(OSError, ValueError):
                url = f"http://{self.control}/healthz"
                with urllib.request.urlopen(url, timeout=2) as reply:
                    health = json.load(reply)
                if health.get("cameras") == self.fleet.cameras:
                    return
            time.sleep(0.25)
        raise SystemExit(f"simulator not ready in {self.ready_timeout_s:.0f} s: {self.log_tail()}")

    def __exit__(self, *_: object) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this class started
            proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, lines: int = 5) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:])

    def start_line(self) -> str:
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if "simulate: serving" in line:
                return line[line.index("simulate:") :]
        return "(no start line)"
