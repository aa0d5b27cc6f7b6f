"""Secrets at rest: camera passwords encrypted with a key the database does not hold.

`SecretBox` wraps Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``): a copy of the
database alone does not reveal any password.  The key comes, in order, from an explicit key
string (config or environment) or from a key file, created on first use with mode 0600.

Nothing here ever puts a key, a token or a plaintext into an exception message, a log line or
a ``repr``.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

logger = logging.getLogger(__name__)

_KEY_HELP = "expected 32 bytes in URL-safe base64 (44 characters, as made by `Fernet.generate_key`)"


class SecretError(Exception):
    """A secret cannot be used: bad key, unreadable key file, or a token that does not decrypt.

    The message is for people and never contains a key, a token or a plaintext.
    """


class SecretBox:
    """Encrypts and decrypts short secrets (camera passwords) with one symmetric key.

    Constructing validates the key (raises `SecretError` when it is not a Fernet key) and does
    no I/O.  `encrypt` gives a different token every time for the same plaintext, so compare
    secrets by decrypting, never by comparing tokens.
    """

    __slots__ = ("_fernet",)

    def __init__(self, key: str | bytes) -> None:
        try:
            self._fernet = Fernet(key.strip())
        except (ValueError, TypeError):
            # binascii.Error is a ValueError; the message of either could echo the key.
            raise SecretError(f"the secret key is not valid: {_KEY_HELP}") from None

    @staticmethod
    def generate_key() -> str:
        """A new random key, as the URL-safe base64 text that `SecretBox` accepts."""
        return Fernet.generate_key().decode("ascii")

    @classmethod
    def from_sources(cls, key: str | None = None, key_file: Path | None = None) -> SecretBox:
        """The box for the first key source given: ``key`` text, else ``key_file``.

        The key file is created (mode 0600) when missing.  A key file that group or others can
        access is used anyway and logged as a warning, once, naming the file.  Raises
        `SecretError` when no source is given or the key is unusable.
        """
        if key:
            return cls(key)
        if key_file is None:
            raise SecretError("no secret key: set a key or a key file in the configuration")
        box = cls(load_or_create_key(key_file))
        if key_file_too_open(key_file):
            logger.warning(
                "secret key file %s can be read by other users; restrict it: chmod 600 %s",
                key_file,
                key_file,
            )
        return box

    def encrypt(self, plain: str) -> str:
        """The token for ``plain`` (URL-safe text); different on every call."""
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of ``token``; `SecretError` when it does not decrypt with this key."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretError(
                "stored camera password cannot be decrypted: "
                "the secret key differs from the one it was written with"
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(key=<hidden>)"


def load_or_create_key(path: Path) -> bytes:
    """The key stored in ``path``; when the file does not exist, a new key written there.

    A new file is created exclusively (``O_CREAT | O_EXCL``) with mode 0600, so no other user
    can ever read it and two processes starting together agree on one key; missing parent
    directories are created with mode 0700.  Raises `SecretError` when the file cannot be
    read or written, or is empty.  Whether the file is too open is `key_file_too_open`'s job.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(key + b"\n")
                f.flush()
                os.fsync(f.fileno())
            logger.warning(
                "created a new secret key file %s: stored camera passwords are encrypted with "
                "it; back it up, apart from the database",
                path,
            )
            return key
        stored = path.read_bytes().strip()
    except OSError as exc:
        raise SecretError(f"secret key file {path}: {exc.strerror or exc}") from None
    if not stored:
        raise SecretError(f"secret key file {path} is empty")
    return stored


def key_file_too_open(path: Path) -> bool:
    """True when a user other than the owner may access ``path`` (any group or other bit set).

    Stricter than "world-readable" on purpose, like ssh with private keys.  False when the
    file does not exist.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    return bool(stat.S_IMODE(mode) & 0o077)
