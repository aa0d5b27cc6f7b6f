"""What every handler of the web page and API may use, in one typed place (`WebContext`,
stored under `CONTEXT` in the aiohttp application).

The daemon builds it once (`bridge.app`); tests build it from real parts.  Parts the daemon
may run without are ``None``: no work orders (``desk``), no picture checks (``snapshots``),
no metrics.  Handlers read it with `context_of`; none of them keeps its own reference to a
daemon part.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from bridge.metrics import Metrics
from bridge.settings import Settings
from bridge.snapshots import SnapshotStore
from bridge.store import Store
from bridge.web.directory import CameraDirectory
from bridge.workorder_desk import WorkOrderDesk

__all__ = ["CONTEXT", "Readiness", "WebContext", "context_of"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _not_queued(_: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Readiness:
    """What ``/readyz`` asks besides the store: is the bus connected, and how long ago did
    the monitor complete a check (seconds; since it started when none completed yet;
    ``None``: the monitor is not running), and how many cameras it checks."""

    bus_connected: Callable[[], bool]
    check_age_s: Callable[[], float | None]
    monitored: Callable[[], int]


NOT_RUNNING = Readiness(lambda: False, lambda: None, lambda: 0)


@dataclass(frozen=True, slots=True)
class WebContext:
    """The daemon's parts as the web handlers see them.

    ``recheck(camera_id)`` asks for a cheap check now and a fresh picture (when picture
    checks run); it answers whether the camera is checked at all.  ``now`` and
    ``monotonic`` are the clocks (tests pin them).
    """

    settings: Settings
    store: Store
    directory: CameraDirectory
    desk: WorkOrderDesk | None = None
    snapshots: SnapshotStore | None = None
    recheck: Callable[[str], bool] = _not_queued
    metrics: Metrics | None = None
    readiness: Readiness = field(default=NOT_RUNNING)
    now: Callable[[], datetime] = _utcnow
    monotonic: Callable[[], float] = time.monotonic


CONTEXT = web.AppKey("gridbridge.context", WebContext)


def context_of(request: web.Request) -> WebContext:
    return request.app[CONTEXT]
