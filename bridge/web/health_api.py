"""``GET /healthz`` and ``GET /readyz``: open to everyone (no login), for service managers,
load balancers and monitoring.

- ``/healthz`` — the process answers HTTP: 200 ``{"status": "ok"}``.
- ``/readyz`` — the daemon does its job: 200 when every condition holds, else 503; the body
  names each condition with ``ok`` and a reason (never a URL, a password or a host name):

  ``store``   the database answers ``SELECT 1`` within `STORE_TIMEOUT_S`;
  ``bus``     the MQTT publisher is connected to the broker;
  ``checks``  the monitor completed a check within 2 × ``probe.interval_s`` +
              ``probe.timeout_s`` (counted from its start until the first one completes),
              or there are no cameras to check.

A change of readiness is logged once (not at every poll of a monitoring system).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bridge.store import StoreError
from bridge.web.app_context import context_of

__all__ = ["PUBLIC_PATHS", "STORE_TIMEOUT_S", "feature"]

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})
"""Paths every login middleware lets through."""

STORE_TIMEOUT_S = 2.0

routes = web.RouteTableDef()


@dataclass(slots=True)
class _Seen:
    ready: bool | None = None  # what the last /readyz answered (None: never asked)


_SEEN = web.AppKey("gridbridge.readyz", _Seen)


def feature(app: web.Application) -> None:
    app[_SEEN] = _Seen()
    app.add_routes(routes)


@routes.get("/healthz")
async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    conditions = {
        "store": await _store(request),
        "bus": _bus(request),
        "checks": _checks(request),
    }
    ready = all(c["ok"] for c in conditions.values())
    seen = request.app[_SEEN]
    if seen.ready is not ready:
        failing = ", ".join(f"{k}: {c['reason']}" for k, c in conditions.items() if not c["ok"])
        if not ready:
            log.warning("not ready: %s", failing)
        elif seen.ready is not None:
            log.info("ready again")
        seen.ready = ready
    return web.json_response(
        {"status": "ready" if ready else "not ready", "conditions": conditions},
        status=200 if ready else 503,
    )


async def _store(request: web.Request) -> dict[str, Any]:
    store = context_of(request).store
    started = time.perf_counter()
    try:
        async with asyncio.timeout(STORE_TIMEOUT_S):
            await store.ping()
    except TimeoutError:
        return {"ok": False, "reason": f"the database did not answer within {STORE_TIMEOUT_S:g} s"}
    except StoreError:
        # The message may name the database's host: the reason here stays generic (open URL).
        return {"ok": False, "reason": "the database refuses or cannot be reached"}
    took_ms = (time.perf_counter() - started) * 1000
    return {"ok": True, "reason": f"answered in {took_ms:.0f} ms"}


def _bus(request: web.Request) -> dict[str, Any]:
    if context_of(request).readiness.bus_connected():
        return {"ok": True, "reason": "connected to the MQTT broker"}
    return {"ok": False, "reason": "not connected to the MQTT broker"}


def _checks(request: web.Request) -> dict[str, Any]:
    ctx = context_of(request)
    probe = ctx.settings.probe
    limit_s = 2 * probe.interval_s + probe.timeout_s
    if ctx.readiness.monitored() == 0:
        return {"ok": True, "reason": "no cameras to check"}
    age_s = ctx.readiness.check_age_s()
    if age_s is None:
        return {"ok": False, "reason": "the monitor is not running"}
    if age_s > limit_s:
        return {
            "ok": False,
            "reason": f"no check completed for {age_s:.0f} s (limit {limit_s:g} s)",
        }
    return {"ok": True, "reason": f"last check {age_s:.0f} s ago (limit {limit_s:g} s)"}
