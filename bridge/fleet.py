"""The bus's view of the fleet: where each camera is published and what its status says.

Pure (no I/O): the daemon feeds it the inventory (cameras with their grid links) and every
transition; it answers with the messages to publish — a retained status under each of the
camera's grid paths, the summaries whose counts changed, and empty retained payloads that
clear topics a camera (or a summary) no longer has.  It also yields the whole retained
view, re-published after every reconnect of the broker.

The web page and API read it too, through read-only views (`Fleet.camera`, `Fleet.cameras`,
`Fleet.summary`, `Fleet.state_counts`; `bridge.web.directory`): what the page shows is what
the bus says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bridge.bus.message import Message
from bridge.bus.payloads import CameraInfo, StatusFacts, camera_info, status_payload
from bridge.bus.payloads import summary_payload as _summary_payload
from bridge.bus.summaries import STATES, Counts, Summaries
from bridge.bus.topics import UNMAPPED, GridPath, Topics, camera_paths
from bridge.grid import GridIndex
from bridge.model import CameraState, CameraView
from bridge.observation import Observation
from bridge.tracker import Transition

STATUS_QOS = 1
SUMMARY_QOS = 1
SNAPSHOT_QOS = 0  # a thumbnail is a glance: never queued, never retained (DESIGN §4)

SnapshotUrl = Callable[[str], str | None]
_UNMAPPED_ONLY = (UNMAPPED,)


def _facts_of(view: CameraView, flapping: bool = False) -> StatusFacts:
    return StatusFacts(
        state=view.state.value,
        faults=view.faults,
        flapping=flapping,
        since=view.since,
        checked_at=view.checked_at,
    )


@dataclass(frozen=True, slots=True)
class FleetCamera:
    """One camera as the fleet knows it: inventory facts, grid paths, current status facts.
    Immutable: a change replaces the record, so one handed out (to the web page and API)
    stays as it was when asked."""

    info: CameraInfo
    paths: tuple[GridPath, ...]
    facts: StatusFacts


class Fleet:
    """Cameras, their grid paths and last status, and the per-area summaries."""

    def __init__(self, topics: Topics, snapshot_url: SnapshotUrl | None = None) -> None:
        self._topics = topics
        self._snapshot_url = snapshot_url or (lambda _: None)
        self._cameras: dict[str, FleetCamera] = {}
        self._summaries = Summaries()
        self._loaded = False

    def __len__(self) -> int:
        return len(self._cameras)

    def paths_of(self, camera_id: str) -> tuple[GridPath, ...]:
        cam = self._cameras.get(camera_id)
        return cam.paths if cam else ()

    # --- read-only views (web page, API, /metrics) ----------------------------------------

    def camera(self, camera_id: str) -> FleetCamera | None:
        """The camera as known now, ``None`` when the inventory does not have it."""
        return self._cameras.get(camera_id)

    def cameras(self) -> Iterator[FleetCamera]:
        """Every camera as known now, in inventory order.  Do not keep the iterator across
        an await: a reload may change the fleet meanwhile."""
        return iter(self._cameras.values())

    def summary(self, key: GridPath) -> Counts | None:
        """The counts of one cell (a summary key: ``t/v/g``, ``t/v/_`` or ``t/_/_``),
        ``None`` when no camera reaches it."""
        return self._summaries.get(key)

    def state_counts(self, *, unmapped_only: bool = False) -> Counts:
        """Cameras per state over the whole fleet, unmapped ones included, or of the
        unmapped ones only (O(cameras))."""
        counts = dict.fromkeys(STATES, 0)
        for cam in self._cameras.values():
            if not unmapped_only or cam.paths == _UNMAPPED_ONLY:
                counts[cam.facts.state] += 1
        return Counts(**counts)

    def load(
        self,
        views: Sequence[CameraView],
        index: GridIndex,
        at: datetime,
        flapping: Callable[[str], bool] = lambda _: False,
    ) -> list[Message]:
        """Take the inventory (as listed by the store) and the grid map.

        The first call just learns; later calls (after an import or a new grid map) return
        the messages that bring the bus in line: empty retained payloads for status topics a
        camera lost (moved, or removed from the inventory), its status under the paths it
        gained, and the summaries that changed.
        """
        first = not self._loaded
        self._loaded = True
        out: list[Message] = []
        seen: set[str] = set()
        for view in views:
            seen.add(view.id)
            paths = camera_paths(view.grids, index.ancestors)
            info = camera_info(view)
            old = self._cameras.get(view.id)
            facts = old.facts if old else _facts_of(view, flapping(view.id))
            self._cameras[view.id] = FleetCamera(info, paths, facts)
            if old is None or old.paths != paths or old.info != info:
                if old is not None:
                    out.extend(self._clear(view.id, set(old.paths) - set(paths)))
                    out.extend(self._status(view.id))
                changed = self._summaries.set_camera(view.id, paths, facts.state)
                out.extend(self._summary_changes(changed, at))
        for camera_id in [c for c in self._cameras if c not in seen]:
            out.extend(self._clear(camera_id, set(self._cameras[camera_id].paths)))
            del self._cameras[camera_id]
            out.extend(self._summary_changes(self._summaries.remove(camera_id), at))
        return [] if first else out

    def on_transition(self, t: Transition, obs: Observation | None = None) -> list[Message]:
        """Record a transition; the status messages (one per path) and changed summaries."""
        cam = self._cameras.get(t.camera_id)
        if cam is None:
            return []
        old_state = cam.facts.state
        since = t.at if t.to_state.value != old_state else cam.facts.since
        facts = replace(
            cam.facts,
            state=t.to_state.value,
            faults=t.faults,
            flapping=t.flapping,
            since=since,
            checked_at=t.at,
        )
        if obs is not None:
            facts = replace(
                facts,
                rtsp_ms=obs.rtsp.latency_ms if obs.rtsp else None,
                onvif_ms=obs.onvif_time.latency_ms if obs.onvif_time else None,
                clock_offset_s=obs.clock_offset_s,
            )
        self._cameras[t.camera_id] = FleetCamera(cam.info, cam.paths, facts)
        out = self._status(t.camera_id)
        if old_state != facts.state:
            changed = self._summaries.update(t.camera_id, old_state, facts.state)
            out.extend(self._summary_changes(changed, t.at))
        return out

    def on_picture(self, camera_id: str, thumbnail_sha256: str | None) -> list[Message]:
        """A new thumbnail of the camera: its status messages when the hash changed (the
        status carries it, so workstations know their picture is stale), else none."""
        cam = self._cameras.get(camera_id)
        if cam is None or cam.facts.thumbnail_sha256 == thumbnail_sha256:
            return []
        facts = replace(cam.facts, thumbnail_sha256=thumbnail_sha256)
        self._cameras[camera_id] = FleetCamera(cam.info, cam.paths, facts)
        return self._status(camera_id)

    def snapshots(self, camera_id: str, thumbnail: bytes) -> list[Message]:
        """The thumbnail for the camera's snapshot topic under each of its grid paths."""
        cam = self._cameras.get(camera_id)
        if cam is None:
            return []
        return [
            Message(self._topics.snapshot(path, camera_id), thumbnail, SNAPSHOT_QOS, False)
            for path in cam.paths
        ]

    def state_of(self, camera_id: str) -> CameraState | None:
        cam = self._cameras.get(camera_id)
        return CameraState(cam.facts.state) if cam else None

    def retained(self, at: datetime) -> Iterator[Message]:
        """The whole retained view: every camera's status under each path, every summary."""
        for camera_id in self._cameras:
            yield from self._status(camera_id)
        for key, counts in self._summaries.all().items():
            yield self._summary(key, counts, at)

    # --- message builders ---------------------------------------------------------------

    def snapshot_url(self, camera_id: str) -> str | None:
        """The HTTP URL of the camera's latest full-size picture, once it has one."""
        cam = self._cameras.get(camera_id)
        if cam is None or cam.facts.thumbnail_sha256 is None:
            return None
        return self._snapshot_url(camera_id)

    def _status(self, camera_id: str) -> list[Message]:
        cam = self._cameras[camera_id]
        url = self.snapshot_url(camera_id)
        return [
            Message(
                self._topics.status(path, camera_id),
                status_payload(cam.info, path, cam.facts, snapshot_url=url),
                STATUS_QOS,
                True,
            )
            for path in cam.paths
        ]

    def _clear(self, camera_id: str, paths: set[GridPath]) -> list[Message]:
        return [
            Message(self._topics.status(path, camera_id), b"", STATUS_QOS, True)
            for path in sorted(paths)
        ]

    def _summary(self, key: GridPath, counts: Counts, at: datetime) -> Message:
        level = key.level or "grid"
        return Message(
            self._topics.summary(key), _summary_payload(level, key, counts, at), SUMMARY_QOS, True
        )

    def _summary_changes(
        self, changed: Mapping[GridPath, Counts | None], at: datetime
    ) -> list[Message]:
        return [
            Message(self._topics.summary(key), b"", SUMMARY_QOS, True)
            if counts is None
            else self._summary(key, counts, at)
            for key, counts in changed.items()
        ]
