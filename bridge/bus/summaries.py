"""Counts of cameras by state per grid, village and township (pure; DESIGN §4).

A summary is keyed by the :class:`~bridge.bus.topics.GridPath` of the cell it counts:
``t/v/g`` for a grid cell, ``t/v/_`` for a village, ``t/_/_`` for a township.  A camera
counts once in every cell it reaches through its links: a camera linked to two grids counts
in both grids, but once in a village or township it reaches twice.  A camera linked to a
village directly counts in that village and its township, in no grid.  Unmapped cameras
count in no summary.

:class:`Summaries` keeps the counts of a whole district and updates them per transition in
O(depth) — a 20,000-camera district pays a few dict look-ups per state change — and says
which summaries changed, so that only those are published.  :func:`aggregate` computes the
same counts in one pass; tests hold the two to each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from bridge.bus.topics import PLACEHOLDER, UNMAPPED, GridPath
from bridge.model import CameraState

__all__ = [
    "STATES",
    "Counts",
    "Summaries",
    "aggregate",
    "changed_summaries",
    "online_rate",
    "summary_keys",
]

STATES: tuple[str, ...] = ("online", "degraded", "offline", "unknown")
"""The states counted, in payload order."""

_INDEX = {state: i for i, state in enumerate(STATES)}


def _state_index(state: str) -> int:
    try:
        return _INDEX[CameraState(state).value]
    except ValueError:
        raise ValueError(f"unknown camera state {state!r}") from None


@dataclass(frozen=True, slots=True)
class Counts(Mapping[str, int]):
    """Cameras per state in one cell.  A read-only mapping ``state → count`` over
    :data:`STATES` too, so it goes straight into ``payloads.summary_payload``."""

    online: int = 0
    degraded: int = 0
    offline: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        """Every camera counted, whatever its state."""
        return self.online + self.degraded + self.offline + self.unknown

    @property
    def online_rate(self) -> float | None:
        """See :func:`online_rate`."""
        return online_rate(self)

    def __getitem__(self, state: str) -> int:
        if state not in _INDEX:
            raise KeyError(state)
        value: int = getattr(self, state)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(STATES)

    def __len__(self) -> int:
        return len(STATES)


def online_rate(counts: Mapping[str, int]) -> float | None:
    """在线率: ``online / (total - unknown)`` — cameras never checked are not held against
    anyone — or ``None`` when no camera has a known state.  Missing states count 0."""
    known = sum(counts.get(state, 0) for state in STATES if state != "unknown")
    return counts.get("online", 0) / known if known else None


def summary_keys(paths: Iterable[GridPath]) -> frozenset[GridPath]:
    """The summaries a camera published under ``paths`` counts in: each grid path that
    names a grid cell, each village ``t/v/_`` and each township ``t/_/_`` reached, once."""
    keys: set[GridPath] = set()
    for path in paths:
        if path.town == PLACEHOLDER:
            continue
        keys.add(path)  # the cell itself, whatever its level
        if path.village != PLACEHOLDER:
            keys.add(GridPath(path.town, path.village, PLACEHOLDER))
        keys.add(GridPath(path.town, PLACEHOLDER, PLACEHOLDER))
    return frozenset(keys)


def aggregate(cameras: Iterable[tuple[Iterable[GridPath], str]]) -> dict[GridPath, Counts]:
    """Counts per cell of every camera given as ``(paths, state)``; only cells some camera
    reaches appear.  Raises ``ValueError`` for an unknown state."""
    totals: dict[GridPath, list[int]] = {}
    for paths, state in cameras:
        i = _state_index(state)
        for key in summary_keys(paths):
            totals.setdefault(key, [0, 0, 0, 0])[i] += 1
    return {key: Counts(*row) for key, row in totals.items()}


def changed_summaries(
    before: Mapping[GridPath, Counts], after: Mapping[GridPath, Counts]
) -> dict[GridPath, Counts | None]:
    """What to publish to go from ``before`` to ``after``: each summary whose counts differ
    or that is new, with its new counts, and ``None`` for each one that disappeared (clear
    its retained message).  Sorted by path."""
    changed: dict[GridPath, Counts | None] = {}
    for key in sorted(before.keys() | after.keys()):
        new = after.get(key)
        if before.get(key) != new:
            changed[key] = new
    return changed


class Summaries:
    """The counts of a whole district, kept up to date camera by camera.

    Cells in ``keep`` (e.g. every cell of the grid map) always have a summary, zeros when no
    camera reaches them, so that every workstation sees one; other cells have one while at
    least one camera reaches them.  Mutators return the summaries they changed (``None``:
    the summary no longer exists), sorted by path; nothing is returned for cells whose
    counts stayed the same.
    """

    def __init__(self, keep: Iterable[GridPath] = ()) -> None:
        self._keep = frozenset(key for key in keep if key != UNMAPPED)
        self._rows: dict[GridPath, list[int]] = {key: [0, 0, 0, 0] for key in self._keep}
        self._cameras: dict[str, tuple[frozenset[GridPath], int]] = {}

    def __len__(self) -> int:
        """Number of cameras known."""
        return len(self._cameras)

    def __contains__(self, camera_id: object) -> bool:
        return camera_id in self._cameras

    def state_of(self, camera_id: str) -> str | None:
        """The state recorded for a camera, ``None`` when it is not known."""
        entry = self._cameras.get(camera_id)
        return STATES[entry[1]] if entry is not None else None

    def get(self, key: GridPath) -> Counts | None:
        """The counts of one cell, ``None`` when it has no summary."""
        row = self._rows.get(key)
        return Counts(*row) if row is not None else None

    def all(self) -> dict[GridPath, Counts]:
        """Every summary, sorted by path: what to re-publish after a reconnect."""
        return {key: Counts(*self._rows[key]) for key in sorted(self._rows)}

    def set_camera(
        self, camera_id: str, paths: Iterable[GridPath], state: str
    ) -> dict[GridPath, Counts | None]:
        """Add a camera, or move it (new links) and/or set its state.  Use at start-up and
        when an import changes links; use :meth:`update` for transitions.  Raises
        ``ValueError`` for an unknown state (nothing is changed)."""
        keys = summary_keys(paths)
        index = _state_index(state)
        old = self._cameras.get(camera_id)
        touched = keys | old[0] if old is not None else keys
        before = {key: self.get(key) for key in touched}
        if old is not None:
            self._apply(old[0], old[1], -1)
        self._apply(keys, index, +1)
        self._cameras[camera_id] = (keys, index)
        return self._changed(before)

    def remove(self, camera_id: str) -> dict[GridPath, Counts | None]:
        """Forget a camera (deleted from the inventory).  Unknown IDs change nothing."""
        old = self._cameras.pop(camera_id, None)
        if old is None:
            return {}
        before = {key: self.get(key) for key in old[0]}
        self._apply(old[0], old[1], -1)
        return self._changed(before)

    def update(self, camera_id: str, old_state: str, new_state: str) -> dict[GridPath, Counts]:
        """Record a transition; return the summaries whose counts changed (none when the
        state did not change, e.g. only the faults did).

        Raises ``KeyError`` for a camera not added with :meth:`set_camera`, and
        ``ValueError`` for an unknown state or when ``old_state`` is not the state recorded
        for the camera (the caller's view has drifted; nothing is changed).
        """
        keys, current = self._cameras[camera_id]
        old_index, new_index = _state_index(old_state), _state_index(new_state)
        if old_index != current:
            raise ValueError(
                f"camera {camera_id}: transition from {old_state!r} but its recorded state is "
                f"{STATES[current]!r}"
            )
        if new_index == current:
            return {}
        self._cameras[camera_id] = (keys, new_index)
        changed: dict[GridPath, Counts] = {}
        for key in sorted(keys):
            row = self._rows[key]
            row[current] -= 1
            row[new_index] += 1
            changed[key] = Counts(*row)
        return changed

    def _apply(self, keys: frozenset[GridPath], index: int, delta: int) -> None:
        for key in keys:
            row = self._rows.setdefault(key, [0, 0, 0, 0])
            row[index] += delta
            if delta < 0 and not any(row) and key not in self._keep:
                del self._rows[key]

    def _changed(self, before: dict[GridPath, Counts | None]) -> dict[GridPath, Counts | None]:
        """The summaries among ``before``'s keys whose counts now differ, sorted."""
        changed: dict[GridPath, Counts | None] = {}
        for key in sorted(before):
            now = self.get(key)
            if now != before[key]:
                changed[key] = now
        return changed
