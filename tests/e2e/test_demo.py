"""`gridbridge demo`: one command brings up simulator, embedded broker, SQLite and daemon;
the printed mosquitto_sub line works, so does the printed snapshot request (a thumbnail
comes back); nothing logs an error; Ctrl-C (SIGINT) ends it all with exit code 0."""

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
            while "The topic tree" not in banner:
                line = await demo.stdout.readline()
                assert line, f"demo ended early:\n{banner}"
                banner += line.decode(errors="replace")
        assert f"{CAMERAS} simulated cameras" in banner
        m = re.search(r"mosquitto_sub -h (\S+) -p (\d+)", banner)
        assert m is not None, banner
        host, port = m.group(1), int(m.group(2))
        request = re.search(r"mosquitto_pub -h \S+ -p \d+ -t '([^']+)'", banner)
        assert request is not None, banner
        request_topic = request.group(1)
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
        # The banner's snapshot request, as a person would paste it.
        camera = request_topic.removesuffix("/request")
        got: dict[str, bytes] = {}
        async with asyncio.timeout(60), aiomqtt.Client(host, port) as client:
            await client.subscribe(f"{camera}/#", qos=1)
            await client.publish(request_topic, b'{"action": "snapshot", "id": "1"}', qos=1)
            async for message in client.messages:
                if isinstance(message.payload, bytes):
                    got[str(message.topic).rsplit("/", 1)[-1]] = message.payload
                if "response" in got and "snapshot" in got:
                    break
        answer = json.loads(got["response"])
        assert answer["id"] == "1"
        assert answer["ok"], answer
        assert got["snapshot"][:3] == b"\xff\xd8\xff"
        demo.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            rest = (await demo.stdout.read()).decode(errors="replace")
            assert await demo.wait() == 0, rest[-3000:]
        output = banner + rest
        assert "Traceback" not in output, output[-5000:]
        assert " ERROR " not in output, output[-5000:]
    finally:
        if demo.returncode is None:
            demo.kill()
            with contextlib.suppress(ProcessLookupError):
                await demo.wait()
