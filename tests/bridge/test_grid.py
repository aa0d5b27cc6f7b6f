"""Grid-file validation and point lookup, on the demo district and on small hand-made maps."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import shape

from adapters.geojson import read_grid_file
from bridge.coords import parse_crs, to_wgs84
from bridge.grid import GridIndex, GridProblem, validate_cells
from bridge.model import GridCell, Level

DEMO = Path(__file__).resolve().parents[2] / "bridge" / "demo" / "district"
DEMO_GRID = DEMO / "grid.geojson"


def square(x0: float, y0: float, size: float = 0.01) -> dict[str, Any]:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(
    code: Any, level: str, parent: Any, geometry: Any, name: str = "某地"
) -> dict[str, Any]:
    props = {"code": code, "name": name, "level": level, "parent": parent}
    return {"type": "Feature", "properties": props, "geometry": geometry}


def small_map() -> list[dict[str, Any]]:
    """One township, one village, two grid cells side by side at 114.00–114.02 E."""
    return [
        feature("T1", "township", "419901", square(114.0, 32.0, 0.02)),
        feature("T1V1", "village", "T1", square(114.0, 32.0, 0.02)),
        feature("T1V1G1", "grid", "T1V1", square(114.0, 32.0)),
        feature("T1V1G2", "grid", "T1V1", square(114.01, 32.0)),
    ]


def only_problem(features: list[dict[str, Any]]) -> GridProblem:
    _cells, problems = validate_cells(features)
    assert len(problems) == 1, problems
    return problems[0]


@pytest.fixture(scope="module")
def demo_cells() -> list[GridCell]:
    cells, problems = validate_cells(read_grid_file(DEMO_GRID))
    assert problems == []
    return cells


@pytest.fixture(scope="module")
def demo_index(demo_cells: list[GridCell]) -> GridIndex:
    return GridIndex(demo_cells)


# --- the demo district ---------------------------------------------------------------------


def test_demo_file_loads_without_problems(demo_cells: list[GridCell]) -> None:
    levels = [cell.level for cell in demo_cells]
    assert levels.count(Level.TOWNSHIP) == 6
    assert levels.count(Level.VILLAGE) == 54
    assert levels.count(Level.GRID) == 216
    assert {c.parent for c in demo_cells if c.level is Level.TOWNSHIP} == {"419901"}


def test_every_demo_grid_cell_is_found_at_its_representative_point(
    demo_cells: list[GridCell], demo_index: GridIndex
) -> None:
    grids = [cell for cell in demo_cells if cell.level is Level.GRID]
    points = []
    for cell in grids:
        point = shape(cell.geometry).representative_point()
        points.append((point.x, point.y))
        assert demo_index.locate(point.x, point.y) == cell.code
    assert demo_index.locate_many(points) == [cell.code for cell in grids]


def test_demo_index_shape(demo_index: GridIndex) -> None:
    assert len(demo_index) == 276
    assert len(demo_index.leaf_codes) == 216
    assert "419901001" in demo_index
    assert "419901" not in demo_index
    assert demo_index.cell("419901") is None
    cell = demo_index.cell("419901001002003")
    assert cell is not None
    assert cell.level is Level.GRID
    assert len(demo_index.codes) == 276


def test_demo_ancestors(demo_index: GridIndex) -> None:
    assert demo_index.ancestors("419901001002003") == [
        "419901001",
        "419901001002",
        "419901001002003",
    ]
    assert demo_index.ancestors("419901001002") == ["419901001", "419901001002"]
    # The district itself is not a feature of the file, so it is not in the path.
    assert demo_index.ancestors("419901001") == ["419901001"]
    assert demo_index.ancestors("nope") == []


def test_demo_descendants(demo_index: GridIndex, demo_cells: list[GridCell]) -> None:
    village = demo_index.descendants("419901001002")
    assert "419901001002" in village
    assert {c for c in village if c != "419901001002"} == {
        c.code for c in demo_cells if c.parent == "419901001002"
    }
    township = demo_index.descendants("419901001")
    assert village <= township
    assert all(code.startswith("419901001") for code in township)
    assert demo_index.descendants("419901001002003") == {"419901001002003"}
    assert demo_index.descendants("419901") == set()
    everything: set[str] = set()
    for code in (c.code for c in demo_cells if c.level is Level.TOWNSHIP):
        everything |= demo_index.descendants(code)
    assert everything == demo_index.codes


def test_demo_cameras_land_in_their_expected_cells(demo_index: GridIndex) -> None:
    """End to end with the answer key: convert each camera's position, then locate it.

    Only rows that are imported and mapped by coordinates are checked (explicit grid codes
    win over coordinates and are the inventory importer's business).
    """
    expected = json.loads((DEMO / "expected.json").read_text(encoding="utf-8"))
    bad_rows = {entry["row"] for entry in expected["bad_rows"]}
    checked = 0
    with (DEMO / "cameras.csv").open(encoding="utf-8-sig", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            camera = row["设备编码"]
            if row_number in bad_rows or row["所属网格"].strip():
                continue
            if camera not in expected["grid_of_camera"]:
                continue
            crs = parse_crs(row["坐标系"])
            assert crs is not None, row_number
            lon, lat = to_wgs84(float(row["经度"]), float(row["纬度"]), crs)
            assert demo_index.locate(lon, lat) == expected["grid_of_camera"][camera], row_number
            checked += 1
    assert checked > 500


# --- point lookup: borders and ties ----------------------------------------------------------


def test_point_on_shared_edge_lands_in_the_same_cell_whatever_the_order() -> None:
    cells, problems = validate_cells(small_map())
    assert problems == []
    on_edge = (114.01, 32.005)
    answers = set()
    rng = random.Random(7)
    for _ in range(10):
        rng.shuffle(cells)
        index = GridIndex(cells)
        answers.add(index.locate(*on_edge))
        answers.add(index.locate_many([on_edge])[0])
    assert answers == {"T1V1G1"}


def test_shared_vertex_of_four_cells_goes_to_the_smallest_code() -> None:
    # Codes deliberately not in spatial order; "D" < "M" < "b" < "c" in string order.
    layout = {"c": (114.0, 32.0), "D": (114.01, 32.0), "M": (114.0, 32.01), "b": (114.01, 32.01)}
    cells = [GridCell(code, code, Level.VILLAGE, "T", square(*xy)) for code, xy in layout.items()]
    rng = random.Random(11)
    for _ in range(10):
        rng.shuffle(cells)
        index = GridIndex(cells)
        assert index.locate(114.01, 32.01) == "D"
        assert index.locate_many([(114.01, 32.01), (114.005, 32.015)]) == ["D", "M"]


def test_points_outside_every_cell_and_bad_points_give_none() -> None:
    cells, _ = validate_cells(small_map())
    index = GridIndex(cells)
    nan = float("nan")
    assert index.locate(0.0, 0.0) is None
    assert index.locate(nan, 32.005) is None
    assert index.locate_many([(0.0, 0.0), (nan, nan), (114.015, 32.005)]) == [
        None,
        None,
        "T1V1G2",
    ]
    assert index.locate_many([]) == []


def test_leaves_are_cells_without_children() -> None:
    features = [*small_map(), feature("T1V2", "village", "T1", square(114.02, 32.0, 0.02))]
    cells, problems = validate_cells(features)
    assert problems == []
    index = GridIndex(cells)
    assert index.leaf_codes == ("T1V1G1", "T1V1G2", "T1V2")
    assert index.locate(114.03, 32.01) == "T1V2"
    assert index.descendants("T1") == {"T1", "T1V1", "T1V1G1", "T1V1G2", "T1V2"}


def test_map_of_townships_and_villages_locates_villages() -> None:
    cells, problems = validate_cells(small_map()[:2])
    assert problems == []
    assert GridIndex(cells).locate(114.015, 32.005) == "T1V1"


def test_empty_index_and_duplicate_codes() -> None:
    empty = GridIndex([])
    assert len(empty) == 0
    assert empty.locate(114.0, 32.0) is None
    assert empty.locate_many([(114.0, 32.0)]) == [None]
    cell = GridCell("A", "a", Level.TOWNSHIP, None, square(114.0, 32.0))
    with pytest.raises(ValueError, match="duplicate grid code A"):
        GridIndex([cell, cell])


# --- validation ------------------------------------------------------------------------------


def test_self_intersecting_polygon_is_reported_with_its_location() -> None:
    bow_tie = {
        "type": "Polygon",
        "coordinates": [
            [[114.0, 32.0], [114.1, 32.1], [114.1, 32.0], [114.0, 32.1], [114.0, 32.0]]
        ],
    }
    features = small_map()
    features[3] = feature("T1V1G2", "grid", "T1V1", bow_tie)
    problem = only_problem(features)
    assert problem.index == 3
    assert problem.code == "T1V1G2"
    assert problem.message == "feature 3 (T1V1G2): polygon is self-intersecting at (114.05, 32.05)"


def test_unknown_parent() -> None:
    features = small_map()
    features[3] = feature("T1V1G2", "grid", "T1V9", square(114.01, 32.0))
    problem = only_problem(features)
    assert "unknown parent T1V9" in problem.message
    assert problem.message.startswith("feature 3 (T1V1G2): ")


def test_township_parent_may_be_anything_outside_the_file() -> None:
    features = small_map()
    features[0]["properties"]["parent"] = None
    assert validate_cells(features)[1] == []
    features[0]["properties"]["parent"] = "whatever"
    assert validate_cells(features)[1] == []


def test_duplicate_code_names_the_first_feature() -> None:
    features = [*small_map(), feature("T1V1G2", "grid", "T1V1", square(114.01, 32.01))]
    problem = only_problem(features)
    assert problem.index == 4
    assert problem.message == "feature 4 (T1V1G2): duplicate code, already used by feature 3"


def test_level_out_of_order() -> None:
    features = small_map()
    features[3] = feature("T1V1G2", "grid", "T1", square(114.01, 32.0))  # a township
    problem = only_problem(features)
    assert "level out of order: a grid's parent must be a village" in problem.message
    assert "T1 (feature 0) is a township" in problem.message


def test_village_needs_a_parent() -> None:
    features = small_map()
    features[1]["properties"]["parent"] = None
    cells, problems = validate_cells(features)
    assert [p.index for p in problems] == [1, 2, 3]
    assert "a village needs a parent" in problems[0].message
    # Children of a rejected cell are rejected too, so the good cells stay a closed tree.
    assert "its parent T1V1 (feature 1) was rejected" in problems[1].message
    assert [c.code for c in cells] == ["T1"]


@pytest.mark.parametrize(
    ("geometry", "words"),
    [
        ({"type": "Point", "coordinates": [114.0, 32.0]}, "geometry type is 'Point'"),
        ({"type": "LineString", "coordinates": [[114.0, 32.0], [114.1, 32.1]]}, "LineString"),
        (None, "has no geometry"),
        ({"type": "Polygon", "coordinates": []}, "Polygon has no coordinates"),
        (
            {"type": "Polygon", "coordinates": [[[114.0, 32.0], [114.1, 32.0], [114.1, 32.1]]]},
            "ring 0 has 3 points, a closed ring needs at least 4",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[114.0, 32.0], [114.1, 32.0], [114.1, 32.1], [114.0, 32.1]]],
            },
            "ring 0 is not closed: it starts at (114, 32) and ends at (114, 32.1)",
        ),
        (
            {"type": "Polygon", "coordinates": [[[114.0, 32.0], [114.1, "x"], [0, 0], [1, 1]]]},
            "malformed position",
        ),
        (
            {"type": "MultiPolygon", "coordinates": [square(114.0, 32.0)["coordinates"], []]},
            "polygon 1 has no rings",
        ),
    ],
)
def test_bad_geometries_are_reported(geometry: Any, words: str) -> None:
    features = small_map()
    features[3] = feature("T1V1G2", "grid", "T1V1", geometry)
    assert words in only_problem(features).message


def test_projected_coordinates_are_recognised() -> None:
    features = small_map()
    features[3] = feature("T1V1G2", "grid", "T1V1", square(38_500_000.0, 3_550_000.0, 500.0))
    message = only_problem(features).message
    assert "coordinates look projected (metres), expected WGS-84 degrees" in message


def test_swapped_and_out_of_range_coordinates() -> None:
    features = small_map()
    features[3] = feature("T1V1G2", "grid", "T1V1", square(32.0, 114.0))
    assert "swapped?" in only_problem(features).message
    features[3] = feature("T1V1G2", "grid", "T1V1", square(200.0, 32.0))
    assert "out of range" in only_problem(features).message


def test_multipolygon_is_accepted() -> None:
    features = small_map()
    parts = [
        square(114.01, 32.0, 0.005)["coordinates"],
        square(114.015, 32.005, 0.005)["coordinates"],
    ]
    features[3] = feature("T1V1G2", "grid", "T1V1", {"type": "MultiPolygon", "coordinates": parts})
    cells, problems = validate_cells(features)
    assert problems == []
    assert GridIndex(cells).locate(114.0175, 32.0075) == "T1V1G2"


def test_properties_are_checked_and_normalised() -> None:
    features = small_map()
    features[0] = feature(419901001, " Township ", 419901, square(114.0, 32.0, 0.02))
    features[1] = feature(" 419901001001 ", "village", "419901001", square(114.0, 32.0, 0.02))
    cells, problems = validate_cells(features[:2])
    assert problems == []
    assert [(c.code, c.level, c.parent) for c in cells] == [
        ("419901001", Level.TOWNSHIP, "419901"),
        ("419901001001", Level.VILLAGE, "419901001"),
    ]


@pytest.mark.parametrize(
    ("properties", "words", "code"),
    [
        ({"name": "x", "level": "grid", "parent": "T1V1"}, "missing properties: code", None),
        ({"code": "G", "level": "grid"}, "missing properties: name, parent", "G"),
        ({"code": "G", "name": "x", "level": "district", "parent": "T1V1"}, "level must be", "G"),
        ({"code": "", "name": "x", "level": "grid", "parent": "T1V1"}, "code is empty", None),
        ({"code": [1], "name": "x", "level": "grid", "parent": "T1V1"}, "code must be a", None),
        ({"code": "G", "name": " ", "level": "grid", "parent": "T1V1"}, "name must be a", "G"),
    ],
)
def test_bad_properties(properties: dict[str, Any], words: str, code: str | None) -> None:
    bad = {"type": "Feature", "properties": properties, "geometry": square(114.0, 32.01)}
    problem = only_problem([*small_map(), bad])
    assert words in problem.message
    assert problem.code == code
    assert problem.message.startswith(f"feature 4 ({code}): " if code else "feature 4: ")


def test_one_message_per_bad_feature_even_with_several_faults() -> None:
    bad = feature("G", "grid", "nowhere", {"type": "Point", "coordinates": [114.0, 32.0]})
    problem = only_problem([*small_map(), bad])
    assert "geometry type is 'Point'" in problem.message
    assert "unknown parent nowhere" in problem.message


def test_non_feature_entries_are_reported() -> None:
    cells, problems = validate_cells([*small_map(), "oops", {"type": "Feature"}])  # type: ignore[list-item]
    assert len(cells) == 4
    assert [p.index for p in problems] == [4, 5]
    assert problems[0].message == "feature 4: not a JSON object"
    assert "has no properties object" in problems[1].message
