"""``GET /metrics``: the daemon's Prometheus metrics (`bridge.metrics`; docs/metrics.md).

Behind the web login, for admins only: the figures are the whole district's, and an
operator sees its own subtree only (Prometheus sends an admin's API token: ``authorization``
with ``credentials`` in its scrape config).  A store read that fails or is late leaves its
families out; the scrape itself still answers.  404 when the daemon runs without metrics.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bridge.web.app_context import context_of
from bridge.web.context import deny, hidden, principal_of

routes = web.RouteTableDef()


def feature(app: web.Application) -> None:
    app.add_routes(routes)


@routes.get("/metrics")
async def scrape(request: web.Request) -> web.Response:
    if not principal_of(request).is_admin:
        deny("metrics are for admins")
    metrics = context_of(request).metrics
    if metrics is None:
        hidden("no metrics")
    body = await metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
