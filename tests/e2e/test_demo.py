"""`gridbridge demo`: one command brings up simulator, embedded broker, SQLite and daemon;
the printed mosquitto_sub line works; Ctrl-C (SIGINT) ends it all with exit code 0."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from pathlib import Path

import aiomqtt

GRIDBRIDGE = Path(sys.executable).parent / "gridbridge"
CAMERAS = 30


async def test_demo_runs_and_ends_on_ctrl_c(tmp_path: Path) -> None:
    demo = await asyncio.create_subprocess_exec(
        str(GRIDBRIDGE),
        "demo",
        "--cameras",
        str(CAMERAS),
        "--keep",
        str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert demo.stdout is not None
    banner = ""
    try:
        async with asyncio.timeout(60):
            while (m := re.search(r"mosquitto_sub -h (\S+) -p (\d+)", banner)) is None:
                line = await demo.stdout.readline()
                assert line, f"demo ended early:\n{banner}"
                banner += line.decode(errors="replace")
        assert f"{CAMERAS} simulated cameras" in banner
        host, port = m.group(1), int(m.group(2))
        states: dict[str, str] = {}
        async with asyncio.timeout(60), aiomqtt.Client(host, port) as client:
            await client.subscribe("gridbridge/grid/#", qos=1)
            async for message in client.messages:
                if str(message.topic).endswith("/status") and message.payload:
                    assert isinstance(message.payload, bytes)
                    body = json.loads(message.payload)
                    states[body["id"]] = body["state"]
                if len(states) == CAMERAS and "unknown" not in states.values():
                    break
        assert set(states.values()) <= {"online", "offline", "degraded"}
        demo.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            rest = await demo.stdout.read()
            assert await demo.wait() == 0, rest.decode(errors="replace")[-3000:]
    finally:
        if demo.returncode is None:
            demo.kill()
            with contextlib.suppress(ProcessLookupError):
                await demo.wait()
