"""End to end, common cause: the daemon, the simulator and a real Mosquitto.

An NVR whose 12 cameras go down together gets ONE parent order naming it and listing the 12,
and the cameras no orders of their own.  When 40 % of all cameras go down at once, no
orders open and one ``bridge_network`` alarm is raised (retained), then cleared when they
come back.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

from bridge.bootstrap import build_store
from bridge.importer import import_inventory, load_grid
from bridge.settings import (
    FrameSettings,
    MqttSettings,
    ProbeSettings,
    Settings,
    StoreSettings,
    WorkOrderSettings,
)
from bridge.simulator import Simulator, load_inventory
from tests.e2e.test_daemon_bus import DISTRICT, Seen, inventory, running, statuses, until
from tests.e2e.test_daemon_workorders import orders_seen
from tests.support import MosquittoProcess

NVR = "41990100001181000001"  # GB/T 28181 type 118: an NVR


def write_inventory(path: Path, *, nvr_for: int) -> list[str]:
    """The 30 sample cameras; the first ``nvr_for`` behind one NVR, the others behind none."""
    rows = inventory(path)
    header = next(csv.reader((DISTRICT / "cameras.csv").open(encoding="utf-8-sig")))
    upstream = header.index("上级设备")
    for n, row in enumerate(rows):
        row[upstream] = NVR if n < nvr_for else ""
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return [r[0] for r in rows]


def settings_for(tmp_path: Path, url: str, *, mass_min_cameras: int) -> Settings:
    return Settings(
        store=StoreSettings(data_dir=tmp_path / "data"),
        mqtt=MqttSettings(url=url, root="gb"),
        probe=ProbeSettings(
            interval_s=1, timeout_s=0.5, offline_after=2, online_after=1, max_backoff_s=1
        ),
        frames=FrameSettings(enabled=False),
        workorders=WorkOrderSettings(
            debounce_s=4, mass_min_cameras=mass_min_cameras, group_window_s=30
        ),
    )


async def prepare(tmp_path: Path, settings: Settings) -> None:
    async with build_store(settings) as store:
        await load_grid(store, settings, DISTRICT / "grid.geojson")
        await import_inventory(store, settings, tmp_path / "cameras.csv")


def online(seen: dict[str, Seen]) -> int:
    return sum(1 for _, body in statuses(seen).values() if body["state"] == "online")


async def test_an_nvr_with_twelve_cameras_down_is_one_parent_order(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    ids = write_inventory(tmp_path / "cameras.csv", nvr_for=12)
    # 12 of 30 is 40 %: with the district's fleet minimum (100) the mass rule stays out of it.
    settings = settings_for(tmp_path, broker.url, mass_min_cameras=100)
    await prepare(tmp_path, settings)
    seen: dict[str, Seen] = {}
    raw: list[bytes] = []
    async with (
        Simulator(load_inventory(tmp_path / "cameras.csv")) as sim,
        running(settings, seen, raw, broker.url),
    ):
        await until(lambda: online(seen) == len(ids), 30)
        sim.set_faults({cam: "down" for cam in ids[:12]})

        def parent() -> dict | None:  # type: ignore[type-arg]
            for bodies in orders_seen(raw).values():
                order = bodies[-1]["order"]
                if order["kind"] == "upstream" and len(order["camera_ids"]) == 12:
                    return order  # type: ignore[no-any-return]
            return None

        await until(lambda: parent() is not None, 40)
        await asyncio.sleep(6)  # past the debounce of any camera: no child order may come
        order = parent()
        assert order is not None
        assert order["upstream"] == NVR
        assert sorted(order["camera_ids"]) == sorted(ids[:12])
        assert len(orders_seen(raw)) == 1, list(orders_seen(raw))  # no child orders


async def test_forty_percent_down_at_once_is_the_bridges_network(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    ids = write_inventory(tmp_path / "cameras.csv", nvr_for=0)
    # 30 cameras: the mass rule needs a fleet of 20 here (100 in a district).
    settings = settings_for(tmp_path, broker.url, mass_min_cameras=20)
    await prepare(tmp_path, settings)
    seen: dict[str, Seen] = {}
    raw: list[bytes] = []
    alarm = "gb/bridge/alarm/bridge_network"

    def alarm_body() -> dict:  # type: ignore[type-arg]
        s = seen.get(alarm)
        return json.loads(s.payload) if s and s.payload else {}

    async with (
        Simulator(load_inventory(tmp_path / "cameras.csv")) as sim,
        running(settings, seen, raw, broker.url),
    ):
        await until(lambda: online(seen) == len(ids), 30)
        sim.set_faults({cam: "down" for cam in ids[:12]})  # 40 % within a few seconds
        await until(lambda: alarm_body().get("raised") is True, 30)
        assert (seen[alarm].retain, seen[alarm].qos) == (True, 1)
        assert alarm_body()["failing"] >= 9  # ≥ 30 % of 30
        await asyncio.sleep(6)  # well past the debounce: still no order
        assert orders_seen(raw) == {}
        sim.clear_faults()
        await sim.settle()
        await until(lambda: alarm_body().get("raised") is False, 30)
        await asyncio.sleep(2)
        assert orders_seen(raw) == {}
    raised = [m for m in raw if m.startswith(alarm.encode()) and b'"raised":true' in m]
    assert len(raised) == 1  # raised once, not once per camera
