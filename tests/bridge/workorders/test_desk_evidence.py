"""The desk keeps its orders' pictures: a real store (SQLite under tmp_path), the real desk
and order book, real snapshot history and evidence stores.  A camera goes down with a good
picture before, comes back with a good picture after; both pictures outlive the snapshot
history's retention, and the webhooks link to them."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.evidence import EvidenceStore
from bridge.model import CameraRecord, CameraState, Mapping
from bridge.secretbox import SecretBox
from bridge.settings import (
    HttpSettings,
    Settings,
    StoreSettings,
    WebhookSettings,
    WorkOrderSettings,
)
from bridge.snapshots import SnapshotStore
from bridge.store import Store, sqlite_url
from bridge.store.workorders import StoredEvent
from bridge.tracker import Transition
from bridge.workorder_desk import KEEP_CLOSED_S, WorkOrderDesk
from bridge.workorders.model import Order, Step
from bridge.workorders.steps import StepError
from health.verdict import CameraHealth

CAM = "41990100011326000001"
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
THUMB = b"\xff\xd8\xff" + b"t" * 97
DOWN = CameraHealth(CameraState.OFFLINE, ("unreachable",), "no answer")
UP = CameraHealth(CameraState.ONLINE, (), "")


def pic(fill: bytes) -> bytes:
    return b"\xff\xd8\xff" + fill * 997


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    store: Store
    desk: WorkOrderDesk
    snapshots: SnapshotStore
    evidence: EvidenceStore
    clock: Clock

    async def look(self, minutes: float, fill: bytes, *, healthy: bool = True) -> str:
        """A picture look of the frame tier at T0 + ``minutes``: saved, then told the desk."""
        at = T0 + timedelta(minutes=minutes)
        saved = self.snapshots.save(CAM, pic(fill), at, thumb=THUMB)
        assert saved.history is not None
        ref = str(saved.history.relative_to(self.snapshots.root))
        self.clock.now = at
        await self.desk.on_look(CAM, at, healthy, ref)
        return ref

    async def turn(self, minutes: float, to: CameraState) -> None:
        at = T0 + timedelta(minutes=minutes)
        self.clock.now = at
        was = CameraState.OFFLINE if to is CameraState.ONLINE else CameraState.ONLINE
        faults = () if to is CameraState.ONLINE else ("unreachable",)
        t = Transition(CAM, at, was, to, faults, False, "")
        await self.desk.on_transition(t, UP if to is CameraState.ONLINE else DOWN)

    async def tick(self, minutes: float) -> None:
        self.clock.now = T0 + timedelta(minutes=minutes)
        self.desk._take(self.desk.book.tick(self.clock.now))  # the loop's tick, without waiting
        await self.desk.flush()

    async def down_and_back(self) -> Order:
        """CAM down at minute 1 after a good picture (its order opens at the tick at 5),
        back at 30: two healthy checks and a fresh picture at 33 verify and close the
        order in the book (the desk writes it at its next flush)."""
        await self.look(0, b"b")
        await self.turn(1, CameraState.OFFLINE)
        await self.tick(5)
        [order] = self.desk.book.orders()
        await self.turn(30, CameraState.ONLINE)
        self.desk.on_checked(CAM, CameraState.ONLINE, T0 + timedelta(minutes=31))
        self.desk.on_checked(CAM, CameraState.ONLINE, T0 + timedelta(minutes=32))
        await self.look(33, b"a")
        return order

    async def webhook_bodies(self) -> list[dict[str, object]]:
        due = await self.store.webhooks_due("crew", 100, datetime.now(UTC) + timedelta(days=1))
        return [json.loads(body) for _, body in due]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path),
        http=HttpSettings(public_url="http://10.1.2.3:8080/"),
        workorders=WorkOrderSettings(
            debounce_s=180,
            webhooks=(WebhookSettings(name="crew", kind="json", url="http://127.0.0.1:9/h"),),
        ),
    )
    snapshots = SnapshotStore(tmp_path / "snapshots", keep_count=3)
    snapshots.open()
    evidence = EvidenceStore(tmp_path / "evidence", snapshots.root)
    evidence.open()
    clock = Clock()
    async with Store(sqlite_url(tmp_path), SecretBox(SecretBox.generate_key())) as store:
        record = CameraRecord(id=CAM, name="张塘社区东门", type_code="132", host="127.0.0.9")
        await store.apply_import([record], {}, {CAM: Mapping.UNMAPPED})
        desk = WorkOrderDesk(
            store, settings, town_of=lambda _: "419901001", now=clock, evidence=evidence
        )
        await desk.load(await store.list_cameras())
        yield World(store, desk, snapshots, evidence, clock)


async def test_both_pictures_are_kept_after_the_history_forgets_them(world: World) -> None:
    desk = world.desk
    before_ref = await world.look(0, b"b")  # the last good picture before the fault
    await world.turn(1, CameraState.OFFLINE)
    await world.tick(5)  # past the debounce: an order, with its before picture
    [order] = desk.book.orders()
    assert order.before_evidence == before_ref
    before = await desk.evidence_path(order.id, "before")
    assert before is not None
    assert before.is_relative_to(world.evidence.root)
    assert await desk.evidence_path(order.id, "after") is None

    # Back up: two healthy checks and a fresh healthy picture verify and close it.
    await world.turn(30, CameraState.ONLINE)
    desk.on_checked(CAM, CameraState.ONLINE, T0 + timedelta(minutes=31))
    desk.on_checked(CAM, CameraState.ONLINE, T0 + timedelta(minutes=32))
    after_ref = await world.look(33, b"a")
    await desk.flush()
    closed = desk.book.order(order.id)
    assert closed is not None
    assert closed.state is Step.CLOSED
    assert closed.after_evidence == after_ref
    after = await desk.evidence_path(order.id, "after")
    assert after is not None
    assert after.is_relative_to(world.evidence.root)

    # A few more looks: retention (3 pictures) deletes both from the camera's history.
    for i in range(4):
        await world.look(60 + 15 * i, b"%d" % i)
    assert not (world.snapshots.root / before_ref).exists()
    assert not (world.snapshots.root / after_ref).exists()
    assert await desk.evidence_path(order.id, "before") == before
    assert await desk.evidence_path(order.id, "after") == after
    assert (before.read_bytes(), after.read_bytes()) == (pic(b"b"), pic(b"a"))
    assert desk._pinned == {}  # bounded: a closed order's pins are forgotten

    # The webhooks link to the kept pictures: before while open, after once verified.
    bodies = await world.webhook_bodies()
    base = f"http://10.1.2.3:8080/api/workorders/{order.id}"
    urls = [(b["event"], b["step"], b.get("snapshot_url")) for b in bodies]
    assert urls == [
        ("opened", "open", f"{base}/before.jpg"),
        ("step", "verified", f"{base}/after.jpg"),
        ("step", "closed", f"{base}/after.jpg"),
    ]


async def test_an_unpinned_picture_is_served_from_the_snapshots(world: World) -> None:
    desk = world.desk
    before_ref = await world.look(0, b"b")
    await world.turn(1, CameraState.OFFLINE)
    await world.tick(5)
    [order] = desk.book.orders()
    pinned = await desk.evidence_path(order.id, "before")
    assert pinned is not None
    pinned.unlink()  # as before the desk pinned it
    live = await desk.evidence_path(order.id, "before")
    assert live == (world.snapshots.root / before_ref).resolve()
    assert await desk.evidence_path("WO-20260101-DEADBEEF", "before") is None


async def test_a_failing_pin_never_holds_up_the_order(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    desk = world.desk
    root = world.evidence.root
    shutil.rmtree(root)
    root.write_bytes(b"")  # the evidence directory is unusable: every pin fails
    await world.look(0, b"b")
    await world.turn(1, CameraState.OFFLINE)
    with caplog.at_level(logging.WARNING, "bridge.workorder_desk"):
        await world.tick(5)
    [order] = desk.book.orders()
    assert await world.store.get_order(order.id) is not None  # recorded all the same
    assert "could not keep its before picture" in caplog.text
    [opened] = await world.webhook_bodies()
    assert "snapshot_url" not in opened  # nothing to link to
    # Fixed: the order's next event keeps the picture.
    root.unlink()
    world.evidence.open()
    await desk.act(order.id, Step.ACCEPTED, actor="张师傅", note="")
    assert order.before_evidence is not None
    assert world.evidence.get(order.id, "before", order.before_evidence) is not None


async def test_the_history_never_lags_the_order_it_is_shown_beside(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order page shows the book's state and the history side by side: events the desk
    has decided but not yet written (up to a tick), or is writing right now, are in it."""
    desk = world.desk
    order = await world.down_and_back()  # verified and closed in the book; not written yet

    def steps(events: list[StoredEvent]) -> list[tuple[int, str | None]]:
        return [(e.seq, e.step) for e in events]

    wanted = [(1, "open"), (2, "verified"), (3, "closed")]
    assert steps(await world.store.order_events(order.id)) == [(1, "open")]
    assert steps(await desk.history(order.id)) == wanted

    # While the flush is writing them (its transaction held open here), still there.
    record = world.store.record_order_events
    writing, release = asyncio.Event(), asyncio.Event()

    async def held(*args: object, **kwargs: object) -> object:
        writing.set()
        await release.wait()
        return await record(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(world.store, "record_order_events", held)
    flush = asyncio.create_task(desk.flush())
    await writing.wait()
    assert steps(await desk.history(order.id)) == wanted
    release.set()
    await flush
    assert steps(await world.store.order_events(order.id)) == wanted
    assert steps(await desk.history(order.id)) == wanted  # once each


async def test_orders_closed_long_ago_are_left_to_the_store_and_still_found(
    world: World, tmp_path: Path
) -> None:
    """Memory stays bounded over years: the desk's book forgets orders closed more than
    `KEEP_CLOSED_S` ago; they are still found (page, API, pictures), refuse steps with the
    closed message, and a restart does not load them back."""
    desk = world.desk
    order = await world.down_and_back()
    await desk.flush()
    assert desk.book.order(order.id).state is Step.CLOSED  # type: ignore[union-attr]

    week = T0 + timedelta(days=7)
    assert desk.forget_closed(week) == 0  # the crews' page lists a week of closed orders
    later = T0 + timedelta(seconds=KEEP_CLOSED_S, hours=1)
    assert desk.forget_closed(later) == 1
    assert desk.book.order(order.id) is None
    found = await desk.find(order.id)
    assert found is not None
    assert found.state is Step.CLOSED
    assert [e.step for e in await desk.history(order.id)][-1] == "closed"
    assert await desk.evidence_path(order.id, "after") is not None
    with pytest.raises(StepError, match="已结案"):
        await desk.act(order.id, Step.ACCEPTED, actor="张师傅", note="")
    assert await desk.find("WO-20260101-DEADBEEF") is None
    assert [o.id for o in await desk.stored_orders(state="closed")] == [order.id]

    # A restart keeps it out of memory; a closed order of a camera that is faulty now is
    # loaded (its episode may be replayed).
    world.clock.now = later
    settings = Settings(store=StoreSettings(data_dir=tmp_path))
    again = WorkOrderDesk(world.store, settings, town_of=lambda _: "419901001", now=world.clock)
    await again.load(await world.store.list_cameras())
    assert again.book.orders() == []
    await world.store.record_transition(
        CAM, later, CameraState.ONLINE, CameraState.OFFLINE, ("unreachable",), "test"
    )
    third = WorkOrderDesk(world.store, settings, town_of=lambda _: "419901001", now=world.clock)
    await third.load(await world.store.list_cameras())
    assert [o.id for o in third.book.orders()] == [order.id]
