"""Import jobs against the real store (SQLite and PostgreSQL): the sample district, grid
reloads that re-link cameras, extra grid links, and the GCJ-02 conversion mattering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.importer import import_inventory, load_grid
from bridge.model import Mapping
from bridge.settings import Settings
from bridge.store import Store

DEMO = Path(__file__).resolve().parents[2] / "bridge" / "demo" / "district"
EXPECTED = json.loads((DEMO / "expected.json").read_text(encoding="utf-8"))
HEADER = "设备编码,设备名称,IP地址,经度,纬度,坐标系,所属网格,关联网格\n"


async def test_demo_district_on_both_backends(store: Store) -> None:
    settings = Settings()
    grid = await load_grid(store, settings, DEMO / "grid.geojson")
    assert not grid.problems
    report = await import_inventory(store, settings, DEMO / "cameras.csv")
    assert report.imported == len(EXPECTED["grid_of_camera"])
    assert {(i.row, i.camera_id, i.kind) for i in report.issues} == {
        (b["row"], b["camera"], b["kind"]) for b in EXPECTED["bad_rows"]
    }
    listed = {c.id: c for c in await store.list_cameras()}
    assert {cid: list(c.grids) for cid, c in listed.items()} == {
        cid: [g] if g else [] for cid, g in EXPECTED["grid_of_camera"].items()
    }
    again = await import_inventory(store, settings, DEMO / "cameras.csv")
    assert again.counts is not None
    assert (again.counts.added, again.counts.updated) == (0, 0)
    assert again.counts.unchanged == report.imported


async def test_gcj02_rows_land_in_their_cells_only_after_conversion(store: Store) -> None:
    """About half of the GCJ-02 rows would land in the wrong cell unconverted."""
    settings = Settings()
    await load_grid(store, settings, DEMO / "grid.geojson")
    await import_inventory(store, settings, DEMO / "cameras.csv")
    from bridge.grid import GridIndex

    index = GridIndex(await store.load_grid())
    rows = (DEMO / "cameras.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    would_be_wrong = 0
    gcj = 0
    for line in rows:
        cells = line.split(",")
        cam_id, lon, lat, crs, explicit = cells[0], cells[8], cells[9], cells[10], cells[11]
        want = EXPECTED["grid_of_camera"].get(cam_id)
        if crs != "GCJ02" or explicit or want is None or not lon:
            continue
        gcj += 1
        would_be_wrong += index.locate(float(lon), float(lat)) != want
    assert gcj > 300
    assert would_be_wrong > gcj // 4  # the conversion really matters for this data


async def test_new_grid_map_relinks_cameras(store: Store, tmp_path: Path) -> None:
    settings = Settings()
    await load_grid(store, settings, DEMO / "grid.geojson")
    await import_inventory(store, settings, DEMO / "cameras.csv")
    before = {c.id: c for c in await store.list_cameras()}

    # Drop one grid cell from the map: its coordinate-linked cameras become unmapped,
    # its explicitly linked ones fall back to coordinates (with a warning).
    grid = json.loads((DEMO / "grid.geojson").read_text(encoding="utf-8"))
    gone = "419901001001001"
    grid["features"] = [f for f in grid["features"] if f["properties"]["code"] != gone]
    smaller = tmp_path / "smaller.geojson"
    smaller.write_text(json.dumps(grid), encoding="utf-8")
    report = await load_grid(store, settings, smaller)
    assert not report.problems
    assert report.relinked == len(before)

    after = {c.id: c for c in await store.list_cameras()}
    moved = [cid for cid, cam in before.items() if gone in cam.grids]
    assert moved
    for cid in moved:
        assert gone not in after[cid].grids
        assert after[cid].mapping is Mapping.UNMAPPED
    explicit_moved = [cid for cid in moved if before[cid].mapping is Mapping.EXPLICIT]
    assert {w.camera_id for w in report.warnings if w.kind == "grid_gone"} == set(explicit_moved)
    untouched = [cid for cid, cam in before.items() if gone not in cam.grids]
    assert all(after[cid].grids == before[cid].grids for cid in untouched)
    assert await store.list_cameras([gone]) == []


async def test_camera_linked_to_two_grids(store: Store, tmp_path: Path) -> None:
    settings = Settings()
    await load_grid(store, settings, DEMO / "grid.geojson")
    inventory = tmp_path / "two.csv"
    inventory.write_text(
        HEADER
        + "41990100011326900001,渡口球机,127.20.9.1,114.132120,32.082641,WGS84,"
        + "419901005005004,419901005005001;419901005005002\n",
        encoding="utf-8",
    )
    report = await import_inventory(store, settings, inventory)
    assert report.issues == []
    (camera,) = await store.list_cameras()
    assert camera.grids == ("419901005005001", "419901005005002", "419901005005004")
    assert camera.mapping is Mapping.EXPLICIT
    for code in camera.grids:
        assert [c.id for c in await store.list_cameras([code])] == [camera.id]


async def test_missing_cameras_reported_and_kept_without_prune(
    store: Store, tmp_path: Path
) -> None:
    settings = Settings()
    await load_grid(store, settings, DEMO / "grid.geojson")
    full = tmp_path / "full.csv"
    full.write_text(
        HEADER
        + "41990100011326900001,甲,127.20.9.1,114.132120,32.082641,WGS84,,\n"
        + "41990100011326900002,乙,127.20.9.2,114.135567,32.114747,WGS84,,\n",
        encoding="utf-8",
    )
    await import_inventory(store, settings, full)
    one = tmp_path / "one.csv"
    one.write_text(
        HEADER + "41990100011326900001,甲,127.20.9.1,114.132120,32.082641,WGS84,,\n",
        encoding="utf-8",
    )
    report = await import_inventory(store, settings, one)
    assert report.missing == ["41990100011326900002"]
    assert len(await store.list_cameras()) == 2
    report = await import_inventory(store, settings, one, prune=True)
    assert report.counts is not None
    assert report.counts.pruned == 1
    assert [c.id for c in await store.list_cameras()] == ["41990100011326900001"]


@pytest.mark.parametrize("name", ["请见附件.csv"])
async def test_import_with_column_map(store: Store, tmp_path: Path, name: str) -> None:
    settings = Settings()
    await load_grid(store, settings, DEMO / "grid.geojson")
    inventory = tmp_path / name
    inventory.write_text(
        "摄像机编号,叫什么,X坐标,Y坐标,坐标参考\n"
        "41990100011326900001,甲,114.132120,32.082641,GPS\n",
        encoding="utf-8",
    )
    report = await import_inventory(
        store,
        settings,
        inventory,
        column_map={
            "id": "摄像机编号",
            "name": "叫什么",
            "lon": "X坐标",
            "lat": "Y坐标",
            "crs": "坐标参考",
        },
    )
    assert report.issues == []
    (camera,) = await store.list_cameras()
    assert camera.grids == ("419901005005004",)
