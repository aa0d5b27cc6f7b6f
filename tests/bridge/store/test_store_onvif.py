"""ONVIF onboarding results in the store: save/read/replace, which cameras are due, forget,
cascade with the camera, and the 0001 → 0002 migration — on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from bridge.observation import DeviceInfo, OnboardResult, Profile
from bridge.secretbox import SecretBox
from bridge.store import Store, UnknownCameraError
from bridge.store.engine import MIGRATIONS_DIR, create_engine, parse_url
from bridge.store.tables import Base

HEAD_REVISION = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()

AT = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)

RESULT = OnboardResult(
    device=DeviceInfo("Hikvision", "DS-2CD2143G2", "V5.7.3 build 220112", "DS-123456", "88"),
    profiles=(
        Profile("Profile_1", "主码流", "H264", 2560, 1440, 25.0),
        Profile("Profile_2", "子码流", "H265", 640, 360, 12.5),
        Profile("Profile_3"),
    ),
    stream_uri="rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast",
    snapshot_uri="http://127.0.0.1:80/onvif-http/snapshot?Profile_1",
    services=(
        "http://www.onvif.org/ver10/device/wsdl",
        "http://www.onvif.org/ver10/media/wsdl",
    ),
)


async def test_save_and_read_back_whole(store: Store, make_camera) -> None:
    await store.apply_import([make_camera(1)], {}, {})
    camera = make_camera(1).id
    assert await store.get_onboarding(camera) is None

    await store.save_onboarding(camera, RESULT, AT)
    assert await store.get_onboarding(camera) == (RESULT, AT)

    # A second onboarding replaces the first entirely.
    later = AT + timedelta(days=1)
    bare = OnboardResult(device=DeviceInfo(serial="NEW-1"))
    await store.save_onboarding(camera, bare, later)
    assert await store.get_onboarding(camera) == (bare, later)


async def test_times_come_back_aware_utc_whatever_zone_went_in(store: Store, make_camera) -> None:
    await store.apply_import([make_camera(1)], {}, {})
    beijing = datetime(2025, 3, 1, 16, 0, tzinfo=timezone(timedelta(hours=8)))
    await store.save_onboarding(make_camera(1).id, RESULT, beijing)
    _, at = await store.get_onboarding(make_camera(1).id)  # type: ignore[misc]
    assert at == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    assert at.utcoffset() == timedelta(0)


async def test_unknown_camera_and_naive_time_are_refused(store: Store, make_camera) -> None:
    with pytest.raises(UnknownCameraError):
        await store.save_onboarding("no-such-camera", RESULT, AT)
    await store.apply_import([make_camera(1)], {}, {})
    with pytest.raises(ValueError, match="naive"):
        await store.save_onboarding(make_camera(1).id, RESULT, datetime(2025, 3, 1))
    assert await store.get_onboarding(make_camera(1).id) is None


async def test_due_until_onboarded_and_again_after_an_inventory_change(
    store_url: str, secret_box: SecretBox, make_camera
) -> None:
    clock = [AT]  # the store stamps cameras' updated_at with this clock
    async with Store(store_url, secret_box, now=lambda: clock[0]) as store:
        await _due_until_onboarded_and_again(store, clock, make_camera)


async def _due_until_onboarded_and_again(store: Store, clock: list[datetime], make_camera) -> None:
    cams = [make_camera(i) for i in range(3)]
    await store.apply_import(cams, {}, {})
    ids = {c.id for c in cams}
    assert await store.onboarding_due() == ids

    clock[0] = AT + timedelta(minutes=5)
    for cam in cams:
        await store.save_onboarding(cam.id, RESULT, clock[0])
    assert await store.onboarding_due() == set()

    # The inventory changes camera 1 (new address) after its onboarding: due again.
    clock[0] = AT + timedelta(hours=1)
    changed = [cams[0], replace(cams[1], host="127.0.9.9"), cams[2]]
    counts = await store.apply_import(changed, {}, {})
    assert counts.updated == 1
    assert await store.onboarding_due() == {cams[1].id}

    # An import that changes nothing leaves them alone.
    clock[0] = AT + timedelta(hours=2)
    await store.apply_import(changed, {}, {})
    assert await store.onboarding_due() == {cams[1].id}


async def test_due_filters_by_ids_and_skips_cameras_without_host(store: Store, make_camera) -> None:
    cams = [make_camera(i) for i in range(4)] + [make_camera(9, host=None)]
    await store.apply_import(cams, {}, {})
    assert make_camera(9).id not in await store.onboarding_due()
    wanted = {cams[0].id, cams[2].id, make_camera(9).id, "unknown-id"}
    assert await store.onboarding_due(wanted) == {cams[0].id, cams[2].id}
    assert await store.onboarding_due(set()) == set()
    with pytest.raises(TypeError):
        await store.onboarding_due(cams[0].id)


async def test_due_with_many_ids_reads_the_table_once(store: Store, make_camera) -> None:
    cams = [make_camera(i) for i in range(700)]
    await store.apply_import(cams, {}, {})
    for cam in cams[:100]:
        await store.save_onboarding(cam.id, RESULT, _after_import())
    ids = [c.id for c in cams[:650]]  # over MAX_IN_KEYS: filtered in Python
    assert await store.onboarding_due(ids) == set(ids[100:])


async def test_forget_makes_a_camera_due(store: Store, make_camera) -> None:
    await store.apply_import([make_camera(1)], {}, {})
    camera = make_camera(1).id
    await store.save_onboarding(camera, RESULT, _after_import())
    assert await store.onboarding_due() == set()
    assert await store.forget_onboarding(camera) is True
    assert await store.forget_onboarding(camera) is False
    assert await store.get_onboarding(camera) is None
    assert await store.onboarding_due() == {camera}


async def test_onboarding_goes_with_its_camera(store: Store, make_camera, raw_sql) -> None:
    await store.apply_import([make_camera(1), make_camera(2)], {}, {})
    for n in (1, 2):
        await store.save_onboarding(make_camera(n).id, RESULT, AT)
    await store.apply_import([make_camera(2)], {}, {}, prune=[make_camera(1).id])
    rows = await raw_sql("SELECT camera_id FROM camera_onvif")
    assert [r[0] for r in rows] == [make_camera(2).id]


def _after_import() -> datetime:
    """A time after the fixture store stamped the cameras' ``updated_at`` (its real clock)."""
    return datetime.now(UTC) + timedelta(seconds=1)


def _migrate(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def test_upgrade_from_0001_keeps_cameras_and_makes_them_due(
    store_url: str, secret_box: SecretBox, make_camera, raw_sql
) -> None:
    # A database as the previous release left it: schema 0001 with cameras in it.
    async with Store(store_url, secret_box) as store:
        await store.apply_import([make_camera(1), make_camera(2)], {}, {})
        await store.save_onboarding(make_camera(1).id, RESULT, AT)
    engine = create_engine(parse_url(store_url), connect_timeout_s=5.0, foreign_keys=False)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate, "0001", down=True)
    finally:
        await engine.dispose()
    assert [tuple(r) for r in await raw_sql("SELECT version_num FROM alembic_version")] == [
        ("0001",)
    ]

    # Starting the store migrates to 0002; the inventory is intact and nobody is onboarded.
    async with Store(store_url, secret_box) as store:
        assert await store.camera_ids() == {make_camera(1).id, make_camera(2).id}
        assert await store.onboarding_due() == {make_camera(1).id, make_camera(2).id}
        later = _after_import()
        await store.save_onboarding(make_camera(2).id, RESULT, later)
        assert await store.get_onboarding(make_camera(2).id) == (RESULT, later)
        assert await store.onboarding_due() == {make_camera(1).id}
    assert [tuple(r) for r in await raw_sql("SELECT version_num FROM alembic_version")] == [
        (HEAD_REVISION,)
    ]


async def test_migrated_camera_onvif_table_matches_the_model(store: Store, store_url: str) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    engine = create_engine(parse_url(store_url), connect_timeout_s=5.0)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []
