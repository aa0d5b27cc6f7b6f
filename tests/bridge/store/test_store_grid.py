"""The grid map: whole replacement, atomicity, relinking cameras."""

from __future__ import annotations

import pytest

from bridge.model import CameraLink, GridCell, Level, Mapping, MappingReason
from bridge.store import Store, StoreError

COORDS = MappingReason.COORDINATES
EXPLICIT = MappingReason.EXPLICIT


def hierarchy(make_cell) -> list[GridCell]:
    return [
        make_cell("340102001", Level.TOWNSHIP, "340102", name="明光路街道"),
        make_cell("340102001001", Level.VILLAGE, "340102001"),
        make_cell("340102001001001", Level.GRID, "340102001001"),
        make_cell("340102001001002", Level.GRID, "340102001001"),
    ]


async def test_replace_and_load_round_trip_keeps_order_and_geometry(
    store: Store, make_cell
) -> None:
    assert await store.load_grid() == []
    cells = hierarchy(make_cell)
    multi = GridCell(
        "340102001001003",
        "网格三",
        Level.GRID,
        "340102001001",
        {
            "type": "MultiPolygon",
            "coordinates": [[[[117.1, 31.1], [117.2, 31.1], [117.2, 31.2], [117.1, 31.1]]]],
        },
    )
    cells.insert(1, multi)  # not sorted by code: order must be kept as given
    await store.replace_grid(cells)
    assert await store.load_grid() == cells

    await store.replace_grid(cells[:2])
    assert await store.load_grid() == cells[:2]


async def test_failed_replace_leaves_the_old_map_intact(store: Store, make_cell) -> None:
    old = hierarchy(make_cell)
    await store.replace_grid(old)
    new = [make_cell("A"), make_cell("B"), make_cell("A")]  # duplicate code, mid-way
    with pytest.raises(StoreError, match="grid map not replaced"):
        await store.replace_grid(new)
    assert await store.load_grid() == old


async def test_failed_replace_leaves_links_and_mappings_intact(
    store: Store, make_cell, make_camera
) -> None:
    cam = make_camera(1)
    await store.apply_import([cam], {cam.id: [CameraLink(cam.id, "G1", COORDS)]}, {})
    await store.replace_grid([make_cell("G1")])
    with pytest.raises(StoreError):
        await store.replace_grid(
            [make_cell("G2"), make_cell("G2")],
            relinks={cam.id: [CameraLink(cam.id, "G2", COORDS)]},
        )
    assert await store.links_of(cam.id) == [CameraLink(cam.id, "G1", COORDS)]
    assert [c.code for c in await store.load_grid()] == ["G1"]


async def test_relink_replaces_computed_links_keeps_manual_sets_mapping(
    store: Store, make_cell, make_camera
) -> None:
    a, b, c = make_camera(1), make_camera(2), make_camera(3)
    await store.apply_import(
        [a, b, c],
        {
            a.id: [CameraLink(a.id, "G1", COORDS)],
            b.id: [CameraLink(b.id, "G1", EXPLICIT)],
            c.id: [CameraLink(c.id, "G1", COORDS)],
        },
        {},
    )
    await store.add_manual_link(a.id, "G7")
    await store.replace_grid(
        [make_cell("G2"), make_cell("G7")],
        relinks={
            a.id: [CameraLink(a.id, "G2", COORDS)],
            b.id: [],
            "3401020000132999999": [],  # removed meanwhile: skipped
        },
        mappings={a.id: Mapping.COORDINATES, b.id: Mapping.UNMAPPED},
    )
    assert await store.links_of(a.id) == [
        CameraLink(a.id, "G2", COORDS),
        CameraLink(a.id, "G7", MappingReason.MANUAL),
    ]
    assert await store.links_of(b.id) == []
    # Not in relinks: untouched.
    assert await store.links_of(c.id) == [CameraLink(c.id, "G1", COORDS)]
    views = {v.id: v for v in await store.list_cameras()}
    assert views[a.id].mapping is Mapping.COORDINATES
    assert views[b.id].mapping is Mapping.UNMAPPED
    assert views[c.id].mapping is Mapping.COORDINATES
    assert [v.id for v in await store.list_cameras(["G2"])] == [a.id]


async def test_relink_refuses_misfiled_links(store: Store, make_camera) -> None:
    a, b = make_camera(1), make_camera(2)
    await store.apply_import([a, b], {}, {})
    with pytest.raises(ValueError, match="filed under"):
        await store.replace_grid([], relinks={a.id: [CameraLink(b.id, "G1", COORDS)]})
