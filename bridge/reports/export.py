"""A report as JSON, as rows for a table, as CSV and XLSX bytes (pure: no files, no I/O).

The command line and the API both call these, so a report reads the same everywhere.
JSON is for scripts: codes, seconds and fractions (exact).  The table, CSV and XLSX are for
people and Excel: Chinese headers, hours, percentages (XLSX keeps the exact fractions and
formats them), China-time dates.  CSV is UTF-8 with a BOM, which Excel needs for Chinese.
Names come from the grid file: text that would start a formula in Excel is neutralised.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from bridge.excel_text import excel_text
from bridge.reports.areas import ReportRow
from bridge.reports.compute import Report
from bridge.reports.online_rate import NOT_INTACT_FAULTS
from bridge.workorders.views import china
from bridge.workorders.webhook_format import CHINA_TZ
from bridge.xlsx_table import XlsxTable
from health.verdict import FAULT_LABELS_ZH, FAULT_ORDER

__all__ = [
    "HEADERS",
    "LEVEL_ZH",
    "PER_ZH",
    "SCHEMA",
    "csv_bytes",
    "percent",
    "report_json",
    "table_rows",
    "xlsx_bytes",
]

SCHEMA = "gridbridge.online_rate/1"
LEVEL_ZH = {
    "township": "乡镇/街道",
    "village": "村/社区",
    "grid": "网格",
    "unmapped": "未关联",
    "total": "合计",
}
_NOT_INTACT = NOT_INTACT_FAULTS
PER_ZH = {"day": "按日", "month": "按月", "total": "全时段"}
HEADERS = [
    "排名", "区域编码", "区域名称", "层级", "时段", "摄像机数", "有监测摄像机数",
    "监测时长(小时)", "在线时长(小时)", "完好时长(小时)", "在线率", "完好率",
]  # fmt: skip
DEFINITIONS = [
    ("监测时长", "摄像机状态已知（非“未检测”）的时长；自摄像机首次检测、且入台账之后起算。"),
    ("在线时长", "监测时长中摄像机可达（状态为在线或异常，即网络可通）的时长。"),
    (
        "完好时长",
        "在线时长中图像可用且正常的时长，即无下列故障："
        + "、".join(dict.fromkeys(FAULT_LABELS_ZH[f] for f in FAULT_ORDER if f in _NOT_INTACT))
        + "。",
    ),
    ("在线率", "在线时长 ÷ 监测时长。"),
    ("完好率", "完好时长 ÷ 监测时长。"),
    ("日期", "按北京时间（UTC+8）自然日、自然月统计；截止时间不晚于生成时间。"),
    ("多网格", "关联多个网格的摄像机在每个网格各计一次；上级区域与合计中只计一次。"),
    ("未关联网格", "未关联任何网格的摄像机单列一行“未关联网格”。"),
    ("监测中断", "gridbridge 未运行（停机、重启、断电）的时段无人监测，不计入监测时长。"),
]


def _iso(row: ReportRow) -> dict[str, Any]:
    t = row.tally
    return {
        "rank": row.rank,
        "code": row.area.code,
        "name": row.area.name,
        "level": row.area.level,
        "parent": row.area.parent,
        "period": row.bucket.label,
        "first_day": row.bucket.first.isoformat(),
        "last_day": row.bucket.last.isoformat(),
        "cameras": row.cameras,
        "monitored_cameras": row.monitored_cameras,
        "monitored_s": t.monitored_s,
        "online_s": t.online_s,
        "intact_s": t.intact_s,
        "online_rate": t.online_rate,
        "intact_rate": t.intact_rate,
    }


def report_json(report: Report) -> dict[str, Any]:
    """The report for scripts (schema ``gridbridge.online_rate/1``, docs/reports.md)."""
    p = report.period
    totals = []
    for row in report.totals:
        item = _iso(row)
        for key in ("rank", "code", "name", "level", "parent"):
            del item[key]
        totals.append(item)
    return {
        "schema": SCHEMA,
        "from": p.first.isoformat(),
        "to": p.last.isoformat(),
        "start": p.start.isoformat(),
        "end": p.end.isoformat(),
        "by": report.by.value,
        "per": report.per,
        "metric": report.metric,
        "generated_at": report.generated_at.isoformat(),
        # When gridbridge was not running: not monitored time (docs/reports.md).
        "daemon_down": [{"from": b.isoformat(), "to": e.isoformat()} for b, e in report.down],
        "rows": [_iso(row) for row in report.rows],
        "totals": totals,
    }


def down_note(report: Report, limit: int = 5) -> str:
    """The spans in which gridbridge was not running, for people (China time; the first
    ``limit``); ``""`` when it ran throughout."""
    if not report.down:
        return ""
    hours = sum((e - b).total_seconds() for b, e in report.down) / 3600
    shown = "、".join(f"{china(b)} 至 {china(e)}" for b, e in report.down[:limit])
    more = f" 等 {len(report.down)} 段" if len(report.down) > limit else ""
    return f"gridbridge 未运行 {hours:.2f} 小时（{shown}{more}），不计入监测时长"


def percent(rate: float | None) -> str:
    """A rate for people: ``95.83%``, or ``—`` without monitored time."""
    return "—" if rate is None else f"{rate * 100:.2f}%"


def _hours(us: int) -> float:
    return us / 3_600_000_000


def _lines(report: Report) -> list[ReportRow]:
    """The rows with each bucket's total line after its rows."""
    totals = {row.bucket: row for row in report.totals}
    out: list[ReportRow] = []
    for i, row in enumerate(report.rows):
        out.append(row)
        following = report.rows[i + 1] if i + 1 < len(report.rows) else None
        if (following is None or following.bucket != row.bucket) and row.bucket in totals:
            out.append(totals.pop(row.bucket))
    out.extend(totals.values())  # buckets without rows (nothing visible)
    return out


def _cells(row: ReportRow) -> list[Any]:
    """One line under `HEADERS`, values typed (hours and rates as numbers)."""
    t = row.tally
    return [
        row.rank,
        row.area.code,
        row.area.name,
        LEVEL_ZH.get(row.area.level, row.area.level),
        row.bucket.label,
        row.cameras,
        row.monitored_cameras,
        _hours(t.monitored_us),
        _hours(t.online_us),
        _hours(t.intact_us),
        t.online_rate,
        t.intact_rate,
    ]


def table_rows(report: Report) -> list[list[str]]:
    """The lines under `HEADERS` as text for a table or CSV: hours with two decimals,
    rates as percentages, each bucket's total line after its rows."""
    out = []
    for row in _lines(report):
        cells = _cells(row)
        text = ["" if cells[0] is None else str(cells[0]), *map(str, cells[1:7])]
        text += [f"{h:.2f}" for h in cells[7:10]]
        text += [percent(cells[10]), percent(cells[11])]
        out.append(text)
    return out


def _safe(text: str) -> str:
    # Names from the grid file; 12- to 15-digit village and grid codes (Excel shows them
    # as 4.19901E+11).
    return excel_text(text, digits_over=11)


def csv_bytes(report: Report) -> bytes:
    """`HEADERS` and `table_rows` as CSV for Excel: UTF-8 with a BOM, CRLF lines."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows([_safe(cell) for cell in row] for row in table_rows(report))
    return buf.getvalue().encode("utf-8-sig")


def xlsx_bytes(report: Report) -> bytes:
    """The report as a workbook: sheet 在线率 (`HEADERS`, bold frozen header, hours and
    rates as numbers formatted ``0.00`` and ``0.00%``) and sheet 说明 (the period and the
    definitions)."""
    from openpyxl import Workbook  # only the exports need it
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "在线率"
    table = XlsxTable(sheet, HEADERS)
    for row in _lines(report):
        values = _cells(row)
        cells = table.append(values)
        for i, (cell, value) in enumerate(zip(cells, values, strict=True)):
            if isinstance(value, float):
                cell.number_format = "0.00%" if i >= 10 else "0.00"
        if row.area.level == "total":
            for cell in cells:
                cell.font = Font(bold=True)
    table.finish(min_width=8)
    notes = book.create_sheet("说明")
    p = report.period
    notes.append(["报表", "摄像机在线率、完好率"])
    notes.append(["统计区间", f"{p.first.isoformat()} 至 {p.last.isoformat()}（北京时间，含首尾）"])
    notes.append(["截止时间", p.end.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")])
    notes.append(["统计层级", LEVEL_ZH[report.by.value]])
    notes.append(["时段", PER_ZH[report.per]])
    notes.append(["排名依据", "在线率" if report.metric == "online" else "完好率"])
    notes.append(["监测中断", down_note(report, limit=50) or "无（gridbridge 全程运行）"])
    notes.append([])
    for term, meaning in DEFINITIONS:
        notes.append([term, meaning])
    notes.column_dimensions["A"].width = 14
    notes.column_dimensions["B"].width = 100
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
