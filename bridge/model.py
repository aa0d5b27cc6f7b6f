"""The domain model: plain, frozen values shared by every part of gridbridge.

Pure: no I/O, no asyncio, no SQL. Adapters build these from the outside world; the store
persists them; the core reasons about them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Level(enum.StrEnum):
    """Level of a cell in the grid hierarchy (区 → 乡镇/街道 → 村/社区 → 网格)."""

    TOWNSHIP = "township"
    VILLAGE = "village"
    GRID = "grid"

    @property
    def depth(self) -> int:
        """0 for township, 1 for village, 2 for grid."""
        return _LEVEL_DEPTH[self]


_LEVEL_DEPTH = {Level.TOWNSHIP: 0, Level.VILLAGE: 1, Level.GRID: 2}


@dataclass(frozen=True, slots=True)
class GridCell:
    """One polygon of the grid map.

    ``geometry`` is a GeoJSON geometry mapping (``Polygon`` or ``MultiPolygon``) in WGS-84,
    longitude first, exactly as validated from the grid file.  ``parent`` is the code of the
    enclosing cell; a township's parent is usually the district's code, which need not be a
    feature of the file.
    """

    code: str
    name: str
    level: Level
    parent: str | None
    geometry: dict[str, Any]


class Crs(enum.StrEnum):
    """Coordinate reference systems that camera coordinates arrive in."""

    WGS84 = "wgs84"  # also GPS and CGCS2000 (differences are centimetres)
    GCJ02 = "gcj02"  # 国测局, used by 高德/腾讯 maps: offset 100–700 m
    BD09 = "bd09"  # 百度: GCJ-02 plus a further offset


class MappingReason(enum.StrEnum):
    """Why a camera is linked to a grid cell."""

    EXPLICIT = "explicit"  # the inventory names the grid code
    COORDINATES = "coordinates"  # the camera's (converted) position lies in the cell
    MANUAL = "manual"  # an operator linked it by hand


class Mapping(enum.StrEnum):
    """How a camera's primary grid was decided (the `mapping` field of `cameras list`)."""

    EXPLICIT = "explicit"
    COORDINATES = "coordinates"
    UNMAPPED = "unmapped"


class CameraState(enum.StrEnum):
    """Current state of a camera (DESIGN §5). ``unknown`` until first checked."""

    UNKNOWN = "unknown"
    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"

    @property
    def label_zh(self) -> str:
        """The word shown to people (docs/bus.md): 在线, 异常, 离线, 未检测."""
        return _STATE_ZH[self]


_STATE_ZH = {
    CameraState.UNKNOWN: "未检测",
    CameraState.ONLINE: "在线",
    CameraState.DEGRADED: "异常",
    CameraState.OFFLINE: "离线",
}


class Severity(enum.StrEnum):
    ERROR = "error"  # the row is not imported
    WARNING = "warning"  # the row is imported; a person should look at it


@dataclass(frozen=True, slots=True)
class RowIssue:
    """A problem with one inventory row, reported to the person importing.

    ``row`` counts like a spreadsheet does: the header row is row 1 (or its real row number
    when the header is further down), so the number can be found in Excel as shown.
    ``kind`` is a stable machine code (``bad_id``, ``duplicate_id``, ``swapped_lat_lon``,
    ``no_location``, ``outside_district``, ``bad_rtsp``, ``unknown_grid``, ``bad_crs`` …);
    ``message`` is for people and never contains a secret.
    """

    row: int
    camera_id: str | None
    kind: str
    message: str
    severity: Severity = Severity.ERROR


@dataclass(frozen=True, slots=True)
class CameraRecord:
    """One camera as the inventory describes it, validated.

    Coordinates are kept as given (``lon``/``lat`` in ``crs``) and converted
    (``lon_wgs84``/``lat_wgs84``); both are ``None`` when the row had none.  ``rtsp_url``
    never carries credentials: those embedded in the URL are moved to ``username`` and
    ``password``.  ``password`` is a secret: never log or print it.
    """

    id: str
    name: str
    type_code: str
    host: str | None = None
    rtsp_port: int = 554
    onvif_port: int = 80
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    rtsp_url: str | None = None
    lon: float | None = None
    lat: float | None = None
    crs: Crs | None = None
    lon_wgs84: float | None = None
    lat_wgs84: float | None = None
    explicit_grids: tuple[str, ...] = ()
    key_location: bool = False
    upstream_id: str | None = None
    address: str = ""
    vendor: str = ""
    model: str = ""
    source_row: int = 0


@dataclass(frozen=True, slots=True)
class CameraLink:
    """A camera's link to one grid cell, with the reason it exists."""

    camera_id: str
    grid_code: str
    reason: MappingReason


@dataclass(frozen=True, slots=True)
class CameraView:
    """A camera as listed for people and scripts: inventory, grid links and current state."""

    id: str
    name: str
    host: str | None
    grids: tuple[str, ...]
    mapping: Mapping
    state: CameraState
    faults: tuple[str, ...]
    since: datetime | None
    checked_at: datetime | None
    key_location: bool
    upstream_id: str | None
    vendor: str
    model: str
    address: str
    lon_wgs84: float | None
    lat_wgs84: float | None
