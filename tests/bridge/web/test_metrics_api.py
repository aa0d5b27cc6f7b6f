"""``GET /metrics``: a real store, the real desk driven into an open order and a
``bridge_network`` alarm, a real webhook sender delivering to receivers on 127.0.0.1 (one
answering, one down), scraped over the real aiohttp server and read back with
prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from bridge.app import webhook_target
from bridge.bus.message import Message
from bridge.bus.topics import Topics
from bridge.check_stats import CheckStats
from bridge.fleet import Fleet
from bridge.grid import GridIndex
from bridge.metrics import (
    BusSource,
    MetricSources,
    OrderCounts,
    WebhookSource,
    WorkOrderSource,
    build_metrics,
)
from bridge.model import CameraRecord, CameraState, Mapping
from bridge.observation import LayerResult, Observation
from bridge.secretbox import SecretBox
from bridge.settings import (
    HttpSettings,
    Settings,
    StoreSettings,
    WebhookSettings,
    WorkOrderSettings,
)
from bridge.store import Store, sqlite_url
from bridge.store.webhooks import StoreWebhookQueue
from bridge.tracker import Transition
from bridge.web import metrics_api
from bridge.web.app_context import WebContext
from bridge.web.directory import CameraDirectory
from bridge.web.server import WebServer
from bridge.webhook_sender import RetryRules, WebhookSender
from bridge.workorder_desk import WorkOrderDesk
from bridge.workorders.model import Step
from health.verdict import CameraHealth
from tests.bridge.web.support import T0, Clock, free_port, header_login, who

CAMS = [f"419901000113260000{i:02d}" for i in range(1, 6)]
KEY = "693a91f6-7aac-4bc4-97a0-0ec2b1fa5aaa"  # a robot key, in the URL's query
SECRET = "hmac-key-of-the-json-receiver-0123456789"
LOGIN = who("admin")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@contextlib.asynccontextmanager
async def receivers() -> AsyncIterator[int]:
    """``/ok`` takes every message; ``/down`` answers 503 (retried with backoff)."""

    async def ok(_: web.Request) -> web.Response:
        return web.json_response({})

    async def down(_: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/down", down)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


class WatchedQueue(StoreWebhookQueue):
    """The store's queue, telling the test when the sender settled an attempt."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.settled: asyncio.Queue[str] = asyncio.Queue()

    async def delivered(self, item_id: int, at: datetime) -> None:
        await super().delivered(item_id, at)
        self.settled.put_nowait("delivered")

    async def retry(self, item_id: int, next_at: datetime, attempts: int, error: str) -> None:
        await super().retry(item_id, next_at, attempts, error)
        self.settled.put_nowait("retry")


def down(camera_id: str, at: datetime) -> Transition:
    return Transition(camera_id, at, CameraState.ONLINE, CameraState.OFFLINE, ("unreachable",),
                      False, "no answer")  # fmt: skip


OFFLINE = CameraHealth(CameraState.OFFLINE, ("unreachable",), "")


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[name, frozenset(labels.items())]


def total(found: Samples, name: str) -> float:
    return sum(v for (n, _), v in found.items() if n == name)


async def scrape(session: aiohttp.ClientSession, base: str) -> tuple[str, Samples]:
    async with session.get(f"{base}/metrics", headers=LOGIN) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == CONTENT_TYPE_LATEST
        text = await r.text()
    return text, samples(text)


async def test_orders_alarm_and_webhooks_are_scraped(tmp_path: Path) -> None:
    async with receivers() as port:
        hooks = (
            WebhookSettings(name="crew-ok", kind="json", url=f"http://127.0.0.1:{port}/ok?key={KEY}",
                            secret=SECRET, min_interval_s=0),
            WebhookSettings(name="crew-down", kind="json",
                            url=f"http://127.0.0.1:{port}/down?key={KEY}", min_interval_s=0),
        )  # fmt: skip
        settings = Settings(
            store=StoreSettings(data_dir=tmp_path),
            http=HttpSettings(listen=f"127.0.0.1:{free_port()}"),
            workorders=WorkOrderSettings(mass_min_cameras=2, webhooks=hooks),
        )
        clock = Clock()
        async with (
            Store(sqlite_url(tmp_path), SecretBox(SecretBox.generate_key())) as store,
            aiohttp.ClientSession() as session,
        ):
            records = [
                CameraRecord(id=c, name=f"第{i}路", type_code="132", host=f"127.0.1.{i}")
                for i, c in enumerate(CAMS, 1)
            ]
            await store.apply_import(records, {}, dict.fromkeys(CAMS, Mapping.UNMAPPED))
            counts = OrderCounts()
            desk = WorkOrderDesk(store, settings, town_of=lambda _: "419901001",
                                 on_recorded=counts.recorded, now=clock)  # fmt: skip
            await desk.load(await store.list_cameras())
            # One camera down past the debounce: one order (and its message to each target).
            await desk.on_transition(down(CAMS[0], T0), OFFLINE)
            clock.now = T0 + timedelta(minutes=5)
            desk._take(desk.book.tick(clock.now))
            await desk.flush()
            [order] = desk.book.orders()
            # Two of five within the mass window (share 0.3): the bridge's own network.
            clock.now = T0 + timedelta(minutes=10)
            await desk.on_transition(down(CAMS[1], clock.now), OFFLINE)
            await desk.on_transition(down(CAMS[2], clock.now + timedelta(seconds=5)), OFFLINE)
            await desk.flush()
            assert desk.alarm_raised

            queue = WatchedQueue(store)
            sender = WebhookSender(
                session,
                queue,
                [webhook_target(h) for h in hooks],
                rules=RetryRules(first_delay_s=3600, max_delay_s=3600),  # one failed attempt
            )
            metrics = build_metrics(
                MetricSources(
                    workorders=WorkOrderSource.of(desk, counts, now=clock),
                    webhooks=WebhookSource(
                        targets=("crew-ok", "crew-down"),
                        status=sender.status,
                        backlog=store.webhook_backlog,
                    ),
                )
            )
            base = f"http://{settings.http.listen}"
            ctx = WebContext(
                settings=settings,
                store=store,
                directory=CameraDirectory(Fleet(Topics("gb"))),
                desk=desk,
                metrics=metrics,
            )
            server = WebServer(ctx, middlewares=[header_login()], features=[metrics_api.feature])
            async with server, asyncio.TaskGroup() as tg:
                delivering = tg.create_task(sender.run(), name="webhooks")
                async with asyncio.timeout(10):  # crew-ok delivered, crew-down tried once
                    settled = {await queue.settled.get(), await queue.settled.get()}
                assert settled == {"delivered", "retry"}

                async with session.get(f"{base}/metrics") as r:
                    assert r.status == 401  # the web login guards /metrics too
                headers = who("operator", "419901001")
                async with session.get(f"{base}/metrics", headers=headers) as r:
                    assert r.status == 403  # the whole district's figures: admins only
                async with session.get(f"{base}/healthz") as r:
                    assert r.status == 200
                text, found = await scrape(session, base)

                labels = {"state": "open", "kind": "network", "priority": "normal"}
                assert value(found, "gridbridge_workorders", **labels) == 1
                assert total(found, "gridbridge_workorders") == 1
                assert len([k for k in found if k[0] == "gridbridge_workorders"]) == 5 * 7 * 2
                assert value(found, "gridbridge_workorders_overdue") == 0
                assert value(found, "gridbridge_workorder_events_total", event="opened") == 1
                assert value(found, "gridbridge_workorder_events_total", event="step") == 0
                assert total(found, "gridbridge_workorders_closed_total") == 0
                assert value(found, "gridbridge_bridge_network_alarm") == 1
                assert value(found, "gridbridge_bridge_network_alarms_total") == 1

                assert value(found, "gridbridge_webhook_delivered_total", target="crew-ok") == 1
                assert value(found, "gridbridge_webhook_delivered_total", target="crew-down") == 0
                assert value(found, "gridbridge_webhook_failed_attempts_total",
                             target="crew-down") == 1  # fmt: skip
                assert value(found, "gridbridge_webhook_given_up_total", target="crew-down") == 0
                assert value(found, "gridbridge_webhook_down", target="crew-down") == 1
                assert value(found, "gridbridge_webhook_down", target="crew-ok") == 0
                assert value(found, "gridbridge_webhook_misconfigured", target="crew-down") == 0
                assert value(found, "gridbridge_webhook_backlog", target="crew-down") == 1
                assert value(found, "gridbridge_webhook_backlog", target="crew-ok") == 0

                assert value(found, "process_resident_memory_bytes") > 0
                for secret in (KEY, SECRET, "127.0.0.1", "/ok", "/down", "pw#1"):
                    assert secret not in text

                # Past the 24 h to accept: overdue.  Closed by hand: counted, no longer open.
                clock.now = T0 + timedelta(days=2)
                _, found = await scrape(session, base)
                assert value(found, "gridbridge_workorders_overdue") == 1
                await desk.act(order.id, Step.CLOSED, actor="李", note="误报，已核实")
                _, found = await scrape(session, base)
                assert total(found, "gridbridge_workorders") == 0
                assert value(found, "gridbridge_workorders_overdue") == 0
                assert value(found, "gridbridge_workorders_closed_total",
                             kind="network", priority="normal") == 1  # fmt: skip
                assert value(found, "gridbridge_workorder_events_total", event="step") == 1
                assert value(found, "gridbridge_workorder_events_total", event="opened") == 1
                delivering.cancel()


async def test_a_late_or_failed_store_read_leaves_only_its_family_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    never = asyncio.Event()

    async def stuck() -> dict[str, tuple[int, datetime]]:
        await never.wait()
        return {}

    stopped = Store(sqlite_url(tmp_path), SecretBox(SecretBox.generate_key()))  # not started
    hooks = [webhook_target(WebhookSettings(name="crew", kind="wecom", url="http://127.0.0.1/x"))]
    caplog.set_level(logging.DEBUG, logger="bridge.metrics")
    async with aiohttp.ClientSession() as session:
        sender = WebhookSender(session, StoreWebhookQueue(stopped), hooks)
        for backlog in (stuck, stopped.webhook_backlog):
            metrics = build_metrics(
                MetricSources(
                    webhooks=WebhookSource(("crew",), sender.status, backlog),
                ),
                store_timeout_s=0.05,
            )
            async with asyncio.timeout(5):
                found = samples((await metrics.exposition()).decode())
            assert value(found, "gridbridge_webhook_delivered_total", target="crew") == 0
            assert value(found, "gridbridge_webhook_down", target="crew") == 0
            assert not any(name == "gridbridge_webhook_backlog" for name, _ in found)
            assert not any(name.startswith("gridbridge_workorder") for name, _ in found)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == [logging.DEBUG, logging.DEBUG]
    assert "within 0.05 s" in messages[0][1]
    assert "not started" in messages[1][1]


async def test_cameras_checks_bus_and_looks_are_scraped(tmp_path: Path) -> None:
    """The families of issue 7: cameras by state from the fleet, the monitor's check counts
    and durations, the bus connection and its outbox in the store, the frame tier's looks."""
    box = SecretBox(SecretBox.generate_key())
    async with Store(sqlite_url(tmp_path), box, now=lambda: T0) as store:
        views = [
            CameraRecord(id=c, name=f"第{i}路", type_code="132", host=f"127.0.1.{i}")
            for i, c in enumerate(CAMS, 1)
        ]
        await store.apply_import(views, {}, dict.fromkeys(CAMS, Mapping.UNMAPPED))
        fleet = Fleet(Topics("gb"))
        fleet.load(await store.list_cameras(), GridIndex([]), T0)
        fleet.on_transition(down(CAMS[0], T0))
        ok = LayerResult(True, latency_ms=12.0)
        stats = CheckStats()
        stats.observe(Observation(CAMS[1], T0, rtsp_tcp=ok, rtsp=ok, onvif_time=ok), 0.02)
        stats.observe(
            Observation(CAMS[0], T0, rtsp_tcp=LayerResult(False, error="unreachable"),
                        onvif_tcp=LayerResult(False, error="timeout")),
            3.1,
        )  # fmt: skip
        connected = [False]
        looks = [(7, 2)]
        metrics = build_metrics(
            MetricSources(
                cameras=fleet.state_counts,
                checks=stats,
                bus=BusSource(lambda: connected[0], store.outbox_backlog,
                              now=lambda: T0 + timedelta(seconds=90)),
                frames=lambda: looks[0],
            )
        )  # fmt: skip
        found = samples((await metrics.exposition()).decode())
        assert value(found, "gridbridge_cameras", state="offline") == 1
        assert value(found, "gridbridge_cameras", state="unknown") == 4
        assert value(found, "gridbridge_cameras", state="online") == 0
        assert value(found, "gridbridge_checks_total", result="ok") == 1
        assert value(found, "gridbridge_checks_total", result="failed") == 1
        layers = "gridbridge_check_layers_total"
        assert value(found, layers, layer="rtsp", result="ok") == 1
        assert value(found, layers, layer="rtsp_tcp", result="unreachable") == 1
        assert value(found, layers, layer="onvif_tcp", result="timeout") == 1
        assert value(found, layers, layer="onvif_auth", result="ok") == 0
        assert value(found, "gridbridge_check_duration_seconds_count") == 2
        assert value(found, "gridbridge_check_duration_seconds_bucket", le="0.025") == 1
        assert value(found, "gridbridge_check_duration_seconds_bucket", le="5.0") == 2
        assert value(found, "gridbridge_check_duration_seconds_sum") == pytest.approx(3.12)
        assert value(found, "gridbridge_bus_connected") == 0
        assert value(found, "gridbridge_bus_outbox_pending") == 0
        assert value(found, "gridbridge_bus_outbox_oldest_seconds") == 0
        assert value(found, "gridbridge_frame_looks_total", result="picture") == 7
        assert value(found, "gridbridge_frame_looks_total", result="no_picture") == 2

        # The broker away: messages wait in the outbox.
        await store.enqueue([Message("gb/x", b"1", 1, True), Message("gb/y", b"2", 1, True)])
        connected[0] = True
        found = samples((await metrics.exposition()).decode())
        assert value(found, "gridbridge_bus_connected") == 1
        assert value(found, "gridbridge_bus_outbox_pending") == 2
        assert value(found, "gridbridge_bus_outbox_oldest_seconds") == 90

        # A stopped store: the outbox is left out, the rest is served.
        await store.close()
        found = samples((await metrics.exposition()).decode())
        assert not any(name.startswith("gridbridge_bus_outbox") for name, _ in found)
        assert value(found, "gridbridge_bus_connected") == 1
        assert value(found, "gridbridge_cameras", state="offline") == 1
