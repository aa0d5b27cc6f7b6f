"""Opening orders: a new order, or the reopening of a recent one (pure builders).

The engine decides *whether* to open; these functions say *what* is opened, so that the
same episode always gives the same order (id from the episode key, deadlines from the time).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bridge.workorders.ledger import Ledger
from bridge.workorders.model import (
    EventKind,
    Order,
    OrderEvent,
    OrderKind,
    Priority,
    Step,
    episode_key,
    order_id,
)
from bridge.workorders.rules import WorkOrderRules
from bridge.workorders.steps import deadlines
from health.verdict import FAULT_LABELS_ZH, FAULT_ORDER

_FAULT_RANK = {code: i for i, code in enumerate(FAULT_ORDER)}


def ordered(faults: Iterable[str]) -> tuple[str, ...]:
    """Fault codes without repeats, the most telling first (codes unknown here last)."""
    return tuple(sorted(set(faults), key=lambda c: (_FAULT_RANK.get(c, len(_FAULT_RANK)), c)))


def faults_zh(faults: Iterable[str]) -> str:
    """Chinese labels of fault codes, for notes (a flapping camera may show none)."""
    return "、".join(dict.fromkeys(FAULT_LABELS_ZH.get(c, c) for c in faults)) or "状态抖动"


def reopenable(
    latest: Order | None, kind: OrderKind, start: datetime, rules: WorkOrderRules
) -> Order | None:
    """``latest`` if an episode of ``kind`` starting at ``start`` repeats it: same kind,
    verified and closed (not closed by hand) at most ``reopen_window_s`` before."""
    if latest is None or latest.is_open or latest.closed_at is None:
        return None
    if latest.kind is not kind or not latest.verified:
        return None
    gap_s = (start - latest.closed_at).total_seconds()
    return latest if 0 <= gap_s <= rules.reopen_window_s else None


def new_order(
    rules: WorkOrderRules,
    key: str,
    start: datetime,
    at: datetime,
    *,
    kind: OrderKind,
    priority: Priority,
    camera_ids: tuple[str, ...],
    upstream: str | None,
    faults: Iterable[str],
    before: str | None,
    taken: bool,
) -> Order:
    """The blank order (version 0) of episode ``key``; its ``opened`` event comes next.
    ``taken``: the short id is in use by another episode (a hash clash), use the long one."""
    oid = order_id(key, start, rules.id_utc_offset_h, long=taken)
    respond_by, repair_by = deadlines(rules, priority, at)
    return Order(
        id=oid,
        kind=kind,
        priority=priority,
        state=Step.OPEN,
        camera_ids=camera_ids,
        upstream=upstream,
        faults=ordered(faults),
        opened_at=at,
        respond_by=respond_by,
        repair_by=repair_by,
        closed_at=None,
        self_recovered=False,
        repeats=0,
        missed=(),
        before_evidence=before,
        after_evidence=None,
        episode_keys=(key,),
        steps=(),
        version=0,
    )


def reopening(
    rules: WorkOrderRules,
    order: Order,
    key: str,
    at: datetime,
    *,
    priority: Priority,
    faults: Iterable[str],
    before: str | None,
    camera_ids: tuple[str, ...] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The note and the changes that reopen ``order`` for episode ``key`` (返修): a new
    cycle with new deadlines, one more repeat, the old evidence kept in the old events."""
    closed_at = order.closed_at or at
    hours = (at - closed_at).total_seconds() / 3600
    respond_by, repair_by = deadlines(rules, priority, at)
    repeat = order.repeats + 1
    note = (
        f"结案后 {hours:.1f} 小时同类故障复发，重新派单（返修第 {repeat} 次） / the same fault "
        f"came back {hours:.1f} h after closing: reopened (repeat {repeat})"
    )
    changes: dict[str, Any] = {
        "priority": priority,
        "respond_by": respond_by,
        "repair_by": repair_by,
        "closed_at": None,
        "self_recovered": False,
        "repeats": repeat,
        "missed": (),
        "faults": ordered(faults),
        "before_evidence": before or order.before_evidence,
        "after_evidence": None,
        "episode_keys": (*order.episode_keys, key),
        "camera_ids": camera_ids or order.camera_ids,
    }
    return note, changes


def open_or_reopen(
    ledger: Ledger,
    rules: WorkOrderRules,
    subject: str,
    start: datetime,
    at: datetime,
    note: str,
    *,
    kind: OrderKind,
    priority: Priority,
    camera_ids: tuple[str, ...],
    upstream: str | None,
    faults: tuple[str, ...],
    before: str | None,
) -> list[OrderEvent]:
    """Open the order of ``subject``'s episode that started at ``start`` — or reopen the
    subject's recent order (返修) — unless that episode already has one (a replay)."""
    key = episode_key(subject, start)
    if ledger.has_episode(key):
        return []
    latest = reopenable(ledger.latest(subject), kind, start, rules)
    if latest is not None:
        again, changes = reopening(
            rules,
            latest,
            key,
            at,
            priority=priority,
            faults=faults,
            before=before,
            camera_ids=camera_ids,
        )
        return [ledger.emit(latest, at, EventKind.REOPENED, again, step=Step.OPEN, **changes)]
    fields: dict[str, Any] = {
        "kind": kind,
        "priority": priority,
        "camera_ids": camera_ids,
        "upstream": upstream,
        "faults": faults,
        "before": before,
    }
    order = new_order(rules, key, start, at, taken=False, **fields)
    if ledger.get(order.id) is not None:  # a clash of short hashes (the key is new)
        order = new_order(rules, key, start, at, taken=True, **fields)
    return [ledger.emit(order, at, EventKind.OPENED, note, step=Step.OPEN)]


def add_cameras(
    ledger: Ledger,
    rules: WorkOrderRules,
    parent: Order,
    joining: list[str],
    faults: tuple[str, ...],
    priority: Priority,
    at: datetime,
) -> OrderEvent:
    """More cameras behind the parent's upstream failed: they join it."""
    added = [c for c in joining if c not in parent.camera_ids]
    changes: dict[str, Any] = {}
    if priority is Priority.KEY and parent.priority is Priority.NORMAL:
        # A key location joined: the whole order gets the key deadlines, from its opening.
        respond_by, repair_by = deadlines(rules, priority, parent.opened_at)
        changes = {"priority": priority, "respond_by": respond_by, "repair_by": repair_by}
    note = (
        f"{parent.upstream} 下又有摄像机故障：{'、'.join(added)} / more cameras failed: "
        f"{', '.join(added)}"
    )
    return ledger.emit(
        parent,
        at,
        EventKind.CAMERAS_ADDED,
        note,
        camera_ids=(*parent.camera_ids, *added),
        faults=ordered((*parent.faults, *faults)),
        **changes,
    )
