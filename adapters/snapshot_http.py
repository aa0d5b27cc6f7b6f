"""HTTP snapshot of a camera (the ONVIF snapshot URI): one JPEG, checked before anyone decodes it.

Promises of :func:`fetch_snapshot`:

* It sends ``GET`` to the URL it is given and nowhere else.  Onboarding already rewrote the
  URL to the camera's configured host and port (DESIGN §12); a redirect is followed only to
  the same scheme, host and port (at most ``MAX_REDIRECTS``), any other is refused.
* It answers HTTP Digest (preferred) or Basic through :mod:`adapters.http_auth`, and
  remembers per (host, port, user) what worked (a Digest nonce and counter, never the
  password) in a bounded :class:`AuthMemory`, so a healthy camera costs one request.
* The body is capped while it streams: a ``Content-Length`` over ``max_bytes`` is refused
  before a byte of body is read, a chunked or close-delimited body as soon as it passes the
  cap.  Identity encoding is asked for; a compressed body is counted after decompression.
* The body must start with the JPEG magic ``FF D8``, and its dimensions, read from the SOF
  marker by :func:`jpeg_size` without decoding, must be non-zero and at most ``max_pixels``.
* It ends at ``timeout_s`` whatever the camera does, and raises only :mod:`adapters.errors`:
  ``Unreachable`` (refused, reset, closed before a reply), ``ProbeTimeout`` (the deadline),
  ``AuthFailed`` (401 after our credentials, 401 with none configured, or a scheme we cannot
  answer), ``ProtocolFailure`` (another status — ``status`` set —, a redirect elsewhere, a
  body over a cap, not a JPEG, too many pixels).  No message holds the password or the URL.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

import aiohttp
from yarl import URL

from adapters.errors import AuthFailed, ProbeError, ProtocolFailure
from adapters.http_auth import (
    DigestState,
    NoUsableChallenge,
    authorize,
    basic_authorization,
    parse_www_authenticate,
)
from adapters.http_errors import http_failure
from bridge.jpeg_header import JpegError, jpeg_size

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "MAX_REDIRECTS",
    "AuthMemory",
    "JpegError",
    "Snapshot",
    "fetch_snapshot",
    "jpeg_size",
]

DEFAULT_MAX_BYTES: Final = 8 << 20
DEFAULT_MAX_PIXELS: Final = 40_000_000
MAX_REDIRECTS: Final = 3
_HEADERS: Final = {"Accept": "image/jpeg, */*;q=0.5", "Accept-Encoding": "identity"}
_BASIC: Final = "basic"  # AuthMemory value for "Basic worked"

_MAX_401_BODY: Final = 64 << 10


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One checked snapshot: the JPEG as received, its size from the SOF marker, and the
    time from the start of the request to the last byte of the body (all round trips)."""

    jpeg: bytes = field(repr=False)
    width: int
    height: int
    latency_ms: float


class AuthMemory:
    """What worked for each (host, port, user): Basic, or Digest with its state (nonce,
    realm, counters — never the password).  LRU-bounded to ``max_entries``.

    One instance serves the whole fleet from one event loop (not thread-safe).  A
    remembered Digest nonce that the camera no longer accepts costs one more request.
    """

    __slots__ = ("_entries", "max_entries")

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int, str], DigestState | str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, int, str]) -> DigestState | str | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: tuple[str, int, str], value: DigestState | str) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, key: tuple[str, int, str]) -> None:
        self._entries.pop(key, None)


_DEFAULT_MEMORY = AuthMemory()


async def fetch_snapshot(
    session: aiohttp.ClientSession,
    url: str,
    *,
    username: str | None,
    password: str | None,
    timeout_s: float,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    auth_memory: AuthMemory | None = None,
) -> Snapshot:
    """GET the snapshot at ``url`` (``http`` or ``https``, no credentials in it) within
    ``timeout_s``; see the module promises.  ``username`` None (or empty) sends no
    credentials.  ``auth_memory`` defaults to one shared by the process."""
    memory = _DEFAULT_MEMORY if auth_memory is None else auth_memory
    try:
        target = URL(url)
    except (ValueError, TypeError):
        raise ProtocolFailure("snapshot URL is not valid") from None
    if target.scheme not in ("http", "https") or not target.host or target.user is not None:
        raise ProtocolFailure("snapshot URL must be http(s)://host[:port]/path, no credentials")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            data = await _fetch(
                session, target, username or None, password or "", memory, max_bytes
            )
    except ProbeError:
        raise
    except Exception as exc:
        failure = http_failure(
            exc,
            timed_out=f"no complete snapshot within {timeout_s:g} s",
            broken_body="snapshot body broken off or badly encoded",
        )
        if failure is None:
            raise
        raise failure from None
    latency_ms = (time.perf_counter() - started) * 1000.0
    try:
        width, height = jpeg_size(data)
    except JpegError as exc:
        raise ProtocolFailure(f"snapshot refused: {exc}", status=200) from None
    if width * height > max_pixels:
        raise ProtocolFailure(
            f"snapshot of {width}x{height} refused (limit {max_pixels} pixels)", status=200
        )
    return Snapshot(data, width, height, latency_ms)


async def _fetch(
    session: aiohttp.ClientSession,
    url: URL,
    username: str | None,
    password: str,
    memory: AuthMemory,
    max_bytes: int,
) -> bytes:
    """The body of a 200 reply, after auth round trips and same-origin redirects."""
    origin = (url.scheme, url.host, url.port)
    key = (url.host or "", url.port or 0, username or "")
    remembered = memory.get(key) if username is not None else None
    answered = stale_retried = False  # credentials from a challenge of this fetch sent?
    state: DigestState | None = None  # of the challenge answered (None: Basic)
    fresh: str | None = None  # the Authorization authorize() made for the next request
    redirects = 0
    while True:
        uri = url.raw_path_qs
        headers = dict(_HEADERS)
        if fresh is not None:
            headers["Authorization"], fresh = fresh, None
        elif username is not None and (answered or remembered is not None):
            headers["Authorization"] = _answer(
                state if answered else remembered, uri, username, password
            )
        response = await session.get(
            url, headers=headers, allow_redirects=False, raise_for_status=False
        )
        async with response:
            status = response.status
            if status == 200:
                if answered:
                    memory.put(key, state if state is not None else _BASIC)
                return await _read_jpeg(response, max_bytes)
            if status in (301, 302, 303, 307, 308):
                url = _same_origin(url, response.headers.get("Location"), origin, status)
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise ProtocolFailure(f"HTTP {status}: too many redirects", status=status)
                continue
            if status != 401:
                raise ProtocolFailure(f"snapshot answered HTTP {status}", status=status)
            if username is None:
                raise AuthFailed("snapshot: 401, and no credentials are configured")
            challenges = parse_www_authenticate(response.headers.getall("WWW-Authenticate", []))
            await _drain(response)
        stale = any(c.scheme == "digest" and c.stale for c in challenges)
        if answered and (not stale or stale_retried):
            memory.forget(key)
            kind = "digest" if state is not None else "basic"
            raise AuthFailed(f"snapshot: 401, {kind} credentials rejected")
        stale_retried = stale_retried or (answered and stale)
        remembered = None  # a remembered nonce (or Basic) was refused: answer the challenge
        try:
            fresh, state = authorize(challenges, "GET", uri, username, password)
        except NoUsableChallenge:
            offered = ", ".join(sorted({c.scheme[:16] for c in challenges})) or "none"
            raise AuthFailed(
                f"snapshot: 401 demands unsupported authentication ({offered})"
            ) from None
        answered = True


def _answer(how: DigestState | str | None, uri: str, username: str, password: str) -> str:
    """``Authorization`` for ``uri``: Digest from its state (next ``nc``), else Basic."""
    if isinstance(how, DigestState):
        return how.authorization("GET", uri, username, password)
    return basic_authorization(username, password)


def _same_origin(
    url: URL, location: str | None, origin: tuple[str, str | None, int | None], status: int
) -> URL:
    """The redirect target resolved against ``url``, refused unless it stays on ``origin``."""
    if not location:
        raise ProtocolFailure(f"HTTP {status} without a Location", status=status)
    try:
        target = url.join(URL(location))
    except (ValueError, TypeError):
        raise ProtocolFailure(f"HTTP {status} with an invalid Location", status=status) from None
    if (target.scheme, target.host, target.port) != origin or target.user is not None:
        raise ProtocolFailure(
            f"HTTP {status}: redirect to another host or port refused", status=status
        )
    return target.with_fragment(None)


async def _read_jpeg(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body, refused as soon as it is known to exceed ``max_bytes`` (Content-Length
    first, then counted while streaming, after decompression) or not to start with the
    JPEG magic.  On refusal the connection is closed, not drained."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        response.close()
        raise ProtocolFailure(
            f"snapshot of {declared} bytes refused (limit {max_bytes})", status=200
        )
    chunks: list[bytes] = []
    total = 0
    while chunk := await response.content.readany():
        if total < 2 <= total + len(chunk):
            head = (b"".join(chunks) + chunk)[:2]
            if head != b"\xff\xd8":
                response.close()
                raise ProtocolFailure("snapshot refused: not a JPEG (no FF D8 magic)", status=200)
        total += len(chunk)
        if total > max_bytes:
            response.close()
            raise ProtocolFailure(f"snapshot over {max_bytes} bytes refused", status=200)
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read a small 401 body so the connection can carry the answer: some cameras keep a
    Digest nonce per connection.  A large or endless one closes the connection instead."""
    declared = response.content_length
    if declared is not None and declared > _MAX_401_BODY:
        response.close()
        return
    total = 0
    while chunk := await response.content.readany():
        total += len(chunk)
        if total > _MAX_401_BODY:
            response.close()
            return
