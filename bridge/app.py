"""The composition root: builds every part of the daemon, runs it, shuts it down in order.

Start-up: store → broker (embedded when ``mqtt.url`` is empty) → bus view and publisher →
monitor (scheduler, checks) → frame tier (pictures) → work orders → web page and API
(always, with or without work orders) → inventory watcher.  One TaskGroup, named tasks.
Shutdown (on SIGTERM/SIGINT, or a fatal error): running looks at pictures are abandoned,
running checks finish up to a deadline, pending transitions and their bus messages are
written, the outbox is flushed within its deadline, the bridge state ``offline`` is
published, connections are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import aiohttp

from bridge.bootstrap import build_store
from bridge.bus.embedded import embedded_broker
from bridge.bus.message import Message
from bridge.bus.payloads import Request, parse_request, response_payload
from bridge.bus.publisher import Publisher
from bridge.bus.topics import GridPath, Topics
from bridge.check_stats import CheckStats
from bridge.evidence import EvidenceStore
from bridge.fleet import Fleet
from bridge.frame_sources import FrameSources
from bridge.frames import FrameTier, LookError, LookOutcome
from bridge.grid import GridIndex
from bridge.live import LiveConfig, LiveHub
from bridge.logs import redact
from bridge.metrics import (
    BusSource,
    Metrics,
    MetricSources,
    OrderCounts,
    WebhookSource,
    WorkOrderSource,
    build_metrics,
)
from bridge.model import CameraState
from bridge.monitor import Monitor
from bridge.observation import Observation
from bridge.probes import real_probes
from bridge.runs import ALIVE_EVERY_S
from bridge.settings import Settings, WebhookSettings
from bridge.snapshots import SnapshotStore
from bridge.store import Store, StoreError
from bridge.store.webhooks import StoreWebhookQueue
from bridge.tracker import Transition
from bridge.web import (
    cameras_api,
    live_api,
    metrics_api,
    orders_api,
    pages,
    pages_orders,
    pages_reports,
    reports_api,
)
from bridge.web.app_context import Readiness, WebContext
from bridge.web.auth import Auth
from bridge.web.cli_token import cli_token_file
from bridge.web.directory import CameraDirectory
from bridge.web.server import Feature, WebError, WebServer
from bridge.webhook_sender import Clock, WebhookSender, WebhookTarget
from bridge.workorder_desk import WorkOrderDesk
from health.verdict import CameraHealth

log = logging.getLogger(__name__)

DRAIN_DEADLINE_S = 10.0  # running checks may finish this long after a stop is asked
INVENTORY_POLL_S = 30.0  # how often the daemon looks for a new import or grid map
# A bus request for a snapshot waits this long for the look (two pictures and a diagnosis);
# below the responder's own 15 s deadline so the answer says why rather than nothing.
SNAPSHOT_REQUEST_TIMEOUT_S = 14.0
PRUNE_EVERY_S = 3600.0
WEBHOOK_KEEP = timedelta(days=7)  # delivered/failed webhook rows kept for troubleshooting


class Daemon:
    """gridbridge's daemon for one settings object; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        *,
        inventory_poll_s: float = INVENTORY_POLL_S,
        webhook_clock: Clock | None = None,
    ) -> None:
        """``webhook_clock``: the webhook sender's time (backoff, due rows); tests pass a
        faster one to see hours of retries in seconds."""
        self._settings = settings
        self._inventory_poll_s = inventory_poll_s
        self._webhook_clock = webhook_clock
        self._store: Store | None = None
        self._fleet = Fleet(Topics(settings.mqtt.root), snapshot_url_maker(settings))
        self._directory = CameraDirectory(self._fleet)  # the web page's view of the fleet
        self._check_stats = CheckStats()  # /metrics: checks by result, their durations
        self._monitor: Monitor | None = None
        self._frames: FrameTier | None = None
        self._snapshots: SnapshotStore | None = None
        self._desk: WorkOrderDesk | None = None
        # Set while running; /metrics reads them at scrape time (None: not there yet).
        self._order_counts: OrderCounts | None = None
        self._sender: WebhookSender | None = None
        self._publisher: Publisher | None = None
        self._inventory_mark: tuple[int, datetime | None, int] | None = None
        self._run_id: int | None = None  # this run in the store (bridge.runs)
        self.broker_url: str | None = None
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; raise on a fatal error (after shutting down)."""
        async with build_store(self._settings) as store, self._broker() as url:
            self._store = store
            self.broker_url = url
            async with real_probes(self._settings) as probes, self._frame_sources() as sources:
                monitor = Monitor(
                    store, probes.checker, self._settings, onboard=probes.onboard,
                    bus=self._bus_messages, on_written=self._notify,
                    picture_faults=self._picture_faults, on_checked=self._on_checked,
                    stats=self._check_stats,
                )  # fmt: skip
                self._monitor = monitor
                await self._load_inventory(first=True)
                n = await monitor.load()
                if sources is not None:
                    await self._start_frames(store, monitor, sources)
                if self._settings.workorders.enabled:
                    await self._start_desk(store, monitor)
                publisher = Publisher(
                    self._settings.mqtt, store, self._republish, self._handle_request, url=url
                )
                self._publisher = publisher
                async with self._web():
                    await self._serve(stop, monitor, publisher, n)

    async def _serve(
        self, stop: asyncio.Event, monitor: Monitor, publisher: Publisher, n: int
    ) -> None:
        # The run's start is recorded before anything runs, and its end after everything
        # stopped: a task cancelled before its first step would never run a `finally`.
        await self._mark_run()
        try:
            await self._serve_tasks(stop, monitor, publisher, n)
        finally:
            await self._end_run()

    async def _serve_tasks(
        self, stop: asyncio.Event, monitor: Monitor, publisher: Publisher, n: int
    ) -> None:
        async with asyncio.TaskGroup() as tasks:
            run = tasks.create_task(self._keep_marking_run(), name="run-record")
            pub = tasks.create_task(publisher.run(), name="bus-publisher")
            mon = tasks.create_task(monitor.run(), name="monitor")
            watch = tasks.create_task(self._watch_inventory(), name="inventory-watch")
            frames = self._frames
            look = tasks.create_task(frames.run(), name="frames") if frames else None
            desk = self._desk
            orders = tasks.create_task(desk.run(), name="work-orders") if desk else None
            hooks = (
                tasks.create_task(self._send_webhooks(desk), name="webhooks")
                if desk is not None and self._settings.workorders.webhooks
                else None
            )
            log.info("gridbridge running: %d cameras, bus %s", n, _masked(self.broker_url))
            self.ready.set()
            stopping = tasks.create_task(stop.wait(), name="stop-signal")
            running = {pub, mon, watch, stopping} | {t for t in (look, orders) if t}
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            log.info("gridbridge stopping")
            watch.cancel()
            if frames is not None and look is not None:
                await frames.scheduler.drain(0.0)  # a look is worth less than a clean stop
                look.cancel()
            left = await monitor.scheduler.drain(DRAIN_DEADLINE_S)
            if left:
                log.warning("%d checks still running at shutdown; abandoned", left)
            mon.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mon  # writes pending transitions and their messages
            run.cancel()
            if orders is not None:
                orders.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await orders  # writes pending work-order events and their messages
            if hooks is not None:
                hooks.cancel()  # what is not delivered stays queued for the next start
            await publisher.close(graceful=True)
            stopping.cancel()

    # --- the frame tier ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _frame_sources(self) -> AsyncIterator[FrameSources | None]:
        if not self._settings.frames.enabled:
            yield None
            return
        async with FrameSources(self._settings.frames) as sources:
            yield sources

    async def _start_frames(self, store: Store, monitor: Monitor, sources: FrameSources) -> None:
        s = self._settings.frames
        snapshots = SnapshotStore(
            snapshot_dir(self._settings),
            keep_count=s.history_count,
            keep_age_s=s.history_age_days * 86400,
            max_total_bytes=s.history_max_mb << 20,
        )
        await asyncio.to_thread(snapshots.open)
        # Cameras removed from the inventory while the daemon was stopped leave no pictures.
        await asyncio.to_thread(snapshots.forget_all_except, list(monitor.targets()))
        self._snapshots = snapshots
        frames = FrameTier(
            store, snapshots, sources, self._settings,
            state_of=monitor.state_of,
            target_of=monitor.target,
            status_messages=self._fleet.on_picture,
            publish_thumbnail=self._publish_thumbnail,
            on_look=self._on_look,
            on_written=self._notify,
        )  # fmt: skip
        await frames.load()
        for camera_id, record in (await store.frame_records()).items():
            self._fleet.on_picture(camera_id, record.thumbnail_sha256)  # first load: learn only
        frames.sync(monitor.targets())
        monitor.add_listener(self._on_transition)
        self._frames = frames

    # --- the web page and API --------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _web(self) -> AsyncIterator[None]:
        """The web page and API while the daemon serves (with or without work orders).  A
        port that cannot be bound is logged as an error and the daemon goes on: checks, bus
        and orders matter more than the page."""
        async with contextlib.AsyncExitStack() as stack:
            try:
                # Logins, and the local token of the crew commands on this machine.
                local = stack.enter_context(cli_token_file(self._settings.store.data_dir))
                auth = Auth(cli_token_sha256=local)
                hub = LiveHub(LiveConfig.from_settings(self._settings.http))
                server = WebServer(
                    self._web_context(hub), middlewares=[auth.middleware],
                    features=[auth.feature, *self._web_features(hub)],
                )  # fmt: skip
                await hub.start()  # a hub not started refuses every viewer ("stopping")
                try:
                    await stack.enter_async_context(server)
                except BaseException:
                    await hub.aclose()
                    raise
                # Closed before the server stops: open MJPEG answers end at once instead
                # of holding the server's shutdown for its whole timeout.
                stack.push_async_callback(hub.aclose)
            except WebError as exc:
                log.error("web page and API not available: %s (http.listen)", exc)
            yield

    def _web_features(self, hub: LiveHub) -> list[Feature]:
        """The parts of the web application, each adding its routes (bridge.web.server)."""
        monitor = self._monitor
        assert monitor is not None
        live = live_api.TargetSources(monitor.target, self._fleet.paths_of)
        return [
            cameras_api.feature, orders_api.feature, metrics_api.feature,
            reports_api.feature, lambda app: live_api.setup(app, hub, live),
            pages.feature, pages_orders.feature, pages_reports.feature,
        ]  # fmt: skip

    def _web_context(self, hub: LiveHub) -> WebContext:
        store, monitor, publisher = self._store, self._monitor, self._publisher
        assert store is not None
        assert monitor is not None
        assert publisher is not None
        loop = asyncio.get_running_loop()

        def check_age_s() -> float | None:
            last = monitor.last_checked_at or monitor.started_at
            return loop.time() - last if last is not None else None

        return WebContext(
            settings=self._settings,
            store=store,
            directory=self._directory,
            desk=self._desk,
            snapshots=self._snapshots,
            recheck=self._recheck,
            metrics=self._metrics(hub),
            readiness=Readiness(
                bus_connected=lambda: publisher.connected,
                check_age_s=check_age_s,
                monitored=lambda: len(monitor.targets()),
            ),
        )

    def _recheck(self, camera_id: str) -> bool:
        """A person asked (web page): a cheap check now, and a fresh picture when pictures
        are looked at.  False when the camera is not checked (no address)."""
        monitor, frames = self._monitor, self._frames
        queued = monitor.scheduler.recheck(camera_id) if monitor is not None else False
        if queued and frames is not None:
            frames.soon(camera_id)
        return queued

    def _metrics(self, hub: LiveHub) -> Metrics:
        """/metrics: cameras by state, the checks, the bus and its outbox, the frame tier's
        looks; with work orders, the desk's orders and alarm, the webhook sender's counts
        (once it runs) and the webhook queue; all read at scrape time."""
        store, publisher = self._store, self._publisher
        assert store is not None
        assert publisher is not None
        desk, counts = self._desk, self._order_counts
        hooks = self._settings.workorders.webhooks
        webhooks = WebhookSource(
            targets=tuple(h.name for h in hooks),
            status=lambda: self._sender.status() if self._sender is not None else None,
            backlog=store.webhook_backlog,
        )
        orders = (
            WorkOrderSource.of(desk, counts) if desk is not None and counts is not None else None
        )
        return build_metrics(
            MetricSources(
                workorders=orders,
                webhooks=webhooks if desk is not None and hooks else None,
                cameras=self._fleet.state_counts,
                checks=self._check_stats,
                bus=BusSource(lambda: publisher.connected, store.outbox_backlog),
                frames=self._frame_looks,
                live=hub.stats,
            )
        )

    def _frame_looks(self) -> tuple[int, int] | None:
        frames = self._frames
        return (frames.looks, frames.failures) if frames is not None else None

    # --- work orders -----------------------------------------------------------------------

    async def _start_desk(self, store: Store, monitor: Monitor) -> None:
        frames = self._frames
        counts = OrderCounts()
        evidence = EvidenceStore(evidence_dir(self._settings), snapshot_dir(self._settings))
        await asyncio.to_thread(evidence.open)
        desk = WorkOrderDesk(
            store, self._settings,
            town_of=self._town_of,
            ask_picture=frames.soon if frames is not None else (lambda _: None),
            ask_check=monitor.scheduler.recheck,
            on_written=self._notify,
            on_recorded=counts.recorded,
            evidence=evidence,
        )  # fmt: skip
        await desk.load(await store.list_cameras())
        monitor.add_listener(desk.on_transition)
        self._desk = desk
        self._order_counts = counts

    async def _send_webhooks(self, desk: WorkOrderDesk) -> None:
        """Deliver queued work-order events to the configured webhooks until cancelled."""
        assert self._store is not None
        targets = [webhook_target(h) for h in self._settings.workorders.webhooks]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            sender = WebhookSender(
                session, StoreWebhookQueue(self._store), targets, clock=self._webhook_clock
            )
            desk.on_webhooks = sender.notify
            self._sender = sender  # its counts: /metrics
            await sender.run()

    def _town_of(self, camera_id: str) -> str | None:
        paths = self._fleet.paths_of(camera_id)
        return paths[0].town if paths else None

    def _on_checked(self, camera_id: str, state: CameraState, at: datetime) -> None:
        if self._desk is not None:
            self._desk.on_checked(camera_id, state, at)

    async def _on_look(self, outcome: LookOutcome) -> None:
        if self._desk is not None:
            await self._desk.on_look(
                outcome.camera_id, outcome.at, not outcome.seen, outcome.evidence
            )

    def _picture_faults(self, camera_id: str) -> tuple[str, ...]:
        return self._frames.faults(camera_id) if self._frames is not None else ()

    async def _on_transition(self, t: Transition, health: CameraHealth) -> None:
        # Back from offline: is the picture right again?  Look now, not in 15 minutes.
        frames = self._frames
        back = t.from_state is CameraState.OFFLINE and t.to_state is not CameraState.OFFLINE
        if frames is not None and back:
            frames.soon(t.camera_id)

    async def _publish_thumbnail(self, camera_id: str, thumbnail: bytes) -> None:
        publisher = self._publisher
        if publisher is not None:
            await publisher.publish_now(self._fleet.snapshots(camera_id, thumbnail))

    async def _sync_frames(self) -> None:
        frames, monitor, snapshots = self._frames, self._monitor, self._snapshots
        if frames is None or monitor is None or snapshots is None:
            return
        for camera_id in frames.sync(monitor.targets()):
            await asyncio.to_thread(snapshots.forget, camera_id)

    @contextlib.asynccontextmanager
    async def _broker(self) -> AsyncIterator[str]:
        if self._settings.mqtt.url:
            yield self._settings.mqtt.url
            return
        async with embedded_broker() as url:
            log.info("embedded MQTT broker at %s (mqtt.url is empty)", url)
            yield url

    # --- the bus ---------------------------------------------------------------------------

    def _bus_messages(self, t: Transition, obs: Observation) -> list[Message]:
        return self._fleet.on_transition(t, obs)

    def _notify(self) -> None:
        if self._publisher is not None:
            self._publisher.notify()

    async def _republish(self) -> AsyncIterator[Message]:
        for message in self._fleet.retained(datetime.now(UTC)):
            yield message

    async def _handle_request(
        self, path: GridPath, camera_id: str, payload: bytes, props: Mapping[str, str]
    ) -> bytes | None:
        request: Request = parse_request(payload)
        if path not in self._fleet.paths_of(camera_id):
            return response_payload(
                request.id, False, action=request.action, error="no such camera here"
            )
        monitor = self._monitor
        if request.action == "recheck" and monitor is not None:
            monitor.scheduler.recheck(camera_id)
            state = self._fleet.state_of(camera_id)
            return response_payload(
                request.id, True, action="recheck",
                data={"queued": True, "state": state.value if state else None},
            )  # fmt: skip
        frames = self._frames
        if request.action == "snapshot" and frames is not None:
            try:
                outcome = await frames.look_now(camera_id, SNAPSHOT_REQUEST_TIMEOUT_S)
            except LookError as exc:
                return response_payload(request.id, False, action="snapshot", error=str(exc))
            if not outcome.ok:
                return response_payload(
                    request.id, False, action="snapshot", error=f"no picture: {outcome.error}"
                )
            return response_payload(
                request.id, True, action="snapshot",
                data={
                    "taken_at": outcome.at.isoformat(),
                    "faults": list(outcome.faults),
                    "seen": list(outcome.seen),
                    "source": outcome.source,
                    "thumbnail_sha256": outcome.thumbnail_sha256,
                    "snapshot_url": self._fleet.snapshot_url(camera_id),
                },
            )  # fmt: skip
        return response_payload(
            request.id, False, action=request.action,
            error="picture checks are turned off (frames.enabled = false)",
        )  # fmt: skip

    # --- inventory -------------------------------------------------------------------------

    async def _load_inventory(self, first: bool = False) -> None:
        """Read cameras and grid map; on changes (an import, a new map) bring the bus in line
        through the outbox, and the monitor's camera list."""
        store = self._store
        assert store is not None
        mark = await store.inventory_mark()
        if not first and mark == self._inventory_mark:
            return
        self._inventory_mark = mark
        cells = await store.load_grid()
        views = await store.list_cameras()
        monitor = self._monitor
        index = GridIndex(cells)
        messages = self._fleet.load(
            views, index, datetime.now(UTC),
            flapping=lambda c: monitor.state_of(c)[2] if monitor else False,
        )  # fmt: skip
        self._directory.load(index, views)
        if messages:
            await store.enqueue(messages)
            self._notify()
        if not first and monitor is not None:
            added, removed = await monitor.reload()
            await self._sync_frames()
            if self._desk is not None:
                self._desk.set_fleet(views)
            log.info("inventory changed: %d cameras added, %d removed", added, removed)

    # --- this run, for the reports (bridge.runs) --------------------------------------------

    async def _mark_run(self) -> None:
        """Record this run's start, or (once started) that it is still alive; a failed
        write is logged and tried again at the next mark."""
        assert self._store is not None
        now = datetime.now(UTC)
        try:
            if self._run_id is None:
                self._run_id = await self._store.start_run(now)
            else:
                await self._store.run_alive(self._run_id, now)
        except StoreError as exc:
            log.warning("%s; will try again", exc)
        except Exception:  # bookkeeping must not stop the daemon (STYLE 7)
            log.exception("could not record this run of the daemon; will try again")

    async def _keep_marking_run(self) -> None:
        while True:
            await asyncio.sleep(ALIVE_EVERY_S)
            await self._mark_run()

    async def _end_run(self) -> None:
        """An orderly stop: the run's end (else it counts to its last sign of life)."""
        if self._store is None or self._run_id is None:
            return
        try:
            await self._store.end_run(self._run_id, datetime.now(UTC))
        except Exception as exc:
            log.warning("the end of this run was not recorded: %s", exc)
        self._run_id = None

    async def _watch_inventory(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + PRUNE_EVERY_S
        while True:
            await asyncio.sleep(self._inventory_poll_s)
            try:
                await self._load_inventory()
            except Exception:  # one failed look must not stop the daemon (STYLE 7)
                log.exception("could not reload the inventory; will try again")
            if loop.time() >= next_prune:
                next_prune = loop.time() + PRUNE_EVERY_S
                await self._prune()

    async def _prune(self) -> None:
        """Hourly housekeeping: old pictures of cameras that stopped sending them (saves
        prune the rest), the pictures of orders closed long ago, delivered webhooks."""
        now = datetime.now(UTC)
        if self._snapshots is not None:
            try:
                await asyncio.to_thread(self._snapshots.prune, now)
            except Exception:
                log.exception("could not prune old snapshots; will try again")
        if self._desk is not None:
            try:
                await self._desk.prune_evidence(now)
            except Exception:
                log.exception("could not prune old evidence pictures; will try again")
            self._desk.forget_closed(now)
        if self._store is not None and self._settings.workorders.webhooks:
            try:
                await self._store.prune_webhooks(now - WEBHOOK_KEEP)
            except Exception:
                log.exception("could not prune delivered webhooks; will try again")


def webhook_target(hook: WebhookSettings) -> WebhookTarget:
    """The sender's view of a configured webhook (secrets resolved by the settings)."""
    assert hook.url is not None  # the settings refuse a target without a URL
    return WebhookTarget(
        name=hook.name,
        kind=hook.kind,
        url=hook.url.get_secret_value(),
        secret=hook.secret.get_secret_value() if hook.secret is not None else None,
        min_interval_s=hook.min_interval_s,
        timeout_s=hook.timeout_s,
        retry_first_s=hook.retry_first_s,
        retry_max_s=hook.retry_max_s,
    )


def snapshot_dir(settings: Settings) -> Path:
    """Where the pictures are kept: ``data_dir/snapshots``."""
    return settings.store.data_dir / "snapshots"


def evidence_dir(settings: Settings) -> Path:
    """Where the work orders' pictures are kept: ``data_dir/evidence``."""
    return settings.store.data_dir / "evidence"


def snapshot_url_maker(settings: Settings) -> Callable[[str], str | None]:
    """camera id → the HTTP URL of its full-size latest picture (served by the web page)."""
    base = settings.http.base_url

    def url(camera_id: str) -> str:
        return f"{base}/api/cameras/{quote(camera_id, safe='')}/snapshot.jpg"

    return url


def _masked(url: str | None) -> str:
    return redact(url or "")


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (a second SIGINT still interrupts)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
