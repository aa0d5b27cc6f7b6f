"""A small RTSP client for the simulator's tests: requests with auth, interleaved packets.

Independent of the simulator's code (only the tests' own Digest/Basic helpers), so what it
sees is what any client sees on the wire.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import numpy as np

from bridge.simulator import SimCamera
from tests.bridge.simulator.conftest import Response, basic_header, digest_header

TCP_TRANSPORT = "RTP/AVP/TCP;unicast;interleaved=0-1"


@dataclass
class Packet:
    """One interleaved RTP packet, its RTP header split out."""

    channel: int
    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes

    @classmethod
    def parse(cls, channel: int, data: bytes) -> Packet:
        _, second, sequence, timestamp, ssrc = struct.unpack("!BBHII", data[:12])
        return cls(channel, bool(second >> 7), second & 0x7F, sequence, timestamp, ssrc, data[12:])


@dataclass
class RtspClient:
    """One RTSP connection to ``camera``; ``async with`` opens and closes it."""

    camera: SimCamera
    timeout_s: float = 5.0
    packets: list[Packet] = field(default_factory=list)
    session: str | None = None
    _cseq: int = 0
    _challenge: str | None = None
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    @property
    def url(self) -> str:
        return f"rtsp://{self.camera.host}:{self.camera.rtsp_port}{self.camera.rtsp_path}"

    async def __aenter__(self) -> Self:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.camera.host, self.camera.rtsp_port), self.timeout_s
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def write(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    def _authorization(self, method: str, uri: str) -> list[str]:
        camera = self.camera
        if self._challenge is None or camera.username is None:
            return []
        password = camera.password or ""
        if self._challenge.startswith("Basic"):
            return [f"Authorization: {basic_header(camera.username, password)}"]
        header = digest_header(self._challenge, camera.username, password, method, uri)
        return [f"Authorization: {header}"]

    async def request(self, method: str, uri: str | None = None, *headers: str) -> Response:
        """Send a request (answering the camera's challenge once), return its reply; the
        packets that arrive before the reply are kept in ``packets``."""
        uri = uri or self.url
        for _ in range(2):
            self._cseq += 1
            lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self._cseq}", *headers]
            lines += self._authorization(method, uri)
            if self.session is not None and method not in ("OPTIONS", "DESCRIBE"):
                lines.append(f"Session: {self.session}")
            self.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            reply = await self.reply()
            if reply.status != 401 or self._challenge is not None:
                break
            self._challenge = reply.headers["www-authenticate"]
        if "session" in reply.headers:
            self.session = reply.headers["session"].split(";")[0]
        return reply

    async def setup(self, track: str = "trackID=1", transport: str = TCP_TRANSPORT) -> Response:
        return await self.request("SETUP", f"{self.url}/{track}", f"Transport: {transport}")

    async def play(self) -> Response:
        await self.setup()
        return await self.request("PLAY")

    async def reply(self) -> Response:
        """The next reply; interleaved packets before it go to ``packets``."""
        while True:
            message = await self._next()
            if isinstance(message, Response):
                return message
            self.packets.append(message)

    async def read_frames(self, count: int, timeout_s: float | None = None) -> list[list[Packet]]:
        """Read until ``count`` whole video frames (marker bit) arrived on channel 0."""
        async with asyncio.timeout(timeout_s or self.timeout_s):
            while sum(p.marker for p in self.packets if p.channel == 0) < count:
                message = await self._next()
                assert isinstance(message, Packet), f"unexpected reply {message}"
                self.packets.append(message)
        return frames_of(self.packets)

    async def skip_until_quiet(self, quiet_s: float) -> None:
        """Read and keep packets until none has come for ``quiet_s`` (what was already sent)."""
        while True:
            try:
                async with asyncio.timeout(quiet_s):
                    assert self._reader is not None
                    first = await self._reader.readexactly(1)  # nothing consumed if it times out
            except TimeoutError:
                return
            message = await self._next(first)
            assert isinstance(message, Packet), f"unexpected reply {message}"
            self.packets.append(message)

    async def _next(self, first: bytes = b"") -> Response | Packet:
        assert self._reader is not None
        async with asyncio.timeout(self.timeout_s):
            first = first or await self._reader.readexactly(1)
            if first == b"$":
                channel, length = struct.unpack("!BH", await self._reader.readexactly(3))
                return Packet.parse(channel, await self._reader.readexactly(length))
            head = first + await self._reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            body = await self._reader.readexactly(length) if length else b""
            return Response(int(lines[0].split(" ")[1]), headers, body)

    async def at_eof(self, timeout_s: float) -> bool:
        """True if the server closes the connection within ``timeout_s`` (packets skipped)."""
        assert self._reader is not None
        try:
            async with asyncio.timeout(timeout_s):
                while await self._reader.read(65536):
                    pass
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
        return True


def frames_of(packets: list[Packet]) -> list[list[Packet]]:
    """The whole video frames (channel 0) among ``packets``, each a list of its packets."""
    frames: list[list[Packet]] = []
    current: list[Packet] = []
    for packet in packets:
        if packet.channel != 0:
            continue
        current.append(packet)
        if packet.marker:
            frames.append(current)
            current = []
    return frames


def grab(url: str, count: int = 1) -> list[np.ndarray]:
    """Open ``url`` with OpenCV's FFmpeg backend and read ``count`` frames (blocking: run it
    in a thread, the simulator shares the test's event loop).  TCP when the environment says
    ``OPENCV_FFMPEG_CAPTURE_OPTIONS=rtsp_transport;tcp``."""
    import cv2

    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    frames = []
    try:
        if not capture.isOpened():
            return []
        for _ in range(count):
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        capture.release()
    return frames


def stream_url(camera: SimCamera) -> str:
    """The camera's stream URL with its credentials in it, as OpenCV takes them."""
    credentials = f"{camera.username}:{camera.password}@" if camera.username else ""
    return f"rtsp://{credentials}{camera.host}:{camera.rtsp_port}{camera.rtsp_path}"
