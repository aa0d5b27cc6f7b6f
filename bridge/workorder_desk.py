"""The work-order desk: the order book (`bridge.workorders`) wired to the daemon.

    monitor transitions ─┬─ common cause (NVR groups, bridge_network alarm)
                         └─ order book ── events ── store (orders, events, episodes, bus
    each healthy check ──── order book                messages, one transaction) ── bus
    each picture look ───── order book (evidence, verification)
    every TICK_S ────────── order book (debounce, deadlines, verification timeouts)

The book is pure and in memory; the desk feeds it, writes what it produces (before anything
is published: the outbox is written in the same transaction), and restores it from the store
at start-up, so a restart or SIGKILL neither duplicates nor loses an order (issue 6).
Crew steps come from people (command line, web page) through :meth:`act`.  The pictures
the orders name are pinned in the evidence store (`bridge.evidence`) before their events are
written, so that contract audits months later still find them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from bridge.bus.message import Message
from bridge.bus.topics import Topics
from bridge.evidence import WHICH, EvidenceStore, Which
from bridge.model import CameraState, CameraView
from bridge.settings import Settings
from bridge.store import Store
from bridge.store.workorders import StoredEvent
from bridge.tracker import Transition
from bridge.workorders.codec import event_to_json
from bridge.workorders.common_cause import Alarm, CommonCause, CommonCauseRules, upstream_keys
from bridge.workorders.engine import OrderBook
from bridge.workorders.model import Episode, Order, OrderEvent, Step
from bridge.workorders.rules import WorkOrderRules
from bridge.workorders.steps import check_crew_step
from bridge.workorders.views import iso
from bridge.workorders.webhook_format import SCHEMA, render
from health.verdict import FAULT_LABELS_ZH, CameraHealth

log = logging.getLogger(__name__)

TICK_S = 5.0  # debounce and deadlines are minutes; verification waits on checks anyway
PICTURE_ASK_EVERY_S = 300.0  # ask the frame tier again for an awaited picture this often
ORDER_QOS = 1
ALARM_QOS = 1
# Closed orders stay in memory this long (at least the reopen window): the crews' page lists
# those closed within 7 days.  Older ones are read from the store when asked for.
KEEP_CLOSED_S = 8 * 86_400.0
MAX_ORDER_ID = 64  # longer ids in a URL are not looked up


def rules_of(settings: Settings) -> tuple[WorkOrderRules, CommonCauseRules]:
    w = settings.workorders
    return (
        WorkOrderRules(
            debounce_s=w.debounce_s,
            reopen_window_s=w.reopen_window_s,
            verify_checks=w.verify_checks,
            verify_needs_picture=settings.frames.enabled,
            verify_timeout_s=w.verify_timeout_s,
            respond_key_s=w.respond_key_h * 3600,
            repair_key_s=w.repair_key_h * 3600,
            respond_normal_s=w.respond_normal_h * 3600,
            repair_normal_s=w.repair_normal_h * 3600,
        ),
        CommonCauseRules(
            group_window_s=w.group_window_s,
            group_min_cameras=w.group_min_cameras,
            mass_share=w.mass_share,
            mass_window_s=w.mass_window_s,
            mass_clear_share=w.mass_clear_share,
            min_fleet=w.mass_min_cameras,
        ),
    )


def merged_episodes(
    views: Sequence[CameraView], stored: Sequence[Episode], orders: Sequence[Order]
) -> list[Episode]:
    """The order book's episodes for a restart: the cameras' current states (the tracker's,
    restored from the store — newer than the book's last write when the daemon was killed in
    between), with the episode start and last good picture the book stored when it has them.

    A camera found faulty with no stored episode (killed during its debounce) starts its
    episode when its fault was recorded (``since``): it still gets its order.  A healthy
    camera of an open order gets an episode too, so its order is verified and closed."""
    kept = {e.camera_id: e for e in stored}
    in_open = {c for o in orders if o.is_open for c in o.camera_ids}
    out = []
    for view in views:
        episode = kept.get(view.id)
        bad = view.state in (CameraState.OFFLINE, CameraState.DEGRADED)
        if view.state is CameraState.UNKNOWN or (
            episode is None and not bad and view.id not in in_open
        ):
            continue
        started = None
        if bad:
            started = (episode.started_at if episode else None) or view.since
        out.append(
            Episode(
                camera_id=view.id,
                state=view.state,
                faults=view.faults,
                flapping=episode.flapping if episode else False,
                key_location=view.key_location,
                upstream=view.upstream_id,
                started_at=started,
                last_good_picture=episode.last_good_picture if episode else None,
            )
        )
    return out


class WorkOrderDesk:
    """Feeds the order book, stores and announces what it decides."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        town_of: Callable[[str], str | None],
        ask_picture: Callable[[str], object] = lambda _: None,
        ask_check: Callable[[str], object] = lambda _: None,
        on_written: Callable[[], None] = lambda: None,
        # Told what each successful flush recorded (the /metrics counts).
        on_recorded: Callable[[Sequence[OrderEvent], Sequence[Alarm]], None] = (
            lambda _events, _alarms: None
        ),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        evidence: EvidenceStore | None = None,
    ) -> None:
        rules, cc_rules = rules_of(settings)
        self._store = store
        self._topics = Topics(settings.mqtt.root)
        self._town_of = town_of
        self._ask_picture = ask_picture
        self._ask_check = ask_check
        self._check_every_s = settings.probe.interval_s
        self._on_written = on_written
        self._on_recorded = on_recorded
        self._now = now
        self.common_cause = CommonCause(cc_rules)
        self.book = OrderBook(rules, common_cause=self.common_cause)
        self._facts: dict[str, tuple[bool, str | None]] = {}
        self._names: dict[str, str] = {}
        self._hooks = [(h.name, h.kind, frozenset(h.events)) for h in settings.workorders.webhooks]
        self.on_webhooks: Callable[[], None] = lambda: None  # the sender's notify
        self._events: list[OrderEvent] = []
        self._writing: list[OrderEvent] = []  # taken by the flush in progress
        self._alarms: list[Alarm] = []
        self._asked: dict[str, float] = {}
        self._checks_asked: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._write = asyncio.Lock()
        self.alarm_raised = False
        self._evidence = evidence
        self._evidence_keep = timedelta(days=settings.workorders.evidence_keep_days)
        self._keep_closed = timedelta(seconds=max(rules.reopen_window_s, KEEP_CLOSED_S))
        self._base_url = settings.http.base_url
        # Open orders' pictures pinned (or found unpinnable) since the start: order id →
        # which → (reference, kept).  Bounded: an order leaves it when it closes.
        self._pinned: dict[str, dict[Which, tuple[str, bool]]] = {}

    async def load(self, views: Sequence[CameraView]) -> None:
        """Restore the orders the book keeps (open ones, those closed lately, those of
        cameras still faulty) and the episodes from the store; take the inventory."""
        now = self._now()
        stored = await self._store.load_order_episodes()
        bad = (CameraState.OFFLINE, CameraState.DEGRADED)
        faulty = {v.id for v in views if v.state in bad} | {
            e.camera_id for e in stored if e.flapping
        }
        orders = await self._store.load_book_orders(now - self._keep_closed, sorted(faulty))
        episodes = merged_episodes(views, stored, orders)
        self.book.restore(orders, episodes, now)
        self.set_fleet(views)
        open_count = sum(1 for o in orders if o.is_open)
        log.info("work orders: %d open, %d kept in memory", open_count, len(orders))

    def set_fleet(self, views: Sequence[CameraView]) -> None:
        """The inventory (again, after an import): key locations, upstream devices."""
        seen = {v.id for v in views}
        for camera_id in [c for c in self._facts if c not in seen]:
            self.book.forget(camera_id)
        self._facts = {v.id: (v.key_location, v.upstream_id) for v in views}
        self._names = {v.id: v.name for v in views}
        alarm = self.common_cause.set_fleet(upstream_keys(views), self._now())
        self._take_alarm(alarm)

    # --- inputs -----------------------------------------------------------------------------

    async def on_transition(self, t: Transition, health: CameraHealth) -> None:
        """A published state change of a camera (a monitor listener)."""
        bad = t.to_state in (CameraState.OFFLINE, CameraState.DEGRADED)
        self._take_alarm(self.common_cause.observe(t.camera_id, t.faults if bad else (), t.at))
        key_location, upstream = self._facts.get(t.camera_id, (False, None))
        events = self.book.observe(
            t.camera_id,
            t.to_state,
            t.faults,
            t.at,
            flapping=t.flapping,
            key_location=key_location,
            upstream=upstream,
        )
        self._take(events)

    def on_checked(self, camera_id: str, state: CameraState, at: datetime) -> None:
        """Every cheap check (cheap: most cameras have no order)."""
        if state is CameraState.ONLINE and self.book.order_of(camera_id) is not None:
            self._take(self.book.healthy_check(camera_id, at))

    async def on_look(
        self, camera_id: str, at: datetime, healthy: bool, evidence: str | None
    ) -> None:
        """A picture look of the frame tier (evidence: the kept picture's path)."""
        self._take(self.book.picture(camera_id, at, healthy=healthy, evidence=evidence or ""))

    async def act(self, order_id: str, step: Step, *, actor: str, note: str) -> Order:
        """A crew's step (接单, 到场, 修复), or closing by hand (结案, with a note), recorded
        before this returns; raises `StepError` (message for people) when not allowed, and
        whatever the store raises when it could not be recorded."""
        at = self._now()
        if self.book.order(order_id) is None and (old := await self.find(order_id)) is not None:
            check_crew_step(old, step, at)  # closed long ago (the book let it go): refused
        if step is Step.CLOSED:
            events = self.book.close(order_id, actor=actor, note=note, at=at)
        else:
            events = self.book.act(order_id, step, actor=actor, note=note, at=at)
        self._take(events, wake=False)
        if step is Step.REPAIRED:  # see at once whether the repair holds
            self._ask_checks(asyncio.get_running_loop().time(), now_for=order_id)
        await self.flush()
        if self._events:  # the flush failed: the events wait for the next try
            raise RuntimeError("the step was taken but could not be recorded yet; retrying")
        order = self.book.order(order_id)
        assert order is not None
        return order

    async def find(self, order_id: str) -> Order | None:
        """An order by id: the book's, else (closed long ago: the book forgot it) the
        store's; ``None`` when there is none.  Raises `StoreError` when the store fails."""
        if len(order_id) > MAX_ORDER_ID:
            return None
        return self.book.order(order_id) or await self._store.get_order(order_id)

    async def stored_orders(
        self, *, state: str | None = None, camera_id: str | None = None
    ) -> list[Order]:
        """Every order the store has (or those in ``state``, or of a camera), oldest first:
        also those closed long ago that the book let go."""
        return await self._store.load_orders(state=state, camera_id=camera_id)

    def forget_closed(self, now: datetime) -> int:
        """Let the book forget the orders closed more than `KEEP_CLOSED_S` (or the reopen
        window) ago — they stay in the store (hourly housekeeping); returns how many."""
        gone = self.book.prune(now - self._keep_closed)
        if gone:
            log.info("work orders: %d closed long ago left to the store", gone)
        return gone

    async def history(self, order_id: str) -> list[StoredEvent]:
        """The events of an order, in order: the recorded ones and those the book has
        decided but the desk has not written yet (up to a tick behind), so the history
        never lags the order's state that a page shows beside it."""
        before = self._pending(order_id)
        stored = await self._store.order_events(order_id)
        # An event in neither read was committed during the store read: it is in `before`.
        seen = {e.seq for e in stored}
        extra = {e.seq: e for e in [*before, *self._pending(order_id)] if e.seq not in seen}
        return stored + [extra[seq] for seq in sorted(extra)]

    def _pending(self, order_id: str) -> list[StoredEvent]:
        return [
            StoredEvent(
                e.seq, e.at, e.kind.value, e.step.value if e.step else None, e.actor, e.note
            )
            for e in (*self._writing, *self._events)
            if e.order_id == order_id
        ]

    async def evidence_path(self, order_id: str, which: Which) -> Path | None:
        """The file of the order's before or after picture: the kept one, else (not kept
        yet) the snapshot it names; ``None`` when the order has no such picture or it is
        gone, or the desk keeps no pictures."""
        order = await self.find(order_id)
        ref = _ref(order, which) if order is not None else None
        if self._evidence is None or not ref:
            return None
        return await asyncio.to_thread(_find, self._evidence, order_id, which, ref)

    async def prune_evidence(self, now: datetime) -> int:
        """Delete the pictures of closed orders older than ``evidence_keep_days`` (hourly
        housekeeping); returns how many orders' pictures went."""
        if self._evidence is None:
            return 0
        keep = [o.id for o in self.book.open_orders()]
        return await asyncio.to_thread(self._evidence.prune, keep, now - self._evidence_keep)

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Tick and write until cancelled; on the way out, write what is pending."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    async with asyncio.timeout(TICK_S):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
                self._take(self.book.tick(self._now()), wake=False)
                now = loop.time()
                for camera_id in self.book.awaiting_picture():
                    if now - self._asked.get(camera_id, -1e18) >= PICTURE_ASK_EVERY_S:
                        self._asked[camera_id] = now
                        self._ask_picture(camera_id)
                self._ask_checks(now)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())

    async def flush(self) -> None:
        """Write the pending events (with episodes and bus messages) in one transaction."""
        async with self._write:
            events, self._events = self._events, []
            self._writing = events
            try:
                await self._flush(events)
            finally:
                self._writing = []

    async def _flush(self, events: list[OrderEvent]) -> None:
        alarms, self._alarms = self._alarms, []
        if not events and not alarms:
            return
        try:  # before the events go out with links to the pictures
            await self._pin(events)
        except BaseException:  # cancelled: the events wait for the last flush
            self._events[:0] = events
            self._alarms[:0] = alarms
            raise
        messages = [self._message(e) for e in events] + [self._alarm_message(a) for a in alarms]
        hooks = [item for e in events for item in self._webhooks(e)]
        # Only the episodes of the cameras these events concern: every camera the book
        # has seen (20,000 in a district) rewritten at each flush would be the daemon's
        # heaviest write; the others are rebuilt from the camera states at a restart.
        touched = {c for e in events for c in e.order.camera_ids}
        for order_id in {e.order_id for e in events}:
            if (order := self.book.order(order_id)) is None or not order.is_open:
                self._pinned.pop(order_id, None)
        try:
            await self._store.record_order_events(
                events, self.book.episodes(touched), messages, webhooks=hooks
            )
        except Exception:
            # Keep them for the next try: an order must not be lost (issue 6).
            self._events[:0] = events
            self._alarms[:0] = alarms
            log.exception("could not record %d work-order events; will retry", len(events))
            return
        for event in events:
            self._log(event)
        self._on_written()
        if hooks:
            self.on_webhooks()
        self._on_recorded(events, alarms)

    # --- helpers ----------------------------------------------------------------------------

    async def _pin(self, events: Sequence[OrderEvent]) -> None:
        """Keep the pictures the events' orders name, once per order and picture.  A failure
        is logged; the events are recorded all the same (the order's next event tries
        again)."""
        if self._evidence is None:
            return
        wanted: dict[tuple[str, Which, str], None] = {}
        for event in events:
            pinned = self._pinned.get(event.order_id, {})
            for which in WHICH:
                ref = _ref(event.order, which)
                if ref and pinned.get(which, ("", False))[0] != ref:
                    wanted[(event.order_id, which, ref)] = None
        if not wanted:
            return
        results = await asyncio.to_thread(_pin_all, self._evidence, list(wanted))
        for (order_id, which, ref), kept in zip(wanted, results, strict=True):
            if kept is not None:
                self._pinned.setdefault(order_id, {})[which] = (ref, kept)

    def _picture_url(self, order: Order) -> str | None:
        """The web address of the order's after picture, else its before picture, when
        kept."""
        pinned = self._pinned.get(order.id, {})
        for which in ("after", "before"):
            ref = _ref(order, which)
            if ref and pinned.get(which) == (ref, True):
                return f"{self._base_url}/api/workorders/{quote(order.id, safe='')}/{which}.jpg"
        return None

    def _ask_checks(self, now: float, *, now_for: str | None = None) -> None:
        """Check the cameras of repaired orders that still look broken every probe interval
        (an offline camera's backoff would leave a repair unseen for minutes); those of
        order ``now_for`` at once."""
        waiting = set(self.book.awaiting_recovery())
        for camera_id in [c for c in self._checks_asked if c not in waiting]:
            del self._checks_asked[camera_id]
        order = self.book.order(now_for) if now_for is not None else None
        at_once = set(order.camera_ids) if order is not None else set()
        for camera_id in waiting:
            due = now - self._checks_asked.get(camera_id, -1e18) >= self._check_every_s
            if due or camera_id in at_once:
                self._checks_asked[camera_id] = now
                self._ask_check(camera_id)

    def _take(self, events: list[OrderEvent], *, wake: bool = True) -> None:
        if events:
            self._events.extend(events)
            if wake:
                self._wake.set()

    def _take_alarm(self, alarm: Alarm | None) -> None:
        if alarm is None:
            return
        self.alarm_raised = alarm.raised
        if alarm.raised:
            log.error(
                "bridge_network: %d of %d cameras (%.0f %%) failed within a minute — the "
                "bridge's own host or network is the likely fault; no work orders until it "
                "clears", alarm.failing, alarm.total, alarm.share * 100,
            )  # fmt: skip
        else:
            log.warning("bridge_network cleared: %d of %d cameras still failing",
                        alarm.failing, alarm.total)  # fmt: skip
        self._alarms.append(alarm)
        self._wake.set()

    def _message(self, event: OrderEvent) -> Message:
        order = event.order
        town = next((t for c in order.camera_ids if (t := self._town_of(c))), None) or "_"
        body = {"schema": SCHEMA, **event_to_json(event)}
        body["step_zh"] = order.state.label_zh
        body["kind_zh"] = order.kind.label_zh
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return Message(self._topics.workorder(town, event.order_id), payload, ORDER_QOS, False)

    def _webhooks(self, event: OrderEvent) -> list[tuple[str, bytes]]:
        """The bodies of ``event`` for every webhook target that wants its kind."""
        wanted = [(name, kind) for name, kind, kinds in self._hooks if event.kind in kinds]
        if not wanted:
            return []
        order = event.order
        item = {
            "order_id": event.order_id,
            "event": event.kind.value,
            "step": order.state.value,
            "step_zh": order.state.label_zh,
            "kind": order.kind.value,
            "kind_zh": order.kind.label_zh,
            "priority": order.priority.value,
            "priority_zh": order.priority.label_zh,
            "cameras": [{"id": c, "name": self._names.get(c, "")} for c in order.camera_ids],
            "upstream": order.upstream,
            "faults": list(order.faults),
            "faults_zh": [FAULT_LABELS_ZH.get(f, f) for f in order.faults],
            "opened_at": iso(order.opened_at),
            "respond_by": iso(order.respond_by),
            "repair_by": iso(order.repair_by),
            "at": iso(event.at),
            "actor": event.actor,
            "note": event.note,
        }
        if (url := self._picture_url(order)) is not None:
            item["snapshot_url"] = url
        return [(name, render(kind, item)) for name, kind in wanted]

    def _alarm_message(self, alarm: Alarm) -> Message:
        body = {
            "schema": "gridbridge.alarm/1",
            "kind": alarm.kind,
            "raised": alarm.raised,
            "at": alarm.at.isoformat(),
            "failing": alarm.failing,
            "total": alarm.total,
            "share": round(alarm.share, 4),
        }
        payload = json.dumps(body, separators=(",", ":")).encode()
        return Message(self._topics.alarm(alarm.kind), payload, ALARM_QOS, True)

    @staticmethod
    def _log(event: OrderEvent) -> None:
        order = event.order
        log.info(
            "work order %s: %s%s — %s, %d camera(s)%s",
            event.order_id,
            event.kind.value,
            f" {event.step.value}" if event.step is not None else "",
            order.kind.value,
            len(order.camera_ids),
            f" ({event.note})" if event.note else "",
        )


def _ref(order: Order, which: Which) -> str | None:
    return order.before_evidence if which == "before" else order.after_evidence


def _find(store: EvidenceStore, order_id: str, which: Which, ref: str) -> Path | None:
    return store.get(order_id, which, ref) or store.live(ref)


def _pin_all(store: EvidenceStore, wanted: list[tuple[str, Which, str]]) -> list[bool | None]:
    """Pin each (order, which, reference): kept, not keepable (gone, not a snapshot), or
    ``None`` when the file system failed (logged)."""
    results: list[bool | None] = []
    for order_id, which, ref in wanted:
        try:
            results.append(store.pin(order_id, which, ref) is not None)
        except OSError as exc:
            log.warning("work order %s: could not keep its %s picture (tried again at its "
                        "next event): %s", order_id, which, exc)  # fmt: skip
            results.append(None)
    return results
