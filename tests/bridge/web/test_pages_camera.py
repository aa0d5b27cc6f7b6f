"""The camera pages (``/camera/{id}``, its 刷新画面 form, ``/camera/{id}/live``) over the real
server, the real login and a real store with the demo district
(tests/bridge/web/pages_support.py); and the transition log's query behind the timeline."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import aiohttp

from bridge.model import CameraState
from bridge.secretbox import SecretBox
from bridge.settings import Settings, StoreSettings
from bridge.store import Store, sqlite_url
from bridge.web.cameras_api import RECHECK_EVERY_S
from health.verdict import FAULT_LABELS_ZH
from tests.bridge.web.html_check import problems, states_shown
from tests.bridge.web.pages_support import BROWSER, NOW, page, signed_in, site
from tests.bridge.web.support import T0, load_district

NOT_FOUND = "找不到这个页面"


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m is not None
    return m.group(1)


async def test_the_camera_page_shows_picture_history_timeline_order_and_details(
    tmp_path: Path,
) -> None:
    async with site(tmp_path) as st, signed_in(st.base, "op_a") as s:
        status, html = await page(s, f"{st.base}/camera/{st.a}")
        assert status == 200
        assert problems(html) == []
        info = st.district.fleet.camera(st.a)
        assert info is not None
        name = info.info.name
        assert f"<h1>{name}</h1>" in html
        # The latest full picture, refreshed by app.js, and three earlier ones, newest first.
        assert f'<img src="/api/cameras/{st.a}/snapshot.jpg" alt="{name}的最新画面"' in html
        history = re.findall(rf'href="(/api/cameras/{st.a}/history/\d{{8}}T\d{{12}}Z\.jpg)"', html)
        assert len(history) == 3
        assert history == sorted(history, reverse=True)
        # The timeline: newest first, in China time, states as words, faults in Chinese.
        timeline = html[html.index('class="changes"') :]
        assert states_shown(timeline)[:2] == ["online", "offline"]
        assert states_shown(timeline)[-2:] == ["unknown", "online"]
        assert "3 小时前（今天 11:30）" in timeline  # 03:30 UTC
        assert FAULT_LABELS_ZH["unreachable"] in timeline
        assert FAULT_LABELS_ZH["blur"] in timeline
        # The open order, linking to the crews' order page.
        order = st.desk.book.order_of(st.a)
        assert order is not None
        assert f'href="/orders/{order.id}"' in html
        assert "派单" in html
        # Inventory details and the way up the grid.
        for text in (info.info.address, st.a, "陈桥社区第1网格", "东关街道"):
            assert text in html
        # The buttons: a POST form with the CSRF token, and the live view.
        assert f'action="/camera/{st.a}/recheck"' in html
        assert 'data-confirm="现在向摄像机要一张新画面？"' in html
        assert f'href="/camera/{st.a}/live"' in html


async def test_a_camera_without_pictures_or_history_says_so(tmp_path: Path) -> None:
    async with site(tmp_path) as st, signed_in(st.base, "op_a") as s:
        status, html = await page(s, f"{st.base}/camera/{st.no_picture}")
        assert status == 200
        assert problems(html) == []
        assert "还没有这台摄像机的画面" in html
        assert "还没有历史画面" in html
        assert "没有未完成的维修工单" in html
        assert f"/api/cameras/{st.no_picture}/snapshot.jpg" not in html


async def test_refresh_asks_for_a_recheck_once_per_ten_seconds(tmp_path: Path) -> None:
    async with site(tmp_path) as st, signed_in(st.base, "op_a") as s:
        _, html = await page(s, f"{st.base}/camera/{st.a}")
        token = csrf_of(html)
        url = f"{st.base}/camera/{st.a}/recheck"
        # Without the form's token: refused, nothing asked.
        async with s.post(url, data={}, headers=BROWSER, allow_redirects=False) as r:
            assert r.status == 403
        async with s.post(url, data={"csrf_token": "x" * 43}, allow_redirects=False) as r:
            assert r.status == 403
        assert st.rechecks == []
        # With it: asked, and back to the page with the notice.
        async with s.post(url, data={"csrf_token": token}, allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == f"/camera/{st.a}?notice=refresh"
        assert st.rechecks == [st.a]
        _, html = await page(s, f"{st.base}/camera/{st.a}?notice=refresh")
        assert "已请求刷新，约 1 分钟内更新" in html
        # Again at once: the API's limit (shared), said kindly, nothing asked.
        st.clock.now += 3
        async with s.post(url, data={"csrf_token": token}, allow_redirects=False) as r:
            assert r.headers["Location"] == f"/camera/{st.a}?notice=wait&wait=7"
        async with s.post(f"{st.base}/api/cameras/{st.a}/recheck",
                          headers={"X-CSRF-Token": token}) as r:  # fmt: skip
            assert r.status == 429
        assert st.rechecks == [st.a]
        _, html = await page(s, f"{st.base}/camera/{st.a}?notice=wait&wait=7")
        assert "刚刚已请求过刷新，请 7 秒后再试" in html
        st.clock.now += RECHECK_EVERY_S
        async with s.post(url, data={"csrf_token": token}, allow_redirects=False) as r:
            assert r.headers["Location"] == f"/camera/{st.a}?notice=refresh"
        # A camera that is not checked (no address) says so.
        no_address = f"{st.base}/camera/{st.no_address}/recheck"
        async with s.post(no_address, data={"csrf_token": token}, allow_redirects=False) as r:
            assert r.headers["Location"] == f"/camera/{st.no_address}?notice=no_address"
        _, html = await page(s, f"{st.base}/camera/{st.no_address}?notice=no_address")
        assert "没有登记网络地址" in html
        # A notice that is not one of ours shows nothing (nothing of the URL is echoed).
        _, html = await page(s, f"{st.base}/camera/{st.a}?notice=<b>hi</b>")
        assert "<b>hi</b>" not in html
        assert "&lt;b&gt;" not in html


async def test_scoping_and_roles_of_the_camera_pages(tmp_path: Path) -> None:
    async with site(tmp_path) as st:
        b_name = st.district.directory.name_of(st.b)
        assert b_name is not None
        async with signed_in(st.base, "op_a") as s:
            nobody = "/camera/41990100011326009999"  # no such camera: the same answer
            for path in (f"/camera/{st.b}", f"/camera/{st.b}/live", f"/camera/{st.unmapped}",
                         nobody, f"{nobody}/live"):  # fmt: skip
                status, html = await page(s, st.base + path)
                assert status == 404, path
                assert NOT_FOUND in html
                assert b_name not in html
            _, html = await page(s, f"{st.base}/camera/{st.a}")
            token = csrf_of(html)
            async with s.post(f"{st.base}/camera/{st.b}/recheck", data={"csrf_token": token},
                              headers=BROWSER, allow_redirects=False) as r:  # fmt: skip
                assert r.status == 404
            assert st.rechecks == []
        # Admins see the unmapped camera, its breadcrumb leading to 未关联网格.
        async with signed_in(st.base, "admin") as s:
            status, html = await page(s, f"{st.base}/camera/{st.unmapped}")
            assert status == 200
            assert 'href="/grid/_"' in html
            assert problems(html) == []
        # Crews have their orders' pages: no camera page, no live view, no recheck.
        async with signed_in(st.base, "crew") as s:
            for path in (f"/camera/{st.a}", f"/camera/{st.a}/live"):
                status, html = await page(s, st.base + path)
                assert status == 403, path
                assert "没有权限" in html
            token = csrf_of(html)
            async with s.post(f"{st.base}/camera/{st.a}/recheck", data={"csrf_token": token},
                              headers=BROWSER, allow_redirects=False) as r:  # fmt: skip
                assert r.status == 403
        assert st.rechecks == []


async def test_the_live_page_shows_the_stream_and_what_the_script_needs(tmp_path: Path) -> None:
    async with site(tmp_path) as st:
        for user in ("op_a", "admin"):
            async with signed_in(st.base, user) as s:
                status, html = await page(s, f"{st.base}/camera/{st.a}/live")
                assert status == 200
                assert problems(html) == []
                name = st.district.directory.name_of(st.a)
                assert f'src="/api/cameras/{st.a}/live.mjpeg"' in html
                assert f'alt="{name}的实时画面"' in html
                assert "data-live-img" in html
                assert 'data-max-s="600"' in html  # http.live_max_s: 继续观看 after it
                assert "已连续观看 10 分钟，实时画面已暂停。" in html
                assert "继续观看" in html
                assert f'href="/camera/{st.a}"' in html  # back, which ends the stream
        async with signed_in(st.base, "op_a") as s:
            _, html = await page(s, f"{st.base}/camera/{st.a}/live?lang=en")
            assert "Keep watching" in html
            assert 'data-lang="en"' in html


async def test_the_pages_need_a_login(tmp_path: Path) -> None:
    async with site(tmp_path) as st, aiohttp.ClientSession() as s:
        for path in (f"/camera/{st.a}", f"/camera/{st.a}/live", "/grid", "/map"):
            async with s.get(st.base + path, headers=BROWSER, allow_redirects=False) as r:
                assert r.status == 303
                assert r.headers["Location"].startswith("/login?next=")
        async with s.post(f"{st.base}/camera/{st.a}/recheck", allow_redirects=False) as r:
            assert r.status == 303
        assert st.rechecks == []


async def test_transitions_of_a_camera_newest_first_and_limited(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with Store(sqlite_url(data), SecretBox(SecretBox.generate_key())) as store:
        district = await load_district(Settings(store=StoreSettings(data_dir=data)), store)
        cam, other = district.cameras_in("419901001001001")[:2]
        old = CameraState.UNKNOWN
        for i in range(6):
            new = CameraState.OFFLINE if i % 2 else CameraState.ONLINE
            faults = ("unreachable",) if new is CameraState.OFFLINE else ()
            at = T0 + timedelta(minutes=i)
            await store.record_transition(cam, at, old, new, faults, f"step {i}")
            old = new
        await store.record_transition(other, NOW, CameraState.UNKNOWN, CameraState.ONLINE, (), "")
        logged = await store.transitions_of(cam, 4)
        assert [t.reason for t in logged] == ["step 5", "step 4", "step 3", "step 2"]
        assert [t.at for t in logged] == [T0 + timedelta(minutes=m) for m in (5, 4, 3, 2)]
        assert all(t.at.tzinfo is not None for t in logged)
        assert {t.to_state for t in logged} <= {"online", "offline"}
        assert all((t.faults == ("unreachable",)) == (t.to_state == "offline") for t in logged)
        assert len(await store.transitions_of(cam)) == 6
        assert await store.transitions_of("41990100011326009999") == []
