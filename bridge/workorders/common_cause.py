"""Common cause: cameras failing together are one fault, not many (pure; DESIGN §6).

Fed with the fleet's upstream keys (``set_fleet``) and the tracker's transitions
(``observe``, or ``failed``/``recovered``), it answers two questions for the work-order engine
(``bridge.workorders.model.CommonCauseView``):

- ``group_of``: cameras behind one upstream device — the inventory's 上级设备, else a host
  address shared by several cameras — that fail in a chain, each within ``group_window_s`` of
  the previous one, form a group once enough of them are failing (``CommonCauseRules.needed``).
  The group lasts until all its cameras have recovered; any of them failing meanwhile joins
  it.  The engine opens one parent order naming the upstream and none for its cameras.
- ``mass_failure``: when cameras making up ``mass_share`` of the fleet have failed within
  ``mass_window_s`` and are still failing, the probe host or its network is the likely fault:
  one ``bridge_network`` alarm is raised and no camera orders are opened.  Cameras failing
  while it is raised join the episode; the alarm clears, once, when fewer than
  ``mass_clear_share`` of the fleet are still failing from the episode.

Only network-class faults count (``NETWORK_FAULTS``): a black picture on every camera of an
NVR says nothing about the NVR.  No I/O: the engine publishes, logs and counts the alarms.

Cost: ``set_fleet`` is O(fleet); every other call is O(1) amortised, plus O(cameras
involved) once when a group forms or the alarm is raised.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

# What an upstream failure looks like from the camera: no connection (NVR, switch or link
# down), the NVR answering but with no stream for the channel, or an NVR channel showing its
# "no signal" picture (the camera behind it lost power or link).  Picture faults (black,
# blur, …) and auth/ONVIF/clock faults belong to the camera itself.
NETWORK_FAULTS = frozenset({"unreachable", "rtsp_error", "no_signal"})


@dataclass(frozen=True, slots=True)
class CommonCauseRules:
    """Thresholds of the common-cause rules (from config); defaults defended in the fields."""

    # Cameras of one upstream failing within this of each other share a cause: a dead NVR or
    # switch shows on all its cameras within a few probe intervals (30 s each, 3 misses to go
    # offline), and two minutes leaves room for the probes' phases.  Keep it below the
    # orders' debounce so a group has formed before any child order would open.
    group_window_s: float = 120.0
    # Three cameras behind one device failing within minutes are practically never chance
    # (a camera fails perhaps monthly); a partial failure (one of the NVR's PoE switches)
    # still sends the crew to the same place.  One failing camera is always its own fault.
    group_min_cameras: int = 3
    # …or this share of a small upstream (a two-channel encoder at one address), never less
    # than two cameras: a group needs min(group_min_cameras, max(2, ⌈share × size⌉)).
    group_min_share: float = 0.5
    # Share of the whole fleet failing within ``mass_window_s`` that points at the bridge's
    # own host or network: no site outage takes down 30 % of a district at once.
    mass_share: float = 0.3
    # "At once": with the default 30 s probe interval and 3 misses, a network cut shows on
    # every camera within about one interval.  Keep it at least the probe interval.
    mass_window_s: float = 60.0
    # Hysteresis: the alarm clears when fewer than this share of the fleet is still failing
    # from the episode (or none is), so a half-restored link does not flood orders and the
    # alarm does not flap at the threshold.  Cameras that were down before the episode do
    # not count, so a district's usual 5–15 % broken cameras cannot hold the alarm up.
    mass_clear_share: float = 0.1
    # Below this many cameras one NVR is a large share of the fleet, so a share says nothing
    # about the bridge: 3 of 5 demo cameras failing is a group, not a network fault.
    min_fleet: int = 100

    def __post_init__(self) -> None:
        if self.group_min_cameras < 2:
            raise ValueError("group_min_cameras: one failing camera is its own fault (≥ 2)")
        if not 0 <= self.mass_clear_share < self.mass_share <= 1:
            raise ValueError("need 0 ≤ mass_clear_share < mass_share ≤ 1 (hysteresis)")

    def needed(self, size: int) -> int:
        """Failing cameras that make a group behind an upstream of ``size`` cameras."""
        by_share = max(2, math.ceil(self.group_min_share * size))
        return min(self.group_min_cameras, by_share)


@dataclass(frozen=True, slots=True)
class Alarm:
    """The mass-failure state changed: raised (once per episode) or cleared (once).

    ``failing`` cameras of the episode out of ``total``: at raise, those that failed within
    the mass window; at clear, those still failing (from now on, ordinary faults).
    """

    kind: Literal["bridge_network"]
    raised: bool
    at: datetime
    failing: int
    total: int
    share: float


class _Placed(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def host(self) -> str | None: ...
    @property
    def upstream_id(self) -> str | None: ...


def upstream_keys(cameras: Iterable[_Placed]) -> dict[str, str | None]:
    """Each camera's upstream key for ``CommonCause.set_fleet``: the inventory's upstream
    device ID when given, else its host address (an NVR serving many channels at one
    address), else ``None``.  A key held by one camera only forms no group."""
    keys: dict[str, str | None] = {}
    for camera in cameras:
        host = camera.host.strip().lower() if camera.host else None
        keys[camera.id] = camera.upstream_id or host or None
    return keys


@dataclass(slots=True)
class _Upstream:
    size: int  # cameras behind it in the fleet
    chain: set[str] = field(default_factory=set)  # failing, each within the window of the last
    chain_last: datetime | None = None
    group: set[str] | None = None  # failing cameras of the formed group
    frozen: frozenset[str] | None = None  # ``group`` as handed out, rebuilt after a change


@dataclass(slots=True)
class _Failure:
    seq: int  # tells this failure's mass-window entry from a flapping camera's earlier ones
    in_window: bool = True  # its entry is still inside the mass window


class CommonCause:
    """Upstream groups and the fleet-wide mass failure (``model.CommonCauseView``)."""

    def __init__(self, rules: CommonCauseRules) -> None:
        self._rules = rules
        self._keys: dict[str, str | None] = {}  # the fleet: camera → upstream key (None: alone)
        self._upstreams: dict[str, _Upstream] = {}
        self._failing: dict[str, _Failure] = {}
        self._window: deque[tuple[datetime, str, int]] = deque()  # failures, oldest first
        self._fresh = 0  # failing cameras whose failure is still inside the mass window
        self._seq = 0
        self._episode: set[str] | None = None  # failing cameras of the raised alarm

    def set_fleet(self, upstream: Mapping[str, str | None], at: datetime) -> Alarm | None:
        """Take the fleet (camera → upstream key, see ``upstream_keys``); callable again after
        an import.  Removed cameras are forgotten; a failing camera that moved to another
        upstream leaves its group and does not join the new one (its failure is old news).
        Returns the alarm's clearing when the change ends a mass failure."""
        _aware(at)
        sizes = Counter(key for key in upstream.values() if key)
        keys = {cam: key if key and sizes[key] > 1 else None for cam, key in upstream.items()}
        for cam in list(self._failing):
            if keys.get(cam, "") != self._keys.get(cam):
                self._leave(cam)
            if cam not in keys:
                self._drop(cam)
        self._upstreams = {
            key: self._upstreams.get(key) or _Upstream(size)
            for key, size in sizes.items()
            if size > 1
        }
        for key, up in self._upstreams.items():
            up.size = sizes[key]
        self._keys = keys
        return self._maybe_clear(at)

    def observe(self, camera_id: str, faults: Iterable[str], at: datetime) -> Alarm | None:
        """Take a camera's published faults after a transition: failing if any is in
        ``NETWORK_FAULTS``, else recovered (online, or a picture fault only)."""
        if NETWORK_FAULTS.intersection(faults):
            return self.failed(camera_id, at)
        return self.recovered(camera_id, at)

    def failed(self, camera_id: str, at: datetime) -> Alarm | None:
        """The camera started failing with a network-class fault.  Returns the alarm when this
        failure raises it.  No-op for a camera already failing or not in the fleet."""
        _aware(at)
        if camera_id not in self._keys or camera_id in self._failing:
            return None
        self._seq += 1
        self._failing[camera_id] = _Failure(self._seq)
        self._window.append((at, camera_id, self._seq))
        self._fresh += 1
        self._join(camera_id, at)
        self._evict(at)
        if self._episode is not None:
            # Flapping or late cameras join the raised episode; they raise nothing again.
            self._episode.add(camera_id)
            return None
        total = len(self._keys)
        if total < self._rules.min_fleet or self._fresh < self._rules.mass_share * total:
            return None
        self._episode = {
            cam for _, cam, seq in self._window if self._failing.get(cam, _GONE).seq == seq
        }
        return self._alarm(True, at, len(self._episode))

    def recovered(self, camera_id: str, at: datetime) -> Alarm | None:
        """The camera no longer has a network-class fault.  Returns the alarm's clearing when
        this recovery ends a mass failure.  No-op for a camera not failing."""
        _aware(at)
        if camera_id not in self._failing:
            return None
        self._leave(camera_id)
        self._drop(camera_id)
        return self._maybe_clear(at)

    def mass_failure(self, at: datetime) -> bool:
        """Whether the ``bridge_network`` alarm is raised: open no camera orders."""
        return self._episode is not None

    def group_of(self, camera_id: str, at: datetime) -> tuple[str, frozenset[str]] | None:
        """(upstream key, its group's failing cameras) when this failing camera is part of a
        common-cause group, else ``None``.  Stable: the key stays and the set only grows
        with new failures (shrinks with recoveries) until the group ends.  A camera already
        failing before its upstream's chain began keeps its own fault."""
        key = self._keys.get(camera_id)
        up = self._upstreams.get(key) if key is not None else None
        if key is None or up is None or up.group is None or camera_id not in up.group:
            return None
        if up.frozen is None:
            up.frozen = frozenset(up.group)
        return key, up.frozen

    def _join(self, camera_id: str, at: datetime) -> None:
        key = self._keys[camera_id]
        if key is None:
            return
        up = self._upstreams[key]
        if up.group is not None:
            up.group.add(camera_id)
            up.frozen = None
            return
        if up.chain_last is not None:
            if (at - up.chain_last).total_seconds() > self._rules.group_window_s:
                up.chain.clear()  # those still failing stay their own faults
            at = max(at, up.chain_last)  # probes report a little out of order
        up.chain.add(camera_id)
        up.chain_last = at
        if len(up.chain) >= self._rules.needed(up.size):
            up.group, up.chain, up.chain_last = up.chain, set(), None

    def _leave(self, camera_id: str) -> None:
        """Take a failing camera out of its upstream's chain and group."""
        key = self._keys.get(camera_id)
        up = self._upstreams.get(key) if key is not None else None
        if up is None:
            return
        up.chain.discard(camera_id)
        if up.group is not None and camera_id in up.group:
            up.group.discard(camera_id)
            up.frozen = None
            if not up.group:
                up.group = None  # the episode is over; the next failure starts a new chain

    def _drop(self, camera_id: str) -> None:
        """Forget a camera's failure; its mass-window entry stays but no longer counts."""
        failure = self._failing.pop(camera_id)
        if failure.in_window:
            self._fresh -= 1
        if self._episode is not None:
            self._episode.discard(camera_id)

    def _evict(self, at: datetime) -> None:
        window = self._window
        while window and (at - window[0][0]).total_seconds() > self._rules.mass_window_s:
            _, cam, seq = window.popleft()
            failure = self._failing.get(cam)
            if failure is not None and failure.seq == seq:
                failure.in_window = False
                self._fresh -= 1

    def _maybe_clear(self, at: datetime) -> Alarm | None:
        if self._episode is None:
            return None
        total = len(self._keys)
        failing = len(self._episode)
        if (
            failing
            and total >= self._rules.min_fleet
            and failing >= self._rules.mass_clear_share * total
        ):
            return None
        self._episode = None
        return self._alarm(False, at, failing)

    def _alarm(self, raised: bool, at: datetime, failing: int) -> Alarm:
        total = len(self._keys)
        return Alarm(
            "bridge_network", raised, at, failing, total, failing / total if total else 0.0
        )


_GONE = _Failure(seq=-1)  # stands in for a camera no longer failing


def _aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("common-cause times must be aware datetimes")
