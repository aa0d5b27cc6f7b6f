"""Tables line up with Chinese text; CSV and JSON are plain."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bridge.cli.output import csv_text, dumps, table, width
from bridge.model import CameraState


def test_cjk_width() -> None:
    assert width("abc") == 3
    assert width("郭塘村") == 6


def test_table_aligns_cjk_columns() -> None:
    text = table(["id", "name", "ok"], [["1", "郭塘村渡口", True], ["22", "ab", False]])
    lines = text.splitlines()
    assert lines[2] == "1   郭塘村渡口  是"
    assert lines[3] == "22  ab          否"


def test_json_and_csv() -> None:
    at = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    item = {"state": CameraState.ONLINE, "at": at, "grids": ("a", "b")}
    assert json.loads(dumps(item)) == {
        "state": "online",
        "at": "2026-11-27T08:00:00+00:00",
        "grids": ["a", "b"],
    }
    assert csv_text(["id", "grids"], [["x", ["a", "b"]]]) == "id,grids\nx,a;b\n"
