"""The work-order API for the crews' page (issue 6; the page itself comes with issue 7).

    GET  /api/workorders?state=active|all|<step>&camera=ID   orders, oldest first
    GET  /api/workorders/{id}                                 one order and its history
    GET  /api/workorders/{id}/before.jpg, …/after.jpg        its evidence pictures
    POST /api/workorders/{id}/steps  {"step": "accepted"|"on_site"|"repaired"|"closed",
                                      "actor": "张师傅", "note": "…"}

A step is recorded (and announced) before the answer says so.  A step the order does not
allow answers 409 with the reason in Chinese and English; an unknown order 404; a malformed
request 400.  An evidence picture is the kept copy (docs/workorders.md, "Evidence pictures"),
or the snapshot it names until it is kept; 404 when the order has none.  Orders come from
the daemon's own order book: what the crew sees is what the daemon decides on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bridge.evidence import Which
from bridge.workorder_desk import WorkOrderDesk
from bridge.workorders.model import Step
from bridge.workorders.steps import StepError
from bridge.workorders.views import iso, order_item

DESK = web.AppKey("desk", WorkOrderDesk)
CREW_STEPS = {Step.ACCEPTED, Step.ON_SITE, Step.REPAIRED, Step.CLOSED}
MAX_TEXT = 500  # actor and note: a name and a sentence, not a document
# A picture at this address changes when a reopened order (返修) gets a new one: browsers
# ask again each time and get a 304 (the ETag) while it is the same.
PICTURE_CACHE = "private, no-cache"

routes = web.RouteTableDef()


def _desk(request: web.Request) -> WorkOrderDesk:
    return request.app[DESK]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


@routes.get("/api/workorders")
async def list_orders(request: web.Request) -> web.Response:
    state = request.query.get("state", "active")
    camera = request.query.get("camera")
    if state not in ("active", "all", *(s.value for s in Step)):
        return _json({"error": f"unknown state {state[:32]!r}"}, 400)
    now = datetime.now(UTC)
    orders = _desk(request).book.orders()
    picked = [
        o
        for o in orders
        if (state == "all" or (o.is_open if state == "active" else o.state.value == state))
        and (camera is None or camera in o.camera_ids)
    ]
    picked.sort(key=lambda o: (o.opened_at, o.id))
    return _json([order_item(o, {}, now) for o in picked])


@routes.get("/api/workorders/{order_id}")
async def get_order(request: web.Request) -> web.Response:
    desk = _desk(request)
    order = desk.book.order(request.match_info["order_id"])
    if order is None:
        return _json({"error": "no such order / 工单不存在"}, 404)
    item = order_item(order, {}, datetime.now(UTC))
    item["history"] = [
        {"seq": e.seq, "at": iso(e.at), "event": e.kind, "step": e.step, "actor": e.actor,
         "note": e.note}
        for e in await desk.history(order.id)
    ]  # fmt: skip
    return _json(item)


@routes.get(r"/api/workorders/{order_id}/{which:(?:before|after)}.jpg")
async def get_picture(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    order_id = request.match_info["order_id"]
    which: Which = "before" if request.match_info["which"] == "before" else "after"
    if desk.book.order(order_id) is None:
        return _json({"error": "no such order / 工单不存在"}, 404)
    path = await desk.evidence_path(order_id, which)
    if path is None:
        return _json({"error": f"the order has no {which} picture / 工单没有该图片"}, 404)
    headers = {"Content-Type": "image/jpeg", "Cache-Control": PICTURE_CACHE}
    return web.FileResponse(path, headers=headers)


def _text(body: dict[str, Any], key: str, *, required: bool) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise web.HTTPBadRequest(reason=f"'{key}' must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise web.HTTPBadRequest(reason=f"'{key}' is longer than {MAX_TEXT} characters")
    return value.strip()


@routes.post("/api/workorders/{order_id}/steps")
async def take_step(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _json({"error": "the body must be a JSON object"}, 400)
    if not isinstance(body, dict):
        return _json({"error": "the body must be a JSON object"}, 400)
    try:
        step: Step | None = Step(str(body.get("step")))
    except ValueError:
        step = None
    if step not in CREW_STEPS:
        allowed = ", ".join(s.value for s in Step if s in CREW_STEPS)
        return _json({"error": f"'step' must be one of {allowed}"}, 400)
    assert step is not None
    actor = _text(body, "actor", required=True)
    note = _text(body, "note", required=step is Step.CLOSED)
    desk = _desk(request)
    order_id = request.match_info["order_id"]
    if desk.book.order(order_id) is None:
        return _json({"error": "no such order / 工单不存在"}, 404)
    try:
        order = await desk.act(order_id, step, actor=actor, note=note)
    except StepError as exc:
        return _json({"error": str(exc)}, 409)
    except RuntimeError as exc:  # taken, not yet recorded: the store is failing
        return _json({"error": str(exc)}, 503)
    return _json(order_item(order, {}, datetime.now(UTC)))
