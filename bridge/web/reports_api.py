"""The 在线率/完好率 report over HTTP (docs/reports.md): the numbers of ``gridbridge report
online-rate``, scoped to who asks.

    GET /api/reports/online-rate?by=grid&from=2026-11-01&to=2026-11-30
        [&per=day|month|total][&rank=online|intact][&format=json|csv|xlsx]
    GET /api/reports/online-rate.svg?by=…&from=…&to=…[&rank=…][&limit=30]

``by``, ``from`` and ``to`` are required; ``from``/``to`` are China-time dates, both
included, at most `MAX_DAYS` days, the period ending now at the latest.  JSON is the
schema ``gridbridge.online_rate/1``; CSV (UTF-8 with a BOM) and XLSX are downloads with
Chinese headers.  The SVG is a bar chart of the whole period's ranking, worst first, at
most ``limit`` bars (default 30, up to 500).

Scoping (`bridge.web.principal`): an admin gets every area and the 未关联网格 row; an
operator only the areas at or below its scope (an operator of a village asking by township
gets no rows: the township holds other villages' cameras), and a total line of those
areas' cameras; a crew may not read reports (403).  Bad parameters answer 400 naming them.
One report is computed at a time (it reads a month of the log); others wait up to
`WAIT_S` seconds, then get 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import date
from typing import NoReturn, cast

from aiohttp import web

from bridge.bus.topics import path_of
from bridge.model import Level
from bridge.reports.areas import Area
from bridge.reports.chart import Bar, bar_chart
from bridge.reports.compute import Report, Visible, online_rate_report
from bridge.reports.export import LEVEL_ZH, csv_bytes, report_json, xlsx_bytes
from bridge.reports.online_rate import MAX_DAYS, Metric, Per, PeriodError, period
from bridge.store import StoreError
from bridge.web.app_context import context_of
from bridge.web.context import deny, principal_of
from bridge.web.principal import Principal, Role

__all__ = ["MAX_DAYS", "REPORT_GATE", "WAIT_S", "feature", "parse_day", "routes", "visible_areas"]

WAIT_S = 30.0
DEFAULT_BARS = 30
MAX_BARS = 500
JSON = "application/json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NO_STORE = "private, no-store"  # a report is as of now, and scoped to who asked
# An SVG opened on its own is a document: it may run nothing and fetch nothing.
SVG_HEADERS = {
    "Cache-Control": NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}
READERS = (Role.ADMIN, Role.OPERATOR)

routes = web.RouteTableDef()

# One report computed at a time, by the API and the page together.
REPORT_GATE = web.AppKey("gridbridge.reports.gate", asyncio.Semaphore)


def feature(app: web.Application) -> None:
    """Add the report routes (and their one-at-a-time gate) to the application."""
    if REPORT_GATE not in app:  # the reports page may have made it already
        app[REPORT_GATE] = asyncio.Semaphore(1)
    app.add_routes(routes)


def _fail(status: type[web.HTTPException], message: str, **headers: str) -> NoReturn:
    body = json.dumps({"error": message}, ensure_ascii=False)
    raise status(text=body, content_type=JSON, headers=headers or None)


def _bad(message: str) -> NoReturn:
    _fail(web.HTTPBadRequest, message)


def _choice(request: web.Request, key: str, choices: Sequence[str], default: str | None) -> str:
    raw = request.query.get(key, "")
    if raw == "" and default is not None:
        return default
    if raw not in choices:
        shown = repr(raw[:32]) if raw else "missing"
        _bad(f"参数错误 / {key}: {shown}; one of {', '.join(choices)}")
    return raw


def parse_day(text: str) -> date | None:
    """``YYYY-MM-DD`` as a date; None for anything else."""
    if len(text) != len("YYYY-MM-DD"):  # fromisoformat takes 20261101 and 2026-W44-1 too
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _date(request: web.Request, key: str) -> date:
    raw = request.query.get(key, "")
    day = parse_day(raw)
    if day is not None:
        return day
    shown = repr(raw[:32]) if raw else "missing"
    _bad(f"日期错误 / {key}: {shown}; a date YYYY-MM-DD (China time)")


def visible_areas(principal: Principal) -> Visible | None:
    """Which areas ``principal`` may see (None: all)."""
    if principal.is_admin:
        return None

    def sees(_: Area, codes: Sequence[str]) -> bool:
        if not codes:
            return False  # 未关联网格: admins only
        try:
            path = path_of(codes[-1], list(codes))
        except ValueError:  # a code no topic can carry: no camera is published there
            return False
        return principal.sees_cell(path)

    return sees


async def _report(request: web.Request, *, per: Per | None = None) -> Report:
    principal = principal_of(request)
    if principal.role not in READERS:
        deny("reports are for admins and operators")
    by = Level(_choice(request, "by", [level.value for level in Level], None))
    first, last = _date(request, "from"), _date(request, "to")
    if per is None:
        per = cast(Per, _choice(request, "per", ("day", "month", "total"), "total"))
    metric = cast(Metric, _choice(request, "rank", ("online", "intact"), "online"))
    ctx = context_of(request)
    now = ctx.now()
    try:
        period(first, last, now)  # told at once, not after waiting for another report
    except PeriodError as exc:
        _bad(f"日期错误 / from {first} to {last}: {exc}")
    gate = request.app[REPORT_GATE]
    try:
        async with asyncio.timeout(WAIT_S):
            await gate.acquire()
    except TimeoutError:
        _fail(
            web.HTTPServiceUnavailable,
            "报表计算中，请稍后再试 / another report is being computed; try again",
            **{"Retry-After": "10"},
        )
    try:
        return await online_rate_report(
            ctx.store,
            first,
            last,
            by,
            per=per,
            metric=metric,
            now=now,
            visible=visible_areas(principal),
        )
    except StoreError:
        _fail(web.HTTPServiceUnavailable, "数据库不可用 / the store is unavailable")
    finally:
        gate.release()


def _download(
    report: Report, body: bytes, suffix: str, content_type: str, charset: str | None = None
) -> web.Response:
    p = report.period
    name = f"online-rate-{report.by.value}-{report.per}-{p.first}-{p.last}.{suffix}"
    return web.Response(
        body=body,
        content_type=content_type,
        charset=charset,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": NO_STORE,
        },
    )


@routes.get("/api/reports/online-rate")
async def online_rate(request: web.Request) -> web.Response:
    fmt = _choice(request, "format", ("json", "csv", "xlsx"), "json")
    report = await _report(request)
    if fmt == "csv":  # tens of thousands of rows for a year by day: off the event loop
        body = await asyncio.to_thread(csv_bytes, report)
        return _download(report, body, "csv", "text/csv", "utf-8")
    if fmt == "xlsx":
        body = await asyncio.to_thread(xlsx_bytes, report)
        return _download(report, body, "xlsx", XLSX)
    text = await asyncio.to_thread(_json_text, report)  # as large as the CSV: off the loop
    return web.json_response(text=text, headers={"Cache-Control": NO_STORE})


def _json_text(report: Report) -> str:
    return json.dumps(report_json(report), ensure_ascii=False)


def chart_title(report: Report) -> str:
    p = report.period
    metric = "在线率" if report.metric == "online" else "完好率"
    return f"{metric}排名（差者在前） {p.first} 至 {p.last} · 按{LEVEL_ZH[report.by.value]}"


@routes.get("/api/reports/online-rate.svg")
async def online_rate_svg(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "")
    try:
        limit = int(raw) if raw else DEFAULT_BARS
    except ValueError:
        _bad(f"参数错误 / limit: {raw[:32]!r}; a number from 1 to {MAX_BARS}")
    if not 1 <= limit <= MAX_BARS:
        _bad(f"参数错误 / limit: {limit}; from 1 to {MAX_BARS}")
    report = await _report(request, per="total")
    bars = [Bar(row.area.name, row.tally.rate(report.metric)) for row in report.rows[:limit]]
    svg = bar_chart(bars, title=chart_title(report))
    return web.Response(text=svg, content_type="image/svg+xml", headers=SVG_HEADERS)
