"""The cameras and grid API (docs/api.md): what operators' pages and integrations read.

    GET  /api/cameras?state=&grid=&q=&limit=&offset=   cameras in scope, broken first
    GET  /api/cameras/{id}                             one camera in detail
    GET  /api/cameras/{id}/snapshot.jpg[?size=thumb]   its latest picture (or thumbnail)
    GET  /api/cameras/{id}/history/{name}.jpg          one picture of its history
    POST /api/cameras/{id}/recheck                     check it and take a picture now
    GET  /api/grid                                     the grid tree with counts by state

Scoping (`bridge.web.principal`): every camera endpoint answers 404 for a camera outside the
principal's scope exactly as for one that does not exist.  Admins see every camera, the
unmapped ones too; operators those of their scope's subtree; crews may read cameras and
pictures within their scope (the cameras of their orders) but not ask for a recheck (403).
Recheck: at most one per camera per `RECHECK_EVERY_S` (429 with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

from aiohttp import web

from bridge.bus.summaries import Counts
from bridge.bus.topics import GridPath
from bridge.model import CameraState
from bridge.snapshots import SnapshotStore
from bridge.web.app_context import WebContext, context_of
from bridge.web.context import deny, hidden, principal_of
from bridge.web.directory import CameraDirectory, CameraEntry, TreeNode
from bridge.web.principal import Role
from bridge.workorders.views import iso
from health.verdict import FAULT_LABELS_ZH

__all__ = ["RECHECK_EVERY_S", "feature", "recheck_limit", "recheck_wait_s"]

RECHECK_EVERY_S = 10.0
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_QUERY = 100  # characters of ?q= and ?grid=
JSON = "application/json"
# The latest picture changes at every look: browsers ask again each time and get a 304
# (the ETag) while it is the same.  Private: a shared cache must not serve it to others.
PICTURE_CACHE = "private, no-cache"
# A history picture never changes once taken (its name is its time).
HISTORY_CACHE = "private, max-age=86400, immutable"
HISTORY_NAME = r"[0-9]{8}T[0-9]{12}Z"
STATES = frozenset(s.value for s in CameraState)
RECHECKERS = (Role.ADMIN, Role.OPERATOR)

routes = web.RouteTableDef()


@dataclass(slots=True)
class _Recent:
    """Rechecks asked per camera (monotonic time), for the rate limit."""

    at: dict[str, float] = field(default_factory=dict)

    def take(self, camera_id: str, now: float) -> float:
        """0 when a recheck may go now (and note it), else the seconds to wait."""
        last = self.at.get(camera_id)
        if last is not None and now - last < RECHECK_EVERY_S:
            return RECHECK_EVERY_S - (now - last)
        if len(self.at) > 1024:  # forget the old ones now and then: bounded memory
            self.at = {c: t for c, t in self.at.items() if now - t < RECHECK_EVERY_S}
        self.at[camera_id] = now
        return 0.0


_RECENT = web.AppKey("gridbridge.cameras.recent_rechecks", _Recent)


def feature(app: web.Application) -> None:
    recheck_limit(app)
    app.add_routes(routes)


def recheck_limit(app: web.Application) -> None:
    """Give ``app`` the rechecks' rate limit, once: the API and the page's 刷新画面 button
    (`bridge.web.pages_camera`) share it."""
    if _RECENT not in app:
        app[_RECENT] = _Recent()


def recheck_wait_s(app: web.Application, camera_id: str, now: float) -> float:
    """0 when a recheck of the camera may go now (and it is noted), else the seconds to
    wait (`RECHECK_EVERY_S` between two, per camera)."""
    return app[_RECENT].take(camera_id, now)


# --- helpers ---------------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _fail(
    status: type[web.HTTPException], message: str, headers: dict[str, str] | None = None
) -> NoReturn:
    body = json.dumps({"error": message}, ensure_ascii=False)
    raise status(text=body, content_type=JSON, headers=headers)


def _bad(message: str) -> NoReturn:
    _fail(web.HTTPBadRequest, message)


def _visible(request: web.Request) -> tuple[WebContext, CameraEntry]:
    """The camera of the URL when it exists and the principal sees it; 404 otherwise."""
    ctx = context_of(request)
    entry = ctx.directory.entry(principal_of(request), request.match_info["camera_id"])
    if entry is None:
        hidden("no such camera")
    return ctx, entry


def _url(camera_id: str, tail: str) -> str:
    return f"/api/cameras/{quote(camera_id, safe='')}/{tail}"


def _counts(counts: Counts) -> dict[str, Any]:
    rate = counts.online_rate
    return {
        **dict(counts),
        "total": counts.total,
        "online_rate": round(rate, 4) if rate is not None else None,
    }


def _int(request: web.Request, key: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        _bad(f"'{key}' must be a whole number")
    if not low <= value <= high:
        _bad(f"'{key}' must be between {low} and {high}")
    return value


def _item(entry: CameraEntry) -> dict[str, Any]:
    """A camera as lists show it (a card of the grid page)."""
    info, facts = entry.camera.info, entry.camera.facts
    has_picture = facts.thumbnail_sha256 is not None
    return {
        "id": info.id,
        "name": info.name,
        "state": facts.state,
        "state_zh": CameraState(facts.state).label_zh,
        "faults": list(facts.faults),
        "faults_zh": [FAULT_LABELS_ZH.get(f, f) for f in facts.faults],
        "flapping": facts.flapping,
        "since": iso(facts.since),
        "checked_at": iso(facts.checked_at),
        "key_location": info.key_location,
        "address": info.address,
        "grids": list(info.grids),
        "mapping": entry.mapping.value,
        "thumbnail_url": _url(info.id, "snapshot.jpg?size=thumb") if has_picture else None,
        "snapshot_url": _url(info.id, "snapshot.jpg") if has_picture else None,
    }


def _path(directory: CameraDirectory, path: GridPath) -> list[dict[str, str]]:
    return [
        {"level": cell.level.value, "code": cell.code, "name": cell.name}
        for cell in directory.path_cells(path)
    ]


def _pictures(snapshots: SnapshotStore, camera_id: str) -> dict[str, Any]:
    """The camera's pictures (blocking file look-ups: call in a thread)."""
    history = snapshots.history(camera_id)
    latest = snapshots.latest(camera_id)
    latest_at: datetime | None = history[0][0] if history else None
    if latest is not None and latest_at is None:
        try:
            latest_at = datetime.fromtimestamp(latest.stat().st_mtime, UTC)
        except OSError:  # replaced or removed meanwhile
            latest = None
    return {
        "latest_at": iso(latest_at) if latest is not None else None,
        "snapshot_url": _url(camera_id, "snapshot.jpg") if latest is not None else None,
        "thumbnail_url": (
            _url(camera_id, "snapshot.jpg?size=thumb")
            if snapshots.latest_thumb(camera_id) is not None
            else None
        ),
        "history": [
            {"at": iso(at), "url": _url(camera_id, f"history/{path.name}")} for at, path in history
        ],
    }


NO_PICTURES: dict[str, Any] = {
    "latest_at": None,
    "snapshot_url": None,
    "thumbnail_url": None,
    "history": [],
}


# --- the routes ------------------------------------------------------------------------------


@routes.get("/api/cameras")
async def list_cameras(request: web.Request) -> web.Response:
    ctx = context_of(request)
    principal = principal_of(request)
    state = request.query.get("state") or None
    if state is not None and state not in STATES:
        _bad(f"'state' must be one of {', '.join(s.value for s in CameraState)}")
    grid = request.query.get("grid") or None
    query = request.query.get("q") or None
    for key, value in (("grid", grid), ("q", query)):
        if value is not None and len(value) > MAX_QUERY:
            _bad(f"'{key}' is longer than {MAX_QUERY} characters")
    limit = _int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int(request, "offset", 0, 0, 10**9)
    total, page = ctx.directory.page(
        principal, offset=offset, limit=limit, state=state, grid=grid, query=query
    )
    return _json(
        {
            "total": total,
            "offset": offset,
            "limit": limit,
            "cameras": [_item(entry) for entry in page],
        }
    )


@routes.get("/api/cameras/{camera_id}")
async def get_camera(request: web.Request) -> web.Response:
    ctx, entry = _visible(request)
    info, facts = entry.camera.info, entry.camera.facts
    item = _item(entry)
    order = ctx.desk.book.order_of(info.id) if ctx.desk is not None else None
    pictures = NO_PICTURES
    if ctx.snapshots is not None:
        pictures = await asyncio.to_thread(_pictures, ctx.snapshots, info.id)
    location = None
    if info.lon is not None and info.lat is not None and math.isfinite(info.lon + info.lat):
        location = {"lon": info.lon, "lat": info.lat}
    item.update(
        {
            "vendor": info.vendor,
            "model": info.model,
            "upstream": info.upstream,
            "host": entry.host,
            "location": location,
            "latency_ms": {"rtsp": facts.rtsp_ms, "onvif": facts.onvif_ms},
            "clock_offset_s": facts.clock_offset_s,
            "paths": [_path(ctx.directory, p) for p in entry.paths if p.code is not None],
            "order": (
                {
                    "id": order.id,
                    "state": order.state.value,
                    "kind": order.kind.value,
                    "deadline": iso(order.deadline),
                }
                if order is not None
                else None
            ),
            "pictures": pictures,
        }
    )
    return _json(item)


@routes.get("/api/cameras/{camera_id}/snapshot.jpg")
async def get_snapshot(request: web.Request) -> web.StreamResponse:
    ctx, entry = _visible(request)
    size = request.query.get("size", "full")
    if size not in ("full", "thumb"):
        _bad("'size' must be full or thumb")
    path: Path | None = None
    if ctx.snapshots is not None:
        find = ctx.snapshots.latest_thumb if size == "thumb" else ctx.snapshots.latest
        path = await asyncio.to_thread(find, entry.id)
    if path is None:
        hidden("no picture yet")
    return web.FileResponse(
        path, headers={"Content-Type": "image/jpeg", "Cache-Control": PICTURE_CACHE}
    )


@routes.get(r"/api/cameras/{camera_id}/history/{name:" + HISTORY_NAME + r"}.jpg")
async def get_history_picture(request: web.Request) -> web.StreamResponse:
    ctx, entry = _visible(request)
    path = None
    if ctx.snapshots is not None:
        path = ctx.snapshots.get(entry.id, request.match_info["name"] + ".jpg")
    if path is None:
        hidden("no such picture")
    return web.FileResponse(
        path, headers={"Content-Type": "image/jpeg", "Cache-Control": HISTORY_CACHE}
    )


@routes.post("/api/cameras/{camera_id}/recheck")
async def recheck(request: web.Request) -> web.Response:
    principal = principal_of(request)
    if principal.role not in RECHECKERS:
        deny("a recheck is for operators and admins")
    ctx, entry = _visible(request)
    wait_s = recheck_wait_s(request.app, entry.id, ctx.monotonic())
    if wait_s > 0:
        retry = max(1, math.ceil(wait_s))
        _fail(
            web.HTTPTooManyRequests,
            f"刚刚已检测过，请 {retry} 秒后再试 / asked a moment ago: retry in {retry} s",
            {"Retry-After": str(retry)},
        )
    if not ctx.recheck(entry.id):
        _fail(
            web.HTTPConflict, "该摄像机没有地址，未被检测 / this camera has no address: not checked"
        )
    return _json(
        {
            "id": entry.id,
            "queued": True,
            "message": "已安排立即检测并刷新画面 / a check and a fresh picture are on their way",
        },
        status=202,
    )


@routes.get("/api/grid")
async def get_grid(request: web.Request) -> web.Response:
    ctx = context_of(request)
    tree = ctx.directory.tree(principal_of(request))

    def node(n: TreeNode) -> dict[str, Any]:
        return {
            "code": n.cell.code,
            "name": n.cell.name,
            "level": n.cell.level.value,
            "counts": _counts(n.counts),
            "children": [node(child) for child in n.children],
        }

    return _json(
        {
            "counts": _counts(tree.total),
            "unmapped": _counts(tree.unmapped) if tree.unmapped is not None else None,
            "nodes": [node(n) for n in tree.nodes],
        }
    )
