"""One camera's RTSP stream as a run of small JPEGs, for the live view: OpenCV on a thread.

:func:`run_decoder` is the thread's side (it blocks; run it in a worker thread, never on the
event loop).  Promises:

* The capture is opened, read and released in the calling thread.  FFmpeg gets the same
  options as the frame grabber (:func:`adapters.rtsp_grab.configure_opencv`: RTSP over TCP,
  minimal probing, video only, silent), one decoder thread, and OpenCV's open and read
  timeouts, so a silent camera ends the thread at ``open_timeout_ms`` or ``read_timeout_ms``.
* At most ``fps`` pictures a second come out: every frame is ``grab()``-ed (a video decoder
  must see every frame), but only a frame that is due is ``retrieve()``-d (converted to
  BGR), scaled down to fit ``max_side`` x ``max_side`` (aspect kept, never enlarged) and
  JPEG-encoded — once, whoever watches.  Frames in between are dropped.
* Each picture goes to ``on_frame(jpeg)`` on this thread (hand it to the loop with
  ``call_soon_threadsafe``).  The thread checks ``stop`` between frames: it ends within one
  frame time of being told, or at the read timeout when the camera went silent.
* A stream declaring more than ``max_pixels`` is refused after the open (DESIGN §12).
* The URL (credentials in it) never reaches logs or exceptions; OpenCV's errors, whose text
  may quote it, are swallowed into the outcome.

:func:`explain` turns a failed outcome into one of :mod:`adapters.errors` — OpenCV only says
"not opened", so an open that failed before its timeout is explained by one RTSP
``DESCRIBE`` (refused → ``Unreachable``, 401 → ``AuthFailed``, another status →
``ProtocolFailure``), as :class:`adapters.rtsp_grab.FrameGrabber` does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from adapters.errors import ProbeError, ProbeTimeout, ProtocolFailure
from adapters.rtsp import RtspProber
from adapters.rtsp_grab import ffmpeg_url, jpeg_encode, why_not_opened

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DecodeJob", "DecodeOutcome", "explain", "fit_size", "run_decoder"]

log = logging.getLogger(__name__)

_TIMEOUT_SHARE: Final = 0.95  # an open or read that took this share of its timeout timed out


@dataclass(frozen=True, slots=True)
class DecodeJob:
    """What the decoder thread is to do.  ``url`` holds credentials: never log it."""

    url: str = field(repr=False)
    fps: float
    max_side: int
    quality: int
    open_timeout_ms: int
    read_timeout_ms: int
    on_frame: Callable[[bytes], object] = field(repr=False)
    stop: threading.Event = field(default_factory=threading.Event, repr=False)
    max_pixels: int = 40_000_000


@dataclass(slots=True)
class DecodeOutcome:
    """How the thread ended: ``failed`` is None when it was told to stop, else the step that
    failed (``"open"``, ``"read"``, ``"size"``) with ``step_ms`` that step took and the
    declared ``size`` for ``"size"``.  ``decoded`` frames were grabbed, ``encoded`` sent."""

    failed: str | None = None
    step_ms: float = 0.0
    size: tuple[int, int] = (0, 0)
    decoded: int = 0
    encoded: int = 0


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled down to fit ``max_side`` x ``max_side``, aspect kept, at
    least 1 pixel each way; unchanged when it already fits (never enlarged)."""
    scale = min(1.0, max_side / max(width, height, 1))
    if scale >= 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def run_decoder(job: DecodeJob) -> DecodeOutcome:
    """The decoder thread: open, grab every frame, encode the due ones; never raises."""
    import cv2

    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        job.open_timeout_ms,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        job.read_timeout_ms,
        # One decoder thread: a 1080p stream costs at most one core, and FFmpeg's frame
        # threads would add a frame of latency each.
        cv2.CAP_PROP_N_THREADS,
        1,
    ]
    outcome = DecodeOutcome()
    period_s = 1.0 / job.fps
    capture: cv2.VideoCapture | None = None
    try:
        t0 = time.monotonic()
        capture = cv2.VideoCapture(ffmpeg_url(job.url), cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            outcome.failed, outcome.step_ms = "open", (time.monotonic() - t0) * 1000
            return outcome
        # The size the stream declares (SDP, SPS), checked before the decoder allocates it.
        size = (
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        if size[0] * size[1] > job.max_pixels:
            outcome.failed, outcome.size = "size", size
            return outcome
        due: float | None = None  # when the next picture is due; None: the first one is
        while not job.stop.is_set():
            t0 = time.monotonic()
            if not capture.grab():
                outcome.failed, outcome.step_ms = "read", (time.monotonic() - t0) * 1000
                return outcome
            outcome.decoded += 1
            now = time.monotonic()
            if due is not None and now < due:
                continue  # not due: dropped without the BGR conversion
            ok, image = capture.retrieve()
            if not ok or image is None:
                outcome.failed = "read"
                return outcome
            # The next one a period after this one's slot, so that frames arriving a little
            # late do not lower the rate; but never closer than half a period to this one.
            due = now + period_s if due is None else max(due + period_s, now + period_s / 2)
            job.on_frame(_encode(image, job.max_side, job.quality))
            outcome.encoded += 1
        return outcome
    except Exception:  # cv2.error and the like: their text may hold the URL
        log.debug("live decoder failed inside OpenCV", exc_info=False)
        outcome.failed = "read"
        return outcome
    finally:
        if capture is not None:
            capture.release()


def _encode(image: np.ndarray, max_side: int, quality: int) -> bytes:
    import cv2

    height, width = image.shape[:2]
    size = fit_size(width, height, max_side)
    if size != (width, height):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return jpeg_encode(image, quality)


async def explain(
    outcome: DecodeOutcome, url: str, job: DecodeJob, prober: RtspProber
) -> ProbeError:
    """The domain error for a failed ``outcome`` of ``job`` (``url`` may hold credentials;
    they are used for the DESCRIBE and never shown).  At most ``job.open_timeout_ms``."""
    if outcome.failed == "size":
        width, height = outcome.size
        return ProtocolFailure(f"stream of {width}x{height} refused (limit {job.max_pixels})")
    if outcome.failed == "read":
        if outcome.decoded == 0 and outcome.step_ms >= _TIMEOUT_SHARE * job.read_timeout_ms:
            return ProbeTimeout(f"stream opened, no frame within {job.read_timeout_ms} ms")
        if outcome.step_ms >= _TIMEOUT_SHARE * job.read_timeout_ms:
            return ProbeTimeout(f"stream stalled: no frame for {job.read_timeout_ms} ms")
        return ProtocolFailure("stream ended or could not be decoded")
    if outcome.step_ms >= _TIMEOUT_SHARE * job.open_timeout_ms:
        return ProbeTimeout(f"stream did not open within {job.open_timeout_ms} ms")
    return await why_not_opened(prober, url, job.open_timeout_ms / 1000)
