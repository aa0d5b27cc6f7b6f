"""The work-order API for the crews' page and integrations (docs/api.md).

    GET  /api/workorders?state=active|all|<step>&camera=ID   orders, oldest first
    GET  /api/workorders/{id}                                 one order and its history
    GET  /api/workorders/{id}/before.jpg, …/after.jpg        its evidence pictures
    POST /api/workorders/{id}/steps  {"step": "accepted"|"on_site"|"repaired"|"closed",
                                      "actor": "张师傅", "note": "…"}

Scoped: a principal sees an order when it sees at least one of its cameras (an admin every
order, a crew without scope every order); an order out of scope answers 404 exactly as an
order that does not exist.  Within an order, a non-admin sees only the cameras of its scope
listed (a parent order over an NVR may span two grids).  Steps need a role that may act on
orders (crew, admin; 403 otherwise); the actor defaults to the signed-in user's name.

A step is recorded (and announced) before the answer says so.  A step the order does not
allow answers 409 with the reason in Chinese and English; a malformed request 400.  An
evidence picture is the kept copy (docs/workorders.md, "Evidence pictures"), or the
snapshot it names until it is kept; 404 when the order has none.  Orders come from the
daemon's own order book: what the crew sees is what the daemon decides on.  Without work
orders (``workorders.enabled = false``) the list is empty and every order is 404.
"""

from __future__ import annotations

import json
import logging
from typing import Any, NoReturn

from aiohttp import web

from bridge.evidence import Which
from bridge.store import StoreError
from bridge.web.app_context import WebContext, context_of
from bridge.web.context import deny, principal_of
from bridge.web.principal import Principal
from bridge.workorder_desk import WorkOrderDesk
from bridge.workorders.model import Order, Step
from bridge.workorders.steps import StepError
from bridge.workorders.views import iso, order_item

log = logging.getLogger(__name__)

CREW_STEPS = {Step.ACCEPTED, Step.ON_SITE, Step.REPAIRED, Step.CLOSED}
MAX_TEXT = 500  # actor and note: a name and a sentence, not a document
# A picture at this address changes when a reopened order (返修) gets a new one: browsers
# ask again each time and get a 304 (the ETag) while it is the same.
PICTURE_CACHE = "private, no-cache"
NO_ORDER = "工单不存在 / no such order"
JSON = "application/json"

routes = web.RouteTableDef()


def feature(app: web.Application) -> None:
    app.add_routes(routes)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _fail(status: type[web.HTTPException], message: str) -> NoReturn:
    raise status(text=json.dumps({"error": message}, ensure_ascii=False), content_type=JSON)


def _no_order() -> NoReturn:
    """404 for an order that does not exist or lies outside the principal's scope."""
    _fail(web.HTTPNotFound, NO_ORDER)


def _sees(ctx: WebContext, principal: Principal, order: Order) -> bool:
    if principal.is_admin:
        return True
    paths_of = ctx.directory.paths_of
    return any(principal.sees(paths_of(c)) for c in order.camera_ids)


def _item(ctx: WebContext, principal: Principal, order: Order) -> dict[str, Any]:
    """The order as the principal may read it: its cameras named, those out of scope left
    out of the list."""
    directory = ctx.directory
    shown = [
        c for c in order.camera_ids if principal.is_admin or principal.sees(directory.paths_of(c))
    ]
    names = {c: n for c in shown if (n := directory.name_of(c)) is not None}
    item = order_item(order, names, ctx.now())
    item["cameras"] = shown
    item["camera_names"] = [names.get(c) for c in shown]
    return item


async def visible_order(request: web.Request) -> tuple[WorkOrderDesk, Order] | None:
    """The order of the URL (``{order_id}``) when it exists and the principal sees it — one
    closed long ago is read from the store — else ``None``; the API and the order page both
    ask here.  503 when the store cannot be read."""
    ctx = context_of(request)
    desk = ctx.desk
    if desk is None:
        return None
    order_id = request.match_info["order_id"]
    try:
        order = await desk.find(order_id)
    except StoreError as exc:
        log.warning("order %s not read: %s", order_id[:64], exc)
        _fail(web.HTTPServiceUnavailable, "数据库不可用 / the store is unavailable")
    if order is None or not _sees(ctx, principal_of(request), order):
        return None
    return desk, order


async def _visible_order(request: web.Request) -> tuple[WorkOrderDesk, Order]:
    """`visible_order`, or 404."""
    found = await visible_order(request)
    if found is None:
        _no_order()
    return found


@routes.get("/api/workorders")
async def list_orders(request: web.Request) -> web.Response:
    ctx = context_of(request)
    principal = principal_of(request)
    state = request.query.get("state", "active")
    camera = request.query.get("camera")
    if state not in ("active", "all", *(s.value for s in Step)):
        _fail(web.HTTPBadRequest, f"unknown state {state[:32]!r}")
    orders: list[Order] = []
    if ctx.desk is not None and state in ("all", Step.CLOSED.value):
        try:  # the book keeps recent closed orders only; the store has them all
            orders = await ctx.desk.stored_orders(
                state=None if state == "all" else state, camera_id=camera
            )
        except StoreError as exc:
            _fail(web.HTTPServiceUnavailable, str(exc))
    elif ctx.desk is not None:
        orders = ctx.desk.book.orders()
    picked = [
        o
        for o in orders
        if (state == "all" or (o.is_open if state == "active" else o.state.value == state))
        and (camera is None or camera in o.camera_ids)
        and _sees(ctx, principal, o)
    ]
    picked.sort(key=lambda o: (o.opened_at, o.id))
    return _json([_item(ctx, principal, o) for o in picked])


@routes.get("/api/workorders/{order_id}")
async def get_order(request: web.Request) -> web.Response:
    desk, order = await _visible_order(request)
    item = _item(context_of(request), principal_of(request), order)
    item["history"] = [
        {"seq": e.seq, "at": iso(e.at), "event": e.kind, "step": e.step, "actor": e.actor,
         "note": e.note}
        for e in await desk.history(order.id)
    ]  # fmt: skip
    return _json(item)


@routes.get(r"/api/workorders/{order_id}/{which:(?:before|after)}.jpg")
async def get_picture(request: web.Request) -> web.StreamResponse:
    desk, order = await _visible_order(request)
    which: Which = "before" if request.match_info["which"] == "before" else "after"
    path = await desk.evidence_path(order.id, which)
    if path is None:
        _fail(web.HTTPNotFound, f"工单没有该图片 / the order has no {which} picture")
    headers = {"Content-Type": "image/jpeg", "Cache-Control": PICTURE_CACHE}
    return web.FileResponse(path, headers=headers)


def _text(body: dict[str, Any], key: str, *, required: bool) -> str:
    value = body.get(key, "")
    if value is None and not required:
        value = ""
    if not isinstance(value, str) or (required and not value.strip()):
        _fail(web.HTTPBadRequest, f"'{key}' must be a non-empty string")
    if len(value) > MAX_TEXT:
        _fail(web.HTTPBadRequest, f"'{key}' is longer than {MAX_TEXT} characters")
    return value.strip()


# The step in the address (POST /api/workorders/{id}/{step}): the crew commands' words
# and the step codes both name it.
STEP_WORDS = {
    "accept": Step.ACCEPTED, "accepted": Step.ACCEPTED,
    "on-site": Step.ON_SITE, "on_site": Step.ON_SITE,
    "repaired": Step.REPAIRED, "close": Step.CLOSED, "closed": Step.CLOSED,
}  # fmt: skip


@routes.post("/api/workorders/{order_id}/steps")
async def take_step(request: web.Request) -> web.Response:
    """The step named in the JSON body: ``{"step": …, "actor": …, "note": …}``."""
    return await _step(request, None)


@routes.post(
    "/api/workorders/{order_id}/{step:accept|accepted|on-site|on_site|repaired|close|closed}"
)
async def take_named_step(request: web.Request) -> web.Response:
    """The step named in the address; the body (optional) holds ``actor`` and ``note``."""
    return await _step(request, STEP_WORDS[request.match_info["step"]])


async def _step(request: web.Request, named: Step | None) -> web.Response:
    principal = principal_of(request)
    if not principal.may_act_on_orders:
        deny("work-order steps are for crews and admins")
    body: object = {}
    if named is None or request.can_read_body:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            _fail(web.HTTPBadRequest, "the body must be a JSON object")
    if not isinstance(body, dict):
        _fail(web.HTTPBadRequest, "the body must be a JSON object")
    try:
        step: Step | None = named or Step(str(body.get("step")))
    except ValueError:
        step = None
    if step is None or step not in CREW_STEPS:
        allowed = ", ".join(s.value for s in Step if s in CREW_STEPS)
        _fail(web.HTTPBadRequest, f"'step' must be one of {allowed}")
    actor = _text(body, "actor", required=False) or principal.name
    note = _text(body, "note", required=step is Step.CLOSED)
    desk, order = await _visible_order(request)
    try:
        order = await desk.act(order.id, step, actor=actor, note=note)
    except StepError as exc:
        _fail(web.HTTPConflict, str(exc))
    except RuntimeError as exc:  # taken, not yet recorded: the store is failing
        _fail(web.HTTPServiceUnavailable, str(exc))
    return _json(_item(context_of(request), principal, order))
