"""The daemon's runs: when it was watching the cameras (pure: no I/O).

A report counts a camera's time from the transition log, which records changes only; while
the daemon is stopped, or killed, nothing is recorded and nobody watches.  So the daemon
records each of its runs — when it started, that it is still alive (every
`ALIVE_EVERY_S`), when it stopped in order — and the reports count no monitored time
outside them (docs/reports.md).

A run that ended without saying so (killed, power cut) counts up to `ALIVE_GRACE_S` after
its last sign of life, and a restart quicker than that is no gap.  Time before the first
run ever recorded (a store older than this record) counts as the log says, as it always
did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

__all__ = ["ALIVE_EVERY_S", "ALIVE_GRACE_S", "MonitorRun", "down_spans", "watched_spans"]

ALIVE_EVERY_S: Final = 60.0
"""How often a running daemon says it is alive (one small row update)."""

ALIVE_GRACE_S: Final = 2 * ALIVE_EVERY_S
"""A run not ended in order counts this long after its last sign of life (a late write)."""

_GRACE: Final = timedelta(seconds=ALIVE_GRACE_S)


@dataclass(frozen=True, slots=True)
class MonitorRun:
    """One run of the daemon as the store keeps it."""

    started_at: datetime
    alive_at: datetime
    ended_at: datetime | None = None  # None: still running, or ended without a word

    @property
    def until(self) -> datetime:
        """The end of its watched time: its orderly end, else its last sign of life plus
        the grace."""
        return self.ended_at if self.ended_at is not None else self.alive_at + _GRACE


def watched_spans(
    runs: Sequence[MonitorRun], first_start: datetime | None, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]] | None:
    """The spans of [``start``, ``end``) in which the daemon watched, in order, merged
    (with the gaps of quick restarts, under `ALIVE_GRACE_S`, closed);
    ``None`` when no run was ever recorded (``first_start`` is the earliest run's start
    of all, not only of ``runs``): then all of it counts, as before runs were recorded."""
    if first_start is None:
        return None
    spans = [(start, min(end, first_start))] if first_start > start else []
    spans += [(max(run.started_at, start), min(run.until, end)) for run in runs]
    merged: list[tuple[datetime, datetime]] = []
    for begin, stop in sorted(s for s in spans if s[0] < s[1]):
        if merged and begin - merged[-1][1] < _GRACE:  # overlapping, or a quick restart
            if stop > merged[-1][1]:
                merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((begin, stop))
    return merged


def down_spans(
    watched: Sequence[tuple[datetime, datetime]] | None, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The spans of [``start``, ``end``) outside ``watched`` (`watched_spans`): when the
    daemon was not running."""
    if watched is None:
        return []
    gaps = []
    cursor = start
    for begin, stop in watched:
        if begin > cursor:
            gaps.append((cursor, begin))
        cursor = max(cursor, stop)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps
