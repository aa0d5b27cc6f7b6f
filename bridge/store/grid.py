"""The grid map: replaced whole, in one transaction, optionally with the cameras' new links."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.model import CameraLink, GridCell, Level
from bridge.model import Mapping as CameraMapping
from bridge.store.common import rows_for_keys
from bridge.store.links import check_links, derived_mapping, execute_plan, load_links, plan_links
from bridge.store.tables import cameras_t, grid_cells_t


async def replace_grid(
    conn: AsyncConnection,
    cells: Sequence[GridCell],
    relinks: Mapping[str, Sequence[CameraLink]],
    mappings: Mapping[str, CameraMapping],
    now: datetime,
) -> None:
    """Replace the map and relink cameras in the caller's transaction; see `Store.replace_grid`.

    Cameras named in ``relinks`` that are no longer stored (removed meanwhile) are skipped.
    """
    await conn.execute(delete(grid_cells_t))
    if cells:
        await conn.execute(
            insert(grid_cells_t),
            [
                {
                    "code": cell.code,
                    "name": cell.name,
                    "level": cell.level.value,
                    "parent": cell.parent,
                    "geometry": cell.geometry,
                    "position": position,
                }
                for position, cell in enumerate(cells)
            ],
        )
    if not relinks:
        return
    stmt = select(cameras_t.c.id, cameras_t.c.mapping)
    current: dict[str, str] = {
        camera_id: mapping
        for camera_id, mapping in await rows_for_keys(conn, stmt, cameras_t.c.id, set(relinks))
    }
    wanted = {camera_id: relinks[camera_id] for camera_id in sorted(current)}
    check_links(wanted, current)
    plan = plan_links(await load_links(conn, set(wanted)), wanted)
    changes = []
    for camera_id, links in wanted.items():
        mapping = (mappings.get(camera_id) or derived_mapping(links)).value
        if mapping != current[camera_id] or camera_id in plan.changed:
            changes.append({"b_id": camera_id, "mapping": mapping, "updated_at": now})
    await execute_plan(conn, plan)
    if changes:
        await conn.execute(update(cameras_t).where(cameras_t.c.id == bindparam("b_id")), changes)


async def load_grid(conn: AsyncConnection) -> list[GridCell]:
    """The stored map, cells in the order they were given."""
    t = grid_cells_t
    rows = await conn.execute(
        select(t.c.code, t.c.name, t.c.level, t.c.parent, t.c.geometry).order_by(t.c.position)
    )
    return [
        GridCell(code=code, name=name, level=Level(level), parent=parent, geometry=geometry)
        for code, name, level, parent, geometry in rows
    ]
