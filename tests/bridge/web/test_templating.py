"""The page foundation against a real aiohttp server on loopback: base.html and the macros
with sample data (tests/bridge/web/sample_pages.py), the security headers, the language
switch, the error pages and the static files."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bridge.web import static_files, templating
from bridge.web.templating import CSP, environment
from tests.bridge.web.html_check import problems, states_shown
from tests.bridge.web.sample_pages import app as sample_app
from tests.bridge.web.sample_pages import demo_district

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    from bridge.web.map_svg import render_map

    cells, points = demo_district()
    village = next(c.code for c in cells if c.level.value == "village")
    server = TestServer(sample_app(render_map(cells, points, root=village)), host="127.0.0.1")
    async with TestClient(server) as client:
        yield client


def test_every_template_compiles() -> None:
    names = environment().list_templates()
    assert {"base.html", "macros.html", "error.html"} <= set(names)
    for name in names:
        environment().get_template(name)


@pytest.mark.parametrize("path", ["/sample/grid", "/sample/orders?role=crew", "/sample/map"])
async def test_sample_pages_are_clean(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status == 200
    html = await response.text()
    assert problems(html) == []
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in CSP
    assert "unsafe-inline" not in CSP
    assert response.content_type == "text/html"
    assert response.charset == "utf-8"


async def test_grid_page_shows_states_as_words_and_escapes_names(client: Client) -> None:
    html = await (await client.get("/sample/grid")).text()
    # Broken first in the counts; every card's badge with its word.
    assert states_shown(html)[:4] == ["offline", "degraded", "unknown", "online"]
    for word in ("离线", "异常", "未检测", "在线", "网络不通", "模糊、亮度异常", "重点"):
        assert word in html
    assert "赵营村桥头&lt;b&gt;" in html
    assert "赵营村桥头<b>" not in html
    assert "示范区赵营村桥头 &amp; 路口" in html
    assert 'loading="lazy"' in html
    assert 'alt="陈桥社区东门的最新画面"' in html
    assert "3 小时前（今天 11:30）" in html
    # One click from grid to picture: the card's link opens the camera.
    assert 'href="/camera/41990100011326000001"' in html
    # The user, the role, the way out (with the CSRF token), the main navigation.
    assert "王秀兰" in html
    assert "网格员" in html
    assert 'action="/logout"' in html
    assert 'value="csrf-sample-token"' in html
    for label in ("网格", "地图", "工单", "报表"):
        assert f"<span>{label}</span>" in html
    assert 'href="#main"' in html
    assert '<main id="main"' in html
    assert html.count('aria-current="page"') == 1  # the breadcrumb's own page only


async def test_crew_sees_orders_only_and_next_steps(client: Client) -> None:
    html = await (await client.get("/sample/orders?role=crew")).text()
    assert "<span>工单</span>" in html
    assert "<span>网格</span>" not in html
    assert 'aria-current="page"' not in html  # /sample/… is not a real section
    for step, button in (("accepted", "接单"), ("on_site", "到场"), ("repaired", "修复")):
        assert f'name="step" value="{step}"' in html
        assert f'data-confirm="确定要「{button}」吗？"' in html
    assert '<textarea name="note"' in html  # only the repaired step takes a note
    assert html.count("<textarea") == 1
    assert "已超时" in html
    assert "超时 4 小时" in html
    assert "还剩 17 小时" in html
    assert "明天 07:30" in html


async def test_operator_sees_orders_without_step_buttons(client: Client) -> None:
    html = await (await client.get("/sample/orders?role=operator")).text()
    assert 'name="step"' not in html


async def test_anonymous_page_has_no_user_nav_or_logout(client: Client) -> None:
    html = await (await client.get("/sample/grid?anon=1")).text()
    assert "/logout" not in html
    assert 'class="main-nav"' not in html
    assert problems(html) == []


async def test_english_switch_sets_a_cookie_that_sticks(client: Client) -> None:
    page = await client.get("/sample/grid")
    html = await page.text()
    assert '<html lang="zh-CN">' in html
    assert 'href="/sample/grid?lang=en"' in html
    assert "Set-Cookie" not in page.headers
    english = await client.get("/sample/grid?lang=en")
    assert "lang=en" in english.headers["Set-Cookie"]
    assert "HttpOnly" in english.headers["Set-Cookie"]
    assert "SameSite=Lax" in english.headers["Set-Cookie"]
    html = await english.text()
    assert '<html lang="en">' in html
    assert "Offline" in html
    assert "Sign out" in html
    assert "Grid Camera Watch" in html
    # The cookie alone keeps the page English; ?lang=zh switches back.
    again = await (await client.get("/sample/orders")).text()
    assert "Orders" in again
    assert '<html lang="en">' in again
    back = await client.get("/sample/grid?lang=zh")
    assert '<html lang="zh-CN">' in await back.text()


@pytest.mark.parametrize(
    ("code", "title"),
    [(404, "找不到这个页面"), (403, "没有权限"), (500, "系统出了点问题"), (418, "请求有误")],
)
async def test_error_pages(client: Client, code: int, title: str) -> None:
    response = await client.get(f"/sample/error/{code}")
    assert response.status == code
    html = await response.text()
    assert f"<h1>{title}</h1>" in html
    assert problems(html) == []
    assert response.headers["Content-Security-Policy"] == CSP
    assert "Traceback" not in html


async def test_static_files_are_versioned_and_cached(client: Client) -> None:
    css = static_files.url_for("app.css")
    assert css.startswith("/static/app.css?v=")
    fresh = await client.get(css)
    assert fresh.status == 200
    assert fresh.content_type == "text/css"
    assert "immutable" in fresh.headers["Cache-Control"]
    assert fresh.headers["X-Content-Type-Options"] == "nosniff"
    again = await client.get(css, headers={"If-None-Match": fresh.headers["ETag"]})
    assert again.status == 304
    unversioned = await client.get("/static/app.js")
    assert unversioned.status == 200
    assert unversioned.headers["Cache-Control"] == "no-cache"
    assert unversioned.content_type == "text/javascript"
    for bad in ("/static/nope.css", "/static/..%2Ftemplating.py", "/static/%2e%2e/i18n.py"):
        assert (await client.get(bad)).status == 404, bad
    icon = await client.get("/favicon.ico", allow_redirects=False)
    assert icon.status == 302
    assert icon.headers["Location"] == static_files.url_for("icon.svg")


def test_pages_reference_only_served_files() -> None:
    for name in ("app.css", "app.js", "icon.svg"):
        assert name in static_files.assets()
    with pytest.raises(KeyError, match="no static file"):
        static_files.url_for("missing.css")


def test_static_files_have_no_external_references() -> None:
    """Intranets have no internet: nothing the page loads may point outside the daemon."""
    for asset in static_files.assets().values():
        text = asset.body.decode("utf-8", "replace")
        for marker in ("http://", "https://", "//cdn", "@import", "url("):
            if marker == "http://" and "http://www.w3.org/2000/svg" in text:
                text = text.replace("http://www.w3.org/2000/svg", "")
            assert marker not in text, (asset.name, marker)


def test_wants_html() -> None:
    from aiohttp.test_utils import make_mocked_request

    page = make_mocked_request("GET", "/grid/1", headers={"Accept": "text/html,*/*"})
    api = make_mocked_request("GET", "/api/cameras", headers={"Accept": "text/html"})
    script = make_mocked_request("GET", "/grid/1", headers={"Accept": "application/json"})
    assert templating.wants_html(page)
    assert not templating.wants_html(api)
    assert not templating.wants_html(script)


def test_autoescape_is_on_for_strings_and_files() -> None:
    env = environment()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert env.autoescape("anything.svg") is True  # type: ignore[operator]
