"""Orders, events and episodes as plain JSON values, and back (pure).

The store keeps an order whole in JSON (its columns only index it); the bus and webhooks
carry events in the same shape.  Reading refuses anything malformed with ValueError, naming
the field: a damaged row must not become a wrong order.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from bridge.model import CameraState
from bridge.workorders.model import (
    Episode,
    Order,
    OrderEvent,
    OrderKind,
    Priority,
    Step,
    StepRecord,
)

E = TypeVar("E", bound=enum.Enum)
FORMAT = 1  # bumped when the JSON shape changes incompatibly


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _read_time(data: Mapping[str, Any], key: str, *, optional: bool = False) -> datetime | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected an ISO 8601 time")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{key}: {value!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise ValueError(f"{key}: time without a UTC offset")
    return at


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: expected a list of strings")
    return tuple(value)


def _text(data: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string")
    return value


def _enum(kind: type[E], data: Mapping[str, Any], key: str) -> E:
    value = data.get(key)
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(str(m.value) for m in kind)
        raise ValueError(f"{key}: {value!r} is not one of {known}") from None


def order_to_json(order: Order) -> dict[str, Any]:
    """The whole order as JSON values (the store's ``data`` column)."""
    return {
        "format": FORMAT,
        "id": order.id,
        "kind": order.kind.value,
        "priority": order.priority.value,
        "state": order.state.value,
        "camera_ids": list(order.camera_ids),
        "upstream": order.upstream,
        "faults": list(order.faults),
        "opened_at": _time(order.opened_at),
        "respond_by": _time(order.respond_by),
        "repair_by": _time(order.repair_by),
        "closed_at": _time(order.closed_at),
        "self_recovered": order.self_recovered,
        "repeats": order.repeats,
        "missed": list(order.missed),
        "before_evidence": order.before_evidence,
        "after_evidence": order.after_evidence,
        "episode_keys": list(order.episode_keys),
        "steps": [
            {"step": r.step.value, "at": _time(r.at), "actor": r.actor, "note": r.note}
            for r in order.steps
        ],
        "version": order.version,
    }


def order_from_json(data: Any) -> Order:
    """The order `order_to_json` made; ValueError naming the field when malformed."""
    if not isinstance(data, Mapping):
        raise ValueError("an order must be a JSON object")
    if data.get("format") != FORMAT:
        raise ValueError(f"format: {data.get('format')!r}, this version reads {FORMAT}")
    try:
        steps = data.get("steps")
        if not isinstance(steps, list) or not all(isinstance(s, Mapping) for s in steps):
            raise ValueError("steps: expected a list of objects")
        version, repeats = data.get("version"), data.get("repeats")
        if not isinstance(version, int) or not isinstance(repeats, int):
            raise ValueError("version/repeats: expected integers")
        order = Order(
            id=str(_text(data, "id")),
            kind=_enum(OrderKind, data, "kind"),
            priority=_enum(Priority, data, "priority"),
            state=_enum(Step, data, "state"),
            camera_ids=_strings(data, "camera_ids"),
            upstream=_text(data, "upstream", optional=True),
            faults=_strings(data, "faults"),
            opened_at=_need(_read_time(data, "opened_at")),
            respond_by=_need(_read_time(data, "respond_by")),
            repair_by=_need(_read_time(data, "repair_by")),
            closed_at=_read_time(data, "closed_at", optional=True),
            self_recovered=bool(data.get("self_recovered")),
            repeats=repeats,
            missed=_strings(data, "missed"),
            before_evidence=_text(data, "before_evidence", optional=True),
            after_evidence=_text(data, "after_evidence", optional=True),
            episode_keys=_strings(data, "episode_keys"),
            steps=tuple(
                StepRecord(
                    _enum(Step, s, "step"),
                    _need(_read_time(s, "at")),
                    str(_text(s, "actor")),
                    str(_text(s, "note")),
                )
                for s in steps
            ),
            version=version,
        )
    except (TypeError, KeyError) as exc:
        raise ValueError(f"malformed order: {exc}") from None
    if not order.episode_keys:
        raise ValueError("episode_keys: an order has at least one episode")
    return order


def _need(at: datetime | None) -> datetime:
    assert at is not None  # _read_time without optional never returns None
    return at


def event_to_json(event: OrderEvent) -> dict[str, Any]:
    """An event as it is stored and published: what happened, and the order after it."""
    return {
        "order_id": event.order_id,
        "seq": event.seq,
        "at": _time(event.at),
        "event": event.kind.value,
        "step": event.step.value if event.step is not None else None,
        "actor": event.actor,
        "note": event.note,
        "order": order_to_json(event.order),
    }


def episode_to_json(episode: Episode) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "camera_id": episode.camera_id,
        "state": episode.state.value,
        "faults": list(episode.faults),
        "flapping": episode.flapping,
        "key_location": episode.key_location,
        "upstream": episode.upstream,
        "started_at": _time(episode.started_at),
        "last_good_picture": episode.last_good_picture,
    }


def episode_from_json(data: Any) -> Episode:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ValueError("an episode must be a JSON object of this version's format")
    try:
        return Episode(
            camera_id=str(_text(data, "camera_id")),
            state=_enum(CameraState, data, "state"),
            faults=_strings(data, "faults"),
            flapping=bool(data.get("flapping")),
            key_location=bool(data.get("key_location")),
            upstream=_text(data, "upstream", optional=True),
            started_at=_read_time(data, "started_at", optional=True),
            last_good_picture=_text(data, "last_good_picture", optional=True),
        )
    except (TypeError, KeyError) as exc:
        raise ValueError(f"malformed episode: {exc}") from None
