"""The work-order API and the crew commands through it: a real store, the real desk and order
book, the real aiohttp server on loopback; orders made by feeding the desk transitions."""

from __future__ import annotations

import argparse
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bridge.cli.commands import UserError
from bridge.cli.crew import crew_step
from bridge.evidence import EvidenceStore
from bridge.model import CameraRecord, CameraState, Mapping
from bridge.secretbox import SecretBox
from bridge.settings import HttpSettings, Settings, StoreSettings
from bridge.snapshots import SnapshotStore
from bridge.store import Store, sqlite_url
from bridge.tracker import Transition
from bridge.web.server import WebServer
from bridge.workorder_desk import WorkOrderDesk
from health.verdict import CameraHealth

CAM = "41990100011326000001"
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Settings, WorkOrderDesk, Clock, str]]:
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path),
        http=HttpSettings(listen=f"127.0.0.1:{free_port()}", username="crew", password="pw#1"),
    )
    clock = Clock()
    async with Store(sqlite_url(tmp_path), SecretBox(SecretBox.generate_key())) as store:
        record = CameraRecord(id=CAM, name="张塘社区东门", type_code="132", host="127.0.0.9")
        await store.apply_import([record], {}, {CAM: Mapping.UNMAPPED})
        desk = WorkOrderDesk(store, settings, town_of=lambda _: "419901001", now=clock)
        await desk.load(await store.list_cameras())
        # Down for longer than the debounce: one order.
        down = Transition(CAM, T0, CameraState.ONLINE, CameraState.OFFLINE, ("unreachable",),
                          False, "no answer")  # fmt: skip
        await desk.on_transition(down, CameraHealth(CameraState.OFFLINE, ("unreachable",), ""))
        clock.now = T0 + timedelta(minutes=5)
        desk._take(desk.book.tick(clock.now))
        await desk.flush()
        [order] = desk.book.orders()
        async with WebServer(settings.http, desk) as server:
            yield settings, desk, clock, order.id
            del server


def args(action: str, order_id: str, note: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(action=action, order_id=order_id, actor="张师傅", note=note)


async def test_a_crew_walks_its_order_through_the_commands(
    world: tuple[Settings, WorkOrderDesk, Clock, str], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, desk, clock, order_id = world
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


async def test_the_api_lists_shows_and_guards(
    world: tuple[Settings, WorkOrderDesk, Clock, str],
) -> None:
    settings, _, _, order_id = world
    base = f"http://{settings.http.listen}"
    login = {"Authorization": aiohttp.encode_basic_auth("crew", "pw#1")}
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/api/workorders") as r:
            assert r.status == 401  # login configured
            assert "Basic" in r.headers["WWW-Authenticate"]
        async with s.get(f"{base}/healthz") as r:
            assert r.status == 200
        async with s.get(f"{base}/api/workorders", headers=login) as r:
            [item] = await r.json()
            assert item["id"] == order_id
            assert item["cameras"] == [CAM]
            assert item["state"] == "open"
        async with s.get(f"{base}/api/workorders/{order_id}", headers=login) as r:
            body = await r.json()
            assert body["history"][0]["step"] == "open"
        async with s.get(f"{base}/api/workorders?state=bogus", headers=login) as r:
            assert r.status == 400
        url = f"{base}/api/workorders/{order_id}/steps"
        async with s.post(url, data=b"not json", headers=login) as r:
            assert r.status == 400
        async with s.post(url, json={"step": "verified", "actor": "x"}, headers=login) as r:
            assert r.status == 400  # verification is the daemon's, not a person's
        async with s.post(url, json={"step": "accepted", "actor": ""}, headers=login) as r:
            assert r.status == 400
        async with s.post(url, data=b"x" * 200_000, headers=login) as r:
            assert r.status == 413
        async with s.post(url, json={"step": "accepted", "actor": "李"}, headers=login) as r:
            assert r.status == 200
        async with s.post(url, json={"step": "accepted", "actor": "李"}, headers=login) as r:
            assert r.status == 200  # a retried request changes nothing
        async with s.get(f"{base}/api/workorders/{order_id}", headers=login) as r:
            assert [h["step"] for h in (await r.json())["history"]] == ["open", "accepted"]


async def test_no_daemon_says_so(tmp_path: Path) -> None:
    settings = Settings(http=HttpSettings(listen=f"127.0.0.1:{free_port()}"))
    with pytest.raises(UserError, match="does not answer") as err:
        await crew_step(args("accept", "WO-1"), settings)
    assert err.value.exit_code == 1


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
        record = CameraRecord(id=CAM, name="张塘社区东门", type_code="132", host="127.0.0.9")
        await store.apply_import([record], {}, {CAM: Mapping.UNMAPPED})
        desk = WorkOrderDesk(
            store, settings, town_of=lambda _: "419901001", now=clock, evidence=evidence
        )
        await desk.load(await store.list_cameras())
        saved = snapshots.save(CAM, jpeg, T0, thumb=b"\xff\xd8\xff" + b"t" * 97)
        assert saved.history is not None
        await desk.on_look(CAM, T0, True, str(saved.history.relative_to(snapshots.root)))
        down = Transition(CAM, T0, CameraState.ONLINE, CameraState.OFFLINE, ("unreachable",),
                          False, "no answer")  # fmt: skip
        await desk.on_transition(down, CameraHealth(CameraState.OFFLINE, ("unreachable",), ""))
        clock.now = T0 + timedelta(minutes=5)
        desk._take(desk.book.tick(clock.now))
        await desk.flush()
        [order] = desk.book.orders()
        base = f"http://{settings.http.listen}/api/workorders"
        async with WebServer(settings.http, desk), aiohttp.ClientSession() as s:
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
                assert (await r.json())["error"] == "no such order / 工单不存在"
            async with s.get(f"{base}/{order.id}/side.jpg") as r:
                assert r.status == 404
