"""The ONVIF heartbeat: two small SOAP posts over aiohttp, on the hot path (DESIGN §3, §9).

`OnvifHeartbeat.system_date_time` asks ``GetSystemDateAndTime`` (normally unauthenticated:
the camera's clock, and proof that its ONVIF service answers); `device_information` asks
``GetDeviceInformation`` with a WS-Security UsernameToken (PasswordDigest): serial and
firmware, and proof that our credentials still work.

Rules kept here (DESIGN §12): requests go only to ``http://host:port/path`` of the
`OnvifTarget` — redirects are refused, never followed; every reply body is read with a hard
cap that also bounds what gzip expands to; replies are parsed by `adapters.safexml`; every
call ends at its deadline; aiohttp's exceptions are translated here into the domain errors of
`adapters.errors`, and nothing else leaves this module.

Authenticated calls carry WS-Security and, when the camera answers ``401`` with a
``WWW-Authenticate: Digest`` challenge (some Hikvision firmwares), are sent once more with
HTTP Digest (`adapters.http_auth`).  HTTP Basic is never answered (the password would cross
the network in clear).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self
from xml.sax.saxutils import escape

import aiohttp
from yarl import URL

from adapters.errors import AuthFailed, ProbeError, ProtocolFailure, Unreachable
from adapters.http_auth import DigestState, NoUsableChallenge, parse_www_authenticate
from adapters.http_errors import http_failure
from adapters.onvif_xml import (
    SoapFault,
    parse_device_information,
    parse_system_date_time,
    response_element,
)
from bridge.observation import DeviceInfo

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEVICE_SERVICE_PATH",
    "DeviceClock",
    "OnvifHeartbeat",
    "OnvifHeartbeatClient",
    "OnvifTarget",
]

logger = logging.getLogger(__name__)

DEVICE_SERVICE_PATH = "/onvif/device_service"
DEFAULT_MAX_BODY_BYTES = 1 << 20
DEFAULT_LIMIT = 256
DEFAULT_LIMIT_PER_HOST = 2
DEFAULT_KEEPALIVE_TIMEOUT_S = 15.0

_DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
_WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_WSS_USERNAME_PROFILE_URI = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
)
_DIGEST_TYPE = f"{_WSS_USERNAME_PROFILE_URI}#PasswordDigest"
_BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">{header}'
    f'<s:Body xmlns:tds="{_DEVICE_NS}">{{body}}</s:Body></s:Envelope>'
)
_GET_TIME = "GetSystemDateAndTime"
_GET_INFO = "GetDeviceInformation"
_PLAIN = {
    action: _ENVELOPE.format(header="", body=f"<tds:{action}/>").encode()
    for action in (_GET_TIME, _GET_INFO)
}


@dataclass(frozen=True, slots=True)
class OnvifTarget:
    """Where a camera's ONVIF device service is, as the inventory says, and how to log in.

    An empty ``username`` means: send no credentials.
    """

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    path: str = DEVICE_SERVICE_PATH


@dataclass(frozen=True, slots=True)
class DeviceClock:
    """What ``GetSystemDateAndTime`` said.

    ``utc`` is the camera's time (aware, UTC), or ``None`` when it demanded authentication
    first (``auth_required``) or stated no usable time.  ``latency_ms`` is the round trip.
    """

    utc: datetime | None
    latency_ms: float
    auth_required: bool


class OnvifHeartbeatClient(Protocol):
    """The heartbeat calls the scheduler makes (implemented by `OnvifHeartbeat`)."""

    async def system_date_time(
        self, target: OnvifTarget, timeout_s: float, *, auth: bool = False
    ) -> DeviceClock: ...

    async def device_information(
        self, target: OnvifTarget, timeout_s: float, *, clock_offset_s: float = 0.0
    ) -> tuple[DeviceInfo, float]: ...


def security_header(username: str, password: str, created: datetime) -> str:
    """A WS-Security ``<s:Header>`` with a UsernameToken whose password is sent as
    Base64(SHA1(nonce + created + password)) with a fresh 16-byte nonce."""
    nonce = os.urandom(16)
    stamp = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # SHA-1 because the UsernameToken profile says so; the nonce keeps it from replay.
    digest = hashlib.sha1(
        nonce + stamp.encode() + password.encode(), usedforsecurity=False
    ).digest()
    return (
        f'<s:Header><wsse:Security xmlns:wsse="{_WSSE_NS}" xmlns:wsu="{_WSU_NS}">'
        f"<wsse:UsernameToken><wsse:Username>{escape(username)}</wsse:Username>"
        f'<wsse:Password Type="{_DIGEST_TYPE}">{base64.b64encode(digest).decode()}'
        f'</wsse:Password><wsse:Nonce EncodingType="{_BASE64_BINARY}">'
        f"{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"
    )


def _headers(action: str) -> dict[str, str]:
    return {
        "Content-Type": f'application/soap+xml; charset=utf-8; action="{_DEVICE_NS}/{action}"',
    }


_HEADERS = {action: _headers(action) for action in (_GET_TIME, _GET_INFO)}


class OnvifHeartbeat:
    """`OnvifHeartbeatClient` over one aiohttp session with keep-alive connections.

    The constructor only assigns; `start` (or ``async with``) opens the session; `close`
    closes it and every kept connection.  Reusable after `close`, not re-entrant.
    ``max_body_bytes`` caps every reply body (after decompression); ``limit`` and
    ``limit_per_host`` cap open connections (a safety net under the scheduler's own caps);
    idle connections are kept ``keepalive_timeout_s``.  Every call takes its own deadline,
    ``timeout_s``, which covers waiting for a pooled connection too.
    """

    def __init__(
        self,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        limit: int = DEFAULT_LIMIT,
        limit_per_host: int = DEFAULT_LIMIT_PER_HOST,
        keepalive_timeout_s: float = DEFAULT_KEEPALIVE_TIMEOUT_S,
    ) -> None:
        self._max_body_bytes = max_body_bytes
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._keepalive_timeout_s = keepalive_timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session (no connection is made yet).  Raises `RuntimeError` when
        already started."""
        if self._session is not None:
            raise RuntimeError("OnvifHeartbeat is already started")
        # keepalive_timeout_s <= 0: one connection per call.  A daemon that checks each camera
        # every 30 s cannot reuse a connection kept 15 s, and idle ones cost a socket each
        # (aiohttp's limit counts only connections in use): 20,000 cameras → 20,000 fds.
        connector = (
            aiohttp.TCPConnector(limit=self._limit, force_close=True)
            if self._keepalive_timeout_s <= 0
            else aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                keepalive_timeout=self._keepalive_timeout_s,
            )
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # No aiohttp timeouts: each call's asyncio.timeout is the one deadline.
            timeout=aiohttp.ClientTimeout(total=None),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            headers={"User-Agent": "gridbridge"},
        )

    async def close(self) -> None:
        """Close the session and its connections; a no-op when not started."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def system_date_time(
        self, target: OnvifTarget, timeout_s: float, *, auth: bool = False
    ) -> DeviceClock:
        """``GetSystemDateAndTime``, unauthenticated unless ``auth``.

        A camera that demands credentials for it (HTTP 401, or a SOAP fault that says "not
        authorized") is alive: without ``auth`` that gives ``DeviceClock(None, latency,
        auth_required=True)``; with ``auth`` it raises `AuthFailed`.  Raises `Unreachable`,
        `ProbeTimeout` (``timeout_s`` passed) or `ProtocolFailure` (any other fault,
        status or malformed reply).
        """
        status, data, latency_ms = await self._call(
            target, _GET_TIME, timeout_s, signed=auth, clock_offset_s=0.0
        )
        try:
            if status == 401:
                raise SoapFault(("HTTP 401",), "", status, auth=True)
            response = response_element(status, data, _GET_TIME, self._max_body_bytes)
        except SoapFault as fault:
            if not fault.auth:
                raise fault.as_error() from None
            if auth:
                raise AuthFailed("the camera refused our ONVIF credentials") from None
            return DeviceClock(None, latency_ms, auth_required=True)
        return DeviceClock(parse_system_date_time(response), latency_ms, auth_required=False)

    async def device_information(
        self, target: OnvifTarget, timeout_s: float, *, clock_offset_s: float = 0.0
    ) -> tuple[DeviceInfo, float]:
        """``GetDeviceInformation`` with a WS-Security UsernameToken whose ``Created`` is
        our time plus ``clock_offset_s`` (the camera's time minus ours: cameras reject
        tokens that look stale); answers an HTTP Digest challenge too.  Gives the device
        info and the round trip in ms (both round trips when Digest was needed).

        Raises `AuthFailed` (HTTP 401 or a "not authorized" / "failed authentication"
        fault), `Unreachable`, `ProbeTimeout` or `ProtocolFailure`.
        """
        status, data, latency_ms = await self._call(
            target, _GET_INFO, timeout_s, signed=True, clock_offset_s=clock_offset_s
        )
        try:
            if status == 401:
                raise SoapFault(("HTTP 401",), "", status, auth=True)
            response = response_element(status, data, _GET_INFO, self._max_body_bytes)
        except SoapFault as fault:
            if fault.auth:
                raise AuthFailed("the camera refused our ONVIF credentials") from None
            raise fault.as_error() from None
        return parse_device_information(response), latency_ms

    # --- internals ------------------------------------------------------------------------

    async def _call(
        self,
        target: OnvifTarget,
        action: str,
        timeout_s: float,
        *,
        signed: bool,
        clock_offset_s: float,
    ) -> tuple[int, bytes, float]:
        """POST ``action`` to the target within ``timeout_s``: (status, body, latency ms).

        ``signed``: with a WS-Security token, and an HTTP Digest answer when the camera's
        401 challenges for one (HTTP Basic is never answered: it would send the password).
        Library exceptions leave as domain errors.
        """
        session = self._session
        if session is None:
            raise RuntimeError("OnvifHeartbeat is not started")
        try:
            url = URL.build(scheme="http", host=target.host, port=target.port, path=target.path)
        except (ValueError, TypeError):
            raise Unreachable("the camera's ONVIF address is not valid") from None
        signed = signed and bool(target.username)
        headers = _HEADERS[action]
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                payload = _payload(target, action, clock_offset_s) if signed else _PLAIN[action]
                status, data, challenges = await self._round_trip(session, url, payload, headers)
                if status == 401 and signed and challenges:
                    authorization = _digest_authorization(challenges, url, target)
                    if authorization is not None:
                        payload = _payload(target, action, clock_offset_s)
                        status, data, _ = await self._round_trip(
                            session, url, payload, {**headers, "Authorization": authorization}
                        )
        except ProbeError:
            raise
        except Exception as exc:
            failure = http_failure(
                exc,
                timed_out=f"no complete ONVIF reply within {timeout_s:g} s",
                broken_body="reply body broken off",
            )
            if failure is None:
                raise
            raise failure from None
        return status, data, (time.perf_counter() - started) * 1000.0

    async def _round_trip(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        payload: bytes,
        headers: dict[str, str],
    ) -> tuple[int, bytes, list[str]]:
        """One POST: (status, capped body, WWW-Authenticate values of a 401)."""
        try:
            response = await session.post(url, data=payload, headers=headers, allow_redirects=False)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientConnectionResetError):
            # A kept-alive connection the camera had closed meanwhile; both calls only read,
            # so asking once more on a fresh connection is safe.
            response = await session.post(url, data=payload, headers=headers, allow_redirects=False)
        async with response:
            status = response.status
            if 300 <= status < 400:
                raise ProtocolFailure(
                    f"HTTP {status}: redirect refused (not followed)", status=status
                )
            data = await read_capped(response, self._max_body_bytes)
            challenges = response.headers.getall("WWW-Authenticate", []) if status == 401 else []
        return status, data, challenges


def _payload(target: OnvifTarget, action: str, clock_offset_s: float) -> bytes:
    created = datetime.now(UTC) + timedelta(seconds=clock_offset_s)
    header = security_header(target.username, target.password, created)
    return _ENVELOPE.format(header=header, body=f"<tds:{action}/>").encode()


def _digest_authorization(challenges: list[str], url: URL, target: OnvifTarget) -> str | None:
    """An HTTP Digest ``Authorization`` for the first Digest challenge we can answer."""
    for challenge in parse_www_authenticate(challenges):
        if challenge.scheme != "digest":
            continue
        try:
            state = DigestState.from_challenge(challenge)
        except NoUsableChallenge:
            continue
        return state.authorization("POST", url.raw_path_qs, target.username, target.password)
    return None


async def read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole body of ``response``, refused (`ProtocolFailure`) as soon as it is known
    to exceed ``max_bytes``: from Content-Length before reading, else while reading
    (decompressed bytes are counted, so gzip cannot blow it up).  aiohttp exceptions pass."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise ProtocolFailure(
            f"reply of {declared} bytes refused (limit {max_bytes})", status=response.status
        )
    chunks: list[bytes] = []
    total = 0
    while chunk := await response.content.readany():
        total += len(chunk)
        if total > max_bytes:
            raise ProtocolFailure(f"reply over {max_bytes} bytes refused", status=response.status)
        chunks.append(chunk)
    return b"".join(chunks)
