"""``gridbridge workorders list|show|export``: work orders for crews, district IT and monthly
reports (DESIGN §6, §11).

Read-only, so safe beside a running daemon: each read is one store transaction and nothing is
written to the store.  People get Chinese labels and China time (UTC+8); scripts get codes
and ISO 8601 UTC.  No output carries a camera password or stream URL: cameras are read as
``CameraView`` (which has neither) and evidence references are printed with any credentials
masked.

An order counts as overdue when a deadline was missed and escalated (``Order.overdue``) or
when its current deadline has passed: the daemon escalates on its next tick, and a person
reading the list while it is stopped must still see the order is late.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bridge.bootstrap import build_store
from bridge.cli import output
from bridge.cli.commands import UserError
from bridge.excel_text import excel_text
from bridge.grid import GridIndex
from bridge.secretbox import SecretError
from bridge.settings import Settings
from bridge.store import StoreError
from bridge.store.common import utcnow
from bridge.workorders.model import Order, Step
from bridge.workorders.views import china as _china
from bridge.workorders.views import faults_zh as _faults_zh
from bridge.workorders.views import is_overdue, order_item
from bridge.workorders.views import iso as _iso
from bridge.workorders.webhook_format import CHINA_TZ
from bridge.xlsx_table import XlsxTable

STATES = ("active", "all", *(s.value for s in Step))
"""``--state`` choices: ``active`` = every state but closed, ``all`` = every order."""

LIST_HEADERS = ["工单号", "状态", "类型", "优先级", "摄像机", "上游设备", "故障", "派单时间"]
LIST_HEADERS += ["时限", "返修"]
CSV_COLUMNS = [
    "id", "state", "kind", "priority", "cameras", "camera_names", "upstream", "faults",
    "opened_at", "deadline", "overdue", "respond_by", "repair_by", "accepted_at", "on_site_at",
    "repaired_at", "verified_at", "closed_at", "repeats", "self_recovered", "missed",
    "before_evidence", "after_evidence",
]  # fmt: skip
EXPORT_HEADERS = [
    "工单号", "状态", "类型", "优先级", "摄像机编号", "摄像机名称", "上游设备", "故障",
    "派单时间", "接单时间", "到场时间", "修复时间", "验收时间", "结案时间", "响应时限",
    "修复时限", "是否超时", "自动恢复", "返修次数",
]  # fmt: skip
_EVENT_ZH = {
    "opened": "派单",
    "escalated": "超时升级",
    "reopened": "返修",
    "cameras_added": "新增摄像机",
    "faults_changed": "故障变化",
}
_DONE_STEPS = (Step.ACCEPTED, Step.ON_SITE, Step.REPAIRED, Step.VERIFIED)


# --- reading ---------------------------------------------------------------------------


async def _read(
    settings: Settings, state: str, camera: str | None, grid: str | None
) -> tuple[list[Order], dict[str, str]]:
    """The orders in ``state`` (see `STATES`), of ``camera`` and under ``grid``, oldest first,
    with every stored camera's name."""
    try:
        async with build_store(settings) as store:
            orders = await store.load_orders(
                open_only=state == "active",
                state=None if state in ("active", "all") else state,
                camera_id=camera,
            )
            cameras = await store.list_cameras()
            cells = await store.load_grid() if grid else []
    except (StoreError, SecretError) as exc:
        raise UserError(str(exc), 1) from None
    if grid:
        index = GridIndex(cells)
        if index.cell(grid) is None:
            raise UserError(f"grid code {grid} is not in the grid map")
        codes = index.descendants(grid)
        under = {c.id for c in cameras if codes.intersection(c.grids)}
        orders = [o for o in orders if under.intersection(o.camera_ids)]
    return orders, {c.id: c.name for c in cameras}


def _csv_row(order: Order, item: dict[str, Any]) -> list[Any]:
    flat = dict(item)
    for step in _DONE_STEPS:
        flat[f"{step.value}_at"] = _iso(order.last_step_at(step))
    flat["camera_names"] = [n or "" for n in item["camera_names"]]
    # JSON flattened: scripts read true/false (output.table's 是/否 is for people).
    return [str(v).lower() if isinstance(v, bool) else v for v in (flat[k] for k in CSV_COLUMNS)]


def _camera_summary(order: Order, names: dict[str, str]) -> str:
    first = order.camera_ids[0] if order.camera_ids else ""
    label = names.get(first) or first
    return f"{label} 等{len(order.camera_ids)}路" if len(order.camera_ids) > 1 else label


def _deadline_cell(order: Order, now: datetime) -> str:
    text = _china(order.deadline)
    if is_overdue(order, now):
        return f"{text} 已超时".strip()
    return text


def _table_row(order: Order, names: dict[str, str], now: datetime) -> list[Any]:
    return [
        order.id,
        order.state.label_zh,
        order.kind.label_zh,
        order.priority.label_zh,
        _camera_summary(order, names),
        order.upstream or "",
        _faults_zh(order.faults),
        _china(order.opened_at),
        _deadline_cell(order, now),
        order.repeats,
    ]


def _step_zh(step: str | None) -> str:
    # History rows hold plain text: a step this version does not know is shown as stored.
    known = {s.value: s.label_zh for s in Step}
    return known.get(step or "", step or "")


def _say(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


# --- list and show -----------------------------------------------------------------------


async def workorders_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print the orders (default: active ones, oldest first) as a table, JSON or CSV."""
    orders, names = await _read(settings, args.state, args.camera, args.grid)
    now = utcnow()
    if args.format == "json":
        _say(output.dumps([order_item(o, names, now) for o in orders]))
    elif args.format == "csv":
        rows = [_csv_row(o, order_item(o, names, now)) for o in orders]
        sys.stdout.write(output.csv_text(CSV_COLUMNS, rows))
    else:
        _say(output.table(LIST_HEADERS, [_table_row(o, names, now) for o in orders]))
        sys.stderr.write(f"{len(orders)} work order(s)\n")
    return 0


async def workorders_show(args: argparse.Namespace, settings: Settings) -> int:
    """Print one order with its whole recorded history; exit 2 for an unknown id."""
    try:
        async with build_store(settings) as store:
            order = await store.get_order(args.order_id)
            history = await store.order_events(args.order_id) if order is not None else []
            names = {c.id: c.name for c in await store.list_cameras()}
    except (StoreError, SecretError) as exc:
        raise UserError(str(exc), 1) from None
    if order is None:
        raise UserError(f"no work order {args.order_id} (工单不存在); see: workorders list")
    now = utcnow()
    item = order_item(order, names, now)
    if args.format == "json":
        item["history"] = [
            {
                "seq": e.seq,
                "at": _iso(e.at),
                "kind": e.kind,
                "step": e.step,
                "actor": e.actor,
                "note": e.note,
            }
            for e in history
        ]
        _say(output.dumps(item))
        return 0
    fields = [
        ("工单号", order.id),
        ("状态", f"{order.state.label_zh} ({order.state.value})"),
        ("类型", order.kind.label_zh),
        ("优先级", order.priority.label_zh),
        ("上游设备", order.upstream or ""),
        ("故障", _faults_zh(order.faults)),
        ("派单时间", _china(order.opened_at)),
        ("响应时限", _china(order.respond_by)),
        ("修复时限", _china(order.repair_by)),
        ("当前时限", _deadline_cell(order, now)),
        ("结案时间", _china(order.closed_at)),
        ("自动恢复", "是" if order.self_recovered else "否"),
        ("返修次数", str(order.repeats)),
        ("修复前图片", item["before_evidence"] or ""),
        ("修复后图片", item["after_evidence"] or ""),
    ]
    pad = max(output.width(label) for label, _ in fields)
    lines = [f"{label}{' ' * (pad - output.width(label))}  {value}" for label, value in fields]
    lines += ["", f"摄像机（{len(order.camera_ids)}路）"]
    cams = [[c, names.get(c, "（已不在台账）")] for c in order.camera_ids]
    lines.append(output.table(["编号", "名称"], cams))
    lines += ["", "处理记录（北京时间）"]
    events = [
        [_china(e.at), _EVENT_ZH.get(e.kind) or _step_zh(e.step) or e.kind, e.actor, e.note]
        for e in history
    ]
    lines.append(output.table(["时间", "事件", "操作人", "备注"], events))
    _say("\n".join(lines))
    return 0


# --- export ------------------------------------------------------------------------------


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise UserError(f"{option} {text!r}: expected a date YYYY-MM-DD") from None


def export_rows(orders: Sequence[Order], names: dict[str, str], now: datetime) -> list[list[Any]]:
    """One row per order under `EXPORT_HEADERS`: times aware, flags bool, lists joined."""
    return [
        [
            o.id,
            o.state.label_zh,
            o.kind.label_zh,
            o.priority.label_zh,
            "、".join(o.camera_ids),
            "、".join(names.get(c, "") for c in o.camera_ids),
            o.upstream,
            _faults_zh(o.faults),
            o.opened_at,
            *(o.last_step_at(step) for step in _DONE_STEPS),
            o.closed_at,
            o.respond_by,
            o.repair_by,
            is_overdue(o, now),
            o.self_recovered,
            o.repeats,
        ]
        for o in orders
    ]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")
    # Names and notes from the inventory; 20-digit camera IDs (Excel keeps 15 digits).
    return excel_text(str(value), digits_over=15)


def write_csv(path: Path, rows: Sequence[Sequence[Any]]) -> None:
    """`EXPORT_HEADERS` and ``rows`` as CSV, UTF-8 with a BOM so that Excel reads Chinese."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(EXPORT_HEADERS)
        writer.writerows([_csv_cell(v) for v in row] for row in rows)


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]]) -> None:
    """`EXPORT_HEADERS` and ``rows`` as one sheet: bold frozen header, widths to fit, times as
    Excel datetimes in China time (Excel has no time zones)."""
    from openpyxl import Workbook  # only this command needs it

    book = Workbook()
    sheet = book.active
    sheet.title = "工单"
    table = XlsxTable(sheet, EXPORT_HEADERS)
    for row in rows:
        values: list[Any] = []
        for i, value in enumerate(row):
            if isinstance(value, datetime):
                value = value.astimezone(CHINA_TZ).replace(tzinfo=None)
                table.widths[i] = max(table.widths[i], 16)
            elif isinstance(value, bool):
                value = "是" if value else "否"
            values.append(value)
        for cell in table.append(values):
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
    table.finish()
    book.save(path)


def write_atomically(out: Path, force: bool, write: Callable[[Path], None]) -> None:
    """Write ``out`` through ``write`` into a temporary file beside it, then rename: readers
    see the old file or the whole new one, never a half one.  Refuses an existing ``out``
    unless ``force`` (exit 2); a failed write leaves nothing behind (exit 1)."""
    if out.is_dir():
        raise UserError(f"--out {out} is a directory")
    if out.exists() and not force:
        raise UserError(f"--out {out} exists; add --force to replace it")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: directory {out.parent} does not exist")
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{out} not written: {exc}", 1) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


async def workorders_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write the orders opened between --from and --to (China-time days, both included) to
    --out as CSV or XLSX with Chinese headers, for maintenance contracts and reports."""
    first, last = _day(args.date_from, "--from"), _day(args.date_to, "--to")
    if first and last and first > last:
        raise UserError(f"--from {first} is after --to {last}")
    if args.out.exists() and not args.force:  # before reading anything
        raise UserError(f"--out {args.out} exists; add --force to replace it")
    orders, names = await _read(settings, args.state, None, None)
    if first is not None:
        start = datetime.combine(first, time(), CHINA_TZ)
        orders = [o for o in orders if o.opened_at >= start]
    if last is not None:
        end = datetime.combine(last + timedelta(days=1), time(), CHINA_TZ)
        orders = [o for o in orders if o.opened_at < end]
    rows = export_rows(orders, names, utcnow())
    writer = write_xlsx if args.format == "xlsx" else write_csv
    await asyncio.to_thread(write_atomically, args.out, args.force, lambda p: writer(p, rows))
    sys.stderr.write(f"{len(rows)} work order(s) written to {args.out}\n")
    return 0
