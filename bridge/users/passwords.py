"""Password hashes with scrypt (stdlib ``hashlib.scrypt``; no extra dependency).

A hash records its own parameters — ``scrypt$32768$8$1$<salt b64>$<hash b64>`` — so the
parameters can be raised later without locking anybody out: `needs_rehash` tells the login
to store a new hash once the password is known to be right.

Limits: at least `MIN_LENGTH` characters; at most `MAX_BYTES` bytes of UTF-8, refused
*before* hashing (scrypt's cost does not depend on the length, but a megabyte of password
posted a thousand times should cost the daemon nothing).  One hash takes ~32 MiB and some
tens of milliseconds of CPU: callers on an event loop run it in a thread, few at a time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = [
    "DUMMY_HASH",
    "MAX_BYTES",
    "MIN_LENGTH",
    "PasswordError",
    "check_password",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

MIN_LENGTH = 8  # characters
MAX_BYTES = 1024  # UTF-8 bytes; longer ones are refused before any hashing
SCHEME = "scrypt"
# 32 MiB and ~0.1 s of one core per hash (Django uses 2^14, OWASP advises 2^17): a login
# stays quick on the district's small server while a stolen hash costs a guesser dearly.
N, R, P = 2**15, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
# What a stored hash may ask for: a crafted row must not cost gigabytes or minutes.
MAX_MEMORY_BYTES = 256 << 20
MAX_P = 4


# Verified against when the user name is unknown, so that a wrong name takes as long as a
# wrong password (no password has this hash: it would need scrypt's preimage of zeros).
DUMMY_HASH = f"{SCHEME}${N}${R}${P}${'A' * 22}==${'A' * 43}="


class PasswordError(ValueError):
    """A password that may not be set (too short, too long, not text)."""


@dataclass(frozen=True, slots=True)
class _Parsed:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def check_password(password: str) -> bytes:
    """The password's UTF-8 bytes, or `PasswordError` naming the rule it breaks."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters (密码至少8位)")
    data = password.encode("utf-8", errors="strict")
    if len(data) > MAX_BYTES:
        raise PasswordError(f"a password may have at most {MAX_BYTES} bytes")
    return data


def _scrypt(data: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # maxmem: scrypt needs 128·n·r·p bytes plus a little; OpenSSL's default cap is 32 MiB.
    return hashlib.scrypt(
        data, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=130 * n * r * p + (1 << 20)
    )


def hash_password(password: str) -> str:
    """A new hash of ``password`` with a fresh salt; `PasswordError` when it breaks a rule."""
    data = check_password(password)
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(data, salt, N, R, P, HASH_BYTES)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches ``hashed``.  False — never an exception — for a
    password over the limits, or a hash that is malformed or names absurd parameters."""
    parsed = _parse(hashed)
    if parsed is None:
        return False
    try:
        data = password.encode("utf-8", errors="strict")
    except UnicodeEncodeError:
        return False
    if len(data) > MAX_BYTES:
        return False
    given = _scrypt(data, parsed.salt, parsed.n, parsed.r, parsed.p, len(parsed.digest))
    return hmac.compare_digest(given, parsed.digest)


def needs_rehash(hashed: str) -> bool:
    """Whether ``hashed`` was made with other parameters than today's (hash it again at the
    next successful login)."""
    parsed = _parse(hashed)
    now = (N, R, P, SALT_BYTES, HASH_BYTES)
    return (
        parsed is None
        or (parsed.n, parsed.r, parsed.p, len(parsed.salt), len(parsed.digest)) != now
    )


def _parse(hashed: str) -> _Parsed | None:
    parts = hashed.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return None
    power_of_two = n > 1 and n & (n - 1) == 0
    if not (power_of_two and r > 0 and 0 < p <= MAX_P and 128 * n * r <= MAX_MEMORY_BYTES):
        return None
    if not (8 <= len(salt) <= 64 and 16 <= len(digest) <= 64):
        return None
    return _Parsed(n, r, p, salt, digest)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
