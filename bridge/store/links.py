"""Camera ↔ grid links: computed ones (explicit, coordinates) are replaced wholesale on import
or grid change; manual ones, made by an operator, are never touched by either.

A computed link whose cell an operator has linked by hand is not stored: the manual link
already says the same and wins.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.model import CameraLink, MappingReason
from bridge.model import Mapping as CameraMapping
from bridge.store.common import rows_for_keys
from bridge.store.engine import UnknownCameraError
from bridge.store.tables import camera_links_t, cameras_t

_MANUAL = MappingReason.MANUAL.value

# Current links of some cameras: camera id → grid code → reason.
LinkMap = dict[str, dict[str, str]]


@dataclass(slots=True)
class LinkPlan:
    """The writes that bring computed links to the wanted ones, and which cameras change."""

    deletes: list[dict[str, str]] = field(default_factory=list)
    inserts: list[dict[str, str]] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)


def check_links(links: Mapping[str, Sequence[CameraLink]], camera_ids: Collection[str]) -> None:
    """Raise `ValueError` when ``links`` names a camera outside ``camera_ids``, files a link
    under another camera's id, or holds a manual link (those are made one by one)."""
    for camera_id, camera_links in links.items():
        if camera_id not in camera_ids:
            raise ValueError(f"links given for camera {camera_id} which is not being stored")
        for link in camera_links:
            if link.camera_id != camera_id:
                raise ValueError(f"link of camera {link.camera_id} filed under {camera_id}")
            if link.reason is MappingReason.MANUAL:
                raise ValueError(f"manual link {camera_id} → {link.grid_code} given in bulk")


def derived_mapping(links: Sequence[CameraLink]) -> CameraMapping:
    """The mapping that ``links`` imply: explicit wins over coordinates; none is unmapped."""
    reasons = {link.reason for link in links}
    if MappingReason.EXPLICIT in reasons:
        return CameraMapping.EXPLICIT
    if MappingReason.COORDINATES in reasons:
        return CameraMapping.COORDINATES
    return CameraMapping.UNMAPPED


async def load_links(conn: AsyncConnection, camera_ids: Collection[str]) -> LinkMap:
    """The current links (all reasons) of ``camera_ids``, read in bulk."""
    t = camera_links_t
    stmt = select(t.c.camera_id, t.c.grid_code, t.c.reason)
    found: LinkMap = {}
    for camera_id, grid_code, reason in await rows_for_keys(conn, stmt, t.c.camera_id, camera_ids):
        found.setdefault(camera_id, {})[grid_code] = reason
    return found


def plan_links(existing: LinkMap, wanted: Mapping[str, Sequence[CameraLink]]) -> LinkPlan:
    """The plan replacing, for each camera in ``wanted``, its computed links by the wanted
    ones; manual links stay and take precedence over a computed link to the same cell."""
    plan = LinkPlan()
    for camera_id, links in wanted.items():
        current = existing.get(camera_id, {})
        manual = {code for code, reason in current.items() if reason == _MANUAL}
        computed = {code: reason for code, reason in current.items() if reason != _MANUAL}
        target: dict[str, str] = {}
        for link in links:
            if link.grid_code in manual:
                continue
            # The same cell named twice: explicit beats coordinates.
            if target.get(link.grid_code) != MappingReason.EXPLICIT.value:
                target[link.grid_code] = link.reason.value
        for code, reason in computed.items():
            if target.get(code) != reason:
                plan.deletes.append({"b_camera": camera_id, "b_code": code})
        for code, reason in target.items():
            if computed.get(code) != reason:
                plan.inserts.append({"camera_id": camera_id, "grid_code": code, "reason": reason})
        if target != computed:
            plan.changed.add(camera_id)
    return plan


async def execute_plan(conn: AsyncConnection, plan: LinkPlan) -> None:
    """Carry out ``plan``: deletes first, so a link whose reason changed is re-inserted."""
    t = camera_links_t
    if plan.deletes:
        await conn.execute(
            delete(t).where(
                t.c.camera_id == bindparam("b_camera"), t.c.grid_code == bindparam("b_code")
            ),
            plan.deletes,
        )
    if plan.inserts:
        await conn.execute(insert(t), plan.inserts)


async def links_of(conn: AsyncConnection, camera_id: str) -> list[CameraLink]:
    """The links of one camera, sorted by grid code (empty when the camera is unknown)."""
    t = camera_links_t
    rows = await conn.execute(
        select(t.c.grid_code, t.c.reason).where(t.c.camera_id == camera_id).order_by(t.c.grid_code)
    )
    return [CameraLink(camera_id, code, MappingReason(reason)) for code, reason in rows]


async def add_manual_link(
    conn: AsyncConnection, camera_id: str, grid_code: str, now: datetime
) -> bool:
    """Link ``camera_id`` to ``grid_code`` by hand; an existing computed link to that cell
    becomes manual (so it survives re-imports).  True when anything changed.  Raises
    `UnknownCameraError` for an unknown camera; the grid code is not checked against the map
    (links may name cells of a map not loaded yet)."""
    await _require_camera(conn, camera_id)
    t = camera_links_t
    current = await conn.scalar(
        select(t.c.reason).where(t.c.camera_id == camera_id, t.c.grid_code == grid_code)
    )
    if current == _MANUAL:
        return False
    if current is None:
        await conn.execute(
            insert(t).values(camera_id=camera_id, grid_code=grid_code, reason=_MANUAL)
        )
    else:
        await conn.execute(
            update(t)
            .where(t.c.camera_id == camera_id, t.c.grid_code == grid_code)
            .values(reason=_MANUAL)
        )
    await _touch(conn, camera_id, now)
    return True


async def remove_link(conn: AsyncConnection, camera_id: str, grid_code: str, now: datetime) -> bool:
    """Remove the link of ``camera_id`` to ``grid_code``, whatever its reason.  True when a
    link was removed.  A computed link comes back at the next import or grid change that
    computes it."""
    t = camera_links_t
    result = await conn.execute(
        delete(t).where(t.c.camera_id == camera_id, t.c.grid_code == grid_code)
    )
    removed: bool = _rowcount(result) > 0
    if removed:
        await _touch(conn, camera_id, now)
    return removed


async def _require_camera(conn: AsyncConnection, camera_id: str) -> None:
    found = await conn.scalar(select(cameras_t.c.id).where(cameras_t.c.id == camera_id))
    if found is None:
        raise UnknownCameraError(f"no camera with id {camera_id} in the store")


async def _touch(conn: AsyncConnection, camera_id: str, now: datetime) -> None:
    await conn.execute(update(cameras_t).where(cameras_t.c.id == camera_id).values(updated_at=now))


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
