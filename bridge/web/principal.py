"""Who is asking (pure): a signed-in user's role and scope, and what that lets them see.

Every handler of the web page and API asks the same question — may this principal see this
camera, picture, live stream or order? — through :meth:`Principal.sees`, with the camera's
grid paths (`bridge.bus.topics.GridPath`, township / village / grid).  Scoping is enforced
there, in every endpoint, not by hiding links in the page.

Roles (issue 7):

========  ===================================================================
admin     everything, every camera (the unmapped ones too), users, reports
operator  cameras, pictures, live view, orders and reports of its scope's subtree; no steps
crew      work orders (of its scope's subtree when it has one) and their steps; no live view
========  ===================================================================

A scope is one code of the grid tree (a township's, a village's or a grid's): the principal
sees the cameras linked to a cell at or below it.  An admin's scope is ignored; an operator
without a scope sees nothing (an account made by mistake must not see the district).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bridge.bus.topics import PLACEHOLDER, GridPath

__all__ = ["Principal", "Role"]


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    CREW = "crew"

    @property
    def label_zh(self) -> str:
        return {"admin": "管理员", "operator": "网格员", "crew": "维修人员"}[self.value]


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in user (web session) or an API token's owner."""

    name: str
    role: Role
    scope: str | None = None  # a township, village or grid code; None: no scope

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def sees(self, paths: Iterable[GridPath]) -> bool:
        """Whether a camera linked to the cells at ``paths`` is visible (an unmapped camera
        has no paths, or only placeholder ones: admins only)."""
        if self.role is Role.ADMIN:
            return True
        if self.scope is None:
            return self.role is Role.CREW  # a crew without scope serves the whole district
        return any(
            self.scope in (p.town, p.village, p.grid) and self.scope != PLACEHOLDER for p in paths
        )

    def sees_cell(self, path: GridPath) -> bool:
        """Whether the cell (or summary) at ``path`` lies within the scope — for the grid
        tree: a township page is shown to a village's operator only as the way down."""
        return self.sees((path,))

    @property
    def may_act_on_orders(self) -> bool:
        """接单 / 到场 / 修复 / 结案: crews and admins."""
        return self.role in (Role.ADMIN, Role.CREW)

    @property
    def may_watch_live(self) -> bool:
        return self.role in (Role.ADMIN, Role.OPERATOR)
