"""End to end, the frame tier: a real Mosquitto, the simulator's pictures and the daemon.

Every camera's status gains a thumbnail hash and a snapshot URL once its picture was looked
at, and its thumbnail arrives on the snapshot topic (QoS 0, not retained, ≤ 30 KB JPEG);
a picture fault injected in the simulator turns the camera ``degraded`` with that fault
after two looks (asked for over the bus, as a workstation would), and a good picture brings
it back; no byte on the bus holds a camera password.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import aiomqtt

from bridge.bootstrap import build_store
from bridge.grid import GridIndex
from bridge.importer import import_inventory, load_grid
from bridge.settings import FrameSettings, MqttSettings, ProbeSettings, Settings, StoreSettings
from bridge.simulator import Simulator, load_inventory
from tests.e2e.test_daemon_bus import DISTRICT, EXPECTED, Seen, inventory, running, until
from tests.support import MosquittoProcess

N = 4


async def ask(url: str, topic: str, request_id: str) -> dict:  # type: ignore[type-arg]
    """Publish a snapshot request on ``topic`` and wait for its response."""
    host, port = url.removeprefix("mqtt://").split(":")
    response_topic = topic.removesuffix("/request") + "/response"
    async with aiomqtt.Client(host, int(port), protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe(response_topic, qos=1)
        body = json.dumps({"action": "snapshot", "id": request_id}).encode()
        await client.publish(topic, body, qos=1)
        async with asyncio.timeout(30):
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                answer = json.loads(payload)
                if answer.get("id") == request_id:
                    assert (message.retain, message.qos) == (False, 1)
                    return answer  # type: ignore[no-any-return]
    raise AssertionError("no response")


async def test_pictures_reach_the_bus_and_picture_faults_the_status(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    rows = inventory(tmp_path / "cameras.csv")[:N]
    header = next(csv.reader((DISTRICT / "cameras.csv").open(encoding="utf-8-sig")))
    with (tmp_path / "cameras.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    ids = [r[0] for r in rows]
    passwords = {r[header.index("密码")] for r in rows if r[header.index("密码")]}
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path / "data"),
        mqtt=MqttSettings(url=broker.url, root="gb"),
        probe=ProbeSettings(interval_s=1, timeout_s=0.5, offline_after=2, online_after=1),
        # Looks every 10 s (the first within that); two pictures 1.1 s apart (the simulator
        # makes one picture a second); a second look 1 s after a new fault.
        frames=FrameSettings(interval_s=10, frozen_gap_s=1.1, confirm_s=1, timeout_s=8),
    )
    async with build_store(settings) as store:
        await load_grid(store, settings, DISTRICT / "grid.geojson")
        await import_inventory(store, settings, tmp_path / "cameras.csv")
        index = GridIndex(await store.load_grid())
    base = {
        cam: "gb/grid/" + "/".join(index.ancestors(EXPECTED["grid_of_camera"][cam])) + "/camera/"
        for cam in ids
    }
    seen: dict[str, Seen] = {}
    raw: list[bytes] = []

    def status(cam: str) -> dict:  # type: ignore[type-arg]
        s = seen.get(base[cam] + f"{cam}/status")
        return json.loads(s.payload) if s and s.payload else {}

    async with (
        Simulator(load_inventory(tmp_path / "cameras.csv")) as sim,
        running(settings, seen, raw, broker.url),
    ):
        # Within one frames interval every camera was looked at: hash and URL in status.
        await until(lambda: all(status(c).get("thumbnail_sha256") for c in ids), 30)
        for cam in ids:
            body = status(cam)
            assert body["state"] == "online", body
            assert body["snapshot_url"] == (f"http://127.0.0.1:8080/api/cameras/{cam}/snapshot.jpg")
            snap = seen[base[cam] + f"{cam}/snapshot"]
            assert (snap.retain, snap.qos) == (False, 0)
            assert snap.payload[:3] == b"\xff\xd8\xff"
            assert len(snap.payload) <= 30_000
            latest = tmp_path / "data" / "snapshots" / cam / "latest.jpg"
            assert latest.read_bytes()[:3] == b"\xff\xd8\xff"

        black, frozen = ids[0], ids[1]
        sim.set_faults({black: "black", frozen: "frozen"})
        first = await ask(broker.url, base[black] + f"{black}/request", "r1")
        assert first["ok"], first
        assert first["data"]["seen"] == ["black"]
        assert first["data"]["faults"] == []  # one look is not enough
        second = await ask(broker.url, base[black] + f"{black}/request", "r2")
        assert second["data"]["faults"] == ["black"]
        await until(lambda: status(black).get("faults") == ["black"], 10)
        assert status(black)["state"] == "degraded"
        # The other camera was not asked for: its own looks (the confirmation after the
        # first sighting) find the frozen picture within one interval.
        await until(lambda: status(frozen).get("faults") == ["frozen"], 30)
        assert status(ids[2])["state"] == "online"

        sim.clear_faults()
        back = await ask(broker.url, base[black] + f"{black}/request", "r3")
        assert back["data"]["faults"] == []
        await until(lambda: status(black).get("state") == "online", 10)
        assert status(black)["faults"] == []
    everything = b"\n".join(raw)
    for password in passwords:
        assert password.encode() not in everything
