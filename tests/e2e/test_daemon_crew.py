"""End to end, a crew's walk: the daemon, the simulator, a real Mosquitto and the crew
commands.  A camera goes down and gets an order; the crew accepts it and reaches the site
(`gridbridge workorders accept|on-site`, signed in with the daemon's local token
``data_dir/cli.token``) and says 修复 (`repaired`) too early: the camera is
still down, and `verify_timeout_s` later the daemon sends the order back to 到场 with a note.
The crew fixes the camera and says 修复 again; the daemon verifies it (healthy checks and a
fresh picture) and closes the order — not self-recovered, with before and after pictures."""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.bootstrap import build_store
from bridge.cli.crew import crew_step
from bridge.importer import import_inventory, load_grid
from bridge.settings import (
    FrameSettings,
    HttpSettings,
    MqttSettings,
    ProbeSettings,
    Settings,
    StoreSettings,
    WorkOrderSettings,
)
from bridge.simulator import Simulator, load_inventory
from tests.e2e.test_daemon_bus import DISTRICT, Seen, inventory, running, until
from tests.e2e.test_daemon_workorders import orders_seen
from tests.support import MosquittoProcess, free_port


def step(action: str, order_id: str, note: str = "") -> argparse.Namespace:
    return argparse.Namespace(action=action, order_id=order_id, actor="张师傅", note=note)


async def test_a_crew_walks_an_order_to_a_verified_close(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    rows = inventory(tmp_path / "cameras.csv", 3)
    cam = rows[0][0]
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path / "data"),
        mqtt=MqttSettings(url=broker.url, root="gb"),
        probe=ProbeSettings(interval_s=1, timeout_s=0.5, offline_after=2, online_after=1),
        frames=FrameSettings(interval_s=10, frozen_gap_s=1.1, confirm_s=1, timeout_s=8),
        workorders=WorkOrderSettings(debounce_s=3, verify_timeout_s=6),
        http=HttpSettings(listen=f"127.0.0.1:{free_port()}"),
    )
    async with build_store(settings) as store:
        await load_grid(store, settings, DISTRICT / "grid.geojson")
        await import_inventory(store, settings, tmp_path / "cameras.csv")
    seen: dict[str, Seen] = {}
    raw: list[bytes] = []
    async with (
        Simulator(load_inventory(tmp_path / "cameras.csv")) as sim,
        running(settings, seen, raw, broker.url),
    ):
        # The crew commands sign in with the daemon's local token (docs/auth.md).
        assert (tmp_path / "data" / "cli.token").stat().st_mode & 0o777 == 0o600
        await until((tmp_path / "data" / "snapshots" / cam / "latest.jpg").exists, 20)
        sim.set_faults({cam: "down"})
        await until(lambda: len(orders_seen(raw)) == 1, 30)
        [order_id] = orders_seen(raw)

        def state() -> str:
            return str(orders_seen(raw)[order_id][-1]["order"]["state"])

        assert await crew_step(step("accept", order_id), settings) == 0
        assert await crew_step(step("on-site", order_id, "交换机断电"), settings) == 0
        await until(lambda: state() == "on_site", 10)  # the bus may lag the answer
        # 修复 while the camera is still down: back to 到场 after verify_timeout_s.
        assert await crew_step(step("repaired", order_id, "重启了"), settings) == 0
        await until(lambda: state() == "repaired", 10)
        await until(lambda: state() == "on_site", 20)
        back = orders_seen(raw)[order_id][-1]["order"]["steps"][-1]
        assert (back["step"], back["actor"]) == ("on_site", "system")
        assert "退回到场" in back["note"]
        assert cam in back["note"]
        sim.clear_faults()
        await sim.settle()
        assert await crew_step(step("repaired", order_id, "更换电源"), settings) == 0
        await until(lambda: state() == "closed", 60)
        final = orders_seen(raw)[order_id][-1]["order"]
        assert final["self_recovered"] is False
        assert final["before_evidence"]
        assert final["after_evidence"]
        steps = [(s["step"], s["actor"]) for s in final["steps"]]
        assert steps == [
            ("open", "system"), ("accepted", "张师傅"), ("on_site", "张师傅"),
            ("repaired", "张师傅"), ("on_site", "system"),
            ("repaired", "张师傅"), ("verified", "system"), ("closed", "system"),
        ]  # fmt: skip
    assert not (tmp_path / "data" / "cli.token").exists()  # removed at a clean stop
