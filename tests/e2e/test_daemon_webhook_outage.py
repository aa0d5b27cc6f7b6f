"""End to end, a webhook receiver that is down: a real Mosquitto, the simulator, a real HTTP
receiver on 127.0.0.1 and the daemon — restarted in the middle of the outage.

The receiver answers 503 for 5 minutes.  Meanwhile a camera goes down (its order opens), the
daemon is stopped and started again, and the camera recovers (the order is verified and
closed).  When the receiver is back, it gets every event of the order, in the order the bus
announced them, each once, signed.  The webhook sender runs on a clock 20 times faster than
the wall clock (its backoff, 5 s doubling to 10 min, and due times), so the 5 minutes take
15 s; everything else runs in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from bridge.app import Daemon
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
from tests.e2e.test_daemon_bus import DISTRICT, Seen, collect, inventory, until
from tests.e2e.test_daemon_workorders import orders_seen
from tests.support import MosquittoProcess

SPEED = 20.0
OUTAGE = timedelta(minutes=5)
SECRET = "hmac-key-of-the-receiver"
NEVER = datetime.max.replace(tzinfo=UTC)


class FastClock:
    """The webhook sender's clock, ``SPEED`` times the wall clock (`bridge.webhook_sender
    .Clock`): its ``now`` runs ahead, its sleeps and waits are shorter by the same factor."""

    def __init__(self) -> None:
        self._wall0 = datetime.now(UTC)
        self._loop0 = asyncio.get_running_loop().time()

    def now(self) -> datetime:
        elapsed = asyncio.get_running_loop().time() - self._loop0
        return self._wall0 + timedelta(seconds=elapsed * SPEED)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / SPEED)

    async def wait(self, event: asyncio.Event, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s / SPEED):
                await event.wait()


@dataclass
class Receiver:
    """Refuses (503) until ``back_at`` on ``clock`` (set when the outage starts); then
    keeps what it is sent, checking the signature of each message."""

    clock: FastClock
    back_at: datetime = NEVER
    refused: int = 0
    first_accepted_at: datetime | None = None
    got: list[dict] = field(default_factory=list)  # type: ignore[type-arg]
    bad_signatures: int = 0

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = self.clock.now()
        if now < self.back_at:
            self.refused += 1
            return web.json_response({"error": "maintenance"}, status=503)
        stamp = request.headers.get("X-Gridbridge-Timestamp", "")
        mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        if request.headers.get("X-Gridbridge-Signature") != f"sha256={mac.hexdigest()}":
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        self.first_accepted_at = self.first_accepted_at or now
        self.got.append(json.loads(body))
        return web.json_response({"ok": True})


@contextlib.asynccontextmanager
async def serve(receiver: Receiver) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


async def test_a_receiver_down_for_5_minutes_gets_every_event_in_order_once(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    rows = inventory(tmp_path / "cameras.csv", 3)
    cam = rows[0][0]
    clock = FastClock()
    receiver = Receiver(clock)
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(serve(receiver))
        settings = Settings(
            store=StoreSettings(data_dir=tmp_path / "data"),
            mqtt=MqttSettings(url=broker.url, root="gb"),
            probe=ProbeSettings(interval_s=1, timeout_s=0.5, offline_after=2, online_after=1),
            frames=FrameSettings(interval_s=10, frozen_gap_s=1.1, confirm_s=1, timeout_s=8),
            workorders=WorkOrderSettings(
                debounce_s=3,
                webhooks=(
                    WebhookSettings(
                        name="crew", kind="json", url=url, secret=SECRET, min_interval_s=0
                    ),
                ),
            ),
        )
        async with build_store(settings) as store:
            await load_grid(store, settings, DISTRICT / "grid.geojson")
            await import_inventory(store, settings, tmp_path / "cameras.csv")
        seen: dict[str, Seen] = {}
        raw: list[bytes] = []
        sim = await stack.enter_async_context(Simulator(load_inventory(tmp_path / "cameras.csv")))
        listen = asyncio.create_task(collect(broker.url, seen, raw))
        stack.callback(listen.cancel)

        async def start() -> tuple[asyncio.Event, asyncio.Task[None]]:
            stop = asyncio.Event()
            daemon = Daemon(settings, webhook_clock=clock)
            run = asyncio.create_task(daemon.run(stop))
            await asyncio.wait_for(daemon.ready.wait(), 20)
            return stop, run

        def states() -> list[str]:
            return [b["order"]["state"] for bodies in orders_seen(raw).values() for b in bodies]

        stop, run = await start()
        try:
            await until((tmp_path / "data" / "snapshots" / cam / "latest.jpg").exists, 20)
            receiver.back_at = clock.now() + OUTAGE
            sim.set_faults({cam: "down"})
            await until(lambda: "open" in states(), 30)
            await until(lambda: receiver.refused >= 2, 20)  # tried, refused, tried again
        finally:
            stop.set()
            await asyncio.wait_for(run, 30)
        # A restart in the middle of the outage: the queue is in the database.
        stop, run = await start()
        try:
            sim.clear_faults()
            await sim.settle()
            await until(lambda: "closed" in states(), 60)
            if clock.now() < receiver.back_at:  # usually: the whole order within the outage
                assert receiver.got == []
            await until(lambda: len(receiver.got) >= len(states()), 60)
            await asyncio.sleep(1)  # nothing more comes: no event twice
        finally:
            stop.set()
            await asyncio.wait_for(run, 30)
    [(order_id, bodies)] = orders_seen(raw).items()
    assert [(b["event"], b["order"]["state"]) for b in bodies][-2:] == [
        ("step", "verified"), ("step", "closed"),
    ]  # fmt: skip
    assert [(p["order_id"], p["event"], p["step"]) for p in receiver.got] == [
        (order_id, b["event"], b["order"]["state"]) for b in bodies
    ]
    assert receiver.bad_signatures == 0
    assert receiver.first_accepted_at is not None
    assert receiver.first_accepted_at >= receiver.back_at
    assert receiver.refused >= 2
