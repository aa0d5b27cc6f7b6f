"""The map pages (issue 7, item 4): the grid polygons and the cameras as one SVG
(`bridge.web.map_svg`), for the principal's scope only.

    GET /map           the district (admins); an operator goes to the map of its scope
    GET /map/{code}    a township, village or grid cell within the principal's scope

An operator's map draws only its scope's subtree (`render_map` with ``root`` inside the
scope draws nothing outside it) and only the cameras it sees (`CameraDirectory.cameras`):
never another grid's camera, not even a dot.  A cell outside the scope answers 404.

Rendering a district map takes 30–160 ms (1,200 dots to 20,000 cameras aggregated): it runs
in a thread, and the result is kept for `MAP_TTL_S` per (cell, language, scope) — when a
whole township's operators open the map at once, it is drawn once.  The grid polygons are
read from the store, kept as long.  The page is gzipped (a district map is 200 KB of SVG,
27 KB gzipped); to keep BREACH away from the CSRF token of the sign-out form, the page
reflects nothing of the URL but a cell code that exists: any other query is dropped by a
redirect.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from aiohttp import web

from bridge.model import GridCell
from bridge.web import i18n
from bridge.web.app_context import WebContext, context_of
from bridge.web.context import hidden
from bridge.web.i18n import LANGS, Texts
from bridge.web.map_svg import MapPoint, MapSvg, render_map
from bridge.web.pages_common import cell_crumbs, grid_url, map_url, operator_page
from bridge.web.principal import Principal
from bridge.web.templating import render

__all__ = ["MAP_CACHE", "MAP_TTL_S", "MapCache", "routes", "setup"]

MAP_TTL_S: Final = 10.0
MAX_ENTRIES: Final = 256  # (cell, language, scope) keys kept; the oldest go first
ALLOWED_QUERY: Final = frozenset({"lang"})

routes = web.RouteTableDef()
T = TypeVar("T")


@dataclass(slots=True)
class _Entry:
    expires: float
    value: object


class MapCache:
    """Values kept for `MAP_TTL_S` (on the context's monotonic clock), made once per key
    at a time: callers asking for a key being made wait for it instead of making it too."""

    def __init__(self, ttl_s: float = MAP_TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}
        self.made = 0  # how many values were made (tests, and a sense of the hit rate)

    async def get(
        self, key: tuple[str, ...], now: Callable[[], float], make: Callable[[], Awaitable[T]]
    ) -> T:
        entry = self._fresh(key, now())
        if entry is not None:
            return entry.value  # type: ignore[return-value]
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                entry = self._fresh(key, now())
                if entry is not None:
                    return entry.value  # type: ignore[return-value]
                value = await make()
                self.made += 1
                self._entries[key] = _Entry(now() + self._ttl_s, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
                return value
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    def _fresh(self, key: tuple[str, ...], now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.expires <= now:
            return None
        return entry


MAP_CACHE = web.AppKey("gridbridge.pages.map_cache", MapCache)


def setup(app: web.Application) -> None:
    app[MAP_CACHE] = MapCache()


def _scope_key(principal: Principal) -> str:
    """Who sees the same map: every admin alike; operators by their scope."""
    return "*" if principal.is_admin else f"scope:{principal.scope}"


async def _cells(ctx: WebContext, cache: MapCache) -> Sequence[GridCell]:
    async def load() -> Sequence[GridCell]:
        return tuple(await ctx.store.load_grid())

    return await cache.get(("cells",), ctx.monotonic, load)


def _points(ctx: WebContext, principal: Principal, code: str | None) -> list[MapPoint]:
    """The cameras the principal sees (in ``code``'s subtree), as plain values: taken in
    the loop, drawn in a thread."""
    return [
        MapPoint(
            e.id,
            e.camera.info.name,
            e.state,
            e.camera.info.lon,
            e.camera.info.lat,
            tuple(e.camera.info.grids),
            tuple(e.camera.facts.faults),
        )
        for e in ctx.directory.cameras(principal, grid=code)
    ]


@routes.get("/map")
async def district_map(request: web.Request) -> web.Response:
    principal = operator_page(request)
    if not principal.is_admin:
        # An operator's whole world is its scope: its map is the scope's.
        if principal.scope is None or context_of(request).directory.cell(principal.scope) is None:
            hidden("no map")
        raise web.HTTPSeeOther(_clean(request, map_url(principal.scope)))
    return await _map_page(request, principal, None)


@routes.get("/map/{code}")
async def cell_map(request: web.Request) -> web.Response:
    principal = operator_page(request)
    code = request.match_info["code"]
    if not context_of(request).directory.sees_cell(principal, code):
        hidden("no such grid cell")
    return await _map_page(request, principal, code)


def _clean(request: web.Request, path: str) -> str:
    lang = request.query.get("lang")
    return f"{path}?lang={lang}" if lang in LANGS else path


async def _map_page(request: web.Request, principal: Principal, code: str | None) -> web.Response:
    if set(request.query) - ALLOWED_QUERY or request.query.get("lang", "zh") not in LANGS:
        raise web.HTTPSeeOther(_clean(request, request.path))
    ctx = context_of(request)
    cache = request.app[MAP_CACHE]
    lang, _ = i18n.choose_language(request.query.get("lang"), request.cookies.get(i18n.COOKIE))
    texts = Texts(lang, ctx.now())
    cell = ctx.directory.cell(code) if code is not None else None
    title = texts("map.of", name=cell.name) if cell is not None else texts("map.district")
    cells = await _cells(ctx, cache)

    async def draw() -> MapSvg:
        points = _points(ctx, principal, code)
        return await asyncio.to_thread(
            render_map, cells, points, root=code, texts=texts, title=title
        )

    key = ("map", code or "", lang, _scope_key(principal))
    svg = await cache.get(key, ctx.monotonic, draw)
    return render(
        request,
        "map.html",
        now=ctx.now(),
        compress=True,
        map=svg,
        title=title,
        crumbs=cell_crumbs(ctx.directory, principal, cell, link="map") if cell else [],
        list_href=grid_url(code) if code is not None else "/grid",
    )
