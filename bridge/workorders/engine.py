"""The order book: from camera transitions to work orders, and their steps (pure; DESIGN §6).

No I/O, no asyncio: the clock is the ``at`` of every call, and every call returns the
:class:`OrderEvent` s it produced, for the daemon to store and publish.  The inputs:

- :meth:`OrderBook.observe` — each *published transition* of the tracker (not each check):
  the tracker already applied hysteresis and flapping, so a fault episode is exactly the span
  between a transition to a bad state and one back to ``online``;
- :meth:`OrderBook.healthy_check` — each healthy cheap check, for verification only.  Call
  it after ``observe`` for the same check, so the check that completed a recovery counts;
- :meth:`OrderBook.picture` — each picture look of the frame tier, healthy or not, with a
  reference to the stored snapshot (before/after evidence);
- :meth:`OrderBook.tick` — time passing: debounce expiries (openings), deadlines, and the
  verification timeout after 修复;
- :meth:`OrderBook.act` / :meth:`OrderBook.close` — people.

Promises: one open order per camera at most (own or parent); one order per episode, keyed by
``subject@start`` (:func:`~bridge.workorders.model.episode_key`); ids derived from that key,
so replaying the same inputs after :meth:`OrderBook.restore` yields the same ids and no
duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bridge.model import CameraState
from bridge.workorders.ledger import Ledger
from bridge.workorders.model import (
    CommonCauseView,
    Episode,
    EventKind,
    Order,
    OrderEvent,
    OrderKind,
    Priority,
    Step,
    kind_of,
    upstream_subject,
)
from bridge.workorders.opening import add_cameras, faults_zh, open_or_reopen, ordered
from bridge.workorders.rules import WorkOrderRules
from bridge.workorders.steps import StepError, check_crew_step, missed_deadlines
from bridge.workorders.verify import (
    CameraTrack,
    awaiting_picture,
    close_if_passed,
    send_back,
    send_back_if_broken,
)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("the work-order engine needs aware datetimes")
    return at


class OrderBook:
    """All work orders, and what the engine knows of each camera to open and close them."""

    def __init__(self, rules: WorkOrderRules, common_cause: CommonCauseView | None = None) -> None:
        self._rules = rules
        self._cc = common_cause
        self._ledger = Ledger()
        self._cams: dict[str, CameraTrack] = {}
        self._pending: set[str] = set()  # faulty cameras without an order (debouncing)
        self._mass_at: datetime | None = None  # last tick that saw a mass failure

    # ----------------------------------------------------------------- reading

    def order(self, order_id: str) -> Order | None:
        return self._ledger.get(order_id)

    def orders(self) -> list[Order]:
        """Every order, oldest first."""
        return self._ledger.all()

    def open_orders(self) -> list[Order]:
        return self._ledger.open_orders()

    def order_of(self, camera_id: str) -> Order | None:
        """The open order covering the camera (its own or a parent), if any."""
        oid = self._ledger.covering(camera_id)
        return self._ledger.get(oid) if oid is not None else None

    def episodes(self, camera_ids: Iterable[str] | None = None) -> list[Episode]:
        """What to persist (or derive from the camera states) for :meth:`restore`: of every
        camera the book knows, or of ``camera_ids`` only (those an event touched)."""
        if camera_ids is None:
            return [cam.snapshot(cid) for cid, cam in sorted(self._cams.items())]
        return [
            cam.snapshot(cid)
            for cid in sorted(set(camera_ids))
            if (cam := self._cams.get(cid)) is not None
        ]

    def awaiting_picture(self) -> list[str]:
        """Cameras whose fresh picture would let an order pass verification: ask the frame
        tier to look now rather than at its next turn."""
        wanted = (awaiting_picture(o, self._cams, self._rules) for o in self.open_orders())
        return [cid for cid in wanted if cid is not None]

    def awaiting_recovery(self) -> list[str]:
        """Cameras of orders a crew says are repaired (修复) that still look broken: check
        them at the normal cadence rather than at an offline camera's backoff (up to
        ``probe.max_backoff_s``), or the repair would wait minutes to be seen."""
        return [
            camera_id
            for order in self.open_orders()
            if order.state is Step.REPAIRED
            for camera_id in order.camera_ids
            if (cam := self._cams.get(camera_id)) is not None and cam.bad(self._rules)
        ]

    # ----------------------------------------------------------------- restart

    def restore(self, orders: Iterable[Order], episodes: Iterable[Episode], at: datetime) -> None:
        """Start again from the stored orders and camera episodes (after a restart or crash).

        Verification progress is not stored: it starts again at ``at`` for cameras that are
        healthy, which delays a close by M checks but never loses or duplicates an order.
        A faulty camera whose episode start is unknown starts its episode at ``at``.
        """
        _aware(at)
        self._ledger.load(orders)
        self._cams, self._pending, self._mass_at = {}, set(), None
        for ep in episodes:
            cam = CameraTrack.from_episode(ep)
            self._cams[ep.camera_id] = cam
            covered = self._ledger.covering(ep.camera_id) is not None
            if cam.bad(self._rules):
                cam.episode_start = cam.episode_start or at
                if not covered:
                    self._pending.add(ep.camera_id)
            elif cam.healthy():
                cam.episode_start = None
                if covered:
                    cam.start_verifying(at)

    def prune(self, before: datetime) -> int:
        """Forget the orders closed before ``before`` (give at least the reopen window; they
        stay in the store) — except those with a camera still faulty, whose episode a
        restart may replay; returns how many."""
        _aware(before)

        def still_faulty(order: Order) -> bool:
            return any(
                (cam := self._cams.get(c)) is not None and cam.bad(self._rules)
                for c in order.camera_ids
            )

        return self._ledger.prune(before, still_faulty)

    def forget(self, camera_id: str) -> None:
        """The camera left the inventory.  Its open order stays (orders outlive cameras) for a
        person to close: it can no longer be verified."""
        self._cams.pop(camera_id, None)
        self._pending.discard(camera_id)

    # ----------------------------------------------------------------- cameras

    def observe(
        self,
        camera_id: str,
        state: CameraState,
        faults: tuple[str, ...],
        at: datetime,
        *,
        flapping: bool = False,
        key_location: bool = False,
        upstream: str | None = None,
    ) -> list[OrderEvent]:
        """Take one published transition of the camera (state, faults, flapping flag) with
        its inventory facts.  Starts or ends a fault episode; a recovery starts verification."""
        _aware(at)
        cam = self._cams.setdefault(camera_id, CameraTrack())
        was_healthy = cam.healthy()
        cam.state, cam.faults, cam.flapping = state, tuple(faults), flapping
        cam.key_location, cam.upstream = key_location, upstream
        oid = self._ledger.covering(camera_id)
        events: list[OrderEvent] = []
        if cam.bad(self._rules):
            if cam.episode_start is None:
                cam.episode_start = at
            cam.stop_verifying()
            if oid is None:
                self._pending.add(camera_id)
                return events
            events += self._grow_faults(oid, cam, at)
            if was_healthy and self._get(oid).state is Step.REPAIRED:
                events.append(
                    self._step_back(
                        oid,
                        at,
                        f"修复后摄像机 {camera_id} 再次故障（{faults_zh(faults)}）"
                        f" / camera {camera_id} failed again after the repair",
                    )
                )
        elif cam.healthy():
            cam.episode_start = None
            self._pending.discard(camera_id)
            if not was_healthy:
                cam.start_verifying(at)
            if oid is not None:
                events += self._try_verify(oid, at)
        return events

    def healthy_check(self, camera_id: str, at: datetime) -> list[OrderEvent]:
        """One healthy cheap check of the camera: counts towards verifying its order."""
        cam, oid = self._cams.get(camera_id), self._ledger.covering(camera_id)
        if cam is None or oid is None or not cam.counts(_aware(at)):
            return []
        cam.healthy_checks += 1
        return self._try_verify(oid, at)

    def picture(
        self, camera_id: str, at: datetime, *, healthy: bool, evidence: str
    ) -> list[OrderEvent]:
        """One look of the frame tier.  A healthy picture outside a fault episode becomes the
        before-evidence of its next fault; during verification it is the after-evidence.
        A bad picture during verification restarts it."""
        _aware(at)
        cam = self._cams.setdefault(camera_id, CameraTrack())
        if healthy and not cam.bad(self._rules) and cam.episode_start is None:
            cam.last_good_picture = evidence
        oid = self._ledger.covering(camera_id)
        if oid is None or not cam.counts(at):
            return []
        if not healthy:
            cam.start_verifying(at)
            return []
        cam.fresh_picture = evidence
        return self._try_verify(oid, at)

    # ----------------------------------------------------------------- time

    def tick(self, at: datetime) -> list[OrderEvent]:
        """Time passed: open orders whose debounce expired, escalate missed deadlines, send
        back orders that did not pass verification in time after 修复."""
        _aware(at)
        events: list[OrderEvent] = []
        if self._pending and self._cc is not None and self._cc.mass_failure(at):
            # Our own network, most likely (DESIGN §12): no orders; and once it clears, the
            # debounce counts again from then, so cameras are re-probed before any order.
            self._mass_at = at
        due = self._due(at) if self._mass_at != at else []
        for camera_id in due:
            if camera_id in self._pending:  # not absorbed by a parent order meanwhile
                events += self._open_for(camera_id, at)
        for order in self.open_orders():
            for name, note in missed_deadlines(order, at):
                escalated = self._ledger.emit(
                    order, at, EventKind.ESCALATED, note, missed=(*order.missed, name)
                )
                events.append(escalated)
                order = escalated.order
            events += self._verify_timeout(order, at)
        return events

    def _due(self, at: datetime) -> list[str]:
        due: list[tuple[datetime, str]] = []
        for camera_id in self._pending:
            start = self._cams[camera_id].episode_start
            if start is None:
                continue
            counted_from = max(start, self._mass_at) if self._mass_at else start
            if (at - counted_from).total_seconds() >= self._rules.debounce_s:
                due.append((start, camera_id))
        return [camera_id for _, camera_id in sorted(due)]

    def _verify_timeout(self, order: Order, at: datetime) -> list[OrderEvent]:
        return send_back_if_broken(self._ledger, order, self._cams, self._rules, at)

    def _step_back(self, order_id: str, at: datetime, note: str) -> OrderEvent:
        return send_back(self._ledger, self._get(order_id), self._cams, at, note)

    def _try_verify(self, order_id: str, at: datetime) -> list[OrderEvent]:
        return close_if_passed(self._ledger, self._get(order_id), self._cams, self._rules, at)

    # ----------------------------------------------------------------- people

    def act(
        self, order_id: str, step: Step, *, actor: str, note: str = "", at: datetime
    ) -> list[OrderEvent]:
        """A crew's step (接单, 到场, 修复).  Raises :class:`StepError` when the order does not
        allow it; repeating the step the order is already in does nothing (a retried request)."""
        order = self._get(order_id)
        if not check_crew_step(order, step, _aware(at)):
            return []
        events = [self._ledger.emit(order, at, EventKind.STEP, note, step=step, actor=actor)]
        if step is Step.REPAIRED:
            # Verification starts afresh: checks from before the crew's work prove nothing.
            for camera_id in order.camera_ids:
                if (cam := self._cams.get(camera_id)) is not None:
                    if cam.healthy():
                        cam.start_verifying(at)
                    else:
                        cam.stop_verifying()
            events += self._try_verify(order_id, at)
        return events

    def close(self, order_id: str, *, actor: str, note: str, at: datetime) -> list[OrderEvent]:
        """Close an order by hand (false alarm, camera removed, work done elsewhere).  Never
        reopened later; its cameras that are still faulty start a new episode now, so they
        get a new order after the debounce if the fault really remains."""
        order = self._get(order_id)
        if not order.is_open:
            raise StepError(f"工单 {order_id} 已结案 / order {order_id} is closed already")
        if not note.strip():
            raise StepError("手工结案须填写原因 / closing by hand needs a note saying why")
        ev = self._ledger.emit(
            order,
            _aware(at),
            EventKind.STEP,
            note,
            step=Step.CLOSED,
            actor=actor,
            closed_at=at,
            self_recovered=False,
        )
        for camera_id in order.camera_ids:
            if (cam := self._cams.get(camera_id)) is not None:
                cam.stop_verifying()
                if cam.bad(self._rules):
                    cam.episode_start = at
                    self._pending.add(camera_id)
        return [ev]

    # ----------------------------------------------------------------- opening

    def _open_for(self, camera_id: str, at: datetime) -> list[OrderEvent]:
        group = self._cc.group_of(camera_id, at) if self._cc is not None else None
        if group is not None:
            return self._open_parent(camera_id, group[0], group[1], at)
        self._pending.discard(camera_id)
        cam = self._cams[camera_id]
        start = cam.episode_start or at
        lasted = (at - start).total_seconds()
        note = (
            f"摄像机 {camera_id} {faults_zh(cam.faults)}{'（频繁抖动）' if cam.flapping else ''}，"
            f"已持续 {lasted:.0f} 秒 / camera {camera_id}: {', '.join(cam.faults) or 'flapping'}"
            f" for {lasted:.0f} s"
        )
        return open_or_reopen(
            self._ledger,
            self._rules,
            camera_id,
            start,
            at,
            note,
            kind=kind_of(cam.faults, flapping=cam.flapping),
            priority=Priority.KEY if cam.key_location else Priority.NORMAL,
            camera_ids=(camera_id,),
            upstream=None,
            faults=cam.faults,
            before=cam.last_good_picture,
        )

    def _open_parent(
        self, camera_id: str, upstream: str, members: frozenset[str], at: datetime
    ) -> list[OrderEvent]:
        """One parent order for the cameras behind ``upstream``.  Only cameras the engine
        sees as faulty and not covered by another order join it: a camera with an order of
        its own keeps it (an order is never taken from a crew under way)."""
        joining = sorted({camera_id} | {m for m in members if self._uncovered_fault(m)})
        self._pending.difference_update(joining)
        tracks = [self._cams[c] for c in joining]
        faults = ordered(f for t in tracks for f in t.faults)
        priority = Priority.KEY if any(t.key_location for t in tracks) else Priority.NORMAL
        parent = self._ledger.parent(upstream)
        if parent is not None:
            return [add_cameras(self._ledger, self._rules, parent, joining, faults, priority, at)]
        note = (
            f"{upstream} 下 {len(joining)} 台摄像机同时故障（{faults_zh(faults)}），合并为一张工单"
            f" / {len(joining)} cameras behind {upstream} failed together"
        )
        return open_or_reopen(
            self._ledger,
            self._rules,
            upstream_subject(upstream),
            min(t.episode_start or at for t in tracks),
            at,
            note,
            kind=OrderKind.UPSTREAM,
            priority=priority,
            camera_ids=tuple(joining),
            upstream=upstream,
            faults=faults,
            before=next((t.last_good_picture for t in tracks if t.last_good_picture), None),
        )

    def _uncovered_fault(self, camera_id: str) -> bool:
        track = self._cams.get(camera_id)
        return (
            track is not None
            and track.bad(self._rules)
            and self._ledger.covering(camera_id) is None
        )

    # ----------------------------------------------------------------- changes

    def _grow_faults(self, order_id: str, cam: CameraTrack, at: datetime) -> list[OrderEvent]:
        order = self._get(order_id)
        faults = ordered((*order.faults, *cam.faults))
        if faults == order.faults:
            return []
        new = [f for f in faults if f not in order.faults]
        note = f"新增故障：{faults_zh(new)} / new faults: {', '.join(new)}"
        return [self._ledger.emit(order, at, EventKind.FAULTS_CHANGED, note, faults=faults)]

    def _get(self, order_id: str) -> Order:
        order = self._ledger.get(order_id)
        if order is None:
            raise StepError(f"没有工单 {order_id} / no order {order_id}")
        return order
