"""ONVIF onboarding results per camera: saved whole, read back, and which cameras need it.

A camera needs onboarding when it has none yet, or when the inventory changed it after its
last onboarding (``cameras.updated_at`` later than ``onboarded_at``); the caller forgets an
onboarding when the camera's serial changes.  Functions run in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.observation import DeviceInfo, OnboardResult, Profile
from bridge.store.common import rows_for_keys
from bridge.store.engine import UnknownCameraError
from bridge.store.tables import camera_onvif_t, cameras_t


def _profile_row(profile: Profile) -> dict[str, Any]:
    return {
        "token": profile.token,
        "name": profile.name,
        "encoding": profile.encoding,
        "width": profile.width,
        "height": profile.height,
        "fps": profile.fps,
    }


def _profile(row: dict[str, Any]) -> Profile:
    return Profile(
        token=str(row["token"]),
        name=str(row.get("name") or ""),
        encoding=row.get("encoding"),
        width=row.get("width"),
        height=row.get("height"),
        fps=row.get("fps"),
    )


async def save_onboarding(
    conn: AsyncConnection, camera_id: str, result: OnboardResult, at: datetime
) -> None:
    """Store ``result`` as the camera's onboarding made at ``at``, replacing any earlier one;
    see `Store.save_onboarding`."""
    device = result.device
    values: dict[str, Any] = {
        "manufacturer": device.manufacturer,
        "model": device.model,
        "firmware": device.firmware,
        "serial": device.serial,
        "hardware_id": device.hardware_id,
        "stream_uri": result.stream_uri,
        "snapshot_uri": result.snapshot_uri,
        "profiles": [_profile_row(p) for p in result.profiles],
        "services": list(result.services),
        "onboarded_at": at,
    }
    t = camera_onvif_t
    done = await conn.execute(update(t).where(t.c.camera_id == camera_id).values(**values))
    if int(getattr(done, "rowcount", 0) or 0) > 0:
        return
    if await conn.scalar(select(cameras_t.c.id).where(cameras_t.c.id == camera_id)) is None:
        raise UnknownCameraError(f"no camera with id {camera_id} in the store")
    await conn.execute(insert(t).values(camera_id=camera_id, **values))


async def get_onboarding(
    conn: AsyncConnection, camera_id: str
) -> tuple[OnboardResult, datetime] | None:
    """The camera's stored onboarding and when it was made, or None."""
    t = camera_onvif_t
    row = (await conn.execute(select(t).where(t.c.camera_id == camera_id))).first()
    if row is None:
        return None
    device = DeviceInfo(
        manufacturer=row.manufacturer,
        model=row.model,
        firmware=row.firmware,
        serial=row.serial,
        hardware_id=row.hardware_id,
    )
    result = OnboardResult(
        device=device,
        profiles=tuple(_profile(p) for p in row.profiles),
        stream_uri=row.stream_uri,
        snapshot_uri=row.snapshot_uri,
        services=tuple(row.services),
    )
    return result, row.onboarded_at


async def onboarding_due(conn: AsyncConnection, camera_ids: Collection[str] | None) -> set[str]:
    """Ids of cameras (among ``camera_ids``; all when None) that have a host and either no
    onboarding or one older than their last inventory change."""
    c, o = cameras_t, camera_onvif_t
    stmt = (
        select(c.c.id)
        .select_from(c.outerjoin(o, o.c.camera_id == c.c.id))
        .where(
            and_(
                c.c.host.is_not(None),
                c.c.host != "",
                or_(o.c.camera_id.is_(None), c.c.updated_at > o.c.onboarded_at),
            )
        )
    )
    if camera_ids is None:
        return {row.id for row in await conn.execute(stmt)}
    return {row.id for row in await rows_for_keys(conn, stmt, c.c.id, camera_ids)}


async def forget_onboarding(conn: AsyncConnection, camera_id: str) -> bool:
    """Delete the camera's onboarding; True when there was one."""
    t = camera_onvif_t
    done = await conn.execute(delete(t).where(t.c.camera_id == camera_id))
    return int(getattr(done, "rowcount", 0) or 0) > 0


async def onboarded(conn: AsyncConnection) -> dict[str, tuple[str, str | None]]:
    """camera id → (recorded serial, stream URI) for every onboarded camera, in one query."""
    t = camera_onvif_t
    rows = await conn.execute(select(t.c.camera_id, t.c.serial, t.c.stream_uri))
    return {camera_id: (serial or "", uri) for camera_id, serial, uri in rows}
