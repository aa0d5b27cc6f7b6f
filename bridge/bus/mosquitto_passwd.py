"""Password hashes and password files in the format of Mosquitto 2 (``mosquitto_passwd``).

Pure: ``hashlib``, ``hmac``, ``base64``, ``secrets``; no I/O.  A line of a Mosquitto 2
password file is ``username:$7$ITERATIONS$SALT$HASH`` where HASH is PBKDF2-HMAC-SHA512 of
the UTF-8 password over the 12-byte SALT, and both are standard base64 with padding; this is
what ``mosquitto_passwd`` (2.0) writes by default, with 101 iterations.  The older
``$6$SALT$HASH`` form (SHA-512 of password + salt, Mosquitto 1.x) is accepted when reading.

The 101 iterations are Mosquitto's own default and cheap to brute-force for a weak
password; gridbridge only hashes passwords it generated itself (about 120 random bits,
:func:`new_password`), for which that does not matter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
from collections.abc import Iterable, Mapping

__all__ = [
    "DEFAULT_ITERATIONS",
    "PASSWORD_ALPHABET",
    "SALT_BYTES",
    "PasswordFileError",
    "check_username",
    "format_password_file",
    "hash_password",
    "new_password",
    "parse_password_file",
    "verify_password",
]

DEFAULT_ITERATIONS = 101  # mosquitto_passwd 2.0's PW_DEFAULT_ITERATIONS
SALT_BYTES = 12  # mosquitto_passwd 2.0's SALT_LEN
_DIGEST_BYTES = 64  # SHA-512
# Letters and digits without the look-alikes 0/O, 1/l/I: a person may have to type it.
PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


class PasswordFileError(ValueError):
    """A password file line that is not ``username:hash`` in a format Mosquitto reads."""


def check_username(username: str) -> str:
    """``username`` unchanged when a Mosquitto password file can hold it, else ``ValueError``.

    Refused: empty, a ``:`` (the file's separator), whitespace or control characters
    (Mosquitto's ACL file takes the rest of a ``user`` line, the password file splits lines).
    """
    if not username:
        raise ValueError("a broker user name must not be empty")
    bad = [c for c in username if c == ":" or c.isspace() or not c.isprintable()]
    if bad:
        raise ValueError(f"broker user name {username!r} contains {bad[0]!r}")
    return username


def new_password(length: int = 24) -> str:
    """A random password of ``length`` characters from :data:`PASSWORD_ALPHABET` (``secrets``).

    24 characters of this 57-letter alphabet carry about 140 bits.  ``length`` < 12 is refused.
    """
    if length < 12:
        raise ValueError("a broker password needs at least 12 characters")
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _password_bytes(password: str) -> bytes:
    if "\x00" in password:
        raise ValueError("a broker password must not contain NUL (Mosquitto uses C strings)")
    return password.encode("utf-8")


def hash_password(
    password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    """The Mosquitto 2 hash ``$7$ITERATIONS$SALT$HASH`` of ``password``.

    ``salt`` defaults to 12 fresh random bytes; pass one only to reproduce a known hash.
    """
    if iterations < 1:
        raise ValueError("iterations must be positive")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", _password_bytes(password), salt, iterations)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches a ``$7$`` (PBKDF2) or ``$6$`` (SHA-512) Mosquitto hash.

    A malformed hash is simply no match.  The comparison takes constant time.
    """
    parts = encoded.split("$")
    try:
        secret = _password_bytes(password)
        if len(parts) == 5 and parts[0] == "" and parts[1] == "7":
            iterations = int(parts[2])
            salt, want = (
                base64.b64decode(parts[3], validate=True),
                base64.b64decode(parts[4], validate=True),
            )
            if iterations < 1 or len(want) != _DIGEST_BYTES:
                return False
            got = hashlib.pbkdf2_hmac("sha512", secret, salt, iterations)
        elif len(parts) == 4 and parts[0] == "" and parts[1] == "6":
            salt, want = (
                base64.b64decode(parts[2], validate=True),
                base64.b64decode(parts[3], validate=True),
            )
            got = hashlib.sha512(secret + salt).digest()
        else:
            return False
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(got, want)


def parse_password_file(text: str) -> dict[str, str]:
    """``{username: hash}`` from a Mosquitto password file; blank and ``#`` lines skipped.

    Raises :class:`PasswordFileError` naming the line number when a line has no ``:`` or a
    user appears twice.  Hashes are returned as written, not checked.
    """
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        username, sep, encoded = line.partition(":")
        if not sep or not username or not encoded:
            raise PasswordFileError(f"line {number}: expected username:hash")
        if username in entries:
            raise PasswordFileError(f"line {number}: user {username!r} appears twice")
        entries[username] = encoded
    return entries


def format_password_file(entries: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """A password file from ``(username, hash)`` pairs, one ``username:hash`` line each."""
    pairs = entries.items() if isinstance(entries, Mapping) else entries
    lines = []
    for username, encoded in pairs:
        check_username(username)
        if "\n" in encoded or "\r" in encoded or not encoded.startswith("$"):
            raise ValueError(f"not a Mosquitto password hash for {username!r}")
        lines.append(f"{username}:{encoded}\n")
    return "".join(lines)
