"""The camera pages (issue 7, items 2 and 3): one camera, its fresh picture and live view.

    GET  /camera/{id}            latest picture, history, timeline of state changes, open
                                 order, inventory details; 刷新画面 and 实时画面 buttons
    POST /camera/{id}/recheck    刷新画面: the API's recheck (same rate limit), then back to
                                 the page with a notice (?notice=refresh | wait | no_address)
    GET  /camera/{id}/live       实时画面: the MJPEG of ``/api/cameras/{id}/live.mjpeg`` in an
                                 <img>; app.js says why when it fails, and offers 继续观看

Who: admins and operators, cameras of their scope (others answer 404, as a camera that does
not exist).  Crews have their orders' pages, which show the place and the pictures: the
camera pages are 403 for them, as the recheck and the live view are in the API.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote

from aiohttp import web

from bridge.snapshots import SnapshotStore
from bridge.web.app_context import WebContext, context_of
from bridge.web.cameras_api import recheck_wait_s
from bridge.web.context import deny, hidden, principal_of
from bridge.web.directory import CameraEntry
from bridge.web.pages_common import (
    api_url,
    camera_url,
    card_of,
    cell_crumbs,
    operator_page,
)
from bridge.web.templating import render

__all__ = ["TIMELINE_LIMIT", "routes"]

TIMELINE_LIMIT: Final = 50
HISTORY_SHOWN: Final = 24  # pictures in the strip (frames.history_count keeps 20 by default)
NOTICES: Final = frozenset({"refresh", "wait", "no_address"})

routes = web.RouteTableDef()


@dataclass(frozen=True, slots=True)
class Picture:
    at: datetime | None
    url: str


def _camera(request: web.Request) -> tuple[WebContext, CameraEntry]:
    """The camera of the URL for an admin or operator who sees it (403 for crews, 404 when
    out of scope or unknown)."""
    ctx = context_of(request)
    entry = ctx.directory.entry(operator_page(request), request.match_info["camera_id"])
    if entry is None:
        hidden("no such camera")
    return ctx, entry


def _pictures(snapshots: SnapshotStore, camera_id: str) -> tuple[Picture | None, list[Picture]]:
    """The latest full picture and the history, newest first (blocking: run in a thread)."""
    history = snapshots.history(camera_id)
    latest_path = snapshots.latest(camera_id)
    latest = None
    if latest_path is not None:
        at = history[0][0] if history else None
        if at is None:
            try:
                at = datetime.fromtimestamp(latest_path.stat().st_mtime, UTC)
            except OSError:  # replaced or removed meanwhile: shown without its time
                at = None
        latest = Picture(at, api_url(camera_id, "snapshot.jpg"))
    shown = [
        Picture(at, api_url(camera_id, f"history/{path.name}"))
        for at, path in history[:HISTORY_SHOWN]
    ]
    return latest, shown


@routes.get("/camera/{camera_id}")
async def camera_page(request: web.Request) -> web.Response:
    ctx, entry = _camera(request)
    principal = principal_of(request)
    info = entry.camera.info
    latest: Picture | None = None
    history: list[Picture] = []
    if ctx.snapshots is not None:
        latest, history = await asyncio.to_thread(_pictures, ctx.snapshots, info.id)
    timeline = await ctx.store.transitions_of(info.id, TIMELINE_LIMIT)
    order = ctx.desk.book.order_of(info.id) if ctx.desk is not None else None
    paths = [
        cell_crumbs(ctx.directory, principal, cell)
        for path in entry.paths
        if path.code is not None and (cell := ctx.directory.cell(path.code)) is not None
    ]
    notice = request.query.get("notice")
    wait = request.query.get("wait", "")
    coords = None
    if info.lon is not None and info.lat is not None and math.isfinite(info.lon + info.lat):
        coords = f"{info.lat:.6f}, {info.lon:.6f}"
    return render(
        request,
        "camera.html",
        now=ctx.now(),
        cam=card_of(entry),
        info=info,
        host=entry.host,
        coords=coords,
        crumbs=paths[0] if paths else [],
        paths=paths,
        latest=latest,
        history=history,
        timeline=timeline,
        timeline_limit=TIMELINE_LIMIT,
        order=order,
        order_href=f"/orders/{quote(order.id, safe='')}" if order is not None else None,
        recheck_url=camera_url(info.id, "/recheck"),
        live_url=camera_url(info.id, "/live"),
        notice=notice if notice in NOTICES else None,
        wait_s=int(wait) if wait.isdigit() and 0 < int(wait) <= 60 else 10,
    )


@routes.post("/camera/{camera_id}/recheck")
async def recheck(request: web.Request) -> web.Response:
    """刷新画面 from the page: the API's recheck and rate limit, answered by going back to
    the camera page with a notice (Post/Redirect/Get: a reload does not ask again)."""
    ctx, entry = _camera(request)
    back = camera_url(entry.id)
    wait_s = recheck_wait_s(request.app, entry.id, ctx.monotonic())
    if wait_s > 0:
        target = f"{back}?notice=wait&wait={max(1, math.ceil(wait_s))}"
    elif not ctx.recheck(entry.id):
        target = f"{back}?notice=no_address"
    else:
        target = f"{back}?notice=refresh"
    raise web.HTTPSeeOther(target)


@routes.get("/camera/{camera_id}/live")
async def live_page(request: web.Request) -> web.Response:
    ctx, entry = _camera(request)
    principal = principal_of(request)
    if not principal.may_watch_live:  # every role of the camera pages, as it stands
        deny("live view")
    http = ctx.settings.http
    paths = [
        cell_crumbs(ctx.directory, principal, cell)
        for path in entry.paths
        if path.code is not None and (cell := ctx.directory.cell(path.code)) is not None
    ]
    return render(
        request,
        "live.html",
        now=ctx.now(),
        cam=card_of(entry),
        crumbs=paths[0] if paths else [],
        camera_href=camera_url(entry.id),
        live_src=api_url(entry.id, "live.mjpeg"),
        live_url=camera_url(entry.id, "/live"),
        fps=http.live_fps,
        max_s=http.live_max_s,
        minutes=max(1, http.live_max_s // 60),
    )
