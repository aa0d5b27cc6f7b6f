"""One 在线率/完好率 report from the store: the glue between `Store.report_data` and the pure
core (`bridge.reports.online_rate`), shared by ``gridbridge report online-rate`` and
``GET /api/reports/online-rate`` so both give the same numbers.

Each camera's history is folded into per-day seconds as it streams out of the store and
added at once to the sums of its areas: memory holds one camera's month and the rows' sums,
never the district's transitions or days.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bridge.model import Level
from bridge.reports.areas import (
    Aggregator,
    Area,
    ReportRow,
    group_cameras,
    lineage,
    overall_group,
    rank,
)
from bridge.reports.online_rate import (
    CameraHistory,
    Metric,
    Per,
    Period,
    Watched,
    camera_days,
    period,
)
from bridge.runs import down_spans
from bridge.store import Store
from bridge.store.reports import HistoryReader, ReportInventory

__all__ = ["TOTAL", "Report", "Visible", "online_rate_report"]

TOTAL = Area("", "合计", "total")
"""The area of a report's total line: every camera of its rows, each once."""

Visible = Callable[[Area, Sequence[str]], bool]
"""Whether a row's area may be shown, given the area and its codes from the township down
(empty for `UNMAPPED <bridge.reports.areas.UNMAPPED>`)."""


@dataclass(frozen=True, slots=True)
class Report:
    """A ranked report: ``rows`` by bucket, worst first; ``totals`` one line per bucket."""

    period: Period
    by: Level
    per: Per
    metric: Metric
    rows: tuple[ReportRow, ...]
    totals: tuple[ReportRow, ...]
    generated_at: datetime
    transitions: int  # transitions read from the log
    # When the daemon was not running within the period (not monitored time), in order.
    down: tuple[tuple[datetime, datetime], ...] = ()


async def online_rate_report(
    store: Store,
    first: date,
    last: date,
    by: Level,
    *,
    per: Per = "total",
    metric: Metric = "online",
    now: datetime,
    visible: Visible | None = None,
) -> Report:
    """The report of the China-time days ``first`` to ``last`` (both included; up to
    ``now``) by ``by``, per ``per``, ranked by ``metric``; only the areas ``visible``
    allows (default: all).  Raises `bridge.reports.online_rate.PeriodError` for a period
    that cannot be reported and `bridge.store.StoreError` when the store fails."""
    within = period(first, last, now)
    sums: list[Aggregator] = []
    down: list[tuple[datetime, datetime]] = []

    def begin(inv: ReportInventory) -> HistoryReader:
        groups = group_cameras(inv.cells, inv.links, by)
        if visible is not None:
            cells = {cell.code: cell for cell in inv.cells}
            groups = {
                code: group
                for code, group in groups.items()
                if visible(group[0], lineage(cells, code))
            }
        areas = Aggregator(groups, within, per)
        total = Aggregator(overall_group(groups, TOTAL), within, per)
        sums.extend((areas, total))
        watched = Watched(inv.watched) if inv.watched is not None else None
        down.extend(down_spans(inv.watched, within.start, within.end))

        def fold(history: CameraHistory) -> None:
            days = camera_days(history, within, watched)
            areas.add(history.camera_id, days)
            total.add(history.camera_id, days)

        # An operator's report reads the cameras of its areas only (a grid's, not 20,000).
        wanted = None if visible is None else {c for _, cams in groups.values() for c in cams}
        return HistoryReader(fold, wanted)

    _, read = await store.report_data(within.start, within.end, begin)
    areas, total = sums
    rows = rank(areas.rows(), metric)
    return Report(within, by, per, metric, tuple(rows), tuple(total.rows()), now, read, tuple(down))
