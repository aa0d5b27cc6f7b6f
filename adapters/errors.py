"""The few domain errors every probing adapter raises (DESIGN §2, STYLE 6).

Adapters translate library and socket exceptions into these at their edge; nothing above an
adapter catches ``OSError``, ``aiohttp.ClientError`` or a zeep fault.  Messages are short,
safe to log and show (never a password or a URL with credentials).
"""

from __future__ import annotations


class ProbeError(Exception):
    """A check layer could not get what it asked for.  ``code`` is stable for machines."""

    code = "error"


class Unreachable(ProbeError):
    """No connection: refused, no route, reset or closed before any reply."""

    code = "unreachable"


class ProbeTimeout(ProbeError):
    """The layer's deadline passed (silent peer, slow drip, endless body)."""

    code = "timeout"


class AuthFailed(ProbeError):
    """The peer answered and rejected our credentials (or demands ones we do not have)."""

    code = "auth_failed"


class ProtocolFailure(ProbeError):
    """The peer answered, but not as the protocol says: bad status, malformed reply, a reply
    over a size cap, a SOAP fault."""

    code = "protocol"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
