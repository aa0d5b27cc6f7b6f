"""The reports page (issue 7, item 6): 在线率 and 完好率 of the principal's scope, as a
ranking table, a bar chart and export links (docs/reports.md, docs/web-ui.md).

    GET /reports?by=township|village|grid&from=YYYY-MM-DD&to=YYYY-MM-DD
                 &per=total|day|month&rank=online|intact

Every parameter has a default: this month so far (China time), the whole period, ranked by
在线率, rows one level below the principal's scope (an admin: townships; an operator of a
township: its villages; of a village or a grid: grids).  The numbers are those of
``GET /api/reports/online-rate`` — the same computation (`online_rate_report`), the same
scoping (an operator sees only the areas at or below its scope; 未关联网格 is for admins)
and the same one-report-at-a-time gate; crews get 403 as from the API.

The page computes the report once and draws both the table and the chart from it (the
chart is `bridge.reports.chart`, inline: no second computation for an ``<img>``).  The chart
ranks the whole period; for a report per day or month the areas' days are summed for it.
A bad date or period is said on the page beside the form (400), a busy or failing store
too (503) — never a traceback.  Exports link the API with the same parameters and
``format=csv|xlsx``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Final, cast
from urllib.parse import urlencode

from aiohttp import web

from bridge.model import Level
from bridge.reports.areas import Bucket, ReportRow, rank
from bridge.reports.chart import Bar, bar_chart
from bridge.reports.compute import Report, online_rate_report
from bridge.reports.export import DEFINITIONS
from bridge.reports.online_rate import (
    MAX_DAYS,
    Metric,
    Per,
    PeriodError,
    china_midnight,
)
from bridge.store import StoreError
from bridge.web import reports_api
from bridge.web.app_context import WebContext, context_of
from bridge.web.context import principal_of
from bridge.web.principal import Principal
from bridge.web.templating import error_page, render
from bridge.workorders.webhook_format import CHINA_TZ

__all__ = ["CHART_BARS", "MAX_LINES", "Choice", "Line", "feature", "routes", "whole_period"]

log = logging.getLogger(__name__)

CHART_BARS: Final = 30  # as the API's chart: the 30 worst areas
MAX_LINES: Final = 500  # a year by grid per day is 80,000 lines: the table stops, exports do not
API: Final = "/api/reports/online-rate"
PERS: Final = ("total", "day", "month")
METRICS: Final = ("online", "intact")
# Definitions in English, term by term as `bridge.reports.export.DEFINITIONS` (Chinese,
# the XLSX's 说明 sheet), which the Chinese page shows.
DEFINITIONS_EN: Final = (
    ("Monitored time", "Time in which the camera's state is known (not “not checked”), "
     "from its first check and its entry into the inventory on."),
    ("Online time", "Monitored time in which the camera answers on the network "
     "(online or degraded)."),
    ("Intact time", "Online time in which its picture is usable and right: no picture "
     "fault, no stream or login fault."),
    ("Online rate", "Online time ÷ monitored time."),
    ("Intact rate", "Intact time ÷ monitored time."),
    ("Days", "China-time (UTC+8) calendar days and months; up to the moment the report "
     "is made at the latest."),
    ("Several grids", "A camera linked to several grids counts in each of them, and once "
     "in a village, township or total holding them."),
    ("Not in any grid", "Cameras linked to no grid cell form their own line, 未关联网格."),
    ("Monitoring gaps", "While gridbridge was not running (stopped, restarting, power cut) "
     "nobody watched: that time is not monitored time."),
)  # fmt: skip

routes = web.RouteTableDef()


def feature(app: web.Application) -> None:
    """Add the reports page (a `bridge.web.server.Feature`); shares the API's gate when
    the API is there, else has its own."""
    if reports_api.REPORT_GATE not in app:  # shared with the API: one report at a time
        app[reports_api.REPORT_GATE] = asyncio.Semaphore(1)
    app.add_routes(routes)


@dataclass(frozen=True, slots=True)
class Choice:
    """The report asked for, as the form shows it (``from_text``/``to_text`` as typed)."""

    by: str
    from_text: str
    to_text: str
    per: str
    rank: str
    levels: tuple[str, ...]  # the levels offered

    def query(self, **extra: str) -> str:
        return urlencode(
            {"by": self.by, "from": self.from_text, "to": self.to_text, "per": self.per,
             "rank": self.rank, **extra}
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the table: an area in a day, month or the period, or the total line
    (``total``) after each."""

    rank: int | None
    name: str
    code: str  # "_" for 未关联网格, "" for a total line
    period: str
    cameras: int
    monitored_h: float
    online: float | None
    intact: float | None
    total: bool


class _Chart:
    """The chart's SVG for the page, inserted whole: `bridge.reports.chart` escapes every
    name it draws (as the map does, it says so through ``__html__``)."""

    def __init__(self, svg: str) -> None:
        self._svg = svg

    def __html__(self) -> str:
        return self._svg


def _scope_level(ctx: WebContext, principal: Principal) -> Level | None:
    if principal.is_admin or principal.scope is None:
        return None
    cell = ctx.directory.cell(principal.scope)
    return cell.level if cell is not None else Level.GRID


def _levels(scope: Level | None) -> tuple[str, ...]:
    """The levels that have rows for a scope at ``scope`` (an admin: every level)."""
    depth = scope.depth if scope is not None else 0
    return tuple(level.value for level in Level if level.depth >= depth)


def _default_by(scope: Level | None) -> str:
    if scope is None:
        return Level.TOWNSHIP.value
    below = [level for level in Level if level.depth == scope.depth + 1]
    return (below[0] if below else scope).value


def read_choice(
    query: Mapping[str, str], scope: Level | None, today: date
) -> tuple[Choice, tuple[date, date] | None, str | None]:
    """The form's values, the dates when good, and the strings-table key of what is wrong
    (None: nothing).  A choice that is not offered falls back to its default."""
    levels = _levels(scope)
    by = query.get("by", "")
    if by not in levels:
        by = _default_by(scope)
    per = query.get("per", "")
    per = per if per in PERS else "total"
    metric = query.get("rank", "")
    metric = metric if metric in METRICS else "online"
    from_text = query.get("from", "").strip()[:32] or today.replace(day=1).isoformat()
    to_text = query.get("to", "").strip()[:32] or today.isoformat()
    choice = Choice(by, from_text, to_text, per, metric, levels)
    first, last = reports_api.parse_day(from_text), reports_api.parse_day(to_text)
    if first is None or last is None:
        return choice, None, "report.bad_date"
    if last < first:
        return choice, None, "report.bad_order"
    if (last - first).days + 1 > MAX_DAYS:
        return choice, None, "report.too_long"
    if first > today:
        return choice, None, "report.not_begun"
    return choice, (first, last), None


class _Busy(Exception):
    pass


async def _compute(
    request: web.Request, choice: Choice, first: date, last: date, now: datetime
) -> Report:
    ctx = context_of(request)
    gate = request.app[reports_api.REPORT_GATE]
    try:
        async with asyncio.timeout(reports_api.WAIT_S):
            await gate.acquire()
    except TimeoutError:
        raise _Busy from None
    try:
        return await online_rate_report(
            ctx.store,
            first,
            last,
            Level(choice.by),
            per=cast(Per, choice.per),
            metric=cast(Metric, choice.rank),
            now=now,
            visible=reports_api.visible_areas(principal_of(request)),
        )
    finally:
        gate.release()


def lines_of(report: Report) -> list[Line]:
    """The rows, each day's (month's, period's) total line after its rows."""
    totals = {row.bucket: row for row in report.totals}
    out: list[Line] = []
    rows = report.rows
    for i, row in enumerate(rows):
        out.append(_line(row, total=False))
        following = rows[i + 1] if i + 1 < len(rows) else None
        if (following is None or following.bucket != row.bucket) and row.bucket in totals:
            out.append(_line(totals.pop(row.bucket), total=True))
    return out


def _line(row: ReportRow, *, total: bool) -> Line:
    t = row.tally
    return Line(
        rank=row.rank,
        name=row.area.name,
        code="" if total else row.area.code,
        period=row.bucket.label,
        cameras=row.cameras,
        monitored_h=t.monitored_us / 3_600_000_000,
        online=t.online_rate,
        intact=t.intact_rate,
        total=total,
    )


def whole_period(report: Report) -> list[ReportRow]:
    """The areas over the whole period, ranked worst first: the report's rows when it is
    per total, else each area's days or months summed (``monitored_cameras`` is then the
    most of any one bucket: the chart does not use it)."""
    if report.per == "total":
        return list(report.rows)
    p = report.period
    bucket = Bucket(f"{p.first.isoformat()}~{p.last.isoformat()}", p.first, p.last)
    sums: dict[str, ReportRow] = {}
    for row in report.rows:
        seen = sums.get(row.area.code)
        if seen is None:
            sums[row.area.code] = replace(row, bucket=bucket, rank=None)
        else:
            sums[row.area.code] = replace(
                seen,
                tally=seen.tally + row.tally,
                monitored_cameras=max(seen.monitored_cameras, row.monitored_cameras),
            )
    return rank(sums.values(), report.metric)


def chart_of(report: Report, title: str, unmapped: str) -> tuple[_Chart, int]:
    """The chart of the worst `CHART_BARS` areas, and how many it shows."""
    ranked = whole_period(report)[:CHART_BARS]
    bars: Sequence[Bar] = [
        Bar(unmapped if row.area.code == "_" else row.area.name, row.tally.rate(report.metric))
        for row in ranked
    ]
    return _Chart(bar_chart(bars, title=title, width=960)), len(bars)


@routes.get("/reports")
async def reports_page(request: web.Request) -> web.Response:
    ctx = context_of(request)
    principal = principal_of(request)
    now = ctx.now()
    if principal.role not in reports_api.READERS:
        return error_page(request, 403, now=now)
    scope = _scope_level(ctx, principal)
    today = now.astimezone(CHINA_TZ).date()
    choice, dates, problem = read_choice(request.query, scope, today)
    status = 400 if problem else 200
    report: Report | None = None
    if dates is not None:
        first, last = dates
        if china_midnight(first) >= now:  # today's midnight, to the microsecond
            problem, status = "report.not_begun", 400
        else:
            try:
                report = await _compute(request, choice, first, last, now)
            except _Busy:
                problem, status = "report.busy", 503
            except PeriodError:
                problem, status = "report.bad_date", 400
            except StoreError as exc:
                log.warning("report for %s not computed: %s", principal.name, exc)
                problem, status = "report.store", 503
    scope_cell = (
        ctx.directory.cell(principal.scope) if scope is not None and principal.scope else None
    )
    return render(
        request,
        "reports.html",
        status=status,
        now=now,
        choice=choice,
        problem=problem,
        max_days=MAX_DAYS,
        today=today.isoformat(),
        scope_cell=scope_cell,
        report=report,
        down_hours=sum((e - b).total_seconds() for b, e in report.down) / 3600 if report else 0,
        lines=lines_of(report) if report is not None else [],
        max_lines=MAX_LINES,
        chart_of=chart_of,
        definitions_zh=DEFINITIONS,
        definitions_en=DEFINITIONS_EN,
        api=API,
    )
