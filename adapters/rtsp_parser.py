"""RTSP/1.0 on the wire: the DESCRIBE request out, responses framed in under hard caps.

Pure: no I/O.  :class:`ResponseReader` owns the receive buffer of one connection; the
asyncio protocol lets the transport ``recv_into`` :meth:`ResponseReader.writable` and then
calls :meth:`ResponseReader.advance`.  Memory is bounded by construction: the buffer never
grows past the header cap while the head is incomplete, nor past head + Content-Length
once it is known, and a Content-Length over the body cap is refused before a byte of the
body is read.  A camera streaming 100 MB costs at most the caps.

Bodies are read only for 2xx replies (the SDP) and 401 (so the connection can be reused for
the authenticated retry); any other reply is returned as soon as its head is complete, with
an empty body, so a 500 with an endless body is still a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from adapters.errors import ProtocolFailure

_STATUS_LINE = re.compile(r"RTSP/1\.\d[ \t]+(\d{3})(?:[ \t]+(.*))?$")
_INITIAL_BUFFER_BYTES = 4096
_CR_LF = b"\r\n"
_SAFE_PATH_CHARS = "!#$%&'()*+,/:;=?@[]~"


def request_uri(host: str, port: int, path: str) -> str:
    """``rtsp://host:port/path`` for the request line: IPv6 bracketed, a missing leading
    '/' added, spaces, control and non-ASCII characters percent-escaped (no injection)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if not path.startswith("/"):
        path = f"/{path}"
    if not path.isascii() or not path.isprintable() or " " in path:
        path = quote(path, safe=_SAFE_PATH_CHARS)
    return f"rtsp://{host}:{port}{path}"


def describe_request(uri: str, cseq: int, user_agent: str, authorization: str | None) -> bytes:
    """The bytes of one DESCRIBE asking for SDP, with an Authorization header if given."""
    auth = f"Authorization: {authorization}\r\n" if authorization else ""
    return (
        f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: {cseq}\r\nAccept: application/sdp\r\n"
        f"User-Agent: {user_agent}\r\n{auth}\r\n"
    ).encode()


@dataclass(frozen=True, slots=True)
class RtspResponse:
    """One response: status, reason, headers (names lower-cased, repeats joined by ", ")."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


def parse_head(block: bytes, *, max_body_bytes: int) -> tuple[RtspResponse, int]:
    """Parse a complete head (status line to blank line): ``(response_without_body, length)``.

    ``length`` is the Content-Length (0 when absent: RTSP has no body without it; 0 too
    for a status whose body is not read, see :func:`wants_body`).  ``ProtocolFailure`` for
    a bad status line, or a bad Content-Length or one over ``max_body_bytes`` on a reply
    whose body is read.  Header lines without a colon are ignored; folded lines are joined.
    """
    lines = block.decode("latin-1").split("\n")
    m = _STATUS_LINE.match(lines[0].rstrip("\r"))
    if m is None:
        raise ProtocolFailure("not an RTSP/1.x status line")
    status = int(m.group(1))
    headers: dict[str, str] = {}
    name = ""
    for raw in lines[1:]:
        line = raw.rstrip("\r")
        if not line:
            continue
        if line[0] in " \t" and name:  # obsolete line folding
            headers[name] = f"{headers[name]} {line.strip()}"
            continue
        key, colon, value = line.partition(":")
        if not colon:
            continue
        name, value = key.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    length = 0
    text = headers.get("content-length")
    if text is not None and wants_body(status):  # other bodies are never read
        values = {v.strip() for v in text.split(",")}
        if len(values) != 1 or not (only := values.pop()).isdecimal() or len(only) > 12:
            raise ProtocolFailure("bad Content-Length", status=status)
        length = int(only)
        if length > max_body_bytes:
            raise ProtocolFailure(
                f"reply body of {length} bytes is over the {max_body_bytes}-byte cap",
                status=status,
            )
    return RtspResponse(status, (m.group(2) or "").strip(), headers, b""), length


def wants_body(status: int) -> bool:
    """Whether a reply with ``status`` is read to the end of its body (see module doc)."""
    return 200 <= status < 300 or status == 401


class ResponseReader:
    """Incremental, capped framer of the responses arriving on one connection.

    Call :meth:`writable` for the space to receive into, then :meth:`advance` with the
    number of bytes written; ``advance`` returns a complete response or ``None`` (need
    more), or raises ``ProtocolFailure``.  It returns one response per call: bytes after a
    complete response are kept as the start of the next one, and ``advance(0)`` returns
    that next one if it is already complete.
    """

    __slots__ = (
        "_buf",
        "_head",
        "_head_end",
        "_max_body",
        "_max_header",
        "_n",
        "_need",
        "_scan",
        "_start",
    )

    def __init__(self, *, max_header_bytes: int, max_body_bytes: int) -> None:
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes
        self._buf = bytearray(min(_INITIAL_BUFFER_BYTES, max_header_bytes))
        self._reset(0)

    def _reset(self, n: int) -> None:
        self._n = n  # bytes filled in _buf
        self._start = 0  # where the current message starts (after stray CR/LF)
        self._scan = 0  # where to resume searching for the blank line
        self._head: RtspResponse | None = None
        self._head_end = 0
        self._need = 0  # total bytes of the message once the head is known

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as a response."""
        return self._n

    def writable(self) -> memoryview:
        """Free space at the end of the buffer (grown within the caps when full)."""
        size = len(self._buf)
        if self._n == size:
            limit = self._need if self._head is not None else self._max_header
            new_size = min(max(2 * size, 1024), limit)
            if new_size <= size:  # advance() refuses before this can happen
                raise ProtocolFailure("reply over the size cap")
            grown = bytearray(new_size)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown  # a new object: the transport may still hold a view of the old
        return memoryview(self._buf)[self._n :]

    def advance(self, nbytes: int) -> RtspResponse | None:
        """Account for ``nbytes`` new bytes; a complete response, or None for more."""
        self._n += nbytes
        buf, n = self._buf, self._n
        if self._head is None:
            start = self._start
            while start < n and buf[start] in _CR_LF:  # stray CRLF after a previous body
                start += 1
            self._start = start
            if start < n and buf[start] == 0x24:  # '$': interleaved RTP/RTCP data
                raise ProtocolFailure("interleaved RTP data before PLAY")
            if n - start >= 5 and buf[start : start + 5] != b"RTSP/":
                raise ProtocolFailure("not an RTSP reply")
            scan = max(self._scan, start)
            crlf, lf = buf.find(b"\n\r\n", scan, n), buf.find(b"\n\n", scan, n)
            if crlf < 0 and lf < 0:
                if n >= self._max_header:  # stray CR/LF count towards the cap
                    raise ProtocolFailure(f"reply head over the {self._max_header}-byte cap")
                self._scan = max(start, n - 2)
                return None
            end = min(crlf + 3, lf + 2) if crlf >= 0 and lf >= 0 else max(crlf + 3, lf + 2)
            if end > self._max_header:
                raise ProtocolFailure(f"reply head over the {self._max_header}-byte cap")
            head, length = parse_head(bytes(buf[start:end]), max_body_bytes=self._max_body)
            if not wants_body(head.status):
                self._finish(n)  # the rest of this connection is not read
                return head
            self._head, self._head_end, self._need = head, end, end + length
        if n < self._need:
            return None
        head = self._head
        body = bytes(buf[self._head_end : self._need])
        self._finish(self._need)
        return RtspResponse(head.status, head.reason, head.headers, body)

    def _finish(self, used: int) -> None:
        """Drop the first ``used`` bytes (a new buffer, never a resize: see ``writable``)."""
        leftover = self._n - used
        if leftover:
            rest = bytearray(max(leftover, _INITIAL_BUFFER_BYTES))
            rest[:leftover] = self._buf[used : self._n]
            self._buf = rest
        elif len(self._buf) > _INITIAL_BUFFER_BYTES:
            self._buf = bytearray(_INITIAL_BUFFER_BYTES)
        self._reset(leftover)
