"""``GET /api/cameras/{id}/live.mjpeg``: a camera's live view as MJPEG (issue 7, item 3).

The answer is ``multipart/x-mixed-replace`` (what an ``<img>`` shows as moving pictures):
one part per picture, each with ``Content-Type: image/jpeg`` and ``Content-Length``, from
the camera's shared decoder (`bridge.live.LiveHub`: at most ``http.live_fps`` pictures a
second, at most ``http.live_width`` pixels wide).  Who may watch: admins and operators
(403 for crews), and only cameras within the principal's scope (404 otherwise, as for a
camera that does not exist).

Before the first picture, failures are JSON ``{"error": "中文 / English"}``:

* 503 with ``Retry-After`` — the cap on live streams (``http.live_max_streams``) or on
  viewers of one camera is reached, or the daemon is stopping;
* 502 — the camera's stream failed (unreachable, refused the login, silent, undecodable,
  no stream address): a message for people, never the URL.

After it, the stream simply ends: when the camera fails or stalls, after ``http.live_max_s``
seconds (``LiveConfig.max_view_s``), or when the daemon stops.  A client that goes away (a
write fails, or a write waits longer than ``WRITE_TIMEOUT_S``) ends the handler, and the
subscription is released whatever happened (``async with``).

The camera's grid paths and stream URL come from :class:`LiveSources`; the composition root
calls :func:`setup` with the real ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from aiohttp import web

from bridge.bus.topics import GridPath
from bridge.checker import CheckTarget
from bridge.frame_sources import rtsp_url
from bridge.live import LiveClosed, LiveHub, LiveLimit, LiveStreamError
from bridge.web.context import deny, hidden, principal_of

__all__ = ["LIVE_HUB", "LIVE_SOURCES", "LiveSources", "TargetSources", "setup"]

log = logging.getLogger(__name__)

BOUNDARY: Final = "gridbridge-live-frame"
WRITE_TIMEOUT_S: Final = 20.0  # a client that takes no picture for this long is gone
RETRY_AFTER_S: Final = 30
JSON: Final = "application/json"

# Why a stream failed (LiveStreamError.code), for people.
FAILURE_TEXT: Final = {
    "unreachable": "无法连接摄像机的视频流 / cannot reach the camera's video stream",
    "auth_failed": "摄像机拒绝登录（用户名或密码错误） / the camera refused the login",
    "timeout": "摄像机视频流无响应 / the camera's video stream did not answer in time",
    "protocol": "摄像机视频流异常，无法解码 / the camera's video stream could not be decoded",
    "no_stream": "未登记该摄像机的视频流地址 / no video stream address is known for this camera",
}
DEFAULT_FAILURE: Final = "摄像机视频流异常 / the camera's video stream failed"


class LiveSources(Protocol):
    """What the live view needs to know about a camera."""

    def paths_of(self, camera_id: str) -> Sequence[GridPath] | None:
        """The camera's grid paths (none, or placeholders, for an unmapped camera); None
        when there is no such camera."""
        ...

    async def rtsp_url(self, camera_id: str) -> str | None:
        """The camera's RTSP URL with credentials (never log it); None when unknown."""
        ...


class TargetSources:
    """:class:`LiveSources` from the monitor's check targets and the fleet's grid paths —
    the URL built exactly as the frame tier builds it (`bridge.frame_sources.rtsp_url`)."""

    def __init__(
        self,
        target_of: Callable[[str], CheckTarget | None],
        paths_of: Callable[[str], Sequence[GridPath]],
    ) -> None:
        self._target_of = target_of
        self._paths_of = paths_of

    def paths_of(self, camera_id: str) -> Sequence[GridPath] | None:
        if self._target_of(camera_id) is None:
            return None
        return self._paths_of(camera_id)

    async def rtsp_url(self, camera_id: str) -> str | None:
        target = self._target_of(camera_id)
        return rtsp_url(target) if target is not None else None


LIVE_HUB = web.AppKey("gridbridge.live_hub", LiveHub)
LIVE_SOURCES = web.AppKey[LiveSources]("gridbridge.live_sources")

routes = web.RouteTableDef()


def setup(app: web.Application, hub: LiveHub, sources: LiveSources) -> None:
    """Serve the live view on ``app`` from ``hub`` (started by the caller, who also closes
    it) and ``sources``."""
    app[LIVE_HUB] = hub
    app[LIVE_SOURCES] = sources
    app.add_routes(routes)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error": message}, ensure_ascii=False),
        content_type=JSON,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _refused(exc: LiveLimit) -> web.Response:
    if exc.kind == "streams":
        message = (
            f"实时画面路数已满（最多 {exc.limit} 路），请稍后再试 / "
            f"live view limit reached ({exc.limit} streams), try again later"
        )
    else:
        message = (
            f"该摄像机的实时画面观看人数已满（最多 {exc.limit} 人），请稍后再试 / "
            f"too many viewers of this camera's live view ({exc.limit}), try again later"
        )
    return _error(503, message, {"Retry-After": str(RETRY_AFTER_S)})


def _part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


@routes.get("/api/cameras/{camera_id}/live.mjpeg")
async def live_mjpeg(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    if not principal.may_watch_live:
        deny("live view")
    camera_id = request.match_info["camera_id"]
    sources = request.app[LIVE_SOURCES]
    paths = sources.paths_of(camera_id)
    if paths is None or not principal.sees(paths):
        hidden("no such camera")
    hub = request.app[LIVE_HUB]
    ends_at = time.monotonic() + hub.config.max_view_s

    async def url() -> str | None:
        return await sources.rtsp_url(camera_id)

    response: web.StreamResponse | None = None
    try:
        async with hub.subscribe(camera_id, url) as viewer:
            jpeg = await viewer.next_frame()
            response = web.StreamResponse(
                headers={
                    "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                    "Cache-Control": "no-store",
                    "X-Accel-Buffering": "no",  # a reverse proxy must not hold pictures back
                }
            )
            await response.prepare(request)
            while True:
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    await response.write(_part(jpeg))
                if time.monotonic() >= ends_at:
                    break
                jpeg = await viewer.next_frame()
            log.debug("live camera %s: %s watched to the limit", camera_id, principal.name)
    except LiveLimit as exc:
        return _refused(exc)
    except LiveClosed:
        if response is None:
            message = "实时画面服务正在停止 / live view is shutting down"
            return _error(503, message, {"Retry-After": str(RETRY_AFTER_S)})
    except LiveStreamError as exc:
        if response is None:
            return _error(502, FAILURE_TEXT.get(exc.code, DEFAULT_FAILURE))
    except ConnectionResetError:  # aiohttp's ClientConnectionResetError: the client left
        log.debug("live camera %s: viewer %s left", camera_id, principal.name)
    except TimeoutError:  # a write waited too long: the client is stuck or gone
        log.debug("live camera %s: viewer %s stopped reading", camera_id, principal.name)
        if request.transport is not None:
            request.transport.abort()
    if response is None:  # unreachable: every path without a response returned above
        raise web.HTTPInternalServerError()
    return response
