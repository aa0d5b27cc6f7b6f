"""What the engine knows of each camera, and when an order's cameras pass verification (pure).

Verification of an order starts for each of its cameras when the camera is healthy again
(published ``online`` and not flapping) and starts afresh at the crew's 修复.  It passes when
every camera of the order has had ``verify_checks`` healthy cheap checks since then, and (when
``verify_needs_picture``) a fresh healthy picture was taken since then — for a parent order,
one camera's picture is the evidence: the frame tier is not asked for a dozen pictures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bridge.model import CameraState
from bridge.workorders.ledger import Ledger
from bridge.workorders.model import Episode, EventKind, Order, OrderEvent, Step
from bridge.workorders.rules import WorkOrderRules


@dataclass(slots=True)
class CameraTrack:
    """One camera as the engine sees it: its published state, episode and verification."""

    state: CameraState = CameraState.UNKNOWN
    faults: tuple[str, ...] = ()
    flapping: bool = False
    key_location: bool = False
    upstream: str | None = None
    episode_start: datetime | None = None  # when the current fault episode began
    last_good_picture: str | None = None  # before-evidence: not updated during an episode
    verify_from: datetime | None = None  # checks and pictures at or after this count
    healthy_checks: int = 0
    fresh_picture: str | None = None

    def bad(self, rules: WorkOrderRules) -> bool:
        if self.flapping and rules.flapping_is_fault:
            return True
        return self.state in (CameraState.OFFLINE, CameraState.DEGRADED)

    def healthy(self) -> bool:
        return self.state is CameraState.ONLINE and not self.flapping

    def start_verifying(self, at: datetime) -> None:
        self.verify_from = at
        self.healthy_checks = 0
        self.fresh_picture = None

    def stop_verifying(self) -> None:
        self.verify_from = None
        self.healthy_checks = 0
        self.fresh_picture = None

    def counts(self, at: datetime) -> bool:
        """Whether a check or picture at ``at`` counts towards verification."""
        return self.healthy() and self.verify_from is not None and at >= self.verify_from

    def snapshot(self, camera_id: str) -> Episode:
        return Episode(
            camera_id,
            self.state,
            self.faults,
            self.flapping,
            self.key_location,
            self.upstream,
            self.episode_start,
            self.last_good_picture,
        )

    @classmethod
    def from_episode(cls, episode: Episode) -> CameraTrack:
        return cls(
            state=episode.state,
            faults=episode.faults,
            flapping=episode.flapping,
            key_location=episode.key_location,
            upstream=episode.upstream,
            episode_start=episode.started_at,
            last_good_picture=episode.last_good_picture,
        )


def passed(
    order: Order, cameras: Mapping[str, CameraTrack], rules: WorkOrderRules
) -> tuple[bool, str | None]:
    """Whether ``order`` passes verification now, and the after-evidence if so."""
    evidence: str | None = None
    for camera_id in order.camera_ids:
        cam = cameras.get(camera_id)
        if cam is None or not cam.healthy() or cam.verify_from is None:
            return False, None
        if cam.healthy_checks < rules.verify_checks:
            return False, None
        if evidence is None:
            evidence = cam.fresh_picture
    if rules.verify_needs_picture and evidence is None:
        return False, None
    return True, evidence


def awaiting_picture(
    order: Order, cameras: Mapping[str, CameraTrack], rules: WorkOrderRules
) -> str | None:
    """The camera to take a fresh picture of so that ``order`` can pass (None: none needed
    now) — the daemon asks the frame tier to look at once instead of in 15 minutes."""
    if not rules.verify_needs_picture:
        return None
    tracks = [cameras.get(c) for c in order.camera_ids]
    if any(t is None or not t.healthy() or t.verify_from is None for t in tracks):
        return None
    if any(t is not None and t.fresh_picture is not None for t in tracks):
        return None
    return order.camera_ids[0]


def close_if_passed(
    ledger: Ledger,
    order: Order,
    cameras: Mapping[str, CameraTrack],
    rules: WorkOrderRules,
    at: datetime,
) -> list[OrderEvent]:
    """验收 then 结案 when the order's cameras pass verification (else nothing).
    ``self_recovered`` when nobody had reached the site (the order was 派单 or 接单)."""
    if not order.is_open:
        return []
    ok, evidence = passed(order, cameras, rules)
    if not ok:
        return []
    by_itself = order.state in (Step.OPEN, Step.ACCEPTED)
    checks = rules.verify_checks
    verified = ledger.emit(
        order,
        at,
        EventKind.STEP,
        f"自动验收：连续 {checks} 次检测正常{'，画面正常' if evidence else ''} / verified: "
        f"{checks} healthy checks{' and a healthy picture' if evidence else ''}",
        step=Step.VERIFIED,
        after_evidence=evidence,
    )
    closed = ledger.emit(
        verified.order,
        at,
        EventKind.STEP,
        "摄像机自行恢复，自动结案 / recovered by itself: closed"
        if by_itself
        else "验收通过，自动结案 / verified: closed",
        step=Step.CLOSED,
        closed_at=at,
        self_recovered=by_itself,
    )
    for camera_id in order.camera_ids:
        if (cam := cameras.get(camera_id)) is not None:
            cam.stop_verifying()
    return [verified, closed]


def send_back(
    ledger: Ledger, order: Order, cameras: Mapping[str, CameraTrack], at: datetime, note: str
) -> OrderEvent:
    """修复 did not hold: back to 到场, verification stopped until the cameras recover."""
    for camera_id in order.camera_ids:
        if (cam := cameras.get(camera_id)) is not None:
            cam.stop_verifying()
    return ledger.emit(order, at, EventKind.STEP, note, step=Step.ON_SITE)


def send_back_if_broken(
    ledger: Ledger,
    order: Order,
    cameras: Mapping[str, CameraTrack],
    rules: WorkOrderRules,
    at: datetime,
) -> list[OrderEvent]:
    """An order ``verify_timeout_s`` after 修复 with a camera still faulty goes back to 到场.
    Healthy cameras still waiting for checks or a picture are not the crew's fault: wait."""
    repaired_at = order.last_step_at(Step.REPAIRED)
    if order.state is not Step.REPAIRED or repaired_at is None:
        return []
    if (at - repaired_at).total_seconds() < rules.verify_timeout_s:
        return []
    broken = [c for c in order.camera_ids if (t := cameras.get(c)) and t.bad(rules)]
    if not broken:
        return []
    waited_s = rules.verify_timeout_s
    zh, en = (
        (f"{waited_s / 60:.0f} 分钟", f"{waited_s / 60:.0f} min")
        if waited_s >= 120
        else (f"{waited_s:.0f} 秒", f"{waited_s:.0f} s")
    )
    note = (
        f"修复后 {zh}仍故障（{'、'.join(broken)}），退回到场 / still faulty {en} after the "
        "repair: back to on_site"
    )
    return [send_back(ledger, order, cameras, at, note)]
