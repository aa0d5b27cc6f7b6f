"""Payloads of the bus: exact fields, the JSON Schemas in docs/schemas, no secrets, and a
request parser that raises nothing but RequestError whatever the bytes."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from adapters.inventory_file import read_table
from bridge.bus.payloads import (
    STATUS_SCHEMA,
    CameraInfo,
    Request,
    RequestError,
    StatusFacts,
    bridge_state_payload,
    camera_info,
    parse_request,
    response_payload,
    status_payload,
    summary_payload,
)
from bridge.bus.summaries import Counts
from bridge.bus.topics import UNMAPPED, GridPath
from bridge.inventory import resolve_columns, validate_rows
from bridge.model import CameraState, CameraView, Mapping

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = REPO / "docs" / "schemas"
DEMO = REPO / "bridge" / "demo" / "district"

T, V, G = "419901001", "419901001002", "419901001002003"
PATH = GridPath(T, V, G)
CAM = CameraInfo(
    id="41990100011326000001",
    name="郭塘村渡口2号",
    grids=(G, "419901001002004"),
    key_location=True,
    address="示范区郭塘村渡口",
    vendor="大华",
    model="DH-IPC-HFW2433M",
    lon=114.1321204,
    lat=32.082641,
    upstream="41990100011186900001",
)
SINCE = datetime(2025, 6, 1, 8, 0, 0, 250_000, tzinfo=UTC)
CHECKED = datetime(2025, 6, 1, 16, 5, 3, tzinfo=timezone(timedelta(hours=8)))  # Beijing time
FACTS = StatusFacts(
    state="degraded",
    faults=("clock_drift", "rtsp_error", "clock_drift"),
    flapping=False,
    since=SINCE,
    checked_at=CHECKED,
    rtsp_ms=12.345,
    onvif_ms=8.0,
    clock_offset_s=-42.5004,
    thumbnail_sha256="0f" * 32,
)
SNAPSHOT_URL = "http://10.20.0.5:8080/api/cameras/41990100011326000001/snapshot.jpg"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    try:
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    except ImportError:  # a dev extra: its absence is a setup bug, not a reason to skip
        pytest.fail("jsonschema is missing: install the dev extras (pip install -e '.[dev]')")
    out = {}
    for name in ("status", "summary", "request", "response"):
        schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))
        Draft202012Validator.check_schema(schema)
        out[name] = Draft202012Validator(schema)
    return out


def valid(schemas: dict[str, Any], name: str, payload: bytes) -> dict[str, Any]:
    """The payload decoded, after asserting it is compact UTF-8 JSON valid under its schema."""
    text = payload.decode("utf-8")
    document: dict[str, Any] = json.loads(text)
    assert json.dumps(document, ensure_ascii=False, separators=(",", ":")) == text  # compact
    errors = [e.message for e in schemas[name].iter_errors(document)]
    assert not errors, errors
    return document


def test_status_payload_exact(schemas: dict[str, Any]) -> None:
    payload = status_payload(CAM, PATH, FACTS, snapshot_url=SNAPSHOT_URL)
    assert valid(schemas, "status", payload) == {
        "schema": "gridbridge.status/1",
        "id": "41990100011326000001",
        "name": "郭塘村渡口2号",
        "path": {"town": T, "village": V, "grid": G},
        "grids": [G, "419901001002004"],
        "state": "degraded",
        "faults": ["rtsp_error", "clock_drift"],  # most telling first, no repeats
        "faults_zh": ["视频流异常", "时钟偏差"],
        "flapping": False,
        "since": "2025-06-01T08:00:00+00:00",
        "checked_at": "2025-06-01T08:05:03+00:00",  # converted to UTC
        "latency_ms": {"rtsp": 12.3, "onvif": 8.0},
        "clock_offset_s": -42.5,
        "snapshot_url": SNAPSHOT_URL,
        "thumbnail_sha256": "0f" * 32,
        "key_location": True,
        "address": "示范区郭塘村渡口",
        "vendor": "大华",
        "model": "DH-IPC-HFW2433M",
        "upstream": "41990100011186900001",
        "location": {"lon": 114.13212, "lat": 32.082641},
    }
    assert "郭塘村".encode() in payload  # not \u-escaped
    assert list(json.loads(payload)) == [  # field order is fixed
        "schema", "id", "name", "path", "grids", "state", "faults", "faults_zh", "flapping",
        "since", "checked_at", "latency_ms", "clock_offset_s", "snapshot_url",
        "thumbnail_sha256", "key_location", "address", "vendor", "model", "upstream",
        "location",
    ]  # fmt: skip


def test_status_of_a_camera_never_checked(schemas: dict[str, Any]) -> None:
    cam = CameraInfo("41990100011326000009", "无坐标", (), False, "", "", "", None, 32.0, None)
    facts = StatusFacts(CameraState.UNKNOWN, (), False, None, None, float("nan"), float("inf"))
    document = valid(schemas, "status", status_payload(cam, UNMAPPED, facts, snapshot_url=None))
    assert document["path"] == {"town": "_", "village": "_", "grid": "_"}
    assert document["state"] == "unknown"
    assert (document["faults"], document["faults_zh"], document["grids"]) == ([], [], [])
    assert (document["since"], document["checked_at"], document["snapshot_url"]) == (None,) * 3
    assert document["latency_ms"] == {"rtsp": None, "onvif": None}  # NaN/inf never in JSON
    assert document["location"] is None  # half a position is none
    assert (document["upstream"], document["thumbnail_sha256"]) == (None, None)


def test_every_fault_has_a_chinese_label_and_unknown_codes_pass_through() -> None:
    faults = ("replaced", "too_bright", "too_dark", "unreachable", "new_fault")
    facts = StatusFacts("offline", faults, True, SINCE, SINCE)
    document = json.loads(status_payload(CAM, PATH, facts, snapshot_url=None))
    assert document["faults"] == ["unreachable", "too_dark", "too_bright", "replaced", "new_fault"]
    assert document["faults_zh"] == ["网络不通", "亮度异常", "亮度异常", "设备更换", "new_fault"]
    assert document["flapping"] is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"state": "broken"}, "unknown camera state"),
        ({"since": datetime(2025, 6, 1)}, "naive"),
        ({"thumbnail_sha256": "ABC"}, "64 lowercase hex"),
    ],
)
def test_status_refuses_bad_facts(change: dict[str, Any], message: str) -> None:
    facts = StatusFacts(**{**_fields(FACTS), **change})
    with pytest.raises(ValueError, match=message):
        status_payload(CAM, PATH, facts, snapshot_url=None)


@pytest.mark.parametrize(
    "url",
    [
        "http://admin:Uv_pass88@10.20.0.5/snap.jpg",
        "http://admin@10.20.0.5/snap.jpg",
        "rtsp://10.20.0.5:554/live",
        "file:///etc/passwd",
        "http:///nohost",
    ],
)
def test_status_refuses_a_snapshot_url_with_credentials_or_not_http(url: str) -> None:
    with pytest.raises(ValueError, match="snapshot_url"):
        status_payload(CAM, PATH, FACTS, snapshot_url=url)


def test_no_password_or_stream_url_in_any_status_of_the_demo_district(
    schemas: dict[str, Any],
) -> None:
    """CameraInfo has no field for a secret; prove it on every camera of the demo inventory,
    built the way the daemon builds it (store view → camera_info)."""
    table = read_table(DEMO / "cameras.csv")
    features = json.loads((DEMO / "grid.geojson").read_text("utf-8"))["features"]
    records, _ = validate_rows(
        table,
        resolve_columns(table.headers),
        known_grids={f["properties"]["code"] for f in features},
    )
    passwords = {r.password for r in records if r.password}
    assert passwords >= {"Uv_pass88", "admin@123", "Dh#2020pw"}  # the check checks something
    published = bytearray()
    for r in records:
        view = CameraView(
            r.id, r.name, r.host, r.explicit_grids or (G,), Mapping.EXPLICIT,
            CameraState.ONLINE, (), SINCE, SINCE, r.key_location, r.upstream_id, r.vendor,
            r.model, r.address, r.lon_wgs84, r.lat_wgs84,
        )  # fmt: skip
        payload = status_payload(camera_info(view), PATH, FACTS, snapshot_url=SNAPSHOT_URL)
        published += payload
    valid(schemas, "status", payload)
    for secret in passwords:
        assert secret.encode() not in published
        assert json.dumps(secret).encode() not in published  # escaped forms too
    assert b"rtsp://" not in published


def test_camera_info_from_a_store_view() -> None:
    view = CameraView(
        CAM.id, CAM.name, "127.20.0.1", CAM.grids, Mapping.COORDINATES, CameraState.ONLINE, (),
        None, None, True, CAM.upstream, CAM.vendor, CAM.model, CAM.address, CAM.lon, CAM.lat,
    )  # fmt: skip
    assert camera_info(view) == CAM


def test_summary_payloads_exact(schemas: dict[str, Any]) -> None:
    at = datetime(2025, 6, 1, 8, 5, tzinfo=UTC)
    counts = Counts(online=10, degraded=1, offline=1, unknown=3)
    grid = valid(schemas, "summary", summary_payload("grid", PATH, counts, at))
    assert grid == {
        "schema": "gridbridge.summary/1",
        "level": "grid",
        "code": G,
        "path": {"town": T, "village": V, "grid": G},
        "counts": {"online": 10, "degraded": 1, "offline": 1, "unknown": 3},
        "total": 15,
        "online_rate": 0.8333,  # 10 / (15 - 3)
        "at": "2025-06-01T08:05:00+00:00",
    }
    village = valid(schemas, "summary", summary_payload("village", GridPath(T, V, "_"), {}, at))
    assert (village["level"], village["code"], village["path"]["grid"]) == ("village", V, "_")
    assert village["counts"] == {"online": 0, "degraded": 0, "offline": 0, "unknown": 0}
    assert (village["total"], village["online_rate"]) == (0, None)
    town = summary_payload("township", GridPath(T, "_", "_"), {"unknown": 4}, at)
    assert valid(schemas, "summary", town)["online_rate"] is None


@pytest.mark.parametrize(
    ("level", "path", "counts", "message"),
    [
        ("village", PATH, {}, "is not a village cell"),
        ("grid", GridPath(T, V, "_"), {}, "is not a grid cell"),
        ("township", UNMAPPED, {}, "is not a township cell"),
        ("district", PATH, {}, "is not a district cell"),
        ("grid", PATH, {"broken": 1}, "unknown state"),
        ("grid", PATH, {"online": -1}, "non-negative integer"),
        ("grid", PATH, {"online": True}, "non-negative integer"),
        ("grid", PATH, {"online": 1.5}, "non-negative integer"),
    ],
)
def test_summary_refuses(level: str, path: GridPath, counts: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        summary_payload(level, path, counts, SINCE)


def test_bridge_state_is_plain_text() -> None:
    assert bridge_state_payload(True) == b"online"
    assert bridge_state_payload(False) == b"offline"


def test_responses(schemas: dict[str, Any]) -> None:
    ok = response_payload("42", True, action="snapshot", data={"at": SINCE, "state": "online"})
    assert valid(schemas, "response", ok) == {
        "schema": "gridbridge.response/1",
        "id": "42",
        "ok": True,
        "action": "snapshot",
        "error": None,
        "data": {"at": "2025-06-01T08:00:00+00:00", "state": "online"},
    }
    failed = response_payload(None, False, action=None, error="x" * 500)
    document = valid(schemas, "response", failed)
    assert (document["id"], document["action"], document["data"]) == (None, None, None)
    assert len(document["error"]) == 200
    limited = valid(schemas, "response", response_payload("a", False, action="recheck",
                                                          error="rate limited"))  # fmt: skip
    assert (limited["ok"], limited["error"]) == (False, "rate limited")
    bad: list[tuple[Callable[[], bytes], str]] = [
        (lambda: response_payload("1", True, action="snapshot", error="no"), "exactly when"),
        (lambda: response_payload("1", False, action="snapshot"), "exactly when"),
        (lambda: response_payload("1", True, action="reboot"), "unknown action"),
        (lambda: response_payload("1" * 65, True, action="snapshot"), "longer than 64"),
        (lambda: response_payload("1", True, action="x", data={"x": object()}), "action"),
        (lambda: response_payload("1", True, action=None, data={"x": object()}), "cannot hold"),
    ]
    for build, message in bad:
        with pytest.raises(ValueError, match=message):
            build()


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"action":"snapshot","id":"req-1"}', Request("snapshot", "req-1")),
        (b'{"action":"recheck","id":42}', Request("recheck", "42")),  # echoed as a string
        (b'{"action":"recheck","id":-7}', Request("recheck", "-7")),
        (b'{"action":"recheck"}', Request("recheck", None)),
        (b'{"action":"recheck","id":null}', Request("recheck", None)),
        (b'{"action":"snapshot","id":"","client":"ws-419901001002"}',
         Request("snapshot", "", "ws-419901001002")),
        ('{"action":"snapshot","id":"请求一","extra":{"deep":[1,2]}}'.encode(),
         Request("snapshot", "请求一")),  # unknown fields ignored
        (b'\xef\xbb\xbf{"action":"snapshot"}', Request("snapshot", None)),  # UTF-8 BOM
        (b' {"action" : "snapshot", "id" : "' + b"x" * 64 + b'"}\n',
         Request("snapshot", "x" * 64)),
    ],
)  # fmt: skip
def test_parse_request_accepts(schemas: dict[str, Any], payload: bytes, expected: Request) -> None:
    assert parse_request(payload) == expected
    assert schemas["request"].is_valid(json.loads(payload.decode("utf-8-sig")))


@pytest.mark.parametrize(
    ("payload", "message", "request_id"),
    [
        (b"", "empty", None),
        (b"x" * 4097, "4097 bytes, at most 4096", None),
        (b"\xff\xfe{}", "not UTF-8", None),
        (b"{", "not valid JSON", None),
        (b'{"action":"snapshot","id":NaN}', "NaN", None),
        (b'{"action":"snapshot","x":Infinity}', "Infinity", None),
        (b"[1,2]", "JSON object", None),
        (b'"snapshot"', "JSON object", None),
        (b"[" * 3000 + b"]" * 1000, "not valid JSON", None),
        (b'{"action":"snapshot","id":"' + b"x" * 65 + b'"}', "longer than 64", None),
        (b'{"action":"snapshot","id":' + b"9" * 65 + b"}", "longer than 64", None),
        (b'{"action":"snapshot","id":1.5}', "string of at most 64", None),
        (b'{"action":"snapshot","id":true}', "string of at most 64", None),
        (b'{"action":"snapshot","id":["a"]}', "string of at most 64", None),
        (b'{"action":"snapshot","id":"\\ud800"}', "not valid Unicode", None),
        (b'{"id":"r1"}', "missing action", "r1"),
        (b'{"action":"reboot","id":"r2"}', "unknown action 'reboot'", "r2"),
        (b'{"action":"Snapshot","id":3}', "unknown action", "3"),
        (b'{"action":["snapshot"],"id":"r4"}', "unknown action", "r4"),
        (b'{"action":"snapshot","id":"r5","client":{"a":1}}', "client must be", "r5"),
    ],
)
def test_parse_request_refuses(payload: bytes, message: str, request_id: str | None) -> None:
    with pytest.raises(RequestError, match=re.escape(message)) as caught:
        parse_request(payload)
    assert caught.value.request_id == request_id
    assert caught.value.message == str(caught.value)


def test_parse_request_size_cap_is_configurable() -> None:
    payload = b'{"action":"snapshot","pad":"' + b" " * 100 + b'"}'
    assert parse_request(payload, max_bytes=len(payload)).action == "snapshot"
    with pytest.raises(RequestError, match="at most"):
        parse_request(payload, max_bytes=len(payload) - 1)


def test_parse_request_raises_only_request_error_on_fuzz() -> None:
    rng = random.Random(4)
    seeds = [
        b'{"action":"snapshot","id":"req-1","client":"ws-1"}',
        b'{"action":"recheck","id":12345678901234567890}',
        '{"action":"snapshot","id":"网格"}'.encode(),
    ]
    cases: list[bytes] = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
                          for _ in range(2000)]  # fmt: skip
    for _ in range(3000):  # mutations of valid requests: flips, cuts, insertions
        data = bytearray(rng.choice(seeds))  # mutated in place, then frozen below
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            op = rng.randrange(3)
            if op == 0:
                data[i] = rng.getrandbits(8)
            elif op == 1:
                del data[i:]
                data += b"}"
            else:
                data[i:i] = rng.choice([b"[", b"{", b'"', b"\\u", b"1e999", b"9" * 70, b"\x00"])
        cases.append(bytes(data))
    cases += [
        b"[" * 4096,
        b'{"a":' * 800 + b"1" + b"}" * 800,
        b'{"action":"snapshot","id":' + b"1" * 4000 + b"}",
        b'{"action":"snapshot","n":1e999999}',
        b'{"action":"snapshot","n":-' + b"9" * 4000 + b"}",
        b"\xc3\x28\xa0\xa1",
        b"\xed\xa0\x80",  # an encoded surrogate: not UTF-8
    ]
    accepted = 0
    for case in cases:
        try:
            request = parse_request(case)
        except RequestError:
            continue
        accepted += 1
        assert request.action in ("snapshot", "recheck")
        assert request.id is None or len(request.id) <= 64
        response_payload(request.id, True, action=request.action)  # always echoable
    assert accepted > 0  # the mutations left some requests intact


def _fields(facts: StatusFacts) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in StatusFacts.__dataclass_fields__}


def test_schema_field_is_the_documented_version() -> None:
    assert STATUS_SCHEMA == "gridbridge.status/1"
    assert TIME.fullmatch(json.loads(status_payload(CAM, PATH, FACTS, snapshot_url=None))["since"])


def test_examples_in_the_integrator_docs_are_valid(schemas: dict[str, Any]) -> None:
    """Every JSON block of docs/bus.md marked ``<!-- example: NAME -->`` is valid under its
    schema; request examples are accepted by the parser; the status example is exactly what
    the builder makes of the sample camera."""
    text = (REPO / "docs" / "bus.md").read_text("utf-8")
    examples = re.findall(r"<!-- example: (\w+) -->\n```json\n(.*?)\n```", text, re.DOTALL)
    assert {name for name, _ in examples} == {"status", "summary", "request", "response"}
    for name, block in examples:
        document = json.loads(block)
        errors = [e.message for e in schemas[name].iter_errors(document)]
        assert not errors, (name, errors)
        if name == "request":
            assert parse_request(block.encode()).id == document["id"]
        if name in ("status", "summary", "response"):
            assert document["schema"] == f"gridbridge.{name}/1"
    status = json.loads(next(block for name, block in examples if name == "status"))
    cam = CameraInfo(
        status["id"], status["name"], tuple(status["grids"]), status["key_location"],
        status["address"], status["vendor"], status["model"], status["location"]["lon"],
        status["location"]["lat"], status["upstream"],
    )  # fmt: skip
    facts = StatusFacts(
        status["state"], tuple(status["faults"]), status["flapping"],
        datetime.fromisoformat(status["since"]), datetime.fromisoformat(status["checked_at"]),
        status["latency_ms"]["rtsp"], status["latency_ms"]["onvif"], status["clock_offset_s"],
        status["thumbnail_sha256"],
    )  # fmt: skip
    built = status_payload(
        cam, GridPath(**status["path"]), facts, snapshot_url=status["snapshot_url"]
    )
    assert json.loads(built) == status
