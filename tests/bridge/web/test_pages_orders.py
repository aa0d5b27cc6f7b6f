"""The crews' pages (`bridge.web.pages_orders`) on the real aiohttp server on loopback, behind
the real login (`bridge.web.auth`: sessions made through the store, CSRF checked), over a
real store (SQLite under tmp_path) holding the demo district, with the real work-order desk
and order book: orders are opened by feeding the desk transitions, as the daemon does."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bridge.coords import wgs84_to_gcj02
from bridge.model import CameraState
from bridge.secretbox import SecretBox
from bridge.settings import HttpSettings, Settings, StoreSettings
from bridge.store import Store, sqlite_url
from bridge.tracker import Transition
from bridge.users.model import Role, User
from bridge.users.passwords import hash_password
from bridge.users.tokens import digest, new_csrf_token, new_session_id
from bridge.web import orders_api, pages_orders
from bridge.web.app_context import WebContext
from bridge.web.auth import SESSION_COOKIE, Auth
from bridge.web.server import WebServer
from bridge.workorder_desk import WorkOrderDesk
from bridge.workorders.model import Order, Step
from bridge.workorders.webhook_format import CHINA_TZ
from health.verdict import CameraHealth
from tests.bridge.web.html_check import problems
from tests.bridge.web.support import GRID_A, GRID_B, District, free_port, load_district

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 09:00 in China
PASSWORD_HASH = hash_password("门卫室-Pass#2026")  # once: scrypt is slow on purpose
ORDER_ID = re.compile(r'<dd class="code">(WO-[0-9A-Z-]+)</dd>')


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    base: str
    store: Store
    desk: WorkOrderDesk
    clock: Clock
    district: District
    orders: dict[str, str] = field(default_factory=dict)  # camera id → its order

    def order(self, order_id: str) -> Order:
        order = self.desk.book.order(order_id)
        assert order is not None
        return order

    async def user(self, name: str, role: Role, scope: str | None = None) -> None:
        await self.store.add_user(User(name, role, scope, False, T0), PASSWORD_HASH)

    @asynccontextmanager
    async def browser(self, name: str, lang: str = "zh") -> AsyncIterator[aiohttp.ClientSession]:
        """A browser signed in as ``name``: a session made in the store, as a login does."""
        session_id = new_session_id()
        now = self.clock.now
        await self.store.create_session(
            digest(session_id), name, new_csrf_token(), now, now + timedelta(hours=12)
        )
        jar = aiohttp.CookieJar(unsafe=True)  # keep cookies of 127.0.0.1
        cookies = {SESSION_COOKIE: session_id, "lang": lang}
        async with aiohttp.ClientSession(cookie_jar=jar, cookies=cookies) as s:
            yield s

    async def down(self, camera_id: str, *, picture: str | None = None) -> str:
        """Take the camera down now and open its order (the debounce passed); its id."""
        at = self.clock.now
        if picture is not None:  # a good picture before the fault: the order's before-picture
            await self.desk.on_look(camera_id, at, True, picture)
        t = Transition(camera_id, at, CameraState.ONLINE, CameraState.OFFLINE, ("unreachable",),
                       False, "no answer")  # fmt: skip
        await self.desk.on_transition(t, CameraHealth(CameraState.OFFLINE, ("unreachable",), ""))
        self.clock.now += timedelta(minutes=5)
        self.desk._take(self.desk.book.tick(self.clock.now))
        await self.desk.flush()
        order = self.desk.book.order_of(camera_id)
        assert order is not None
        self.orders[camera_id] = order.id
        return order.id

    async def tick(self, later: timedelta) -> None:
        self.clock.now += later
        self.desk._take(self.desk.book.tick(self.clock.now))
        await self.desk.flush()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path),
        http=HttpSettings(listen=f"127.0.0.1:{free_port()}"),
    )
    clock = Clock()
    async with Store(sqlite_url(tmp_path), SecretBox(SecretBox.generate_key())) as store:
        district = await load_district(settings, store)
        desk = WorkOrderDesk(
            store, settings, town_of=lambda c: district.fleet.paths_of(c)[0].town, now=clock
        )
        await desk.load(await store.list_cameras())
        ctx = WebContext(
            settings=settings, store=store, directory=district.directory, desk=desk, now=clock
        )
        auth = Auth()
        server = WebServer(
            ctx,
            middlewares=[auth.middleware],
            features=[auth.feature, orders_api.feature, pages_orders.feature],
        )
        async with server:
            st = Site(f"http://{settings.http.listen}", store, desk, clock, district)
            await st.user("王师傅", Role.CREW, GRID_A)
            await st.user("李师傅", Role.CREW)  # the district's crew: no scope
            await st.user("张三", Role.OPERATOR, GRID_A)
            await st.user("admin", Role.ADMIN)
            yield st


def csrf_of(page: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m is not None, page
    return m.group(1)


async def page(s: aiohttp.ClientSession, url: str, status: int = 200) -> str:
    async with s.get(url, allow_redirects=False) as r:
        text = await r.text()
        assert r.status == status, (url, r.status, text[:500])
        if r.content_type == "text/html":
            assert problems(text) == [], url
        return text


async def step(s: aiohttp.ClientSession, url: str, data: dict[str, str]) -> tuple[int, str, str]:
    async with s.post(url, data=data, allow_redirects=False) as r:
        return r.status, r.headers.get("Location", ""), await r.text()


# --- the walk ---------------------------------------------------------------------------------


async def test_a_crew_walks_its_order_through_the_page(site: Site) -> None:
    cam = site.district.cameras_in(GRID_A)[0]
    order_id = await site.down(cam)
    url = f"{site.base}/orders/{order_id}"
    async with site.browser("王师傅") as s:
        listing = await page(s, f"{site.base}/orders")
        assert order_id in listing
        assert 'name="step" value="accepted"' in listing  # the card's own button
        for step_value, note, word in (
            ("accepted", "", "接单"),
            ("on_site", "交换机断电", "到场"),
            ("repaired", "更换电源", "修复"),
        ):
            site.clock.now += timedelta(minutes=20)
            html = await page(s, url)
            assert f'name="step" value="{step_value}"' in html
            assert f'data-confirm="确定要「{word}」吗？"' in html
            status, location, _ = await step(
                s, f"{url}/step", {"step": step_value, "note": note, "csrf_token": csrf_of(html)}
            )
            assert status == 303
            assert location == f"/orders/{order_id}?done={step_value}"
            done = await page(s, site.base + location)
            assert f"已记录「{word}」" in done
        assert site.order(order_id).state is Step.REPAIRED
        # No crew step is left: the daemon verifies the repair.
        assert 'name="step"' not in done
        assert "等待系统验收" in done
        # The history says who did what, with the notes, in China time.
        assert done.count("王师傅") >= 3
        assert "交换机断电" in done
        assert "更换电源" in done
        assert "派单" in done
        assert "系统" in done
    history = await site.desk.history(order_id)
    assert [(e.step, e.actor, e.note) for e in history] == [
        ("open", "system", history[0].note),
        ("accepted", "王师傅", ""),
        ("on_site", "王师傅", "交换机断电"),
        ("repaired", "王师傅", "更换电源"),
    ]


async def test_a_step_without_the_csrf_token_is_refused(site: Site) -> None:
    order_id = await site.down(site.district.cameras_in(GRID_A)[0])
    url = f"{site.base}/orders/{order_id}/step"
    async with site.browser("王师傅") as s:
        for form in ({"step": "accepted"}, {"step": "accepted", "csrf_token": "forged"}):
            status, _, body = await step(s, url, form)
            assert status == 403
            assert "CSRF" in body  # a script's post: JSON
        # A browser's post of a stale form: a page that says what to do.
        token_less = {"step": "accepted", "csrf_token": "stale"}
        async with s.post(url, data=token_less, headers={"Accept": "text/html"}) as r:
            assert r.status == 403
            assert r.content_type == "text/html"
            html = await r.text()
            assert "请刷新页面后再操作一次" in html
            assert problems(html) == []
    assert site.order(order_id).state is Step.OPEN


async def test_a_refused_step_shows_its_reason_on_the_page(site: Site) -> None:
    order_id = await site.down(site.district.cameras_in(GRID_A)[0])
    url = f"{site.base}/orders/{order_id}"
    async with site.browser("王师傅") as s:
        token = csrf_of(await page(s, url))
        # 修复 before 接单 (another crew's old page, a double tap): refused, with the reason.
        status, _, html = await step(s, f"{url}/step", {"step": "repaired", "csrf_token": token})
        assert status == 409
        assert problems(html) == []
        assert "没有完成「修复」" in html
        assert "当前为「派单」，下一步应为「接单」" in html
        assert "/ order" not in html  # the Chinese half only
        assert 'name="step" value="accepted"' in html  # what may be done now
        # Steps that are not a crew's, a note too long: a plain 400 page.
        for form in ({"step": "verified"}, {"step": "accepted", "note": "很" * 501}, {}):
            status, _, html = await step(s, f"{url}/step", {**form, "csrf_token": token})
            assert status == 400
            assert "请求有误" in html
        # 结案 by hand is for admins on the page.
        form = {"step": "closed", "note": "误报", "csrf_token": token}
        status, _, html = await step(s, f"{url}/step", form)
        assert status == 403
    async with site.browser("王师傅", lang="en") as s:
        token = csrf_of(await page(s, url))
        status, _, html = await step(s, f"{url}/step", {"step": "on_site", "csrf_token": token})
        assert status == 409
        assert "Not done: I am on site" in html
        assert "the next step is accepted, not on_site" in html
        assert "下一步应为" not in html
    assert site.order(order_id).state is Step.OPEN


async def test_an_operator_reads_orders_without_buttons(site: Site) -> None:
    cam = site.district.cameras_in(GRID_A)[0]
    order_id = await site.down(cam)
    url = f"{site.base}/orders/{order_id}"
    async with site.browser("张三") as s:
        listing = await page(s, f"{site.base}/orders")
        assert order_id in listing
        html = await page(s, url)
        assert 'name="step"' not in html
        assert "网格员只能查看工单" in html
        assert f'href="/camera/{cam}"' in html  # operators have camera pages
        status, _, html = await step(
            s, f"{url}/step", {"step": "accepted", "csrf_token": csrf_of(html)}
        )
        assert status == 403
        assert "没有权限" in html
    assert site.order(order_id).state is Step.OPEN


async def test_pages_and_steps_are_scoped(site: Site) -> None:
    order_a = await site.down(site.district.cameras_in(GRID_A)[0])
    order_b = await site.down(site.district.cameras_in(GRID_B)[0])
    [unmapped] = site.district.unmapped()
    order_u = await site.down(unmapped)
    for name in ("王师傅", "张三"):  # a crew and an operator of grid A
        async with site.browser(name) as s:
            listing = await page(s, f"{site.base}/orders")
            token = csrf_of(listing)
            assert order_a in listing
            assert order_b not in listing
            assert order_u not in listing
            for order_id in (order_b, order_u, "WO-20260101-DEADBEEF"):
                html = await page(s, f"{site.base}/orders/{order_id}", status=404)
                assert "不在您负责的网格内" in html
                form = {"step": "accepted", "csrf_token": token}
                status, _, html = await step(s, f"{site.base}/orders/{order_id}/step", form)
                assert status == 404
            closed = await page(s, f"{site.base}/orders?tab=closed")
            assert order_b not in closed
    # The district's crew and the admin see all three, the unmapped camera's too.
    for name in ("李师傅", "admin"):
        async with site.browser(name) as s:
            listing = await page(s, f"{site.base}/orders")
            assert {order_a, order_b, order_u} <= set(ORDER_ID.findall(listing))
    assert site.order(order_b).state is Step.OPEN


# --- the list ---------------------------------------------------------------------------------


async def test_orders_are_sorted_by_deadline_overdue_first(site: Site) -> None:
    fleet = site.district.fleet
    cams = [c.info for c in fleet.cameras()]
    key = next(c.id for c in cams if c.key_location and c.upstream)
    used = {next(c.upstream for c in cams if c.id == key)}
    others = []
    for c in cams:  # cameras behind different devices: no common-cause parent order
        if not c.key_location and c.upstream not in used and len(others) < 3:
            used.add(c.upstream)
            others.append(c.id)
    first = await site.down(others[0])  # normal: 接单 within 24 h
    await site.tick(timedelta(minutes=30))
    second = await site.down(others[1])
    await site.tick(timedelta(minutes=30))
    accepted = await site.down(others[2])
    key_order = await site.down(key)  # 重点部位: 接单 within 2 h
    async with site.browser("李师傅") as s:
        token = csrf_of(await page(s, f"{site.base}/orders"))
        form = {"step": "accepted", "csrf_token": token}
        status, _, _ = await step(s, f"{site.base}/orders/{accepted}/step", form)
        assert status == 303  # now due for repair within 48 h: last
        listing = await page(s, f"{site.base}/orders")
        assert ORDER_ID.findall(listing) == [key_order, first, second, accepted]
        assert re.findall(r"<strong>([^<]*)</strong></dd>", listing) == [
            "还剩 2 小时", "还剩 22 小时", "还剩 23 小时", "还剩 47 小时"
        ]  # fmt: skip
        await site.tick(timedelta(hours=3))  # the key order misses its 2 hours
        assert site.order(key_order).overdue
        listing = await page(s, f"{site.base}/orders")
        assert ORDER_ID.findall(listing) == [key_order, first, second, accepted]
        cards = listing.split('<article class="card order-card')[1:]
        assert "已超时" in cards[0]
        assert "超时 1 小时" in cards[0]
        assert "重点部位" in cards[0]
        assert all("已超时" not in card for card in cards[1:])
        assert "其中 1 张已超时" in listing
        # The escalation in the order's history, its deadline in China time.
        respond_by = site.order(key_order).respond_by.astimezone(CHINA_TZ)
        html = await page(s, f"{site.base}/orders/{key_order}")
        assert f"超过响应时限（{respond_by:%Y-%m-%d %H:%M}）未接单" in html
        # Filters: by progress, and the orders this user took a step of.
        assert ORDER_ID.findall(await page(s, f"{site.base}/orders?state=accepted")) == [accepted]
        assert ORDER_ID.findall(await page(s, f"{site.base}/orders?who=mine")) == [accepted]
        # A late-but-accepted order (its 接单 deadline missed) is still overdue: first.
        form = {"step": "accepted", "csrf_token": token}
        assert (await step(s, f"{site.base}/orders/{key_order}/step", form))[0] == 303
        listing = await page(s, f"{site.base}/orders")
        assert ORDER_ID.findall(listing)[0] == key_order


async def test_a_card_shows_the_place_the_way_there_and_the_picture(site: Site) -> None:
    fleet = site.district.fleet
    cam = next(
        c for c in fleet.cameras() if c.info.lat is not None and c.paths[0].grid == GRID_A
    ).info
    picture = f"{cam.id}/history/20261127T005500000000Z.jpg"
    order_id = await site.down(cam.id, picture=picture)
    async with site.browser("王师傅") as s:
        card = (await page(s, f"{site.base}/orders")).split('<article class="card order-card')[1]
    assert cam.name in card
    assert cam.address in card
    assert "东关街道 › 陈桥社区 › 陈桥社区第1网格" in card
    assert "网络不通" in card
    assert "网络故障" in card
    assert f'href="geo:{cam.lat:.6f},{cam.lon:.6f}?q={cam.lat:.6f},{cam.lon:.6f}"' in card
    assert cam.lat is not None
    assert cam.lon is not None
    glon, glat = wgs84_to_gcj02(cam.lon, cam.lat)
    assert (
        f"https://uri.amap.com/marker?position={glon:.6f},{glat:.6f}&amp;coordinate=gaode" in card
    )
    assert abs(glon - cam.lon) > 1e-3  # in China: the 高德 pin is the converted one
    assert cam.name not in card.split("uri.amap.com")[1].split('"')[0]  # no name to 高德
    img = f'<img src="/api/workorders/{order_id}/before.jpg" alt="{cam.name}故障时的画面"'
    assert f'{img} loading="lazy"' in card
    hours = 2 if cam.key_location else 24  # just opened: the whole time to 接单 is left
    assert f"<strong>还剩 {hours} 小时</strong>" in card


async def test_closed_orders_of_the_last_week_in_their_own_tab(site: Site) -> None:
    old = await site.down(site.district.cameras_in(GRID_A)[0])
    recent = await site.down(site.district.cameras_in(GRID_A)[1])

    async def close(order_id: str, note: str) -> tuple[int, str]:
        async with site.browser("admin") as s:  # a new login: days pass in this test
            html = await page(s, f"{site.base}/orders/{order_id}")
            assert "手工结案" in html
            form = {"step": "closed", "note": note, "csrf_token": csrf_of(html)}
            status, _, html = await step(s, f"{site.base}/orders/{order_id}/step", form)
            return status, html

    status, html = await close(old, "")
    assert status == 409  # closing by hand needs a reason
    assert "手工结案须填写原因" in html
    assert (await close(old, "摄像机已拆除"))[0] == 303
    await site.tick(timedelta(days=6))
    assert (await close(recent, "误报"))[0] == 303
    async with site.browser("admin") as s:
        closed = await page(s, f"{site.base}/orders?tab=closed")
        assert ORDER_ID.findall(closed) == [recent, old]  # the latest first
        assert "近 7 天已结案" in closed
        assert 'name="step"' not in closed
        assert recent not in await page(s, f"{site.base}/orders")
    await site.tick(timedelta(days=2))  # the first closed 8 days ago now
    async with site.browser("admin") as s:
        assert ORDER_ID.findall(await page(s, f"{site.base}/orders?tab=closed")) == [recent]
        html = await page(s, f"{site.base}/orders/{old}")
        assert "摄像机已拆除" in html
        assert "结案" in html
        assert "手工结案" not in html  # closed: nothing left to close


async def test_a_parent_order_shows_the_device_and_only_the_cameras_in_scope(site: Site) -> None:
    by_nvr: dict[str, list[str]] = {}
    paths = {}
    for cam in site.district.fleet.cameras():
        if cam.info.upstream and cam.paths[0].grid != "_":
            by_nvr.setdefault(cam.info.upstream, []).append(cam.info.id)
            paths[cam.info.id] = cam.paths
    nvr, cams = next(
        (nvr, cams)
        for nvr, cams in sorted(by_nvr.items())
        if len({paths[c] for c in cams}) > 1 and any(paths[c][0].grid == GRID_A for c in cams)
    )
    for cam_id in cams:
        t = Transition(cam_id, site.clock.now, CameraState.ONLINE, CameraState.OFFLINE,
                       ("unreachable",), False, "no answer")  # fmt: skip
        await site.desk.on_transition(t, CameraHealth(CameraState.OFFLINE, ("unreachable",), ""))
    await site.tick(timedelta(minutes=5))
    parent = site.desk.book.order_of(cams[0])
    assert parent is not None
    assert parent.upstream == nvr
    mine = [c for c in cams if paths[c][0].grid == GRID_A]
    theirs = [c for c in cams if c not in mine]
    async with site.browser("王师傅") as s:
        html = await page(s, f"{site.base}/orders/{parent.id}")
    assert f"<h1>上游设备故障：{len(mine)} 台摄像机</h1>" in html  # those it may see
    assert f"上游设备：<strong>{nvr}</strong>" in html
    for cam_id in mine:
        assert cam_id in html
    for cam_id in theirs:
        assert cam_id not in html
        name = site.district.directory.name_of(cam_id)
        assert name is not None
        assert name not in html
    assert 'href="/camera/' not in html  # crews have no camera pages


def test_map_links() -> None:
    assert (
        pages_orders.geo_url(32.082641, 114.13212)
        == "geo:32.082641,114.132120?q=32.082641,114.132120"
    )
    url = pages_orders.amap_url(32.082641, 114.13212)
    glon, glat = wgs84_to_gcj02(114.13212, 32.082641)
    assert url == (
        f"https://uri.amap.com/marker?position={glon:.6f},{glat:.6f}"
        "&coordinate=gaode&callnative=1&src=gridbridge"
    )
    # GCJ-02 lies a few hundred metres off WGS-84 in China.
    assert 0.001 < abs(glon - 114.13212) + abs(glat - 32.082641) < 0.01
