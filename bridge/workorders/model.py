"""Work-order values: steps, kinds, priorities, orders and their events (pure; DESIGN §6).

An :class:`Order` is a frozen snapshot; every change to it is an :class:`OrderEvent` that
carries the snapshot after the change.  Events are what the daemon stores (order upserted by
``id``, event inserted by ``(order_id, seq)``) and publishes; replaying them is idempotent
because ``seq`` is the order's ``version`` after the event.

Order ids are derived from the fault episode (subject + the time it started), so the same
history, replayed after a crash, yields the same ids.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

from bridge.model import CameraState
from health.verdict import PICTURE_FAULTS

SYSTEM_ACTOR = "system"  # actor of the steps the engine takes by itself (verification …)


class Step(enum.StrEnum):
    """Steps of an order, in the order maintenance contracts count them."""

    OPEN = "open"
    ACCEPTED = "accepted"
    ON_SITE = "on_site"
    REPAIRED = "repaired"
    VERIFIED = "verified"
    CLOSED = "closed"

    @property
    def label_zh(self) -> str:
        return _STEP_ZH[self]


_STEP_ZH = {
    Step.OPEN: "派单",
    Step.ACCEPTED: "接单",
    Step.ON_SITE: "到场",
    Step.REPAIRED: "修复",
    Step.VERIFIED: "验收",
    Step.CLOSED: "结案",
}


class Priority(enum.StrEnum):
    KEY = "key"  # 重点部位: shorter deadlines
    NORMAL = "normal"

    @property
    def label_zh(self) -> str:
        return "重点部位" if self is Priority.KEY else "一般"


class OrderKind(enum.StrEnum):
    """What the crew has to fix, from the fault class (what to bring, whom to send)."""

    NETWORK = "network"
    STREAM = "stream"
    LOGIN = "login"
    PICTURE = "picture"
    DEVICE = "device"
    UPSTREAM = "upstream"  # a parent order: one NVR/switch/site, several cameras
    OTHER = "other"  # a fault code this version does not know

    @property
    def label_zh(self) -> str:
        return _KIND_ZH[self]


_KIND_ZH = {
    OrderKind.NETWORK: "网络故障",
    OrderKind.STREAM: "视频流故障",
    OrderKind.LOGIN: "登录鉴权故障",
    OrderKind.PICTURE: "画面质量故障",
    OrderKind.DEVICE: "设备故障",
    OrderKind.UPSTREAM: "上游设备故障",
    OrderKind.OTHER: "其他故障",
}

_KIND_OF_FAULT = {
    "unreachable": OrderKind.NETWORK,
    "rtsp_error": OrderKind.STREAM,
    "no_signal": OrderKind.STREAM,
    "auth_failed": OrderKind.LOGIN,
    "onvif_error": OrderKind.DEVICE,
    "clock_drift": OrderKind.DEVICE,
    "replaced": OrderKind.DEVICE,
    # no_signal is a stream fault for the crew (above): the picture never came.
    **{code: OrderKind.PICTURE for code in PICTURE_FAULTS - {"no_signal"}},
}

# When a camera has faults of several classes, the order is of the one that blocks most:
# no network hides everything else, a broken stream hides the picture, and so on.
_KIND_RANK = (
    OrderKind.NETWORK,
    OrderKind.STREAM,
    OrderKind.LOGIN,
    OrderKind.PICTURE,
    OrderKind.DEVICE,
    OrderKind.OTHER,
)


def kind_of(faults: Iterable[str], *, flapping: bool = False) -> OrderKind:
    """The order kind for a camera's faults.  A flapping camera whose held state shows no
    fault is a network (or power) problem in practice: it comes and goes."""
    kinds = {_KIND_OF_FAULT.get(code, OrderKind.OTHER) for code in faults}
    if not kinds:
        return OrderKind.NETWORK if flapping else OrderKind.OTHER
    return next(kind for kind in _KIND_RANK if kind in kinds)


class EventKind(enum.StrEnum):
    OPENED = "opened"  # a new order (step open)
    STEP = "step"  # a step: by a crew, or verified/closed/back to on_site by the engine
    ESCALATED = "escalated"  # a deadline was missed (once per deadline)
    REOPENED = "reopened"  # the same fault came back within the window (返修; step open)
    CAMERAS_ADDED = "cameras_added"  # more cameras joined a parent order
    FAULTS_CHANGED = "faults_changed"  # a fault not seen before in this episode appeared


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step taken, with its time, who took it and why."""

    step: Step
    at: datetime
    actor: str
    note: str


@dataclass(frozen=True, slots=True)
class Order:
    """A work order as it stands after its ``version``-th event.

    ``camera_ids`` lists one camera, or for an ``upstream`` order the cameras behind
    ``upstream``.  ``faults`` are every fault code seen during the episode (they only grow,
    so a crew knows all that was wrong).  ``missed`` names the deadlines missed and already
    escalated (``respond``, ``repair``).  ``before_evidence``/``after_evidence`` are snapshot
    references given by the caller (a path or URL), never image bytes.  ``steps`` is the full
    history, reopenings included; ``episode_keys`` the fault episodes it covered.
    """

    id: str
    kind: OrderKind
    priority: Priority
    state: Step
    camera_ids: tuple[str, ...]
    upstream: str | None
    faults: tuple[str, ...]
    opened_at: datetime
    respond_by: datetime
    repair_by: datetime
    closed_at: datetime | None
    self_recovered: bool
    repeats: int
    missed: tuple[str, ...]
    before_evidence: str | None
    after_evidence: str | None
    episode_keys: tuple[str, ...]
    steps: tuple[StepRecord, ...]
    version: int

    @property
    def episode_key(self) -> str:
        """The episode this order (last) opened for: the idempotency key."""
        return self.episode_keys[-1]

    @property
    def is_open(self) -> bool:
        return self.state is not Step.CLOSED

    @property
    def overdue(self) -> bool:
        return bool(self.missed)

    @property
    def escalated(self) -> bool:
        """Escalation is raised in the same instant a deadline is found missed."""
        return bool(self.missed)

    @property
    def verified(self) -> bool:
        """Closed after automatic verification (not closed by hand) in its latest cycle."""
        for record in reversed(self.steps):
            if record.step is Step.VERIFIED:
                return True
            if record.step is Step.OPEN:
                return False
        return False

    @property
    def deadline(self) -> datetime | None:
        """The next deadline the order must meet (``workorders list``), None when met."""
        if self.state is Step.OPEN:
            return self.respond_by
        if self.state in (Step.ACCEPTED, Step.ON_SITE):
            return self.repair_by
        return None

    def last_step_at(self, step: Step) -> datetime | None:
        for record in reversed(self.steps):
            if record.step is step:
                return record.at
        return None


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A change to an order: store it (``(order_id, seq)`` is unique) and publish it."""

    order_id: str
    seq: int
    at: datetime
    kind: EventKind
    step: Step | None
    actor: str
    note: str
    order: Order


@dataclass(frozen=True, slots=True)
class Episode:
    """What the engine knows of one camera, for a restart (:meth:`OrderBook.restore`).

    ``started_at`` is when the current fault episode began (None while healthy): it keys
    the episode, so it must survive a restart for order ids to be stable.  It can be built
    from the store's camera state (``since`` of a faulty state) when not stored itself.
    ``last_good_picture`` is the before-evidence candidate.
    """

    camera_id: str
    state: CameraState
    faults: tuple[str, ...]
    flapping: bool
    key_location: bool
    upstream: str | None
    started_at: datetime | None
    last_good_picture: str | None = None


class CommonCauseView(Protocol):
    """What the common-cause detector (:mod:`bridge.workorders.common_cause`) tells the
    engine; the engine only applies it."""

    # fmt: off
    def mass_failure(self, at: datetime) -> bool: ...   # a large share of all cameras failing: open no camera orders  # noqa: E501
    def group_of(self, camera_id: str, at: datetime) -> tuple[str, frozenset[str]] | None: ...  # (upstream device name/key, the failing cameras sharing it) when this camera's failure is part of a common-cause group, else None  # noqa: E501
    # fmt: on


def upstream_subject(upstream: str) -> str:
    """The subject of a parent order's episodes (a camera's subject is its id)."""
    return f"upstream:{upstream}"


def episode_key(subject: str, started_at: datetime) -> str:
    """``subject@start`` with the start in UTC: the same episode always gives the same key."""
    return f"{subject}@{started_at.astimezone(UTC).isoformat()}"


def order_id(key: str, started_at: datetime, utc_offset_h: float, *, long: bool = False) -> str:
    """``WO-{local date of the start}-{hash of the episode key}``: deterministic, so a replay
    after a crash yields the same id; ``long`` only after a (rare) clash of short hashes."""
    local = started_at.astimezone(timezone(timedelta(hours=utc_offset_h)))
    digest = hashlib.sha256(key.encode()).hexdigest().upper()
    return f"WO-{local:%Y%m%d}-{digest[: 16 if long else 8]}"
