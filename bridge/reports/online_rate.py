"""在线率 and 完好率 from the transition log: one camera's time per China-time day (pure: no
I/O, asyncio or SQL; docs/reports.md).  Areas, sums and ranking: `bridge.reports.areas`.

What counts, for one camera at one moment, from its state and faults as last logged (the
published state: while a camera is flapping, the state held):

- **monitored** (监测): its state is known — not ``unknown`` (never checked since it was
  added).  A camera counts from its first logged state on, and never before it entered the
  inventory (``added_at``: a camera removed and imported again starts afresh).
- **在线** (online time): monitored, and it answers on the network: state ``online`` or
  ``degraded``.  The verdict (`health.verdict.judge`) makes a camera ``offline`` exactly
  when nothing answers (fault ``unreachable``); a ``degraded`` camera answers and its faults
  concern the stream, the picture, the clock or the device.
- **完好** (intact time): 在线 with a picture one can use: none of `NOT_INTACT_FAULTS` — the
  picture faults (`health.verdict.PICTURE_FAULTS`: 黑屏, 冻结, 模糊 …) and the faults that
  keep the video from being seen at all (``rtsp_error`` 视频流异常, ``auth_failed``
  鉴权失败).  ``onvif_error``, ``clock_drift`` and ``replaced`` leave the picture alone and
  do not count against it.

在线率 = 在线 time ÷ monitored time; 完好率 = 完好 time ÷ monitored time (fractions; ``None``
without monitored time).  Days are China-time (UTC+8) calendar days: they begin at 16:00
UTC.  Times are kept in whole microseconds (integers), so every sum is exact.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, NamedTuple

from bridge.model import CameraState
from bridge.workorders.webhook_format import CHINA_TZ
from health.verdict import PICTURE_FAULTS

__all__ = [
    "MAX_DAYS",
    "NOT_INTACT_FAULTS",
    "CameraHistory",
    "Metric",
    "Per",
    "Period",
    "PeriodError",
    "StateChange",
    "Tally",
    "Watched",
    "camera_days",
    "china_midnight",
    "classify",
    "period",
]

Per = Literal["day", "month", "total"]
Metric = Literal["online", "intact"]

MAX_DAYS = 366
"""Longest period of one report (a leap year)."""

NOT_INTACT_FAULTS = PICTURE_FAULTS | {"rtsp_error", "auth_failed"}
"""Faults that make 在线 time not 完好: a wrong picture, or no picture to be had."""

US_PER_S = 1_000_000
_DAY_US = 86_400 * US_PER_S
_CHINA_US = 8 * 3_600 * US_PER_S  # UTC+8, no daylight saving
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ONE_US = timedelta(microseconds=1)
_LONG_AGO = -(1 << 62)  # microseconds: before any logged time


class PeriodError(ValueError):
    """The period asked cannot be reported (message for people, names the dates)."""


class StateChange(NamedTuple):
    """One logged transition as the report reads it: from ``at`` on, this state.  (A
    named tuple: a month of a district is millions of them, made and read once.)"""

    at: datetime
    state: CameraState
    faults: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CameraHistory:
    """What the log says of one camera for a period: its last logged state before the
    period (``None``: none), the changes within it in order, and when it entered the
    inventory (``None``: unknown, no limit)."""

    camera_id: str
    initial: StateChange | None
    changes: Sequence[StateChange] = ()
    added_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Tally:
    """Monitored, 在线 and 完好 time, in whole microseconds."""

    monitored_us: int = 0
    online_us: int = 0
    intact_us: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.monitored_us + other.monitored_us,
            self.online_us + other.online_us,
            self.intact_us + other.intact_us,
        )

    @property
    def monitored_s(self) -> float:
        return self.monitored_us / US_PER_S

    @property
    def online_s(self) -> float:
        return self.online_us / US_PER_S

    @property
    def intact_s(self) -> float:
        return self.intact_us / US_PER_S

    @property
    def online_rate(self) -> float | None:
        """在线率, a fraction; ``None`` without monitored time."""
        return self.online_us / self.monitored_us if self.monitored_us else None

    @property
    def intact_rate(self) -> float | None:
        """完好率, a fraction; ``None`` without monitored time."""
        return self.intact_us / self.monitored_us if self.monitored_us else None

    def rate(self, metric: Metric) -> float | None:
        return self.online_rate if metric == "online" else self.intact_rate


def _us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: report times must carry a zone")
    return (moment - _EPOCH) // _ONE_US


def _day_no(us: int) -> int:
    """The China-time day (days since 1970-01-01) that the instant ``us`` falls in."""
    return (us + _CHINA_US) // _DAY_US


def _date(day_no: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + day_no)


def china_midnight(day: date) -> datetime:
    """The first instant of the China-time day ``day`` (16:00 UTC the day before)."""
    return datetime.combine(day, time(), CHINA_TZ).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """The days asked (``first`` to ``last``, both included) and the instants reported:
    ``start`` = ``first`` 00:00 China time, ``end`` = the end of ``last`` or *now*, whichever
    comes first."""

    first: date
    last: date
    start: datetime
    end: datetime

    @property
    def days(self) -> list[date]:
        """The China-time days with reported time, in order (up to today)."""
        if self.end <= self.start:
            return []
        first, last = _day_no(_us(self.start)), _day_no(_us(self.end) - 1)
        return [_date(n) for n in range(first, last + 1)]


def period(first: date, last: date, now: datetime) -> Period:
    """The period from ``first`` to ``last`` (China-time dates, both included), ending at
    ``now`` when that is earlier.  Raises `PeriodError` when ``last`` is before ``first``,
    the period is longer than `MAX_DAYS`, or ``first`` is after today."""
    if last < first:
        raise PeriodError(f"the period ends ({last}) before it begins ({first})")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise PeriodError(f"{first} to {last} is {days} days; at most {MAX_DAYS} per report")
    start = china_midnight(first)
    if start >= now:
        today = now.astimezone(CHINA_TZ).date()
        raise PeriodError(f"{first} has not begun yet (today is {today}, China time)")
    return Period(first, last, start, min(china_midnight(last + timedelta(days=1)), now))


_Flags = tuple[bool, bool] | None


def classify(state: CameraState, faults: Collection[str]) -> _Flags:
    """``None`` when not monitored (``unknown``), else (在线, 完好) — see the module doc."""
    if state is CameraState.UNKNOWN:
        return None
    online = state in (CameraState.ONLINE, CameraState.DEGRADED) and "unreachable" not in faults
    return online, online and NOT_INTACT_FAULTS.isdisjoint(faults)


_CLASSES: dict[tuple[CameraState, tuple[str, ...]], _Flags] = {}
_MAX_CLASSES = 4096  # distinct (state, faults) pairs remembered; a district has dozens


def _classify(change: StateChange) -> _Flags:
    key = (change.state, change.faults)
    try:
        return _CLASSES[key]
    except KeyError:
        flags = classify(*key)
        if len(_CLASSES) < _MAX_CLASSES:
            _CLASSES[key] = flags
        return flags


def _add(days: dict[int, list[int]], begin: int, end: int, flags: _Flags) -> None:
    """Add the span [begin, end) in state ``flags`` to ``days``, split at China midnights."""
    if flags is None:
        return
    online, intact = flags
    while begin < end:
        day = _day_no(begin)
        stop = min(end, (day + 1) * _DAY_US - _CHINA_US)
        span = stop - begin
        cell = days.get(day)
        if cell is None:
            cell = days[day] = [0, 0, 0]
        cell[0] += span
        if online:
            cell[1] += span
            if intact:
                cell[2] += span
        begin = stop


class Watched:
    """When the daemon was watching (`bridge.runs.watched_spans`), for `camera_days`: no
    time outside counts as monitored."""

    __slots__ = ("_begins", "_ends")

    def __init__(self, spans: Sequence[tuple[datetime, datetime]]) -> None:
        self._begins = [_us(b) for b, _ in spans]
        self._ends = [_us(e) for _, e in spans]

    def covers(self, begin: int, end: int) -> bool:
        """Whether one span holds all of [begin, end) (the daemon ran throughout)."""
        i = bisect_right(self._ends, begin)
        return i < len(self._begins) and self._begins[i] <= begin and self._ends[i] >= end

    def add(self, days: dict[int, list[int]], begin: int, end: int, flags: _Flags) -> None:
        """`_add` of the parts of [begin, end) within the spans."""
        if flags is None:
            return
        begins, ends = self._begins, self._ends
        i = bisect_right(ends, begin)  # the first span that ends after ``begin``
        while i < len(begins) and begins[i] < end:
            _add(days, max(begin, begins[i]), min(end, ends[i]), flags)
            i += 1


def camera_days(
    history: CameraHistory, within: Period, watched: Watched | None = None
) -> dict[date, Tally]:
    """Monitored, 在线 and 完好 time of one camera per China-time day of ``within`` (days
    without monitored time are absent); only within ``watched`` when given (the daemon's
    runs: while it was stopped nobody watched).

    The camera is in its ``initial`` state from the period's start and changes state at each
    change; changes are taken in the order given (one dated before its predecessor counts
    as at the same instant).  Nothing counts before ``added_at``: logged states older than
    that are ignored, so a camera added mid-period counts from its first state after it.
    """
    start, end = _us(within.start), _us(within.end)
    added = _us(history.added_at) if history.added_at is not None else _LONG_AGO
    begin = max(start, added)
    flags: _Flags = None
    initial = history.initial
    if initial is not None and _us(initial.at) >= added:
        flags = _classify(initial)
    cursor = begin
    days: dict[int, list[int]] = {}
    known = _CLASSES
    add = _add if watched is None or watched.covers(begin, end) else watched.add
    for change in history.changes:  # the hot loop of a report: kept plain
        at = (change.at - _EPOCH) // _ONE_US  # (a naive time raises TypeError here)
        if at < added:
            continue
        if at >= end:
            break
        if at > cursor:
            add(days, cursor, at, flags)
            cursor = at
        key = (change.state, change.faults)
        flags = known[key] if key in known else _classify(change)
    if end > cursor:
        add(days, cursor, end, flags)
    return {_date(n): Tally(*cell) for n, cell in sorted(days.items())}
