"""RTSP answers of a simulated camera: OPTIONS, DESCRIBE (SDP), SETUP, PLAY, TEARDOWN.

DESCRIBE announces one RTP/JPEG video track (payload type 26) and one PCMA audio track;
SETUP/PLAY/TEARDOWN are the business of ``media.MediaSessions``, which streams the camera's
pictures over the RTSP connection.  Authentication follows the camera's ``AuthMode``; faults
``auth_fail``, ``rtsp_500``, ``no_video_track`` and ``clock_drift`` change the replies here
(connection-level faults are the server's business).
"""

from __future__ import annotations

import hashlib
from email.utils import formatdate
from urllib.parse import urlsplit

from bridge.simulator.auth import Authenticator, Check
from bridge.simulator.faults import Fault
from bridge.simulator.media import AUDIO_TRACK, VIDEO_TRACK, MediaSessions
from bridge.simulator.model import SimCamera
from bridge.simulator.rtp_jpeg import PAYLOAD_TYPE
from bridge.simulator.wire import Reply, Request, RequestProtocol

__all__ = ["PUBLIC_METHODS", "rtsp_reply", "sdp_for"]

PUBLIC_METHODS = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"
SERVER = "gridbridge-simulator RTSP"


def sdp_for(
    camera: SimCamera,
    base_url: str,
    *,
    width: int,
    height: int,
    fps: float,
    video: bool = True,
) -> str:
    """The session description of the camera's main stream (audio only when not ``video``).

    The video is RTP/JPEG; its size is said three ways (``x-dimensions``, ``cliprect``,
    ``framesize``) because clients read different ones.
    """
    session = int(hashlib.sha256(camera.id.encode()).hexdigest()[:8], 16)
    lines = [
        "v=0",
        f"o=- {session} 1 IN IP4 {camera.host}",
        "s=Media Presentation",
        "e=NONE",
        "t=0 0",
        f"a=control:{base_url}",
    ]
    if video:
        pt = PAYLOAD_TYPE
        lines += [
            f"m=video 0 RTP/AVP {pt}",
            "c=IN IP4 0.0.0.0",
            "b=AS:4096",
            "a=recvonly",
            f"a=x-dimensions:{width},{height}",
            f"a=cliprect:0,0,{height},{width}",
            f"a=framesize:{pt} {width}-{height}",
            f"a=framerate:{fps:.6f}",
            f"a=control:{VIDEO_TRACK}",
            f"a=rtpmap:{pt} JPEG/90000",
        ]
    lines += [
        "m=audio 0 RTP/AVP 8",
        "c=IN IP4 0.0.0.0",
        "b=AS:64",
        "a=recvonly",
        f"a=control:{AUDIO_TRACK}",
        "a=rtpmap:8 PCMA/8000",
    ]
    return "\r\n".join(lines) + "\r\n"


def _path_of(target: str) -> str:
    """The path and query of an RTSP request URL (or of a bare path)."""
    if "://" not in target:
        return target
    parts = urlsplit(target)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _names_stream(camera: SimCamera, target: str) -> bool:
    path = _path_of(target).rstrip("/")
    wanted = camera.rtsp_path.rstrip("/")
    if path == wanted:
        return True
    # SETUP names a track below the stream: <stream>/trackID=1
    head, _, last = path.rpartition("/")
    return last.startswith("trackID=") and head == wanted


def rtsp_reply(
    camera: SimCamera,
    fault: Fault | None,
    auth: Authenticator,
    request: Request,
    now: float,
    conn: RequestProtocol,
    media: MediaSessions,
) -> Reply:
    """The reply of ``camera`` (with ``fault`` or none) to an RTSP request at wall time ``now``
    on connection ``conn``; sessions and streams are ``media``'s."""
    kind = fault.kind if fault is not None else None
    if kind == "clock_drift" and fault is not None:
        now += fault.param("offset_s")
    headers = [("Server", SERVER), ("Date", formatdate(now, usegmt=True))]
    if request.version != "RTSP/1.0":
        return Reply(400, headers, close=True)
    method = request.method
    if method == "OPTIONS":
        return Reply(200, [*headers, ("Public", PUBLIC_METHODS)])
    if method not in ("DESCRIBE", "SETUP", "PLAY", "TEARDOWN", "GET_PARAMETER"):
        return Reply(501, [*headers, ("Public", PUBLIC_METHODS)])
    check = auth.check(
        camera, method, request.headers.get("authorization"), reject_all=kind == "auth_fail"
    )
    if check is not Check.OK:
        challenge = auth.challenge(camera, stale=check is Check.STALE)
        return Reply(401, [*headers, ("WWW-Authenticate", challenge)])
    if method in ("DESCRIBE", "SETUP") and not _names_stream(camera, request.target):
        return Reply(404, headers)
    if method == "DESCRIBE":
        if kind == "rtsp_500":
            return Reply(500, headers)
        base = (
            request.target
            if "://" in request.target
            else (f"rtsp://{camera.host}:{camera.rtsp_port}{request.target}")
        )
        base = base.rstrip("/") + "/"
        body = sdp_for(
            camera,
            base,
            width=media.width,
            height=media.height,
            fps=media.limits.fps,
            video=kind != "no_video_track",
        ).encode()
        return Reply(
            200,
            [*headers, ("Content-Base", base), ("Content-Type", "application/sdp")],
            body,
        )
    if method == "SETUP":
        return media.setup(conn, camera, request, headers)
    if "session" not in request.headers and method in ("PLAY", "TEARDOWN"):
        return Reply(454, headers)
    if method == "PLAY":
        return media.play(conn, request, headers)
    if method == "TEARDOWN":
        return media.teardown(conn, headers)
    return media.keepalive(conn, headers)  # GET_PARAMETER
