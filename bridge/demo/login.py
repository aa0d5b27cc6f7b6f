"""The demo's admin login: ``admin`` with a random password, kept in the demo's directory.

`gridbridge demo` prints it in its banner.  With ``--keep DIR`` the same password works at
the next run (``DIR/admin.password``, mode 0600); a password file that no longer matches
(or none) gets a new password.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from bridge.store import Store
from bridge.store.common import utcnow
from bridge.users.model import Role, User
from bridge.users.passwords import hash_password, verify_password

ADMIN = "admin"
PASSWORD_FILE = "admin.password"  # noqa: S105 - a file name


async def demo_admin(store: Store, workdir: Path) -> str:
    """The password of the demo's ``admin`` (made, or renewed, when needed)."""
    path = workdir / PASSWORD_FILE
    known = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    record = await store.login_record(ADMIN)
    if record is not None and known and await asyncio.to_thread(verify_password, known, record[1]):
        if record[0].disabled:
            await store.set_user_disabled(ADMIN, False)
        return known
    password = secrets.token_urlsafe(12)
    hashed = await asyncio.to_thread(hash_password, password)
    if record is None:
        await store.add_user(User(ADMIN, Role.ADMIN, None, False, utcnow()), hashed)
    else:
        await store.set_password(ADMIN, hashed, end_sessions=True)
        await store.set_user_disabled(ADMIN, False)
    _write_private(path, password)
    return password


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    os.chmod(tmp, 0o600)  # an old file's wider mode is not kept
    os.replace(tmp, path)
