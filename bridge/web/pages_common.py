"""What the operator pages share (`bridge.web.pages`): who may open them, camera cards from
the directory's entries, the way down the grid (breadcrumbs) and pagination.

Scoping is the directory's (`bridge.web.directory`): a cell or camera outside the
principal's scope answers 404 exactly as one that does not exist (`bridge.web.context.hidden`;
the error middleware turns it into a page for a browser).  Crews have the work-order pages
and no grid, map or live pages (403).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import quote

from aiohttp import web

from bridge.bus.topics import PLACEHOLDER
from bridge.web.context import deny, principal_of
from bridge.web.directory import STATE_ORDER, CameraDirectory, CameraEntry, Cell
from bridge.web.principal import Principal, Role

__all__ = [
    "CARDS_PER_PAGE",
    "SEEING_ROLES",
    "UNMAPPED_CODE",
    "Card",
    "Crumb",
    "Pager",
    "api_url",
    "camera_url",
    "card_of",
    "cell_crumbs",
    "counts_of",
    "grid_url",
    "map_url",
    "online_rate",
    "operator_page",
    "pager",
    "state_filter",
]

CARDS_PER_PAGE: Final = 48  # 2, 3 or 4 to a row; a township's hundreds over a few pages
UNMAPPED_CODE: Final = PLACEHOLDER  # `/grid/_`: no grid code can be "_" (bridge.bus.topics)
SEEING_ROLES: Final = (Role.ADMIN, Role.OPERATOR)


@dataclass(frozen=True, slots=True)
class Card:
    """A camera as its card shows it (what ``macros.camera_card`` reads)."""

    id: str
    name: str
    state: str
    faults: tuple[str, ...]
    since: datetime | None
    checked_at: datetime | None
    key_location: bool
    flapping: bool
    address: str
    thumb_url: str | None


Crumb = tuple[str, str | None]
"""(label, href or None) for ``macros.breadcrumb``."""


def operator_page(request: web.Request) -> Principal:
    """The principal of a grid, camera or map page: admins and operators (403 for crews,
    who have the work-order pages; 401 for nobody, normally answered by the login)."""
    principal = principal_of(request)
    if principal.role not in SEEING_ROLES:
        deny("grid and camera pages are for operators and admins")
    return principal


def camera_url(camera_id: str, tail: str = "") -> str:
    return f"/camera/{quote(camera_id, safe='')}{tail}"


def grid_url(code: str) -> str:
    return f"/grid/{quote(code, safe='')}"


def map_url(code: str | None) -> str:
    return "/map" if code is None else f"/map/{quote(code, safe='')}"


def api_url(camera_id: str, tail: str) -> str:
    return f"/api/cameras/{quote(camera_id, safe='')}/{tail}"


def card_of(entry: CameraEntry) -> Card:
    info, facts = entry.camera.info, entry.camera.facts
    thumb = api_url(info.id, "snapshot.jpg?size=thumb") if facts.thumbnail_sha256 else None
    return Card(
        id=info.id,
        name=info.name,
        state=facts.state,
        faults=tuple(facts.faults),
        since=facts.since,
        checked_at=facts.checked_at,
        key_location=info.key_location,
        flapping=facts.flapping,
        address=info.address,
        thumb_url=thumb,
    )


def cell_crumbs(
    directory: CameraDirectory, principal: Principal, cell: Cell, *, link: str = "grid"
) -> list[Crumb]:
    """The cells from the township down to ``cell`` (for the breadcrumb after 全区).  A cell
    is linked only where the principal may open it: an operator of a village sees its
    township's name, not a link to a page that would answer 404."""
    url = grid_url if link == "grid" else map_url
    crumbs: list[Crumb] = []
    for step in directory.path_cells(cell.path):
        href = url(step.code) if directory.sees_cell(principal, step.code) else None
        crumbs.append((step.name, href))
        if step.code == cell.code:
            break
    return crumbs


@dataclass(frozen=True, slots=True)
class Pager:
    """One page of a long list: items ``first``..``last`` (1-based) of ``total``."""

    page: int
    pages: int
    total: int
    first: int
    last: int
    prev_url: str | None
    next_url: str | None
    numbers: tuple[tuple[int, str | None], ...]  # (page, its URL; None for this one)


def pager(
    request: web.Request, total: int, per_page: int = CARDS_PER_PAGE, anchor: str = ""
) -> Pager:
    """The page asked for (``?page=N``, clamped to the pages there are) of ``total`` items;
    the links keep the other query parameters and end with ``anchor`` (``#cameras``: the
    next page opens at the list, not at the top)."""
    pages = max(1, -(-total // per_page))
    try:
        page = int(request.query.get("page", "1"))
    except ValueError:
        page = 1
    page = min(max(page, 1), pages)

    def url(n: int) -> str:
        query = {k: v for k, v in request.query.items() if k not in ("page", "notice", "wait")}
        if n > 1:
            query["page"] = str(n)
        return str(request.rel_url.with_query(query)) + anchor

    first = (page - 1) * per_page
    return Pager(
        page=page,
        pages=pages,
        total=total,
        first=first + 1 if total else 0,
        last=min(total, first + per_page),
        prev_url=url(page - 1) if page > 1 else None,
        next_url=url(page + 1) if page < pages else None,
        numbers=tuple((n, None if n == page else url(n)) for n in _near(page, pages)),
    )


def _near(page: int, pages: int) -> Sequence[int]:
    """The page numbers worth a link: the first, the last and two either side (a gap is
    left out; the pager says 第 3 / 9 页 besides)."""
    shown = {1, pages, *range(page - 2, page + 3)}
    return sorted(n for n in shown if 1 <= n <= pages)


def state_filter(request: web.Request) -> str | None:
    """``?state=`` when it names a state, else None (every state)."""
    state = request.query.get("state")
    return state if state in STATE_ORDER else None


def counts_of(entries: Iterable[CameraEntry]) -> dict[str, int]:
    """Cameras per state, every state present (broken first, as pages show them)."""
    counts = dict.fromkeys(STATE_ORDER, 0)
    for entry in entries:
        counts[entry.state] = counts.get(entry.state, 0) + 1
    return counts


def online_rate(counts: dict[str, int]) -> float | None:
    """online / (total − unknown), as the bus's summaries and the grid API say it."""
    known = sum(counts.values()) - counts.get("unknown", 0)
    return counts.get("online", 0) / known if known else None
