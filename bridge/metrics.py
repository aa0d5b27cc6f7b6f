"""The daemon's Prometheus metrics, served at ``GET /metrics`` (docs/metrics.md).

Almost nothing is instrumented on the hot path: each metric is read, at scrape time, from
where the daemon keeps the value anyway — the fleet's camera states, the order book, the
webhook sender's per-target counts, the frame tier's look counts, the publisher's connection,
the store's outbox and webhook queue — by custom collectors that yield metric families.  The
one exception is the cheap check itself: the monitor counts each check's duration and
outcome in a `bridge.check_stats.CheckStats` (a histogram observation and a few integer
increments).  Counters are counts kept since the process started (`OrderCounts`,
`TargetStatus`, `CheckStats`), so they only grow.

One registry per `Metrics`, never prometheus_client's global one: two daemons (or tests) in
one process must not share or clash.  Collectors are synchronous, so what must be awaited (a
store query) is read first: `Metrics.exposition` awaits each `Refreshing` collector's
``refresh`` — every read with its own deadline; a read that fails or is late leaves its
families out of that scrape (logged at DEBUG), the rest is served — and then renders.

Extending it (issue 7): a source field in `MetricSources`, a collector (with ``refresh``
when it reads the store), one line in `build_metrics`.

Labels carry codes and configured names only (order states, kinds, webhook target names):
never a URL, a secret or a camera name (DESIGN §12).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from bridge.bus.summaries import STATES, Counts
from bridge.check_stats import LAYERS, CheckStats
from bridge.live import LiveStats
from bridge.store import StoreError
from bridge.webhook_sender import TargetStatus
from bridge.workorder_desk import WorkOrderDesk
from bridge.workorders.common_cause import Alarm
from bridge.workorders.model import EventKind, Order, OrderEvent, OrderKind, Priority, Step
from bridge.workorders.views import is_overdue

__all__ = [
    "STORE_READ_TIMEOUT_S",
    "BusSource",
    "FrameLooks",
    "MetricSources",
    "Metrics",
    "OrderCounts",
    "WebhookSource",
    "WorkOrderSource",
    "build_metrics",
]

log = logging.getLogger(__name__)

# Deadline of each store read of a scrape.  Prometheus gives a scrape 10 s by default; a
# store that has not answered a small GROUP BY in 2 s is busy or stuck, and the scrape is
# better served without that family than not at all.
STORE_READ_TIMEOUT_S = 2.0

OPEN_STEPS = tuple(step for step in Step if step is not Step.CLOSED)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- what the daemon counts for the metrics ------------------------------------------------


class OrderCounts:
    """Work-order events and ``bridge_network`` alarms recorded since the process started;
    its ``recorded`` is the desk's ``on_recorded``, called after the store committed them
    (an event whose write failed is counted when the retry succeeds, once)."""

    def __init__(self) -> None:
        self.events: Counter[EventKind] = Counter()
        self.closed: Counter[tuple[OrderKind, Priority]] = Counter()
        self.alarms_raised = 0

    def recorded(self, events: Sequence[OrderEvent], alarms: Sequence[Alarm]) -> None:
        for event in events:
            self.events[event.kind] += 1
            if event.step is Step.CLOSED:
                self.closed[event.order.kind, event.order.priority] += 1
        self.alarms_raised += sum(1 for alarm in alarms if alarm.raised)


# --- where the metrics are read ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkOrderSource:
    """The work-order desk as /metrics reads it: its open orders, whether the
    ``bridge_network`` alarm is raised, and the counts of what it recorded."""

    open_orders: Callable[[], Iterable[Order]]
    alarm_raised: Callable[[], bool]
    counts: OrderCounts
    now: Callable[[], datetime] = _utcnow

    @classmethod
    def of(
        cls, desk: WorkOrderDesk, counts: OrderCounts, now: Callable[[], datetime] = _utcnow
    ) -> WorkOrderSource:
        return cls(desk.book.open_orders, lambda: desk.alarm_raised, counts, now)


@dataclass(frozen=True, slots=True)
class WebhookSource:
    """The webhook targets: configured names (reported with a backlog of 0 when nothing
    waits), the sender's `TargetStatus` by name (None while no sender runs: those families
    are left out), and the store's backlog (target → (pending, oldest queued))."""

    targets: tuple[str, ...]
    status: Callable[[], Mapping[str, TargetStatus] | None]
    backlog: Callable[[], Awaitable[Mapping[str, tuple[int, datetime]]]]


@dataclass(frozen=True, slots=True)
class BusSource:
    """The MQTT publisher's connection, and the store's outbox: (unsent messages, when the
    oldest was queued)."""

    connected: Callable[[], bool]
    backlog: Callable[[], Awaitable[tuple[int, datetime | None]]]
    now: Callable[[], datetime] = _utcnow


FrameLooks = Callable[[], tuple[int, int] | None]
"""The frame tier's looks since start: (with a picture, without one); None while it does not
run."""


@dataclass(frozen=True, slots=True)
class MetricSources:
    """Every source /metrics reads; a source left None has no families.  The process's own
    (``process_*``: CPU, memory, open files; ``python_info``) are always there."""

    workorders: WorkOrderSource | None = None
    webhooks: WebhookSource | None = None
    cameras: Callable[[], Counts] | None = None
    checks: CheckStats | None = None
    bus: BusSource | None = None
    frames: FrameLooks | None = None
    live: Callable[[], LiveStats] | None = None


# --- collectors ----------------------------------------------------------------------------


class Refreshing(Protocol):
    """A collector that must await something before it can collect: ``refresh`` reads it
    within ``timeout_s`` and never raises for a failed or late read (``collect`` then leaves
    those families out)."""

    async def refresh(self, timeout_s: float) -> None: ...


class _WorkOrderCollector(Collector):
    def __init__(self, source: WorkOrderSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        source, counts = self._source, self._source.counts
        now = source.now()
        open_by: Counter[tuple[Step, OrderKind, Priority]] = Counter()
        overdue = 0
        for order in source.open_orders():
            open_by[order.state, order.kind, order.priority] += 1
            overdue += is_overdue(order, now)
        # Every combination, zeros included: a series that vanishes at 0 breaks sums and
        # alerts ("absent" is not "none").  5 steps × 7 kinds × 2 priorities = 70 series.
        orders = GaugeMetricFamily(
            "gridbridge_workorders",
            "Open work orders by current step (state), kind and priority.",
            labels=["state", "kind", "priority"],
        )
        for step, kind, priority in product(OPEN_STEPS, OrderKind, Priority):
            orders.add_metric(
                [step.value, kind.value, priority.value], open_by[step, kind, priority]
            )
        yield orders
        yield GaugeMetricFamily(
            "gridbridge_workorders_overdue",
            "Open work orders past a deadline (to accept or to repair).",
            value=overdue,
        )
        events = CounterMetricFamily(
            "gridbridge_workorder_events",
            "Work-order events recorded since start, by event.",
            labels=["event"],
        )
        for event in EventKind:
            events.add_metric([event.value], counts.events[event])
        yield events
        closed = CounterMetricFamily(
            "gridbridge_workorders_closed",
            "Work orders closed since start (verified, recovered by itself or by hand).",
            labels=["kind", "priority"],
        )
        for kind, priority in product(OrderKind, Priority):
            closed.add_metric([kind.value, priority.value], counts.closed[kind, priority])
        yield closed
        yield GaugeMetricFamily(
            "gridbridge_bridge_network_alarm",
            "1 while the bridge_network alarm is raised (a large share of all cameras failed "
            "at once: the bridge's own network; no new orders open meanwhile).",
            value=1 if source.alarm_raised() else 0,
        )
        yield CounterMetricFamily(
            "gridbridge_bridge_network_alarms",
            "bridge_network alarms raised since start.",
            value=counts.alarms_raised,
        )


class _WebhookCollector(Collector):
    """The sender's counts at collect time; the backlog as the latest ``refresh`` read it."""

    def __init__(self, source: WebhookSource) -> None:
        self._source = source
        self._backlog: dict[str, int] | None = None

    async def refresh(self, timeout_s: float) -> None:
        self._backlog = None
        try:
            async with asyncio.timeout(timeout_s):
                rows = await self._source.backlog()
        except TimeoutError:
            log.debug("/metrics: webhook backlog not read within %g s; left out", timeout_s)
            return
        except StoreError as exc:
            log.debug("/metrics: webhook backlog not read (%s); left out", exc)
            return
        backlog = dict.fromkeys(self._source.targets, 0)
        backlog.update((target, count) for target, (count, _) in rows.items())
        self._backlog = backlog

    def collect(self) -> Iterator[Metric]:
        status = self._source.status()
        if status is not None:
            yield from _status_families(status)
        if self._backlog is not None:
            backlog = GaugeMetricFamily(
                "gridbridge_webhook_backlog",
                "Messages queued for the target and not yet delivered or given up (also of "
                "targets no longer configured, whose messages wait for their return).",
                labels=["target"],
            )
            for target, count in sorted(self._backlog.items()):
                backlog.add_metric([target], count)
            yield backlog


def _status_families(status: Mapping[str, TargetStatus]) -> Iterator[Metric]:
    labels = ["target"]
    delivered = CounterMetricFamily(
        "gridbridge_webhook_delivered", "Messages delivered since start.", labels=labels
    )
    given_up = CounterMetricFamily(
        "gridbridge_webhook_given_up",
        "Messages the receiver refused for good since start (not retried).",
        labels=labels,
    )
    failed = CounterMetricFamily(
        "gridbridge_webhook_failed_attempts",
        "Failed delivery attempts since start (each retried).",
        labels=labels,
    )
    down = GaugeMetricFamily(
        "gridbridge_webhook_down",
        "1 while the target's deliveries fail (unreachable, or refusing this target).",
        labels=labels,
    )
    misconfigured = GaugeMetricFamily(
        "gridbridge_webhook_misconfigured",
        "1 while the receiver refuses this target itself (wrong URL, key or secret): a "
        "person must fix the configuration.",
        labels=labels,
    )
    for target, s in sorted(status.items()):
        delivered.add_metric([target], s.delivered)
        given_up.add_metric([target], s.given_up)
        failed.add_metric([target], s.failed_attempts)
        down.add_metric([target], 1 if s.down_since is not None else 0)
        misconfigured.add_metric([target], 1 if s.misconfigured else 0)
    yield from (delivered, given_up, failed, down, misconfigured)


class _CameraCollector(Collector):
    def __init__(self, counts: Callable[[], Counts]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        counts = self._counts()
        cameras = GaugeMetricFamily(
            "gridbridge_cameras",
            "Cameras in the inventory by current state (online, degraded, offline, unknown).",
            labels=["state"],
        )
        for state in STATES:
            cameras.add_metric([state], counts[state])
        yield cameras


# The adapters' error codes (bridge.observation.LayerResult.error): always reported, 0 too.
LAYER_RESULTS = ("ok", "unreachable", "timeout", "auth_failed", "protocol")


class _CheckCollector(Collector):
    """The monitor's `CheckStats`: checks by result, layer outcomes, the duration histogram."""

    def __init__(self, stats: CheckStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        checks = CounterMetricFamily(
            "gridbridge_checks",
            "Cheap checks since start: ok when every layer that ran answered, else failed.",
            labels=["result"],
        )
        for result in ("ok", "failed"):
            checks.add_metric([result], stats.checks[result])
        yield checks
        layers = CounterMetricFamily(
            "gridbridge_check_layers",
            "Check layers run since start, by layer and result (ok or the error code).",
            labels=["layer", "result"],
        )
        seen = dict(stats.layers)
        for layer, result in product(LAYERS, LAYER_RESULTS):
            layers.add_metric([layer, result], seen.pop((layer, result), 0))
        for (layer, result), count in sorted(seen.items()):  # a code not listed above
            layers.add_metric([layer, result], count)
        yield layers
        yield from stats.duration.collect()


class _BusCollector(Collector):
    """The publisher's connection at collect time; the outbox as the latest ``refresh``
    read it."""

    def __init__(self, source: BusSource) -> None:
        self._source = source
        self._backlog: tuple[int, datetime | None] | None = None

    async def refresh(self, timeout_s: float) -> None:
        self._backlog = None
        try:
            async with asyncio.timeout(timeout_s):
                self._backlog = await self._source.backlog()
        except TimeoutError:
            log.debug("/metrics: bus outbox not read within %g s; left out", timeout_s)
        except StoreError as exc:
            log.debug("/metrics: bus outbox not read (%s); left out", exc)

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "gridbridge_bus_connected",
            "1 while the publisher is connected to the MQTT broker, else 0.",
            value=1 if self._source.connected() else 0,
        )
        if self._backlog is None:
            return
        pending, oldest = self._backlog
        yield GaugeMetricFamily(
            "gridbridge_bus_outbox_pending",
            "Bus messages written to the outbox and not yet published (the broker away, or "
            "a burst being sent).",
            value=pending,
        )
        age = (self._source.now() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "gridbridge_bus_outbox_oldest_seconds",
            "Age of the oldest unpublished outbox message, seconds (0 when none waits).",
            value=max(age, 0.0),
        )


class _FrameCollector(Collector):
    def __init__(self, looks: FrameLooks) -> None:
        self._looks = looks

    def collect(self) -> Iterator[Metric]:
        looks = self._looks()
        if looks is None:
            return
        family = CounterMetricFamily(
            "gridbridge_frame_looks",
            "Looks at camera pictures since start: picture (one was had and diagnosed) or "
            "no_picture (none could be had).",
            labels=["result"],
        )
        family.add_metric(["picture"], looks[0])
        family.add_metric(["no_picture"], looks[1])
        yield family


class _LiveCollector(Collector):
    def __init__(self, stats: Callable[[], LiveStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        yield GaugeMetricFamily(
            "gridbridge_live_streams", "Live views decoding now (one per camera).", s.streams
        )
        yield GaugeMetricFamily(
            "gridbridge_live_viewers", "People watching a live view now.", s.viewers
        )
        yield CounterMetricFamily(
            "gridbridge_live_frames_sent", "Live-view pictures sent to viewers.", s.frames_sent
        )
        refused = CounterMetricFamily(
            "gridbridge_live_refusals",
            "Live views refused at a cap: streams (http.live_max_streams) or viewers.",
            labels=["cap"],
        )
        for cap, count in sorted(s.refusals.items()):
            refused.add_metric([cap], count)
        yield refused
        failed = CounterMetricFamily(
            "gridbridge_live_failures", "Live streams that failed, by cause.", labels=["cause"]
        )
        for cause, count in sorted(s.failures.items()):
            failed.add_metric([cause], count)
        yield failed


# --- the registry --------------------------------------------------------------------------


class Metrics:
    """A registry and the collectors to refresh before each scrape (see `build_metrics`)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        refreshing: Sequence[Refreshing] = (),
        *,
        store_timeout_s: float = STORE_READ_TIMEOUT_S,
    ) -> None:
        self.registry = registry
        self._refreshing = tuple(refreshing)
        self._store_timeout_s = store_timeout_s

    async def exposition(self) -> bytes:
        """One scrape in the Prometheus text format (`prometheus_client.CONTENT_TYPE_LATEST`):
        the store reads first, concurrently, each within ``store_timeout_s``."""
        async with asyncio.TaskGroup() as group:
            for collector in self._refreshing:
                group.create_task(collector.refresh(self._store_timeout_s))
        return generate_latest(self.registry)


def build_metrics(
    sources: MetricSources, *, store_timeout_s: float = STORE_READ_TIMEOUT_S
) -> Metrics:
    """The daemon's metrics over ``sources``, in a registry of their own."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_*: CPU, resident memory, open fds
    PlatformCollector(registry=registry)  # python_info: the interpreter's version
    refreshing: list[Refreshing] = []
    if sources.workorders is not None:
        registry.register(_WorkOrderCollector(sources.workorders))
    if sources.webhooks is not None:
        webhooks = _WebhookCollector(sources.webhooks)
        registry.register(webhooks)
        refreshing.append(webhooks)
    if sources.cameras is not None:
        registry.register(_CameraCollector(sources.cameras))
    if sources.checks is not None:
        registry.register(_CheckCollector(sources.checks))
    if sources.bus is not None:
        bus = _BusCollector(sources.bus)
        registry.register(bus)
        refreshing.append(bus)
    if sources.frames is not None:
        registry.register(_FrameCollector(sources.frames))
    if sources.live is not None:
        registry.register(_LiveCollector(sources.live))
    return Metrics(registry, refreshing, store_timeout_s=store_timeout_s)
