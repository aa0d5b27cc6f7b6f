"""Reading inventory exports: encodings, delimiters, sheets, header search, limits, errors."""

from __future__ import annotations

import codecs
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest

from adapters.inventory_file import InventoryFileError, RawTable, read_table

DEMO = Path(__file__).resolve().parents[2] / "bridge" / "demo" / "district"
HEADER = ["设备编码", "设备名称", "IP地址", "经度", "纬度", "坐标系"]
ROW = ["41990100011326000001", "郭塘村渡口2号", "127.20.0.1", "114.132120", "32.082641", "WGS84"]


def _csv(path: Path, lines: Sequence[Sequence[str]], encoding: str, sep: str = ",") -> Path:
    path.write_text("\r\n".join(sep.join(line) for line in lines) + "\r\n", encoding=encoding)
    return path


def test_demo_csv_with_bom() -> None:
    table = read_table(DEMO / "cameras.csv")
    assert (table.source, table.sheet, table.header_row) == ("cameras.csv", None, 1)
    assert table.headers[:3] == ("设备编码", "设备名称", "IP地址")
    assert len(table.headers) == 17
    assert len(table.rows) == 1200
    assert [n for n, _ in table.rows] == list(range(2, 1202))
    assert all(len(cells) == 17 for _, cells in table.rows)
    assert table.rows[0][1][0] == "41990100011326000001"


def test_demo_xlsx_reads_the_same_as_the_csv() -> None:
    xlsx = read_table(DEMO / "cameras.xlsx")
    csv_table = read_table(DEMO / "cameras.csv")
    assert xlsx.sheet == "点位清单"
    assert xlsx.headers == csv_table.headers
    assert xlsx.rows == csv_table.rows  # RTSP端口 554 (a number in the xlsx) reads as '554'


def test_gbk_csv_with_title_row(tmp_path: Path) -> None:
    path = _csv(tmp_path / "gbk.csv", [["示范区摄像机清单"], HEADER, ROW], "gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    table = read_table(path)
    assert table.header_row == 2
    assert table.headers == tuple(HEADER)
    assert table.rows == [(3, tuple(ROW))]


@pytest.mark.parametrize(
    ("encoding", "sep"),
    [("utf-8", ","), ("utf-8", "\t"), ("utf-8", ";"), ("utf-16", "\t"), ("gb18030", ";")],
)
def test_encodings_and_delimiters(tmp_path: Path, encoding: str, sep: str) -> None:
    path = _csv(tmp_path / "x.csv", [HEADER, ROW, ROW], encoding, sep)
    table = read_table(path)
    assert table.headers == tuple(HEADER)
    assert table.rows == [(2, tuple(ROW)), (3, tuple(ROW))]


def test_blank_rows_skipped_numbers_true_and_cells_fitted(tmp_path: Path) -> None:
    lines = [
        [*HEADER, ""],  # trailing empty header cell is dropped
        ROW[:2],  # short: padded
        [""] * 6,
        [" ", ""],
        [*ROW, "extra", "cells"],  # beyond the header: dropped
        ["", "", "", "", "", "", "note in an unnamed column"],  # blank within the header
    ]
    table = read_table(_csv(tmp_path / "x.csv", lines, "utf-8"))
    assert table.headers == tuple(HEADER)
    assert table.rows == [(2, (*ROW[:2], "", "", "", "")), (5, tuple(ROW))]


def test_quoted_newline_counts_as_one_spreadsheet_row(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(",".join(HEADER) + '\n1,"two\nlines",h,1,2,w\n3,n,h,1,2,w\n', "utf-8")
    assert [n for n, _ in read_table(path).rows] == [2, 3]


def _patch_xml(path: Path, member: str, pattern: bytes, replacement: bytes) -> None:
    """Rewrite one XML part of an xlsx: openpyxl cannot write some things real files hold."""
    patched = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(patched, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == member:
                data, n = re.subn(pattern, replacement, data, count=1)
                assert n == 1
            dst.writestr(info, data)
    patched.replace(path)


def _xlsx_with_title_on_sheet_two(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    notes = workbook.active
    notes.title = "说明"
    notes.append(["本表由平台导出"])
    notes.append(["设备编码 is the ID column"])
    sheet = workbook.create_sheet("点位")
    sheet.append(["示范区雪亮工程点位清单"])
    sheet.merge_cells("A1:F1")
    sheet.append([*HEADER, "RTSP端口"])
    sheet.append([4.1990100011326e19, "a", "127.0.0.1", 114.13212, 32.08, "WGS84", 554.0])
    sheet.append([None] * 7)
    sheet.append([4.1990100011326e19, "b", "127.0.0.2", 114.0, 32.5, "GCJ02", 8554])
    workbook.save(path)
    # openpyxl writes big ints as floats; other tools write the digits, read back as int.
    _patch_xml(
        path,
        "xl/worksheets/sheet2.xml",
        rb"<v>4\.1990100011326e\+19</v>",
        b"<v>41990100011326000001</v>",
    )
    return path


def test_xlsx_title_row_and_list_on_second_sheet(tmp_path: Path) -> None:
    table = read_table(_xlsx_with_title_on_sheet_two(tmp_path / "two.xlsx"))
    assert (table.sheet, table.header_row) == ("点位", 2)
    assert table.headers == (*HEADER, "RTSP端口")
    assert table.rows == [
        (3, ("41990100011326000001", "a", "127.0.0.1", "114.13212", "32.08", "WGS84", "554")),
        # A float ID has lost digits already: left for the validator to report.
        (5, ("4.1990100011326e+19", "b", "127.0.0.2", "114", "32.5", "GCJ02", "8554")),
    ]


def test_xlsx_named_sheet(tmp_path: Path) -> None:
    path = _xlsx_with_title_on_sheet_two(tmp_path / "two.xlsx")
    assert read_table(path, sheet="点位").sheet == "点位"
    with pytest.raises(InventoryFileError, match=r"no header row .* sheet '说明'"):
        read_table(path, sheet="说明")
    with pytest.raises(InventoryFileError, match="no sheet '清单'; sheets: 说明, 点位"):
        read_table(path, sheet="清单")


def test_xlsx_with_a_wrong_dimension_is_read_whole(tmp_path: Path) -> None:
    """Some exporters declare <dimension ref="A1"/>; read-only openpyxl would cut to it."""
    good = tmp_path / "dim.xlsx"
    workbook = openpyxl.Workbook()
    for line in (HEADER, ROW, ROW):
        workbook.active.append(line)
    workbook.save(good)
    _patch_xml(good, "xl/worksheets/sheet1.xml", rb'<dimension ref="[^"]*"', b'<dimension ref="A1"')
    table = read_table(good)
    assert table.headers == tuple(HEADER)
    assert table.rows == [(2, tuple(ROW)), (3, tuple(ROW))]


def test_header_only_gives_no_rows(tmp_path: Path) -> None:
    table = read_table(_csv(tmp_path / "h.csv", [HEADER], "utf-8-sig"))
    assert table == RawTable("h.csv", None, 1, tuple(HEADER), [])


@pytest.mark.parametrize("content", [b"", codecs.BOM_UTF8, b"\r\n\r\n", b",,,\n,,\n"])
def test_empty_csv(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(InventoryFileError, match=r"empty\.csv: the file is empty"):
        read_table(path)


def test_empty_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(path)
    with pytest.raises(InventoryFileError, match="the file is empty"):
        read_table(path)


def test_no_header_names_known_words_and_column_maps(tmp_path: Path) -> None:
    path = _csv(tmp_path / "odd.csv", [["编号", "名字"], ["1", "a"]], "utf-8")
    with pytest.raises(InventoryFileError) as caught:
        read_table(path)
    message = str(caught.value)
    assert message.startswith("odd.csv: no header row with known column names in the first 20")
    assert "设备编码" in message
    assert "--columns MAP.toml" in message


def test_header_after_row_20_is_not_found(tmp_path: Path) -> None:
    path = _csv(tmp_path / "late.csv", [["title"]] * 20 + [HEADER, ROW], "utf-8")
    with pytest.raises(InventoryFileError, match="no header row"):
        read_table(path)


def test_custom_header_predicate(tmp_path: Path) -> None:
    path = _csv(tmp_path / "odd.csv", [["title"], ["编号", "名字"], ["1", "a"]], "utf-8")
    table = read_table(path, is_header=lambda cells: "编号" in cells)
    assert (table.header_row, table.headers, table.rows) == (2, ("编号", "名字"), [(3, ("1", "a"))])


def test_old_xls_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InventoryFileError, match=r"old\.xls: .*save it as \.xlsx or CSV"):
        read_table(path)


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "cams.json"
    path.write_text("[]")
    with pytest.raises(InventoryFileError, match=r"cams\.json: unsupported file type '\.json'"):
        read_table(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryFileError, match=r"nope\.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_too_big(tmp_path: Path) -> None:
    path = _csv(tmp_path / "big.csv", [HEADER, ROW], "utf-8")
    with pytest.raises(
        InventoryFileError, match=r"big\.csv: the file is .* bytes, more than the .* allowed"
    ):
        read_table(path, max_bytes=50)


@pytest.mark.parametrize("name", ["many.csv", "many.xlsx"])
def test_too_many_rows(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".csv"):
        _csv(path, [HEADER, ROW, ROW, ROW], "utf-8")
    else:
        workbook = openpyxl.Workbook()
        for line in (HEADER, ROW, ROW, ROW):
            workbook.active.append(line)
        workbook.save(path)
    assert len(read_table(path, max_rows=3).rows) == 3
    with pytest.raises(InventoryFileError, match=f"{name}: more than 2 data rows"):
        read_table(path, max_rows=2)


def test_undecodable_text(tmp_path: Path) -> None:
    path = tmp_path / "bin.csv"
    path.write_bytes(",".join(HEADER).encode() + b"\n\xff\xfe\xff,\x80\n")
    with pytest.raises(InventoryFileError, match="neither UTF-8 nor GB18030"):
        read_table(path)


def test_not_a_zip_named_xlsx(tmp_path: Path) -> None:
    path = _csv(tmp_path / "fake.xlsx", [HEADER, ROW], "utf-8")
    with pytest.raises(InventoryFileError, match=r"fake\.xlsx: not a valid \.xlsx file"):
        read_table(path)


def test_zip_bomb_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"\0" * (8 * 2**20))
    assert path.stat().st_size < 2**20 // 10
    with pytest.raises(InventoryFileError, match=r"bomb\.xlsx: unpacks to 8 MiB"):
        read_table(path, max_bytes=2**20 // 10)


def test_openpyxl_uses_defusedxml() -> None:
    assert openpyxl.DEFUSEDXML is True
