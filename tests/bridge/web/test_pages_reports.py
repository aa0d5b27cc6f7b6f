"""The reports page (`bridge.web.pages_reports`) on the real aiohttp server on loopback,
behind the real login (`bridge.web.auth`, sessions made through the store), over a real
store holding the known day of tests/bridge/reports/district.py; the report API beside it
(the page links its exports and shares its gate)."""

from __future__ import annotations

import asyncio
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bridge.bus.topics import Topics
from bridge.fleet import Fleet
from bridge.grid import GridIndex
from bridge.secretbox import SecretBox
from bridge.settings import HttpSettings, Settings, StoreSettings
from bridge.store import Store, sqlite_url
from bridge.users.model import Role, User
from bridge.users.passwords import hash_password
from bridge.users.tokens import digest, new_csrf_token, new_session_id
from bridge.web import pages_reports, reports_api
from bridge.web.app_context import WebContext
from bridge.web.auth import SESSION_COOKIE, Auth
from bridge.web.directory import CameraDirectory
from bridge.web.server import WebServer
from tests.bridge.reports.district import (
    ADDED,
    GRID_A,
    GRID_B,
    NAMES,
    TOWN,
    VILLAGE_A,
    VILLAGE_B,
    fill,
)
from tests.bridge.web.html_check import problems
from tests.bridge.web.support import free_port

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 11:00 on 27 November in China
DAY = "from=2026-11-01&to=2026-11-01"
PASSWORD_HASH = hash_password("门卫室-Pass#2026")


@dataclass
class Site:
    base: str
    store: Store

    @asynccontextmanager
    async def browser(self, name: str, lang: str = "zh") -> AsyncIterator[aiohttp.ClientSession]:
        session_id = new_session_id()
        await self.store.create_session(
            digest(session_id), name, new_csrf_token(), NOW, NOW + timedelta(hours=12)
        )
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(
            cookie_jar=jar, cookies={SESSION_COOKIE: session_id, "lang": lang}
        ) as s:
            yield s

    async def get(self, s: aiohttp.ClientSession, query: str = "", status: int = 200) -> str:
        async with s.get(f"{self.base}/reports{query}", allow_redirects=False) as r:
            text = await r.text()
            assert r.status == status, (query, r.status, text[:300])
            assert problems(text) == [], query
            return text


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path),
        http=HttpSettings(listen=f"127.0.0.1:{free_port()}"),
    )
    async with Store(
        sqlite_url(tmp_path), SecretBox(SecretBox.generate_key()), now=lambda: ADDED
    ) as store:
        await fill(store)
        index = GridIndex(await store.load_grid())
        views = await store.list_cameras()
        fleet = Fleet(Topics("gb"))
        fleet.load(views, index, ADDED)
        directory = CameraDirectory(fleet)
        directory.load(index, views)
        ctx = WebContext(settings=settings, store=store, directory=directory, now=lambda: NOW)
        auth = Auth()
        server = WebServer(
            ctx,
            middlewares=[auth.middleware],
            features=[auth.feature, reports_api.feature, pages_reports.feature],
        )
        for name, role, scope in (
            ("admin", Role.ADMIN, None),
            ("张三", Role.OPERATOR, GRID_A),
            ("李四", Role.OPERATOR, TOWN),
            ("王师傅", Role.CREW, None),
        ):
            await store.add_user(User(name, role, scope, False, ADDED), PASSWORD_HASH)
        async with server:
            yield Site(f"http://{settings.http.listen}", store)


def table(page: str) -> list[list[str]]:
    """The report table's lines as text cells."""
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    lines = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        lines.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return lines


def chart(page: str) -> ET.Element:
    svg = re.search(r"<svg xmlns=.*?</svg>", page, re.S)
    assert svg is not None
    return ET.fromstring(svg.group(0))


async def test_the_admin_sees_every_area_ranked_with_the_chart(site: Site) -> None:
    async with site.browser("admin") as s:
        html = await site.get(s, f"?by=grid&{DAY}")
    assert table(html) == [
        ["1", f"{NAMES[GRID_A]} {GRID_A}", "2", "48.0", "45.8%", "43.8%"],
        ["2", f"{NAMES[GRID_B]} {GRID_B}", "2", "48.0", "50.0%", "50.0%"],
        ["3", "未关联网格", "1", "12.0", "100.0%", "100.0%"],
        ["", "合计", "4", "84.0", "69.0%", "67.9%"],  # each camera once
    ]
    assert "东村&lt;一&gt;网格 &amp; &#39;A&#39;" in html  # a name from the grid file, escaped
    svg = chart(html)
    texts = ["".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "45.8%" in texts
    assert "50.0%" in texts
    assert "100.0%" in texts
    assert "2026-11-01 至 2026-11-01，按网格统计，在线率低的排在前面" in texts
    assert "图中为在线率最低的 3 个区域" in html
    # Exports: the API with the same parameters.
    query = "by=grid&amp;from=2026-11-01&amp;to=2026-11-01&amp;per=total&amp;rank=online"
    assert f'href="/api/reports/online-rate?{query}&amp;format=csv"' in html
    assert f'href="/api/reports/online-rate?{query}&amp;format=xlsx"' in html
    assert "监测时长" in html
    assert "完好时长" in html
    assert "docs/reports.md" in html


async def test_the_hours_gridbridge_was_not_running_are_said_and_left_out(site: Site) -> None:
    # The daemon ran all along but for 02:00–05:00 on 1 November (China time: 18:00–21:00
    # UTC the day before), when it was stopped for maintenance.
    stopped = datetime(2026, 10, 31, 18, 0, tzinfo=UTC)
    first = await site.store.start_run(datetime(2026, 10, 1, tzinfo=UTC))
    await site.store.end_run(first, stopped)
    second = await site.store.start_run(stopped + timedelta(hours=3))
    await site.store.run_alive(second, NOW)
    async with site.browser("admin") as s:
        page = await site.get(s, f"?by=grid&{DAY}")
    assert "期间 gridbridge 有 1 段未运行（共 3.0 小时），这段时间无人监测，不计入监测时长" in page
    assert "11-01 02:00 – " in page
    assert "11-01 05:00" in page
    [*_, total] = table(page)
    assert total[3] == "75.0"  # 84 hours less 3 for each of the 3 cameras monitored then


async def test_an_operator_sees_only_its_rows(site: Site) -> None:
    async with site.browser("张三") as s:
        html = await site.get(s, f"?by=grid&{DAY}")
        assert [line[1] for line in table(html)] == [f"{NAMES[GRID_A]} {GRID_A}", "合计"]
        shown = html.split('<details class="definitions">')[0]
        for other in (NAMES[GRID_B], GRID_B, "未关联网格", "100.0%"):
            assert other not in shown
        names = [
            "".join(t.itertext()) for t in chart(html).iter("{http://www.w3.org/2000/svg}text")
        ]
        assert not any(NAMES[GRID_B] in n for n in names)
        assert "统计范围：" in html
        assert "（网格）" in html
        # Its grid is the finest level: village and township are not offered (no rows).
        assert '<option value="village"' not in html
        assert '<option value="township"' not in html
        html = await site.get(s, f"?by=village&{DAY}")  # not offered: its own level instead
        assert [line[1] for line in table(html)] == [f"{NAMES[GRID_A]} {GRID_A}", "合计"]
    async with site.browser("李四") as s:  # a township's operator: its villages by default
        html = await site.get(s, "")
        assert '<option value="village" selected>' in html
        codes = [line[1].split()[-1] for line in table(html)]
        assert sorted(codes[:-1]) == [VILLAGE_A, VILLAGE_B]
        assert codes[-1] == "合计"


async def test_defaults_this_month_so_far_and_per_day(site: Site) -> None:
    async with site.browser("admin") as s:
        html = await site.get(s)
        assert 'name="from" value="2026-11-01"' in html
        assert 'name="to" value="2026-11-27"' in html
        assert '<option value="township" selected>' in html
        assert "统计截至 今天 11:00" in html
        html = await site.get(s, "?by=township&from=2026-11-01&to=2026-11-02&per=day")
        lines = table(html)
        assert [line[2] for line in lines] == ["2026-11-01"] * 3 + ["2026-11-02"] * 3
        assert [line[1] for line in lines if line[0] == ""] == ["合计", "合计"]
        # The chart ranks the whole period: each area's days summed.
        names = [
            "".join(t.itertext()) for t in chart(html).iter("{http://www.w3.org/2000/svg}text")
        ]
        assert "2026-11-01 至 2026-11-02，按乡镇/街道统计，在线率低的排在前面" in names
    async with site.browser("admin", lang="en") as s:
        html = await site.get(s, f"?by=grid&{DAY}&rank=intact")
        assert "Not in any grid" in html
        assert "Online time" in html
        assert "2026-11-01 to 2026-11-01, by Grid, lowest Intact rate first" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?from=2026-11-31&to=2026-12-01", "日期不正确"),
        ("?from=20261101&to=2026-11-02", "日期不正确"),
        ("?from=2026-11-02&to=2026-11-01", "结束日期早于开始日期"),
        ("?from=2025-01-01&to=2026-01-02", "一次最多统计 366 天"),
        ("?from=2026-11-28&to=2026-11-30", "开始日期还没有到"),
    ],
)
async def test_bad_dates_are_said_beside_the_form(site: Site, query: str, message: str) -> None:
    async with site.browser("admin") as s:
        html = await site.get(s, query, status=400)
    assert message in html
    assert 'class="report-form"' in html
    assert "<table" not in html


async def test_crews_get_403_and_strangers_the_login(site: Site) -> None:
    async with site.browser("王师傅") as s:
        html = await site.get(s, f"?by=grid&{DAY}", status=403)
        assert "没有权限" in html
        assert NAMES[GRID_A] not in html
    url = f"{site.base}/reports"
    async with aiohttp.ClientSession() as s, s.get(url, allow_redirects=False) as r:
        assert r.status == 303
        assert r.headers["Location"] == "/login?next=/reports"


async def test_a_long_table_stops_and_says_so(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages_reports, "MAX_LINES", 2)
    async with site.browser("admin") as s:
        html = await site.get(s, f"?by=grid&{DAY}")
    assert len(table(html)) == 2
    assert "表格只显示前 2 行，完整数据请导出。" in html


def test_english_definitions_match_the_chinese_ones() -> None:
    assert len(pages_reports.DEFINITIONS_EN) == len(pages_reports.DEFINITIONS)


async def test_a_busy_gate_is_said_on_the_page(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports_api, "WAIT_S", 0.2)
    blocked = asyncio.Event()
    release = asyncio.Event()
    real = pages_reports.online_rate_report

    async def slow(*args: object, **kwargs: object) -> object:
        blocked.set()
        await release.wait()
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pages_reports, "online_rate_report", slow)
    async with site.browser("admin") as s:
        first = asyncio.create_task(site.get(s, f"?by=grid&{DAY}"))
        await blocked.wait()
        # The API waits for the page's report as for its own, then says it is busy.
        async with s.get(f"{site.base}/api/reports/online-rate?by=grid&{DAY}") as r:
            assert r.status == 503
        monkeypatch.setattr(pages_reports, "online_rate_report", real)
        html = await site.get(s, f"?by=grid&{DAY}", status=503)
        assert "正在计算另一份报表" in html
        release.set()
        assert "45.8%" in await first
