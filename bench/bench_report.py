"""Benchmark: ``gridbridge report online-rate`` for a 20,000-camera district and a month.

Synthetic data in a temporary SQLite store (or ``--url`` PostgreSQL): a grid map of
10 townships × 10 villages × 10 grids, 20,000 cameras (2 % linked to two grids, 1 %
unmapped), and ``--per-day`` transitions per camera per day (default 10) for ``--days``
days (default 30) plus the day before, at random times, through every state and fault
kind.  The log is written straight through the database driver (the daemon's own path
writes a few hundred rows a second, not millions).

Then, in a fresh process each (so that memory figures are the report's alone), what the
command does — `online_rate_report` and the export — for ``--by grid`` per total and per
day, ``--by township`` per month, and the reports page of an operator of one grid (per
day): wall and CPU time, transitions read, rows, and the peak resident memory above the
process's base (VmHWM − VmRSS after start-up).

    .venv/bin/python bench/bench_report.py [--cameras 20000] [--days 30] [--per-day 10]
                                           [--url postgresql://…] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.model import CameraLink, CameraRecord, GridCell, Level, MappingReason
from bridge.reports.compute import online_rate_report
from bridge.reports.export import csv_bytes, report_json, xlsx_bytes
from bridge.reports.online_rate import china_midnight
from bridge.secretbox import SecretBox
from bridge.store import Store, sqlite_url
from bridge.store.engine import DB_FILE_NAME
from bridge.web.principal import Principal, Role
from bridge.web.reports_api import visible_areas

FIRST = date(2026, 10, 1)
TOWNS = VILLAGES = GRIDS = 10
KEY = SecretBox.generate_key()
STATES = [  # (to_state, faults JSON), weighted towards online as a district is
    ("online", "[]"),
    ("online", "[]"),
    ("online", "[]"),
    ("degraded", '["black"]'),
    ("degraded", '["frozen", "blur"]'),
    ("degraded", '["clock_drift"]'),
    ("degraded", '["rtsp_error"]'),
    ("offline", '["unreachable"]'),
]


def _square(i: int) -> dict[str, Any]:
    x, y = 117.0 + (i % 40) * 0.01, 31.0 + (i // 40) * 0.01
    ring = [[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def grid_map() -> list[GridCell]:
    cells: list[GridCell] = []
    for t in range(TOWNS):
        town = f"41990{t + 1:04d}"
        cells.append(GridCell(town, f"第{t + 1}镇", Level.TOWNSHIP, "419900", _square(len(cells))))
        for v in range(VILLAGES):
            village = f"{town}{v + 1:03d}"
            cells.append(
                GridCell(village, f"第{t + 1}镇{v + 1}村", Level.VILLAGE, town, _square(len(cells)))
            )
            for g in range(GRIDS):
                code = f"{village}{g + 1:03d}"
                name = f"{t + 1}镇{v + 1}村{g + 1}网格"
                cells.append(GridCell(code, name, Level.GRID, village, _square(len(cells))))
    return cells


def cameras(n: int, grids: list[str]) -> tuple[list[CameraRecord], dict[str, list[CameraLink]]]:
    records, links = [], {}
    for i in range(n):
        cid = f"41990100001320{i:06d}"
        records.append(CameraRecord(id=cid, name=f"摄像机{i}", type_code="132", host="127.0.0.1"))
        if i % 100 == 99:
            continue  # 1 % unmapped
        cells = [grids[i % len(grids)]]
        if i % 50 == 0:
            cells.append(grids[(i + 1) % len(grids)])  # 2 % in two grids
        links[cid] = [CameraLink(cid, code, MappingReason.EXPLICIT) for code in cells]
    return records, links


def transitions(ids: list[str], days: int, per_day: int) -> Iterator[tuple[Any, ...]]:
    """(camera_id, at, from_state, to_state, faults, reason) rows, per camera in time order,
    from the day before the period."""
    rng = random.Random(7)
    begin = china_midnight(FIRST - timedelta(days=1))
    for cid in ids:
        prev = "unknown"
        for day in range(days + 1):
            base = begin + timedelta(days=day)
            for offset in sorted(rng.randrange(86_400_000_000) for _ in range(per_day)):
                to_state, faults = STATES[rng.randrange(len(STATES))]
                yield cid, base + timedelta(microseconds=offset), prev, to_state, faults, "bench"
                prev = to_state


def write_sqlite(path: Path, rows: Iterator[tuple[Any, ...]]) -> int:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    sql = "INSERT INTO transitions (camera_id, at, from_state, to_state, faults, reason) "
    sql += "VALUES (?, ?, ?, ?, ?, ?)"
    count, batch = 0, []
    for cid, at, old, new, faults, reason in rows:
        batch.append((cid, at.replace(tzinfo=None).isoformat(" "), old, new, faults, reason))
        if len(batch) == 100_000:
            db.executemany(sql, batch)
            count += len(batch)
            batch = []
    db.executemany(sql, batch)
    db.commit()
    db.close()
    return count + len(batch)


async def write_pg(url: str, rows: Iterator[tuple[Any, ...]]) -> int:
    import asyncpg

    from bridge.store.engine import parse_url

    dsn = parse_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    count = 0
    try:
        while True:
            batch = [
                (cid, at, old, new, faults, reason)
                for cid, at, old, new, faults, reason in _take(rows, 100_000)
            ]
            if not batch:
                break
            await conn.copy_records_to_table(
                "transitions",
                records=batch,
                columns=["camera_id", "at", "from_state", "to_state", "faults", "reason"],
            )
            count += len(batch)
        await conn.execute("ANALYZE transitions")
    finally:
        await conn.close()
    return count


def _take(rows: Iterator[tuple[Any, ...]], n: int) -> list[tuple[Any, ...]]:
    out = []
    for row in rows:
        out.append(row)
        if len(out) == n:
            break
    return out


async def build(url: str, sqlite_file: Path | None, args: argparse.Namespace) -> int:
    cells = grid_map()
    grids = [c.code for c in cells if c.level is Level.GRID]
    records, links = cameras(args.cameras, grids)
    async with Store(url, SecretBox(KEY), now=lambda: datetime(2026, 9, 1, tzinfo=UTC)) as store:
        await store.replace_grid(cells)
        await store.apply_import(records, links, {})
    rows = transitions([r.id for r in records], args.days, args.per_day)
    if sqlite_file is not None:
        return write_sqlite(sqlite_file, rows)
    return await write_pg(url, rows)


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM: the peak from here on


async def measure(url: str, by: str, per: str, days: int, scope: str = "") -> dict[str, Any]:
    """One report as the command makes it (as the page makes it for an operator of
    ``scope``); figures of this process."""
    visible = visible_areas(Principal("bench", Role.OPERATOR, scope)) if scope else None
    async with Store(url, SecretBox(KEY)) as store:
        base_kib = _status("VmRSS:")
        _reset_peak()
        wall, cpu = time.perf_counter(), time.process_time()
        report = await online_rate_report(
            store,
            FIRST,
            FIRST + timedelta(days=days - 1),
            Level(by),
            per=per,  # type: ignore[arg-type]
            now=datetime.now(UTC),
            visible=visible,
        )
        read_wall, read_cpu = time.perf_counter() - wall, time.process_time() - cpu
        report_peak_kib = _status("VmHWM:")
        t = time.perf_counter()
        size = {
            "json": len(json.dumps(report_json(report), ensure_ascii=False)),
            "csv": len(csv_bytes(report)),
            "xlsx": len(xlsx_bytes(report)),
        }
        export_s = time.perf_counter() - t
        return {
            "by": by,
            "per": per,
            "transitions": report.transitions,
            "rows": len(report.rows),
            "report_wall_s": read_wall,
            "report_cpu_s": read_cpu,
            "export_s": export_s,
            "sizes": size,
            "report_peak_mib": (report_peak_kib - base_kib) / 1024,
            "peak_above_base_mib": (_status("VmHWM:") - base_kib) / 1024,
            "base_mib": base_kib / 1024,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=10)
    parser.add_argument("--url", help="an empty PostgreSQL database (default: SQLite, temporary)")
    parser.add_argument("--keep", type=Path, help="directory for the SQLite store (kept)")
    parser.add_argument(
        "--measure", nargs=4, metavar=("URL", "BY", "PER", "SCOPE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.measure:
        url, by, per, scope = args.measure
        print(json.dumps(asyncio.run(measure(url, by, per, args.days, scope))))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        data_dir = args.keep or Path(tmp)
        url = args.url or sqlite_url(data_dir)
        sqlite_file = None if args.url else data_dir / DB_FILE_NAME
        t = time.perf_counter()
        count = asyncio.run(build(url, sqlite_file, args))
        backend = "PostgreSQL" if args.url else "SQLite"
        print(
            f"{backend}: {args.cameras:,} cameras, {count:,} transitions "
            f"({args.per_day}/camera/day, {args.days} days + 1) written in "
            f"{time.perf_counter() - t:.0f} s"
            + (f"; file {sqlite_file.stat().st_size / 2**20:.0f} MiB" if sqlite_file else "")
        )
        print(f"{'report':<26}{'read':>10}{'rows':>8}{'wall s':>8}{'CPU s':>7}{'µs/tr':>7}"
              f"{'peak MiB':>9}{'export s':>9}{'+export':>8}{'xlsx KiB':>9}")  # fmt: skip
        cases = [("grid", "total", ""), ("grid", "day", ""), ("township", "month", "")]
        cases.append(("grid", "day", "419900001001001"))  # an operator of one grid, the page
        for by, per, scope in cases:
            argv = ["--days", str(args.days), "--measure", url, by, per, scope]
            child = subprocess.run(
                [sys.executable, __file__, *argv],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
            )
            r = json.loads(child.stdout)
            per_tr = r["report_cpu_s"] / max(r["transitions"], 1) * 1e6
            name = f"--by {by} --per {per}" if not scope else "one grid's operator, daily"
            print(
                f"{name:<26}{r['transitions']:>10,}{r['rows']:>8,}"
                f"{r['report_wall_s']:>8.1f}{r['report_cpu_s']:>7.1f}{per_tr:>7.1f}"
                f"{r['report_peak_mib']:>9.0f}{r['export_s']:>9.1f}"
                f"{r['peak_above_base_mib']:>8.0f}{r['sizes']['xlsx'] / 1024:>9.0f}"
            )
        print(
            f"peak MiB: resident memory above the process's {r['base_mib']:.0f} MiB base while "
            "computing; +export: with the JSON, CSV and XLSX made"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
