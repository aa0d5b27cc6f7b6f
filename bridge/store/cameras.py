"""Cameras: bulk import (add, update, leave alone, prune), listing with links and state, and
reading one camera with its password.

Everything works in bulk: existing rows are read with one query per table and written with
executemany, so an import of 20,000 cameras is a handful of statements.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.model import CameraLink, CameraRecord, CameraState, CameraView, Crs
from bridge.model import Mapping as CameraMapping
from bridge.secretbox import SecretBox, SecretError
from bridge.store.common import rows_for_keys
from bridge.store.links import check_links, derived_mapping, execute_plan, load_links, plan_links
from bridge.store.tables import camera_links_t, camera_state_t, cameras_t

# Columns that hold the inventory's description of a camera, compared on re-import.
# (password_enc is compared by decrypting; created_at/updated_at are ours.)
_COMPARED = tuple(
    c.name for c in cameras_t.columns if c.name not in {"password_enc", "created_at", "updated_at"}
)

# More codes than this in a list_cameras filter are matched in Python, not in an IN list
# (see bridge.store.common.MAX_IN_KEYS for why long IN lists are avoided).
MAX_SQL_GRID_CODES = 500

# An import that adds or removes more rows than this refreshes PostgreSQL's statistics.
_ANALYZE_AFTER_ROWS = 1_000


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What an import did: cameras added, updated (row or links changed), unchanged (not
    written at all), and pruned (deleted, among those asked for that existed)."""

    added: int
    updated: int
    unchanged: int
    pruned: int


def _columns(record: CameraRecord, mapping: CameraMapping) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "type_code": record.type_code,
        "host": record.host,
        "rtsp_port": record.rtsp_port,
        "onvif_port": record.onvif_port,
        "username": record.username,
        "rtsp_url": record.rtsp_url,
        "lon": record.lon,
        "lat": record.lat,
        "crs": record.crs.value if record.crs is not None else None,
        "lon_wgs84": record.lon_wgs84,
        "lat_wgs84": record.lat_wgs84,
        "explicit_grids": list(record.explicit_grids),
        "key_location": record.key_location,
        "upstream_id": record.upstream_id,
        "address": record.address,
        "vendor": record.vendor,
        "model": record.model,
        "mapping": mapping.value,
        "source_row": record.source_row,
    }


def _same_password(box: SecretBox, stored: str | None, wanted: str | None) -> bool:
    if stored is None or wanted is None:
        return stored is None and wanted is None
    try:
        return box.decrypt(stored) == wanted
    except SecretError:  # written with another key: the import's copy replaces it
        return False


async def apply_import(
    conn: AsyncConnection,
    box: SecretBox,
    cameras: Sequence[CameraRecord],
    links: Mapping[str, Sequence[CameraLink]],
    mappings: Mapping[str, CameraMapping],
    prune: Collection[str],
    now: datetime,
) -> ImportCounts:
    """Store an inventory import in the caller's transaction; see `Store.apply_import`."""
    ids = [camera.id for camera in cameras]
    id_set = set(ids)
    if len(id_set) != len(ids):
        raise ValueError("the same camera id appears twice in one import")
    check_links(links, id_set)
    prune_set = set(prune)
    if prune_set & id_set:
        raise ValueError("a camera cannot be imported and pruned at once")

    stmt = select(*(cameras_t.c[name] for name in (*_COMPARED, "password_enc")))
    existing = {row.id: row for row in await rows_for_keys(conn, stmt, cameras_t.c.id, id_set)}
    wanted_links = {camera.id: links.get(camera.id, ()) for camera in cameras}
    plan = plan_links(await load_links(conn, id_set), wanted_links)

    inserts: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for camera in cameras:
        mapping = mappings.get(camera.id) or derived_mapping(wanted_links[camera.id])
        columns = _columns(camera, mapping)
        old = existing.get(camera.id)
        if old is None:
            columns["password_enc"] = (
                box.encrypt(camera.password) if camera.password is not None else None
            )
            columns["created_at"] = columns["updated_at"] = now
            inserts.append(columns)
            states.append(
                {
                    "camera_id": camera.id,
                    "state": CameraState.UNKNOWN.value,
                    "faults": [],
                    "since": now,
                    "checked_at": None,
                    "detail": {},
                }
            )
            continue
        same_row = all(getattr(old, name) == columns[name] for name in _COMPARED)
        same_password = _same_password(box, old.password_enc, camera.password)
        if same_row and same_password and camera.id not in plan.changed:
            continue
        columns["password_enc"] = (
            old.password_enc
            if same_password
            else (box.encrypt(camera.password) if camera.password is not None else None)
        )
        columns["b_id"] = columns.pop("id")
        columns["updated_at"] = now
        updates.append(columns)

    if inserts:
        await conn.execute(insert(cameras_t), inserts)
        await conn.execute(insert(camera_state_t), states)
    if updates:
        await conn.execute(update(cameras_t).where(cameras_t.c.id == bindparam("b_id")), updates)
    await execute_plan(conn, plan)
    doomed = await rows_for_keys(conn, select(cameras_t.c.id), cameras_t.c.id, prune_set)
    if doomed:
        await conn.execute(
            delete(cameras_t).where(cameras_t.c.id == bindparam("b_id")),
            [{"b_id": row.id} for row in doomed],
        )
    if len(inserts) + len(doomed) > _ANALYZE_AFTER_ROWS and conn.dialect.name == "postgresql":
        # Fresh statistics, or the planner keeps treating the tables as empty until
        # autovacuum gets to them.
        await conn.exec_driver_sql("ANALYZE cameras, camera_links, camera_state")
    return ImportCounts(
        added=len(inserts),
        updated=len(updates),
        unchanged=len(cameras) - len(inserts) - len(updates),
        pruned=len(doomed),
    )


def _record(row: Row[Any], password: str | None) -> CameraRecord:
    return CameraRecord(
        id=row.id,
        name=row.name,
        type_code=row.type_code,
        host=row.host,
        rtsp_port=row.rtsp_port,
        onvif_port=row.onvif_port,
        username=row.username,
        password=password,
        rtsp_url=row.rtsp_url,
        lon=row.lon,
        lat=row.lat,
        crs=Crs(row.crs) if row.crs is not None else None,
        lon_wgs84=row.lon_wgs84,
        lat_wgs84=row.lat_wgs84,
        explicit_grids=tuple(row.explicit_grids),
        key_location=bool(row.key_location),
        upstream_id=row.upstream_id,
        address=row.address,
        vendor=row.vendor,
        model=row.model,
        source_row=row.source_row,
    )


async def camera_ids(conn: AsyncConnection) -> set[str]:
    """Every camera id in the store."""
    return set(await conn.scalars(select(cameras_t.c.id)))


async def all_records(conn: AsyncConnection) -> list[CameraRecord]:
    """Every camera, ordered by id, with ``password=None`` (nothing is decrypted)."""
    columns = [c for c in cameras_t.columns if c.name != "password_enc"]
    rows = await conn.execute(select(*columns).order_by(cameras_t.c.id))
    return [_record(row, None) for row in rows]


async def get_record(conn: AsyncConnection, box: SecretBox, camera_id: str) -> CameraRecord | None:
    """One camera with its password decrypted, or None.  Raises `SecretError` when the stored
    password was written with another key."""
    row = (await conn.execute(select(cameras_t).where(cameras_t.c.id == camera_id))).first()
    if row is None:
        return None
    password = box.decrypt(row.password_enc) if row.password_enc is not None else None
    return _record(row, password)


async def list_views(
    conn: AsyncConnection,
    grid_codes: Collection[str] | None,
    state: CameraState | None,
) -> list[CameraView]:
    """Cameras with links and state (see `Store.list_cameras`): two queries, whatever the
    number of cameras."""
    c, s, lk = cameras_t, camera_state_t, camera_links_t
    stmt = (
        select(
            c.c.id,
            c.c.name,
            c.c.host,
            c.c.mapping,
            c.c.key_location,
            c.c.upstream_id,
            c.c.vendor,
            c.c.model,
            c.c.address,
            c.c.lon_wgs84,
            c.c.lat_wgs84,
            s.c.state,
            s.c.faults,
            s.c.since,
            s.c.checked_at,
        )
        .select_from(c.outerjoin(s, s.c.camera_id == c.c.id))
        .order_by(c.c.id)
    )
    if state is CameraState.UNKNOWN:
        stmt = stmt.where(or_(s.c.state == state.value, s.c.state.is_(None)))
    elif state is not None:
        stmt = stmt.where(s.c.state == state.value)

    codes: list[str] | None = None
    links_stmt = select(lk.c.camera_id, lk.c.grid_code)
    if grid_codes is not None:
        codes = sorted(set(grid_codes))
        if not codes:
            return []
        if len(codes) <= MAX_SQL_GRID_CODES:
            linked = select(lk.c.camera_id).where(lk.c.grid_code.in_(codes))
            stmt = stmt.where(c.c.id.in_(linked))
            links_stmt = links_stmt.where(lk.c.camera_id.in_(linked))
            codes = None  # filtered in SQL

    grids: dict[str, list[str]] = {}
    for camera_id, grid_code in await conn.execute(links_stmt):
        grids.setdefault(camera_id, []).append(grid_code)
    if codes is not None:
        wanted = set(codes)
        keep = {cid for cid, cell_codes in grids.items() if wanted.intersection(cell_codes)}
    views = []
    for row in await conn.execute(stmt):
        if codes is not None and row.id not in keep:
            continue
        views.append(
            CameraView(
                id=row.id,
                name=row.name,
                host=row.host,
                grids=tuple(sorted(grids.get(row.id, ()))),
                mapping=CameraMapping(row.mapping),
                state=CameraState(row.state) if row.state is not None else CameraState.UNKNOWN,
                faults=tuple(row.faults or ()),
                since=row.since,
                checked_at=row.checked_at,
                key_location=bool(row.key_location),
                upstream_id=row.upstream_id,
                vendor=row.vendor,
                model=row.model,
                address=row.address,
                lon_wgs84=row.lon_wgs84,
                lat_wgs84=row.lat_wgs84,
            )
        )
    return views
