"""The composition root: builds every part of the daemon, runs it, shuts it down in order.

Start-up: store → broker (embedded when ``mqtt.url`` is empty) → bus view and publisher →
monitor (scheduler, checks) → inventory watcher.  One TaskGroup, named tasks.  Shutdown (on
SIGTERM/SIGINT, or a fatal error): running checks finish up to a deadline, pending
transitions and their bus messages are written, the outbox is flushed within its deadline,
the bridge state ``offline`` is published, connections are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime

from bridge.bootstrap import build_store
from bridge.bus.embedded import embedded_broker
from bridge.bus.message import Message
from bridge.bus.payloads import Request, parse_request, response_payload
from bridge.bus.publisher import Publisher
from bridge.bus.topics import GridPath, Topics
from bridge.fleet import Fleet
from bridge.grid import GridIndex
from bridge.logs import redact
from bridge.monitor import Monitor
from bridge.observation import Observation
from bridge.probes import real_probes
from bridge.settings import Settings
from bridge.store import Store
from bridge.tracker import Transition

log = logging.getLogger(__name__)

DRAIN_DEADLINE_S = 10.0  # running checks may finish this long after a stop is asked
INVENTORY_POLL_S = 30.0  # how often the daemon looks for a new import or grid map


class Daemon:
    """gridbridge's daemon for one settings object; ``run`` until ``stop`` is set."""

    def __init__(self, settings: Settings, *, inventory_poll_s: float = INVENTORY_POLL_S) -> None:
        self._settings = settings
        self._inventory_poll_s = inventory_poll_s
        self._store: Store | None = None
        self._fleet = Fleet(Topics(settings.mqtt.root))
        self._monitor: Monitor | None = None
        self._publisher: Publisher | None = None
        self._inventory_mark: tuple[int, datetime | None, int] | None = None
        self.broker_url: str | None = None
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; raise on a fatal error (after shutting down)."""
        async with build_store(self._settings) as store, self._broker() as url:
            self._store = store
            self.broker_url = url
            async with real_probes(self._settings) as probes:
                monitor = Monitor(
                    store, probes.checker, self._settings, onboard=probes.onboard,
                    bus=self._bus_messages, on_written=self._notify,
                )  # fmt: skip
                self._monitor = monitor
                await self._load_inventory(first=True)
                n = await monitor.load()
                publisher = Publisher(
                    self._settings.mqtt, store, self._republish, self._handle_request, url=url
                )
                self._publisher = publisher
                await self._serve(stop, monitor, publisher, n)

    async def _serve(
        self, stop: asyncio.Event, monitor: Monitor, publisher: Publisher, n: int
    ) -> None:
        async with asyncio.TaskGroup() as tasks:
            pub = tasks.create_task(publisher.run(), name="bus-publisher")
            mon = tasks.create_task(monitor.run(), name="monitor")
            watch = tasks.create_task(self._watch_inventory(), name="inventory-watch")
            log.info("gridbridge running: %d cameras, bus %s", n, _masked(self.broker_url))
            self.ready.set()
            stopping = tasks.create_task(stop.wait(), name="stop-signal")
            await asyncio.wait({pub, mon, watch, stopping}, return_when=asyncio.FIRST_COMPLETED)
            log.info("gridbridge stopping")
            watch.cancel()
            left = await monitor.scheduler.drain(DRAIN_DEADLINE_S)
            if left:
                log.warning("%d checks still running at shutdown; abandoned", left)
            mon.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mon  # writes pending transitions and their messages
            await publisher.close(graceful=True)
            stopping.cancel()

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
        return response_payload(
            request.id, False, action=request.action,
            error="snapshots are not available yet in this version",
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
        messages = self._fleet.load(
            views, GridIndex(cells), datetime.now(UTC),
            flapping=lambda c: monitor.state_of(c)[2] if monitor else False,
        )  # fmt: skip
        if messages:
            await store.enqueue(messages)
            self._notify()
        if not first and monitor is not None:
            added, removed = await monitor.reload()
            log.info("inventory changed: %d cameras added, %d removed", added, removed)

    async def _watch_inventory(self) -> None:
        while True:
            await asyncio.sleep(self._inventory_poll_s)
            try:
                await self._load_inventory()
            except Exception:  # one failed look must not stop the daemon (STYLE 7)
                log.exception("could not reload the inventory; will try again")


def _masked(url: str | None) -> str:
    return redact(url or "")


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (a second SIGINT still interrupts)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
