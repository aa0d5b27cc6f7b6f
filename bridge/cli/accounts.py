"""``gridbridge broker-accounts``: Mosquitto ACL, password file and the accounts to hand out.

From the grid map in the store, writes into ``--out DIR``:

- ``acl``: a Mosquitto ``acl_file`` (:func:`bridge.bus.accounts.acl_text`), mode 0644;
- ``passwd``: a Mosquitto 2 ``password_file`` (``$7$`` PBKDF2-SHA512 hashes), mode 0600;
- ``accounts.csv``: account, level, code, name, password, subscribe (the topic filter of the
  account's subtree) — the only place the passwords are written in clear, mode 0600, UTF-8
  with a BOM so that Excel shows the Chinese names.

Re-runnable: passwords of accounts already in ``accounts.csv`` are kept (and their hash lines
too, when ``passwd`` still matches them), new accounts get a new password from ``secrets``,
accounts whose cell left the map are dropped and named.  ``--rotate`` gives every account a
new password, ``--rotate ACCOUNT…`` only those.  Passwords never go to stdout or the logs.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import secrets
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bridge.bootstrap import build_store
from bridge.bus.accounts import Access, Account, AccountLevel, acl_text, build_accounts
from bridge.bus.mosquitto_passwd import (
    PasswordFileError,
    format_password_file,
    hash_password,
    new_password,
    parse_password_file,
    verify_password,
)
from bridge.cli import output
from bridge.cli.commands import UserError
from bridge.secretbox import SecretError
from bridge.settings import Settings
from bridge.store import StoreError

__all__ = ["AccountFiles", "account_files", "broker_accounts", "read_accounts_csv"]

ACL_NAME, PASSWD_NAME, CSV_NAME = "acl", "passwd", "accounts.csv"
CSV_HEADER = ("account", "level", "code", "name", "password", "subscribe")
DEFAULT_PASSWORD_LENGTH = 24
DEFAULT_BRIDGE_USER = "gridbridge"


@dataclass(slots=True)
class AccountFiles:
    """What to write, and how the passwords changed against the previous run."""

    acl: str
    passwd: str
    csv: str
    kept: list[str] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (names come from the grid file)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _subscribe(account: Account) -> str:
    """The filter a workstation subscribes to: its readable subtree (``…/#``)."""
    subtrees = [g.pattern for g in account.grants if g.access is not Access.WRITE]
    return next((p for p in subtrees if "/grid/" in p), subtrees[0])


def account_files(
    accounts: Sequence[Account],
    root: str,
    *,
    previous: dict[str, str],
    previous_hashes: dict[str, str],
    rotate: Collection[str] | None = None,
    password_length: int = DEFAULT_PASSWORD_LENGTH,
) -> AccountFiles:
    """The three files' contents for ``accounts``; pure except for drawing new passwords.

    ``previous`` maps account → password (last ``accounts.csv``), ``previous_hashes`` account
    → hash (last ``passwd``).  ``rotate``: ``None`` keeps previous passwords, an empty
    collection rotates all, otherwise the named accounts.
    """
    rotate_all = rotate is not None and not rotate
    wanted = set(rotate or ())
    files = AccountFiles(acl_text(accounts, root), "", "")
    hashes: list[tuple[str, str]] = []
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for account in accounts:
        password = previous.get(account.user)
        if password is None or rotate_all or account.user in wanted:
            password = new_password(password_length)
            files.generated.append(account.user)
        else:
            files.kept.append(account.user)
        old_hash = previous_hashes.get(account.user)
        keep_hash = old_hash is not None and verify_password(password, old_hash)
        hashes.append(
            (account.user, old_hash if keep_hash and old_hash else hash_password(password))
        )
        writer.writerow(
            [
                account.user,
                account.level.value,
                account.code,
                _spreadsheet_safe(account.cell_name),
                password,
                _subscribe(account),
            ]
        )
    users = {a.user for a in accounts}
    files.removed = sorted(user for user in previous if user not in users)
    files.passwd = format_password_file(hashes)
    files.csv = "\ufeff" + rows.getvalue()
    return files


def read_accounts_csv(path: Path) -> dict[str, str]:
    """account → password from a previous ``accounts.csv``; empty when there is none.

    Raises :class:`UserError` (exit 2) naming the file and row when it is not one this
    command wrote (missing columns, an empty password, an account twice).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the previous accounts: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = {"account", "password"} - set(reader.fieldnames or ())
    if missing:
        raise UserError(f"{path}: no {' or '.join(sorted(missing))} column in the header")
    passwords: dict[str, str] = {}
    for row in reader:
        account, password = (row.get("account") or "").strip(), row.get("password") or ""
        where = f"{path}, row {reader.line_num}"
        if not account or not password:
            raise UserError(f"{where}: account and password must not be empty")
        if account in passwords:
            raise UserError(f"{where}: account {account} appears twice")
        passwords[account] = password
    return passwords


def _read_hashes(path: Path) -> dict[str, str]:
    try:
        return parse_password_file(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, PasswordFileError) as exc:
        raise UserError(f"{path}: not a usable password file: {exc}") from None


def _write(path: Path, data: str, mode: int) -> None:
    """Replace ``path`` atomically with ``data``; the file has ``mode`` from its first byte."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # the umask may have taken bits away
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _produce(
    accounts: Sequence[Account],
    root: str,
    out: Path,
    paths: dict[str, Path],
    rotate: list[str] | None,
    length: int,
) -> AccountFiles:
    """Read the previous files, plan the new ones and write them (blocking: a thread)."""
    files = account_files(
        accounts,
        root,
        previous=read_accounts_csv(paths[CSV_NAME]),
        previous_hashes=_read_hashes(paths[PASSWD_NAME]),
        rotate=rotate,
        password_length=length,
    )
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The clear-text file first: if a later write fails, the passwords in use survive.
        _write(paths[CSV_NAME], files.csv, 0o600)
        _write(paths[PASSWD_NAME], files.passwd, 0o600)
        _write(paths[ACL_NAME], files.acl, 0o644)
    except OSError as exc:
        raise UserError(f"cannot write the broker files in {out}: {exc}", 1) from None
    return files


async def broker_accounts(args: argparse.Namespace, settings: Settings) -> int:
    """Write ``acl``, ``passwd`` and ``accounts.csv`` for the grid map into ``args.out``.

    Arguments: ``out`` (Path), ``bridge_user`` (default ``mqtt.username``, else
    ``gridbridge``), ``password_length`` (default 24), ``rotate`` (``None``, ``[]`` = all, or
    account names), ``format`` (``table`` or ``json``).  Exit 0 when written; 1 when the
    store or the files failed; 2 for bad input (odd codes, a bad previous file, an unknown
    account to rotate).
    """
    out: Path = args.out
    bridge_user: str = args.bridge_user or settings.mqtt.username or DEFAULT_BRIDGE_USER
    length: int = getattr(args, "password_length", None) or DEFAULT_PASSWORD_LENGTH
    rotate: list[str] | None = getattr(args, "rotate", None)
    root = settings.mqtt.root
    try:
        async with build_store(settings) as store:
            cells = await store.load_grid()
    except (StoreError, SecretError) as exc:
        raise UserError(str(exc), 1) from None
    try:
        accounts = build_accounts(cells, root, bridge_user=bridge_user)
    except ValueError as exc:
        raise UserError(f"cannot make broker accounts: {exc}") from None
    unknown = sorted(set(rotate or ()) - {a.user for a in accounts})
    if unknown:
        raise UserError(f"--rotate: no such account: {', '.join(unknown)}")
    if length < 12 or length > 128:
        raise UserError("--password-length must be between 12 and 128")

    paths = {name: out / name for name in (ACL_NAME, PASSWD_NAME, CSV_NAME)}
    files = await asyncio.to_thread(_produce, accounts, root, out, paths, rotate, length)
    _report(args, accounts, files, paths, bridge_user, settings, cells_given=bool(cells))
    return 0


def _report(
    args: argparse.Namespace,
    accounts: Sequence[Account],
    files: AccountFiles,
    paths: dict[str, Path],
    bridge_user: str,
    settings: Settings,
    *,
    cells_given: bool,
) -> None:
    counts = {level.value: 0 for level in AccountLevel}
    for account in accounts:
        counts[account.level.value] += 1
    if getattr(args, "format", "table") == "json":
        report = {
            "files": {name: str(path) for name, path in paths.items()},
            "accounts": counts,
            "bridge_user": bridge_user,
            "kept": len(files.kept),
            "generated": len(files.generated),
            "removed": files.removed,
        }
        sys.stdout.write(output.dumps(report) + "\n")
    else:
        by_level = ", ".join(f"{n} {level}" for level, n in counts.items())
        lines = [
            f"wrote {paths[ACL_NAME]} (mode 0644): {len(accounts)} accounts ({by_level})",
            f"wrote {paths[PASSWD_NAME]} (mode 0600): Mosquitto password hashes",
            f"wrote {paths[CSV_NAME]} (mode 0600): the passwords in clear, only there — "
            "hand each workstation its own row",
            f"passwords: {len(files.kept)} kept, {len(files.generated)} new, "
            f"{len(files.removed)} account(s) removed"
            + (f" ({', '.join(files.removed)})" if files.removed else ""),
            f"the daemon logs in as {bridge_user!r}: put that row's password in "
            "GRIDBRIDGE_MQTT_PASSWORD (deploy/README.md)",
        ]
        sys.stdout.write("\n".join(lines) + "\n")
    if not cells_given:
        sys.stderr.write(
            "gridbridge: the grid map is empty, so only the bridge account was written; "
            "load one with `gridbridge grid load FILE` and run this again\n"
        )
    if settings.mqtt.username and settings.mqtt.username != bridge_user:
        sys.stderr.write(
            f"gridbridge: mqtt.username is {settings.mqtt.username!r} but the bridge account "
            f"is {bridge_user!r}: the daemon will not be able to log in\n"
        )
