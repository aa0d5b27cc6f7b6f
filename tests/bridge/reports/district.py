"""A small district with a known day for report tests (CLI and API): its store filled, and
the numbers it must give.

1 November 2026, China time (days begin at 16:00 UTC):

- camera 1 (grid A): online, but offline 02:00–04:00 and black 10:00–11:00 → 24 h
  monitored, 22 h 在线, 21 h 完好 (the worked example of docs/reports.md);
- camera 2 (grid B): online all day;
- camera 3 (grids A and B): offline all day;
- camera 4 (no grid): first checked at 12:00, online since.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from bridge.model import CameraLink, CameraRecord, CameraState, GridCell, Level, MappingReason
from bridge.store import Store
from bridge.workorders.webhook_format import CHINA_TZ

DAY = date(2026, 11, 1)
ADDED = datetime(2026, 10, 1, tzinfo=UTC)
TOWN, VILLAGE_A, VILLAGE_B = "340102001", "340102001001", "340102001002"
GRID_A, GRID_B = "340102001001001", "340102001002001"
NAMES = {
    TOWN: "城关镇",
    VILLAGE_A: "东村",
    VILLAGE_B: '=HYPERLINK("http://evil.example/","西村")',
    GRID_A: "东村<一>网格 & 'A'",
    GRID_B: "西村一网格",
}
H = 3600.0  # seconds


def cam(n: int) -> str:
    return f"34010200001320{n:06d}"


def _cell(code: str, level: Level, parent: str) -> GridCell:
    ring = [[117.0, 31.0], [117.01, 31.0], [117.01, 31.01], [117.0, 31.01], [117.0, 31.0]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    return GridCell(code, NAMES[code], level, parent, geometry)


def cn(hour: int, day: int = 1, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CHINA_TZ)


async def fill(store: Store) -> None:
    """The district into ``store`` (made with ``now=lambda: ADDED``)."""
    await store.replace_grid(
        [
            _cell(TOWN, Level.TOWNSHIP, "340102"),
            _cell(VILLAGE_A, Level.VILLAGE, TOWN),
            _cell(GRID_A, Level.GRID, VILLAGE_A),
            _cell(VILLAGE_B, Level.VILLAGE, TOWN),
            _cell(GRID_B, Level.GRID, VILLAGE_B),
        ]
    )
    records = [CameraRecord(id=cam(n), name=f"摄像机{n}", type_code="132") for n in (1, 2, 3, 4)]
    links = {
        cam(1): [GRID_A],
        cam(2): [GRID_B],
        cam(3): [GRID_A, GRID_B],
    }
    await store.apply_import(
        records,
        {c: [CameraLink(c, g, MappingReason.EXPLICIT) for g in gs] for c, gs in links.items()},
        {},
    )
    u, on, deg, off = (
        CameraState.UNKNOWN,
        CameraState.ONLINE,
        CameraState.DEGRADED,
        CameraState.OFFLINE,
    )
    log = [
        (cam(1), cn(9, 20, 10), u, on, ()),
        (cam(1), cn(2), on, off, ("unreachable",)),
        (cam(1), cn(4), off, on, ()),
        (cam(1), cn(10), on, deg, ("black",)),
        (cam(1), cn(11), deg, on, ()),
        (cam(2), cn(9, 20, 10), u, on, ()),
        (cam(3), cn(9, 20, 10), u, off, ("unreachable",)),
        (cam(4), cn(12), u, on, ()),
    ]
    for camera_id, at, old, new, faults in log:
        await store.record_transition(camera_id, at, old, new, faults, "test")
