"""Picture-check records in the store: save, replace, read back, the status message in the
same transaction, unknown cameras, cascade — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.bus.message import Message
from bridge.store import Store, UnknownCameraError
from bridge.store.frames import FrameRecord

AT = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
RECORD = FrameRecord(
    checked_at=AT,
    source="http",
    faults=("blur",),
    pending=("noise",),
    metrics={"brightness": 112.5, "sharpness": 41.0},
    baseline={"version": 1, "day": {"sharpness": 300.0, "samples": 4}},
    thumbnail_sha256="ab" * 32,
    snapshot_at=AT,
)


async def test_save_replace_and_read_back(store: Store, make_camera) -> None:
    cam = make_camera(1)
    await store.apply_import([cam], {}, {})
    await store.save_frame(cam.id, RECORD)
    assert await store.get_frame(cam.id) == RECORD
    later = FrameRecord(checked_at=AT + timedelta(minutes=15), error="no picture: timeout")
    await store.save_frame(cam.id, later)
    assert await store.frame_records() == {cam.id: later}


async def test_the_status_message_is_queued_with_the_record(store: Store, make_camera) -> None:
    cam = make_camera(1)
    await store.apply_import([cam], {}, {})
    message = Message("gridbridge/grid/a/b/c/camera/x/status", b"{}", 1, True)
    await store.save_frame(cam.id, RECORD, [message])
    assert [m for _, m in await store.pending(10)] == [message]


async def test_unknown_camera_is_refused_and_nothing_is_queued(store: Store) -> None:
    message = Message("gridbridge/grid/a/b/c/camera/x/status", b"{}", 1, True)
    with pytest.raises(UnknownCameraError):
        await store.save_frame("nope", RECORD, [message])
    assert await store.pending(10) == []


async def test_the_record_goes_with_the_camera(store: Store, make_camera) -> None:
    cams = [make_camera(1), make_camera(2)]
    await store.apply_import(cams, {}, {})
    for cam in cams:
        await store.save_frame(cam.id, RECORD)
    await store.apply_import([cams[0]], {}, {}, prune=[cams[1].id])
    assert set(await store.frame_records()) == {cams[0].id}
