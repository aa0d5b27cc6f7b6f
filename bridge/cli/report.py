"""``gridbridge report online-rate``: 在线率 and 完好率 per township, village or grid, per day,
month or the whole period, from the transition log (docs/reports.md; DESIGN §11).

Read-only, so safe beside a running daemon: one store transaction, nothing written to the
store.  The numbers are those of ``GET /api/reports/online-rate`` (the same code makes
both).  (Not to be confused with :mod:`bridge.cli.reports`: what an import did.)

    gridbridge report online-rate --by grid --from 2026-11-01 --to 2026-11-30
        [--per day|month|total] [--rank online|intact]
        [--format table|json|csv|xlsx] [--out FILE [--force]]

Exit codes: 0 done; 1 the store failed or the file could not be written; 2 bad dates or
options (the message names them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bridge.bootstrap import build_store
from bridge.cli import output
from bridge.cli.commands import UserError
from bridge.cli.workorders import write_atomically
from bridge.model import Level
from bridge.reports.compute import Report, online_rate_report
from bridge.reports.export import (
    HEADERS,
    LEVEL_ZH,
    PER_ZH,
    csv_bytes,
    down_note,
    report_json,
    table_rows,
    xlsx_bytes,
)
from bridge.reports.online_rate import PeriodError, period
from bridge.settings import Settings
from bridge.store import StoreError
from bridge.store.common import utcnow
from bridge.workorders.views import china

__all__ = ["online_rate_command", "register"]

FORMATS = ("table", "json", "csv", "xlsx")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``report online-rate`` to the sub-commands ``sub`` of the main parser."""
    reports = sub.add_parser("report", help="reports: 在线率 and 完好率").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    p = reports.add_parser(
        "online-rate",
        parents=[common],
        help="在线率 and 完好率 per township, village or grid, from the transition log",
        description="在线率 = online time ÷ monitored time; 完好率 = online time with a usable "
        "picture ÷ monitored time; China-time days (docs/reports.md).",
    )
    p.add_argument("--by", choices=[level.value for level in Level], required=True)
    p.add_argument(
        "--from", dest="date_from", metavar="DATE", required=True, help="first day, YYYY-MM-DD"
    )
    p.add_argument("--to", dest="date_to", metavar="DATE", required=True, help="last day, included")
    p.add_argument(
        "--per", choices=["day", "month", "total"], default="total", help="default: total"
    )
    p.add_argument(
        "--rank",
        choices=["online", "intact"],
        default="online",
        help="worst first by 在线率 (online, default) or 完好率 (intact)",
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="output format")
    p.add_argument("--out", type=Path, help="write to this file (xlsx needs one)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(handler=online_rate_command)


def _day(text: str, option: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise UserError(f"{option} {text!r}: expected a date YYYY-MM-DD") from None


def title(report: Report) -> str:
    """One line saying what the table shows."""
    p = report.period
    until = china(p.end)
    metric = "在线率" if report.metric == "online" else "完好率"
    return (
        f"在线率/完好率 {p.first} 至 {p.last}（北京时间，截至 {until}）"
        f" 按{LEVEL_ZH[report.by.value]} · {PER_ZH[report.per]} · 按{metric}排名，差者在前"
    )


def render(report: Report, fmt: str) -> bytes:
    """The report in ``fmt`` as the bytes to print or write."""
    if fmt == "json":
        return (output.dumps(report_json(report)) + "\n").encode()
    if fmt == "csv":
        return csv_bytes(report)
    if fmt == "xlsx":
        return xlsx_bytes(report)
    return (title(report) + "\n" + output.table(HEADERS, table_rows(report)) + "\n").encode()


async def online_rate_command(args: argparse.Namespace, settings: Settings) -> int:
    """Compute the report and print it, or write it to --out."""
    first, last = _day(args.date_from, "--from"), _day(args.date_to, "--to")
    now = utcnow()
    try:
        period(first, last, now)  # bad dates are told before the store is opened
    except PeriodError as exc:
        raise UserError(f"--from {first} --to {last}: {exc}") from None
    out: Path | None = args.out
    if args.format == "xlsx" and out is None:
        raise UserError("--format xlsx writes a file: add --out FILE.xlsx")
    if out is not None and not args.force and await asyncio.to_thread(out.exists):
        raise UserError(f"--out {out} exists; add --force to replace it")
    try:
        async with build_store(settings) as store:
            report = await online_rate_report(
                store, first, last, Level(args.by), per=args.per, metric=args.rank, now=now
            )
    except StoreError as exc:
        raise UserError(str(exc), 1) from None
    data = await asyncio.to_thread(render, report, args.format)
    if out is not None:

        def write(path: Path) -> None:
            path.write_bytes(data)

        await asyncio.to_thread(write_atomically, out, args.force, write)
        sys.stderr.write(f"{len(report.rows)} row(s) written to {out}\n")
        return 0
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    if args.format == "table":
        sys.stderr.write(f"{len(report.rows)} row(s); {report.transitions} transition(s) read\n")
    if note := down_note(report):
        sys.stderr.write(f"注意：{note}\n")
    return 0
