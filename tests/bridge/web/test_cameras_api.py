"""The cameras and grid API over the real aiohttp server on loopback: the demo district in a
real SQLite store, the real fleet, directory, snapshot store and work-order desk; who asks is
set by the test-only login (tests/bridge/web/support.py).

The acceptance of issue 7: an operator of grid A gets 404 (as for a camera that does not
exist) for grid B's camera, pictures and recheck, and never sees it in a list or the tree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bridge.model import CameraState
from bridge.secretbox import SecretBox
from bridge.settings import HttpSettings, Settings, StoreSettings
from bridge.snapshots import SnapshotStore
from bridge.store import Store, sqlite_url
from bridge.tracker import Transition
from bridge.web import cameras_api, orders_api
from bridge.web.app_context import WebContext
from bridge.web.server import WebServer
from bridge.workorder_desk import WorkOrderDesk
from health.verdict import CameraHealth
from tests.bridge.web.support import (
    GRID_A,
    GRID_B,
    T0,
    TOWN_A,
    VILLAGE_A,
    District,
    free_port,
    header_login,
    load_district,
    who,
)

JPEG = b"\xff\xd8\xff" + b"full" * 500
THUMB = b"\xff\xd8\xff" + b"thumb" * 20


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Api:
    base: str
    district: District
    clock: Monotonic
    desk: WorkOrderDesk
    history_name: str
    a: str  # a camera of grid A, with pictures and an open order
    b: str  # a camera of grid B, with pictures and an open order
    unmapped: str
    rechecks: list[str] = field(default_factory=list)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path),
        http=HttpSettings(listen=f"127.0.0.1:{free_port()}"),
    )
    async with Store(sqlite_url(tmp_path), SecretBox(SecretBox.generate_key())) as store:
        district = await load_district(settings, store)
        a, b = district.cameras_in(GRID_A)[0], district.cameras_in(GRID_B)[0]
        [unmapped] = district.unmapped()
        snapshots = SnapshotStore(tmp_path / "snapshots")
        snapshots.open()
        saved = None
        for cam in (a, b):
            saved = snapshots.save(cam, JPEG, T0, thumb=THUMB)
            district.fleet.on_picture(cam, saved.thumb_sha256)
        assert saved is not None
        assert saved.history is not None
        clock = Monotonic()
        now = T0 + timedelta(minutes=10)
        desk = WorkOrderDesk(
            store, settings, town_of=lambda c: district.fleet.paths_of(c)[0].town,
            now=lambda: now,
        )  # fmt: skip
        await desk.load(await store.list_cameras())
        for cam in (a, b):
            district.set_state(cam, CameraState.OFFLINE, ("unreachable",))
            down = Transition(cam, T0, CameraState.UNKNOWN, CameraState.OFFLINE,
                              ("unreachable",), False, "no answer")  # fmt: skip
            await desk.on_transition(down, CameraHealth(CameraState.OFFLINE, ("unreachable",), ""))
        desk._take(desk.book.tick(now))
        await desk.flush()
        world = Api(
            f"http://{settings.http.listen}", district, clock, desk, saved.history.name,
            a, b, unmapped,
        )  # fmt: skip

        def recheck(camera_id: str) -> bool:
            world.rechecks.append(camera_id)
            return True

        ctx = WebContext(
            settings=settings, store=store, directory=district.directory, desk=desk,
            snapshots=snapshots, recheck=recheck, monotonic=clock,
        )  # fmt: skip
        features = [cameras_api.feature, orders_api.feature]
        async with WebServer(ctx, middlewares=[header_login()], features=features):
            yield world


async def get(s: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, object]:
    async with s.get(url, headers=headers) as r:
        if r.content_type == "application/json":
            return r.status, await r.json()
        return r.status, await r.read()


async def test_an_operator_of_grid_a_gets_nothing_of_grid_b(api: Api) -> None:
    op_a = who("operator", GRID_A)
    cams = f"{api.base}/api/cameras"
    async with aiohttp.ClientSession() as s:
        # Its own camera: everything.
        assert (await get(s, f"{cams}/{api.a}", op_a))[0] == 200
        assert await get(s, f"{cams}/{api.a}/snapshot.jpg", op_a) == (200, JPEG)
        assert await get(s, f"{cams}/{api.a}/snapshot.jpg?size=thumb", op_a) == (200, THUMB)
        assert await get(s, f"{cams}/{api.a}/history/{api.history_name}", op_a) == (200, JPEG)
        # Grid B's camera: 404 everywhere, the same answer as for a camera that is not there.
        for tail in ("", "/snapshot.jpg", "/snapshot.jpg?size=thumb",
                     f"/history/{api.history_name}"):  # fmt: skip
            status, body = await get(s, f"{cams}/{api.b}{tail}", op_a)
            unknown = await get(s, f"{cams}/41990100011326009999{tail}", op_a)
            assert (status, body) == unknown
            assert status == 404
            assert body == {"error": "未找到 / no such camera"}
        async with s.post(f"{cams}/{api.b}/recheck", headers=op_a) as r:
            assert r.status == 404
        assert api.rechecks == []
        # Nor in a list, a search or the tree.
        _, listed = await get(s, f"{cams}?limit=1000", op_a)
        assert isinstance(listed, dict)
        assert {c["id"] for c in listed["cameras"]} == set(api.district.cameras_in(GRID_A))
        _, searched = await get(s, f"{cams}?q={api.b}", op_a)
        assert searched == {"total": 0, "offset": 0, "limit": 100, "cameras": []}
        _, filtered = await get(s, f"{cams}?grid={GRID_B}", op_a)
        assert isinstance(filtered, dict)
        assert filtered["total"] == 0
        _, tree = await get(s, f"{api.base}/api/grid", op_a)
        assert isinstance(tree, dict)
        [town] = tree["nodes"]
        assert town["code"] == TOWN_A
        assert [v["code"] for v in town["children"]] == [VILLAGE_A]
        assert [g["code"] for g in town["children"][0]["children"]] == [GRID_A]
        assert GRID_B not in str(tree)
        # Nor its work order.
        order_b = api.desk.book.order_of(api.b)
        assert order_b is not None
        _, orders = await get(s, f"{api.base}/api/workorders", op_a)
        assert isinstance(orders, list)
        assert [o["cameras"] for o in orders] == [[api.a]]
        for tail in ("", "/before.jpg", "/after.jpg"):
            status, body = await get(s, f"{api.base}/api/workorders/{order_b.id}{tail}", op_a)
            assert (status, body) == (404, {"error": "工单不存在 / no such order"})


async def test_login_is_needed(api: Api) -> None:
    async with aiohttp.ClientSession() as s:
        for path in ("/api/cameras", f"/api/cameras/{api.a}", f"/api/cameras/{api.a}/snapshot.jpg",
                     "/api/grid", "/api/workorders"):  # fmt: skip
            status, body = await get(s, api.base + path, {})
            assert (status, body) == (401, {"error": "需要登录 / login required"})
        async with s.post(f"{api.base}/api/cameras/{api.a}/recheck") as r:
            assert r.status == 401


async def test_admin_sees_every_camera_the_unmapped_too(api: Api) -> None:
    admin = who("admin")
    async with aiohttp.ClientSession() as s:
        _, listed = await get(s, f"{api.base}/api/cameras?limit=1000", admin)
        assert isinstance(listed, dict)
        assert listed["total"] == len(api.district.fleet) == 1193
        assert len(listed["cameras"]) == 1000
        # Broken first.
        assert [c["id"] for c in listed["cameras"][:2]] == sorted([api.a, api.b])
        assert listed["cameras"][0]["state"] == "offline"
        assert listed["cameras"][0]["state_zh"] == "离线"
        assert listed["cameras"][0]["faults_zh"] == ["网络不通"]
        _, rest = await get(s, f"{api.base}/api/cameras?limit=1000&offset=1000", admin)
        assert isinstance(rest, dict)
        assert len(rest["cameras"]) == 193
        status, detail = await get(s, f"{api.base}/api/cameras/{api.unmapped}", admin)
        assert status == 200
        assert isinstance(detail, dict)
        assert (detail["mapping"], detail["paths"], detail["grids"]) == ("unmapped", [], [])
        _, tree = await get(s, f"{api.base}/api/grid", admin)
        assert isinstance(tree, dict)
        assert len(tree["nodes"]) == 6
        assert tree["unmapped"]["total"] == 1
        assert tree["counts"]["total"] == 1193
        assert tree["counts"]["offline"] == 2
        # An operator does not see the unmapped camera.
        status, _ = await get(s, f"{api.base}/api/cameras/{api.unmapped}", who("operator", TOWN_A))
        assert status == 404


async def test_the_detail_of_a_camera(api: Api) -> None:
    async with aiohttp.ClientSession() as s:
        status, body = await get(s, f"{api.base}/api/cameras/{api.a}", who("operator", VILLAGE_A))
    assert status == 200
    assert isinstance(body, dict)
    info = api.district.fleet.camera(api.a)
    assert info is not None
    assert body["id"] == api.a
    assert body["name"] == info.info.name
    assert (body["state"], body["faults"], body["faults_zh"]) == (
        "offline", ["unreachable"], ["网络不通"]
    )  # fmt: skip
    assert body["since"] == T0.isoformat()
    assert body["address"] == info.info.address
    assert body["vendor"]
    assert body["model"]
    assert body["host"].startswith("127.20.")
    [path] = body["paths"]
    assert [(p["level"], p["code"]) for p in path] == [
        ("township", TOWN_A), ("village", VILLAGE_A), ("grid", GRID_A)
    ]  # fmt: skip
    assert path[0]["name"] == "东关街道"
    order = api.desk.book.order_of(api.a)
    assert order is not None
    assert body["order"]["id"] == order.id
    assert body["order"]["state"] == "open"
    pictures = body["pictures"]
    assert pictures["latest_at"] == T0.isoformat()
    assert pictures["snapshot_url"] == f"/api/cameras/{api.a}/snapshot.jpg"
    assert pictures["thumbnail_url"] == f"/api/cameras/{api.a}/snapshot.jpg?size=thumb"
    assert pictures["history"] == [
        {"at": T0.isoformat(), "url": f"/api/cameras/{api.a}/history/{api.history_name}"}
    ]
    assert body["thumbnail_url"] == pictures["thumbnail_url"]
    assert "password" not in str(body).lower()
    assert "rtsp://" not in str(body)


async def test_pictures_cache_and_missing(api: Api) -> None:
    op = who("operator", GRID_A)
    others = [c for c in api.district.cameras_in(GRID_A) if c != api.a]
    async with aiohttp.ClientSession() as s:
        url = f"{api.base}/api/cameras/{api.a}/snapshot.jpg"
        async with s.get(url, headers=op) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "image/jpeg"
            assert r.headers["Cache-Control"] == "private, no-cache"
            etag = r.headers["ETag"]
        async with s.get(url, headers={**op, "If-None-Match": etag}) as r:
            assert r.status == 304
        status, body = await get(s, f"{api.base}/api/cameras/{others[0]}/snapshot.jpg", op)
        assert (status, body) == (404, {"error": "未找到 / no picture yet"})
        status, body = await get(s, f"{url}?size=huge", op)
        assert status == 400
        history = f"{api.base}/api/cameras/{api.a}/history"
        assert (await get(s, f"{history}/20260101T000000000000Z.jpg", op))[0] == 404
        assert (await get(s, f"{history}/..%2Flatest.jpg", op))[0] == 404
        assert (await get(s, f"{history}/20261399T000000000000Z.jpg", op))[0] == 404


async def test_filters_and_paging(api: Api) -> None:
    op = who("operator", TOWN_A)
    town = api.district.cameras_in(TOWN_A)
    async with aiohttp.ClientSession() as s:
        _, page = await get(s, f"{api.base}/api/cameras?limit=5&offset=0", op)
        assert isinstance(page, dict)
        assert (page["total"], len(page["cameras"])) == (len(town), 5)
        assert page["cameras"][0]["id"] == api.a  # the broken one first
        _, offline = await get(s, f"{api.base}/api/cameras?state=offline", op)
        assert isinstance(offline, dict)
        assert [c["id"] for c in offline["cameras"]] == [api.a]
        _, grid = await get(s, f"{api.base}/api/cameras?grid={GRID_A}", op)
        assert isinstance(grid, dict)
        assert grid["total"] == len(api.district.cameras_in(GRID_A))
        name = api.district.directory.name_of(api.a)
        assert name is not None
        _, found = await get(s, f"{api.base}/api/cameras?q={name}", op)
        assert isinstance(found, dict)
        assert api.a in [c["id"] for c in found["cameras"]]
        for bad in ("state=broken", "limit=0", "limit=1001", "offset=-1", "limit=x",
                    "q=" + "x" * 101):  # fmt: skip
            status, body = await get(s, f"{api.base}/api/cameras?{bad}", op)
            assert status == 400, bad
            assert isinstance(body, dict)
            assert "error" in body


async def test_recheck_rules_and_rate_limit(api: Api) -> None:
    url = f"{api.base}/api/cameras/{api.a}/recheck"
    async with aiohttp.ClientSession() as s:
        async with s.post(url, headers=who("crew", GRID_A)) as r:
            assert r.status == 403
            assert "not allowed" in (await r.json())["error"]
        assert api.rechecks == []
        async with s.post(url, headers=who("operator", GRID_A)) as r:
            assert r.status == 202
            body = await r.json()
            assert body["queued"] is True
            assert "刷新画面" in body["message"]
        assert api.rechecks == [api.a]
        api.clock.now += 9.5
        async with s.post(url, headers=who("admin")) as r:
            assert r.status == 429
            assert r.headers["Retry-After"] == "1"
            assert "retry in 1 s" in (await r.json())["error"]
        api.clock.now += 0.5
        async with s.post(url, headers=who("admin")) as r:
            assert r.status == 202
        assert api.rechecks == [api.a, api.a]
        # Another camera has its own allowance.
        other = api.district.cameras_in(GRID_A)[1]
        async with s.post(f"{api.base}/api/cameras/{other}/recheck", headers=who("admin")) as r:
            assert r.status == 202


async def test_crews_read_cameras_and_pictures_of_their_scope(api: Api) -> None:
    crew_a, crew_all = who("crew", GRID_A), who("crew")
    async with aiohttp.ClientSession() as s:
        assert (await get(s, f"{api.base}/api/cameras/{api.a}", crew_a))[0] == 200
        assert (await get(s, f"{api.base}/api/cameras/{api.a}/snapshot.jpg", crew_a))[0] == 200
        assert (await get(s, f"{api.base}/api/cameras/{api.b}", crew_a))[0] == 404
        assert (await get(s, f"{api.base}/api/cameras/{api.b}", crew_all))[0] == 200
        _, orders = await get(s, f"{api.base}/api/workorders", crew_a)
        assert isinstance(orders, list)
        assert [o["cameras"] for o in orders] == [[api.a]]
        _, every = await get(s, f"{api.base}/api/workorders", crew_all)
        assert isinstance(every, list)
        assert len(every) == 2


async def test_operator_without_scope_sees_nothing(api: Api) -> None:
    nobody = who("operator")
    async with aiohttp.ClientSession() as s:
        _, listed = await get(s, f"{api.base}/api/cameras", nobody)
        assert isinstance(listed, dict)
        assert listed["total"] == 0
        _, tree = await get(s, f"{api.base}/api/grid", nobody)
        assert isinstance(tree, dict)
        assert tree["nodes"] == []
        assert (await get(s, f"{api.base}/api/cameras/{api.a}", nobody))[0] == 404
        _, orders = await get(s, f"{api.base}/api/workorders", nobody)
        assert orders == []
