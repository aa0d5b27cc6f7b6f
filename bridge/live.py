"""Live view: one decoder per camera, shared by all its viewers (issue 7, item 3).

:class:`LiveHub` promises:

* **One decoder per camera.**  ``subscribe(camera_id, url_source)`` joins the camera's
  stream or starts it; the check and the start happen without an ``await`` in between, so
  any number of viewers arriving at once share one decoder.  The decoder
  (:func:`adapters.live_decoder.run_decoder`) runs on a worker thread of the hub and gives
  at most ``fps`` JPEGs a second, at most ``max_side`` pixels wide and high, encoded once.
* **The latest picture, never a queue.**  A stream keeps only its newest JPEG; each viewer
  gets the newest one it has not had yet, so a slow viewer skips pictures and holds no
  memory.
* **It stops when nobody watches.**  When the last viewer leaves, the decoder runs on for
  ``grace_s`` (a page reload finds it warm) and is then told to stop; it ends within one
  frame time, or at OpenCV's read timeout for a silent camera.  A stream counts against
  the cap until its thread has ended; a viewer of a camera whose decoder is winding down
  waits for it and starts a new one.
* **Caps, refused clearly.**  At most ``max_streams`` decoders (:class:`LiveLimit`, kind
  ``"streams"``) and ``max_viewers`` viewers per camera (kind ``"viewers"``).
* **Failures end the viewers.**  A stream that cannot be opened, stalls, or has no known
  URL ends every viewer with :class:`LiveStreamError` carrying the adapter's domain error
  (``cause``; its text is safe to log and holds no password).  A viewer waits at most
  ``first_frame_s`` for its first picture and ``stall_s`` for each next one: that deadline
  holds even if OpenCV does not keep its own.  A stream the camera itself ends after
  pictures (a session limit, a restart of its streaming service) is reopened at once, at
  most once every ``reopen_interval_s``; its viewers see a short pause, not an end.
* ``aclose()`` (or leaving ``async with``) ends every viewer with :class:`LiveClosed`,
  tells every decoder to stop and waits for them within ``close_timeout_s``; threads still
  inside OpenCV then end by themselves at its timeouts.

One event loop; the decoder threads talk to it only through ``call_soon_threadsafe``.
Counters for metrics: :meth:`LiveHub.stats`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from adapters.errors import ProbeError, ProbeTimeout, ProtocolFailure
from adapters.live_decoder import DecodeJob, DecodeOutcome, explain, run_decoder
from adapters.rtsp import RtspProber
from adapters.rtsp_grab import configure_opencv
from bridge.settings import HttpSettings

__all__ = [
    "LiveClosed",
    "LiveConfig",
    "LiveError",
    "LiveHub",
    "LiveLimit",
    "LiveStats",
    "LiveStreamError",
    "NoStreamUrl",
    "UrlSource",
    "Viewer",
]

log = logging.getLogger(__name__)

# Called when a camera's decoder starts: its RTSP URL with credentials, None if unknown.
UrlSource = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """The hub's limits and deadlines (``http.live_*`` settings, and fixed defaults)."""

    max_streams: int = 4
    max_viewers: int = 20
    fps: float = 5.0
    max_side: int = 640
    quality: int = 70
    open_timeout_ms: int = 5000
    read_timeout_ms: int = 5000
    grace_s: float = 5.0
    max_view_s: float = 600.0  # one viewing (the endpoint ends its answer after it)
    close_timeout_s: float = 3.0
    reopen_interval_s: float = 30.0
    max_pixels: int = 40_000_000

    @classmethod
    def from_settings(cls, http: HttpSettings) -> LiveConfig:
        """The hub's config from the ``[http]`` section (``live_*`` keys)."""
        return cls(
            max_streams=http.live_max_streams,
            fps=http.live_fps,
            max_side=http.live_width,
            max_view_s=http.live_max_s,
        )

    @property
    def first_frame_s(self) -> float:
        """A viewer's deadline for its first picture: resolve the URL, open, then read the
        first frame or explain a failed open with a DESCRIBE — each bounded by a timeout."""
        return (
            2 * self.open_timeout_ms + max(self.read_timeout_ms, self.open_timeout_ms)
        ) / 1000 + 1.0

    @property
    def stall_s(self) -> float:
        """A viewer's deadline for each next picture (OpenCV's read timeout, plus a frame
        time and some slack: the thread reports a silent camera itself first)."""
        return self.read_timeout_ms / 1000 + 1.0 / self.fps + 1.0


class LiveError(Exception):
    """Base of the hub's errors; messages are safe to log and show."""


class LiveLimit(LiveError):
    """Refused by a cap: ``kind`` is ``"streams"`` (decoders) or ``"viewers"`` (of one
    camera); ``limit`` the cap."""

    def __init__(self, kind: str, limit: int) -> None:
        super().__init__(f"live view limit reached: {limit} {kind}")
        self.kind = kind
        self.limit = limit


class LiveClosed(LiveError):
    """The hub is closed (the daemon is stopping)."""


class LiveStreamError(LiveError):
    """The camera's stream failed; ``cause`` is the adapter's error (``code``:
    unreachable, timeout, auth_failed, protocol, or ``no_stream``)."""

    def __init__(self, cause: ProbeError) -> None:
        super().__init__(str(cause))
        self.cause = cause

    @property
    def code(self) -> str:
        return self.cause.code


class NoStreamUrl(ProbeError):
    """No RTSP URL is known for the camera."""

    code = "no_stream"


@dataclass(frozen=True, slots=True)
class LiveStats:
    """Counters for metrics: ``streams``/``viewers`` now; the rest totals since start."""

    streams: int
    viewers: int
    decoders_started: int
    frames_encoded: int
    frames_sent: int
    reopens: int
    refusals: dict[str, int]
    failures: dict[str, int]


class _Stream:
    """One camera's decoder and its newest picture (loop side)."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self.viewers = 0
        self.frame = b""
        self.seq = 0  # pictures published; a viewer remembers the last one it had
        self.error: LiveStreamError | LiveClosed | None = None
        self.stopping = False
        self.ended = asyncio.Event()
        self.changed = asyncio.Event()  # replaced at every change; its waiters are woken
        self.job: DecodeJob | None = None
        self.grace: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None
        self.started = time.monotonic()
        self.encoded = 0

    def _wake(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    def publish(self, jpeg: bytes) -> None:
        if self.error is None:
            self.frame = jpeg
            self.seq += 1
            self._wake()

    def stop(self) -> None:
        """Tell the decoder to stop (idempotent)."""
        self.stopping = True
        if self.grace is not None:
            self.grace.cancel()
            self.grace = None
        if self.job is not None:
            self.job.stop.set()

    def failure(self) -> LiveError:
        """A fresh exception for one viewer (one instance raised in many tasks would
        collect all their tracebacks)."""
        if isinstance(self.error, LiveStreamError):
            return LiveStreamError(self.error.cause)
        return LiveClosed(str(self.error or "live stream ended"))

    def fail(self, error: LiveStreamError | LiveClosed) -> None:
        """End every viewer with ``error`` (the first error wins) and stop the decoder."""
        if self.error is None:
            self.error = error
            self._wake()
        self.stop()


class Viewer:
    """One viewer's subscription: :meth:`next_frame` gives the stream's newest picture."""

    def __init__(self, hub: LiveHub, stream: _Stream) -> None:
        self._hub = hub
        self._stream = stream
        self._seen = 0
        self.frames = 0

    @property
    def camera_id(self) -> str:
        return self._stream.camera_id

    async def next_frame(self) -> bytes:
        """The newest JPEG this viewer has not had, waiting for it if need be.

        Raises :class:`LiveStreamError` when the stream fails or stalls (no picture within
        ``first_frame_s`` for the first, ``stall_s`` for the next ones), :class:`LiveClosed`
        when the hub closes."""
        config = self._hub.config
        stream = self._stream
        deadline_s = config.first_frame_s if self._seen == 0 else config.stall_s
        try:
            async with asyncio.timeout(deadline_s):
                while True:
                    if stream.error is not None:
                        raise stream.failure()
                    if stream.seq > self._seen:
                        self._seen = stream.seq
                        self.frames += 1
                        self._hub._frames_sent += 1
                        return stream.frame
                    await stream.changed.wait()
        except TimeoutError:
            what = "no picture" if self._seen == 0 else "stream stalled: no picture"
            self._hub._stream_failed(stream, ProbeTimeout(f"{what} within {deadline_s:g} s"))
            raise stream.failure() from None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        return await self.next_frame()


class LiveHub:
    """Shares one decoder per camera among its viewers; see the module promises.

    ``async with LiveHub(config) as hub`` (or ``await hub.start()`` … ``await hub.aclose()``)
    owns the decoder threads.  Not re-entrant; one event loop.
    """

    def __init__(self, config: LiveConfig) -> None:
        self.config = config
        self._streams: dict[str, _Stream] = {}
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._closed = True
        self._prober = RtspProber(auth_cache_size=256)
        self._decoders_started = 0
        self._frames_encoded = 0
        self._frames_sent = 0
        self._reopens = 0
        self._refusals: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self._pool is not None:
            raise RuntimeError("LiveHub is already started")
        await asyncio.to_thread(configure_opencv)  # the first cv2 import takes ~0.2 s
        # One thread per stream the cap allows: a stream holds its slot in the cap until its
        # thread has ended, so a job never waits for a thread.
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.config.max_streams, thread_name_prefix="live-decode"
        )
        self._closed = False

    async def aclose(self) -> None:
        """End every viewer and decoder; see the module promises.  Idempotent."""
        self._closed = True
        streams = list(self._streams.values())
        for stream in streams:
            stream.fail(LiveClosed("live view closed: the daemon is stopping"))
        tasks = [s.task for s in streams if s.task is not None and not s.task.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.config.close_timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("live view: %d decoder(s) still busy at close", len(pending))
                await asyncio.wait(pending)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- counters ------------------------------------------------------------------------

    @property
    def streams(self) -> int:
        """Decoders running now (winding-down ones included: they still use CPU)."""
        return len(self._streams)

    @property
    def viewers(self) -> int:
        return sum(s.viewers for s in self._streams.values())

    def stats(self) -> LiveStats:
        return LiveStats(
            streams=self.streams,
            viewers=self.viewers,
            decoders_started=self._decoders_started,
            frames_encoded=self._frames_encoded,
            frames_sent=self._frames_sent,
            reopens=self._reopens,
            refusals=dict(self._refusals),
            failures=dict(self._failures),
        )

    # --- viewers -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self, camera_id: str, url_source: UrlSource) -> AsyncIterator[Viewer]:
        """Watch ``camera_id``: yields a :class:`Viewer`; leaving releases it, however the
        body ends.  ``url_source`` is called only when a decoder has to start.

        Raises :class:`LiveLimit` at a cap and :class:`LiveClosed` when closed (before
        yielding); the viewer raises :class:`LiveStreamError` when the stream fails."""
        stream = await self._join(camera_id, url_source)
        try:
            yield Viewer(self, stream)
        finally:
            self._leave(stream)

    async def _join(self, camera_id: str, url_source: UrlSource) -> _Stream:
        while True:
            if self._closed or self._pool is None:
                raise LiveClosed("live view is not running")
            stream = self._streams.get(camera_id)
            if stream is not None and stream.stopping and stream.error is None:
                # Winding down after its grace: wait for its thread, then start anew.
                try:
                    async with asyncio.timeout(self.config.stall_s):
                        await stream.ended.wait()
                except TimeoutError:
                    cause = ProbeTimeout("the camera's previous decoder did not end in time")
                    raise LiveStreamError(cause) from None
                continue
            if stream is None:
                if len(self._streams) >= self.config.max_streams:
                    self._refusals["streams"] += 1
                    raise LiveLimit("streams", self.config.max_streams)
                stream = self._start(camera_id, url_source)
            elif stream.viewers >= self.config.max_viewers:
                self._refusals["viewers"] += 1
                raise LiveLimit("viewers", self.config.max_viewers)
            stream.viewers += 1
            if stream.grace is not None:
                stream.grace.cancel()
                stream.grace = None
            return stream

    def _leave(self, stream: _Stream) -> None:
        stream.viewers -= 1
        if stream.viewers > 0 or stream.stopping:
            return
        loop = asyncio.get_running_loop()
        stream.grace = loop.call_later(self.config.grace_s, self._expire, stream)

    def _expire(self, stream: _Stream) -> None:
        stream.grace = None
        if stream.viewers == 0 and not stream.stopping:
            log.debug("live camera %s: nobody watching, stopping its decoder", stream.camera_id)
            stream.stop()

    # --- decoders ------------------------------------------------------------------------

    def _start(self, camera_id: str, url_source: UrlSource) -> _Stream:
        stream = _Stream(camera_id)
        self._streams[camera_id] = stream
        stream.task = asyncio.create_task(self._drive(stream, url_source), name=f"live-{camera_id}")
        return stream

    async def _drive(self, stream: _Stream, url_source: UrlSource) -> None:
        """A stream's whole life: resolve the URL, run the decoder thread, report how it
        ended, and leave the hub once the thread is gone."""
        config = self.config
        try:
            async with asyncio.timeout(config.open_timeout_ms / 1000):
                url = await url_source()
            if url is None:
                raise NoStreamUrl("no RTSP address known for this camera")
            loop = asyncio.get_running_loop()
            job = DecodeJob(
                url=url,
                fps=config.fps,
                max_side=config.max_side,
                quality=config.quality,
                open_timeout_ms=config.open_timeout_ms,
                read_timeout_ms=config.read_timeout_ms,
                max_pixels=config.max_pixels,
                on_frame=lambda jpeg: loop.call_soon_threadsafe(self._publish, stream, jpeg),
            )
            stream.job = job
            pool = self._pool
            if stream.stopping or pool is None:  # failed or closed during the look-up
                return
            self._decoders_started += 1
            log.info(
                "live camera %s: decoder started (%d of %d streams)",
                stream.camera_id,
                len(self._streams),
                config.max_streams,
            )
            outcome = await self._decode(stream, job, pool)
            if outcome.failed is not None and not stream.stopping:
                raise await explain(outcome, url, job, self._prober)
            log.info(
                "live camera %s: decoder stopped after %.0f s, %d pictures",
                stream.camera_id,
                time.monotonic() - stream.started,
                stream.encoded,
            )
        except TimeoutError:
            self._stream_failed(stream, ProbeTimeout("the camera's address was not found in time"))
        except ProbeError as exc:
            self._stream_failed(stream, exc)
        except Exception:  # one stream's bug must not take the hub down (STYLE 7)
            log.exception("live camera %s: decoder failed", stream.camera_id)
            self._stream_failed(stream, ProtocolFailure("internal error"))
        finally:
            if stream.error is None:
                stream.fail(LiveClosed("live stream ended"))
            else:
                stream.stop()
            stream.ended.set()
            if self._streams.get(stream.camera_id) is stream:
                del self._streams[stream.camera_id]

    async def _decode(
        self, stream: _Stream, job: DecodeJob, pool: concurrent.futures.Executor
    ) -> DecodeOutcome:
        """Run the decoder thread until it is told to stop or fails; a stream the camera
        closed after pictures (a session limit, a restart) is reopened at once, at most
        once per ``reopen_interval_s``."""
        loop = asyncio.get_running_loop()
        reopened_at = -math.inf
        while True:
            outcome: DecodeOutcome = await loop.run_in_executor(pool, run_decoder, job)
            stream.encoded += outcome.encoded
            now = time.monotonic()
            closed = (
                outcome.failed == "read"
                and outcome.encoded > 0
                and outcome.step_ms < 0.5 * self.config.read_timeout_ms  # not a silence
            )
            if stream.stopping or not closed or now - reopened_at < self.config.reopen_interval_s:
                return outcome
            reopened_at = now
            self._reopens += 1
            log.info(
                "live camera %s: the camera ended the stream after %d pictures; reopening",
                stream.camera_id,
                outcome.encoded,
            )

    def _stream_failed(self, stream: _Stream, cause: ProbeError) -> None:
        if stream.error is None:
            log.warning("live camera %s: stream failed: %s", stream.camera_id, cause)
            self._failures[cause.code] += 1
        stream.fail(LiveStreamError(cause))

    def _publish(self, stream: _Stream, jpeg: bytes) -> None:
        self._frames_encoded += 1
        stream.publish(jpeg)
