"""Steps of an order: which are legal, and the new snapshot and event each produces (pure).

Crews take 接单 → 到场 → 修复 in that order; 验收 and 结案 are the engine's (verification is
automatic); closing by hand is :meth:`OrderBook.close`.  Skipping a step is refused rather
than filled in: a filled-in 接单 time would falsify the SLA figures the contract pays on.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bridge.workorders.model import (
    EventKind,
    Order,
    OrderEvent,
    Priority,
    Step,
    StepRecord,
)
from bridge.workorders.rules import WorkOrderRules

# The step a crew may take next, from each state.
CREW_NEXT = {
    Step.OPEN: Step.ACCEPTED,
    Step.ACCEPTED: Step.ON_SITE,
    Step.ON_SITE: Step.REPAIRED,
}


class StepError(ValueError):
    """A step that the order's state does not allow; the message is for people (中文 / English)."""


def check_crew_step(order: Order, step: Step, at: datetime) -> bool:
    """Whether ``step`` is a change for ``order`` (False: it is in that state already, a
    retried request after a crash, to be ignored).  Raises :class:`StepError` when illegal."""
    if order.state is Step.CLOSED:
        raise StepError(
            f"工单 {order.id} 已结案，不能再「{step.label_zh}」 / order {order.id} is closed"
        )
    if step is order.state and step in CREW_NEXT.values():
        return False
    if step in (Step.VERIFIED, Step.OPEN):
        raise StepError(
            f"「{step.label_zh}」由系统自动完成，不能手工操作 / the {step.value} step is taken by "
            "the system, not by hand"
        )
    if step is Step.CLOSED:
        raise StepError("结案请用关闭操作 / use close() to close an order by hand")
    expected = CREW_NEXT.get(order.state)
    if expected is None:
        raise StepError(
            f"工单 {order.id} 正在验收，不能「{step.label_zh}」 / order {order.id} is being "
            f"verified: no crew step now"
        )
    if step is not expected:
        raise StepError(
            f"工单 {order.id} 当前为「{order.state.label_zh}」，下一步应为「{expected.label_zh}」，"
            f"不能「{step.label_zh}」 / order {order.id} is {order.state.value}: the next step is "
            f"{expected.value}, not {step.value}"
        )
    last = order.steps[-1].at
    if at < last:
        raise StepError(
            f"时间早于上一步（{last.isoformat()}） / {at.isoformat()} is before the order's last "
            f"step at {last.isoformat()}"
        )
    return True


def deadlines(
    rules: WorkOrderRules, priority: Priority, start: datetime
) -> tuple[datetime, datetime]:
    """(respond_by, repair_by) for an order opened (or reopened) at ``start``."""
    respond_s, repair_s = rules.deadlines_s(priority)
    return start + timedelta(seconds=respond_s), start + timedelta(seconds=repair_s)


def event(
    order: Order,
    at: datetime,
    kind: EventKind,
    *,
    step: Step | None = None,
    actor: str,
    note: str,
    **changes: Any,
) -> OrderEvent:
    """The event of one change: the snapshot gets ``changes`` (and the step, recorded in the
    history), its version goes up by one and becomes the event's ``seq``."""
    if step is not None:
        changes["state"] = step
        changes["steps"] = (*order.steps, StepRecord(step, at, actor, note))
    after = replace(order, version=order.version + 1, **changes)
    return OrderEvent(after.id, after.version, at, kind, step, actor, note, after)


def missed_deadlines(order: Order, at: datetime) -> list[tuple[str, str]]:
    """Deadlines found missed at ``at`` and not escalated yet: (name, note) each."""
    found: list[tuple[str, str]] = []
    if order.state is Step.OPEN and at > order.respond_by and "respond" not in order.missed:
        found.append(
            (
                "respond",
                f"超过响应时限（{order.respond_by.isoformat()}）未接单 / not accepted by "
                f"{order.respond_by.isoformat()}",
            )
        )
    if order.state in CREW_NEXT and at > order.repair_by and "repair" not in order.missed:
        found.append(
            (
                "repair",
                f"超过修复时限（{order.repair_by.isoformat()}）未修复 / not repaired by "
                f"{order.repair_by.isoformat()}",
            )
        )
    return found
