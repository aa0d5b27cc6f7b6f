"""Process figures from /proc for bench_checks.py: RSS, open fds, CPU of a process tree and of
the whole machine (to tell how much of the 2 cores other work took during a measurement);
and `server_process`, a peer server run for a benchmark (bench_frames.py, bench_live.py)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds() -> int:
    """Descriptors open in this process (-1 when even listing them fails: none left)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a live process and its live children."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (not idle, not waiting for I/O)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / _TICK


class Clock:
    """Wall time, this process's CPU, the simulator's CPU and everybody else's CPU."""

    def __init__(self, sim_pid: int) -> None:
        self.sim_pid = sim_pid
        self._start = (0.0, 0.0, 0.0, 0.0)

    def start(self) -> Clock:
        self._start = self._now()
        return self

    def _now(self) -> tuple[float, float, float, float]:
        return (
            time.perf_counter(),
            time.process_time(),
            tree_cpu_s(self.sim_pid),
            machine_busy_s(),
        )

    def stop(self) -> dict[str, float]:
        """``wall``, ``cpu`` (ours), ``sim`` and ``others`` (the rest of the machine), in s."""
        wall, cpu, sim, busy = (b - a for a, b in zip(self._start, self._now(), strict=True))
        return {"wall": wall, "cpu": cpu, "sim": sim, "others": max(0.0, busy - cpu - sim)}


@contextmanager
def server_process(cmd: list[str], env: dict[str, str] | None = None) -> Iterator[int]:
    """Run ``cmd`` (it prints READY <port>); yield the port; end it by closing its stdin."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    assert proc.stdin is not None
    line = proc.stdout.readline().strip()
    try:
        if not line.startswith("READY "):
            raise RuntimeError(f"{cmd[:2]} did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
