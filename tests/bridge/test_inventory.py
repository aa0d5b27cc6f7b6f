"""Inventory validation: header words, column maps, every row check, RTSP credentials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.inventory_file import read_table
from bridge.inventory import (
    ColumnError,
    RawTable,
    is_header,
    load_column_map,
    parse_key_location,
    resolve_columns,
    validate_rows,
)
from bridge.model import CameraRecord, Crs, RowIssue, Severity

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "bridge" / "demo" / "district"
DEMO_HEADER = (
    "设备编码", "设备名称", "IP地址", "RTSP端口", "ONVIF端口", "用户名", "密码", "RTSP地址",
    "经度", "纬度", "坐标系", "所属网格", "重点部位", "上级设备", "安装地址", "厂商", "型号",
)  # fmt: skip
GRIDS = frozenset({"419901001001001", "419901001001002", "419901001002001"})
CAM = "41990100011326000001"
NVR = "41990100011186900001"


def _known_grids() -> set[str]:
    features = json.loads((DEMO / "grid.geojson").read_text("utf-8"))["features"]
    return {f["properties"]["code"] for f in features}


@pytest.mark.parametrize("name", ["cameras.csv", "cameras.xlsx"])
def test_demo_inventory_bad_rows_match_the_answer_key(name: str) -> None:
    expected = json.loads((DEMO / "expected.json").read_text("utf-8"))
    table = read_table(DEMO / name)
    records, issues = validate_rows(
        table, resolve_columns(table.headers), known_grids=_known_grids()
    )
    wanted = {
        (b["row"], b["camera"], b["kind"])
        for b in expected["bad_rows"]
        if b["kind"] != "outside_district"  # the mapping step reports that one
    }
    assert {(i.row, i.camera_id, i.kind) for i in issues} == wanted
    assert all(i.severity is Severity.ERROR for i in issues)
    assert {r.id for r in records} == set(expected["grid_of_camera"])
    assert len(records) == len(table.rows) - len(wanted)


def test_demo_records_carry_no_credentials_in_urls_and_convert_gcj02() -> None:
    table = read_table(DEMO / "cameras.csv")
    records, _ = validate_rows(table, resolve_columns(table.headers), known_grids=_known_grids())
    by_id = {r.id: r for r in records}
    first = by_id[CAM]  # rtsp://admin:Uv_pass88@127.20.0.1:554/cam/realmonitor?…
    assert first.rtsp_url == "rtsp://127.20.0.1:554/cam/realmonitor?channel=1&subtype=0"
    assert (first.username, first.password) == ("admin", "Uv_pass88")
    assert first.key_location is True
    assert first.upstream_id == NVR
    assert all(r.rtsp_url and "@" not in r.rtsp_url for r in records)
    gcj = [r for r in records if r.crs is Crs.GCJ02]
    wgs = [r for r in records if r.crs is Crs.WGS84]
    assert len(gcj) > 400
    assert len(wgs) > 600
    for r in gcj:
        assert r.lon_wgs84 is not None
        assert r.lat_wgs84 is not None
        assert r.lon is not None
        assert r.lat is not None
        # GCJ-02 is 100–700 m off in China: about 0.001–0.007°.
        assert 0.0005 < abs(r.lon_wgs84 - r.lon) + abs(r.lat_wgs84 - r.lat) < 0.01
    assert all((r.lon_wgs84, r.lat_wgs84) == (r.lon, r.lat) for r in wgs)


# --- header words and column maps ---------------------------------------------------------


def test_is_header() -> None:
    assert is_header(DEMO_HEADER)
    assert is_header(["国标编码", "点位名称（中文）", "经度（X）", "纬度(Y)"])
    assert is_header([" Device_ID ", "NAME", "Longitude", "latitude"])
    assert not is_header(["示范区雪亮工程点位清单", "", ""])
    assert not is_header([CAM, "郭塘村渡口2号", "127.20.0.1", "554", "114.1", "32.1", "WGS84"])
    assert not is_header(["经度", "经度(X)", "lon"])  # three words, one field
    assert is_header(["摄像机国标号", "监控点"], {"id": "摄像机国标号", "name": "监控点"})


def test_resolve_columns_demo_header_and_variants() -> None:
    columns = resolve_columns(DEMO_HEADER)
    assert columns["id"] == 0
    assert columns["rtsp_url"] == 7
    assert columns["model"] == 16
    assert len(columns) == 17
    assert "extra_grids" not in columns
    columns = resolve_columns(["*编码", "名称", "经度（X）", "纬度(Y)", "坐标类型", "关联网格"])
    assert columns == {"id": 0, "name": 1, "lon": 2, "lat": 3, "crs": 4, "extra_grids": 5}
    assert resolve_columns(["编码", "X", "Y"]) == {"id": 0, "lon": 1, "lat": 2}


def test_more_specific_header_word_wins() -> None:
    columns = resolve_columns(["编码", "端口", "国标编码", "ONVIF端口", "设备编码"])
    assert columns == {"id": 2, "onvif_port": 3}


def test_column_map_overrides_built_in_words() -> None:
    headers = ["编号", "摄像机国标号", "设备名称", "东经", "北纬"]
    column_map = {"id": "摄像机国标号", "lon": "东经", "lat": " 北纬 "}
    assert resolve_columns(headers, column_map) == {"id": 1, "name": 2, "lon": 3, "lat": 4}
    # A column the map claims is not matched again by the built-in words.
    assert resolve_columns(["设备编码", "国标编码"], {"name": "设备编码"}) == {"name": 0, "id": 1}


def test_missing_id_column_lists_found_and_missing() -> None:
    with pytest.raises(ColumnError) as caught:
        resolve_columns(["设备名称", "IP地址", "经度"])
    message = str(caught.value)
    assert "no column for the camera ID" in message
    assert "设备编码" in message
    assert "'设备名称', 'IP地址', '经度'" in message
    assert "--columns" in message


def test_bad_column_map_reports_every_problem() -> None:
    with pytest.raises(ColumnError) as caught:
        resolve_columns(DEMO_HEADER, {"camera": "设备编码", "lon": "东经"})
    message = str(caught.value)
    assert "unknown field 'camera'" in message
    assert "lon = '东经' but no column has that header" in message


def test_load_column_map_example_file() -> None:
    column_map = load_column_map(ROOT / "config" / "columns.example.toml")
    assert column_map["id"] == "摄像机国标号"
    assert set(column_map) <= {"id", "name", "host", "lon", "lat", "crs", "grid"}


def test_load_column_map_lists_all_problems(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text(
        '[columns]\nid = "国标号"\ncamera = "x"\nname = 3\nlon = ""\nlat = "国标号"\n'
        "[other]\nx = 1\n",
        "utf-8",
    )
    with pytest.raises(ColumnError) as caught:
        load_column_map(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    for part in (
        "unknown key 'other'",
        "columns.camera: unknown field",
        "columns.name: must be a non-empty string",
        "columns.lon: must be a non-empty string",
        "columns.lat: header '国标号' is already used for id",
    ):
        assert part in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[columns\n", "not valid TOML"),
        ('id = "x"\n', "no [columns] table"),
        ('columns = "x"\n', "no [columns] table"),
    ],
)
def test_load_column_map_bad_files(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "map.toml"
    path.write_text(content, "utf-8")
    with pytest.raises(ColumnError, match=problem.replace("[", r"\[")):
        load_column_map(path)
    with pytest.raises(ColumnError, match="cannot read the column map"):
        load_column_map(tmp_path / "missing.toml")


# --- row checks ----------------------------------------------------------------------------

HEADER = (
    "设备编码", "设备名称", "IP地址", "RTSP端口", "ONVIF端口", "用户名", "密码", "RTSP地址",
    "经度", "纬度", "坐标系", "所属网格", "关联网格", "重点部位", "上级设备",
)  # fmt: skip
GOOD = {
    "设备编码": CAM,
    "设备名称": "郭塘村渡口2号",
    "IP地址": "127.20.0.1",
    "经度": "114.132120",
    "纬度": "32.082641",
    "坐标系": "WGS84",
    "重点部位": "否",
    "上级设备": NVR,
}


def _check(*rows: dict[str, str], **options: Any) -> tuple[list[CameraRecord], list[RowIssue]]:
    cells = [tuple(row.get(h, "") for h in HEADER) for row in rows]
    table = RawTable("t.csv", None, 1, HEADER, list(enumerate(cells, start=2)))
    return validate_rows(table, resolve_columns(HEADER), known_grids=GRIDS, **options)


def _one(row: dict[str, str], **options: Any) -> tuple[CameraRecord | None, list[RowIssue]]:
    records, issues = _check({**GOOD, **row}, **options)
    return (records[0] if records else None), issues


def _kinds(issues: list[RowIssue]) -> list[tuple[str, Severity]]:
    return [(i.kind, i.severity) for i in issues]


def test_good_row() -> None:
    record, issues = _one({})
    assert issues == []
    assert record == CameraRecord(
        id=CAM, name="郭塘村渡口2号", type_code="132", host="127.20.0.1", lon=114.13212,
        lat=32.082641, crs=Crs.WGS84, lon_wgs84=114.13212, lat_wgs84=32.082641,
        upstream_id=NVR, source_row=2,
    )  # fmt: skip


ERROR, WARNING = Severity.ERROR, Severity.WARNING


@pytest.mark.parametrize(
    ("row", "kinds"),
    [
        ({"设备编码": "4199010001132600119"}, [("bad_id", ERROR)]),
        ({"设备编码": "4.1990100011326e+19"}, [("bad_id", ERROR)]),
        ({"设备编码": ""}, [("bad_id", ERROR)]),
        ({"设备编码": NVR}, [("not_camera_type", WARNING)]),
        ({"经度": "32.08", "纬度": "114.1"}, [("swapped_lat_lon", ERROR)]),
        ({"经度": "", "纬度": ""}, [("no_location", ERROR)]),
        ({"经度": "0", "纬度": "0.000000"}, [("no_location", ERROR)]),
        ({"经度": "", "纬度": "", "所属网格": "419901001001001"}, [("no_location", WARNING)]),
        ({"经度": "", "纬度": "", "坐标系": "BJ54", "所属网格": "419901001001001"},
         [("no_location", WARNING)]),
        ({"经度": "114.1E0"}, [("bad_location", ERROR)]),
        ({"经度": "nan"}, [("bad_location", ERROR)]),
        ({"纬度": ""}, [("bad_location", ERROR)]),
        ({"经度": "2.35", "纬度": "48.85"}, [("bad_location", ERROR)]),
        ({"经度": "200", "纬度": "32"}, [("bad_location", ERROR)]),
        ({"坐标系": "BJ54"}, [("bad_crs", ERROR)]),
        ({"坐标系": ""}, [("bad_crs", ERROR)]),
        ({"RTSP地址": "rtsp//broken url"}, [("bad_rtsp", ERROR)]),
        ({"RTSP地址": "http://127.20.0.1/x"}, [("bad_rtsp", ERROR)]),
        ({"RTSP地址": "rtsp:///x"}, [("bad_rtsp", ERROR)]),
        ({"RTSP地址": "rtsp://h:99999/x"}, [("bad_rtsp", ERROR)]),
        ({"RTSP地址": "rtsp://h/my stream"}, [("bad_rtsp", ERROR)]),
        ({"RTSP地址": "rtsp://admin:12345/x@"}, [("bad_rtsp", ERROR)]),
        ({"所属网格": "419901999999999"}, [("unknown_grid", ERROR)]),
        ({"关联网格": "419901001001002、419901009"}, [("unknown_grid", ERROR)]),
        ({"RTSP端口": "abc"}, [("bad_port", ERROR)]),
        ({"ONVIF端口": "0"}, [("bad_port", ERROR)]),
        ({"IP地址": "127.20.0.1:554"}, [("bad_host", ERROR)]),
        ({"重点部位": "maybe"}, [("bad_key_location", WARNING)]),
        ({"上级设备": "NVR-1"}, [("bad_upstream", WARNING)]),
    ],
)  # fmt: skip
def test_row_checks(row: dict[str, str], kinds: list[tuple[str, Severity]]) -> None:
    record, issues = _one(row)
    assert _kinds(issues) == kinds
    assert (record is None) is any(s is ERROR for _, s in kinds)
    assert all(i.row == 2 for i in issues)


def test_every_problem_of_a_row_is_reported() -> None:
    record, issues = _one(
        {
            "设备编码": "123",
            "坐标系": "BJ54",
            "RTSP地址": "ftp://x",
            "所属网格": "9",
            "RTSP端口": "-1",
        }
    )
    assert record is None
    assert {i.kind for i in issues} == {"bad_id", "unknown_grid", "bad_crs", "bad_rtsp", "bad_port"}
    assert all(i.camera_id == "123" for i in issues)


def test_duplicate_id_names_the_first_row() -> None:
    records, issues = _check(GOOD, {**GOOD, "设备名称": "other"}, {**GOOD, "经度": ""})
    assert [r.source_row for r in records] == [2]
    assert [(i.row, i.kind) for i in issues] == [(3, "duplicate_id"), (4, "duplicate_id"),
                                                 (4, "bad_location")]  # fmt: skip
    assert "row 2" in issues[0].message


def test_default_crs_fills_empty_cells() -> None:
    record, issues = _one({"坐标系": ""}, default_crs=Crs.GCJ02)
    assert issues == []
    assert record is not None
    assert record.crs is Crs.GCJ02
    assert record.lon_wgs84 != record.lon
    assert record.lat_wgs84 != record.lat


def test_gcj02_row_is_converted() -> None:
    record, _ = _one({"坐标系": "高德"})
    assert record is not None
    assert record.crs is Crs.GCJ02
    assert record.lon == 114.13212
    assert record.lon_wgs84 is not None
    assert record.lat_wgs84 is not None
    assert 0.001 < abs(record.lon_wgs84 - record.lon) < 0.01


def test_explicit_grids_kept_in_order_without_repeats() -> None:
    record, _ = _one(
        {"所属网格": "419901001001002", "关联网格": "419901001001001；419901001001002"}
    )
    assert record is not None
    assert record.explicit_grids == ("419901001001002", "419901001001001")


def test_defaults_and_url_host_and_port() -> None:
    record, issues = _one(
        {"IP地址": "", "RTSP地址": "rtsp://10.1.2.3:8554/ch1"},
        default_rtsp_port=10554,
        default_onvif_port=8080,
    )
    assert issues == []
    assert record is not None
    assert (record.host, record.rtsp_port, record.onvif_port) == ("10.1.2.3", 8554, 8080)
    record, _ = _one({"RTSP端口": "555", "ONVIF端口": "8000", "RTSP地址": "rtsp://h:8554/"})
    assert record is not None
    assert (record.rtsp_port, record.onvif_port) == (555, 8000)
    record, _ = _one({}, default_rtsp_port=10554)
    assert record is not None
    assert record.rtsp_port == 10554


@pytest.mark.parametrize(
    ("text", "value"),
    [("是", True), ("否", False), ("Y", True), ("n", False), ("1", True), ("0", False),
     ("TRUE", True), ("false", False), ("", False), ("  ", False), ("maybe", None)],
)  # fmt: skip
def test_parse_key_location(text: str, value: bool | None) -> None:
    assert parse_key_location(text) is value


# --- RTSP credentials in rows -------------------------------------------------------------


def test_url_credentials_move_to_record() -> None:
    url = "rtsp://root:Dh#2020pw@127.20.0.1:554/Streaming/Channels/101"
    record, issues = _one({"RTSP地址": url})
    assert issues == []
    assert record is not None
    assert record.rtsp_url == "rtsp://127.20.0.1:554/Streaming/Channels/101"
    assert (record.username, record.password) == ("root", "Dh#2020pw")
    assert "Dh#2020pw" not in repr(record)


def test_conflicting_credentials_prefer_the_url_and_warn_without_secrets() -> None:
    url = "rtsp://admin:Url#Secret1@127.20.0.1/ch1"
    record, issues = _one({"RTSP地址": url, "用户名": "admin", "密码": "Column#Secret2"})
    assert record is not None
    assert record.password == "Url#Secret1"
    assert _kinds(issues) == [("credentials_conflict", WARNING)]
    assert "Secret" not in issues[0].message
    record, issues = _one({"RTSP地址": url, "用户名": "admin", "密码": "Url#Secret1"})
    assert issues == []
    assert record is not None
    assert record.password == "Url#Secret1"


def test_no_message_ever_holds_a_password() -> None:
    secret = "S3cr#t@pw"
    rows = [
        {**GOOD, "密码": secret, "RTSP地址": f"rtsp//admin:{secret}@h broken"},
        {**GOOD, "密码": secret, "RTSP地址": f"rtsp://admin:{secret}@h:99999/x"},
        {**GOOD, "密码": secret, "RTSP地址": f"http://admin:{secret}@h/x"},
        {**GOOD, "密码": "other", "RTSP地址": f"rtsp://admin:{secret}@h/x", "设备编码": "1"},
    ]
    _, issues = _check(*rows)
    assert len(issues) >= 4
    assert not any(secret in i.message or "S3cr" in i.message for i in issues)
