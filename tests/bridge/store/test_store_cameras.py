"""Inventory import, listing, one camera with its password, links."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.model import CameraLink, CameraState, Mapping, MappingReason
from bridge.secretbox import SecretBox, SecretError
from bridge.store import ImportCounts, Store, StoreError, UnknownCameraError, sqlite_url
from bridge.store import cameras as cameras_module
from bridge.store.tables import cameras_t

EXPLICIT = MappingReason.EXPLICIT
COORDS = MappingReason.COORDINATES
MANUAL = MappingReason.MANUAL


class Clock:
    """A settable clock for the store's row timestamps."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 60) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def clocked(store_url: str, secret_box: SecretBox):
    clock = Clock()
    async with Store(store_url, secret_box, now=clock) as store:
        yield store, clock


async def test_import_counts_add_update_unchanged_prune(store: Store, make_camera) -> None:
    first = [make_camera(i) for i in range(5)]
    assert await store.apply_import(first, {}, {}) == ImportCounts(5, 0, 0, 0)

    second = [
        replace(first[0], name="新名字"),  # field changed
        replace(first[1], password="new-password"),  # password changed
        first[2],
        make_camera(10),  # new
    ]
    counts = await store.apply_import(second, {}, {}, prune=[first[3].id, "no-such-camera"])
    assert counts == ImportCounts(added=1, updated=2, unchanged=1, pruned=1)
    ids = {first[i].id for i in (0, 1, 2, 4)} | {make_camera(10).id}
    assert await store.camera_ids() == ids
    camera = await store.get_camera(first[1].id)
    assert camera is not None
    assert camera.password == "new-password"
    assert (await store.get_camera(first[0].id)) == replace(first[0], name="新名字")


async def test_reimport_of_identical_records_writes_nothing(clocked, make_camera, raw_sql) -> None:
    store, clock = clocked
    cameras = [make_camera(i, explicit_grids=("G1",)) for i in range(3)]
    links = {c.id: [CameraLink(c.id, "G1", EXPLICIT)] for c in cameras}
    mappings = {c.id: Mapping.EXPLICIT for c in cameras}
    await store.apply_import(cameras, links, mappings)
    before = [tuple(r) for r in await raw_sql("SELECT * FROM cameras ORDER BY id")]
    links_before = [tuple(r) for r in await raw_sql("SELECT * FROM camera_links ORDER BY 1, 2")]

    clock.advance()
    assert await store.apply_import(cameras, links, mappings) == ImportCounts(0, 0, 3, 0)
    # Byte-for-byte the same rows: same password tokens, same updated_at.
    assert [tuple(r) for r in await raw_sql("SELECT * FROM cameras ORDER BY id")] == before
    assert [tuple(r) for r in await raw_sql("SELECT * FROM camera_links ORDER BY 1, 2")] == (
        links_before
    )


async def test_update_bumps_updated_at_only_of_changed_cameras(clocked, make_camera) -> None:
    store, clock = clocked
    cameras = [make_camera(1), make_camera(2)]
    await store.apply_import(cameras, {}, {})
    created = clock.now
    clock.advance()
    await store.apply_import([replace(cameras[0], vendor="Dahua"), cameras[1]], {}, {})
    stamps = {row.id: (row.created_at, row.updated_at) for row in await _timestamps(store, cameras)}
    assert stamps[cameras[0].id] == (created, clock.now)
    assert stamps[cameras[1].id] == (created, created)


async def _timestamps(store: Store, cameras):
    async with store._transaction("test") as conn:
        return list(
            await conn.execute(
                select(cameras_t.c.id, cameras_t.c.created_at, cameras_t.c.updated_at)
            )
        )


async def test_same_password_keeps_its_token_a_new_one_is_reencrypted(
    store: Store, make_camera, raw_sql
) -> None:
    camera = make_camera(1)
    await store.apply_import([camera], {}, {})
    (token,) = [r[0] for r in await raw_sql("SELECT password_enc FROM cameras")]
    await store.apply_import([replace(camera, name="x")], {}, {})
    assert [r[0] for r in await raw_sql("SELECT password_enc FROM cameras")] == [token]
    await store.apply_import([replace(camera, password="other")], {}, {})
    (new_token,) = [r[0] for r in await raw_sql("SELECT password_enc FROM cameras")]
    assert new_token != token
    await store.apply_import([replace(camera, password=None)], {}, {})
    assert [r[0] for r in await raw_sql("SELECT password_enc FROM cameras")] == [None]
    got = await store.get_camera(camera.id)
    assert got is not None
    assert got.password is None


async def test_password_is_stored_encrypted_and_decrypts_back(
    store: Store, make_camera, raw_sql, secret_box: SecretBox
) -> None:
    camera = make_camera(7, password="S3cret-口令-7")
    await store.apply_import([camera], {}, {})
    ((token,),) = await raw_sql("SELECT password_enc FROM cameras")
    assert token != camera.password
    assert "S3cret" not in token
    assert secret_box.decrypt(token) == camera.password
    assert await store.get_camera(camera.id) == camera
    assert (await store.get_camera("unknown")) is None


async def test_plaintext_password_is_nowhere_in_the_sqlite_files(
    tmp_path: Path, secret_box: SecretBox, make_camera
) -> None:
    password = "PlainTextNeedle-4711"
    async with Store(sqlite_url(tmp_path), secret_box) as store:
        await store.apply_import([make_camera(1, password=password)], {}, {})
        # While open, the rows may sit in the WAL file: _database_bytes reads it too.
        assert password.encode() not in _database_bytes(tmp_path)
    assert password.encode() not in _database_bytes(tmp_path)


def _database_bytes(data_dir: Path) -> bytes:
    files = sorted(data_dir.glob("gridbridge.db*"))  # the file, its -wal and -shm
    content = b"".join(f.read_bytes() for f in files)
    assert b"SQLite format 3" in content
    assert b"34010200001320000001" in content  # camera 1's row is there, in clear
    return content


async def test_a_different_key_gives_secret_error_without_secrets(
    store_url: str, make_camera, secret_box: SecretBox
) -> None:
    camera = make_camera(1, password="needle-pw")
    async with Store(store_url, secret_box) as store:
        await store.apply_import([camera], {}, {})
    other_key = SecretBox.generate_key()
    async with Store(store_url, SecretBox(other_key)) as store:
        with pytest.raises(SecretError, match="secret key differs") as info:
            await store.get_camera(camera.id)
        message = str(info.value)
        assert "needle-pw" not in message
        assert other_key not in message
        assert "gAAAA" not in message  # no Fernet token
        # Listing and relinking need no password and still work.
        assert [v.id for v in await store.list_cameras()] == [camera.id]
        assert (await store.cameras_for_relink())[0].password is None
        # Re-importing under the new key re-encrypts with it.
        assert await store.apply_import([camera], {}, {}) == ImportCounts(0, 1, 0, 0)
        assert await store.get_camera(camera.id) == camera


async def test_links_replace_computed_ones_and_keep_manual(store: Store, make_camera) -> None:
    cam = make_camera(1)
    await store.apply_import(
        [cam],
        {cam.id: [CameraLink(cam.id, "G1", EXPLICIT), CameraLink(cam.id, "G2", COORDS)]},
        {cam.id: Mapping.EXPLICIT},
    )
    assert await store.add_manual_link(cam.id, "G9") is True
    assert await store.add_manual_link(cam.id, "G9") is False

    counts = await store.apply_import(
        [cam], {cam.id: [CameraLink(cam.id, "G3", COORDS)]}, {cam.id: Mapping.COORDINATES}
    )
    assert counts == ImportCounts(0, 1, 0, 0)
    assert await store.links_of(cam.id) == [
        CameraLink(cam.id, "G3", COORDS),
        CameraLink(cam.id, "G9", MANUAL),
    ]
    # No links given: computed ones go, manual stays.
    await store.apply_import([cam], {}, {cam.id: Mapping.UNMAPPED})
    assert await store.links_of(cam.id) == [CameraLink(cam.id, "G9", MANUAL)]
    (view,) = await store.list_cameras()
    assert view.mapping is Mapping.UNMAPPED
    assert view.grids == ("G9",)


async def test_manual_link_wins_over_a_computed_link_to_the_same_cell(
    store: Store, make_camera
) -> None:
    cam = make_camera(1)
    await store.apply_import([cam], {cam.id: [CameraLink(cam.id, "G1", COORDS)]}, {})
    assert await store.add_manual_link(cam.id, "G1") is True  # computed becomes manual
    assert await store.links_of(cam.id) == [CameraLink(cam.id, "G1", MANUAL)]
    counts = await store.apply_import([cam], {cam.id: [CameraLink(cam.id, "G1", COORDS)]}, {})
    assert counts == ImportCounts(0, 0, 1, 0)
    assert await store.links_of(cam.id) == [CameraLink(cam.id, "G1", MANUAL)]
    assert await store.remove_link(cam.id, "G1") is True
    assert await store.remove_link(cam.id, "G1") is False
    assert await store.links_of(cam.id) == []


async def test_links_only_change_counts_as_update(store: Store, make_camera) -> None:
    cam = make_camera(1)
    await store.apply_import([cam], {cam.id: [CameraLink(cam.id, "G1", COORDS)]}, {})
    counts = await store.apply_import([cam], {cam.id: [CameraLink(cam.id, "G2", COORDS)]}, {})
    assert counts == ImportCounts(0, 1, 0, 0)
    assert await store.links_of(cam.id) == [CameraLink(cam.id, "G2", COORDS)]


async def test_mapping_defaults_to_what_the_links_imply(store: Store, make_camera) -> None:
    a, b, c = make_camera(1), make_camera(2), make_camera(3)
    links = {
        a.id: [CameraLink(a.id, "G1", COORDS), CameraLink(a.id, "G2", EXPLICIT)],
        b.id: [CameraLink(b.id, "G1", COORDS)],
    }
    await store.apply_import([a, b, c], links, {})
    mappings = {v.id: v.mapping for v in await store.list_cameras()}
    assert mappings == {
        a.id: Mapping.EXPLICIT,
        b.id: Mapping.COORDINATES,
        c.id: Mapping.UNMAPPED,
    }


async def test_manual_link_to_unknown_camera_is_refused(store: Store) -> None:
    with pytest.raises(UnknownCameraError):
        await store.add_manual_link("nope", "G1")


@pytest.mark.parametrize(
    "problem",
    ["duplicate", "foreign_link", "misfiled_link", "manual_link", "import_and_prune"],
)
async def test_inconsistent_import_arguments_are_refused(
    store: Store, make_camera, problem: str
) -> None:
    a, b = make_camera(1), make_camera(2)
    args = {
        "duplicate": ([a, a], {}, ()),
        "foreign_link": ([a], {b.id: [CameraLink(b.id, "G", COORDS)]}, ()),
        "misfiled_link": ([a, b], {a.id: [CameraLink(b.id, "G", COORDS)]}, ()),
        "manual_link": ([a], {a.id: [CameraLink(a.id, "G", MANUAL)]}, ()),
        "import_and_prune": ([a], {}, (a.id,)),
    }[problem]
    with pytest.raises(ValueError, match=r"\S"):
        await store.apply_import(args[0], args[1], {}, prune=args[2])
    assert await store.camera_ids() == set()


async def test_database_refusal_rolls_back_and_raises_store_error(
    store: Store, make_camera
) -> None:
    await store.apply_import([make_camera(1)], {}, {})
    bad = make_camera(3, name=None)  # NOT NULL
    with pytest.raises(StoreError, match="inventory not imported") as info:
        await store.apply_import([make_camera(4), bad], {}, {}, prune=[make_camera(1).id])
    assert "pw-" not in str(info.value)
    assert "gAAAA" not in str(info.value)
    assert await store.camera_ids() == {make_camera(1).id}


async def test_new_cameras_start_unknown(clocked, make_camera) -> None:
    store, clock = clocked
    await store.apply_import([make_camera(1)], {}, {})
    assert await store.current_states() == {make_camera(1).id: (CameraState.UNKNOWN, (), clock.now)}
    (view,) = await store.list_cameras()
    assert (view.state, view.faults, view.since, view.checked_at) == (
        CameraState.UNKNOWN,
        (),
        clock.now,
        None,
    )


async def test_prune_removes_links_and_state_but_not_transitions(
    store: Store, make_camera, raw_sql
) -> None:
    cam = make_camera(1)
    await store.apply_import([cam], {cam.id: [CameraLink(cam.id, "G1", COORDS)]}, {})
    await store.add_manual_link(cam.id, "G2")
    at = datetime(2025, 1, 1, tzinfo=UTC)
    await store.record_transition(cam.id, at, CameraState.UNKNOWN, CameraState.ONLINE, [], "up")
    assert await store.apply_import([], {}, {}, prune=[cam.id]) == ImportCounts(0, 0, 0, 1)
    assert await raw_sql("SELECT * FROM camera_links") == []
    assert await raw_sql("SELECT * FROM camera_state") == []
    assert len(await raw_sql("SELECT * FROM transitions")) == 1


async def test_list_filters_by_grid_codes_and_state(store: Store, make_camera) -> None:
    a, b, c, d = (make_camera(i) for i in (1, 2, 3, 4))
    links = {
        a.id: [CameraLink(a.id, "V1-001", COORDS)],
        b.id: [CameraLink(b.id, "V1-002", EXPLICIT), CameraLink(b.id, "V2-001", EXPLICIT)],
        c.id: [CameraLink(c.id, "V2-001", COORDS)],
    }
    await store.apply_import([d, c, b, a], links, {})  # d: unmapped
    at = datetime(2025, 1, 1, tzinfo=UTC)
    await store.record_transition(
        b.id, at, CameraState.UNKNOWN, CameraState.OFFLINE, ["unreachable"], "3 failed checks"
    )

    def ids(views) -> list[str]:
        return [v.id for v in views]

    assert ids(await store.list_cameras()) == [a.id, b.id, c.id, d.id]
    assert ids(await store.list_cameras(["V1-001", "V1-002"])) == [a.id, b.id]
    assert ids(await store.list_cameras({"V2-001"})) == [b.id, c.id]
    assert ids(await store.list_cameras([])) == []
    assert ids(await store.list_cameras(["none"])) == []
    assert ids(await store.list_cameras(state=CameraState.OFFLINE)) == [b.id]
    assert ids(await store.list_cameras(state=CameraState.UNKNOWN)) == [a.id, c.id, d.id]
    assert ids(await store.list_cameras(["V2-001"], CameraState.UNKNOWN)) == [c.id]
    assert ids(await store.list_cameras(state=CameraState.ONLINE)) == []
    with pytest.raises(TypeError):
        await store.list_cameras("V1-001")  # a str is a collection of characters

    (view,) = await store.list_cameras(["V1-002"])
    assert view.grids == ("V1-002", "V2-001")  # all its codes, not just the matching one
    assert view.mapping is Mapping.EXPLICIT
    assert (view.state, view.faults, view.since, view.checked_at) == (
        CameraState.OFFLINE,
        ("unreachable",),
        at,
        at,
    )
    assert (view.name, view.host, view.vendor, view.address) == (
        b.name,
        b.host,
        "Hikvision",
        b.address,
    )
    assert (view.lon_wgs84, view.lat_wgs84, view.upstream_id) == (
        b.lon_wgs84,
        b.lat_wgs84,
        b.upstream_id,
    )


async def test_list_with_more_grid_codes_than_an_in_list_holds(
    store: Store, make_camera, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cameras_module, "MAX_SQL_GRID_CODES", 2)
    cams = [make_camera(i) for i in range(4)]
    await store.apply_import(
        cams, {c.id: [CameraLink(c.id, f"G{i}", COORDS)] for i, c in enumerate(cams)}, {}
    )
    views = await store.list_cameras(["G0", "G2", "G3", "nope"], CameraState.UNKNOWN)
    assert [v.id for v in views] == [cams[0].id, cams[2].id, cams[3].id]
    assert views[1].grids == ("G2",)


async def test_cameras_for_relink_gives_records_without_passwords(
    store: Store, make_camera
) -> None:
    cams = [make_camera(2, explicit_grids=("G1", "G2")), make_camera(1)]
    await store.apply_import(cams, {}, {})
    assert await store.cameras_for_relink() == [
        replace(cams[1], password=None),
        replace(cams[0], password=None),
    ]


async def test_bulk_import_beyond_the_in_list_size(store: Store, make_camera) -> None:
    cams = [make_camera(i) for i in range(2_500)]
    links = {c.id: [CameraLink(c.id, f"G{i % 7}", COORDS)] for i, c in enumerate(cams)}
    assert await store.apply_import(cams, links, {}) == ImportCounts(2_500, 0, 0, 0)
    changed = [replace(c, name="renamed") if i % 10 == 0 else c for i, c in enumerate(cams)]
    assert await store.apply_import(changed, links, {}) == ImportCounts(0, 250, 2_250, 0)
    views = await store.list_cameras(["G3"])
    assert len(views) == len([i for i in range(2_500) if i % 7 == 3])
    assert await store.apply_import([], {}, {}, prune=[c.id for c in cams]) == ImportCounts(
        0, 0, 0, 2_500
    )
