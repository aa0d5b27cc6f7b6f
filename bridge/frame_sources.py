"""Where a camera's pictures come from: its ONVIF snapshot URL, else a frame of its RTSP stream.

Two pictures ``frames.frozen_gap_s`` apart make one look (a frozen picture is one that does
not change).  The HTTP snapshot is preferred: a JPEG the camera made itself, ~1 ms of our
CPU, no decoder of ours involved.  When the camera has no snapshot URL, or it fails for a
reason other than a refused login, the RTSP stream is grabbed with OpenCV in a bounded
thread pool (`adapters.rtsp_grab`).

Nothing here decodes or judges: the caller does that off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self
from urllib.parse import quote

import aiohttp

from adapters.errors import AuthFailed, ProbeError, ProtocolFailure
from adapters.rtsp_grab import FrameGrabber
from adapters.snapshot_http import fetch_snapshot
from bridge.checker import CheckTarget
from bridge.settings import FrameSettings

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# OpenCV's own open and read timeouts: below the look's deadline, so a hung stream usually
# releases its thread before the deadline rather than long after it.
GRAB_OPEN_TIMEOUT_MS = 5000
GRAB_READ_TIMEOUT_MS = 5000


class NoPicture(Exception):
    """A look got no pictures.  ``source`` is the last source tried (``"http"``, ``"rtsp"``
    or None when the camera has neither); ``cause`` the adapter's error (safe to log)."""

    def __init__(self, source: str | None, cause: ProbeError) -> None:
        super().__init__(f"{source or 'no source'}: {cause}")
        self.source = source
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Pictures:
    """One look: JPEG bytes (HTTP snapshots) or decoded BGR frames (RTSP), oldest first."""

    source: str  # "http" or "rtsp"
    jpegs: tuple[bytes, ...] = ()
    images: tuple[np.ndarray, ...] = ()


def rtsp_url(target: CheckTarget) -> str | None:
    """The stream URL OpenCV opens, credentials included (never log it); None without a
    stream path."""
    if not target.rtsp_path:
        return None
    auth = ""
    if target.username:
        auth = quote(target.username, safe="")
        if target.password:
            auth += ":" + quote(target.password, safe="")
        auth += "@"
    host = f"[{target.host}]" if ":" in target.host else target.host
    path = target.rtsp_path if target.rtsp_path.startswith("/") else "/" + target.rtsp_path
    return f"rtsp://{auth}{host}:{target.rtsp_port}{path}"


class FrameSources:
    """Gets two pictures of a camera.  An async context manager: it owns the HTTP session
    and the grabber's threads."""

    def __init__(self, settings: FrameSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._grabber: FrameGrabber | None = None

    async def __aenter__(self) -> Self:
        # No cookie jar (cameras set session cookies nobody needs), no keep-alive pool beyond
        # a look: a look every 15 minutes would hold idle sockets for nothing.
        self._session = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            connector=aiohttp.TCPConnector(force_close=True, limit=0),
        )
        grabber = FrameGrabber(
            threads=self._settings.grab_threads,
            open_timeout_ms=GRAB_OPEN_TIMEOUT_MS,
            read_timeout_ms=GRAB_READ_TIMEOUT_MS,
        )
        self._grabber = await grabber.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._grabber is not None:
            await self._grabber.__aexit__(exc_type, exc, tb)
            self._grabber = None

    @property
    def grabs_busy(self) -> int:
        return self._grabber.busy if self._grabber is not None else 0

    async def look(self, target: CheckTarget, snapshot_uri: str | None) -> Pictures:
        """Two pictures ``frozen_gap_s`` apart, within ``frames.timeout_s`` each way.

        Raises `NoPicture` when neither source gave them (with the RTSP error when both
        were tried: it says more about the picture)."""
        if self._session is None or self._grabber is None:
            raise RuntimeError("FrameSources used outside its context")
        s = self._settings
        http_error: ProbeError | None = None
        if snapshot_uri:
            try:
                return await self._http(target, snapshot_uri)
            except AuthFailed as exc:
                # The same login would be refused on RTSP: do not try twice (lockouts).
                raise NoPicture("http", exc) from None
            except ProbeError as exc:
                http_error = exc
                log.debug("camera %s: snapshot failed (%s); trying RTSP", target.camera_id, exc)
        url = rtsp_url(target)
        if url is None:
            if http_error is not None:
                raise NoPicture("http", http_error)
            raise NoPicture(None, ProtocolFailure("no snapshot URL and no RTSP path known"))
        try:
            images = await self._grabber.grab(
                url, deadline_s=s.timeout_s + s.frozen_gap_s, frames=2, gap_s=s.frozen_gap_s
            )
        except ProbeError as exc:
            raise NoPicture("rtsp", exc) from None
        return Pictures("rtsp", images=tuple(images))

    async def _http(self, target: CheckTarget, uri: str) -> Pictures:
        assert self._session is not None
        s = self._settings
        jpegs: list[bytes] = []
        for i in range(2):
            if i:
                await asyncio.sleep(s.frozen_gap_s)
            shot = await fetch_snapshot(
                self._session,
                uri,
                username=target.username,
                password=target.password,
                timeout_s=s.timeout_s,
                max_bytes=s.max_jpeg_bytes,
                max_pixels=s.max_pixels,
            )
            jpegs.append(shot.jpeg)
        return Pictures("http", jpegs=tuple(jpegs))
