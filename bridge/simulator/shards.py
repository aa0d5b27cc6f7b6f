"""A simulator spread over worker processes, for fleets one process cannot hold open.

Each camera needs two listening sockets, so one process serves at most
``(RLIMIT_NOFILE - FD_RESERVE) / 2`` cameras (9,488 under a 20,000 limit).  ``ShardedSimulator``
starts ``shards`` workers (``python -m bridge.simulator.worker``), each serving every
``shards``-th camera of the same inventory, and drives them over their stdin with one JSON
line per change.  It keeps the authoritative fault table itself, so it answers ``faults()``
at once and validates all-or-nothing before anything is sent.  A worker ends when its stdin
closes, so workers never outlive the parent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path

from bridge.simulator.faults import Fault, parse_faults
from bridge.simulator.model import SimCamera, SimulatorError
from bridge.simulator.server import FD_RESERVE

__all__ = ["READY_TIMEOUT_S", "ShardedSimulator", "capacity", "shards_needed"]

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 10.0


def capacity(fd_limit: int) -> int:
    """How many cameras one process can serve under ``fd_limit`` open files."""
    return max(0, (fd_limit - FD_RESERVE) // 2)


def shards_needed(cameras: int, fd_limit: int) -> int:
    """Worker processes needed for ``cameras`` cameras (1 = serve in this process)."""
    per_process = capacity(fd_limit)
    if per_process < 1:
        raise SimulatorError(
            f"the open-file limit {fd_limit} is too low to serve even one camera "
            f"(needs {FD_RESERVE + 2}); raise it with ulimit -n"
        )
    return max(1, -(-cameras // per_process))


class ShardedSimulator:
    """Serves ``cameras`` (loaded from ``inventory``) in ``shards`` worker processes.

    Same control surface as ``Simulator``: ``start``/``close``, ``set_faults``,
    ``clear_fault``, ``clear_faults``, ``faults``, ``cameras``, ``is_listening``.  Fault
    changes are sent to the workers at once and take effect there within a loop turn.
    """

    def __init__(
        self,
        inventory: Path,
        cameras: list[SimCamera],
        shards: int,
        *,
        faults: Mapping[str, object] | None = None,
    ) -> None:
        self._inventory = inventory
        self._cameras = tuple(cameras)
        self._shards = shards
        self._shard_of = {c.id: i % shards for i, c in enumerate(cameras)}
        self._initial = dict(faults or {})
        self._faults: dict[str, Fault] = {}
        self._since: dict[str, float] = {}
        self._procs: list[asyncio.subprocess.Process] = []

    @property
    def cameras(self) -> tuple[SimCamera, ...]:
        """The cameras served, in inventory order."""
        return self._cameras

    async def start(self) -> None:
        """Start every worker and wait until each has bound its cameras.

        Raises ``SimulatorError`` (all workers stopped) if one fails or is not ready within
        ``READY_TIMEOUT_S``; ``FaultError`` for invalid initial faults.
        """
        self._faults = parse_faults(self._initial, self._shard_of)
        now = asyncio.get_running_loop().time()
        self._since = dict.fromkeys(self._faults, now)
        try:
            for index in range(self._shards):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bridge.simulator.worker",
                    str(self._inventory), str(index), str(self._shards),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                self._procs.append(proc)
                self._send(index, {"set": self._subset(self._faults, index)})
            async with asyncio.timeout(READY_TIMEOUT_S):
                for index, proc in enumerate(self._procs):
                    assert proc.stdout is not None
                    line = await proc.stdout.readline()
                    answer = json.loads(line) if line.strip() else {"error": "worker exited"}
                    if "ready" not in answer:
                        raise SimulatorError(f"simulator worker {index}: {answer.get('error')}")
        except TimeoutError:
            await self.close()
            raise SimulatorError(
                f"simulator workers not ready in {READY_TIMEOUT_S:.0f} s"
            ) from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop every worker (stdin closed; killed if it does not end in time)."""
        for proc in self._procs:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
        for proc in self._procs:
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._procs = []

    def _subset(self, faults: Mapping[str, Fault], index: int) -> dict[str, object]:
        return {cid: f.to_json() for cid, f in faults.items() if self._shard_of[cid] == index}

    def _send(self, index: int, message: dict[str, object]) -> None:
        stdin = self._procs[index].stdin if index < len(self._procs) else None
        if stdin is None or stdin.is_closing():
            log.warning("simulator worker %d is gone; change not applied", index)
            return
        stdin.write(json.dumps(message).encode() + b"\n")

    def faults(self) -> dict[str, Fault]:
        """Camera ID → current fault (a copy)."""
        return dict(self._faults)

    def set_faults(self, mapping: Mapping[str, object]) -> dict[str, Fault]:
        """Validate (all or nothing, ``FaultError``) and merge; returns the faults set."""
        parsed = parse_faults(mapping, self._shard_of)
        now = asyncio.get_running_loop().time()
        self._faults.update(parsed)
        self._since.update(dict.fromkeys(parsed, now))
        for index in range(self._shards):
            subset = self._subset(parsed, index)
            if subset:
                self._send(index, {"set": subset})
        return parsed

    def clear_fault(self, camera_id: str) -> bool:
        """Make one camera healthy; False if it had no fault, ``KeyError`` if unknown."""
        index = self._shard_of[camera_id]
        had = self._faults.pop(camera_id, None) is not None
        self._send(index, {"clear": [camera_id]})
        return had

    def clear_faults(self) -> int:
        """Make every camera healthy; returns how many had a fault."""
        count = len(self._faults)
        self._faults.clear()
        for index in range(self._shards):
            self._send(index, {"clear_all": True})
        return count

    def is_listening(self, camera_id: str) -> bool:
        """Whether the camera should be bound now (computed here, not asked of the worker)."""
        fault = self._faults.get(camera_id)
        if fault is None:
            return True
        if fault.kind == "down":
            return False
        if fault.kind == "flapping":
            elapsed = asyncio.get_running_loop().time() - self._since[camera_id]
            return int(elapsed // fault.param("period_s")) % 2 == 1
        return True
