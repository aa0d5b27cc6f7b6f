"""Users, API tokens and web sessions in the store (SQLite, and PostgreSQL where present):
CRUD, digests only, cascades, expiry, and what disabling or a new password ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.store import Store, UnknownUserError, UserExistsError
from bridge.users.model import Role, User
from bridge.users.tokens import digest, new_api_token, new_csrf_token, new_session_id

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
HASH = "scrypt$32768$8$1$c2FsdHNhbHRzYWx0c2FsdA==$" + "A" * 43 + "="


def user(name: str, role: Role = Role.OPERATOR, scope: str | None = "419901001") -> User:
    return User(name, role, scope, False, T0)


async def test_users_are_added_read_listed_and_removed(store: Store) -> None:
    await store.add_user(user("张三"), HASH)
    await store.add_user(user("admin", Role.ADMIN, None), HASH)
    with pytest.raises(UserExistsError, match="张三"):
        await store.add_user(user("张三", Role.CREW, None), HASH)
    got = await store.get_user("张三")
    assert got is not None
    assert (got.name, got.role, got.scope, got.disabled) == (
        "张三",
        Role.OPERATOR,
        "419901001",
        False,
    )
    assert got.created_at.tzinfo is not None
    assert await store.login_record("张三") == (got, HASH)
    assert await store.get_user("nobody") is None
    assert await store.login_record("nobody") is None
    await store.add_token("admin", digest(new_api_token()), "prometheus")
    listed = await store.list_users()
    assert [(u.name, n) for u, n in listed] == [("admin", 1), ("张三", 0)]
    assert await store.remove_user("张三")
    assert not await store.remove_user("张三")
    assert [u.name for u, _ in await store.list_users()] == ["admin"]


async def test_tokens_are_found_by_digest_and_go_with_their_user(store: Store, raw_sql) -> None:
    await store.add_user(user("ops", Role.ADMIN, None), HASH)
    token = new_api_token()
    token_id = await store.add_token("ops", digest(token), "prometheus")
    rows = await raw_sql("SELECT token_sha256, label, last_used_at FROM api_tokens")
    assert [tuple(r) for r in rows] == [(digest(token), "prometheus", None)]
    assert token not in str(rows)
    use = await store.token_user(digest(token))
    assert use is not None
    assert (use.user.name, use.token_id, use.last_used_at) == ("ops", token_id, None)
    await store.touch_token(token_id, T0)
    use = await store.token_user(digest(token))
    assert use is not None
    assert use.last_used_at == T0
    assert await store.token_user(digest(new_api_token())) is None
    with pytest.raises(UnknownUserError):
        await store.add_token("nobody", digest(new_api_token()), "")
    await store.add_token("ops", digest(new_api_token()), "")
    assert await store.revoke_tokens("ops") == 2
    assert await store.token_user(digest(token)) is None
    await store.add_token("ops", digest(token), "again")
    assert await store.remove_user("ops")
    assert await raw_sql("SELECT id FROM api_tokens") == []  # ON DELETE CASCADE


async def test_sessions_expire_extend_and_end(store: Store, raw_sql) -> None:
    await store.add_user(user("crew1", Role.CREW, None), HASH)
    sid, csrf = new_session_id(), new_csrf_token()
    await store.create_session(digest(sid), "crew1", csrf, T0, T0 + timedelta(hours=12))
    session = await store.session_of(digest(sid), T0 + timedelta(hours=1))
    assert session is not None
    assert (session.user.name, session.csrf_token) == ("crew1", csrf)
    assert (session.created_at, session.expires_at) == (T0, T0 + timedelta(hours=12))
    assert await store.session_of(digest(sid), T0 + timedelta(hours=12)) is None  # expired
    assert await store.session_of(sid, T0) is None  # the cookie value itself finds nothing
    assert await store.extend_session(digest(sid), T0 + timedelta(hours=20))
    assert await store.session_of(digest(sid), T0 + timedelta(hours=19)) is not None
    assert [r[0] for r in await raw_sql("SELECT id_sha256 FROM web_sessions")] == [digest(sid)]
    assert await store.end_session(digest(sid))
    assert not await store.end_session(digest(sid))
    assert not await store.extend_session(digest(sid), T0)
    with pytest.raises(UnknownUserError):
        await store.create_session(digest(new_session_id()), "nobody", csrf, T0, T0)


async def test_expired_sessions_are_pruned_when_a_new_one_begins(store: Store, raw_sql) -> None:
    await store.add_user(user("crew1", Role.CREW, None), HASH)
    old, live = new_session_id(), new_session_id()
    await store.create_session(digest(old), "crew1", "x", T0, T0 + timedelta(hours=1))
    await store.create_session(digest(live), "crew1", "y", T0, T0 + timedelta(hours=12))
    later = T0 + timedelta(hours=2)
    await store.create_session(digest(new_session_id()), "crew1", "z", later, later)
    left = {r[0] for r in await raw_sql("SELECT id_sha256 FROM web_sessions")}
    assert digest(old) not in left
    assert digest(live) in left


async def test_a_new_password_or_disabling_ends_sessions_keeps_tokens(
    store: Store, raw_sql
) -> None:
    await store.add_user(user("op"), HASH)
    token = new_api_token()
    await store.add_token("op", digest(token), "")
    sid = new_session_id()
    await store.create_session(digest(sid), "op", "x", T0, T0 + timedelta(hours=12))
    # A rehash at login keeps the sessions; `users passwd` ends them.
    assert await store.set_password("op", HASH + "1", end_sessions=False)
    assert await store.session_of(digest(sid), T0) is not None
    assert await store.set_password("op", HASH, end_sessions=True)
    assert await store.session_of(digest(sid), T0) is None
    assert not await store.set_password("nobody", HASH, end_sessions=True)
    await store.create_session(digest(sid), "op", "x", T0, T0 + timedelta(hours=12))
    assert await store.set_user_disabled("op", True)
    assert await store.session_of(digest(sid), T0) is None
    use = await store.token_user(digest(token))
    assert use is not None
    assert use.user.disabled  # kept, refused by the web layer while disabled
    assert await store.set_user_disabled("op", False)
    got = await store.get_user("op")
    assert got is not None
    assert not got.disabled
    assert not await store.set_user_disabled("nobody", True)


async def test_removing_a_user_removes_its_sessions(store: Store, raw_sql) -> None:
    await store.add_user(user("op"), HASH)
    await store.add_user(user("op2"), HASH)
    for name in ("op", "op2"):
        await store.create_session(
            digest(new_session_id()), name, "x", T0, T0 + timedelta(hours=12)
        )
    assert await store.remove_user("op")
    assert [tuple(r) for r in await raw_sql("SELECT user_name FROM web_sessions")] == [("op2",)]
