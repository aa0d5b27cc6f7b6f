"""Reading grid files from disk: every way a file can be unusable gives one GridFileError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.geojson import GridFileError, read_grid_file

FEATURE: dict[str, Any] = {
    "type": "Feature",
    "properties": {
        "code": "419901001",
        "name": "东关街道",
        "level": "township",
        "parent": "419901",
    },
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[114.0, 32.0], [114.1, 32.0], [114.1, 32.1], [114.0, 32.0]]],
    },
}


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_reads_features_as_raw_dicts(tmp_path: Path) -> None:
    path = write(tmp_path / "grid.geojson", {"type": "FeatureCollection", "features": [FEATURE]})
    assert read_grid_file(path) == [FEATURE]


def test_accepts_a_utf8_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.geojson"
    text = json.dumps({"type": "FeatureCollection", "features": [FEATURE]}, ensure_ascii=False)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    features = read_grid_file(path)
    assert features[0]["properties"]["name"] == "东关街道"


def test_reads_the_demo_file() -> None:
    features = read_grid_file(
        Path(__file__).resolve().parents[2] / "bridge" / "demo" / "district" / "grid.geojson"
    )
    assert len(features) == 276


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.geojson"
    with pytest.raises(GridFileError, match=r"nope\.geojson: file not found"):
        read_grid_file(path)


def test_directory_is_not_a_grid_file(tmp_path: Path) -> None:
    with pytest.raises(GridFileError, match="not a regular file"):
        read_grid_file(tmp_path)


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "big.geojson", {"type": "FeatureCollection", "features": [FEATURE]})
    size = path.stat().st_size
    over = rf"big\.geojson: the file is {size} bytes, more than the 100 bytes allowed"
    with pytest.raises(GridFileError, match=over):
        read_grid_file(path, max_bytes=100)
    assert read_grid_file(path, max_bytes=size) == [FEATURE]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.geojson"
    text = json.dumps({"type": "FeatureCollection", "features": [FEATURE]}, ensure_ascii=False)
    path.write_bytes(text.encode("gbk"))
    with pytest.raises(GridFileError, match=r"gbk\.geojson: not UTF-8 \(invalid byte at offset"):
        read_grid_file(path)


def test_not_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text('{\n  "type": "FeatureCollection",\n  "features": [,]\n}\n', encoding="utf-8")
    where = r"broken\.geojson: not valid JSON: Expecting value at line 3 column 16"
    with pytest.raises(GridFileError, match=where):
        read_grid_file(path)


def test_nan_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "nan.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [NaN]}', encoding="utf-8")
    with pytest.raises(GridFileError, match="NaN is not allowed"):
        read_grid_file(path)


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.geojson"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(GridFileError, match=r"deep\.geojson"):
        read_grid_file(path)


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ([FEATURE], "expected a GeoJSON FeatureCollection, found 'list'"),
        (FEATURE, "expected a GeoJSON FeatureCollection, found 'Feature'"),
        ({"type": "FeatureCollection"}, "'features' is missing or not a list"),
        ({"type": "FeatureCollection", "features": {}}, "'features' is missing or not a list"),
        ({"type": "FeatureCollection", "features": []}, "has no features"),
        ({"type": "FeatureCollection", "features": [FEATURE, 3]}, "feature 1 is not a JSON object"),
    ],
)
def test_wrong_shapes(tmp_path: Path, document: Any, words: str) -> None:
    path = write(tmp_path / "shape.geojson", document)
    with pytest.raises(GridFileError) as caught:
        read_grid_file(path)
    assert words in str(caught.value)
    assert str(path) in str(caught.value)


def test_grid_file_error_is_a_value_error() -> None:
    assert issubclass(GridFileError, ValueError)
