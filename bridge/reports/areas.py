"""A report's rows: cameras grouped into areas (township, village, grid; 未关联网格), their
days summed per area and per day, month or the whole period, ranked worst first (pure: no
I/O, asyncio or SQL; docs/reports.md).  One camera's days: `bridge.reports.online_rate`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from bridge.model import Level
from bridge.reports.online_rate import Metric, Per, Period, Tally

__all__ = [
    "UNMAPPED",
    "Aggregator",
    "Area",
    "Bucket",
    "ReportRow",
    "aggregate",
    "buckets",
    "group_cameras",
    "lineage",
    "overall_group",
    "rank",
]


@dataclass(frozen=True, slots=True)
class Area:
    """A row's area: a cell of the grid map (``level`` township, village or grid) or the
    cameras linked to no cell of the map (`UNMAPPED`)."""

    code: str
    name: str
    level: str
    parent: str | None = None


UNMAPPED = Area("_", "未关联网格", "unmapped")
"""The row of cameras linked to no cell of the grid map (``_``, as on the bus)."""

_DEPTH = {level.value: level.depth for level in Level}


def lineage(cells: Mapping[str, Area], code: str) -> list[str]:
    """Codes from the topmost cell of the map down to ``code`` itself (``[]`` when unknown).
    Only a parent one level up counts, as in `bridge.grid.GridIndex.ancestors`."""
    cell = cells.get(code)
    path: list[str] = []
    while cell is not None:
        path.append(cell.code)
        parent = cells.get(cell.parent) if cell.parent is not None else None
        if parent is None or _DEPTH.get(parent.level) != _DEPTH.get(cell.level, 0) - 1:
            break
        cell = parent
    path.reverse()
    return path


def group_cameras(
    cells: Sequence[Area], links: Mapping[str, Collection[str]], by: Level
) -> dict[str, tuple[Area, frozenset[str]]]:
    """area code → (area, its cameras) for the areas of level ``by`` that have cameras, in
    the map's order, then `UNMAPPED` when some camera is linked to no cell of the map.

    ``links`` maps every camera of the report to the cell codes it is linked to.  A camera
    counts in each area at or above any of its cells (once per area, however many of its
    cells lie in it); a camera linked only above ``by`` (to a village, in a grid report)
    counts in no row of that report.
    """
    by_code = {cell.code: cell for cell in cells}
    paths: dict[str, list[str]] = {}
    members: dict[str, set[str]] = {}
    unmapped: set[str] = set()
    for camera_id, codes in links.items():
        mapped = False
        for code in codes:
            path = paths.get(code)
            if path is None:
                path = paths[code] = lineage(by_code, code)
            if not path:
                continue  # a stale link to a cell no longer in the map
            mapped = True
            for above in path:
                if by_code[above].level == by.value:
                    members.setdefault(above, set()).add(camera_id)
        if not mapped:
            unmapped.add(camera_id)
    groups = {
        cell.code: (cell, frozenset(members[cell.code])) for cell in cells if cell.code in members
    }
    if unmapped:
        groups[UNMAPPED.code] = (UNMAPPED, frozenset(unmapped))
    return groups


@dataclass(frozen=True, slots=True)
class Bucket:
    """A row's time: a day (``2026-11-03``), a month (``2026-11``) or the whole period
    (``2026-11-01~2026-11-30``), with the days it covers within the period."""

    label: str
    first: date
    last: date


def buckets(within: Period, per: Per) -> list[tuple[Bucket, list[date]]]:
    """The buckets of ``within`` with their days, in order (none before the period began)."""
    days = within.days
    if not days:
        return []
    if per == "day":
        return [(Bucket(d.isoformat(), d, d), [d]) for d in days]
    if per == "total":
        label = f"{within.first.isoformat()}~{within.last.isoformat()}"
        return [(Bucket(label, days[0], days[-1]), days)]
    months: dict[str, list[date]] = {}
    for d in days:
        months.setdefault(f"{d.year:04d}-{d.month:02d}", []).append(d)
    return [(Bucket(label, ds[0], ds[-1]), ds) for label, ds in months.items()]


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One area in one bucket: ``cameras`` counted in the area, ``monitored_cameras`` of
    them with monitored time in the bucket, their summed time; ``rank`` within the bucket,
    worst first (``None`` without monitored time)."""

    area: Area
    bucket: Bucket
    cameras: int
    monitored_cameras: int
    tally: Tally
    rank: int | None = None


class Aggregator:
    """Sums cameras' days (`camera_days`) into rows per area and bucket, one camera at a
    time: memory holds the rows' sums, not the district's days.

    ``groups`` maps area codes to (area, its cameras), as `group_cameras` gives them; a
    camera added that is in no group is ignored.  Each camera is added at most once.
    """

    def __init__(
        self, groups: Mapping[str, tuple[Area, Collection[str]]], within: Period, per: Per
    ) -> None:
        self._spans = buckets(within, per)
        self._bucket_of = {d: i for i, (_, days) in enumerate(self._spans) for d in days}
        self._areas = [(area, len(cameras)) for area, cameras in groups.values()]
        # per area, per bucket: monitored, online, intact, cameras with monitored time
        self._sums = [[[0, 0, 0, 0] for _ in self._spans] for _ in self._areas]
        self._areas_of: dict[str, list[int]] = {}
        for i, (_, cameras) in enumerate(groups.values()):
            for camera_id in cameras:
                self._areas_of.setdefault(camera_id, []).append(i)

    def add(self, camera_id: str, days: Mapping[date, Tally]) -> None:
        """Add one camera's days (days outside the period are ignored)."""
        areas = self._areas_of.get(camera_id)
        if not areas or not days:
            return
        mine = [[0, 0, 0] for _ in self._spans]
        for d, t in days.items():
            i = self._bucket_of.get(d)
            if i is not None:
                cell = mine[i]
                cell[0] += t.monitored_us
                cell[1] += t.online_us
                cell[2] += t.intact_us
        for b, (m, o, i) in enumerate(mine):
            if not m:
                continue
            for area in areas:
                total = self._sums[area][b]
                total[0] += m
                total[1] += o
                total[2] += i
                total[3] += 1

    def rows(self) -> list[ReportRow]:
        """One row per area and bucket: areas in the groups' order, buckets in time order."""
        return [
            ReportRow(area, bucket, cameras, n, Tally(m, o, i))
            for (area, cameras), sums in zip(self._areas, self._sums, strict=True)
            for (bucket, _), (m, o, i, n) in zip(self._spans, sums, strict=True)
        ]


def aggregate(
    groups: Mapping[str, tuple[Area, Collection[str]]],
    per_camera: Mapping[str, Mapping[date, Tally]],
    within: Period,
    per: Per,
) -> list[ReportRow]:
    """`Aggregator` over every camera of ``per_camera`` at once (absent cameras have no
    monitored time)."""
    sums = Aggregator(groups, within, per)
    for camera_id, days in per_camera.items():
        sums.add(camera_id, days)
    return sums.rows()


def overall_group(
    groups: Mapping[str, tuple[Area, Collection[str]]], area: Area
) -> dict[str, tuple[Area, frozenset[str]]]:
    """One group of every camera of ``groups``, each once (a camera in two areas counts once
    here), under ``area``: for a report's total line."""
    cameras = frozenset().union(*(members for _, members in groups.values()))
    return {area.code: (area, cameras)}


def rank(rows: Iterable[ReportRow], metric: Metric = "online") -> list[ReportRow]:
    """The rows by bucket (in time order), worst first within each: lowest rate of
    ``metric``, then of the other rate, then by code; rows without monitored time last and
    unranked.  Ranks count from 1 in each bucket."""
    other: Metric = "intact" if metric == "online" else "online"
    keyed = []
    for row in rows:
        first = row.tally.rate(metric)
        second = row.tally.rate(other)
        keyed.append(
            (
                (row.bucket.first, first is None, first or 0.0, second or 0.0, row.area.code),
                row,
            )
        )
    keyed.sort(key=lambda item: item[0])
    out: list[ReportRow] = []
    place, bucket = 0, None
    for _, row in keyed:
        if row.bucket != bucket:
            place, bucket = 0, row.bucket
        if row.tally.monitored_us:
            place += 1
            out.append(replace(row, rank=place))
        else:
            out.append(replace(row, rank=None))
    return out
