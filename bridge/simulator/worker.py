"""A simulator worker process: serves one shard of an inventory for ``ShardedSimulator``.

Run as ``python -m bridge.simulator.worker INVENTORY INDEX SHARDS``.  The first stdin line is
``{"set": {initial faults}}``; the worker then serves every SHARDS-th camera starting at INDEX,
prints ``{"ready": n}`` (or ``{"error": …}`` and exits 1), and applies the JSON lines that
follow (``{"set": …}``, ``{"clear": [ids]}``, ``{"clear_all": true}``) until stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path

from bridge.simulator.model import SimulatorError, load_inventory
from bridge.simulator.server import Simulator

__all__ = ["main"]


def _answer(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _worker(inventory: Path, index: int, shards: int) -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    first = json.loads(await reader.readline() or b"{}")
    try:
        cameras = load_inventory(inventory)[index::shards]
        simulator = Simulator(cameras, faults=first.get("set") or {})
        await simulator.start()
    except (ValueError, SimulatorError) as exc:
        _answer({"error": str(exc)})
        return 1
    _answer({"ready": len(cameras)})
    try:
        while line := await reader.readline():
            message = json.loads(line)
            if "set" in message:
                simulator.set_faults(message["set"])
            for camera_id in message.get("clear", ()):
                simulator.clear_fault(camera_id)
            if message.get("clear_all"):
                simulator.clear_faults()
    finally:
        await simulator.close()
    return 0


def main(argv: list[str]) -> int:
    """Worker entry point: ``INVENTORY INDEX SHARDS``; commands arrive as JSON lines on stdin."""
    logging.basicConfig(level=logging.WARNING, format="simulator worker: %(message)s")
    inventory, index, shards = Path(argv[0]), int(argv[1]), int(argv[2])
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_worker(inventory, index, shards))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
