"""The operator pages (issue 7, items 2, 4 and 10): server-rendered HTML for grid
operators and admins, on the foundation of `bridge.web.templating` (docs/web-ui.md).

    GET  /                       the start page: the grid tree — or, for an operator of one
                                 grid, straight to that grid's cameras; crews to their orders
    GET  /grid, /grid/{code}     the grid tree; a township, village or grid (pages_grid)
    GET  /camera/{id}            one camera; POST …/recheck; GET …/live (pages_camera)
    GET  /map, /map/{code}       the map of the principal's scope (pages_map)

Every page works without JavaScript but the live view's error text.  Scoping is the
directory's: out of scope answers 404 as for what does not exist; a browser gets the error
page (`bridge.web.server`), a script JSON.
"""

from __future__ import annotations

from aiohttp import web

from bridge.model import Level
from bridge.web import cameras_api, pages_camera, pages_grid, pages_map
from bridge.web.app_context import context_of
from bridge.web.context import principal_of
from bridge.web.pages_common import grid_url
from bridge.web.principal import Role

__all__ = ["feature", "start_page"]


def feature(app: web.Application) -> None:
    """Add the pages' routes (a `bridge.web.server.Feature`)."""
    cameras_api.recheck_limit(app)  # 刷新画面 shares the API's limit per camera
    pages_map.setup(app)
    app.router.add_get("/", start_page)
    app.add_routes(pages_grid.routes)
    app.add_routes(pages_camera.routes)
    app.add_routes(pages_map.routes)


async def start_page(request: web.Request) -> web.Response:
    """Where ``/`` (and the login's default ``next``) leads.

    An operator of one grid has one place to look: its grid's cameras, at once (the tree
    would show a single line to click, and the breadcrumb still says where the grid lies).
    Operators of a village or township, and admins, start at the tree, where the cells
    with broken cameras stand out.  Crews start at their orders."""
    principal = principal_of(request)
    if principal.role is Role.CREW:
        raise web.HTTPSeeOther("/orders")
    scope = principal.scope
    if principal.role is Role.OPERATOR and scope is not None:
        cell = context_of(request).directory.cell(scope)
        if cell is not None and cell.level is Level.GRID:
            raise web.HTTPSeeOther(grid_url(scope))
    raise web.HTTPSeeOther("/grid")
