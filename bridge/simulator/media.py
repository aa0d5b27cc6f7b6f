"""RTSP sessions of a simulator's cameras and their media: RTP/JPEG over the RTSP connection.

SETUP accepts only TCP interleaved transport (``RTP/AVP/TCP;unicast;interleaved=0-1``, RFC
2326 §10.12); anything else (UDP, multicast) is answered 461 Unsupported Transport, which
makes FFmpeg and most clients retry over TCP.  One session per connection; the first SETUP
on a connection takes a slot of the process-wide cap (``StreamLimits.max_sessions``) or is
answered 453 Not Enough Bandwidth.  PLAY starts sending the camera's pictures (the same
per-second JPEG as its snapshot) as RTP/JPEG on the video track's channel, and A-law
silence on the audio track's if it was set up.  A stream ends on TEARDOWN, when the
connection closes, or after ``max_session_s`` (the connection is then closed).

The first ``prebuffer`` frames go out at once, time-stamped ``1/fps`` apart, as a camera or
NVR with a GOP cache does: FFmpeg (hence OpenCV) reads about 20 frames before it opens a
stream whose frame rate it cannot trust, which at 4 fps would take 5 s — the whole open
timeout of a typical client.  The silent audio is there for the same reason: FFmpeg waits
for a packet on every track it set up.

A client that does not read is not queued for: its stream waits (TCP flow control) and then
skips the frame times it missed.  Each stream is a task owned by
``MediaSessions`` (cancelled by ``close()``); pictures are rendered off the event loop
(``SnapshotCache``), so streams cost the loop only packetising and writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.simulator.model import SimCamera
from bridge.simulator.rtp_jpeg import (
    CLOCK_RATE,
    JpegScan,
    interleave,
    packetise,
    parse_jpeg,
    rtp_packet,
)
from bridge.simulator.wire import Reply, Request, RequestProtocol

__all__ = ["AUDIO_TRACK", "VIDEO_TRACK", "MediaSessions", "StreamLimits", "StreamState"]

log = logging.getLogger(__name__)

SESSION_TIMEOUT_S = 60
VIDEO_TRACK = "trackID=1"
AUDIO_TRACK = "trackID=2"
_PCMA, _PCMA_RATE, _PCMA_SILENCE = 8, 8000, 0xD5  # G.711 A-law: 0xD5 is a zero sample
_INTERLEAVED = re.compile(r"interleaved=(\d{1,3})(?:-(\d{1,3}))?")


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """How a simulator streams: frame rate, start-up burst, session length, streams at once."""

    fps: float = 4.0
    prebuffer: int = 22
    max_session_s: float = 300.0
    max_sessions: int = 64


class StreamState(enum.Enum):
    """What a camera's streams do right now (decided by its fault)."""

    SERVE = "serve"
    HANG = "hang"  # the camera stopped answering: no frames, connection kept
    DROP = "drop"  # the camera went away: connection aborted


PictureSource = Callable[[SimCamera], "bytes | asyncio.Future[bytes]"]


@dataclass(slots=True)
class _Track:
    """One RTP stream of a session: its interleaved channel and RTP numbering."""

    channel: int
    ssrc: int = field(default_factory=lambda: secrets.randbits(32))
    sequence: int = field(default_factory=lambda: secrets.randbits(16))
    rtptime: int = field(default_factory=lambda: secrets.randbits(32))


@dataclass(slots=True)
class _Session:
    id: str
    camera: SimCamera
    video: _Track | None = None
    audio: _Track | None = None
    task: asyncio.Task[None] | None = None


def _tcp_channels(header: str) -> tuple[int, int] | None:
    """The channels of the first TCP interleaved alternative of a Transport header."""
    for option in header.split(","):
        if option.split(";")[0].strip().upper() != "RTP/AVP/TCP":
            continue
        match = _INTERLEAVED.search(option)
        if match is None:
            return 0, 1
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low + 1
        if low <= 255 and high <= 255:
            return low, high
    return None


class MediaSessions:
    """The RTSP sessions of one simulator and their streams; see the module doc.

    ``picture(camera)`` gives the camera's current JPEG (or a future of it); ``state(id)``
    says what its streams do now.  ``width``/``height`` are the pictures' size (for the SDP).
    """

    def __init__(
        self,
        picture: PictureSource,
        state: Callable[[str], StreamState],
        limits: StreamLimits,
        width: int,
        height: int,
    ) -> None:
        self._picture = picture
        self._state = state
        self.limits = limits
        self.width = width
        self.height = height
        self._sessions: dict[RequestProtocol, _Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.frames_sent = 0
        self.frames_skipped = 0

    @property
    def active(self) -> int:
        """Sessions open now (set up, not torn down, connection open)."""
        return len(self._sessions)

    def setup(
        self,
        conn: RequestProtocol,
        camera: SimCamera,
        request: Request,
        headers: list[tuple[str, str]],
    ) -> Reply:
        """Answer SETUP of the stream or one of its tracks on ``conn``."""
        channels = _tcp_channels(request.headers.get("transport", ""))
        if channels is None:
            return Reply(461, headers)
        session = self._sessions.get(conn)
        if session is None:
            if len(self._sessions) >= self.limits.max_sessions:
                return Reply(453, headers)
            session = _Session(secrets.token_hex(8).upper(), camera)
            self._sessions[conn] = session
        track = _Track(channels[0])
        if request.target.rstrip("/").endswith("/" + AUDIO_TRACK):
            session.audio = track
        else:  # the video track, or the stream itself (aggregate SETUP)
            session.video = track
        low, high = channels
        transport = f"RTP/AVP/TCP;unicast;interleaved={low}-{high};ssrc={track.ssrc:08X}"
        return Reply(200, [*headers, self._session_header(session), ("Transport", transport)])

    def play(
        self, conn: RequestProtocol, request: Request, headers: list[tuple[str, str]]
    ) -> Reply:
        """Answer PLAY; the stream starts once the reply is written.

        The ``Session`` header must be present (the caller checks); its value is not compared
        with the connection's session, as many cameras do not compare it either.
        """
        session = self._sessions.get(conn)
        if session is None:
            return Reply(454, headers)
        reply = Reply(200, [*headers, self._session_header(session), ("Range", "npt=0.000-")])
        if session.task is None and (session.video or session.audio):
            base = request.target.rstrip("/")
            info = [
                f"url={base}/{name};seq={track.sequence};rtptime={track.rtptime}"
                for name, track in ((VIDEO_TRACK, session.video), (AUDIO_TRACK, session.audio))
                if track is not None
            ]
            reply.headers.append(("RTP-Info", ",".join(info)))
            reply.after = lambda: self._start(conn, session)
        return reply

    def teardown(self, conn: RequestProtocol, headers: list[tuple[str, str]]) -> Reply:
        """Answer TEARDOWN: the stream stops and the slot is free; the connection stays."""
        session = self._sessions.pop(conn, None)
        if session is not None and session.task is not None:
            session.task.cancel()
        return Reply(200, headers)

    def keepalive(self, conn: RequestProtocol, headers: list[tuple[str, str]]) -> Reply:
        """Answer GET_PARAMETER (a client's keep-alive), naming the session if there is one."""
        session = self._sessions.get(conn)
        return Reply(200, headers if session is None else [*headers, self._session_header(session)])

    def closed(self, conn: RequestProtocol) -> None:
        """The connection ended: its stream stops, its slot is free."""
        self.teardown(conn, [])

    async def close(self) -> None:
        """Stop every stream (the connections are the simulator's to close)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._sessions.clear()

    @staticmethod
    def _session_header(session: _Session) -> tuple[str, str]:
        return "Session", f"{session.id};timeout={SESSION_TIMEOUT_S}"

    def _start(self, conn: RequestProtocol, session: _Session) -> None:
        if self._sessions.get(conn) is not session or session.task is not None:
            return  # torn down or closed before the PLAY reply went out
        task = asyncio.get_running_loop().create_task(
            self._stream(conn, session), name=f"rtsp-stream-{session.camera.id}"
        )
        session.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stream(self, conn: RequestProtocol, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        try:
            # One deadline bounds every wait of the stream: renders, a slow reader, pacing.
            async with asyncio.timeout_at(loop.time() + self.limits.max_session_s):
                await self._send_frames(conn, session)
        except TimeoutError:
            log.debug("camera %s: session reached its maximum length", session.camera.id)
            conn.close()
        except Exception:  # a bug in rendering or packetising: end this stream, say so once
            log.exception("camera %s: stream failed", session.camera.id)
            conn.abort()

    async def _send_frames(self, conn: RequestProtocol, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        fps, prebuffer = self.limits.fps, self.limits.prebuffer
        start = loop.time()
        last: tuple[bytes, JpegScan] | None = None
        n = 0  # frame times so far, sent or not: the media clock
        while True:
            state = self._state(session.camera.id)
            if state is StreamState.DROP:
                conn.abort()
                return
            if state is StreamState.SERVE:
                picture = self._picture(session.camera)
                if isinstance(picture, asyncio.Future):
                    # shielded: the render is shared with other requests for the picture
                    picture = await asyncio.shield(picture)
                if last is None or last[0] is not picture:
                    last = picture, parse_jpeg(picture)
                await conn.drain()  # a client that does not read holds its stream, no one else
                data, video_packets = self._packets(session, last[1], n / fps)
                if not conn.send_media(data):
                    return  # the connection is closing
                self._sent(session, video_packets)
            n += 1
            if n < prebuffer:
                continue
            due = start + (n - prebuffer + 1) / fps
            late = (loop.time() - due) * fps  # in frame times
            if late > 0.5:  # a slow render or reader: skip the frame times missed, no burst
                missed = round(late)
                n += missed
                due += missed / fps
                self.frames_skipped += missed
            await asyncio.sleep(max(0.0, due - loop.time()))

    def _sent(self, session: _Session, video_packets: int) -> None:
        # Sequence numbers advance only for what was sent: a dropped frame leaves no gap.
        if session.video is not None:
            session.video.sequence = (session.video.sequence + video_packets) & 0xFFFF
        if session.audio is not None:
            session.audio.sequence = (session.audio.sequence + 1) & 0xFFFF
        self.frames_sent += 1

    def _packets(self, session: _Session, frame: JpegScan, media_s: float) -> tuple[bytes, int]:
        """One frame (and the audio of one frame time) as interleaved RTP; the number of
        video packets.  Numbered from the tracks' next sequence numbers (not advanced)."""
        chunks: list[bytes] = []
        count = 0
        video, audio = session.video, session.audio
        if video is not None:
            packets = packetise(
                frame,
                sequence=video.sequence,
                timestamp=video.rtptime + round(media_s * CLOCK_RATE),
                ssrc=video.ssrc,
            )
            count = len(packets)
            chunks += (interleave(video.channel, p) for p in packets)
        if audio is not None:
            samples = round(_PCMA_RATE / self.limits.fps)
            timestamp = audio.rtptime + round(media_s * _PCMA_RATE)
            silence = bytes((_PCMA_SILENCE,)) * samples
            packet = rtp_packet(_PCMA, audio.sequence, timestamp, audio.ssrc, silence, False)
            chunks.append(interleave(audio.channel, packet))
        return b"".join(chunks), count
