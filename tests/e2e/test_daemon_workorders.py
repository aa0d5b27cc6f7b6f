"""End to end, work orders: a real Mosquitto, the simulator, a webhook receiver and the
daemon.

A camera that stays down gets exactly one order after the debounce, announced on
``{root}/workorders/{town}/{order_id}`` (QoS 1, not retained) and posted to the webhook;
when it comes back, the daemon verifies it by itself (healthy checks and a fresh picture)
and closes the order as self-recovered, with the last healthy picture before the fault and
the fresh one as evidence; the webhook receives every event of it, in order, once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from bridge.bootstrap import build_store
from bridge.importer import import_inventory, load_grid
from bridge.settings import (
    FrameSettings,
    MqttSettings,
    ProbeSettings,
    Settings,
    StoreSettings,
    WebhookSettings,
    WorkOrderSettings,
)
from bridge.simulator import Simulator, load_inventory
from tests.e2e.test_daemon_bus import DISTRICT, Seen, inventory, running, until
from tests.support import MosquittoProcess

HOOK_TOKEN = "secret-robot-key-0042"


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[tuple[str, list[dict]]]:  # type: ignore[type-arg]
    """A generic-JSON webhook receiver on 127.0.0.1 that keeps what it is sent."""
    got: list[dict] = []  # type: ignore[type-arg]

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook?token={HOOK_TOKEN}", got
    finally:
        await runner.cleanup()


N = 3


def orders_seen(raw: list[bytes]) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    """Every work-order message received, per order, in order (``raw`` is topic + payload
    of every message; the retained-view dict keeps only the last one per topic)."""
    out: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for message in raw:
        topic, brace, payload = message.partition(b"{")
        if b"/workorders/" in topic and brace:
            body = json.loads(brace + payload)
            out.setdefault(body["order_id"], []).append(body)
    return out


async def test_a_camera_down_gets_one_order_closed_when_it_recovers(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    rows = inventory(tmp_path / "cameras.csv", N)
    ids = [r[0] for r in rows]
    hooks = contextlib.AsyncExitStack()
    hook_url, posted = await hooks.enter_async_context(receiver())
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path / "data"),
        mqtt=MqttSettings(url=broker.url, root="gb"),
        probe=ProbeSettings(interval_s=1, timeout_s=0.5, offline_after=2, online_after=1),
        frames=FrameSettings(interval_s=10, frozen_gap_s=1.1, confirm_s=1, timeout_s=8),
        workorders=WorkOrderSettings(
            debounce_s=3,
            webhooks=(WebhookSettings(name="crew", kind="json", url=hook_url),),
        ),
    )
    async with build_store(settings) as store:
        await load_grid(store, settings, DISTRICT / "grid.geojson")
        await import_inventory(store, settings, tmp_path / "cameras.csv")
    seen: dict[str, Seen] = {}
    raw: list[bytes] = []
    events: list[dict] = []  # type: ignore[type-arg]

    cam = ids[0]
    async with (
        Simulator(load_inventory(tmp_path / "cameras.csv")) as sim,
        running(settings, seen, raw, broker.url),
    ):
        # Its picture was looked at before the fault: that is the before-evidence.
        snapshots = tmp_path / "data" / "snapshots" / cam / "latest.jpg"
        await until(snapshots.exists, 20)
        sim.set_faults({cam: "down"})
        await until(lambda: len(orders_seen(raw)) == 1, 30)
        [(order_id, bodies)] = orders_seen(raw).items()
        opened = bodies[0]
        assert opened["event"] == "opened"
        assert opened["order"]["camera_ids"] == [cam]
        assert opened["order"]["kind"] == "network"
        assert opened["step_zh"] == "派单"
        topic = next(t for t in seen if t.endswith(f"/{order_id}"))
        assert topic.startswith("gb/workorders/419901")
        assert (seen[topic].retain, seen[topic].qos) == (False, 1)
        sim.clear_faults()
        await sim.settle()
        await until(
            lambda: any(
                b["order"]["state"] == "closed" for b in orders_seen(raw).get(order_id, [])
            ),
            60,
        )
        closed = next(b for b in orders_seen(raw)[order_id] if b["order"]["state"] == "closed")
        assert closed["order"]["self_recovered"] is True
        assert closed["order"]["before_evidence"]
        assert closed["order"]["after_evidence"]
        assert closed["order"]["before_evidence"] != closed["order"]["after_evidence"]
        for evidence in (closed["order"]["before_evidence"], closed["order"]["after_evidence"]):
            assert (tmp_path / "data" / "snapshots" / evidence).exists()
        events = orders_seen(raw)[order_id]
        # The webhook gets the same events (the sender may lag the bus a little).
        await until(lambda: len(posted) >= len(events), 20)
    steps = [b["step"] for b in events if b["event"] == "step"]
    assert steps[-2:] == ["verified", "closed"]
    await hooks.aclose()
    assert [(p["order_id"], p["event"], p["step"]) for p in posted] == [
        (b["order_id"], b["event"], b["order"]["state"]) for b in events
    ]
    assert all(p["schema"] == "gridbridge.workorder_event/1" for p in posted)
    assert HOOK_TOKEN.encode() not in b"\n".join(raw)  # the webhook URL never reaches the bus
    async with build_store(settings) as store:
        [order] = await store.load_orders()
        assert order.id == order_id
        assert order.state.value == "closed"
        history = await store.order_events(order_id)
        assert history[0].step == "open"
        assert [e.step for e in history][-2:] == ["verified", "closed"]
