"""``gridbridge simulate``: serve an inventory's cameras until Ctrl-C, with a control API.

``run_simulate`` loads the inventory and the faults file, starts the simulator (sharded over
worker processes when one process may not open enough sockets) and the control API, logs one
line saying what is served where, and runs until ``stop`` is set or SIGINT/SIGTERM arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from pathlib import Path

from adapters.files import checked_size
from bridge.simulator.control import DEFAULT_CONTROL, ControlServer, parse_listen
from bridge.simulator.faults import FaultError, parse_faults
from bridge.simulator.model import SimCamera, SimulatorError, load_inventory
from bridge.simulator.server import Simulator, fds_needed, raise_fd_limit
from bridge.simulator.shards import ShardedSimulator, shards_needed

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "load_faults_file", "run_simulate"]

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
MAX_FAULTS_FILE_BYTES = 10 * 1024 * 1024


def load_faults_file(path: Path, cameras: list[SimCamera]) -> dict[str, object]:
    """Read and validate a faults file (JSON object); raises ``FaultError`` naming the file."""
    _, problem = checked_size(path, MAX_FAULTS_FILE_BYTES)
    if problem:
        raise FaultError(f"{path}: {problem}")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FaultError(f"{path}: not a readable JSON file: {exc}") from None
    try:
        parse_faults(data, {c.id for c in cameras})
    except FaultError as exc:
        raise FaultError(f"{path}: {exc}") from None
    assert isinstance(data, dict)  # parse_faults accepted it
    return data


async def _wait(stop: asyncio.Event | None) -> None:
    if stop is not None:
        await stop.wait()
        return
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, event.set)
    try:
        await event.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def run_simulate(
    inventory: Path,
    faults: Path | None,
    control: str | None,
    stop: asyncio.Event | None = None,
) -> int:
    """Serve every camera of ``inventory`` until ``stop`` is set (or SIGINT/SIGTERM).

    Returns 0 after a clean stop, 2 for bad input (inventory, faults file, control address;
    the message is logged), 1 when serving failed (an address in use, too few file
    descriptors for even one shard).
    """
    try:
        cameras = load_inventory(inventory)
        initial = load_faults_file(faults, cameras) if faults is not None else {}
        listen = control or DEFAULT_CONTROL
        parse_listen(listen)
    except (ValueError, SimulatorError) as exc:  # InventoryFileError/ColumnError/FaultError
        log.error("simulate: %s", exc)
        return EXIT_BAD_INPUT
    if not cameras:
        log.error("simulate: %s holds no camera that can be served", inventory)
        return EXIT_BAD_INPUT
    try:
        limit = raise_fd_limit(0)
        shards = shards_needed(len(cameras), limit)
        target: Simulator | ShardedSimulator
        if shards == 1:
            target = Simulator(cameras, faults=initial)
        else:
            target = ShardedSimulator(inventory, cameras, shards, faults=initial)
        server = ControlServer(target, listen)
        async with contextlib.AsyncExitStack() as stack:
            await target.start()
            stack.push_async_callback(target.close)
            await server.start()
            stack.push_async_callback(server.close)
            per_process = -(-len(cameras) // shards)
            log.info(
                "simulate: serving %d cameras in %d process(es), %d file descriptors needed "
                "per process (limit %d); control API at %s",
                len(cameras),
                shards,
                fds_needed(per_process),
                limit,
                server.url,
            )
            await _wait(stop)
    except SimulatorError as exc:
        log.error("simulate: %s", exc)
        return EXIT_FAILED
    return EXIT_OK
