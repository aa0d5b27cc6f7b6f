"""Frames from a camera's RTSP stream, decoded by OpenCV's FFmpeg backend in a bounded pool.

Promises of :class:`FrameGrabber`:

* Decoding never runs on the event loop: every grab runs in the grabber's own thread pool of
  ``threads`` threads.  A grab holds one slot from the moment it is handed to a thread until
  that thread ends — not until the caller's deadline — so a camera that hangs the decoder costs
  one slot, never the pool; when every slot is held, a grab waits for one within its own
  deadline and then fails with ``ProbeTimeout`` (it never queues forever).  ``busy`` is the
  number of slots held, for metrics.
* The caller gets an answer at ``deadline_s`` at the latest, whatever the thread is doing:
  the thread is told to give up at its next step and ends by itself at the OpenCV timeouts
  (``open_timeout_ms``, ``read_timeout_ms``: set them at or below the deadlines you use,
  they bound how long a silent camera can hold a slot).  Cancelling the caller frees the
  slot in the same way.
* FFmpeg is told to use RTSP over TCP, to probe as little as possible, to set up only the
  video stream and to decode on one thread: on loopback a grab takes ~0.2 s and 5-8 ms CPU
  (640x360 to 1080p; bench/bench_frames.py), against ~3 s with FFmpeg's default probing and
  ~110-160 ms CPU for an ``ffmpeg`` process per grab.  These settings are process-global
  environment variables (:func:`configure_opencv`, called on entering a grabber).
* Credentials in the URL (``rtsp://user:pass@host:port/path``, raw special characters
  allowed, see :mod:`bridge.url_credentials`) are percent-encoded before FFmpeg sees them —
  raw, FFmpeg reads part of the password as a host name and looks it up in DNS.  They never
  reach logs, exceptions or stderr: OpenCV's and FFmpeg's logging are switched off.
* A stream that declares more than ``max_pixels`` (SDP or SPS) is refused after the open,
  before the decoder allocates a picture of that size (DESIGN §12).
* Failures are :mod:`adapters.errors`.  OpenCV only says "not opened", so when an open fails
  before its timeout, one RTSP ``DESCRIBE`` (:class:`adapters.rtsp.RtspProber`, ~0.2 ms CPU)
  tells why: ``Unreachable`` (refused, reset), ``AuthFailed`` (401), ``ProtocolFailure``
  (another status, with ``status``; or a stream that answers but OpenCV cannot decode, or a
  non-RTSP URL that does not open).  An open or a read that used up its timeout, or the
  deadline, is ``ProbeTimeout``.

``frames=2, gap_s=2`` reopens the stream for the second frame, started so that the frame
arrives about ``gap_s`` after the first (using the first open's duration as the estimate):
measured on loopback, reopening costs 8.5 ms CPU at 640x360/10 fps and 18 ms at 1080p/25 fps,
decoding every frame of the 2 s gap 16 ms and 96 ms.  Gaps under ``REOPEN_MIN_GAP_S`` keep
the stream open and decode through the gap (a reopen cannot be faster than an open).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Final, NoReturn, Self
from urllib.parse import quote

from adapters.errors import ProbeError, ProbeTimeout, ProtocolFailure
from adapters.rtsp import RtspProber, RtspTarget
from bridge.url_credentials import split_rtsp_credentials, url_host_port, url_path

if TYPE_CHECKING:
    import numpy as np

# cv2 (~25 MiB of RSS, ~0.2 s) is imported on entering a grabber, not with this module.

__all__ = [
    "CAPTURE_OPTIONS",
    "REOPEN_MIN_GAP_S",
    "FrameGrabber",
    "configure_opencv",
    "ffmpeg_url",
    "jpeg_encode",
]

logger = logging.getLogger(__name__)

# FFmpeg AVOptions, "key;value|key;value" (OpenCV parses them with av_dict_parse_string at
# every open).  Setting the variable replaces OpenCV's default "rtsp_flags;prefer_tcp",
# so TCP is asked for here.  analyzeduration 0 / probesize 32: stop probing after the first
# packet (SDP sprop-parameter-sets give H.264/H.265 their size); 2.9 s -> 0.25 s per grab.
# allowed_media_types: no SETUP for the audio track.  (fflags;nobuffer made grabs ~1 s
# slower against GStreamer: left out.)
CAPTURE_OPTIONS: Final = (
    "rtsp_transport;tcp|analyzeduration;0|probesize;32|allowed_media_types;video"
)
REOPEN_MIN_GAP_S: Final = 0.5
_ENVIRONMENT: Final = {
    "OPENCV_FFMPEG_CAPTURE_OPTIONS": CAPTURE_OPTIONS,
    # Without it OpenCV serialises every open() of the process behind one mutex: a silent
    # camera would stall all grabs for its open timeout (measured: a good stream waited the
    # full 3 s behind a blackhole).  FFmpeg >= 4 opens inputs thread-safely.
    "OPENCV_FFMPEG_IS_THREAD_SAFE": "1",
    # AV_LOG_QUIET: FFmpeg's messages name hosts and URLs.  Read at every open.
    "OPENCV_FFMPEG_LOGLEVEL": "-8",
    # OpenCV's own logger; read once, so configure_opencv() also sets the level at run time.
    "OPENCV_LOG_LEVEL": "SILENT",
}
_TIMEOUT_SHARE: Final = 0.95  # an open or read that took this share of its timeout timed out
_DIAGNOSE_CACHE: Final = 1_000
_configured = threading.Lock()


def configure_opencv() -> None:
    """Set OpenCV's FFmpeg options and silence its logging, for the whole process.

    Idempotent; call before the first ``cv2.VideoCapture`` of the process (entering a
    :class:`FrameGrabber` does).  Overrides values already in the environment: TCP,
    short probing, unlocked opens and silence are what the grabber's promises rest on.
    """
    with _configured:
        for name, value in _ENVIRONMENT.items():
            if os.environ.get(name) != value:
                os.environ[name] = value
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def jpeg_encode(image: np.ndarray, quality: int = 85) -> bytes:
    """``image`` (BGR or grey, uint8) as JPEG bytes; ``ValueError`` when OpenCV cannot."""
    import cv2

    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(encoded.tobytes())


def ffmpeg_url(url: str) -> str:
    """``url`` with its userinfo percent-encoded (FFmpeg decodes it; raw '#', '@', '/' or
    ':' in a password would make it split the URL in the wrong place)."""
    bare, user, password = split_rtsp_credentials(url)
    if user is None:
        return url
    sep = bare.index("://") + 3
    userinfo = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return f"{bare[:sep]}{userinfo}@{bare[sep:]}"


@dataclass(slots=True, eq=False)  # eq=False: hashable by identity, kept in a set
class _Job:
    """One grab, as its thread sees it.  ``abandoned`` is set when the caller has gone."""

    url: str = field(repr=False)
    frames: int
    gap_s: float
    open_timeout_ms: int
    read_timeout_ms: int
    max_pixels: int
    abandoned: threading.Event = field(default_factory=threading.Event)


@dataclass(slots=True)
class _Outcome:
    """What a thread brings back: frames, or why not (``open`` / ``read`` failed, with the
    time that step took; ``size``, with the size; or ``abandoned``)."""

    frames: list[np.ndarray]
    failed: str | None = None
    step_ms: float = 0.0
    size: tuple[int, int] = (0, 0)


class FrameGrabber:
    """Grabs BGR frames from RTSP URLs; see the module promises.

    ``async with FrameGrabber(...) as grabber`` owns the thread pool; reusable after exit,
    not re-entrant.  On exit, threads still running are told to give up and end at their
    OpenCV timeouts (the interpreter waits for them at exit).  One event loop only.
    """

    def __init__(
        self,
        *,
        threads: int = 2,
        open_timeout_ms: int = 5000,
        read_timeout_ms: int = 5000,
        max_pixels: int = 40_000_000,
    ) -> None:
        self.threads = threads
        self.open_timeout_ms = open_timeout_ms
        self.read_timeout_ms = read_timeout_ms
        self.max_pixels = max_pixels
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self._busy = 0
        self._jobs: set[_Job] = set()
        self._prober = RtspProber(auth_cache_size=_DIAGNOSE_CACHE)

    @property
    def busy(self) -> int:
        """Grab threads running now (hung ones included)."""
        return self._busy

    async def __aenter__(self) -> Self:
        if self._pool is not None:
            raise RuntimeError("FrameGrabber is already entered")
        if self.threads < 1:
            raise ValueError("threads must be at least 1")
        await asyncio.to_thread(configure_opencv)  # the first cv2 import takes ~0.2 s
        self._slots = asyncio.Semaphore(self.threads)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.threads, thread_name_prefix="rtsp-grab"
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pool, self._pool, self._slots = self._pool, None, None
        for job in self._jobs:
            job.abandoned.set()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def grab(
        self, url: str, *, deadline_s: float, frames: int = 1, gap_s: float = 0.0
    ) -> list[np.ndarray]:
        """``frames`` BGR frames from ``url``, the k-th about ``k * gap_s`` after the first,
        within ``deadline_s`` (waiting for a slot included).  Raises `ProbeTimeout`,
        `Unreachable`, `AuthFailed` or `ProtocolFailure` (see the module promises)."""
        pool, slots = self._pool, self._slots
        if pool is None or slots is None:
            raise RuntimeError("FrameGrabber is not entered")
        if frames < 1 or gap_s < 0 or deadline_s <= 0:
            raise ValueError("need frames >= 1, gap_s >= 0, deadline_s > 0")
        job = _Job(
            ffmpeg_url(url),
            frames,
            gap_s,
            self.open_timeout_ms,
            self.read_timeout_ms,
            self.max_pixels,
        )
        started = time.monotonic()
        slot_wait_s: float | None = None  # None: still waiting for a slot
        try:
            async with asyncio.timeout(deadline_s):
                await slots.acquire()
                future = self._submit(pool, slots, job)
                slot_wait_s = time.monotonic() - started
                outcome = await asyncio.wrap_future(future)
                if outcome.failed is None:
                    return outcome.frames
                await self._explain(outcome, url)
        except TimeoutError:
            if slot_wait_s is None:
                raise ProbeTimeout(
                    f"no free grab slot within {deadline_s:g} s ({self._busy} threads busy)"
                ) from None
            raise ProbeTimeout(
                f"no frame within {deadline_s:g} s (a slot was free after {slot_wait_s:.1f} s)"
            ) from None
        finally:
            job.abandoned.set()  # no-op for a finished thread; tells a running one to stop

    def _submit(
        self,
        pool: concurrent.futures.ThreadPoolExecutor,
        slots: asyncio.Semaphore,
        job: _Job,
    ) -> concurrent.futures.Future[_Outcome]:
        """Start ``job`` on the pool; the slot (already acquired) comes back when its thread
        ends, or at once if it never starts."""
        loop = asyncio.get_running_loop()
        try:
            future = pool.submit(_run, job)
        except BaseException:
            slots.release()
            raise
        self._busy += 1
        self._jobs.add(job)

        def thread_done() -> None:
            self._busy -= 1
            self._jobs.discard(job)
            slots.release()

        def on_done(_: concurrent.futures.Future[_Outcome]) -> None:
            # A closed loop has nobody left to wait for the slot.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(thread_done)

        future.add_done_callback(on_done)
        return future

    async def _explain(self, outcome: _Outcome, url: str) -> NoReturn:
        """Raise the domain error for a failed grab (called within the deadline)."""
        if outcome.failed == "abandoned":
            raise ProbeTimeout("grab abandoned: the grabber was closed")
        if outcome.failed == "size":
            width, height = outcome.size
            raise ProtocolFailure(
                f"stream of {width}x{height} refused (limit {self.max_pixels} pixels)"
            )
        if outcome.failed == "read":
            if outcome.step_ms >= _TIMEOUT_SHARE * self.read_timeout_ms:
                raise ProbeTimeout(f"stream opened, no frame within {self.read_timeout_ms} ms")
            raise ProtocolFailure("stream opened, but no frame could be decoded")
        if outcome.step_ms >= _TIMEOUT_SHARE * self.open_timeout_ms:
            raise ProbeTimeout(f"stream did not open within {self.open_timeout_ms} ms")
        # The caller's deadline bounds this; the prober's own is only a backstop.
        raise await why_not_opened(self._prober, url, self.open_timeout_ms / 1000)


async def why_not_opened(prober: RtspProber, url: str, timeout_s: float) -> ProbeError:
    """Why OpenCV could not open ``url``: one RTSP DESCRIBE tells unreachable, login refused
    and the camera's own errors apart (``url`` may hold credentials; they are sent, never
    shown).  Returns the domain error to raise."""
    target = rtsp_target(url)
    if target is None:
        return ProtocolFailure("stream could not be opened")
    try:
        await prober.describe(target, timeout_s)
    except ProbeTimeout:
        return ProbeTimeout("stream did not open: DESCRIBE unanswered")
    except ProtocolFailure as exc:
        return ProtocolFailure(f"stream did not open: {exc}", status=exc.status)
    except ProbeError as exc:  # Unreachable, AuthFailed
        return type(exc)(f"stream did not open: {exc}")
    return ProtocolFailure("stream answers DESCRIBE, but OpenCV could not open it")


def rtsp_target(url: str) -> RtspTarget | None:
    """Host, port, path and credentials of an ``rtsp://`` URL, for the DESCRIBE diagnosis."""
    bare, user, password = split_rtsp_credentials(url)
    parts = url_host_port(bare)
    if parts is None or parts[0] != "rtsp":
        return None
    _, host, port_text = parts
    try:
        port = int(port_text) if port_text else 554
    except ValueError:
        return None
    if not 0 < port < 65536:
        return None
    return RtspTarget(host.strip("[]"), port, url_path(bare), user, password)


def _run(job: _Job) -> _Outcome:
    """The thread's side of one grab: open, read, reopen after gaps; never raises."""
    import cv2

    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        job.open_timeout_ms,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        job.read_timeout_ms,
        cv2.CAP_PROP_N_THREADS,  # one decoder thread: a frame comes out one packet sooner
        1,
    ]
    frames: list[np.ndarray] = []
    capture: cv2.VideoCapture | None = None
    open_s = 0.0
    first_at = 0.0
    try:
        while len(frames) < job.frames:
            if job.abandoned.is_set():
                return _Outcome(frames, "abandoned")
            if frames and job.gap_s >= REOPEN_MIN_GAP_S:
                if capture is not None:
                    capture.release()
                    capture = None
                due = first_at + len(frames) * job.gap_s - open_s
                if job.abandoned.wait(max(0.0, due - time.monotonic())):
                    return _Outcome(frames, "abandoned")
            if capture is None:
                t0 = time.monotonic()
                capture = cv2.VideoCapture(job.url, cv2.CAP_FFMPEG, params)
                if not capture.isOpened():
                    return _Outcome(frames, "open", (time.monotonic() - t0) * 1000)
                # The size the stream declares (SDP, SPS), checked before the decoder
                # allocates a picture of it; 0 when not known yet.
                size = (
                    int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                    int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                )
                if size[0] * size[1] > job.max_pixels:
                    return _Outcome(frames, "size", size=size)
                open_s = time.monotonic() - t0
            elif frames:  # a short gap: decode through it on the open stream
                until = first_at + len(frames) * job.gap_s
                while time.monotonic() < until and not job.abandoned.is_set():
                    if not capture.grab():
                        return _Outcome(frames, "read")
            t0 = time.monotonic()
            ok, image = capture.read()
            if not ok or image is None:
                return _Outcome(frames, "read", (time.monotonic() - t0) * 1000)
            if not frames:
                first_at = time.monotonic()
                open_s += first_at - t0
            frames.append(image)
        return _Outcome(frames)
    except Exception:  # cv2.error and the like: their text may hold the URL
        logger.debug("frame grab failed inside OpenCV", exc_info=False)
        return _Outcome(frames, "read")
    finally:
        if capture is not None:
            capture.release()
