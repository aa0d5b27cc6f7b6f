"""The daemon's HTTP server: aiohttp on ``http.listen``, run inside the daemon's loop.

An async context manager (AppRunner + TCPSite, as aiohttp advises inside a larger program):
entering binds the port (an error names it), leaving stops serving within a deadline.
Optional HTTP Basic login (``http.username``/``http.password``): every request but
``/healthz`` needs it then, ``/metrics`` included.  Request bodies are capped; errors are
JSON with a message for people and never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from aiohttp import web
from aiohttp.typedefs import Middleware

from bridge.metrics import Metrics
from bridge.settings import HttpSettings
from bridge.web import metrics_api
from bridge.web.orders_api import DESK, routes
from bridge.workorder_desk import WorkOrderDesk

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # the API takes small JSON documents only
SHUTDOWN_TIMEOUT_S = 5.0
REALM = "gridbridge"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebError(Exception):
    """The server could not start (message names the address)."""


def _login_middleware(username: str, password: str) -> Middleware:
    expected = f"{username}:{password}".encode()

    @web.middleware
    async def login(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/healthz":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        given = b""
        if scheme.lower() == "basic":
            try:
                given = base64.b64decode(token.strip(), validate=True)
            except (binascii.Error, ValueError):
                given = b""
        if not hmac.compare_digest(given, expected):
            return web.json_response(
                {"error": "login required / 需要登录"},
                status=401,
                headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
            )
        return await handler(request)

    return login


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason}, status=exc.status)
    except Exception:  # one request's bug must not take the server down (STYLE 7)
        log.exception("HTTP %s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error / 内部错误"}, status=500)


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app(
    settings: HttpSettings, desk: WorkOrderDesk, metrics: Metrics | None = None
) -> web.Application:
    """The application: API routes, ``/metrics`` when given, login when configured,
    capped bodies."""
    middlewares: list[Middleware] = [_errors]
    if settings.username and settings.password is not None:
        middlewares.append(
            _login_middleware(settings.username, settings.password.get_secret_value())
        )
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
    app[DESK] = desk
    app.router.add_get("/healthz", _healthz)
    app.add_routes(routes)
    if metrics is not None:
        app[metrics_api.METRICS] = metrics
        app.add_routes(metrics_api.routes)
    return app


class WebServer:
    """Serves the API (and ``/metrics`` when given) on ``settings.listen`` while entered."""

    def __init__(
        self, settings: HttpSettings, desk: WorkOrderDesk, *, metrics: Metrics | None = None
    ) -> None:
        self._settings = settings
        self._desk = desk
        self._metrics = metrics
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        host, _, port = self._settings.listen.rpartition(":")
        host = host.strip("[]")
        runner = web.AppRunner(
            build_app(self._settings, self._desk, self._metrics),
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, int(port))
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise WebError(f"cannot listen on {self._settings.listen}: {exc.strerror}") from None
        self._runner = runner
        self.url = f"http://{self._settings.listen}"
        log.info("HTTP API on %s", self.url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
