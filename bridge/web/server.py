"""The daemon's HTTP server: aiohttp on ``http.listen``, run inside the daemon's loop.

An async context manager (AppRunner + TCPSite, as aiohttp advises inside a larger program):
entering binds the port (an error names it), leaving stops serving within a deadline.

The application is put together from parts (`build_app`):

- one `WebContext` under `CONTEXT`: everything handlers use (`bridge.web.app_context`);
- middlewares: the error middleware first (outermost), then those given — the login
  (`bridge.web.auth`), which sets each request's principal;
- ``/healthz`` and ``/readyz`` always, open to everyone (`bridge.web.health_api`), and the
  pages' static files (``/static/…``, `bridge.web.static_files`; open too);
- features: each a callable that adds its routes (and app keys) to the application —
  the cameras/grid API, work orders, ``/metrics``, live view, reports, pages.

Request bodies are capped.  Every error answers JSON ``{"error": "中文 / english"}``: the
body a handler set (`bridge.web.context` helpers) is kept, aiohttp's own errors get their
reason, and an unexpected exception is logged and answered 500 without a traceback.  A
browser asking for a page (`templating.wants_html`: not ``/api/``, ``Accept: text/html``)
gets the same status as a page in plain words instead (`templating.error_page`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Self

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict

from bridge.web import health_api, static_files
from bridge.web.app_context import CONTEXT, WebContext
from bridge.web.templating import error_page, wants_html

__all__ = ["CONTEXT", "MAX_BODY_BYTES", "Feature", "WebError", "WebServer", "build_app"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # the API takes small JSON documents only
SHUTDOWN_TIMEOUT_S = 5.0
JSON = "application/json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Feature = Callable[[web.Application], None]
"""Adds a part's routes (and its own app keys) to the application."""


class WebError(Exception):
    """The server could not start (message names the address)."""


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # Allow (405), WWW-Authenticate (401), Retry-After (429), Set-Cookie … stay; the
        # body is ours.
        kept = CIMultiDict(
            (k, v)
            for k, v in exc.headers.items()
            if k not in (hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH)
        )
        if wants_html(request):
            return _page(request, exc.status, kept)
        if exc.content_type == JSON and exc.text:
            body = exc.text  # set by the handler (bridge.web.context): kept as it is
        else:
            body = json.dumps({"error": exc.reason}, ensure_ascii=False)
        return web.Response(status=exc.status, text=body, content_type=JSON, headers=kept)
    except Exception:  # one request's bug must not take the server down (STYLE 7)
        log.exception("HTTP %s %s failed", request.method, request.path)
        if wants_html(request):
            return _page(request, 500, CIMultiDict())
        return web.json_response({"error": "内部错误 / internal error"}, status=500)


def _page(request: web.Request, status: int, kept: CIMultiDict[str]) -> web.Response:
    """The error as a page, for a browser's page request (`templating.wants_html`)."""
    try:
        page = error_page(request, status)
    except Exception:  # a broken error page must not hide the error: plain JSON then
        log.exception("error page for %s %s failed", status, request.path)
        return web.json_response({"error": "内部错误 / internal error"}, status=status)
    for key, value in kept.items():
        if key not in page.headers or key == hdrs.SET_COOKIE:
            page.headers.add(key, value)
    return page


def build_app(
    ctx: WebContext,
    *,
    middlewares: Iterable[Middleware] = (),
    features: Iterable[Feature] = (),
) -> web.Application:
    """The application over ``ctx``: the error middleware, then ``middlewares`` in order;
    ``/healthz``, ``/readyz`` and the static files (``/static/…``); then each feature's
    routes."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_errors, *middlewares])
    app[CONTEXT] = ctx
    health_api.feature(app)
    static_files.setup(app)  # every page and the login page need app.css, app.js, the icon
    for feature in features:
        feature(app)
    return app


class WebServer:
    """Serves the application on ``ctx.settings.http.listen`` while entered."""

    def __init__(
        self,
        ctx: WebContext,
        *,
        middlewares: Iterable[Middleware] = (),
        features: Iterable[Feature] = (),
    ) -> None:
        self._ctx = ctx
        self._middlewares = tuple(middlewares)
        self._features = tuple(features)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        listen = self._ctx.settings.http.listen
        host, _, port = listen.rpartition(":")
        host = host.strip("[]")
        app = build_app(self._ctx, middlewares=self._middlewares, features=self._features)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, int(port))
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise WebError(f"cannot listen on {listen}: {exc.strerror}") from None
        self._runner = runner
        self.url = f"http://{listen}"
        log.info("web page and API on %s", self.url)
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
