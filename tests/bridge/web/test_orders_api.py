"""The work-order API and the crew commands through it: a real store, the real desk and order
book, the real aiohttp server on loopback; orders made by feeding the desk transitions.  Who
asks is set by the test-only login (tests/bridge/web/support.py): the ``X-Test-Principal``
header, else a crew without scope (the crew commands send their token, which it ignores)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bridge.cli.commands import UserError
from bridge.cli.crew import crew_step
from bridge.evidence import EvidenceStore
from bridge.fleet import FleetCamera
from bridge.model import CameraState
from bridge.secretbox import SecretBox
from bridge.settings import HttpSettings, Settings, StoreSettings
from bridge.snapshots import SnapshotStore
from bridge.store import Store, StoreError, sqlite_url
from bridge.tracker import Transition
from bridge.web import orders_api
from bridge.web.app_context import WebContext
from bridge.web.principal import Principal, Role
from bridge.web.server import WebServer
from bridge.workorder_desk import WorkOrderDesk
from bridge.workorders.model import Step
from health.verdict import CameraHealth
from tests.bridge.web.support import (
    GRID_A,
    GRID_B,
    T0,
    Clock,
    District,
    free_port,
    header_login,
    load_district,
    who,
)

CREW = Principal("crew-user", Role.CREW)
TOKEN = "gbt_" + "a" * 52  # what the crew commands send; the test login ignores it


@dataclass
class World:
    settings: Settings
    desk: WorkOrderDesk
    clock: Clock
    district: District
    order_a: str  # the order of a camera in grid A
    order_b: str  # the order of a camera in grid B
    order_u: str  # the order of the unmapped camera

    @property
    def base(self) -> str:
        return f"http://{self.settings.http.listen}/api/workorders"


async def down(desk: WorkOrderDesk, camera_id: str) -> None:
    t = Transition(camera_id, T0, CameraState.ONLINE, CameraState.OFFLINE, ("unreachable",),
                   False, "no answer")  # fmt: skip
    await desk.on_transition(t, CameraHealth(CameraState.OFFLINE, ("unreachable",), ""))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
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
        a, b = district.cameras_in(GRID_A)[0], district.cameras_in(GRID_B)[0]
        [u] = district.unmapped()
        for cam in (a, b, u):
            await down(desk, cam)
        # Down for longer than the debounce: one order each.
        clock.now = T0 + timedelta(minutes=5)
        desk._take(desk.book.tick(clock.now))
        await desk.flush()
        ids = {}
        for cam in (a, b, u):
            order = desk.book.order_of(cam)
            assert order is not None
            ids[cam] = order.id
        ctx = WebContext(settings=settings, store=store, directory=district.directory, desk=desk)
        server = WebServer(ctx, middlewares=[header_login(CREW)], features=[orders_api.feature])
        async with server:
            yield World(settings, desk, clock, district, ids[a], ids[b], ids[u])


def args(action: str, order_id: str, note: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(
        action=action, order_id=order_id, actor="张师傅", note=note, token=TOKEN
    )


async def test_a_crew_walks_its_order_through_the_commands(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, desk, clock, order_id = world.settings, world.desk, world.clock, world.order_a
    clock.now += timedelta(minutes=1)
    assert await crew_step(args("accept", order_id), settings) == 0
    assert "接单 (accepted)" in capsys.readouterr().out
    with pytest.raises(UserError, match=r"到场|on_site") as refused:
        await crew_step(args("repaired", order_id), settings)  # 到场 comes first
    assert refused.value.exit_code == 2
    clock.now += timedelta(minutes=30)
    assert await crew_step(args("on-site", order_id, "换了交换机电源"), settings) == 0
    order = desk.book.order(order_id)
    assert order is not None
    assert order.state.value == "on_site"
    # Recorded before the answer: the store has the steps, with actor and note.
    history = await desk.history(order_id)
    assert [(e.step, e.actor) for e in history] == [
        ("open", "system"), ("accepted", "张师傅"), ("on_site", "张师傅")
    ]  # fmt: skip
    assert history[-1].note == "换了交换机电源"
    with pytest.raises(UserError, match="--note"):
        await crew_step(args("close", order_id), settings)
    with pytest.raises(UserError, match="工单不存在") as unknown:
        await crew_step(args("accept", "WO-20260101-DEADBEEF"), settings)
    assert unknown.value.exit_code == 2


async def test_the_api_lists_shows_and_guards(world: World) -> None:
    base, order_id = world.base, world.order_a
    crew = who("crew")
    async with aiohttp.ClientSession() as s:
        async with s.get(base, headers=crew) as r:
            items = await r.json()
            assert [i["id"] for i in items] == sorted(
                [world.order_a, world.order_b, world.order_u],
                key=lambda o: (world.desk.book.order(o).opened_at, o),  # type: ignore[union-attr]
            )
            [item] = [i for i in items if i["id"] == order_id]
            assert item["cameras"] == world.district.cameras_in(GRID_A)[:1]
            assert item["camera_names"] == [world.district.directory.name_of(item["cameras"][0])]
            assert item["state"] == "open"
        async with s.get(f"{base}/{order_id}", headers=crew) as r:
            body = await r.json()
            assert body["history"][0]["step"] == "open"
        async with s.get(f"{base}?state=bogus", headers=crew) as r:
            assert r.status == 400
            assert "unknown state" in (await r.json())["error"]
        url = f"{base}/{order_id}/steps"
        async with s.post(url, data=b"not json", headers=crew) as r:
            assert r.status == 400
        async with s.post(url, json={"step": "verified", "actor": "x"}, headers=crew) as r:
            assert r.status == 400  # verification is the daemon's, not a person's
        async with s.post(url, json={"step": "accepted", "actor": 7}, headers=crew) as r:
            assert r.status == 400
        async with s.post(url, data=b"x" * 200_000, headers=crew) as r:
            assert r.status == 413
            assert "error" in await r.json()
        async with s.post(url, json={"step": "accepted", "actor": "李"}, headers=crew) as r:
            assert r.status == 200
        async with s.post(url, json={"step": "accepted", "actor": "李"}, headers=crew) as r:
            assert r.status == 200  # a retried request changes nothing
        async with s.get(f"{base}/{order_id}", headers=crew) as r:
            assert [h["step"] for h in (await r.json())["history"]] == ["open", "accepted"]


async def test_orders_closed_long_ago_come_from_the_store(world: World) -> None:
    """The book forgets orders closed long ago; the API still shows them, lists them among
    `all` and `closed`, and refuses steps on them as on any closed order."""
    desk, order_id = world.desk, world.order_a
    world.clock.now += timedelta(minutes=1)
    await desk.act(order_id, Step.CLOSED, actor="admin", note="设备已拆除")
    # Its camera must be healthy for the book to let the order go (else it may replay).
    camera = world.district.cameras_in(GRID_A)[0]
    up = Transition(camera, world.clock.now, CameraState.OFFLINE, CameraState.ONLINE, (),
                    False, "")  # fmt: skip
    await desk.on_transition(up, CameraHealth(CameraState.ONLINE, (), ""))
    await desk.flush()
    assert desk.forget_closed(world.clock.now + timedelta(days=30)) == 1
    assert desk.book.order(order_id) is None
    crew = who("crew")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{world.base}/{order_id}", headers=crew) as r:
            body = await r.json()
            assert r.status == 200
            assert body["state"] == "closed"
            assert [h["step"] for h in body["history"]][-1] == "closed"
        for state in ("all", "closed"):
            async with s.get(f"{world.base}?state={state}", headers=crew) as r:
                assert order_id in [i["id"] for i in await r.json()], state
        async with s.get(world.base, headers=crew) as r:  # the open ones
            assert order_id not in [i["id"] for i in await r.json()]
        url = f"{world.base}/{order_id}/accept"
        async with s.post(url, headers=crew) as r:
            assert r.status == 409
            assert "已结案" in (await r.json())["error"]

        async def failing(_: str) -> None:
            raise StoreError("work order not read: database is locked")

        desk._store.get_order = failing  # type: ignore[method-assign]
        async with s.get(f"{world.base}/{order_id}", headers=crew) as r:
            assert r.status == 503  # not 404: the order may well exist
            assert (await r.json())["error"] == "数据库不可用 / the store is unavailable"
        async with s.get(f"{world.base}/{world.order_b}", headers=crew) as r:
            assert r.status == 200  # open orders are the book's


async def test_the_actor_is_the_signed_in_user_unless_named(world: World) -> None:
    url = f"{world.base}/{world.order_a}/steps"
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json={"step": "accepted"}, headers=who("crew", GRID_A)) as r:
            assert r.status == 200
            assert (await r.json())["steps"][-1]["actor"] == "crew-user"
        body = {"step": "on_site", "actor": "", "note": "到了"}
        async with s.post(url, json=body, headers=who("admin")) as r:
            assert r.status == 200
    history = await world.desk.history(world.order_a)
    assert [(e.step, e.actor) for e in history][1:] == [
        ("accepted", "crew-user"), ("on_site", "admin-user")
    ]  # fmt: skip


async def test_the_step_may_be_named_in_the_address(world: World) -> None:
    # POST /api/workorders/{id}/{step} (issue 7): the crew commands' words or the codes,
    # with or without a body.
    base, crew = f"{world.base}/{world.order_a}", who("crew", GRID_A)
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{base}/accept", headers=crew) as r:
            assert r.status == 200
            assert (await r.json())["state"] == "accepted"
        async with s.post(f"{base}/on-site", json={"note": "到了"}, headers=crew) as r:
            assert r.status == 200
        async with s.post(f"{base}/verified", headers=crew) as r:
            assert r.status in (404, 405)  # not a crew's step: no such address
        async with s.post(f"{base}/accept", headers=crew) as r:
            assert r.status == 409  # on site already: refused with the reason
            assert "/" in (await r.json())["error"]
        async with s.post(f"{base}/repaired", headers=who("operator", GRID_A)) as r:
            assert r.status == 403
        async with s.post(f"{base}/close", json={}, headers=who("admin")) as r:
            assert r.status == 400  # closing by hand needs a note
    history = await world.desk.history(world.order_a)
    assert [(e.step, e.note) for e in history][1:] == [("accepted", ""), ("on_site", "到了")]


async def test_scoped_orders(world: World) -> None:
    base = world.base
    async with aiohttp.ClientSession() as s:
        # An operator of grid A: its order only; grid B's answers as one that does not exist.
        op_a = who("operator", GRID_A)
        async with s.get(f"{base}?state=all", headers=op_a) as r:
            assert [i["id"] for i in await r.json()] == [world.order_a]
        for order_id in (world.order_b, world.order_u, "WO-20260101-DEADBEEF"):
            for tail in ("", "/before.jpg", "/after.jpg"):
                async with s.get(f"{base}/{order_id}{tail}", headers=op_a) as r:
                    assert r.status == 404
                    assert await r.json() == {"error": "工单不存在 / no such order"}
        # Operators take no steps, in scope or not.
        for order_id in (world.order_a, world.order_b):
            body = {"step": "accepted"}
            async with s.post(f"{base}/{order_id}/steps", json=body, headers=op_a) as r:
                assert r.status == 403
                assert "not allowed" in (await r.json())["error"]
        # A crew of grid A may not touch grid B's order.
        crew_a = who("crew", GRID_A)
        body = {"step": "accepted"}
        async with s.post(f"{base}/{world.order_b}/steps", json=body, headers=crew_a) as r:
            assert r.status == 404
        async with s.get(f"{base}?camera={world.district.cameras_in(GRID_B)[0]}",
                         headers=crew_a) as r:  # fmt: skip
            assert await r.json() == []
        # The unmapped camera's order: admins (and crews serving the whole district).
        for headers, status in ((who("admin"), 200), (who("crew"), 200),
                                (who("operator", "419901"), 404)):  # fmt: skip
            async with s.get(f"{base}/{world.order_u}", headers=headers) as r:
                assert r.status == status
    order_b = world.desk.book.order(world.order_b)
    assert order_b is not None
    assert order_b.state.value == "open"  # nothing was taken


async def test_a_parent_order_lists_only_the_cameras_in_scope(world: World) -> None:
    """An NVR's parent order spanning two grids is seen by an operator of either, with only
    the cameras of its scope listed."""
    fleet, desk = world.district.fleet, world.desk
    by_nvr: dict[str, list[FleetCamera]] = {}
    for cam in fleet.cameras():
        if cam.info.upstream and cam.paths[0].grid != "_":
            by_nvr.setdefault(cam.info.upstream, []).append(cam)
    nvr, cams = next(
        (nvr, cams) for nvr, cams in sorted(by_nvr.items()) if len({c.paths for c in cams}) > 1
    )
    # The whole NVR goes down at once: one parent order naming it, listing its cameras.
    for cam in cams:
        if desk.book.order_of(cam.info.id) is None:
            await down(desk, cam.info.id)
    world.clock.now += timedelta(minutes=5)
    desk._take(desk.book.tick(world.clock.now))
    await desk.flush()
    parent = desk.book.order_of(cams[0].info.id)
    assert parent is not None
    assert parent.upstream == nvr
    grid = cams[0].paths[0].grid
    mine = sorted(c.info.id for c in cams if c.paths[0].grid == grid)
    assert set(mine) < set(parent.camera_ids)
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{world.base}/{parent.id}", headers=who("operator", grid)) as r:
            assert r.status == 200
            assert sorted((await r.json())["cameras"]) == mine
        async with s.get(f"{world.base}/{parent.id}", headers=who("admin")) as r:
            assert (await r.json())["cameras"] == list(parent.camera_ids)


async def test_no_daemon_says_so(tmp_path: Path) -> None:
    settings = Settings(http=HttpSettings(listen=f"127.0.0.1:{free_port()}"))
    with pytest.raises(UserError, match="does not answer") as err:
        await crew_step(args("accept", "WO-1"), settings)
    assert err.value.exit_code == 1


async def test_without_work_orders_the_list_is_empty(tmp_path: Path) -> None:
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path),
        http=HttpSettings(listen=f"127.0.0.1:{free_port()}"),
    )
    async with Store(sqlite_url(tmp_path), SecretBox(SecretBox.generate_key())) as store:
        district = await load_district(settings, store)
        ctx = WebContext(settings=settings, store=store, directory=district.directory)
        server = WebServer(ctx, middlewares=[header_login(CREW)], features=[orders_api.feature])
        base = f"http://{settings.http.listen}/api/workorders"
        async with server, aiohttp.ClientSession() as s:
            async with s.get(base) as r:
                assert (r.status, await r.json()) == (200, [])
            async with s.get(f"{base}/WO-20260101-DEADBEEF") as r:
                assert r.status == 404
            async with s.post(f"{base}/WO-20260101-DEADBEEF/steps", json={"step": "accepted"}) as r:
                assert r.status == 404


async def test_the_evidence_pictures_are_served(tmp_path: Path) -> None:
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path),
        http=HttpSettings(listen=f"127.0.0.1:{free_port()}"),
    )
    snapshots = SnapshotStore(tmp_path / "snapshots")
    snapshots.open()
    evidence = EvidenceStore(tmp_path / "evidence", snapshots.root)
    evidence.open()
    jpeg = b"\xff\xd8\xff" + b"p" * 2000
    clock = Clock()
    async with Store(sqlite_url(tmp_path), SecretBox(SecretBox.generate_key())) as store:
        district = await load_district(settings, store)
        cam = district.cameras_in(GRID_A)[0]
        desk = WorkOrderDesk(
            store, settings, town_of=lambda _: "419901001", now=clock, evidence=evidence
        )
        await desk.load(await store.list_cameras())
        saved = snapshots.save(cam, jpeg, T0, thumb=b"\xff\xd8\xff" + b"t" * 97)
        assert saved.history is not None
        await desk.on_look(cam, T0, True, str(saved.history.relative_to(snapshots.root)))
        await down(desk, cam)
        clock.now = T0 + timedelta(minutes=5)
        desk._take(desk.book.tick(clock.now))
        await desk.flush()
        [order] = desk.book.orders()
        base = f"http://{settings.http.listen}/api/workorders"
        ctx = WebContext(settings=settings, store=store, directory=district.directory, desk=desk)
        server = WebServer(ctx, middlewares=[header_login(CREW)], features=[orders_api.feature])
        async with server, aiohttp.ClientSession() as s:
            async with s.get(f"{base}/{order.id}/before.jpg") as r:
                assert r.status == 200
                assert r.headers["Content-Type"] == "image/jpeg"
                assert r.headers["Cache-Control"] == "private, no-cache"
                assert await r.read() == jpeg
                etag = r.headers["ETag"]
            async with s.get(f"{base}/{order.id}/before.jpg", headers={"If-None-Match": etag}) as r:
                assert r.status == 304
            async with s.get(f"{base}/{order.id}/after.jpg") as r:
                assert r.status == 404  # not verified yet: no after picture
                assert "没有该图片" in (await r.json())["error"]
            async with s.get(f"{base}/WO-20260101-DEADBEEF/before.jpg") as r:
                assert r.status == 404
                assert (await r.json())["error"] == "工单不存在 / no such order"
            async with s.get(f"{base}/{order.id}/side.jpg") as r:
                assert r.status == 404
            headers = who("operator", GRID_B)
            async with s.get(f"{base}/{order.id}/before.jpg", headers=headers) as r:
                assert r.status == 404  # grid B's operator: not its order
