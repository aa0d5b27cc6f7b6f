"""``gridbridge users …``: the people who use the web page and the API (docs/auth.md).

    users add NAME --role admin|operator|crew [--scope CODE] [--token [--label L]]
    users list [--format table|json|csv]
    users remove NAME
    users passwd NAME
    users token NAME [--label L]
    users revoke-tokens NAME
    users disable NAME / users enable NAME

These write the store directly: safe beside a running daemon, which asks the store at every
request (a removed or disabled user is out at its next click).  A password comes from
standard input when it is not a terminal (one line: ``echo "$PW" | gridbridge users add …``),
else from a prompt asked twice; it is never an argument (it would show in ``ps`` and the
shell's history).  An API token is printed once, alone on standard output, and stored only
as its SHA-256; messages for people go to standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.bootstrap import build_store
from bridge.cli import output
from bridge.cli.commands import UserError
from bridge.secretbox import SecretError
from bridge.settings import Settings
from bridge.store import Store, StoreError, UnknownUserError, UserExistsError
from bridge.store.common import utcnow
from bridge.store.tables import TOKEN_LABEL_LENGTH
from bridge.users.model import Role, User, UserRuleError, check_name, check_role_scope
from bridge.users.passwords import MAX_BYTES, PasswordError, check_password, hash_password
from bridge.users.tokens import digest, new_api_token
from bridge.workorders.webhook_format import CHINA_TZ

__all__ = ["add_parsers"]

LIST_HEADERS = ["用户", "角色", "范围", "状态", "令牌", "创建时间"]
_KEYS = ("name", "role", "scope", "disabled", "tokens", "created_at")


def add_parsers(sub: Any, common: argparse.ArgumentParser, fmt: argparse.ArgumentParser) -> None:
    """The ``users`` command and its actions, under the top-level ``sub`` parsers."""
    users = sub.add_parser("users", help="people who use the web page and API (docs/auth.md)")
    actions = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "add", parents=[common], help="add a user (password from stdin or a prompt)"
    )
    p.add_argument("name", help="1-64 letters, digits, _ . @ - or Chinese characters")
    p.add_argument("--role", required=True, choices=[r.value for r in Role], help="what it may do")
    p.add_argument(
        "--scope", help="grid map code it sees below (required for operator, optional for crew)"
    )
    p.add_argument("--token", action="store_true", help="also print a new API token, once")
    p.add_argument("--label", default="", help="what the token is for (with --token)")
    p.set_defaults(handler=users_add)
    p = actions.add_parser("list", parents=[common, fmt], help="users, roles and scopes")
    p.set_defaults(handler=users_list)
    for action, what, handler in (
        ("remove", "remove a user, its tokens and sessions", users_remove),
        ("passwd", "a new password (signs the user out everywhere)", users_passwd),
        ("revoke-tokens", "delete every API token of a user", users_revoke_tokens),
        ("disable", "the user can no longer sign in or use its tokens", users_disable),
        ("enable", "undo disable", users_enable),
    ):
        p = actions.add_parser(action, parents=[common], help=what)
        p.add_argument("name", help="the user's name")
        p.set_defaults(handler=handler)
    p = actions.add_parser("token", parents=[common], help="print a new API token of a user, once")
    p.add_argument("name", help="the user's name")
    p.add_argument("--label", default="", help="what the token is for, e.g. prometheus")
    p.set_defaults(handler=users_token)


def _tell(text: str) -> None:
    """A message for people (stderr): stdout carries data only."""
    print(text, file=sys.stderr)


def _name(raw: str) -> str:
    try:
        return check_name(raw)
    except UserRuleError as exc:
        raise UserError(str(exc)) from None


def _label(label: str) -> str:
    if len(label) > TOKEN_LABEL_LENGTH:
        raise UserError(f"--label: at most {TOKEN_LABEL_LENGTH} characters")
    return label


def read_password(name: str) -> str:
    """A new password for ``name``: one line of stdin when it is not a terminal, else a
    prompt asked twice.  `UserError` (exit 2) when it breaks a rule."""
    if sys.stdin is None or not sys.stdin.isatty():
        line = sys.stdin.readline(MAX_BYTES + 2) if sys.stdin is not None else ""
        if not line:
            raise UserError("no password on standard input (one line)")
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        password = getpass.getpass(f"password for {name} (密码): ")
        if getpass.getpass("again (再输入一次): ") != password:
            raise UserError("the two passwords differ (两次输入的密码不一致)")
    try:
        check_password(password)
    except PasswordError as exc:
        raise UserError(str(exc)) from None
    return password


def _store_error(exc: Exception) -> UserError:
    if isinstance(exc, UnknownUserError | UserExistsError):
        return UserError(str(exc))
    return UserError(str(exc), 1)


async def users_add(args: argparse.Namespace, settings: Settings) -> int:
    name = _name(args.name)
    role = Role(args.role)
    scope: str | None = args.scope or None
    label = _label(args.label)
    try:
        check_role_scope(role, scope)
    except UserRuleError as exc:
        raise UserError(str(exc)) from None
    try:
        async with build_store(settings) as store:
            if scope is not None and scope not in {c.code for c in await store.load_grid()}:
                raise UserError(
                    f"--scope {scope}: no such code in the grid map (gridbridge grid list; "
                    "load one with gridbridge grid load)"
                )
            if await store.get_user(name) is not None:
                raise UserError(f"user {name} exists already")
            password = read_password(name)
            hashed = await asyncio.to_thread(hash_password, password)
            await store.add_user(User(name, role, scope, False, utcnow()), hashed)
            token = new_api_token() if args.token else None
            if token is not None:
                await store.add_token(name, digest(token), label)
    except (StoreError, SecretError) as exc:
        raise _store_error(exc) from None
    where = f", scope {scope}" if scope else ""
    _tell(f"added user {name}: {role.value} ({role.label_zh}){where}")
    if token is not None:
        _tell("its API token, shown only this once (仅显示一次):")
        print(token)
    return 0


async def users_list(args: argparse.Namespace, settings: Settings) -> int:
    try:
        async with build_store(settings) as store:
            users = await store.list_users()
    except (StoreError, SecretError) as exc:
        raise _store_error(exc) from None
    items: list[dict[str, Any]] = [
        {
            "name": u.name,
            "role": u.role.value,
            "scope": u.scope,
            "disabled": u.disabled,
            "tokens": tokens,
            "created_at": u.created_at,
        }
        for u, tokens in users
    ]
    if args.format == "json":
        print(output.dumps(items))
    elif args.format == "csv":
        print(output.csv_text(list(_KEYS), [[i[k] for k in _KEYS] for i in items]), end="")
    else:
        rows = [
            [u.name, f"{u.role.value} {u.role.label_zh}", u.scope or "",
             "停用 disabled" if u.disabled else "启用", tokens,
             u.created_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")]
            for u, tokens in users
        ]  # fmt: skip
        print(output.table(LIST_HEADERS, rows))
    return 0


async def users_remove(args: argparse.Namespace, settings: Settings) -> int:
    name = _name(args.name)
    if not await _change(settings, lambda store: store.remove_user(name)):
        raise UserError(f"no user {name}")
    _tell(f"removed user {name}, its tokens and sessions")
    return 0


async def users_passwd(args: argparse.Namespace, settings: Settings) -> int:
    name = _name(args.name)
    try:
        async with build_store(settings) as store:
            if await store.get_user(name) is None:
                raise UserError(f"no user {name}")
            hashed = await asyncio.to_thread(hash_password, read_password(name))
            changed = await store.set_password(name, hashed, end_sessions=True)
    except (StoreError, SecretError) as exc:
        raise _store_error(exc) from None
    if not changed:
        raise UserError(f"no user {name}")
    _tell(f"new password for {name}; its browsers must sign in again")
    return 0


async def users_token(args: argparse.Namespace, settings: Settings) -> int:
    name = _name(args.name)
    label = _label(args.label)
    token = new_api_token()
    try:
        async with build_store(settings) as store:
            await store.add_token(name, digest(token), label)
    except (StoreError, SecretError) as exc:
        raise _store_error(exc) from None
    _tell(f"a new API token of {name}, shown only this once (仅显示一次):")
    print(token)
    return 0


async def users_revoke_tokens(args: argparse.Namespace, settings: Settings) -> int:
    name = _name(args.name)
    try:
        async with build_store(settings) as store:
            if await store.get_user(name) is None:
                raise UserError(f"no user {name}")
            count = await store.revoke_tokens(name)
    except (StoreError, SecretError) as exc:
        raise _store_error(exc) from None
    _tell(f"revoked {count} API token(s) of {name}")
    return 0


async def users_disable(args: argparse.Namespace, settings: Settings) -> int:
    name = _name(args.name)
    if not await _change(settings, lambda store: store.set_user_disabled(name, True)):
        raise UserError(f"no user {name}")
    _tell(f"disabled {name}: signed out, its tokens refused until enabled")
    return 0


async def users_enable(args: argparse.Namespace, settings: Settings) -> int:
    name = _name(args.name)
    if not await _change(settings, lambda store: store.set_user_disabled(name, False)):
        raise UserError(f"no user {name}")
    _tell(f"enabled {name}")
    return 0


async def _change(settings: Settings, change: Callable[[Store], Awaitable[bool]]) -> bool:
    try:
        async with build_store(settings) as store:
            return bool(await change(store))
    except (StoreError, SecretError) as exc:
        raise _store_error(exc) from None
