"""Users of the web page and API, and the rule for their names (pure).

A user has a name, a role (`bridge.web.principal.Role`: admin, operator, crew) and, for
operators and crews, a scope: one code of the grid map, whose subtree is what they see.

**User names** (`check_name`): 1 to 64 characters, each one of

- ASCII letters and digits, ``_`` ``.`` ``@`` ``-`` (``zhang.san``, ``ops@district``);
- Chinese characters — CJK Unified Ideographs U+4E00–U+9FFF and Extension A
  U+3400–U+4DBF (operators are often known by their Chinese names: ``张三``);
- ``·`` (U+00B7, the middle dot of transcribed names such as ``买买提·艾力``), not first or last.

Names are taken in Unicode NFC (the same name typed on two machines is one name) and
compared exactly; no spaces, no other symbols (names show up in logs, paths and URLs).
``cli`` is reserved for the daemon's own local token (`CLI_PRINCIPAL`), in any case.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from bridge.web.principal import Principal, Role

__all__ = [
    "CLI_PRINCIPAL",
    "MAX_NAME_LENGTH",
    "Role",
    "TokenUse",
    "User",
    "UserRuleError",
    "WebSession",
    "check_name",
    "check_role_scope",
]

MAX_NAME_LENGTH = 64
RESERVED_NAMES = frozenset({"cli"})
_NAME_RE = re.compile(r"[A-Za-z0-9_.@\-\u3400-\u4dbf\u4e00-\u9fff\u00b7]{1,64}")
# The principal of the daemon's local token (`<data_dir>/cli.token`): the crew commands
# on the daemon's machine.  An admin, but steps keep the actor the command names.
CLI_PRINCIPAL = Principal("cli", Role.ADMIN)


class UserRuleError(ValueError):
    """A user name, role or scope that breaks the rules; the message says which."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    scope: str | None
    disabled: bool
    created_at: datetime

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.scope)


def check_name(name: str) -> str:
    """The name in NFC, or `UserRuleError` saying what is wrong with it."""
    name = unicodedata.normalize("NFC", name)
    if not name:
        raise UserRuleError("a user name needs at least one character")
    if len(name) > MAX_NAME_LENGTH:
        raise UserRuleError(f"a user name has at most {MAX_NAME_LENGTH} characters")
    if not _NAME_RE.fullmatch(name):
        bad = next(ch for ch in name if not _NAME_RE.fullmatch(ch))
        raise UserRuleError(
            f"user name {name!r}: {bad!r} is not allowed (letters, digits, _ . @ -, "
            "Chinese characters and a middle dot ·)"
        )
    if name.startswith("·") or name.endswith("·"):
        raise UserRuleError(f"user name {name!r}: a middle dot · goes between two parts")
    if name.casefold() in RESERVED_NAMES:
        raise UserRuleError(f"user name {name!r} is reserved for the daemon's local token")
    return name


def check_role_scope(role: Role, scope: str | None) -> None:
    """`UserRuleError` when ``scope`` does not fit ``role``: an operator needs one (without it
    an operator would see nothing), an admin sees everything and takes none.  Whether the
    code is in the grid map is for the caller, who has the map."""
    if role is Role.OPERATOR and not scope:
        raise UserRuleError("an operator needs --scope: the township, village or grid code it sees")
    if role is Role.ADMIN and scope:
        raise UserRuleError("an admin sees everything: --scope is for operators and crews")


@dataclass(frozen=True, slots=True)
class WebSession:
    """A signed-in browser, as the store has it (the cookie's value is not kept)."""

    user: User
    csrf_token: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenUse:
    """An API token's owner, found by the token's digest."""

    user: User
    token_id: int
    last_used_at: datetime | None
