"""``GET /metrics``: the daemon's Prometheus metrics (`bridge.metrics`; docs/metrics.md).

Behind the web login like the API when one is configured (Prometheus sends it with
``basic_auth`` in its scrape config).  A store read that fails or is late leaves its
families out; the scrape itself still answers.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bridge.metrics import Metrics

METRICS = web.AppKey("metrics", Metrics)

routes = web.RouteTableDef()


@routes.get("/metrics")
async def scrape(request: web.Request) -> web.Response:
    body = await request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
