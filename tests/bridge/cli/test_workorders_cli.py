"""``gridbridge workorders list|show|export`` against a real store (SQLite, and PostgreSQL
where present) holding orders made by the real OrderBook and CommonCause: filters, the JSON
contract, overdue marking, the history in order, CSV/XLSX exports as Excel reads them, and
never a camera password or stream URL in any output."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bridge.bootstrap import build_store
from bridge.cli.main import main
from bridge.cli.workorders import EXPORT_HEADERS, is_overdue
from bridge.model import CameraLink, CameraRecord, CameraState, GridCell, Level, MappingReason
from bridge.model import Mapping as CameraMapping
from bridge.secretbox import SecretBox
from bridge.settings import load_settings
from bridge.workorders.common_cause import CommonCause, CommonCauseRules
from bridge.workorders.engine import OrderBook
from bridge.workorders.model import Order, OrderEvent, Step
from bridge.workorders.rules import WorkOrderRules
from bridge.workorders.webhook_format import CHINA_TZ

OFF, ON = CameraState.OFFLINE, CameraState.ONLINE
NVR = "34010200001180000001"
TOWNSHIP, VILLAGE_A, VILLAGE_B = "340102001", "340102001001", "340102001002"
GRID_A, GRID_B = "340102001001001", "340102001002001"
NAMES = {1: "张塘社区东门", 2: "=1+2 李村北路口", 3: "李村南路口", 4: "李村东路口", 5: "学校西门"}
NAMES[6] = "菜市场"
EVIDENCE_URL = "http://admin:EvSecret9@10.0.0.1/cgi-bin/snapshot.cgi?pwd=EvSecret9"
SECRETS = ("pw-", "EvSecret9", "rtsp://")


def cam_id(n: int) -> str:
    return f"34010200001320{n:06d}"


@dataclass(frozen=True)
class District:
    cfg: list[str]
    orders: dict[str, Order]  # key_fault, upstream, closed, escalated


def _cell(code: str, level: Level, parent: str | None) -> GridCell:
    ring = [[117.0, 31.0], [117.01, 31.0], [117.01, 31.01], [117.0, 31.01], [117.0, 31.0]]
    return GridCell(code, f"网格{code}", level, parent, {"type": "Polygon", "coordinates": [ring]})


def _camera(n: int) -> CameraRecord:
    return CameraRecord(
        id=cam_id(n),
        name=NAMES[n],
        type_code="132",
        host=f"127.0.0.{n}",
        username="admin",
        password=f"pw-{n}-秘密",
        rtsp_url=f"rtsp://127.0.0.{n}/Streaming/Channels/101",
        key_location=n == 1,
        upstream_id=NVR if n in (2, 3, 4) else None,
    )


def _history(now: datetime) -> tuple[OrderBook, list[OrderEvent]]:
    """The district's last five days, in time order, through the real engine."""
    cc = CommonCause(CommonCauseRules())
    book = OrderBook(WorkOrderRules(), cc)
    events: list[OrderEvent] = []
    cc.set_fleet({cam_id(n): NVR if n in (2, 3, 4) else None for n in NAMES}, now - timedelta(6))

    def seen(n: int, state: CameraState, faults: tuple[str, ...], at: datetime) -> None:
        cc.observe(cam_id(n), faults, at)
        events.extend(
            book.observe(
                cam_id(n),
                state,
                faults,
                at,
                key_location=n == 1,
                upstream=NVR if n in (2, 3, 4) else None,
            )
        )

    day = timedelta(days=1)
    for n in NAMES:
        seen(n, ON, (), now - 6 * day)
    # Camera 5: down five days ago, back an hour later by itself: verified and closed.
    t5 = now - 5 * day
    seen(5, OFF, ("unreachable",), t5)
    events += book.tick(t5 + timedelta(seconds=300))
    seen(5, ON, (), t5 + timedelta(hours=1))
    for s in (30, 60):
        events += book.healthy_check(cam_id(5), t5 + timedelta(hours=1, seconds=s))
    events += book.picture(
        cam_id(5), t5 + timedelta(hours=1, seconds=90), healthy=True, evidence="snap/5/after.jpg"
    )
    # Camera 1 (重点部位): a picture as before-evidence, down three days ago, crew on site.
    t1 = now - 3 * day
    events += book.picture(
        cam_id(1), t1 - timedelta(minutes=30), healthy=True, evidence=EVIDENCE_URL
    )
    seen(1, OFF, ("unreachable", "black"), t1)
    events += book.tick(t1 + timedelta(seconds=300))
    key_order = book.order_of(cam_id(1))
    assert key_order is not None
    events += book.act(
        key_order.id, Step.ACCEPTED, actor="张师傅", note="马上出发", at=t1 + timedelta(hours=1)
    )
    events += book.act(
        key_order.id, Step.ON_SITE, actor="张师傅", note="", at=t1 + timedelta(hours=2)
    )
    # Camera 6: down 40 hours ago, nobody accepted it.
    seen(6, OFF, ("auth_failed",), now - timedelta(hours=40))
    events += book.tick(now - timedelta(hours=40) + timedelta(seconds=300))
    # The NVR of cameras 2–4: down two hours ago, one parent order.  This tick also escalates
    # the missed deadlines of cameras 1 and 6.
    t2 = now - timedelta(hours=2)
    for i, n in enumerate((2, 3, 4)):
        seen(n, OFF, ("unreachable",), t2 + timedelta(seconds=20 * i))
    events += book.tick(t2 + timedelta(seconds=400))
    return book, events


@pytest.fixture
async def district(store_url: str, tmp_path: Path) -> District:
    path = tmp_path / "gridbridge.toml"
    path.write_text(
        f'[store]\nurl = "{store_url}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'secret_key = "{SecretBox.generate_key()}"\n',
        encoding="utf-8",
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    book, events = _history(now)
    cells = [
        _cell(TOWNSHIP, Level.TOWNSHIP, None),
        _cell(VILLAGE_A, Level.VILLAGE, TOWNSHIP),
        _cell(VILLAGE_B, Level.VILLAGE, TOWNSHIP),
        _cell(GRID_A, Level.GRID, VILLAGE_A),
        _cell(GRID_B, Level.GRID, VILLAGE_B),
    ]
    records = [_camera(n) for n in NAMES]
    links = {
        r.id: [CameraLink(r.id, GRID_B if r.upstream_id else GRID_A, MappingReason.EXPLICIT)]
        for r in records
    }
    async with build_store(load_settings(path)) as store:
        await store.replace_grid(cells)
        await store.apply_import(records, links, {r.id: CameraMapping.EXPLICIT for r in records})
        await store.record_order_events(events, book.episodes())
    by_camera = {o.camera_ids[0]: o for o in book.orders()}
    orders = {
        "closed": by_camera[cam_id(5)],
        "key_fault": by_camera[cam_id(1)],
        "escalated": by_camera[cam_id(6)],
        "upstream": by_camera[cam_id(2)],
    }
    assert len(book.orders()) == 4
    return District(["--config", str(path)], orders)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in out + err
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, _ = run(capsys, *argv, "--format", "json")
    assert code == 0
    return json.loads(out)


def test_the_engine_made_the_orders_these_tests_need(district: District) -> None:
    o = district.orders
    assert o["closed"].state is Step.CLOSED
    assert o["closed"].self_recovered
    assert o["key_fault"].state is Step.ON_SITE
    assert o["key_fault"].missed == ("repair",)
    assert o["escalated"].state is Step.OPEN
    assert o["escalated"].missed == ("respond",)
    assert o["upstream"].upstream == NVR
    assert len(o["upstream"].camera_ids) == 3
    assert not o["upstream"].overdue


def test_list_json_default_is_active_orders_oldest_first(
    district: District, capsys: pytest.CaptureFixture[str]
) -> None:
    items = run_json(capsys, "workorders", "list", *district.cfg)
    o = district.orders
    assert [i["id"] for i in items] == [o[k].id for k in ("key_fault", "escalated", "upstream")]
    required = {"id", "state", "cameras", "upstream", "faults", "opened_at", "deadline"}
    more = {"kind", "priority", "steps", "repeats", "self_recovered", "before_evidence"}
    more |= {"after_evidence", "closed_at", "overdue"}
    for item in items:
        assert required | more <= set(item)
        assert datetime.fromisoformat(item["opened_at"]).utcoffset() == timedelta(0)
    key, escalated, parent = items
    assert key["cameras"] == [cam_id(1)]
    assert key["upstream"] is None
    assert key["state"] == "on_site"
    assert key["priority"] == "key"
    assert key["kind"] == "network"
    assert key["faults"] == ["unreachable", "black"]
    assert datetime.fromisoformat(key["deadline"]) == o["key_fault"].repair_by
    assert [s["step"] for s in key["steps"]] == ["open", "accepted", "on_site"]
    assert key["steps"][1]["actor"] == "张师傅"
    assert key["steps"][1]["note"] == "马上出发"
    assert key["before_evidence"] == "http://admin:***@10.0.0.1/cgi-bin/snapshot.cgi?pwd=***"
    assert (key["overdue"], escalated["overdue"], parent["overdue"]) == (True, True, False)
    assert parent["upstream"] == NVR
    assert parent["kind"] == "upstream"
    assert parent["cameras"] == [cam_id(2), cam_id(3), cam_id(4)]
    assert parent["camera_names"] == [NAMES[2], NAMES[3], NAMES[4]]


def test_list_filters(district: District, capsys: pytest.CaptureFixture[str]) -> None:
    o, cfg = district.orders, district.cfg

    def ids(*argv: str) -> list[str]:
        return [i["id"] for i in run_json(capsys, "workorders", "list", *argv, *cfg)]

    assert ids("--state", "closed") == [o["closed"].id]
    assert ids("--state", "open") == [o["escalated"].id, o["upstream"].id]
    assert len(ids("--state", "all")) == 4
    assert ids("--camera", cam_id(3)) == [o["upstream"].id]
    assert ids("--camera", cam_id(5)) == []  # closed: not active
    assert ids("--grid", VILLAGE_B) == [o["upstream"].id]
    assert ids("--grid", GRID_A, "--state", "all") == [
        o[k].id for k in ("closed", "key_fault", "escalated")
    ]
    assert len(ids("--grid", TOWNSHIP)) == 3
    code, _, err = run(capsys, "workorders", "list", "--grid", "999", *cfg)
    assert code == 2
    assert "grid code 999" in err


def test_list_table_is_chinese_and_marks_overdue(
    district: District, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "workorders", "list", *district.cfg)
    assert code == 0
    assert "3 work order(s)" in err
    lines = out.splitlines()
    assert lines[0].split() == [
        "工单号", "状态", "类型", "优先级", "摄像机", "上游设备", "故障", "派单时间", "时限", "返修"
    ]  # fmt: skip
    key = next(line for line in lines if district.orders["key_fault"].id in line)
    assert "到场" in key
    assert "重点部位" in key
    assert NAMES[1] in key
    assert "网络不通、黑屏" in key
    assert "已超时" in key
    repair_by = district.orders["key_fault"].repair_by.astimezone(CHINA_TZ)
    assert f"{repair_by:%Y-%m-%d %H:%M} 已超时" in key
    parent = next(line for line in lines if district.orders["upstream"].id in line)
    assert f"{NAMES[2]} 等3路" in parent
    assert NVR in parent
    assert "已超时" not in parent
    escalated = next(line for line in lines if district.orders["escalated"].id in line)
    assert "已超时" in escalated
    assert "鉴权失败" in escalated


def test_list_csv_has_english_headers_and_no_bom(
    district: District, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "workorders", "list", "--format", "csv", *district.cfg)
    assert code == 0
    assert not out.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rows][2] == district.orders["upstream"].id
    assert rows[2]["cameras"] == ";".join(cam_id(n) for n in (2, 3, 4))
    assert rows[0]["accepted_at"]
    assert rows[0]["on_site_at"]
    assert not rows[0]["repaired_at"]
    assert rows[0]["overdue"] == "true"
    assert rows[0]["missed"] == "repair"


def test_a_passed_deadline_is_overdue_before_the_daemon_escalates(district: District) -> None:
    parent = district.orders["upstream"]
    assert parent.deadline is not None
    assert not parent.overdue
    assert not is_overdue(parent, parent.deadline)
    assert is_overdue(parent, parent.deadline + timedelta(seconds=1))


def test_show_prints_the_history_in_order(
    district: District, capsys: pytest.CaptureFixture[str]
) -> None:
    order = district.orders["key_fault"]
    code, out, _ = run(capsys, "workorders", "show", order.id, *district.cfg)
    assert code == 0
    assert order.id in out
    assert NAMES[1] in out
    assert cam_id(1) in out
    history = out[out.index("处理记录") :].splitlines()[3:]
    assert [line.split()[2] for line in history[:3]] == ["派单", "接单", "到场"]
    assert "张师傅" in history[1]
    assert "马上出发" in history[1]
    accepted = order.last_step_at(Step.ACCEPTED)
    assert accepted is not None
    assert f"{accepted.astimezone(CHINA_TZ):%Y-%m-%d %H:%M}" in history[1]  # China time
    assert any("超时升级" in line for line in history)

    shown = run_json(capsys, "workorders", "show", order.id, *district.cfg)
    assert [e["seq"] for e in shown["history"]] == sorted(e["seq"] for e in shown["history"])
    assert [e["step"] for e in shown["history"]][:3] == ["open", "accepted", "on_site"]
    assert shown["history"][1]["actor"] == "张师傅"
    assert shown["camera_names"] == [NAMES[1]]


def test_show_of_an_unknown_order_is_bad_input(
    district: District, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "workorders", "show", "WO-20000101-DEADBEEF", *district.cfg)
    assert code == 2
    assert out == ""
    assert "WO-20000101-DEADBEEF" in err
    assert "工单不存在" in err


def test_export_csv_for_excel(
    district: District, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "orders.csv"
    code, _, err = run(
        capsys, "workorders", "export", "--format", "csv", "--out", str(out), *district.cfg
    )
    assert code == 0
    assert "4 work order(s)" in err
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    for secret in SECRETS:
        assert secret not in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == EXPORT_HEADERS
    by_id = {r[0]: dict(zip(EXPORT_HEADERS, r, strict=True)) for r in rows[1:]}
    closed = by_id[district.orders["closed"].id]
    assert (closed["状态"], closed["自动恢复"], closed["是否超时"]) == ("结案", "是", "否")
    assert closed["验收时间"]
    assert closed["结案时间"]
    key = by_id[district.orders["key_fault"].id]
    assert key["摄像机编号"] == cam_id(1) + "\t"  # Excel keeps all 20 digits as text
    assert (key["优先级"], key["是否超时"], key["故障"]) == ("重点部位", "是", "网络不通、黑屏")
    opened = district.orders["key_fault"].opened_at.astimezone(CHINA_TZ)
    assert key["派单时间"] == f"{opened:%Y-%m-%d %H:%M:%S}"
    parent = by_id[district.orders["upstream"].id]
    # A name Excel would run as a formula (untrusted inventory text) stays text.
    assert parent["摄像机名称"] == "'" + "、".join(NAMES[n] for n in (2, 3, 4))
    assert list(tmp_path.glob(".orders.csv.*")) == []  # no temporary file left


def test_export_refuses_an_existing_file_unless_forced(
    district: District, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "orders.csv"
    out.write_text("keep me", encoding="utf-8")
    argv = ["workorders", "export", "--format", "csv", "--out", str(out), *district.cfg]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "--force" in err
    assert out.read_text(encoding="utf-8") == "keep me"
    code, _, _ = run(capsys, *argv, "--force")
    assert code == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    code, _, err = run(capsys, *argv, "--force", "--from", "2026-13-01")
    assert code == 2
    assert "YYYY-MM-DD" in err
    code, _, err = run(capsys, *argv, "--force", "--from", "2026-02-02", "--to", "2026-02-01")
    assert code == 2
    missing = ["--out", str(tmp_path / "no" / "x.csv")]
    code, _, err = run(capsys, "workorders", "export", "--format", "csv", *missing, *district.cfg)
    assert code == 2
    assert "does not exist" in err


def test_export_filters_on_china_days(
    district: District, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    opened = district.orders["key_fault"].opened_at.astimezone(CHINA_TZ).date()
    out = tmp_path / "day.csv"
    argv = ["workorders", "export", "--format", "csv", "--out", str(out), *district.cfg]
    code, _, _ = run(capsys, *argv, "--from", f"{opened}", "--to", f"{opened}")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == [district.orders["key_fault"].id]


def test_export_xlsx(
    district: District, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "orders.xlsx"
    argv = ["workorders", "export", "--format", "xlsx", "--out", str(out), "--state", "active"]
    code, _, _ = run(capsys, *argv, *district.cfg)
    assert code == 0
    sheet = openpyxl.load_workbook(out).active
    assert [c.value for c in sheet[1]] == EXPORT_HEADERS
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.max_row == 4  # the three active orders
    rows = {
        r[0].value: {h: c for h, c in zip(EXPORT_HEADERS, r, strict=True)}
        for r in sheet.iter_rows(min_row=2)
    }
    key = rows[district.orders["key_fault"].id]
    opened = district.orders["key_fault"].opened_at.astimezone(CHINA_TZ).replace(tzinfo=None)
    assert key["派单时间"].value == opened
    assert key["派单时间"].is_date
    assert key["摄像机编号"].value == cam_id(1)
    assert key["是否超时"].value == "是"
    assert key["修复时间"].value is None
    parent = rows[district.orders["upstream"].id]
    assert parent["摄像机名称"].value == "、".join(NAMES[n] for n in (2, 3, 4))
    assert parent["摄像机名称"].data_type == "s"  # text, not a formula
    assert sheet.column_dimensions["A"].width > 10
    cells = " ".join(str(c.value) for row in sheet.iter_rows() for c in row)
    for secret in SECRETS:
        assert secret not in cells
