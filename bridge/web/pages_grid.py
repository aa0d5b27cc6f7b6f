"""The grid pages (issue 7, item 2): the grid tree and one page per cell.

    GET /grid            the tree: township → village → grid, cameras per state in each
    GET /grid/{code}     a township, village or grid: its counts, the cells below it, and
                         its cameras as cards, broken first (?state= one state; ?page=N)
    GET /grid/_          the cameras outside every cell (未关联网格): admins only

One URL shape for every level (``/grid/{code}``) keeps links stable and simple: the tree,
the breadcrumbs and the map (grid cells link to ``/grid/{code}``) all use it.  A cell
outside the principal's scope answers 404, as one that does not exist.  An operator's
township and village show in its tree as the way down to its own cells, unlinked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from bridge.bus.summaries import Counts
from bridge.bus.topics import UNMAPPED
from bridge.model import Level
from bridge.web.app_context import context_of
from bridge.web.context import hidden
from bridge.web.directory import STATE_ORDER, CameraDirectory, CameraEntry, TreeNode
from bridge.web.pages_common import (
    UNMAPPED_CODE,
    Crumb,
    card_of,
    cell_crumbs,
    counts_of,
    grid_url,
    map_url,
    online_rate,
    operator_page,
    pager,
    state_filter,
)
from bridge.web.principal import Principal
from bridge.web.templating import render

__all__ = ["routes"]

routes = web.RouteTableDef()
FILTERS_FROM: Final = 12  # a list longer than this gets the state filter (a grid of 5: no)


@dataclass(frozen=True, slots=True)
class Node:
    """A cell of the tree as the page shows it: ``href`` None where the principal may not
    open it (the way down to its scope); ``worst`` the state its tile is marked with."""

    code: str
    name: str
    level: str
    counts: Counts
    href: str | None
    worst: str
    children: tuple[Node, ...]


def worst_of(counts: Counts) -> str:
    """The most urgent state with a camera in it (``none`` when there is no camera)."""
    return next((s for s in STATE_ORDER if counts[s]), "none")


def nodes_of(
    directory: CameraDirectory, principal: Principal, nodes: Iterable[TreeNode]
) -> tuple[Node, ...]:
    return tuple(
        Node(
            code=n.cell.code,
            name=n.cell.name,
            level=n.cell.level.value,
            counts=n.counts,
            href=grid_url(n.cell.code) if directory.sees_cell(principal, n.cell.code) else None,
            worst=worst_of(n.counts),
            children=nodes_of(directory, principal, n.children),
        )
        for n in nodes
    )


def find(nodes: Sequence[TreeNode], code: str) -> TreeNode | None:
    for node in nodes:
        if node.cell.code == code:
            return node
        found = find(node.children, code)
        if found is not None:
            return found
    return None


@routes.get("/grid")
async def tree_page(request: web.Request) -> web.Response:
    principal = operator_page(request)
    ctx = context_of(request)
    tree = ctx.directory.tree(principal)
    nodes = nodes_of(ctx.directory, principal, tree.nodes)
    return render(
        request,
        "grid_tree.html",
        now=ctx.now(),
        nodes=nodes,
        counts=tree.total,
        rate=tree.total.online_rate,
        unmapped=tree.unmapped,
        unmapped_url=grid_url(UNMAPPED_CODE),
        map_href=map_url(None),
    )


@routes.get("/grid/{code}")
async def cell_page(request: web.Request) -> web.Response:
    principal = operator_page(request)
    ctx = context_of(request)
    directory = ctx.directory
    code = request.match_info["code"]
    children: tuple[Node, ...] = ()
    if code == UNMAPPED_CODE:
        if not principal.is_admin:
            hidden("no such grid cell")
        entries = [e for e in directory.cameras(principal) if e.paths == (UNMAPPED,)]
        title, level, map_href = None, None, None
        crumbs: list[Crumb] = []
    else:
        cell = directory.cell(code)
        if cell is None or not directory.sees_cell(principal, code):
            hidden("no such grid cell")
        entries = directory.cameras(principal, grid=code)
        node = find(directory.tree(principal).nodes, code)
        if node is not None:
            children = nodes_of(directory, principal, node.children)
        title, level, map_href = cell.name, cell.level.value, map_url(code)
        crumbs = cell_crumbs(directory, principal, cell)
    return _cameras_page(
        request, entries, title=title, level=level, crumbs=crumbs, children=children,
        map_href=map_href, code=code,
    )  # fmt: skip


def _cameras_page(
    request: web.Request,
    entries: list[CameraEntry],
    *,
    title: str | None,
    level: str | None,
    crumbs: list[Crumb],
    children: tuple[Node, ...],
    map_href: str | None,
    code: str,
) -> web.Response:
    ctx = context_of(request)
    counts = counts_of(entries)
    state = state_filter(request)
    shown = [e for e in entries if state is None or e.state == state]
    page = pager(request, len(shown), anchor="#cameras")
    cards = [card_of(e) for e in shown[page.first - 1 : page.last]] if shown else []
    base = str(request.rel_url.with_query({}))
    filters = [(None, sum(counts.values()), base)] + [
        (s, counts[s], str(request.rel_url.with_query({"state": s}))) for s in STATE_ORDER
    ]
    return render(
        request,
        "grid.html",
        now=ctx.now(),
        title=title,
        level=level,
        code=code,
        crumbs=crumbs,
        counts=counts,
        rate=online_rate(counts),
        children=children,
        child_level=children[0].level if children else None,
        map_href=map_href,
        state=state,
        filters=filters,
        show_filters=len(entries) > FILTERS_FROM or state is not None,
        cards=cards,
        pager=page,
        grid_level=Level.GRID.value,
    )
