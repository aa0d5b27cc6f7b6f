"""A small request/response server protocol shared by the simulator's RTSP and HTTP ports.

RTSP/1.0 and HTTP/1.1 share their message syntax, so one ``asyncio.Protocol`` serves both:
keep-alive with several requests per connection (answered in order), header block capped at
``MAX_HEAD_BYTES``, bodies only with ``Content-Length`` and capped at ``MAX_BODY_BYTES``,
replies that may be delayed, withheld (a silent peer), prepared off the event loop
(``Pending``) or streamed lazily with flow control.  On RTSP connections, interleaved binary
frames from the client (``$``, channel, length: RTCP receiver reports during a TCP session)
are skipped between requests, and ``send_media`` writes RTP between replies.  No task per
connection: everything runs from protocol callbacks and ``call_later``.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, Protocol, TypeVar, cast

__all__ = [
    "IDLE_TIMEOUT_S",
    "MAX_BODY_BYTES",
    "MAX_HEAD_BYTES",
    "Admission",
    "Dispatch",
    "Pending",
    "Reply",
    "Request",
    "RequestProtocol",
]

T = TypeVar("T")

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
IDLE_TIMEOUT_S = 120.0

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    453: "Not Enough Bandwidth",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    461: "Unsupported Transport",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "Version Not Supported",
}


@dataclass(slots=True)
class Request:
    """One parsed request.  Header names are lower case; a repeated header keeps the last."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(slots=True)
class Reply:
    """What to send back.  ``Content-Length`` is added from ``body`` plus ``stream_bytes``.

    ``stream`` yields chunks after ``body``; their total must equal ``stream_bytes``.
    ``delay_s`` postpones the whole reply; ``close`` ends the connection after it.  ``after``
    is called once the reply is written (an RTSP PLAY starts its media only then).
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: Iterator[bytes] | None = None
    stream_bytes: int = 0
    close: bool = False
    delay_s: float = 0.0
    after: Callable[[], None] | None = None


@dataclass(slots=True)
class Pending(Generic[T]):
    """A reply waiting for something made off the event loop (a picture being encoded).

    The connection answers nothing else until ``future`` is done (replies stay in order);
    then ``build(result)`` is sent, ``delay_s`` later.  A future that fails is answered 500.
    """

    future: asyncio.Future[T]
    build: Callable[[T], Reply]
    delay_s: float = 0.0


class Admission(enum.Enum):
    """What a new connection gets."""

    SERVE = "serve"
    SILENT = "silent"  # accepted, read and discarded, never answered
    DROP = "drop"  # closed at once (the camera went down while the client connected)


class Dispatch(Protocol):
    """The camera behind one listening port, as the protocol sees it."""

    def admit(self, conn: RequestProtocol) -> Admission:
        """Decide what a connection just accepted gets (and note it as open)."""

    def closed(self, conn: RequestProtocol) -> None:
        """The connection ended (note it as closed)."""

    def handle(self, conn: RequestProtocol, request: Request) -> Reply | Pending[Any] | Admission:
        """The reply to a request on ``conn``, or ``SILENT``/``DROP`` for the connection."""

    def version(self) -> str:
        """The protocol token of replies: ``RTSP/1.0`` or ``HTTP/1.1``."""


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise _BadRequest(400) from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    # RTSP method names have underscores (GET_PARAMETER, FFmpeg's keep-alive during PLAY)
    if len(parts) != 3 or not parts[0].replace("_", "").isalpha() or not parts[1]:
        raise _BadRequest(400)
    method, target, version = parts
    if version not in ("RTSP/1.0", "HTTP/1.1", "HTTP/1.0"):
        raise _BadRequest(505)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400)
        headers[name.lower()] = value.strip()
    return method, target, version, headers


def render(version: str, reply: Reply, cseq: str | None) -> bytes:
    """The status line and headers of ``reply`` (plus its in-memory body) as bytes."""
    lines = [f"{version} {reply.status} {_REASONS.get(reply.status, 'Unknown')}"]
    if cseq is not None:
        lines.append(f"CSeq: {cseq}")
    lines.extend(f"{name}: {value}" for name, value in reply.headers)
    lines.append(f"Content-Length: {len(reply.body) + reply.stream_bytes}")
    if reply.close and version != "RTSP/1.0":
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + reply.body


class RequestProtocol(asyncio.Protocol):
    """One accepted connection: parse requests, ask ``dispatch``, write replies in order."""

    __slots__ = (
        "_buffer",
        "_busy",
        "_close_after",
        "_dispatch",
        "_drain",
        "_idle",
        "_paused",
        "_rtsp",
        "_silent",
        "_stream",
        "_transport",
    )

    def __init__(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch
        self._rtsp = dispatch.version() == "RTSP/1.0"
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._busy = False  # a reply is delayed or streaming: requests wait in the buffer
        self._silent = False
        self._paused = False
        self._stream: Iterator[bytes] | None = None
        self._close_after = False
        self._idle: asyncio.TimerHandle | None = None
        self._drain: asyncio.Future[None] | None = None

    # --- asyncio callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an asyncio.Transport subclass: no isinstance).
        self._transport = cast(asyncio.Transport, transport)
        admission = self._dispatch.admit(self)
        if admission is Admission.DROP:
            self._transport.abort()
            return
        self._silent = admission is Admission.SILENT
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        if self._silent or self._transport is None or self._transport.is_closing():
            return
        self._buffer += data
        if len(self._buffer) > MAX_HEAD_BYTES + MAX_BODY_BYTES:
            self._transport.pause_reading()  # a client pipelining while we are busy
        if not self._busy:
            self._process()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._stream = None
        self._transport = None
        self._wake_drain()
        self._dispatch.closed(self)

    def abort(self) -> None:
        """Close the connection at once (RST), whatever it was doing."""
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        """Close the connection after what is already written (FIN)."""
        if self._transport is not None:
            self._transport.close()

    def send_media(self, data: bytes) -> bool:
        """Write interleaved media between replies; False (nothing written) when the
        connection is closing or a streamed body is going out."""
        transport = self._transport
        if transport is None or transport.is_closing() or self._stream is not None:
            return False
        transport.write(data)
        return True

    async def drain(self) -> None:
        """Wait until the client has read what was written (below the transport's low-water
        mark), or the connection is gone; at once if it already has."""
        if not self._paused or self._transport is None:
            return
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_future()
        await self._drain

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drain()
        if self._stream is not None:
            self._pump()

    def _wake_drain(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    # --- request handling -----------------------------------------------------------------

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(IDLE_TIMEOUT_S, self._on_idle)

    def _on_idle(self) -> None:
        if self._transport is not None and not self._busy:
            self._transport.close()

    def _skip_interleaved(self) -> bool | None:
        """Drop one whole ``$`` frame at the head of the buffer: True if dropped, None if
        it is not all here yet, False if the buffer does not start with one."""
        if not self._rtsp or not self._buffer.startswith(b"$"):
            return False
        if len(self._buffer) < 4:
            return None
        size = 4 + int.from_bytes(self._buffer[2:4], "big")
        if len(self._buffer) < size:
            return None
        del self._buffer[:size]
        self._arm_idle()
        return True

    def _next_request(self) -> Request | None:
        end = self._buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise _BadRequest(431)
            return None
        method, target, version, headers = _parse_head(bytes(self._buffer[:end]))
        if "transfer-encoding" in headers:
            raise _BadRequest(501)
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise _BadRequest(400)
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise _BadRequest(413)
        start = end + 4
        if len(self._buffer) < start + length:
            return None
        body = bytes(self._buffer[start : start + length])
        del self._buffer[: start + length]
        return Request(method, target, version, headers, body)

    def _process(self) -> None:
        transport = self._transport
        while transport is not None and not self._busy and not self._silent:
            skipped = self._skip_interleaved()
            if skipped:
                continue
            try:
                request = None if skipped is None else self._next_request()
            except _BadRequest as exc:
                self._send(Reply(exc.status, close=True), None)
                return
            if request is None:
                if len(self._buffer) < MAX_HEAD_BYTES:
                    transport.resume_reading()
                return
            self._arm_idle()
            reply = self._dispatch.handle(self, request)
            if reply is Admission.DROP:
                transport.abort()
                return
            if reply is Admission.SILENT:
                self._silent = True
                self._buffer.clear()
                return
            cseq = request.headers.get("cseq") if request.version == "RTSP/1.0" else None
            close = _wants_close(request)
            if isinstance(reply, Pending):
                self._busy = True
                reply.future.add_done_callback(
                    partial(self._resolved, reply, close=close, cseq=cseq)
                )
                return
            assert isinstance(reply, Reply)
            reply.close = reply.close or close
            if reply.delay_s > 0:
                self._busy = True
                loop = asyncio.get_running_loop()
                loop.call_later(reply.delay_s, self._send_later, reply, cseq)
                return
            self._send(reply, cseq)
            transport = self._transport

    def _resolved(
        self, pending: Pending[Any], future: asyncio.Future[Any], *, close: bool, cseq: str | None
    ) -> None:
        if self._transport is None:
            return  # the client left while its reply was being prepared
        if future.cancelled() or future.exception() is not None:
            reply = Reply(500, close=True)
        else:
            reply = pending.build(future.result())
        reply.close = reply.close or close
        reply.delay_s += pending.delay_s
        if reply.delay_s > 0:
            asyncio.get_running_loop().call_later(reply.delay_s, self._send_later, reply, cseq)
        else:
            self._send_later(reply, cseq)

    def _send_later(self, reply: Reply, cseq: str | None) -> None:
        self._busy = False
        self._send(reply, cseq)
        self._process()

    def _send(self, reply: Reply, cseq: str | None) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(render(self._dispatch.version(), reply, cseq))
        self._close_after = reply.close
        if reply.after is not None:
            reply.after()
        if reply.stream is not None:
            self._busy = True
            self._stream = reply.stream
            self._pump()
        elif reply.close:
            transport.close()

    def _pump(self) -> None:
        transport, stream = self._transport, self._stream
        while transport is not None and stream is not None and not self._paused:
            chunk = next(stream, None)
            if chunk is None:
                self._stream = None
                self._busy = False
                if self._close_after:
                    transport.close()
                else:
                    self._arm_idle()
                    self._process()
                return
            transport.write(chunk)


def _wants_close(request: Request) -> bool:
    connection = request.headers.get("connection", "").lower()
    if request.version == "HTTP/1.0":
        return connection != "keep-alive"
    return connection == "close"
