"""The grid pages (``/``, ``/grid``, ``/grid/{code}``, ``/grid/_``) over the real server, the
real login and a real store with the demo district (tests/bridge/web/pages_support.py):
every page clean for an admin and an operator of one grid, scoped, broken first, paged,
in English on request; and the error pages a browser gets."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.web.pages_common import CARDS_PER_PAGE
from bridge.web.templating import CSP
from tests.bridge.web.html_check import problems, states_shown
from tests.bridge.web.pages_support import BROWSER, client, page, signed_in, site
from tests.bridge.web.support import GRID_A, GRID_B, TOWN_A, TOWN_B, VILLAGE_A

NOT_FOUND = "找不到这个页面"


def card_ids(html: str) -> list[str]:
    return re.findall(r'class="card-link" href="/camera/(\d+)"', html)


async def test_every_grid_page_is_clean_for_an_admin_and_an_operator(tmp_path: Path) -> None:
    async with site(tmp_path) as st:
        cells = [f"/grid/{code}" for code in (TOWN_A, VILLAGE_A, GRID_A)]
        pages = {
            "admin": ["/grid", *cells, "/grid/_", f"/grid/{TOWN_A}?page=2&lang=en"],
            "op_a": ["/grid", f"/grid/{GRID_A}", f"/grid/{GRID_A}?state=offline"],
        }
        for user, paths in pages.items():
            async with signed_in(st.base, user) as s:
                for path in paths:
                    async with s.get(st.base + path, headers=BROWSER) as r:
                        html = await r.text()
                        assert r.status == 200, (user, path)
                        assert r.headers["Content-Security-Policy"] == CSP
                    assert problems(html) == [], (user, path)
                    assert html.count("<h1>") == 1


async def test_the_start_page_leads_each_role_to_its_place(tmp_path: Path) -> None:
    async with site(tmp_path) as st:
        for user, goes in (
            ("admin", "/grid"),
            ("op_a", f"/grid/{GRID_A}"),  # one grid: straight to its cameras
            ("op_village", "/grid"),
            ("crew", "/orders"),
        ):
            async with (
                signed_in(st.base, user) as s,
                s.get(st.base + "/", allow_redirects=False) as r,
            ):
                assert r.status == 303
                assert r.headers["Location"] == goes, user
        async with client() as s, s.get(st.base + "/", allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/login?next=/"


async def test_the_tree_counts_each_cell_and_links_what_the_principal_may_open(
    tmp_path: Path,
) -> None:
    async with site(tmp_path) as st:
        d = st.district
        async with signed_in(st.base, "admin") as s:
            status, html = await page(s, st.base + "/grid")
        assert status == 200
        # Every township, village and grid of the district, each a link to its page.
        for cell in d.index.codes:
            assert f'href="/grid/{cell}"' in html
        # The counts: the whole district first, broken first, with the online rate.
        assert states_shown(html)[:4] == ["offline", "degraded", "unknown", "online"]
        total = d.fleet.state_counts()
        assert f"共 {total.total} 台" in html
        # 未关联网格 for admins, with a link to those cameras.
        assert "未关联网格" in html
        assert 'href="/grid/_"' in html

        async with signed_in(st.base, "op_a") as s:
            status, html = await page(s, st.base + "/grid")
        assert status == 200
        # Its grid is one click away; its township and village are named, not linked.
        assert f'href="/grid/{GRID_A}"' in html
        assert f'href="/grid/{VILLAGE_A}"' not in html
        assert f'href="/grid/{TOWN_A}"' not in html
        assert "陈桥社区第1网格" in html
        assert GRID_B not in html
        assert "未关联网格" not in html
        assert f"共 {len(d.cameras_in(GRID_A))} 台" in html


async def test_a_grid_page_shows_its_cameras_broken_first_with_thumbnails(
    tmp_path: Path,
) -> None:
    async with site(tmp_path) as st:
        async with signed_in(st.base, "op_a") as s:
            status, html = await page(s, f"{st.base}/grid/{GRID_A}")
        assert status == 200
        ids = card_ids(html)
        assert sorted(ids) == st.district.cameras_in(GRID_A)
        assert ids[0] == st.a  # the one offline first
        assert "网络不通" in html
        assert f'src="/api/cameras/{st.a}/snapshot.jpg?size=thumb"' in html
        assert f'alt="{st.district.directory.name_of(st.a)}的最新画面"' in html
        # The camera without a picture says so instead of a broken image.
        assert f"/api/cameras/{st.no_picture}/snapshot.jpg" not in html
        assert "暂无画面" in html
        # Breadcrumb up the tree (named, not linked, above its scope) and its map.
        assert "东关街道" in html
        assert f'href="/map/{GRID_A}"' in html
        # Each state's badge carries its word.
        assert problems(html) == []


async def test_a_township_page_pages_its_hundreds_and_filters_by_state(tmp_path: Path) -> None:
    async with site(tmp_path) as st:
        everyone = st.district.cameras_in(TOWN_A)
        assert len(everyone) > 2 * CARDS_PER_PAGE
        async with signed_in(st.base, "admin") as s:
            seen: list[str] = []
            pages = -(-len(everyone) // CARDS_PER_PAGE)
            for n in range(1, pages + 1):
                status, html = await page(s, f"{st.base}/grid/{TOWN_A}?page={n}")
                assert status == 200
                ids = card_ids(html)
                assert len(ids) == min(CARDS_PER_PAGE, len(everyone) - len(seen))
                seen += ids
                assert f"第 {n} / {pages} 页" in html
                assert ('rel="next"' in html) == (n < pages)
                assert problems(html) == []
            assert sorted(seen) == everyone  # each once, over the pages
            # Broken first across the pages: the states never go back up.
            order = ["offline", "degraded", "unknown", "online"]
            ranks = [order.index(st.district.fleet.state_of(c) or "online") for c in seen]
            assert ranks == sorted(ranks)
            # A page past the end shows the last one; nonsense shows the first.
            _, last = await page(s, f"{st.base}/grid/{TOWN_A}?page=999")
            assert f"第 {pages} / {pages} 页" in last
            _, first = await page(s, f"{st.base}/grid/{TOWN_A}?page=x")
            assert card_ids(first) == seen[:CARDS_PER_PAGE]
            # One state only: the filter keeps it across pages.
            status, html = await page(s, f"{st.base}/grid/{TOWN_A}?state=offline")
            offline = [c for c in everyone if st.district.fleet.state_of(c) == "offline"]
            assert sorted(card_ids(html)) == sorted(offline)
            assert 'aria-current="true"' in html
            # The villages below, as tiles with their counts.
            for village in (c for c in st.district.index.codes if c.startswith(TOWN_A)):
                if len(village) == len(VILLAGE_A):
                    assert f'href="/grid/{village}"' in html


async def test_an_operator_of_grid_a_gets_404_for_everything_of_grid_b(tmp_path: Path) -> None:
    async with site(tmp_path) as st, signed_in(st.base, "op_a") as s:
        b_name = st.district.directory.name_of(st.b)
        assert b_name is not None
        for path in (
            f"/grid/{GRID_B}", f"/grid/{TOWN_B}", f"/grid/{TOWN_A}", f"/grid/{VILLAGE_A}",
            "/grid/_", "/grid/nonexistent",
        ):  # fmt: skip
            status, html = await page(s, st.base + path)
            assert status == 404, path
            assert NOT_FOUND in html
            assert b_name not in html
            assert problems(html) == []
        # Not even in a list, a count or a filter of its own pages.
        for path in ("/grid", f"/grid/{GRID_A}", f"/grid/{GRID_A}?state=offline"):
            _, html = await page(s, st.base + path)
            assert st.b not in html
            assert b_name not in html


async def test_the_unmapped_cameras_are_for_admins_only(tmp_path: Path) -> None:
    async with site(tmp_path) as st:
        async with signed_in(st.base, "admin") as s:
            status, html = await page(s, f"{st.base}/grid/_")
        assert status == 200
        assert card_ids(html) == [st.unmapped]
        assert "未关联网格的摄像机" in html
        for user in ("op_a", "op_village"):
            async with signed_in(st.base, user) as s:
                status, html = await page(s, f"{st.base}/grid/_")
                assert status == 404
                _, tree = await page(s, f"{st.base}/grid")
                assert "未关联网格" not in tree
                assert st.unmapped not in tree


async def test_crews_have_no_grid_pages(tmp_path: Path) -> None:
    async with site(tmp_path) as st, signed_in(st.base, "crew") as s:
        for path in ("/grid", f"/grid/{GRID_A}", "/map"):
            status, html = await page(s, st.base + path)
            assert status == 403, path
            assert "没有权限" in html


async def test_english_on_request(tmp_path: Path) -> None:
    async with site(tmp_path) as st, signed_in(st.base, "admin") as s:
        status, html = await page(s, f"{st.base}/grid?lang=en")
        assert status == 200
        assert '<html lang="en">' in html
        for words in ("Grid overview", "Offline", "Online rate", "Not in any grid", "Township"):
            assert words in html
        assert "网格总览" not in html
        # The choice sticks (the cookie), on the next page too.
        _, html = await page(s, f"{st.base}/grid/{GRID_A}")
        assert "Cameras" in html
        assert "Network unreachable" in html


async def test_errors_are_pages_for_browsers_and_json_for_scripts(tmp_path: Path) -> None:
    async with site(tmp_path) as st, signed_in(st.base, "admin") as s:
        status, html = await page(s, f"{st.base}/nowhere")
        assert status == 404
        assert NOT_FOUND in html
        assert problems(html) == []
        async with s.get(f"{st.base}/grid/{GRID_B}x") as r:  # no Accept: a script
            assert r.status == 404
            assert r.content_type == "application/json"
            assert await r.json() == {"error": "未找到 / no such grid cell"}
        async with s.get(f"{st.base}/api/cameras/0", headers=BROWSER) as r:  # the API: JSON
            assert r.status == 404
            assert r.content_type == "application/json"
        async with s.get(f"{st.base}/grid/{GRID_A}", headers=BROWSER) as r:
            assert r.headers["Content-Security-Policy"] == CSP
