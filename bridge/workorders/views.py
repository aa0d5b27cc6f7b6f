"""Work orders as people and scripts read them (pure): one JSON item per order, shared by
the command line (`gridbridge workorders list --format json`) and the HTTP API, so both say
the same (DESIGN §11; docs/cli-output.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bridge.url_credentials import mask_url
from bridge.workorders.model import Order
from bridge.workorders.webhook_format import CHINA_TZ
from health.verdict import FAULT_LABELS_ZH


def is_overdue(order: Order, now: datetime) -> bool:
    """A deadline missed (escalated), or the current one passed — so an order reads overdue
    even while the daemon is stopped and has not escalated it yet."""
    return order.overdue or (order.deadline is not None and order.deadline < now)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def china(value: datetime | None) -> str:
    return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _evidence(ref: str | None) -> str | None:
    # A snapshot URL may carry credentials (user:pw@host, ?pwd=…); a file path comes back as is.
    return mask_url(ref) if ref else None


def faults_zh(faults: Sequence[str]) -> str:
    return "、".join(dict.fromkeys(FAULT_LABELS_ZH.get(code, code) for code in faults))


def order_item(order: Order, names: dict[str, str], now: datetime) -> dict[str, Any]:
    """One order as scripts read it (DESIGN §11; docs/cli-output.md): codes, ISO 8601 UTC."""
    return {
        "id": order.id,
        "state": order.state.value,
        "kind": order.kind.value,
        "priority": order.priority.value,
        "cameras": list(order.camera_ids),
        "camera_names": [names.get(c) for c in order.camera_ids],
        "upstream": order.upstream,
        "faults": list(order.faults),
        "opened_at": iso(order.opened_at),
        "deadline": iso(order.deadline),
        "overdue": is_overdue(order, now),
        "respond_by": iso(order.respond_by),
        "repair_by": iso(order.repair_by),
        "closed_at": iso(order.closed_at),
        "repeats": order.repeats,
        "self_recovered": order.self_recovered,
        "missed": list(order.missed),
        "before_evidence": _evidence(order.before_evidence),
        "after_evidence": _evidence(order.after_evidence),
        "steps": [
            {"step": r.step.value, "at": iso(r.at), "actor": r.actor, "note": r.note}
            for r in order.steps
        ],
    }
