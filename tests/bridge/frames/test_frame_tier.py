"""The frame tier end to end: simulated cameras on loopback (their HTTP snapshots and RTSP
streams), the real frame sources, the diagnosis, the snapshot files and a real store.

A healthy camera's look leaves pictures on disk and a record (with the thumbnail's hash and
its status message queued together); a picture fault is reported only after a second look
agrees; a camera with no snapshot URL is grabbed from RTSP; an offline camera is not looked
at; faults survive a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.bus.message import Message
from bridge.checker import CheckTarget
from bridge.frame_sources import FrameSources
from bridge.frames import FrameTier, LookError
from bridge.model import CameraRecord, CameraState, Mapping
from bridge.observation import DeviceInfo, OnboardResult
from bridge.secretbox import SecretBox
from bridge.settings import FrameSettings, Settings, StoreSettings
from bridge.simulator import Simulator
from bridge.simulator.model import AuthMode, SimCamera
from bridge.snapshots import SnapshotStore
from bridge.store import Store, sqlite_url
from tests.support import WORKER

PASSWORD = "Frame#2026"
AT = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
# The simulator makes one picture per second of its clock: two looks closer than that would
# see the same bytes (frozen), as no real camera would.
SETTINGS = Settings(
    frames=FrameSettings(timeout_s=8, frozen_gap_s=1.1, confirm_s=0.5, interval_s=600)
)


def sim_cameras() -> list[SimCamera]:
    return [
        SimCamera(
            id=f"4199010001132600{n:04d}",
            name=f"画面{n}",
            host=f"127.43.{WORKER}.{n + 1}",
            rtsp_port=18554,
            onvif_port=18080,
            username="admin",
            password=PASSWORD,
            serial=f"SN{n}",
            auth=AuthMode.DIGEST,
        )
        for n in range(4)
    ]


def record(cam: SimCamera) -> CameraRecord:
    return CameraRecord(
        id=cam.id, name=cam.name, type_code="132", host=cam.host,
        rtsp_port=cam.rtsp_port, onvif_port=cam.onvif_port,
        username=cam.username, password=cam.password,
        rtsp_url=f"rtsp://{cam.host}:{cam.rtsp_port}{cam.rtsp_path}",
    )  # fmt: skip


def target(cam: SimCamera) -> CheckTarget:
    return CheckTarget(
        camera_id=cam.id, host=cam.host, rtsp_port=cam.rtsp_port, onvif_port=cam.onvif_port,
        rtsp_path=cam.rtsp_path, username=cam.username, password=cam.password,
    )  # fmt: skip


class World:
    """The camera states the tier reads, and what it asked to publish."""

    def __init__(self) -> None:
        self.states: dict[str, CameraState] = {}
        self.thumbnails: list[tuple[str, bytes]] = []

    def state_of(self, camera_id: str) -> tuple[CameraState, tuple[str, ...], bool]:
        return self.states.get(camera_id, CameraState.ONLINE), (), False

    @staticmethod
    def status(camera_id: str, sha: str | None) -> list[Message]:
        return [Message(f"test/{camera_id}/status", (sha or "").encode(), 1, True)]

    async def publish(self, camera_id: str, thumb: bytes) -> None:
        self.thumbnails.append((camera_id, thumb))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store(sqlite_url(tmp_path), SecretBox(SecretBox.generate_key())) as s:
        yield s


@contextlib.asynccontextmanager
async def tier(
    store: Store, root: Path, world: World, cams: list[SimCamera]
) -> AsyncIterator[FrameTier]:
    snapshots = SnapshotStore(root)
    snapshots.open()
    async with FrameSources(SETTINGS.frames) as sources:
        frames = FrameTier(
            store, snapshots, sources, SETTINGS,
            state_of=world.state_of, status_messages=world.status,
            publish_thumbnail=world.publish,
        )  # fmt: skip
        await frames.load()
        frames.sync({c.id: target(c) for c in cams})
        task = asyncio.create_task(frames.run())
        try:
            yield frames
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def onboard(store: Store, cams: list[SimCamera], *, snapshot: bool = True) -> None:
    await store.apply_import([record(c) for c in cams], {}, {c.id: Mapping.UNMAPPED for c in cams})
    for cam in cams:
        uri = f"http://{cam.host}:{cam.onvif_port}/snapshot.jpg" if snapshot else None
        await store.save_onboarding(
            cam.id, OnboardResult(DeviceInfo(serial=cam.serial), snapshot_uri=uri), AT
        )


async def test_a_healthy_look_leaves_pictures_a_record_and_a_thumbnail(
    store: Store, tmp_path: Path
) -> None:
    cams = sim_cameras()[:1]
    await onboard(store, cams)
    world = World()
    async with Simulator(cams), tier(store, tmp_path / "snap", world, cams) as frames:
        outcome = await frames.look_now(cams[0].id, 20)
    assert outcome.ok
    assert outcome.source == "http"
    assert outcome.seen == ()
    assert outcome.faults == ()
    saved = await store.get_frame(cams[0].id)
    assert saved is not None
    assert saved.thumbnail_sha256 == outcome.thumbnail_sha256
    assert saved.baseline is not None
    assert saved.metrics["source_width"] == 1280
    camera_dir = tmp_path / "snap" / cams[0].id
    assert (camera_dir / "latest.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert (camera_dir / "reference.jpg").exists()  # the first healthy look is the reference
    [(camera_id, thumb)] = world.thumbnails
    assert camera_id == cams[0].id
    assert len(thumb) <= 30_000
    # The status (with the new hash) went into the outbox with the record.
    [(_, queued)] = await store.pending(10)
    assert queued.payload == (outcome.thumbnail_sha256 or "").encode()


async def test_a_picture_fault_needs_two_looks_and_a_good_picture_clears_it(
    store: Store, tmp_path: Path
) -> None:
    cams = sim_cameras()[:2]
    await onboard(store, cams)
    world = World()
    async with Simulator(cams) as sim, tier(store, tmp_path / "snap", world, cams) as frames:
        sim.set_faults({cams[1].id: "black"})
        first = await frames.look_now(cams[1].id, 20)
        assert first.seen == ("black",)
        assert first.faults == ()
        assert frames.faults(cams[1].id) == ()
        second = await frames.look_now(cams[1].id, 20)
        assert second.faults == ("black",)
        assert frames.faults(cams[1].id) == ("black",)
        assert frames.faults(cams[0].id) == ()
        sim.clear_fault(cams[1].id)
        third = await frames.look_now(cams[1].id, 20)
        assert third.seen == ()
        assert third.faults == ()
    saved = await store.get_frame(cams[1].id)
    assert saved is not None
    assert saved.faults == ()


async def test_a_confirmed_fault_survives_a_restart(store: Store, tmp_path: Path) -> None:
    cams = sim_cameras()[:1]
    await onboard(store, cams)
    world = World()
    async with Simulator(cams) as sim, tier(store, tmp_path / "snap", world, cams) as frames:
        sim.set_faults({cams[0].id: "no_signal"})
        await frames.look_now(cams[0].id, 20)
        await frames.look_now(cams[0].id, 20)
        assert frames.faults(cams[0].id) == ("no_signal",)
    async with tier(store, tmp_path / "snap", world, cams) as again:
        assert again.faults(cams[0].id) == ("no_signal",)


async def test_without_a_snapshot_url_the_rtsp_stream_is_grabbed(
    store: Store, tmp_path: Path
) -> None:
    cams = sim_cameras()[:1]
    await onboard(store, cams, snapshot=False)
    world = World()
    async with Simulator(cams), tier(store, tmp_path / "snap", world, cams) as frames:
        outcome = await frames.look_now(cams[0].id, 30)
    assert outcome.ok, outcome.error
    assert outcome.source == "rtsp"
    assert "frozen" not in outcome.seen  # two grabs seconds apart differ on a live camera
    assert (tmp_path / "snap" / cams[0].id / "latest.jpg").exists()


async def test_offline_and_unknown_cameras_are_not_looked_at(store: Store, tmp_path: Path) -> None:
    cams = sim_cameras()[:1]
    await onboard(store, cams)
    world = World()
    world.states[cams[0].id] = CameraState.OFFLINE
    async with Simulator(cams), tier(store, tmp_path / "snap", world, cams) as frames:
        outcome = await frames.look_now(cams[0].id, 20)
        assert not outcome.ok
        assert "offline" in outcome.error
        with pytest.raises(LookError, match="no address"):
            await frames.look_now("nope", 1)
    assert await store.get_frame(cams[0].id) is None
    assert world.thumbnails == []


async def test_an_unreachable_snapshot_keeps_the_faults_and_says_why(
    store: Store, tmp_path: Path
) -> None:
    cams = sim_cameras()[:1]
    await onboard(store, cams)
    world = World()
    async with Simulator(cams) as sim, tier(store, tmp_path / "snap", world, cams) as frames:
        sim.set_faults({cams[0].id: "black"})
        await frames.look_now(cams[0].id, 20)
        await frames.look_now(cams[0].id, 20)
        assert frames.faults(cams[0].id) == ("black",)
        sim.set_faults({cams[0].id: "down"})
        await sim.settle()
        outcome = await frames.look_now(cams[0].id, 30)
        # No picture says nothing about the picture: the confirmed fault stays.
        assert frames.faults(cams[0].id) == ("black",)
    assert not outcome.ok
    assert outcome.error
    assert PASSWORD not in outcome.error
    saved = await store.get_frame(cams[0].id)
    assert saved is not None
    assert saved.error
    assert saved.faults == ("black",)


async def test_pictures_reset_forgets_reference_and_baseline(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from bridge.cli.commands import UserError
    from bridge.cli.diagnose import pictures_reset

    cams = sim_cameras()[:1]
    await onboard(store, cams)
    world = World()
    async with Simulator(cams), tier(store, tmp_path / "snapshots", world, cams) as f:
        assert (await f.look_now(cams[0].id, 20)).ok
    reference = tmp_path / "snapshots" / cams[0].id / "reference.jpg"
    assert reference.exists()
    before = await store.get_frame(cams[0].id)
    assert before is not None
    assert before.baseline is not None
    settings = Settings(store=StoreSettings(data_dir=tmp_path), frames=SETTINGS.frames)
    # The store fixture's database is tmp_path/gridbridge.db: data_dir=tmp_path finds it,
    # and the pictures under tmp_path/snapshots.
    assert await pictures_reset(argparse.Namespace(camera_id=cams[0].id), settings) == 0
    assert "reference picture and picture baseline forgotten" in capsys.readouterr().out
    assert not reference.exists()
    after = await store.get_frame(cams[0].id)
    assert after is not None
    assert after.baseline is None
    assert after.thumbnail_sha256 == before.thumbnail_sha256  # only what was learnt goes
    assert await pictures_reset(argparse.Namespace(camera_id=cams[0].id), settings) == 0
    assert "nothing to reset" in capsys.readouterr().out
    with pytest.raises(UserError, match="no camera"):
        await pictures_reset(argparse.Namespace(camera_id="nope"), settings)
