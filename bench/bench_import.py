"""Benchmark: import a generated 20,000-camera inventory against a 1,000-cell grid map.

Runs the real code path (``load_grid`` and ``import_inventory`` on a SQLite store, as the CLI
does) and then times its phases on their own: reading the file, validating rows, the grid
lookup per camera, and the store write. Prints a table; DESIGN §9 / issue 2 goal: the whole
import under 30 s on the project's 2-core machine.

    .venv/bin/python bench/bench_import.py [--cameras 20000] [--cells 1000] [--xlsx]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from adapters.inventory_file import read_table
from bridge.bootstrap import build_store
from bridge.coords import wgs84_to_gcj02
from bridge.grid import GridIndex, validate_cells
from bridge.importer import import_inventory, load_grid
from bridge.inventory import is_header, resolve_columns, validate_rows
from bridge.settings import Settings, StoreSettings

LON0, LAT0 = 114.0, 32.0
HEADER = [
    "设备编码",
    "设备名称",
    "IP地址",
    "RTSP端口",
    "ONVIF端口",
    "用户名",
    "密码",
    "RTSP地址",
    "经度",
    "纬度",
    "坐标系",
    "所属网格",
    "重点部位",
    "上级设备",
    "安装地址",
    "厂商",
    "型号",
]


def _square(x0: float, y0: float, size: float, steps: int = 6) -> list[list[float]]:
    """A square ring with extra vertices along each edge, as exported polygons have."""
    ring: list[list[float]] = []
    corners = [(x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size)]
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1], strict=True):
        for i in range(steps):
            t = i / steps
            ring.append([round(ax + (bx - ax) * t, 7), round(ay + (by - ay) * t, 7)])
    ring.append(ring[0])
    return ring


def make_grid(cells: int) -> dict[str, object]:
    """Townships of 10 villages of 20 grids, tiled in squares of ~550 m."""
    size = 0.005
    per_village, per_town = 20, 10
    features = []
    villages = max(1, cells // per_village)
    towns = (villages + per_town - 1) // per_town
    side = int(villages**0.5) + 1
    for t in range(towns):
        tcode = f"4199{t + 1:05d}"
        vs = range(t * per_town, min(villages, (t + 1) * per_town))
        features.append(_feature(tcode, "township", "419901", _bbox(vs, side, size)))
        for v in vs:
            vcode = f"{tcode}{v % per_town + 1:03d}"
            vx, vy = LON0 + (v % side) * size * 5, LAT0 + (v // side) * size * 4
            features.append(_feature(vcode, "village", tcode, _square_rect(vx, vy, size)))
            for g in range(per_village):
                gx, gy = vx + (g % 5) * size, vy + (g // 5) * size
                features.append(
                    _feature(f"{vcode}{g + 1:03d}", "grid", vcode, _square(gx, gy, size))
                )
    return {"type": "FeatureCollection", "features": features}


def _square_rect(x: float, y: float, size: float) -> list[list[float]]:
    w, h = size * 5, size * 4
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]


def _bbox(villages: range, side: int, size: float) -> list[list[float]]:
    xs = [LON0 + (v % side) * size * 5 for v in villages]
    ys = [LAT0 + (v // side) * size * 4 for v in villages]
    x0, y0, x1, y1 = min(xs), min(ys), max(xs) + size * 5, max(ys) + size * 4
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def _feature(code: str, level: str, parent: str, ring: list[list[float]]) -> dict[str, object]:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": f"{level}{code}", "level": level, "parent": parent},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def make_inventory(path: Path, grid: dict[str, object], cameras: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    grids = [f for f in grid["features"] if f["properties"]["level"] == "grid"]  # type: ignore[index]
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for n in range(cameras):
            cell = rnd.choice(grids)
            ring = cell["geometry"]["coordinates"][0]
            x = rnd.uniform(ring[0][0] + 1e-4, ring[0][0] + 0.005 - 1e-4)
            y = rnd.uniform(ring[0][1] + 1e-4, ring[0][1] + 0.005 - 1e-4)
            crs = "WGS84"
            if rnd.random() < 0.4:
                x, y = wgs84_to_gcj02(x, y)
                crs = "GCJ02"
            explicit = cell["properties"]["code"] if rnd.random() < 0.1 else ""
            ip = f"127.{20 + n // 65025}.{n // 255 % 255}.{n % 255 + 1}"
            cam_id = f"4199010001{'132' if n % 2 else '131'}6{n + 1:06d}"
            out.writerow(
                [
                    cam_id,
                    f"点位{n + 1}号",
                    ip,
                    554,
                    80,
                    "admin",
                    "Bench#pw1",
                    f"rtsp://{ip}:554/Streaming/Channels/101",
                    f"{x:.6f}",
                    f"{y:.6f}",
                    crs,
                    explicit,
                    "否",
                    "",
                    "示范区",
                    "海康威视",
                    "DS-2CD3T46WD",
                ]
            )


async def run(cameras: int, cells: int, xlsx: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="gridbridge-bench-"))
    grid = make_grid(cells)
    grid_path = work / "grid.geojson"
    grid_path.write_text(json.dumps(grid), encoding="utf-8")
    inv_path = work / "cameras.csv"
    make_inventory(inv_path, grid, cameras)
    if xlsx:
        inv_path = _to_xlsx(inv_path)
    settings = Settings(store=StoreSettings(data_dir=work / "data"))
    n_grid = sum(1 for f in grid["features"] if f["properties"]["level"] == "grid")  # type: ignore[index]
    print(
        f"map: {len(grid['features'])} features ({n_grid} grid cells); "  # type: ignore[arg-type]
        f"inventory: {cameras} cameras in {inv_path.name} ({inv_path.stat().st_size >> 10} KiB)"
    )

    rows: list[tuple[str, float, str]] = []
    async with build_store(settings) as store:
        t0 = time.perf_counter()
        await load_grid(store, settings, grid_path)
        rows.append(("grid load (validate + store)", time.perf_counter() - t0, ""))
        t0 = time.perf_counter()
        report = await import_inventory(store, settings, inv_path)
        first = time.perf_counter() - t0
        rows.append(
            (
                "import, first (end to end)",
                first,
                f"{report.imported} imported, {len(report.issues)} issues",
            )
        )
        t0 = time.perf_counter()
        report = await import_inventory(store, settings, inv_path)
        again = time.perf_counter() - t0
        assert report.counts is not None
        rows.append(("import, same file again", again, f"{report.counts.unchanged} unchanged"))

    # Phases on their own, same inputs.
    t0 = time.perf_counter()
    table = read_table(inv_path, is_header=is_header)
    rows.append(("  read file", time.perf_counter() - t0, f"{len(table.rows)} rows"))
    cells_list, _ = validate_cells(grid["features"])  # type: ignore[arg-type]
    index = GridIndex(cells_list)
    columns = resolve_columns(table.headers, None)
    t0 = time.perf_counter()
    records, _ = validate_rows(table, columns, known_grids=index.codes)
    rows.append(("  validate rows (incl. GCJ-02)", time.perf_counter() - t0, ""))
    points = [(r.lon_wgs84, r.lat_wgs84) for r in records if r.lon_wgs84 is not None]
    t0 = time.perf_counter()
    index.locate_many(points)  # type: ignore[arg-type]
    bulk = time.perf_counter() - t0
    rows.append(("  grid lookup, bulk", bulk, f"{bulk / len(points) * 1e6:.2f} µs/camera"))
    sample = points[:2000]
    per: list[float] = []
    for lon, lat in sample:
        t = time.perf_counter()
        index.locate(lon, lat)  # type: ignore[arg-type]
        per.append(time.perf_counter() - t)
    rows.append(
        (
            "  grid lookup, one at a time",
            sum(per),
            f"median {statistics.median(per) * 1e6:.1f} µs/camera ({len(sample)} samples)",
        )
    )

    print(f"\n{'phase':<34}{'seconds':>9}  note")
    for name, secs, note in rows:
        print(f"{name:<34}{secs:>9.3f}  {note}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\npeak RSS {peak:.0f} MiB; goal: first import < 30 s -> "
        f"{'met' if first < 30 else 'NOT met'} ({first:.1f} s, {30 / first:.1f}x headroom)"
    )


def _to_xlsx(path: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("点位清单")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.reader(fh):
            ws.append(row)
    out = path.with_suffix(".xlsx")
    wb.save(out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--cameras", type=int, default=20_000)
    parser.add_argument("--cells", type=int, default=1_000)
    parser.add_argument("--xlsx", action="store_true", help="import an XLSX instead of CSV")
    args = parser.parse_args()
    asyncio.run(run(args.cameras, args.cells, args.xlsx))
    return 0


if __name__ == "__main__":
    sys.exit(main())
