"""Builders for store tests: cameras, cells, and raw SQL on the test database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text

from bridge.model import CameraRecord, Crs, GridCell, Level
from bridge.store.engine import create_engine, parse_url

CameraFactory = Callable[..., CameraRecord]
CellFactory = Callable[..., GridCell]
RawSql = Callable[..., Awaitable[list[Any]]]


def camera_id(serial: int) -> str:
    """A GB/T 28181-shaped id: centre 34010200, industry 00, type 132, network 0, serial."""
    return f"34010200001320{serial:06d}"


def square(lon: float, lat: float, size: float = 0.01) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture
def make_camera() -> CameraFactory:
    """make_camera(serial, **fields) → a fully filled `CameraRecord`."""

    def build(serial: int, **fields: Any) -> CameraRecord:
        record = CameraRecord(
            id=camera_id(serial),
            name=f"摄像机{serial}号 东门",
            type_code="132",
            host=f"127.0.{serial // 250}.{serial % 250 + 1}",
            username="admin",
            password=f"pw-{serial}-秘密",
            rtsp_url=f"rtsp://127.0.0.1/cam{serial}",
            lon=117.2 + serial * 1e-5,
            lat=31.8 + serial * 1e-5,
            crs=Crs.GCJ02,
            lon_wgs84=117.19 + serial * 1e-5,
            lat_wgs84=31.79 + serial * 1e-5,
            explicit_grids=(),
            upstream_id="34010200001180000001",
            address="合肥市某路1号",
            vendor="Hikvision",
            model="DS-2CD",
            source_row=serial + 2,
        )
        return replace(record, **fields)

    return build


@pytest.fixture
def make_cell() -> CellFactory:
    """make_cell(code, level=GRID, parent=None, name=None) → a `GridCell` with a square."""

    def build(
        code: str, level: Level = Level.GRID, parent: str | None = None, name: str | None = None
    ) -> GridCell:
        return GridCell(code, name or f"网格{code}", level, parent, square(117.0, 31.0))

    return build


@pytest.fixture
def raw_sql(store_url: str) -> RawSql:
    """raw_sql(sql, **params) → all rows, read straight from the test database."""

    async def run(sql: str, **params: Any) -> list[Any]:
        engine = create_engine(parse_url(store_url), connect_timeout_s=5.0)
        try:
            async with engine.connect() as conn:
                return list(await conn.execute(text(sql), params))
        finally:
            await engine.dispose()

    return run
