"""Checks every adapter makes before it reads an untrusted file from disk."""

from __future__ import annotations

from pathlib import Path


def checked_size(path: Path, max_bytes: int) -> tuple[int, str | None]:
    """The size of the regular file at ``path`` and why it cannot be read, if it cannot.

    The reason (``None`` when the file is usable) is a short phrase without the path, for
    the caller to put into its own error: missing, unreadable, not a regular file, or larger
    than ``max_bytes``.  Nothing of the file is read.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0, "file not found"
    except OSError as exc:
        return 0, f"cannot be read ({exc.strerror})"
    if not path.is_file():
        return size, "not a regular file"
    if size > max_bytes:
        return size, f"the file is {_amount(size)}, more than the {_amount(max_bytes)} allowed"
    return size, None


def _amount(size: int) -> str:
    """Bytes for people: '812 bytes', '3.4 KiB', '50.0 MiB'."""
    if size < 1024:
        return f"{size} bytes"
    if size < 2**20:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 2**20:.1f} MiB"
