"""The map pages (``/map``, ``/map/{code}``) over the real server, the real login and a real
store with the demo district (tests/bridge/web/pages_support.py): the principal's scope
only — never another grid's camera —, the cache, and the login page in the pages' frame."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bridge.web.pages_map import MAP_CACHE, MapCache
from bridge.web.templating import CSP
from tests.bridge.web.html_check import problems
from tests.bridge.web.pages_support import BROWSER, client, page, signed_in, site
from tests.bridge.web.support import GRID_A, GRID_B, TOWN_A, VILLAGE_A

VILLAGE_B = GRID_B[:12]


def svg_of(html: str) -> str:
    start = html.index('<div class="map">')
    return html[start : html.index("</svg></div>", start)]


def cameras_drawn(html: str) -> set[str]:
    return set(re.findall(r'href="/camera/(\d+)"', svg_of(html)))


def cells_linked(html: str) -> set[str]:
    return set(re.findall(r'href="/(?:grid|map)/(\d+)"', svg_of(html)))


async def test_every_map_is_clean_and_draws_the_cameras_of_its_cell(tmp_path: Path) -> None:
    async with site(tmp_path) as st, signed_in(st.base, "admin") as s:
        d = st.district
        for code in (None, TOWN_A, VILLAGE_A, GRID_A):
            url = f"{st.base}/map" + (f"/{code}" if code else "")
            async with s.get(url, headers={**BROWSER, "Accept-Encoding": "gzip"}) as r:
                html = await r.text()
                assert r.status == 200, code
                assert r.headers["Content-Security-Policy"] == CSP
                assert r.headers.get("Content-Encoding") == "gzip"  # 200 KB of SVG
            assert problems(html) == [], code
            drawn = cameras_drawn(html)
            within = set(d.cameras_in(code)) if code else {c.info.id for c in d.fleet.cameras()}
            assert drawn
            assert drawn <= within
            assert "图例" in html
        # The district map names every township, as a link to its map.
        _, html = await page(s, f"{st.base}/map")
        towns = {c for c in d.index.codes if len(c) == len(TOWN_A)}
        assert towns <= cells_linked(html)


async def test_an_operator_sees_the_map_of_its_scope_only(tmp_path: Path) -> None:
    async with site(tmp_path) as st:
        d = st.district
        async with signed_in(st.base, "op_a") as s:
            async with s.get(f"{st.base}/map", headers=BROWSER, allow_redirects=False) as r:
                assert r.status == 303
                assert r.headers["Location"] == f"/map/{GRID_A}"
            status, html = await page(s, f"{st.base}/map")
            assert status == 200
            assert cameras_drawn(html)
            assert cameras_drawn(html) <= set(d.cameras_in(GRID_A))
            assert cells_linked(html) <= {GRID_A}
            assert st.b not in html
            for code in (VILLAGE_B, GRID_B, VILLAGE_A, TOWN_A, "nonexistent"):
                status, html = await page(s, f"{st.base}/map/{code}")
                assert status == 404, code
                assert st.b not in html
        async with signed_in(st.base, "admin") as s:
            _, html = await page(s, f"{st.base}/map/{VILLAGE_A}")
            drawn_for_admin = cameras_drawn(html)
        async with signed_in(st.base, "op_village") as s:
            status, html = await page(s, f"{st.base}/map")
            assert status == 200
            assert cameras_drawn(html) == drawn_for_admin  # its whole village, nothing more
            grids = {c for c in d.index.codes if c.startswith(VILLAGE_A) and c != VILLAGE_A}
            assert cells_linked(html) <= grids  # its own grid cells, nothing around
            assert f'href="/map/{TOWN_A}"' not in html  # its township: named, not linked


async def test_a_map_is_drawn_once_per_cell_language_and_scope_for_ten_seconds(
    tmp_path: Path,
) -> None:
    async with site(tmp_path) as st:
        cache = st.app[0][MAP_CACHE]
        async with signed_in(st.base, "admin") as s:
            for _ in range(3):
                assert (await page(s, f"{st.base}/map/{VILLAGE_A}"))[0] == 200
            assert cache.made == 2  # the grid polygons read, the map drawn: once
            assert (await page(s, f"{st.base}/map/{VILLAGE_A}?lang=en"))[0] == 200
            assert cache.made == 3  # another language: drawn again
            st.clock.now += 11
            assert (await page(s, f"{st.base}/map/{VILLAGE_A}?lang=zh"))[0] == 200
            assert cache.made == 5  # older than 10 s: read and drawn again
        async with signed_in(st.base, "op_village") as s:
            assert (await page(s, f"{st.base}/map/{VILLAGE_A}"))[0] == 200
            assert cache.made == 6  # another scope: its own drawing


async def test_the_map_page_reflects_nothing_of_the_url_but_a_cell(tmp_path: Path) -> None:
    # The page is gzipped beside the sign-out form's CSRF token: no text from the URL.
    async with site(tmp_path) as st, signed_in(st.base, "admin") as s:
        url = f"{st.base}/map/{VILLAGE_A}?csrf_token=guess&lang=en"
        async with s.get(url, headers=BROWSER, allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == f"/map/{VILLAGE_A}?lang=en"
        async with s.get(f"{st.base}/map?x=1", headers=BROWSER, allow_redirects=False) as r:
            assert r.headers["Location"] == "/map"


async def test_the_login_page_is_in_the_pages_frame_with_their_policy(tmp_path: Path) -> None:
    async with site(tmp_path) as st, client() as s:
        async with s.get(f"{st.base}/login?next=/grid") as r:
            html = await r.text()
            assert r.status == 200
            assert r.headers["Content-Security-Policy"] == CSP  # no 'unsafe-inline' now
            assert r.headers["Cache-Control"] == "no-store"
            assert r.headers["X-Frame-Options"] == "DENY"
        assert problems(html) == []
        assert "<style" not in html
        assert "/static/app.css?v=" in html
        assert "<h1>请登录</h1>" in html
        assert 'href="/login?lang=en&amp;next=/grid"' in html
        assert "/logout" not in html
        async with s.get(f"{st.base}/static/app.css") as r:
            assert r.status == 200  # served without a login


async def test_the_cache_draws_once_for_many_asking_at_once() -> None:
    cache = MapCache(ttl_s=10.0)
    now = 100.0
    drawn: list[int] = []

    async def draw() -> str:
        drawn.append(1)
        await asyncio.sleep(0.05)  # a slow drawing: the others wait for it
        return "svg"

    got = await asyncio.gather(*(cache.get(("map", "x"), lambda: now, draw) for _ in range(20)))
    assert got == ["svg"] * 20
    assert len(drawn) == 1
    now += 10.0
    assert await cache.get(("map", "x"), lambda: now, draw) == "svg"
    assert len(drawn) == 2
