"""Linking cameras to grid cells (pure).

Rules (DESIGN §7): an explicit grid code in the inventory wins; otherwise the camera's
WGS-84 position decides; a camera outside every polygon is ``unmapped`` — reported, kept and
still monitored.  Extra explicit links (a camera watching two grids) are kept as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bridge.grid import GridIndex
from bridge.model import CameraLink, CameraRecord, Mapping, MappingReason, RowIssue, Severity


@dataclass(frozen=True)
class LinkResult:
    """Links and mapping kind for each camera, and warnings for people."""

    links: dict[str, list[CameraLink]] = field(default_factory=dict)
    mappings: dict[str, Mapping] = field(default_factory=dict)
    issues: list[RowIssue] = field(default_factory=list)

    def count(self, mapping: Mapping) -> int:
        return sum(1 for m in self.mappings.values() if m is mapping)


def link_cameras(records: Sequence[CameraRecord], index: GridIndex) -> LinkResult:
    """Decide every camera's grid links against ``index``.

    Explicit codes that the map does not hold are ignored here (the importer rejects them
    earlier; after a new grid map they fall back to coordinates, with a warning).
    """
    result = LinkResult()
    need_point: list[CameraRecord] = []
    for rec in records:
        explicit = [code for code in dict.fromkeys(rec.explicit_grids) if index.cell(code)]
        if explicit:
            result.links[rec.id] = [
                CameraLink(rec.id, code, MappingReason.EXPLICIT) for code in explicit
            ]
            result.mappings[rec.id] = Mapping.EXPLICIT
        else:
            if rec.explicit_grids:
                result.issues.append(
                    RowIssue(
                        rec.source_row,
                        rec.id,
                        "grid_gone",
                        f"grid {', '.join(rec.explicit_grids)} is not in the grid map any "
                        "more; linked by coordinates instead",
                        Severity.WARNING,
                    )
                )
            need_point.append(rec)

    points = [_point(r) for r in need_point]
    located = iter(index.locate_many([p for p in points if p is not None]))
    for rec, point in zip(need_point, points, strict=True):
        code = next(located) if point is not None else None
        if code is not None:
            result.links[rec.id] = [CameraLink(rec.id, code, MappingReason.COORDINATES)]
            result.mappings[rec.id] = Mapping.COORDINATES
            continue
        result.links[rec.id] = []
        result.mappings[rec.id] = Mapping.UNMAPPED
        where = (
            f"({point[0]:.6f}, {point[1]:.6f}) WGS-84 lies outside every grid cell"
            if point is not None
            else "no coordinates and no grid code"
        )
        result.issues.append(
            RowIssue(
                rec.source_row,
                rec.id,
                "outside_district",
                f"{where}; imported as unmapped and still monitored",
                Severity.WARNING,
            )
        )
    return result


def _point(rec: CameraRecord) -> tuple[float, float] | None:
    if rec.lon_wgs84 is None or rec.lat_wgs84 is None:
        return None
    return rec.lon_wgs84, rec.lat_wgs84
