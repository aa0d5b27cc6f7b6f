"""RTSP DESCRIBE probe: is the camera's stream there, and what does its SDP say?

A lean asyncio client built on :class:`asyncio.BufferedProtocol`: the transport reads straight
into a buffer that never outgrows the caps (a stream transport reads 256 KiB at a time).
Measured on the project's 2-core machine, it costs ~0.11-0.27 ms CPU per probe, as
much as a bare asyncio-streams DESCRIBE that parses nothing: connect and close dominate.
One probe = one TCP connection, one ``DESCRIBE`` (plus the authenticated retry on 401), one
deadline around all of it, the connection closed afterwards.

Promises of :meth:`RtspProber.describe`:

* It connects to ``target.host:target.port`` and nowhere else (cameras are untrusted: no
  redirect is followed, no host from a reply is used).
* It returns :class:`RtspReply` for a 2xx reply carrying SDP, and otherwise raises one of
  :mod:`adapters.errors`: ``Unreachable`` (refused, reset, closed before a complete reply),
  ``ProbeTimeout`` (the deadline, whatever the peer does: silence, one byte every two
  seconds, an endless body), ``AuthFailed`` (401 after our credentials, or 401 with none
  configured, or a scheme we cannot answer), ``ProtocolFailure`` (any other status, with
  ``status`` set; a non-SDP body; a reply over a cap; interleaved RTP before PLAY).
* Memory per probe is bounded by the caps (head 16 KiB, body 64 KiB by default).
* Error messages carry no password: URLs are masked, and server-supplied text (reason
  phrase, Server header) is cut short, made printable and scrubbed of the password.
* The Digest state (nonce, counters, never the password) of each (host, port, user) is
  kept in a bounded LRU so the next check answers preemptively: a healthy camera costs one
  request per check.  A nonce the server no longer accepts costs one more request.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, cast

from adapters.errors import AuthFailed, ProbeTimeout, ProtocolFailure, Unreachable
from adapters.http_auth import (
    DigestState,
    NoUsableChallenge,
    authorize,
    basic_authorization,
    parse_www_authenticate,
)
from adapters.rtsp_parser import ResponseReader, RtspResponse, describe_request, request_uri
from adapters.sdp import parse_sdp
from bridge.observation import SdpInfo
from bridge.url_credentials import mask_url

__all__ = ["AuthScheme", "RtspProbe", "RtspProber", "RtspReply", "RtspTarget", "request_uri"]

AuthScheme = Literal["none", "basic", "digest"]
# After this many rejections in a row of a cached nonce (401 without stale=true), stop
# sending credentials preemptively to that server: its nonces do not outlive a connection
# (GStreamer's and live555's RTSP servers keep the nonce per client connection).  A
# doomed preemptive request costs as much as an unauthenticated one but looks like a
# failed login in the camera's log.
_MAX_PREEMPTIVE_MISSES: Final = 2
_MAX_TEXT = 80


@dataclass(frozen=True, slots=True)
class RtspTarget:
    """Where to probe: ``path`` is the request path and query of the inventory's RTSP URL
    with credentials removed; the host of that URL is ignored, ``host:port`` is used."""

    host: str
    port: int
    path: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RtspReply:
    """A successful DESCRIBE: ``latency_ms`` from the start of the connect to the reply;
    ``server`` is the Server header (short, printable); ``auth`` the scheme that worked."""

    status: int
    latency_ms: float
    sdp: SdpInfo
    server: str
    auth: AuthScheme


class RtspProbe(Protocol):
    """What the scheduler needs from an RTSP prober (tests substitute fakes)."""

    async def describe(self, target: RtspTarget, timeout_s: float) -> RtspReply:
        """DESCRIBE ``target`` within ``timeout_s``; see :class:`RtspProber`."""
        ...


class _Remembered:
    """What worked for one (host, port, user): Basic, or Digest with its state; ``misses``
    counts rejections in a row of the cached nonce (see ``_MAX_PREEMPTIVE_MISSES``)."""

    __slots__ = ("misses", "state")

    def __init__(self, state: DigestState | None, misses: int) -> None:
        self.state = state  # None: Basic
        self.misses = misses

    @property
    def preemptive(self) -> bool:
        return self.misses < _MAX_PREEMPTIVE_MISSES


class _ConnectionClosed(Exception):
    """The peer closed (or reset) the connection; ``cause`` is the socket error, if any."""

    def __init__(self, cause: BaseException | None) -> None:
        super().__init__()
        self.cause = cause


class _Connection(asyncio.BufferedProtocol):
    """One TCP connection: sends requests, frames replies with a capped ResponseReader."""

    def __init__(self, reader: ResponseReader) -> None:
        self.reader = reader
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[RtspResponse] | None = None
        self.error: BaseException | None = None  # failure seen while nobody waited
        self.replies = 0
        self.closed = False  # EOF or connection lost
        self.close_cause: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports are not asyncio.Transport subclasses.
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        try:
            return self.reader.writable()
        except ProtocolFailure as exc:  # at a cap with nothing to parse: refuse the rest
            self._fail(exc)
            self.abort()
            return memoryview(bytearray(1))  # scratch for the read asyncio still makes

    def buffer_updated(self, nbytes: int) -> None:
        if self.closed:
            return  # refused or aborted: later bytes are ignored
        try:
            response = self.reader.advance(nbytes)
        except ProtocolFailure as exc:
            self._fail(exc)
            self.abort()
            return
        if response is not None:
            # No pause_reading(): the caller acts on a reply at once (close, or the next
            # request), and anything a peer sends meanwhile still meets the reader's caps.
            self.replies += 1
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(response)

    def eof_received(self) -> bool:
        self._closed(None)
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed(exc)

    def _closed(self, cause: BaseException | None) -> None:
        if not self.closed:
            self.closed = True
            self.close_cause = cause
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(_ConnectionClosed(cause or self.close_cause))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        elif self.error is None:
            self.error = exc

    async def request(self, data: bytes) -> RtspResponse:
        """Send ``data`` and wait for the next complete reply (the caller holds the deadline)."""
        if self.error is not None:
            raise self.error
        if self.closed:
            raise _ConnectionClosed(self.close_cause)
        assert self.transport is not None
        waiter: asyncio.Future[RtspResponse] = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        self.transport.write(data)
        if self.reader.buffered:  # bytes that arrived after the previous reply
            self.buffer_updated(0)
        return await waiter

    def abort(self) -> None:
        """Drop the connection now (RST if unread data is pending); it is not used again."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class RtspProber:
    """The RTSP DESCRIBE prober (implements :class:`RtspProbe`); see the module promises.

    Holds no connection between probes, only the bounded Digest cache, so one instance
    serves the whole fleet and needs no start/stop.  Not thread-safe (one event loop).
    """

    def __init__(
        self,
        *,
        max_header_bytes: int = 16 * 1024,
        max_body_bytes: int = 64 * 1024,
        max_media: int = 32,
        auth_cache_size: int = 50_000,
        user_agent: str = "gridbridge",
    ) -> None:
        self._max_header_bytes = max_header_bytes
        self._max_body_bytes = max_body_bytes
        self._max_media = max_media
        self._auth_cache_size = auth_cache_size
        self._user_agent = user_agent
        self._auth: OrderedDict[tuple[str, int, str], _Remembered] = OrderedDict()

    async def describe(self, target: RtspTarget, timeout_s: float) -> RtspReply:
        """DESCRIBE ``target``; ``timeout_s`` bounds connect and every request together."""
        uri = request_uri(target.host, target.port, target.path)
        where = mask_url(uri)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                return await self._exchange(target, uri, where, started)
        except TimeoutError:
            raise ProbeTimeout(f"{where}: no complete reply within {timeout_s:g} s") from None

    async def _exchange(
        self, target: RtspTarget, uri: str, where: str, started: float
    ) -> RtspReply:
        user, password = target.username, target.password
        key = (target.host, target.port, user or "")
        entry = self._auth.get(key) if user is not None else None
        state = entry.state if entry is not None else None
        misses = entry.misses if entry is not None else 0
        scheme: AuthScheme = "none"
        authorization: str | None = None
        preemptive = user is not None and entry is not None and entry.preemptive
        if preemptive and user is not None:
            self._auth.move_to_end(key)
            scheme = "digest" if state is not None else "basic"
            authorization = self._answer(state, uri, user, password or "")
        answered = stale_retried = False  # credentials from a challenge of this probe sent?
        conn = await self._connect(target, where)
        try:
            cseq = 0
            while True:
                cseq += 1
                data = describe_request(uri, cseq, self._user_agent, authorization)
                conn, response = await self._send(conn, target, where, data)
                if response.status != 401:
                    break
                if "close" in response.headers.get("connection", "").lower():
                    conn.closed = True  # the next request goes on a new connection
                if user is None:
                    raise AuthFailed(f"{where}: 401, and no credentials are configured")
                challenges = parse_www_authenticate([response.headers.get("www-authenticate", "")])
                stale = any(c.scheme == "digest" and c.stale for c in challenges)
                if answered and (not stale or stale_retried):
                    self._auth.pop(key, None)
                    raise AuthFailed(f"{where}: 401, {scheme} credentials rejected")
                stale_retried = stale_retried or (answered and stale)
                if preemptive and not answered and not stale:
                    misses += 1  # the cached nonce was refused

                try:
                    authorization, state = authorize(
                        challenges, "DESCRIBE", uri, user, password or ""
                    )
                except NoUsableChallenge:
                    offered = ", ".join(sorted({c.scheme for c in challenges})) or "none"
                    raise AuthFailed(
                        f"{where}: 401 demands unsupported authentication ({_safe(offered)})"
                    ) from None
                scheme = "digest" if state is not None else "basic"
                answered = True
            reply = self._reply(response, where, started, scheme, password)
            self._remember(key, scheme, state, 0 if preemptive and not answered else misses)
            conn.close()
            return reply
        finally:
            conn.abort()  # no-op after close(); the error paths end here

    async def _send(
        self, conn: _Connection, target: RtspTarget, where: str, data: bytes
    ) -> tuple[_Connection, RtspResponse]:
        """Send ``data`` and return ``(connection used, reply)``.

        When the server closed ``conn`` after its previous reply (many cameras close after a
        401), or closes it before a byte of this reply, the request goes once more on a new
        connection.  On any error the connection in use is aborted before raising.
        """
        try:
            for attempt in range(2):
                if conn.closed:
                    conn.abort()
                    conn = await self._connect(target, where)
                try:
                    return conn, await conn.request(data)
                except _ConnectionClosed as exc:
                    if attempt or not conn.replies or conn.reader.buffered:
                        raise _unreachable(where, exc.cause, "before a complete reply") from None
                except ProtocolFailure as exc:
                    raise ProtocolFailure(f"{where}: {exc}", status=exc.status) from None
            raise AssertionError("unreachable")  # pragma: no cover
        except BaseException:
            conn.abort()
            raise

    def _answer(self, state: DigestState | None, uri: str, user: str, password: str) -> str:
        if state is None:
            return basic_authorization(user, password)
        return state.authorization("DESCRIBE", uri, user, password)

    def _remember(
        self, key: tuple[str, int, str], scheme: AuthScheme, state: DigestState | None, misses: int
    ) -> None:
        """Keep what worked for the next probe of this (host, port, user), LRU-bounded."""
        if scheme == "none":
            self._auth.pop(key, None)
            return
        self._auth[key] = _Remembered(state if scheme == "digest" else None, misses)
        self._auth.move_to_end(key)
        while len(self._auth) > self._auth_cache_size:
            self._auth.popitem(last=False)

    def _reply(
        self,
        response: RtspResponse,
        where: str,
        started: float,
        scheme: AuthScheme,
        password: str | None,
    ) -> RtspReply:
        status = response.status
        if not 200 <= status < 300:
            reason = _safe(response.reason, password)
            raise ProtocolFailure(f"{where}: DESCRIBE answered {status} {reason}", status=status)
        ctype = response.headers.get("content-type")
        if ctype is not None and ctype.partition(";")[0].strip().lower() != "application/sdp":
            raise ProtocolFailure(
                f"{where}: {status} reply is {_safe(ctype, password)!r}, not SDP", status=status
            )
        try:
            sdp = parse_sdp(response.body.decode("utf-8", "replace"), max_media=self._max_media)
        except ProtocolFailure as exc:
            raise ProtocolFailure(f"{where}: {exc}", status=status) from None
        return RtspReply(
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            sdp=sdp,
            server=_safe(response.headers.get("server", ""), password),
            auth=scheme,
        )

    async def _connect(self, target: RtspTarget, where: str) -> _Connection:
        conn = _Connection(
            ResponseReader(
                max_header_bytes=self._max_header_bytes, max_body_bytes=self._max_body_bytes
            )
        )
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: conn, target.host, target.port)
        except OSError as exc:
            raise _unreachable(where, exc, "on connect") from None
        return conn


def _unreachable(where: str, cause: BaseException | None, when: str) -> Unreachable:
    if isinstance(cause, ConnectionRefusedError):
        return Unreachable(f"{where}: connection refused")
    if isinstance(cause, ConnectionResetError):
        return Unreachable(f"{where}: connection reset {when}")
    if isinstance(cause, OSError):
        return Unreachable(f"{where}: {cause.strerror or type(cause).__name__} {when}")
    return Unreachable(f"{where}: connection closed {when}")


def _safe(text: str, password: str | None = None) -> str:
    """Server-supplied text fit for a log line: printable, short, without the password."""
    if password:
        text = text.replace(password, "***")
    if len(text) <= _MAX_TEXT and text.isprintable():
        return text
    cleaned = "".join(c if c.isprintable() else "?" for c in text[:_MAX_TEXT])
    return cleaned + ("…" if len(text) > _MAX_TEXT else "")
