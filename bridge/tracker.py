"""State tracking: from verdicts to transitions, with hysteresis and flapping (pure).

- ``unknown`` until the first check; the first verdict is taken as it is (DESIGN §9: every
  camera has a first state within one interval).
- Afterwards a worse state needs ``worse_after`` verdicts in a row (default 3, as GB/T 28181's
  three missed keepalives) and a better one ``better_after`` (default 2).
- A change of faults within the same state is a transition too (people see faults).
- ``flap_transitions`` state changes within ``flap_window_s`` mark the camera as flapping:
  one transition says so, then the published state is held (no transitions) until the
  camera's own state has been steady for ``flap_window_s``; then flapping ends with one
  transition to the state it settled in.
- The last known state is restored at start-up (``restore``): a restart does not make
  cameras ``unknown`` again.

Publish and log on transitions, never on every check (STYLE 8).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

from bridge.model import CameraState
from health.verdict import CameraHealth

_RANK = {
    CameraState.UNKNOWN: -1,
    CameraState.ONLINE: 0,
    CameraState.DEGRADED: 1,
    CameraState.OFFLINE: 2,
}


@dataclass(frozen=True, slots=True)
class TrackerRules:
    worse_after: int = 3
    better_after: int = 2
    flap_transitions: int = 4
    flap_window_s: float = 600.0


@dataclass(frozen=True, slots=True)
class Transition:
    """A change to publish: state and/or faults, or the start or end of flapping."""

    camera_id: str
    at: datetime
    from_state: CameraState
    to_state: CameraState
    faults: tuple[str, ...]
    flapping: bool
    reason: str


@dataclass(slots=True)
class _Track:
    state: CameraState  # published
    faults: tuple[str, ...]  # published
    since: datetime | None
    actual: CameraState  # what the camera settled in (differs from published while flapping)
    actual_faults: tuple[str, ...]
    flapping: bool = False
    candidate: CameraState | None = None
    streak: int = 0
    fails: int = 0  # offline verdicts in a row, whatever was published
    changes: deque[datetime] | None = None  # made at the first change (most never change)
    last_change: datetime | None = None


class Tracker:
    """Keeps every camera's published state; ``observe`` says when it changes."""

    def __init__(self, rules: TrackerRules) -> None:
        self._rules = rules
        self._tracks: dict[str, _Track] = {}

    def restore(
        self,
        camera_id: str,
        state: CameraState,
        faults: tuple[str, ...],
        since: datetime | None,
        flapping: bool = False,
    ) -> None:
        """Start from a state known before (the store's current state)."""
        self._tracks[camera_id] = _Track(state, faults, since, state, faults, flapping)

    def forget(self, camera_id: str) -> None:
        self._tracks.pop(camera_id, None)

    def state_of(self, camera_id: str) -> tuple[CameraState, tuple[str, ...], bool]:
        """Published state, faults and flapping flag (``unknown`` if never seen)."""
        t = self._tracks.get(camera_id)
        if t is None:
            return CameraState.UNKNOWN, (), False
        return t.state, t.faults, t.flapping

    def failures_in_a_row(self, camera_id: str) -> int:
        """Offline verdicts in a row (for backoff), whatever was published."""
        t = self._tracks.get(camera_id)
        return t.fails if t is not None else 0

    def observe(self, camera_id: str, health: CameraHealth, now: datetime) -> Transition | None:
        """Take one verdict; the transition to publish, if any."""
        t = self._tracks.get(camera_id)
        if t is None or t.state is CameraState.UNKNOWN:
            t = _Track(health.state, health.faults, now, health.state, health.faults)
            t.fails = int(health.state is CameraState.OFFLINE)
            self._tracks[camera_id] = t
            return Transition(
                camera_id,
                now,
                CameraState.UNKNOWN,
                health.state,
                health.faults,
                False,
                f"first check: {health.summary}",
            )
        t.fails = t.fails + 1 if health.state is CameraState.OFFLINE else 0
        changed = self._settle(t, health, now)
        if changed == "state":
            recent = self._count_change(t, now)
            if not t.flapping and recent >= self._rules.flap_transitions:
                t.flapping = True
                return Transition(
                    camera_id,
                    now,
                    t.state,
                    t.state,
                    t.faults,
                    True,
                    f"flapping: {recent} state changes within "
                    f"{self._rules.flap_window_s:.0f} s; state held",
                )
        if t.flapping:
            calm_since = t.last_change or t.since or now
            if (now - calm_since).total_seconds() < self._rules.flap_window_s:
                return None
            t.flapping = False
            t.changes = None
            return self._publish(camera_id, t, now, "flapping ended", force=True)
        if changed is None:
            return None
        return self._publish(camera_id, t, now, health.summary)

    def _settle(self, t: _Track, health: CameraHealth, now: datetime) -> str | None:
        """Hysteresis on the camera's actual state: 'state', 'faults' or None (no change)."""
        if health.state is t.actual:
            t.candidate, t.streak = None, 0
            if health.faults != t.actual_faults:
                t.actual_faults = health.faults
                return "faults"
            return None
        if t.candidate is health.state:
            t.streak += 1
        else:
            t.candidate, t.streak = health.state, 1
        worse = _RANK[health.state] > _RANK[t.actual]
        need = self._rules.worse_after if worse else self._rules.better_after
        if t.streak < need:
            return None
        t.actual, t.actual_faults = health.state, health.faults
        t.candidate, t.streak = None, 0
        return "state"

    def _count_change(self, t: _Track, now: datetime) -> int:
        """Note a state change; how many fall within the flapping window."""
        t.last_change = now
        if t.changes is None:
            t.changes = deque()
        t.changes.append(now)
        while (now - t.changes[0]).total_seconds() > self._rules.flap_window_s:
            t.changes.popleft()
        return len(t.changes)

    def _publish(
        self, camera_id: str, t: _Track, now: datetime, why: str, force: bool = False
    ) -> Transition | None:
        if not force and t.actual is t.state and t.actual_faults == t.faults:
            return None
        old = t.state
        if t.actual is not t.state:
            t.since = now
        t.state, t.faults = t.actual, t.actual_faults
        return Transition(camera_id, now, old, t.state, t.faults, False, why)
