"""The frame tier: now and then, look at each camera's picture (DESIGN §3, issue 5).

    scheduler (every frames.interval_s, phases spread; own cap) → sources (HTTP snapshot, else
    RTSP grab) → analysis in a thread (decode, health.vqd, baseline, thumbnail) → two-look
    rule (`bridge.picture_state`) → snapshot files, store record + status (outbox),
    thumbnail on the bus → the monitor merges the confirmed picture faults into its verdicts

A look also happens at once when a camera's cheap check recovers (is the picture right
again?), when a new fault needs its second look (``frames.confirm_s``), and on request (bus,
web).  An offline camera is not looked at: the cheap checks already say what is wrong.

One look has one deadline, one outcome and at most one log line (on a change of faults).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

from adapters.errors import ProtocolFailure
from bridge.backoff import phase_s
from bridge.bus.message import Message
from bridge.checker import CheckTarget
from bridge.frame_analysis import Analysis, ThumbRules, analyse
from bridge.frame_sources import NoPicture, Pictures
from bridge.model import CameraState
from bridge.picture_state import PictureFaults, night_window
from bridge.scheduler import Scheduler
from bridge.settings import Settings
from bridge.snapshots import SnapshotStore
from bridge.store import Store, UnknownCameraError
from bridge.store.frames import FrameRecord

log = logging.getLogger(__name__)

CPU_THREADS = max(1, min(2, os.cpu_count() or 1))  # decoding + diagnosis, the tier's CPU
# A look's slack beyond its own deadlines (the two pictures, decoding, files, the store).
LOOK_SLACK_S = 10.0
# Errors of a grab that mean "the stream opened but gave no picture in time": no_signal
# when the cheap check says the camera's RTSP service is fine.
_NO_FRAME_CODES = frozenset({"timeout", "protocol"})
_CHEAP_RTSP_FAULTS = frozenset({"unreachable", "rtsp_error", "auth_failed"})


class Sources(Protocol):
    async def look(self, target: CheckTarget, snapshot_uri: str | None) -> Pictures: ...


@dataclass(frozen=True, slots=True)
class LookOutcome:
    """What one look found, for whoever asked for it (bus request, web)."""

    camera_id: str
    at: datetime
    ok: bool
    faults: tuple[str, ...]  # confirmed picture faults after this look
    seen: tuple[str, ...]  # what this look saw (before the two-look rule)
    source: str | None = None
    thumbnail_sha256: str | None = None
    error: str = ""
    evidence: str | None = None  # the kept picture, relative to the snapshot root


class FrameTier:
    """Looks at every camera's picture on its own cadence; ``faults(camera_id)`` tells the
    monitor what was confirmed."""

    def __init__(
        self,
        store: Store,
        snapshots: SnapshotStore,
        sources: Sources,
        settings: Settings,
        *,
        state_of: Callable[[str], tuple[CameraState, tuple[str, ...], bool]],
        target_of: Callable[[str], CheckTarget | None] | None = None,
        status_messages: Callable[[str, str | None], list[Message]] = lambda _c, _h: [],
        publish_thumbnail: Callable[[str, bytes], Awaitable[object]] | None = None,
        on_look: Callable[[LookOutcome], Awaitable[None]] | None = None,
        on_written: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        s = settings.frames
        self._store = store
        self._snapshots = snapshots
        self._sources = sources
        self._settings = settings
        self._state_of = state_of
        self._target_of = target_of
        self._status_messages = status_messages
        self._publish_thumbnail = publish_thumbnail
        self._on_look = on_look
        self._on_written = on_written
        self._now = now
        self._rules = s.vqd.to_rules()
        self._thumbs = ThumbRules(s.thumbnail_width, s.thumbnail_max_bytes, s.max_pixels)
        self.pictures = PictureFaults(confirm=s.confirm_s > 0)
        self._targets: dict[str, CheckTarget] = {}
        self._waiters: dict[str, list[asyncio.Future[LookOutcome]]] = {}
        self._cpu: ThreadPoolExecutor | None = None
        self.scheduler = Scheduler(
            self._look,
            concurrency=s.concurrency,
            per_host=1,
            deadline_s=2 * (s.timeout_s + s.frozen_gap_s) + LOOK_SLACK_S,
            retry_s=s.interval_s,
        )
        self.looks = 0
        self.failures = 0

    def faults(self, camera_id: str) -> tuple[str, ...]:
        """The camera's confirmed picture faults (for the monitor's verdicts)."""
        return self.pictures.faults(camera_id)

    async def load(self) -> None:
        """Take the picture faults confirmed before a restart, so a camera known to be black
        does not look healthy until its next look."""
        for camera_id, record in (await self._store.frame_records()).items():
            self.pictures.restore(camera_id, record.faults)

    def sync(self, targets: Mapping[str, CheckTarget]) -> list[str]:
        """Look at exactly these cameras: new ones at their phase within the interval, gone
        ones dropped.  Returns the ids dropped (the caller deletes their pictures)."""
        interval = self._settings.frames.interval_s
        for camera_id, target in targets.items():
            old = self._targets.get(camera_id)
            if old is None:
                self.scheduler.schedule(camera_id, target.host, phase_s(camera_id, interval))
            elif old.host != target.host:
                self.scheduler.move(camera_id, target.host)
            self._targets[camera_id] = target
        gone = [c for c in self._targets if c not in targets]
        for camera_id in gone:
            del self._targets[camera_id]
            self.scheduler.remove(camera_id)
            self.pictures.forget(camera_id)
        return gone

    def soon(self, camera_id: str) -> bool:
        """Look at the camera now (its cheap check recovered).  False if not looked at."""
        return self.scheduler.recheck(camera_id)

    async def look_now(self, camera_id: str, timeout_s: float) -> LookOutcome:
        """Look at the camera now and return what was found; raises `LookError` when the
        camera is not looked at or no look ended within ``timeout_s``."""
        if camera_id not in self._targets:
            raise LookError("this camera has no address, or picture checks are off")
        future: asyncio.Future[LookOutcome] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(camera_id, []).append(future)
        self.scheduler.recheck(camera_id)
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise LookError(f"no picture within {timeout_s:g} s") from None
        finally:
            waiting = self._waiters.get(camera_id)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._waiters[camera_id]

    async def run(self) -> None:
        """Look at cameras until cancelled."""
        with ThreadPoolExecutor(CPU_THREADS, thread_name_prefix="frames-cpu") as cpu:
            self._cpu = cpu
            try:
                await self.scheduler.run()
            finally:
                self._cpu = None

    # --- one look ---------------------------------------------------------------------------

    async def _look(self, camera_id: str) -> float:
        s = self._settings.frames
        if camera_id not in self._targets:
            return s.interval_s
        # The monitor's current target when it has one: onboarding may have learnt the
        # stream path since `sync`, an import may have changed the password.
        current = self._target_of(camera_id) if self._target_of else None
        target = current or self._targets[camera_id]
        state, cheap_faults, _ = self._state_of(camera_id)
        at = self._now()
        if state is CameraState.OFFLINE:
            await self._resolve(LookOutcome(camera_id, at, False, self.faults(camera_id), (),
                                      error="camera is offline"))  # fmt: skip
            return s.interval_s
        record = await self._store.get_frame(camera_id)
        onboarding = await self._store.get_onboarding(camera_id)
        snapshot_uri = onboarding[0].snapshot_uri if onboarding else None
        try:
            pictures = await self._sources.look(target, snapshot_uri)
            analysis = await self._analyse(camera_id, pictures, record, at)
        except NoPicture as exc:
            return await self._no_picture(camera_id, at, record, exc, cheap_faults)
        self.looks += 1
        saved = await asyncio.to_thread(
            self._snapshots.save, camera_id, analysis.full_jpeg, at, thumb=analysis.thumbnail
        )
        kept = saved.history or saved.latest
        if analysis.new_reference is not None:
            await asyncio.to_thread(
                self._snapshots.save_reference, camera_id, analysis.new_reference
            )
        seen = analysis.diagnosis.faults
        outcome = await self._conclude(
            camera_id, at, seen, record, source=pictures.source, analysis=analysis
        )
        outcome = replace(outcome, evidence=str(kept.relative_to(self._snapshots.root)))
        if self._publish_thumbnail is not None:
            await self._publish_thumbnail(camera_id, analysis.thumbnail)
        await self._resolve(outcome)
        return self._next_delay(camera_id)

    async def _analyse(
        self, camera_id: str, pictures: Pictures, record: FrameRecord | None, at: datetime
    ) -> Analysis:
        s = self._settings.frames
        assert self._cpu is not None, "FrameTier.run is not running"
        reference = await asyncio.to_thread(self._snapshots.reference, camera_id)
        night = night_window(at, s.night_start, s.night_end, s.utc_offset_h)
        job = partial(
            analyse,
            pictures,
            reference_jpeg=reference,
            baseline_json=record.baseline if record else None,
            night_window=night,
            rules=self._rules,
            thumbs=self._thumbs,
        )
        try:
            return await asyncio.get_running_loop().run_in_executor(self._cpu, job)
        except ValueError as exc:  # a picture that does not decode: the camera's fault
            raise NoPicture(pictures.source, ProtocolFailure(f"bad picture: {exc}")) from None

    async def _no_picture(
        self,
        camera_id: str,
        at: datetime,
        record: FrameRecord | None,
        exc: NoPicture,
        cheap_faults: tuple[str, ...],
    ) -> float:
        self.failures += 1
        stream_fine = not (set(cheap_faults) & _CHEAP_RTSP_FAULTS)
        if exc.source == "rtsp" and exc.cause.code in _NO_FRAME_CODES and stream_fine:
            # The stream answers DESCRIBE but gives no picture: the "no signal" of DESIGN §5.
            outcome = await self._conclude(camera_id, at, ("no_signal",), record,
                                           source="rtsp", error=str(exc))  # fmt: skip
            await self._resolve(outcome)
            return self._next_delay(camera_id)
        # Unreachable, refused login, no source at all: the cheap checks report those; the
        # picture faults stay as they were until a picture says otherwise.
        log.debug("camera %s: no picture (%s)", camera_id, exc)
        kept = self.faults(camera_id)
        new = FrameRecord(
            checked_at=at,
            source=exc.source,
            faults=kept,
            pending=tuple(sorted(self.pictures.pending(camera_id))),
            metrics={},
            baseline=record.baseline if record else None,
            thumbnail_sha256=record.thumbnail_sha256 if record else None,
            snapshot_at=record.snapshot_at if record else None,
            error=str(exc),
        )
        await self._save(camera_id, new, [])
        await self._resolve(LookOutcome(camera_id, at, False, kept, (), exc.source, error=str(exc)))
        return self._settings.frames.interval_s

    async def _conclude(
        self,
        camera_id: str,
        at: datetime,
        seen: tuple[str, ...],
        record: FrameRecord | None,
        *,
        source: str,
        analysis: Analysis | None = None,
        error: str = "",
    ) -> LookOutcome:
        verdict = self.pictures.observe(camera_id, seen)
        if verdict.changed:
            if verdict.faults:
                notes = "; ".join(analysis.diagnosis.notes) if analysis else error
                log.info("camera %s: picture faults [%s] (%s)", camera_id,
                         ", ".join(verdict.faults), notes)  # fmt: skip
            else:
                log.info("camera %s: picture right again", camera_id)
        if analysis is not None:
            sha: str | None = analysis.thumbnail_sha256
        else:
            sha = record.thumbnail_sha256 if record else None
        new = FrameRecord(
            checked_at=at,
            source=source,
            faults=verdict.faults,
            pending=tuple(sorted(self.pictures.pending(camera_id))),
            metrics=analysis.diagnosis.metrics.to_json() if analysis else {},
            baseline=analysis.baseline if analysis else (record.baseline if record else None),
            thumbnail_sha256=sha,
            snapshot_at=at if analysis else (record.snapshot_at if record else None),
            error=error,
        )
        messages = self._status_messages(camera_id, sha) if analysis else []
        await self._save(camera_id, new, messages)
        return LookOutcome(camera_id, at, True, verdict.faults, seen, source, sha, error)

    async def _save(self, camera_id: str, record: FrameRecord, messages: list[Message]) -> None:
        try:
            await self._store.save_frame(camera_id, record, messages)
        except UnknownCameraError:
            return  # removed by an import while we looked
        if messages:
            self._on_written()

    def _next_delay(self, camera_id: str) -> float:
        s = self._settings.frames
        if self.pictures.pending(camera_id) and s.confirm_s > 0:
            return s.confirm_s
        return s.interval_s

    async def _resolve(self, outcome: LookOutcome) -> None:
        for future in self._waiters.pop(outcome.camera_id, []):
            if not future.done():
                future.set_result(outcome)
        if self._on_look is not None and outcome.ok:
            try:
                await self._on_look(outcome)
            except Exception:  # a listener's bug must not stop the looks (STYLE 7)
                log.exception("picture listener failed for camera %s", outcome.camera_id)


class LookError(Exception):
    """A look asked for could not be made (message safe to show)."""
