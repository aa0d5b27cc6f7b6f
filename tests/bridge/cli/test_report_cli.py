"""``gridbridge report online-rate`` on a real SQLite store holding a known day: JSON with
exact seconds, the table, CSV as Excel reads it, XLSX read back with openpyxl, and bad
input told with exit 2 before anything is read."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from bridge.bootstrap import database_url, secret_box
from bridge.cli.main import main
from bridge.reports.export import HEADERS
from bridge.settings import load_settings
from bridge.store import Store
from tests.bridge.reports.district import (
    ADDED,
    GRID_A,
    GRID_B,
    NAMES,
    TOWN,
    VILLAGE_B,
    H,
    fill,
)

DAY = ["--from", "2026-11-01", "--to", "2026-11-01"]


@pytest.fixture
async def cfg(tmp_path: Path) -> list[str]:
    path = tmp_path / "gridbridge.toml"
    path.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    settings = load_settings(path)
    async with Store(database_url(settings), secret_box(settings), now=lambda: ADDED) as store:
        await fill(store)
    return ["--config", str(path)]


@pytest.fixture
async def cfg_with_gap(tmp_path: Path, cfg: list[str]) -> list[str]:
    """The same day, with gridbridge stopped from 02:00 to 05:00 China time."""
    settings = load_settings(tmp_path / "gridbridge.toml")
    async with Store(database_url(settings), secret_box(settings)) as store:
        first = await store.start_run(ADDED)
        await store.end_run(first, datetime(2026, 10, 31, 18, 0, tzinfo=UTC))
        second = await store.start_run(datetime(2026, 10, 31, 21, 0, tzinfo=UTC))
        await store.run_alive(second, datetime(2026, 11, 2, tzinfo=UTC))
    return cfg


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def report(capsys: pytest.CaptureFixture[str], cfg: list[str], *argv: str) -> tuple[int, str, str]:
    return run(capsys, "report", "online-rate", *cfg, *argv)


def test_json_gives_exact_seconds_and_rates(cfg: list[str], capsys) -> None:
    code, out, _ = report(capsys, cfg, "--by", "grid", *DAY, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "gridbridge.online_rate/1"
    assert (data["from"], data["to"], data["by"], data["per"]) == (
        "2026-11-01",
        "2026-11-01",
        "grid",
        "total",
    )
    assert data["start"] == "2026-10-31T16:00:00+00:00"
    assert data["end"] == "2026-11-01T16:00:00+00:00"
    rows = [
        (r["rank"], r["code"], r["cameras"], r["monitored_s"], r["online_s"], r["intact_s"])
        for r in data["rows"]
    ]
    assert rows == [
        (1, GRID_A, 2, 48 * H, 22 * H, 21 * H),  # cameras 1 and 3
        (2, GRID_B, 2, 48 * H, 24 * H, 24 * H),  # cameras 2 and 3
        (3, "_", 1, 12 * H, 12 * H, 12 * H),  # camera 4, from its first check
    ]
    first = data["rows"][0]
    assert first["name"] == NAMES[GRID_A]
    assert first["online_rate"] == 22 / 48
    assert first["intact_rate"] == 21 / 48
    assert data["rows"][2]["name"] == "未关联网格"
    [total] = data["totals"]
    assert (total["cameras"], total["monitored_s"], total["online_s"], total["intact_s"]) == (
        4,
        84 * H,
        58 * H,
        57 * H,
    )


def test_by_township_counts_a_two_grid_camera_once(cfg: list[str], capsys) -> None:
    code, out, _ = report(capsys, cfg, "--by", "township", *DAY, "--format", "json")
    assert code == 0
    rows = {r["code"]: r for r in json.loads(out)["rows"]}
    assert (rows[TOWN]["cameras"], rows[TOWN]["monitored_s"], rows[TOWN]["online_s"]) == (
        3,
        72 * H,
        46 * H,
    )
    assert rows[TOWN]["intact_s"] == 45 * H


def test_table_for_people(cfg: list[str], capsys) -> None:
    code, out, err = report(capsys, cfg, "--by", "village", *DAY, "--per", "day")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("在线率/完好率 2026-11-01 至 2026-11-01")
    assert "按村/社区" in lines[0]
    assert lines[1].split() == HEADERS
    assert "45.83%" in out  # 东村: 22 h of 48
    assert "合计" in lines[-1]
    assert "3 row(s)" in err


def test_the_hours_gridbridge_was_not_running_are_named(cfg_with_gap: list[str], capsys) -> None:
    code, out, err = report(capsys, cfg_with_gap, "--by", "village", *DAY)
    assert code == 0
    assert "注意：gridbridge 未运行 3.00 小时（2026-11-01 02:00 至 2026-11-01 05:00）" in err
    code, out, _ = report(capsys, cfg_with_gap, "--by", "village", *DAY, "--format", "json")
    data = json.loads(out)
    assert data["daemon_down"] == [
        {"from": "2026-10-31T18:00:00+00:00", "to": "2026-10-31T21:00:00+00:00"}
    ]
    # Cameras 1 to 3 were monitored then: 3 hours each less in the total.
    assert data["totals"][0]["monitored_s"] == (84 - 9) * H


def test_csv_file_as_excel_reads_it(cfg: list[str], capsys, tmp_path: Path) -> None:
    path = tmp_path / "在线率.csv"
    code, _, err = report(
        capsys, cfg, "--by", "village", *DAY, "--format", "csv", "--out", str(path)
    )
    assert code == 0, err
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == HEADERS
    by_code = {r[1].rstrip("\t"): r for r in rows[1:]}
    assert by_code[VILLAGE_B][2] == "'" + NAMES[VILLAGE_B]  # no formula in Excel
    assert by_code[VILLAGE_B][1] == VILLAGE_B + "\t"  # a 12-digit code stays text
    assert by_code[VILLAGE_B][7:] == ["48.00", "24.00", "24.00", "50.00%", "50.00%"]
    assert rows[-1][2] == "合计"
    # stdout gets the same bytes
    code, out, _ = report(capsys, cfg, "--by", "village", *DAY, "--format", "csv")
    assert out.encode() == raw


def test_xlsx_read_back(cfg: list[str], capsys, tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    code, _, err = report(capsys, cfg, "--by", "grid", *DAY, "--format", "xlsx", "--out", str(path))
    assert code == 0, err
    book = openpyxl.load_workbook(path)
    sheet = book["在线率"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == HEADERS
    assert rows[1][:7] == [1, GRID_A, NAMES[GRID_A], "网格", "2026-11-01~2026-11-01", 2, 2]
    assert rows[1][7:] == [48.0, 22.0, 21.0, 22 / 48, 21 / 48]
    assert sheet.cell(row=2, column=11).number_format == "0.00%"
    assert rows[3][1:4] == ["_", "未关联网格", "未关联"]
    assert rows[4][2] == "合计"
    notes = [[c.value for c in row] for row in book["说明"].iter_rows()]
    assert ["在线率", "在线时长 ÷ 监测时长。"] in notes
    # A village named like a formula (untrusted grid file) stays text, as written.
    path_v = tmp_path / "villages.xlsx"
    assert (
        report(capsys, cfg, "--by", "village", *DAY, "--format", "xlsx", "--out", str(path_v))[0]
        == 0
    )
    villages = openpyxl.load_workbook(path_v)["在线率"]
    [named] = [row[2] for row in villages.iter_rows(min_row=2) if row[1].value == VILLAGE_B]
    assert (named.value, named.data_type) == (NAMES[VILLAGE_B], "s")
    assert villages.freeze_panes == "A2"
    assert ["监测中断", "无（gridbridge 全程运行）"] in notes
    # An existing file is kept unless --force.
    code, _, err = report(capsys, cfg, "--by", "grid", *DAY, "--format", "xlsx", "--out", str(path))
    assert code == 2
    assert "exists; add --force" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "2026-11-31", "--to", "2026-12-01"], "--from '2026-11-31': expected a date"),
        (["--from", "2026-11-02", "--to", "2026-11-01"], "ends (2026-11-01) before it begins"),
        (["--from", "2025-01-01", "--to", "2026-01-02"], "367 days; at most 366"),
        (["--from", "2099-01-01", "--to", "2099-01-02"], "has not begun yet"),
        ([*DAY, "--format", "xlsx"], "--format xlsx writes a file: add --out"),
    ],
)
def test_bad_input_exits_2(cfg: list[str], capsys, argv: list[str], message: str) -> None:
    code, out, err = report(capsys, cfg, "--by", "grid", *argv)
    assert code == 2
    assert message in err
    assert out == ""


def test_missing_options_are_usage_errors(cfg: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "online-rate", *cfg, *DAY])
    assert exc.value.code == 2
    assert "--by" in capsys.readouterr().err


def test_a_store_that_fails_exits_1(tmp_path: Path, capsys) -> None:
    path = tmp_path / "gridbridge.toml"
    path.write_text(
        '[store]\nurl = "postgresql://nobody@127.0.0.1:1/none"\ntimeout_s = 2\n'
        f'data_dir = "{tmp_path}"\n',
        encoding="utf-8",
    )
    code, out, err = run(
        capsys, "report", "online-rate", "--config", str(path), "--by", "grid", *DAY
    )
    assert code == 1
    assert out == ""
    assert "gridbridge:" in err
