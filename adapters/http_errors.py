"""aiohttp's exceptions in the adapters' domain errors (STYLE 6): one translation for every
HTTP adapter (ONVIF SOAP, snapshots), so a camera that drops a connection reads the same in
every layer.  Messages are short and hold no URL (URLs may carry credentials)."""

from __future__ import annotations

import aiohttp

from adapters.errors import ProbeError, ProbeTimeout, ProtocolFailure, Unreachable


def _reason(exc: OSError | None) -> str:
    if exc is None:
        return "no connection"
    return exc.strerror or type(exc).__name__


def http_failure(exc: Exception, *, timed_out: str, broken_body: str) -> ProbeError | None:
    """The domain error for ``exc`` raised by an aiohttp exchange under a deadline, or
    None when it is none of aiohttp's (nor the deadline's): re-raise that one.
    ``timed_out`` and ``broken_body`` say what did not arrive, for people."""
    if isinstance(exc, ProbeError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProbeTimeout(timed_out)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Unreachable(f"cannot connect: {_reason(exc.os_error)}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Unreachable("connection closed before any reply")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ProtocolFailure(broken_body)
    if isinstance(exc, aiohttp.ClientResponseError):
        return ProtocolFailure("malformed HTTP reply")
    if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):
        return Unreachable(f"connection failed: {type(exc).__name__}")
    if isinstance(exc, aiohttp.ClientError):
        return ProtocolFailure(f"HTTP exchange failed: {type(exc).__name__}")
    return None
