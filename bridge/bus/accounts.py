"""Broker accounts for the bridge and the grid workstations, and their Mosquitto ACL.

Pure core: from the grid map (:class:`bridge.model.GridCell`) and the topic root, which
account may read and write which topics (DESIGN §4):

- the bridge account (``--bridge-user``, default ``gridbridge``): ``readwrite {root}/#``;
- one workstation account ``ws-{code}`` per township, village and grid cell, which reads its
  subtree ``{root}/grid/{town}[/{village}[/{grid}]]/#`` (statuses, snapshots, summaries,
  responses) and ``{root}/bridge/state``, and writes only the request topics
  ``…/camera/+/request`` below its subtree.  A township account also reads its work orders,
  ``{root}/workorders/{town}/#``.

The ``_`` levels of the topic tree need no rule of their own: a camera linked to a village
directly is published under ``{town}/{village}/_/…``, inside the village's subtree (and its
township's) but outside every grid's; one linked to a township directly, under
``{town}/_/_/…``, is seen by the township account only.  Unmapped cameras (``_/_/_``) are
seen by the bridge account only.

Codes go verbatim into topic patterns and user names, so a code that could widen a pattern
or break a file line is refused with ``ValueError`` (:func:`check_code`): what
:mod:`bridge.bus.topics` refuses, the placeholder ``_``, ``:`` and whitespace.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from bridge.bus.mosquitto_passwd import check_username
from bridge.bus.topics import PLACEHOLDER, Topics, check_segment
from bridge.model import GridCell, Level

__all__ = [
    "WORKSTATION_PREFIX",
    "Access",
    "Account",
    "AccountLevel",
    "Grant",
    "acl_text",
    "build_accounts",
    "check_code",
    "check_root",
    "workstation_user",
]

WORKSTATION_PREFIX = "ws-"


class Access(enum.StrEnum):
    """Mosquitto ACL access: read = subscribe and receive, write = publish."""

    READ = "read"
    WRITE = "write"
    READWRITE = "readwrite"


class AccountLevel(enum.StrEnum):
    """What an account stands for."""

    BRIDGE = "bridge"
    TOWNSHIP = "township"
    VILLAGE = "village"
    GRID = "grid"


@dataclass(frozen=True, slots=True)
class Grant:
    """One ACL line: ``topic {access} {pattern}``."""

    access: Access
    pattern: str


@dataclass(frozen=True, slots=True)
class Account:
    """A broker login and what it may do.

    ``code`` and ``cell_name`` are the grid cell's (empty for the bridge account);
    ``path`` is the cell's codes from its township down, e.g. ``("419901001", "419901001002")``.
    """

    user: str
    level: AccountLevel
    code: str
    cell_name: str
    path: tuple[str, ...]
    grants: tuple[Grant, ...]


def check_code(code: str) -> str:
    """``code`` unchanged when it is safe as a topic level and in a user name.

    Refused with ``ValueError``: whatever :func:`bridge.bus.topics.check_segment` refuses
    (empty, ``/``, ``+``, ``#``, control characters, too long …), the placeholder ``_``,
    and — for the password and ACL files — ``:`` and any whitespace.
    """
    check_segment(code, "grid code")
    if code == PLACEHOLDER:
        raise ValueError(f"grid code {code!r} is the topic placeholder for a missing level")
    for ch in code:
        if ch == ":" or ch.isspace() or not ch.isprintable():
            raise ValueError(f"grid code {code!r} contains {ch!r}, not allowed in a user name")
    return code


def check_root(root: str) -> str:
    """``root`` unchanged when :class:`bridge.bus.topics.Topics` takes it and it has no
    whitespace (it goes into ACL lines); ``ValueError`` otherwise."""
    Topics(root)
    if any(ch.isspace() for ch in root):
        raise ValueError(f"topic root {root!r} contains whitespace")
    return root


def workstation_user(code: str) -> str:
    """The broker user name of the workstation of the cell ``code``: ``ws-{code}``."""
    return WORKSTATION_PREFIX + check_code(code)


def _bridge_account(root: str, user: str) -> Account:
    check_username(user)
    if user.startswith(WORKSTATION_PREFIX):
        raise ValueError(
            f"bridge user {user!r} must not start with {WORKSTATION_PREFIX!r} "
            "(workstation accounts are named so)"
        )
    return Account(user, AccountLevel.BRIDGE, "", "", (), (Grant(Access.READWRITE, f"{root}/#"),))


def _cell_path(cell: GridCell, by_code: dict[str, GridCell]) -> tuple[str, ...]:
    """Codes from the township down to ``cell``; ``ValueError`` when a link is missing."""
    path = [cell.code]
    current = cell
    while current.level is not Level.TOWNSHIP:
        wanted = Level.TOWNSHIP if current.level is Level.VILLAGE else Level.VILLAGE
        parent = by_code.get(current.parent) if current.parent is not None else None
        if parent is None or parent.level is not wanted:
            raise ValueError(
                f"{current.level.value} {current.code}: its {wanted.value} "
                f"{current.parent} is not in the grid map"
            )
        path.append(parent.code)
        current = parent
    return tuple(reversed(path))


def _cell_account(root: str, cell: GridCell, path: tuple[str, ...]) -> Account:
    subtree = f"{root}/grid/" + "/".join(path)
    # A request topic is {root}/grid/{t}/{v}/{g}/camera/{id}/request: fill the levels below
    # the account's cell with "+" ("_" placeholders included).
    request = subtree + "/+" * (3 - len(path)) + "/camera/+/request"
    grants = [
        Grant(Access.READ, Topics(root).bridge_state()),
        Grant(Access.READ, f"{subtree}/#"),
    ]
    if cell.level is Level.TOWNSHIP:
        grants.append(Grant(Access.READ, f"{root}/workorders/{cell.code}/#"))
    grants.append(Grant(Access.WRITE, request))
    return Account(
        workstation_user(cell.code),
        AccountLevel(cell.level.value),
        cell.code,
        cell.name,
        path,
        tuple(grants),
    )


def build_accounts(
    cells: Sequence[GridCell], root: str, *, bridge_user: str = "gridbridge"
) -> list[Account]:
    """The bridge account first, then one account per cell in tree order (by code path).

    Raises ``ValueError`` for an unusable root, bridge user or code (:func:`check_code`), a
    code used twice, or a village or grid whose parent chain up to a township is not in
    ``cells`` (the store only holds validated maps, so this means a corrupt map).
    """
    check_root(root)
    by_code: dict[str, GridCell] = {}
    for cell in cells:
        check_code(cell.code)
        if cell.code in by_code:
            raise ValueError(f"grid code {cell.code} appears twice")
        by_code[cell.code] = cell
    bridge = _bridge_account(root, bridge_user)
    paths = {code: _cell_path(cell, by_code) for code, cell in by_code.items()}
    ordered = sorted(by_code.values(), key=lambda c: paths[c.code])
    return [bridge, *(_cell_account(root, cell, paths[cell.code]) for cell in ordered)]


def _comment(text: str) -> str:
    """``text`` on one line, safe after a ``#`` (control characters become spaces)."""
    return "".join(c if c.isprintable() else " " for c in text)


def acl_text(accounts: Sequence[Account], root: str) -> str:
    """A Mosquitto ``acl_file`` granting each account exactly its :attr:`Account.grants`.

    Deterministic (no time stamp): the same accounts give the same bytes, so re-running the
    generator on an unchanged map changes nothing.  Nothing is granted outside the ``user``
    blocks, so anonymous clients (if ever allowed) can do nothing.
    """
    counts = {level: 0 for level in AccountLevel}
    for account in accounts:
        counts[account.level] += 1
    summary = ", ".join(f"{counts[level]} {level.value}" for level in AccountLevel)
    lines = [
        f"# Mosquitto ACL for gridbridge, topic root {_comment(root)!r}.",
        f"# Generated by `gridbridge broker-accounts` from the grid map: {summary} account(s).",
        "# Re-run that command after loading a new grid map instead of editing this file.",
        "# read = subscribe and receive, write = publish; anything not granted is denied.",
    ]
    for account in accounts:
        lines.append("")
        if account.level is AccountLevel.BRIDGE:
            lines.append("# the gridbridge daemon")
        else:
            lines.append(f"# {_comment(account.cell_name)} ({account.level.value} {account.code})")
        lines.append(f"user {account.user}")
        lines.extend(f"topic {g.access.value} {g.pattern}" for g in account.grants)
    return "\n".join(lines) + "\n"
