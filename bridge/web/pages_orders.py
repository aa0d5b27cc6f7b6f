"""The crews' pages (issue 7, item 5): their orders on a phone, one order with its steps.

    GET  /orders?tab=open|closed&who=all|mine&state=<step>   the orders, by deadline
    GET  /orders/{id}[?done=<step>]                           one order: places, pictures,
                                                              deadlines, steps, next step
    POST /orders/{id}/step  (form: step, note, csrf_token)    接单 / 到场 / 修复 (结案: admins)

Scoped as the work-order API (`bridge.web.orders_api`): a principal sees an order when it
sees one of its cameras, and only those cameras are shown; any other order answers 404 as
one that does not exist — for the page and for a step.  Steps are for crews and admins:
an operator reads the order without buttons, and a step it posts is refused with 403.
Closing by hand (结案, with a note saying why) is offered to admins only on the page.

A step goes through `WorkOrderDesk.act` with the signed-in user as its actor, recorded
before the answer: 303 back to the order, which then says what was done.  A step the order
does not allow (`StepError`: someone else took it first, the order moved on) is shown on
the order's page in the page's language, never as an error page.

**Getting there.** Each camera's address is written out, with its grid path, and when the
inventory gives coordinates (WGS-84) two links a phone opens in a map app: a ``geo:`` URI
(RFC 5870, WGS-84: Android hands it to the installed map app) and 高德地图's URI API
(``uri.amap.com/marker``, which opens the 高德 app or its mobile web map, on iPhones too).
高德 takes GCJ-02: the daemon converts the position itself (`bridge.coords`, the tested
conversion of the importer), so the pin is not 100–700 m off.  No 百度 link: one Chinese
app is enough on a small screen, and 百度 would need BD-09.  The daemon never contacts
高德 — the phone does, when the crew taps the link, and the link carries only the
coordinates (no camera name); docs/web-ui.md says so.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from aiohttp import web

from bridge.coords import wgs84_to_gcj02
from bridge.store import StoreError
from bridge.web import orders_api
from bridge.web.app_context import WebContext, context_of
from bridge.web.context import principal_of
from bridge.web.directory import CameraDirectory
from bridge.web.principal import Principal, Role
from bridge.web.templating import error_page, render
from bridge.workorder_desk import WorkOrderDesk
from bridge.workorders.model import SYSTEM_ACTOR, Order, Step
from bridge.workorders.steps import CREW_NEXT, StepError
from bridge.workorders.views import china, is_overdue

__all__ = [
    "CLOSED_DAYS",
    "OrderView",
    "Place",
    "amap_url",
    "by_deadline",
    "feature",
    "geo_url",
    "routes",
]

log = logging.getLogger(__name__)

CLOSED_DAYS: Final = 7  # the second tab: orders closed within this many days
MAX_NOTE: Final = 500  # as the API: a sentence, not a document
CREW_STEPS: Final = (Step.ACCEPTED, Step.ON_SITE, Step.REPAIRED)
ACTIVE_STATES: Final = tuple(s.value for s in Step if s is not Step.CLOSED)
AMAP_MARKER: Final = "https://uri.amap.com/marker"

routes = web.RouteTableDef()


def feature(app: web.Application) -> None:
    """Add the crew pages (a `bridge.web.server.Feature`)."""
    app.add_routes(routes)


# --- what a card shows ------------------------------------------------------------------------


def geo_url(lat: float, lon: float) -> str:
    """A ``geo:`` URI (RFC 5870; WGS-84) with a pin (``q=``, as Android map apps read it)."""
    return f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}"


def amap_url(lat: float, lon: float) -> str:
    """高德地图's marker URI for a WGS-84 position, converted to GCJ-02 here (``coordinate=
    gaode``); ``callnative=1`` opens the 高德 app when installed."""
    glon, glat = wgs84_to_gcj02(lon, lat)
    return (
        f"{AMAP_MARKER}?position={glon:.6f},{glat:.6f}&coordinate=gaode&callnative=1&src=gridbridge"
    )


@dataclass(frozen=True, slots=True)
class Place:
    """One camera of an order as a crew needs it: what, where, and how to get there.
    ``path`` names its grid cells, township first; ``lat``/``lon`` are WGS-84."""

    id: str
    name: str
    address: str
    path: tuple[str, ...]
    state: str | None
    faults: tuple[str, ...]
    key_location: bool
    lat: float | None = None
    lon: float | None = None

    @property
    def geo_url(self) -> str | None:
        return (
            geo_url(self.lat, self.lon) if self.lat is not None and self.lon is not None else None
        )

    @property
    def amap_url(self) -> str | None:
        return (
            amap_url(self.lat, self.lon) if self.lat is not None and self.lon is not None else None
        )

    @property
    def coords(self) -> str:
        return f"{self.lat:.6f}, {self.lon:.6f}" if self.lat is not None else ""


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as one principal sees it on the page."""

    order: Order
    places: tuple[Place, ...]  # its cameras within the principal's scope
    overdue: bool
    mine: bool  # the principal took one of its steps
    upstream_name: str | None  # a parent order's device, named when the inventory has it

    @property
    def title(self) -> str | None:
        """The camera's name for a one-camera order; None for a parent order (the page
        names the upstream device instead)."""
        if self.order.upstream is None and self.places:
            return self.places[0].name
        return None

    @property
    def where(self) -> Place | None:
        """The place to go: the first camera with an address or coordinates."""
        for place in self.places:
            if place.address or place.lat is not None:
                return place
        return self.places[0] if self.places else None

    @property
    def camera_names(self) -> list[str]:
        return [p.name for p in self.places]

    @property
    def before_url(self) -> str | None:
        return _picture(self.order, "before") if self.order.before_evidence else None

    @property
    def after_url(self) -> str | None:
        return _picture(self.order, "after") if self.order.after_evidence else None

    @property
    def next_step(self) -> str | None:
        step = CREW_NEXT.get(self.order.state)
        return step.value if step is not None else None


def _picture(order: Order, which: str) -> str:
    return f"/api/workorders/{order.id}/{which}.jpg"


def _coordinates(lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    if lat is None or lon is None or not math.isfinite(lat + lon):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, None  # an inventory typo: no link into the sea
    return lat, lon


def place_of(directory: CameraDirectory, principal: Principal, camera_id: str) -> Place | None:
    """The camera as a place, or None when the principal may not see it."""
    entry = directory.entry(principal, camera_id)
    if entry is None:
        return None
    info, facts = entry.camera.info, entry.camera.facts
    path: tuple[str, ...] = ()
    for grid_path in entry.paths:
        cells = directory.path_cells(grid_path)
        if cells:
            path = tuple(cell.name for cell in cells)
            break
    lat, lon = _coordinates(info.lat, info.lon)
    return Place(
        id=info.id,
        name=info.name,
        address=info.address,
        path=path,
        state=facts.state,
        faults=tuple(facts.faults),
        key_location=info.key_location,
        lat=lat,
        lon=lon,
    )


def view_of(ctx: WebContext, principal: Principal, order: Order, now: datetime) -> OrderView | None:
    """The order as ``principal`` sees it; None when it sees none of its cameras (an admin
    sees every order, also one whose cameras left the inventory)."""
    directory = ctx.directory
    places = [p for c in order.camera_ids if (p := place_of(directory, principal, c)) is not None]
    if not places and not principal.is_admin:
        return None
    mine = any(r.actor == principal.name for r in order.steps if r.step is not Step.OPEN)
    upstream_name = directory.name_of(order.upstream) if order.upstream else None
    return OrderView(order, tuple(places), is_overdue(order, now), mine, upstream_name)


def by_deadline(view: OrderView) -> tuple[bool, float, float, str]:
    """Overdue first; then the nearest deadline first (orders waiting for verification,
    which have none, after); then the oldest."""
    order = view.order
    deadline = order.deadline
    return (
        not view.overdue,
        deadline.timestamp() if deadline is not None else math.inf,
        order.opened_at.timestamp(),
        order.id,
    )


def _closed_last(view: OrderView) -> tuple[float, str]:
    closed = view.order.closed_at
    return (closed.timestamp() if closed is not None else -math.inf, view.order.id)


# --- pages ---------------------------------------------------------------------------------


def _views(ctx: WebContext, principal: Principal, now: datetime) -> list[OrderView]:
    """The open orders and those closed within `CLOSED_DAYS` that the principal sees (the
    book holds every order since the start: a year's closed ones are left out first)."""
    since = now - timedelta(days=CLOSED_DAYS)
    orders = ctx.desk.book.orders() if ctx.desk is not None else []
    recent = (o for o in orders if o.is_open or (o.closed_at is not None and o.closed_at >= since))
    return [v for o in recent if (v := view_of(ctx, principal, o, now)) is not None]


@routes.get("/orders")
async def orders_page(request: web.Request) -> web.Response:
    ctx = context_of(request)
    principal = principal_of(request)
    now = ctx.now()
    tab = "closed" if request.query.get("tab") == "closed" else "open"
    acts = principal.may_act_on_orders
    who = "mine" if acts and request.query.get("who") == "mine" else "all"
    state = request.query.get("state", "")
    if state not in ACTIVE_STATES:
        state = ""
    views = [v for v in _views(ctx, principal, now) if who == "all" or v.mine]
    open_views = sorted((v for v in views if v.order.is_open), key=by_deadline)
    closed_views = sorted((v for v in views if not v.order.is_open), key=_closed_last, reverse=True)
    if tab == "open":
        shown = [v for v in open_views if not state or v.order.state.value == state]
    else:
        shown = closed_views
    return render(
        request,
        "orders.html",
        now=now,
        tab=tab,
        who=who,
        state=state,
        states=ACTIVE_STATES,
        orders=shown,
        open_count=len(open_views),
        closed_count=len(closed_views),
        overdue_count=sum(1 for v in shown if v.overdue and v.order.is_open),
        may_act=acts,
        closed_days=CLOSED_DAYS,
    )


async def _visible(request: web.Request) -> tuple[WorkOrderDesk, OrderView] | None:
    """The order of the URL (`orders_api.visible_order`) and its view."""
    found = await orders_api.visible_order(request)
    if found is None:
        return None
    desk, order = found
    ctx = context_of(request)
    view = view_of(ctx, principal_of(request), order, ctx.now())
    return (desk, view) if view is not None else None


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an order's timeline."""

    at: datetime
    kind: str  # opened, step, escalated, reopened, cameras_added, faults_changed
    step: str | None
    actor: str  # "" for the system
    note: str


_ISO_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)")


def _china_time(match: re.Match[str]) -> str:
    try:
        at = datetime.fromisoformat(match.group(0).replace("Z", "+00:00"))
    except ValueError:
        return match.group(0)
    return china(at)


def said(text: str, lang: str) -> str:
    """A message of the daemon's (``中文 / English``) in the page's language, its ISO times
    (the engine's notes name deadlines so) in China time, as the page shows every time."""
    zh, sep, en = text.partition(" / ")
    if sep:
        text = zh if lang == "zh" else en
    return _ISO_TIME.sub(_china_time, text)


async def _timeline(desk: WorkOrderDesk, order: Order) -> list[Line]:
    """The order's recorded events; its steps alone when the store cannot be read now."""
    try:
        events = await desk.history(order.id)
    except StoreError as exc:
        log.warning("history of order %s not read: %s", order.id, exc)
        return [Line(r.at, "step", r.step.value, _actor(r.actor), r.note) for r in order.steps]
    return [Line(e.at, e.kind, e.step, _actor(e.actor), e.note) for e in events]


def _actor(actor: str) -> str:
    return "" if actor == SYSTEM_ACTOR else actor


async def _order_page(
    request: web.Request,
    desk: WorkOrderDesk,
    view: OrderView,
    *,
    status: int = 200,
    refused: str | None = None,
    refused_step: str | None = None,
    note: str = "",
) -> web.Response:
    ctx = context_of(request)
    principal = principal_of(request)
    order = view.order
    done = None
    wanted = request.query.get("done")
    last = order.steps[-1] if order.steps else None
    # Said only when it is true: the order's last step is that one, taken by this user.
    if last is not None and wanted == last.step.value and last.actor == principal.name:
        done = wanted
    return render(
        request,
        "order.html",
        status=status,
        now=ctx.now(),
        view=view,
        order=order,
        lines=await _timeline(desk, order),
        may_act=principal.may_act_on_orders,
        may_close=principal.is_admin and order.is_open,
        camera_links=principal.role in (Role.ADMIN, Role.OPERATOR),  # their camera pages
        done=done,
        refused=refused,
        request_step=refused_step,
        note=note,
        said=said,
    )


@routes.get("/orders/{order_id}", name="order_page")
async def order_page(request: web.Request) -> web.Response:
    found = await _visible(request)
    if found is None:
        return error_page(request, 404, now=context_of(request).now())
    desk, view = found
    return await _order_page(request, desk, view)


def _field(form: Any, key: str) -> str:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else ""


@routes.post("/orders/{order_id}/step")
async def take_step(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    principal = principal_of(request)
    now = ctx.now()
    found = await _visible(request)  # out of scope: 404 before anything else, as for the page
    if found is None:
        return error_page(request, 404, now=now)
    if not principal.may_act_on_orders:
        return error_page(request, 403, now=now)
    desk, view = found
    form = await request.post()
    step_value, note = _field(form, "step"), _field(form, "note")
    allowed: Sequence[Step] = (*CREW_STEPS, Step.CLOSED) if principal.is_admin else CREW_STEPS
    if step_value == Step.CLOSED.value and not principal.is_admin:
        return error_page(request, 403, now=now)
    step = next((s for s in allowed if s.value == step_value), None)
    if step is None or len(note) > MAX_NOTE:
        return error_page(request, 400, now=now)
    try:
        order = await desk.act(view.order.id, step, actor=principal.name, note=note)
    except StepError as exc:
        log.info("step %s of order %s by %s refused: %s", step.value, view.order.id,
                 principal.name, exc)  # fmt: skip
        found = await _visible(request)  # as it stands now (another crew may have moved it on)
        if found is None:
            return error_page(request, 404, now=now)
        desk, view = found
        return await _order_page(
            request, desk, view, status=409, refused=str(exc), refused_step=step.value, note=note
        )
    except RuntimeError as exc:  # taken, not yet recorded: the store is failing
        log.warning("step %s of order %s by %s not recorded yet: %s", step.value,
                    view.order.id, principal.name, exc)  # fmt: skip
        return error_page(request, 503, now=now)
    location = request.app.router["order_page"].url_for(order_id=order.id)
    raise web.HTTPSeeOther(location=location.with_query(done=step.value))
