"""The orders and the indexes kept true to them (pure; the engine's memory).

Every change goes through :meth:`Ledger.emit`: it makes the event (the new snapshot) and
applies it, so the indexes — which camera an open order covers, the open parent order of
each upstream, each subject's latest order, each episode key's order — can never drift from
the orders.  :meth:`Ledger.load` rebuilds them from stored snapshots after a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from bridge.workorders.model import (
    SYSTEM_ACTOR,
    EventKind,
    Order,
    OrderEvent,
    Step,
    upstream_subject,
)
from bridge.workorders.steps import event


def subject_of(order: Order) -> str:
    """Whose episodes the order follows: the camera, or ``upstream:{name}`` for a parent."""
    return upstream_subject(order.upstream) if order.upstream else order.camera_ids[0]


class Ledger:
    """Orders by id, with the indexes the engine asks about."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self._orders: dict[str, Order] = {}
        self._cover: dict[str, str] = {}  # camera id → the open order covering it
        self._parents: dict[str, str] = {}  # upstream → its open parent order
        self._latest: dict[str, str] = {}  # subject → its latest order (to reopen)
        self._keys: dict[str, str] = {}  # episode key → order (idempotency)

    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def all(self) -> list[Order]:
        """Every order, oldest first."""
        return sorted(self._orders.values(), key=lambda o: (o.opened_at, o.id))

    def open_orders(self) -> list[Order]:
        """The open orders, oldest first.  Filtered before sorting: closed orders pile up
        here for months and the engine asks for the open ones at every tick."""
        opened = (o for o in self._orders.values() if o.is_open)
        return sorted(opened, key=lambda o: (o.opened_at, o.id))

    def covering(self, camera_id: str) -> str | None:
        """The id of the open order covering the camera (its own or a parent)."""
        return self._cover.get(camera_id)

    def parent(self, upstream: str) -> Order | None:
        oid = self._parents.get(upstream)
        return self._orders[oid] if oid is not None else None

    def latest(self, subject: str) -> Order | None:
        oid = self._latest.get(subject)
        return self._orders[oid] if oid is not None else None

    def has_episode(self, key: str) -> bool:
        return key in self._keys

    def load(self, orders: Iterable[Order]) -> None:
        """Start from stored snapshots (latest opening last, so ``latest`` is right)."""
        self._clear()
        for order in sorted(orders, key=lambda o: (o.last_step_at(Step.OPEN) or o.opened_at, o.id)):
            self._apply(order)

    def prune(self, before: datetime, keep: Callable[[Order], bool]) -> int:
        """Forget the orders closed before ``before`` unless ``keep`` says otherwise (they
        stay in the store); returns how many.  Bounds the memory of a daemon that runs for
        years: the engine needs a closed order only to reopen it (a window) and while its
        episode may still be replayed."""
        gone = {
            oid
            for oid, order in self._orders.items()
            if not order.is_open
            and order.closed_at is not None
            and order.closed_at < before
            and not keep(order)
        }
        if not gone:
            return 0
        for oid in gone:
            del self._orders[oid]
        self._keys = {key: oid for key, oid in self._keys.items() if oid not in gone}
        self._latest = {s: oid for s, oid in self._latest.items() if oid not in gone}
        return len(gone)

    def emit(
        self,
        order: Order,
        at: datetime,
        kind: EventKind,
        note: str,
        *,
        step: Step | None = None,
        actor: str = SYSTEM_ACTOR,
        **changes: Any,
    ) -> OrderEvent:
        """Make the event of one change to ``order`` and take its snapshot as current."""
        ev = event(order, at, kind, step=step, actor=actor, note=note, **changes)
        self._apply(ev.order)
        return ev

    def _apply(self, order: Order) -> None:
        old = self._orders.get(order.id)
        self._orders[order.id] = order
        for key in order.episode_keys:
            self._keys[key] = order.id
        self._latest[subject_of(order)] = order.id
        if old is not None:
            for camera_id in old.camera_ids:
                if self._cover.get(camera_id) == order.id:
                    del self._cover[camera_id]
            if old.upstream and self._parents.get(old.upstream) == order.id:
                del self._parents[old.upstream]
        if order.is_open:
            for camera_id in order.camera_ids:
                self._cover[camera_id] = order.id
            if order.upstream:
                self._parents[order.upstream] = order.id
