"""The server's structure over the real aiohttp server on loopback: ``/healthz``, ``/readyz``
(each failing condition), and the error middleware (JSON bodies kept, no traceback)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bridge.bus.topics import Topics
from bridge.fleet import Fleet
from bridge.secretbox import SecretBox
from bridge.settings import HttpSettings, ProbeSettings, Settings, StoreSettings
from bridge.store import Store, sqlite_url
from bridge.web import health_api
from bridge.web.app_context import Readiness, WebContext
from bridge.web.context import deny, hidden, principal_of
from bridge.web.directory import CameraDirectory
from bridge.web.server import WebServer
from tests.bridge.web.support import free_port, header_login, who

PROBE = ProbeSettings(interval_s=30, timeout_s=3)  # checks recent: ≤ 63 s
SECRET_PATH = "vault-7f3a"  # part of the database's path: never in an answer


@dataclass
class Conditions:
    """What /readyz asks, set by each test."""

    bus: bool = True
    age_s: float | None = 1.0
    cameras: int = 5

    def readiness(self) -> Readiness:
        return Readiness(lambda: self.bus, lambda: self.age_s, lambda: self.cameras)


@dataclass
class Served:
    base: str
    store: Store
    conditions: Conditions


def broken_routes(app: web.Application) -> None:
    """A feature with every kind of failure a handler can have."""
    routes = web.RouteTableDef()

    @routes.get("/boom")
    async def boom(_: web.Request) -> web.Response:
        raise RuntimeError("secret detail in /srv/gridbridge/db.sqlite3")

    @routes.get("/hidden")
    async def gone(request: web.Request) -> web.Response:
        principal_of(request)
        hidden("no such camera")

    @routes.get("/denied")
    async def denied(request: web.Request) -> web.Response:
        principal_of(request)
        deny("watching live")

    @routes.get("/reason")
    async def reason(_: web.Request) -> web.Response:
        raise web.HTTPBadRequest(reason="'limit' must be a number")

    @routes.post("/only-post")
    async def only_post(_: web.Request) -> web.Response:
        return web.json_response({})

    app.add_routes(routes)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    data = tmp_path / SECRET_PATH
    settings = Settings(
        store=StoreSettings(data_dir=data),
        http=HttpSettings(listen=f"127.0.0.1:{free_port()}"),
        probe=PROBE,
    )
    conditions = Conditions()
    store = Store(sqlite_url(data), SecretBox(SecretBox.generate_key()))
    await store.start()
    try:
        ctx = WebContext(
            settings=settings,
            store=store,
            directory=CameraDirectory(Fleet(Topics("gb"))),
            readiness=conditions.readiness(),
        )
        server = WebServer(ctx, middlewares=[header_login()], features=[broken_routes])
        async with server:
            yield Served(f"http://{settings.http.listen}", store, conditions)
    finally:
        await store.close()


async def readyz(base: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as s, s.get(f"{base}/readyz") as r:
        return r.status, await r.json()


def failing(body: dict[str, object]) -> dict[str, str]:
    conditions = body["conditions"]
    assert isinstance(conditions, dict)
    return {k: c["reason"] for k, c in conditions.items() if not c["ok"]}


async def test_healthz_and_readyz_are_open_and_ready(served: Served) -> None:
    async with aiohttp.ClientSession() as s, s.get(f"{served.base}/healthz") as r:
        assert (r.status, await r.json()) == (200, {"status": "ok"})
    status, body = await readyz(served.base)  # no login: open
    assert status == 200
    assert body["status"] == "ready"
    assert failing(body) == {}
    conditions = body["conditions"]
    assert isinstance(conditions, dict)
    assert set(conditions) == {"store", "bus", "checks"}
    assert conditions["checks"]["reason"] == "last check 1 s ago (limit 63 s)"


async def test_readyz_bus_down(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bridge.web.health_api")
    served.conditions.bus = False
    for _ in range(3):  # a monitoring system polls: logged once
        status, body = await readyz(served.base)
        assert status == 503
        assert body["status"] == "not ready"
        assert failing(body) == {"bus": "not connected to the MQTT broker"}
    served.conditions.bus = True
    assert (await readyz(served.base))[0] == 200
    assert [r.getMessage() for r in caplog.records] == [
        "not ready: bus: not connected to the MQTT broker",
        "ready again",
    ]


async def test_readyz_checks_late(served: Served) -> None:
    served.conditions.age_s = 63.5  # 2 × 30 + 3 s passed without a completed check
    status, body = await readyz(served.base)
    assert status == 503
    assert failing(body) == {"checks": "no check completed for 64 s (limit 63 s)"}
    served.conditions.age_s = 63.0
    assert (await readyz(served.base))[0] == 200


async def test_readyz_monitor_not_running(served: Served) -> None:
    served.conditions.age_s = None
    status, body = await readyz(served.base)
    assert status == 503
    assert failing(body) == {"checks": "the monitor is not running"}
    served.conditions.cameras = 0  # nothing to check: nothing to wait for
    status, body = await readyz(served.base)
    assert status == 200
    conditions = body["conditions"]
    assert isinstance(conditions, dict)
    assert conditions["checks"]["reason"] == "no cameras to check"


async def test_readyz_store_down(served: Served) -> None:
    await served.store.close()
    status, body = await readyz(served.base)
    assert status == 503
    assert failing(body) == {"store": "the database refuses or cannot be reached"}
    assert SECRET_PATH not in str(body)


async def test_readyz_store_late(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health_api, "STORE_TIMEOUT_S", 0.0)  # the deadline is already past
    status, body = await readyz(served.base)
    assert status == 503
    assert failing(body) == {"store": "the database did not answer within 0 s"}


async def test_errors_are_json_without_traceback(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    admin = who("admin")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{served.base}/boom", headers=admin) as r:
            assert r.status == 500
            assert await r.json() == {"error": "内部错误 / internal error"}
            assert "secret detail" not in await r.text()
        # The traceback goes to the log, once.
        [record] = [r for r in caplog.records if r.exc_info]
        assert record.getMessage() == "HTTP GET /boom failed"
        # The helpers' bodies are kept as they are.
        async with s.get(f"{served.base}/hidden", headers=admin) as r:
            assert (r.status, await r.json()) == (404, {"error": "未找到 / no such camera"})
        async with s.get(f"{served.base}/denied", headers=admin) as r:
            assert (r.status, await r.json()) == (
                403, {"error": "无权操作 / not allowed: watching live"}
            )  # fmt: skip
        async with s.get(f"{served.base}/denied") as r:  # nobody signed in
            assert (r.status, await r.json()) == (401, {"error": "需要登录 / login required"})
        # aiohttp's own errors and reason-only ones: the reason, as JSON.
        async with s.get(f"{served.base}/reason") as r:
            assert (r.status, await r.json()) == (400, {"error": "'limit' must be a number"})
        async with s.get(f"{served.base}/nowhere") as r:
            assert (r.status, await r.json()) == (404, {"error": "Not Found"})
            assert r.content_type == "application/json"
        async with s.get(f"{served.base}/only-post") as r:
            assert (r.status, await r.json()) == (405, {"error": "Method Not Allowed"})
            assert r.headers["Allow"] == "POST"
