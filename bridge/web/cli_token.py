"""The daemon's local token: how commands on the daemon's machine reach its API.

At start the daemon writes a fresh API token to ``<data_dir>/cli.token`` (mode 0600,
written whole or not at all) and keeps only its SHA-256; at a clean stop it removes the
file.  The crew commands (``gridbridge workorders accept …``) read it, so on the daemon's
machine, as the daemon's user, they need no login.  It signs in as the built-in admin
principal ``cli`` (`bridge.users.model.CLI_PRINCIPAL`); the actor of a step stays what the
command's ``--actor`` says.  Whoever can read the file can read the database and the
secret key in the same directory anyway.  A file left by a killed daemon holds a token
nobody accepts: the next start replaces it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from bridge.users.tokens import digest, new_api_token

__all__ = ["CLI_TOKEN_FILE", "cli_token_file", "cli_token_path", "read_cli_token"]

log = logging.getLogger(__name__)

CLI_TOKEN_FILE = "cli.token"  # noqa: S105 - a file name, not a secret
MAX_TOKEN_FILE_BYTES = 1024


def cli_token_path(data_dir: Path) -> Path:
    return data_dir / CLI_TOKEN_FILE


@contextlib.contextmanager
def cli_token_file(data_dir: Path) -> Iterator[str | None]:
    """Write a new local token while entered; yields its SHA-256 (None when the file
    cannot be written: logged, and the API works for users, not for local commands)."""
    path = cli_token_path(data_dir)
    token = new_api_token()
    try:
        _write_private(path, token)
    except OSError as exc:
        log.warning(
            "cannot write %s (%s): commands on this machine need --token to reach the API",
            path,
            exc.strerror or exc,
        )
        token = ""
    if not token:
        yield None
        return
    try:
        yield digest(token)
    finally:
        with contextlib.suppress(OSError):
            if path.read_text(encoding="ascii").strip() == token:  # another daemon's: leave it
                path.unlink()


def read_cli_token(data_dir: Path) -> str:
    """The local token; raises `OSError` (FileNotFoundError, PermissionError …)."""
    with cli_token_path(data_dir).open("rb") as fh:
        return fh.read(MAX_TOKEN_FILE_BYTES).decode("ascii", errors="replace").strip()


def _write_private(path: Path, text: str) -> None:
    """``text`` into ``path``, mode 0600, atomically (a reader sees the old file or the
    new one, never half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
