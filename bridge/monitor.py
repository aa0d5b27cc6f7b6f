"""The monitor: every camera checked, judged and tracked; transitions recorded and announced.

    scheduler → checker (adapters) → health.verdict.judge → tracker → batch writer (store)
                                                                     → listeners (bus, orders)

Built by the composition root; ``run()`` lives in its TaskGroup until cancelled, then flushes
what it has not written yet.  Logs one line per transition, never one per check.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from types import MappingProxyType

from adapters.errors import ProbeError
from bridge.backoff import BackoffRules, next_delay_s, phase_s
from bridge.bus.message import Message
from bridge.check_stats import CheckStats
from bridge.checker import Checker, CheckTarget
from bridge.model import CameraRecord, CameraState
from bridge.observation import DeviceInfo, LayerResult, Observation, OnboardResult
from bridge.scheduler import Scheduler
from bridge.settings import Settings
from bridge.store import Store
from bridge.store.monitoring import TransitionRecord
from bridge.tracker import Tracker, TrackerRules, Transition
from bridge.url_credentials import url_path
from health.verdict import CameraHealth, VerdictRules, judge, with_picture

log = logging.getLogger(__name__)

Listener = Callable[[Transition, CameraHealth], Awaitable[None]]
Onboard = Callable[[CheckTarget], Awaitable[OnboardResult]]
BusMessages = Callable[[Transition, Observation], Sequence[Message]]

FLUSH_EVERY_S = 0.5
# First checks spread over the interval less the time a check may take (both layers running
# into their deadlines, plus slack), so every camera has its first state within one interval
# (DESIGN §9) — but over at least this share of it, to keep the start-up load even.
FIRST_ROUND_MIN_SHARE = 0.3
FLUSH_AT_COUNT = 1000
CHECKED_FLUSH_EVERY_S = 60.0
ONBOARD_SCAN_EVERY_S = 60.0
ONBOARD_CONCURRENCY = 4
ONBOARD_RETRY_S = 3600.0  # a camera whose onboarding failed (no ONVIF?) is left this long


def check_target(
    record: CameraRecord,
    settings: Settings,
    *,
    expected_serial: str | None = None,
    stream_path: str | None = None,
) -> CheckTarget | None:
    """How to check this camera, or None when it has no address."""
    if not record.host:
        return None
    cams = settings.cameras
    default_pw = cams.default_password.get_secret_value() if cams.default_password else None
    path = url_path(record.rtsp_url) if record.rtsp_url else stream_path
    return CheckTarget(
        camera_id=record.id,
        host=record.host,
        rtsp_port=record.rtsp_port,
        onvif_port=record.onvif_port,
        rtsp_path=path,
        username=record.username or cams.default_username,
        password=record.password if record.password is not None else default_pw,
        expected_serial=expected_serial,
    )


class Monitor:
    """Keeps every camera's state current."""

    def __init__(
        self,
        store: Store,
        checker: Checker,
        settings: Settings,
        *,
        listeners: Sequence[Listener] = (),
        onboard: Onboard | None = None,
        bus: BusMessages | None = None,
        on_written: Callable[[], None] = lambda: None,
        picture_faults: Callable[[str], tuple[str, ...]] = lambda _: (),
        on_checked: Callable[[str, CameraState, datetime], None] | None = None,
        stats: CheckStats | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rand: Callable[[], float] = random.random,
    ) -> None:
        probe = settings.probe
        self._store = store
        self._checker = checker
        self._settings = settings
        self._listeners = list(listeners)
        self._onboard = onboard
        self._bus = bus
        self._on_written = on_written
        self._picture_faults = picture_faults
        self._on_checked = on_checked
        self._stats = stats
        self._messages: list[Message] = []
        self._onboard_failed: dict[str, float] = {}
        self._reonboarded: set[str] = set()
        self._now = now
        self._rand = rand
        self._verdict = VerdictRules(clock_drift_s=probe.clock_drift_s)
        self._tracker = Tracker(
            TrackerRules(
                worse_after=probe.offline_after,
                better_after=probe.online_after,
                flap_transitions=probe.flap_transitions,
                flap_window_s=probe.flap_window_s,
            )
        )
        self._backoff = BackoffRules(
            interval_s=probe.interval_s,
            offline_after=probe.offline_after,
            max_delay_s=probe.max_backoff_s,
            auth_delay_s=probe.auth_backoff_s,
        )
        # A check: all its layers, each with its own deadline, plus slack.
        self.scheduler = Scheduler(
            self._check,
            concurrency=probe.concurrency,
            per_host=probe.per_host_concurrency,
            deadline_s=probe.timeout_s * 5 + 1,
            retry_s=probe.interval_s,
        )
        self._targets: dict[str, CheckTarget] = {}
        self._auth_failures: dict[str, int] = {}
        self._device_checked: dict[str, float] = {}
        self._onvif_seen: dict[str, tuple[float, LayerResult, float | None]] = {}
        self._device_seen: dict[str, tuple[LayerResult, DeviceInfo | None]] = {}
        self._pending: list[TransitionRecord] = []
        self._checked: dict[str, datetime] = {}
        self._flush_now = asyncio.Event()
        self.checks = 0
        self.first_states = 0
        # Loop times (readiness): when `run` started, when the last check completed.
        self.started_at: float | None = None
        self.last_checked_at: float | None = None

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def load(self) -> int:
        """Read the cameras and their last known state from the store; schedule them all at
        their phases.  Returns how many cameras will be checked."""
        records, undecryptable = await self._store.monitor_records()
        for camera_id in undecryptable:
            log.error(
                "camera %s: stored password cannot be decrypted with this secret key; checking "
                "without it (re-import the inventory to store it again)",
                camera_id,
            )
        for camera_id, row in (await self._store.state_rows()).items():
            if row.state is not CameraState.UNKNOWN:
                self._tracker.restore(camera_id, row.state, row.faults, row.since, row.flapping)
        await self._sync_targets(records)
        log.info(
            "monitoring %d cameras every %.0f s",
            len(self._targets),
            self._settings.probe.interval_s,
        )
        return len(self._targets)

    async def reload(self) -> tuple[int, int]:
        """Re-read the cameras after an import: new ones are scheduled at their phase, removed
        ones dropped, changed ones (address, credentials) checked with their new details from
        the next check on.  Returns (added, removed)."""
        records, _ = await self._store.monitor_records()
        return await self._sync_targets(records)

    async def _sync_targets(self, records: Sequence[CameraRecord]) -> tuple[int, int]:
        """Make the checked cameras exactly ``records`` (with their onboarding): schedule new
        ones at their phase, take changes, drop the others.  Returns (added, removed)."""
        onboarded = await self._store.onboarded()
        interval = self._settings.probe.interval_s
        window = max(
            interval * FIRST_ROUND_MIN_SHARE, interval - 2 * self._settings.probe.timeout_s - 1
        )
        seen: set[str] = set()
        added = skipped = 0
        for record in records:
            serial, stream_uri = onboarded.get(record.id, (None, None))
            target = check_target(
                record,
                self._settings,
                expected_serial=serial or None,
                stream_path=url_path(stream_uri) if stream_uri else None,
            )
            if target is None:
                skipped += 1
                continue
            seen.add(record.id)
            old = self._targets.get(record.id)
            if old is None:
                added += 1
                self.scheduler.schedule(record.id, target.host, phase_s(record.id, window))
            elif old.host != target.host:
                self.scheduler.move(record.id, target.host)
            self._targets[record.id] = target
        if skipped:
            log.warning("%d camera(s) have no address (IP地址) and are not checked", skipped)
        removed = [c for c in self._targets if c not in seen]
        for camera_id in removed:
            del self._targets[camera_id]
            self.scheduler.remove(camera_id)
            self._tracker.forget(camera_id)
            for memo in (
                self._onvif_seen,
                self._device_seen,
                self._device_checked,
                self._auth_failures,
                self._onboard_failed,
            ):
                memo.pop(camera_id, None)
        return added, len(removed)

    def target(self, camera_id: str) -> CheckTarget | None:
        return self._targets.get(camera_id)

    def targets(self) -> Mapping[str, CheckTarget]:
        """Every checked camera and how it is reached (read-only view)."""
        return MappingProxyType(self._targets)

    def state_of(self, camera_id: str) -> tuple[CameraState, tuple[str, ...], bool]:
        return self._tracker.state_of(camera_id)

    async def run(self) -> None:
        """Check cameras until cancelled; on the way out, write what is pending."""
        self.started_at = asyncio.get_running_loop().time()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.scheduler.run(), name="scheduler")
                tasks.create_task(self._writer(), name="transition-writer")
                if self._onboard is not None:
                    tasks.create_task(self._onboarder(self._onboard), name="onboarding")
        finally:
            await asyncio.shield(self._flush())

    async def _check(self, camera_id: str) -> float:
        target = self._targets.get(camera_id)
        if target is None:
            return self._settings.probe.interval_s
        loop = asyncio.get_running_loop()
        loop_now = loop.time()
        device_due = (
            target.expected_serial is not None
            and loop_now - self._device_checked.get(camera_id, -1e18)
            >= self._settings.probe.device_interval_s
        )
        onvif_seen = self._onvif_seen.get(camera_id)
        # ONVIF is asked every onvif_interval_s, and at every check while its last answer
        # was bad (so a recovery shows at once).
        onvif_due = (
            onvif_seen is None
            or not onvif_seen[1].ok
            or loop_now - onvif_seen[0] >= self._settings.probe.onvif_interval_s
        )
        obs = await self._checker.check(target, with_onvif=onvif_due, with_device=device_due)
        self.last_checked_at = done = loop.time()
        if self._stats is not None:
            self._stats.observe(obs, done - loop_now)
        if device_due and obs.onvif_time is not None and obs.onvif_time.ok:
            self._device_checked[camera_id] = loop_now
        obs = self._with_last_onvif(camera_id, obs, loop_now)
        self.checks += 1
        health = with_picture(judge(obs, self._verdict), self._picture_faults(camera_id))
        self._checked[camera_id] = obs.at
        auth = self._auth_failures
        auth[camera_id] = auth.get(camera_id, 0) + 1 if "auth_failed" in health.faults else 0
        transition = self._tracker.observe(camera_id, health, obs.at)
        if transition is not None:
            await self._announce(transition, health, obs)
        if self._on_checked is not None:
            # After the transition (if any): the check that completed a recovery counts
            # towards verifying the camera's work order.
            published = self._tracker.state_of(camera_id)[0]
            try:
                self._on_checked(camera_id, published, obs.at)
            except Exception:  # a listener's bug must not stop the checks (STYLE 7)
                log.exception("check listener failed for camera %s", camera_id)
        return next_delay_s(
            self._backoff,
            failures_in_a_row=self._tracker.failures_in_a_row(camera_id),
            auth_failures_in_a_row=auth[camera_id],
            rand=self._rand(),
        )

    def _with_last_onvif(self, camera_id: str, obs: Observation, loop_now: float) -> Observation:
        """Remember what the ONVIF layers saw; fill in the last of it when they did not run
        this time, so a fault seen by ONVIF (clock, serial, service) stays until ONVIF says
        otherwise instead of flickering with the cadence."""
        if obs.onvif_time is not None:
            self._onvif_seen[camera_id] = (loop_now, obs.onvif_time, obs.clock_offset_s)
        elif (seen := self._onvif_seen.get(camera_id)) is not None:
            obs = replace(obs, onvif_time=seen[1], clock_offset_s=seen[2])
        if obs.onvif_auth is not None:
            self._device_seen[camera_id] = (obs.onvif_auth, obs.device)
        elif (
            # Only while the camera answers: an old answer must not make a dead camera alive.
            obs.onvif_time is not None
            and obs.onvif_time.ok
            and (device := self._device_seen.get(camera_id)) is not None
        ):
            obs = replace(obs, onvif_auth=device[0], device=device[1])
        return obs

    async def _announce(self, t: Transition, health: CameraHealth, obs: Observation) -> None:
        if t.from_state is CameraState.UNKNOWN:
            self.first_states += 1
            log.debug("camera %s: first state %s %s", t.camera_id, t.to_state, t.faults)
        else:
            log.info(
                "camera %s: %s → %s%s (%s)",
                t.camera_id,
                t.from_state.value,
                t.to_state.value,
                f" [{', '.join(t.faults)}]" if t.faults else "",
                t.reason + (", flapping" if t.flapping else ""),
            )
        self._pending.append(
            TransitionRecord(
                t.camera_id,
                t.at,
                t.from_state,
                t.to_state,
                t.faults,
                t.flapping,
                t.reason,
                {"summary": health.summary},
            )
        )
        if self._bus is not None:
            self._messages.extend(self._bus(t, obs))
        if len(self._pending) >= FLUSH_AT_COUNT:
            self._flush_now.set()
        for listener in self._listeners:
            try:
                await listener(t, health)
            except Exception:  # a listener's bug must not stop the checks (STYLE 7)
                log.exception("transition listener failed for camera %s", t.camera_id)

    async def _onboarder(self, onboard: Onboard) -> None:
        """Onboard (ONVIF) cameras that need it, a few at a time, off the check path: new
        ones, those the inventory changed, and those whose serial changed (replaced)."""
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(ONBOARD_CONCURRENCY)
        while True:
            for camera_id in self._newly_replaced():
                if await self._store.forget_onboarding(camera_id):
                    log.info("camera %s: serial changed; onboarding it again", camera_id)
            due = await self._store.onboarding_due(list(self._targets))
            now = loop.time()
            due = {c for c in due if now - self._onboard_failed.get(c, -1e18) >= ONBOARD_RETRY_S}
            async with asyncio.TaskGroup() as tasks:
                for camera_id in sorted(due):
                    tasks.create_task(self._onboard_one(onboard, camera_id, slots))
            await asyncio.sleep(ONBOARD_SCAN_EVERY_S)

    def _newly_replaced(self) -> list[str]:
        """Cameras published as ``replaced`` whose onboarding was not redone yet."""
        fresh = []
        for camera_id in self._targets:
            if "replaced" in self._tracker.state_of(camera_id)[1]:
                if camera_id not in self._reonboarded:
                    self._reonboarded.add(camera_id)
                    fresh.append(camera_id)
            else:
                self._reonboarded.discard(camera_id)
        return fresh

    async def _onboard_one(
        self, onboard: Onboard, camera_id: str, slots: asyncio.Semaphore
    ) -> None:
        target = self._targets.get(camera_id)
        if target is None:
            return
        async with slots:
            try:
                result = await onboard(target)
            except ProbeError as exc:
                self._onboard_failed[camera_id] = asyncio.get_running_loop().time()
                # A login refused needs a person; a camera without ONVIF (or offline) does not,
                # and its state already says it is unreachable.
                level = logging.WARNING if exc.code == "auth_failed" else logging.DEBUG
                log.log(
                    level,
                    "camera %s: ONVIF onboarding failed (%s); retry in %.0f min",
                    camera_id,
                    exc,
                    ONBOARD_RETRY_S / 60,
                )
                return
            await self._store.save_onboarding(camera_id, result, self._now())
        stream_path = target.rtsp_path or (
            url_path(result.stream_uri) if result.stream_uri else None
        )
        self._targets[camera_id] = replace(
            target, expected_serial=result.device.serial or None, rtsp_path=stream_path
        )
        log.debug(
            "camera %s onboarded: %s %s", camera_id, result.device.manufacturer, result.device.model
        )

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        last_checked_flush = loop.time()
        while True:
            try:
                async with asyncio.timeout(FLUSH_EVERY_S):
                    await self._flush_now.wait()
            except TimeoutError:
                pass
            self._flush_now.clear()
            await self._flush_transitions()
            if loop.time() - last_checked_flush >= CHECKED_FLUSH_EVERY_S:
                last_checked_flush = loop.time()
                await self._flush_checked()

    async def _flush(self) -> None:
        await self._flush_transitions()
        await self._flush_checked()

    async def _flush_transitions(self) -> None:
        batch, self._pending = self._pending, []
        messages, self._messages = self._messages, []
        if not batch and not messages:
            return
        try:
            await self._store.record_transitions(batch, messages)
        except Exception:
            # Keep them for the next try: a state change must not be lost (DESIGN §4).
            self._pending[:0] = batch
            self._messages[:0] = messages
            log.exception("could not record %d transitions; will retry", len(batch))
            return
        if messages:
            self._on_written()

    async def _flush_checked(self) -> None:
        checked, self._checked = self._checked, {}
        if not checked:
            return
        try:
            await self._store.touch_checked(list(checked.items()))
        except Exception:
            log.exception("could not record check times of %d cameras", len(checked))


def transition_json(t: Transition) -> dict[str, object]:
    """A transition as plain JSON values (logs, API)."""
    item = asdict(t)
    item["at"] = t.at.isoformat()
    item["from_state"] = t.from_state.value
    item["to_state"] = t.to_state.value
    item["faults"] = list(t.faults)
    return item
