"""Keeping the daemon on the inventory's host: every address a camera hands out (service
XAddrs, stream and snapshot URIs) is pinned to the configured host and port, stripped of
credentials, or refused (DESIGN §12).  Pure: no I/O.  Used by `adapters.onvif_onboard`.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote_plus

from yarl import URL

from adapters.onvif_soap import OnvifTarget

__all__ = ["pin_uri", "safe_uri"]

logger = logging.getLogger(__name__)

# Query parameters in which cameras (Dahua snapshot URIs, among others) put credentials.
_CREDENTIAL_KEYS = frozenset({"user", "username", "usr", "pass", "password", "passwd", "pwd"})


def pin_uri(uri: str | None, scheme: str, host: str, port: int) -> str | None:
    """``uri`` moved to ``scheme://host:port`` with its path and query, or ``None``.

    ``uri`` may be absolute — then its scheme must be ``scheme`` or its TLS twin (``https``,
    ``rtsps``) — or an absolute path.  User info, fragment and query parameters that carry
    credentials (``user``, ``password`` …) are dropped.  ``None`` for an empty, unparseable
    or otherwise-schemed ``uri``.
    """
    if not uri or not uri.strip():
        return None
    try:
        parsed = URL(uri.strip())
        if parsed.is_absolute():
            if parsed.scheme not in (scheme, f"{scheme}s"):
                return None
        elif parsed.scheme or not parsed.raw_path.startswith("/"):
            return None
        path = parsed.raw_path or "/"
        query = "&".join(
            pair
            for pair in parsed.raw_query_string.split("&")
            if pair and unquote_plus(pair.partition("=")[0]).lower() not in _CREDENTIAL_KEYS
        )
    except ValueError:
        return None
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc}:{port}{path}" + (f"?{query}" if query else "")


def safe_uri(uri: Any, scheme: str, target: OnvifTarget, port: int) -> str | None:
    """`pin_uri` for a URI a camera handed out (any type), logged when refused; also
    ``None`` when the pinned URI still shows the target's password (4+ characters)
    anywhere, e.g. in its path."""
    pinned = pin_uri(uri if isinstance(uri, str) else None, scheme, target.host, port)
    if pinned is None:
        if uri:
            logger.warning("camera %s: refused a %s URI it handed out", target.host, scheme)
        return None
    password = target.password
    if len(password) >= 4 and (password in pinned or password in unquote_plus(pinned)):
        logger.warning("camera %s: dropped a %s URI that carries the password", target.host, scheme)
        return None
    return pinned
