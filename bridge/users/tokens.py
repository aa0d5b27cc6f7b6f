"""API tokens and web session ids: random, shown once, stored only as their SHA-256.

An API token is ``gbt_`` and 52 letters and digits (32 random bytes in lower-case base32,
no padding): the prefix lets secret scanners and people recognise it, base32 survives being
read aloud or typed.  The store keeps its SHA-256 hex digest, so a copy of the database
does not let anyone in; a plain hash is enough because the token has 256 random bits (a
password needs scrypt because it has few).  Session ids (the ``gb_session`` cookie) are
kept the same way; a session's CSRF token is random too.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

__all__ = [
    "TOKEN_PREFIX",
    "digest",
    "looks_like_session_id",
    "looks_like_token",
    "new_api_token",
    "new_csrf_token",
    "new_session_id",
]

TOKEN_PREFIX = "gbt_"  # noqa: S105 - the prefix, not a token
TOKEN_BYTES = 32
_TOKEN_RE = re.compile(r"gbt_[a-z2-7]{52}")
_SESSION_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_api_token() -> str:
    """A new API token (show it once; store `digest` of it)."""
    body = base64.b32encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii")
    return TOKEN_PREFIX + body.rstrip("=").lower()


def looks_like_token(text: str) -> bool:
    """Whether ``text`` has the shape of an API token (before any store look-up)."""
    return _TOKEN_RE.fullmatch(text) is not None


def new_session_id() -> str:
    """A new session id for the ``gb_session`` cookie (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def looks_like_session_id(text: str) -> bool:
    return _SESSION_RE.fullmatch(text) is not None


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The SHA-256 hex digest by which a token or session id is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
