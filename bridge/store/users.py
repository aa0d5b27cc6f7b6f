"""Users, their API tokens and web sessions in the store (`bridge.users`; docs/auth.md).

Tokens and session ids arrive here as their SHA-256 hex digests (`bridge.users.tokens`):
nothing in these tables lets anyone in.  Removing a user removes its tokens and sessions
(ON DELETE CASCADE); a new password or disabling a user ends its sessions; a disabled
user's tokens stay but let nobody in until it is enabled again.

Functions taking a connection run inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.store.engine import StoreError
from bridge.store.tables import (
    TOKEN_LABEL_LENGTH,
    api_tokens_t,
    users_t,
    web_sessions_t,
)
from bridge.users.model import Role, TokenUse, User, WebSession

__all__ = [
    "UnknownUserError",
    "UserExistsError",
    "add_token",
    "add_user",
    "create_session",
    "end_session",
    "extend_session",
    "get_user",
    "list_users",
    "login_record",
    "prune_sessions",
    "remove_user",
    "revoke_tokens",
    "session_of",
    "set_disabled",
    "set_password",
    "token_user",
    "touch_token",
]

_u, _tok, _ses = users_t, api_tokens_t, web_sessions_t
_USER_COLUMNS = (_u.c.name, _u.c.role, _u.c.scope, _u.c.disabled, _u.c.created_at)


class UnknownUserError(StoreError):
    """No user of that name."""


class UserExistsError(StoreError):
    """A user of that name exists already."""


def _user(row: RowMapping) -> User:
    return User(
        name=row["name"],
        role=Role(row["role"]),
        scope=row["scope"],
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
    )


# --- users ----------------------------------------------------------------------------------


async def add_user(conn: AsyncConnection, user: User, password_hash: str, at: datetime) -> None:
    """Insert ``user``; `UserExistsError` when the name is taken."""
    if await _exists(conn, user.name):
        raise UserExistsError(f"user {user.name} exists already")
    await conn.execute(
        insert(_u).values(
            name=user.name,
            role=user.role.value,
            scope=user.scope,
            password_hash=password_hash,
            disabled=user.disabled,
            created_at=at,
            updated_at=at,
        )
    )


async def _exists(conn: AsyncConnection, name: str) -> bool:
    return (await conn.execute(select(_u.c.name).where(_u.c.name == name))).first() is not None


async def get_user(conn: AsyncConnection, name: str) -> User | None:
    row = (await conn.execute(select(*_USER_COLUMNS).where(_u.c.name == name))).first()
    return _user(row._mapping) if row is not None else None


async def login_record(conn: AsyncConnection, name: str) -> tuple[User, str] | None:
    """The user and its password hash, for a login; None for an unknown name."""
    stmt = select(*_USER_COLUMNS, _u.c.password_hash).where(_u.c.name == name)
    row = (await conn.execute(stmt)).first()
    return (_user(row._mapping), row.password_hash) if row is not None else None


async def list_users(conn: AsyncConnection) -> list[tuple[User, int]]:
    """Every user by name, with how many API tokens it has."""
    tokens = select(_tok.c.user_name, func.count().label("n")).group_by(_tok.c.user_name).subquery()
    stmt = (
        select(*_USER_COLUMNS, func.coalesce(tokens.c.n, 0).label("tokens"))
        .select_from(_u.outerjoin(tokens, tokens.c.user_name == _u.c.name))
        .order_by(_u.c.name)
    )
    return [(_user(row._mapping), int(row.tokens)) for row in await conn.execute(stmt)]


async def remove_user(conn: AsyncConnection, name: str) -> bool:
    """Delete the user with its tokens and sessions; False when there was none."""
    result = await conn.execute(delete(_u).where(_u.c.name == name))
    return result.rowcount > 0


async def set_password(
    conn: AsyncConnection, name: str, password_hash: str, at: datetime, *, end_sessions: bool
) -> bool:
    """Store a new password hash; with ``end_sessions`` every browser signed in as the user
    must sign in again.  False for an unknown user."""
    stmt = update(_u).where(_u.c.name == name).values(password_hash=password_hash, updated_at=at)
    if (await conn.execute(stmt)).rowcount == 0:
        return False
    if end_sessions:
        await conn.execute(delete(_ses).where(_ses.c.user_name == name))
    return True


async def set_disabled(conn: AsyncConnection, name: str, disabled: bool, at: datetime) -> bool:
    """Disable (ending its sessions) or enable a user; False for an unknown user."""
    stmt = update(_u).where(_u.c.name == name).values(disabled=disabled, updated_at=at)
    if (await conn.execute(stmt)).rowcount == 0:
        return False
    if disabled:
        await conn.execute(delete(_ses).where(_ses.c.user_name == name))
    return True


# --- API tokens -------------------------------------------------------------------------------


async def add_token(
    conn: AsyncConnection, name: str, token_sha256: str, label: str, at: datetime
) -> int:
    """Record a token of user ``name`` by its digest; returns its id.  `UnknownUserError`
    for an unknown user, `ValueError` for a label over `TOKEN_LABEL_LENGTH`."""
    if len(label) > TOKEN_LABEL_LENGTH:
        raise ValueError(f"a token label has at most {TOKEN_LABEL_LENGTH} characters")
    if not await _exists(conn, name):
        raise UnknownUserError(f"no user {name}")
    result = await conn.execute(
        insert(_tok).values(user_name=name, token_sha256=token_sha256, label=label, created_at=at)
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def revoke_tokens(conn: AsyncConnection, name: str) -> int:
    """Delete every token of the user; returns how many."""
    result = await conn.execute(delete(_tok).where(_tok.c.user_name == name))
    return int(result.rowcount)


async def token_user(conn: AsyncConnection, token_sha256: str) -> TokenUse | None:
    """The owner of the token with this digest (disabled or not); None when unknown."""
    stmt = (
        select(*_USER_COLUMNS, _tok.c.id.label("token_id"), _tok.c.last_used_at)
        .select_from(_tok.join(_u, _u.c.name == _tok.c.user_name))
        .where(_tok.c.token_sha256 == token_sha256)
    )
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    return TokenUse(_user(row._mapping), int(row.token_id), row.last_used_at)


async def touch_token(conn: AsyncConnection, token_id: int, at: datetime) -> None:
    await conn.execute(update(_tok).where(_tok.c.id == token_id).values(last_used_at=at))


# --- web sessions -----------------------------------------------------------------------------


async def create_session(
    conn: AsyncConnection,
    id_sha256: str,
    name: str,
    csrf_token: str,
    at: datetime,
    expires_at: datetime,
) -> None:
    """Record a new session of user ``name`` (and drop every expired one, cheaply: the
    expiry is indexed).  `UnknownUserError` for an unknown user."""
    if not await _exists(conn, name):
        raise UnknownUserError(f"no user {name}")
    await prune_sessions(conn, at)
    await conn.execute(
        insert(_ses).values(
            id_sha256=id_sha256,
            user_name=name,
            csrf_token=csrf_token,
            created_at=at,
            expires_at=expires_at,
        )
    )


async def session_of(conn: AsyncConnection, id_sha256: str, now: datetime) -> WebSession | None:
    """The session with this digest and its user, unless unknown or expired at ``now``."""
    stmt = (
        select(*_USER_COLUMNS, _ses.c.csrf_token, _ses.c.created_at.label("began"),
               _ses.c.expires_at)
        .select_from(_ses.join(_u, _u.c.name == _ses.c.user_name))
        .where(_ses.c.id_sha256 == id_sha256, _ses.c.expires_at > now)
    )  # fmt: skip
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    return WebSession(_user(row._mapping), row.csrf_token, row.began, row.expires_at)


async def extend_session(conn: AsyncConnection, id_sha256: str, expires_at: datetime) -> bool:
    """Move a session's end to ``expires_at``; False when it is gone."""
    stmt = update(_ses).where(_ses.c.id_sha256 == id_sha256).values(expires_at=expires_at)
    return (await conn.execute(stmt)).rowcount > 0


async def end_session(conn: AsyncConnection, id_sha256: str) -> bool:
    result = await conn.execute(delete(_ses).where(_ses.c.id_sha256 == id_sha256))
    return result.rowcount > 0


async def prune_sessions(conn: AsyncConnection, now: datetime) -> int:
    """Delete the sessions expired at ``now``; returns how many."""
    result = await conn.execute(delete(_ses).where(_ses.c.expires_at <= now))
    return int(result.rowcount)
