"""Topics of the bus: exact strings, refusals of anything that could escape a subtree, parsing."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bridge.bus.topics import (
    MAX_SEGMENT_BYTES,
    UNMAPPED,
    GridPath,
    Topics,
    camera_paths,
    check_segment,
    path_of,
)
from bridge.grid import GridIndex, validate_cells

REPO = Path(__file__).resolve().parents[3]
DEMO_GRID = REPO / "bridge" / "demo" / "district" / "grid.geojson"

TOWN, VILLAGE, GRID = "419901001", "419901001002", "419901001002003"
CAM = "41990100011326000001"
LEAF = GridPath(TOWN, VILLAGE, GRID)
BAD_CODES = [
    "",
    "a/b",
    "+",
    "41+",
    "#",
    "4199#",
    "41\x00",
    "41\n",
    "\x7f",
    "\x85",  # C1 control (NEL)
    "\ufffe",
    "\U0001ffff",
    "\ud800",  # lone surrogate: not encodable in UTF-8
    " 4199",
    "4199\t",
    "a" * (MAX_SEGMENT_BYTES + 1),
    "网" * (MAX_SEGMENT_BYTES // 3 + 1),  # 3 bytes each in UTF-8
]


@pytest.fixture(scope="module")
def demo_index() -> GridIndex:
    cells, problems = validate_cells(json.loads(DEMO_GRID.read_text("utf-8"))["features"])
    assert not problems
    return GridIndex(cells)


def test_every_topic_of_a_camera_in_a_grid() -> None:
    topics = Topics("gridbridge")
    base = f"gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/camera/{CAM}"
    assert topics.root == "gridbridge"
    assert topics.bridge_state() == "gridbridge/bridge/state"
    assert topics.status(LEAF, CAM) == f"{base}/status"
    assert topics.snapshot(LEAF, CAM) == f"{base}/snapshot"
    assert topics.request(LEAF, CAM) == f"{base}/request"
    assert topics.response(LEAF, CAM) == f"{base}/response"
    assert topics.grid_summary(LEAF) == f"gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/summary"
    assert topics.village_summary(TOWN, VILLAGE) == f"gridbridge/grid/{TOWN}/{VILLAGE}/summary"
    assert topics.town_summary(TOWN) == f"gridbridge/grid/{TOWN}/summary"
    assert topics.workorder(TOWN, "WO-20250601-0001") == (
        f"gridbridge/workorders/{TOWN}/WO-20250601-0001"
    )
    assert topics.request_filter() == "gridbridge/grid/+/+/+/camera/+/request"


def test_placeholders_for_cameras_above_grid_level_and_unmapped() -> None:
    topics = Topics("gridbridge")
    village_level = GridPath(TOWN, VILLAGE, "_")
    town_level = GridPath(TOWN, "_", "_")
    assert topics.status(village_level, CAM) == (
        f"gridbridge/grid/{TOWN}/{VILLAGE}/_/camera/{CAM}/status"
    )
    assert topics.status(town_level, CAM) == f"gridbridge/grid/{TOWN}/_/_/camera/{CAM}/status"
    assert topics.status(UNMAPPED, CAM) == f"gridbridge/grid/_/_/_/camera/{CAM}/status"
    assert UNMAPPED.segments() == "_/_/_"
    assert LEAF.segments() == f"{TOWN}/{VILLAGE}/{GRID}"


def test_summary_topic_by_key_level() -> None:
    topics = Topics("gridbridge")
    assert topics.summary(LEAF) == f"gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/summary"
    assert topics.summary(GridPath(TOWN, VILLAGE, "_")) == (
        f"gridbridge/grid/{TOWN}/{VILLAGE}/summary"
    )
    assert topics.summary(GridPath(TOWN, "_", "_")) == f"gridbridge/grid/{TOWN}/summary"
    with pytest.raises(ValueError, match="unmapped"):
        topics.summary(UNMAPPED)
    with pytest.raises(ValueError, match="names no grid cell"):
        topics.grid_summary(GridPath(TOWN, VILLAGE, "_"))
    with pytest.raises(ValueError, match="placeholder"):
        topics.village_summary(TOWN, "_")
    with pytest.raises(ValueError, match="placeholder"):
        topics.town_summary("_")


def test_gridpath_level_code_and_order() -> None:
    assert (LEAF.level, LEAF.code) == ("grid", GRID)
    assert (GridPath(TOWN, VILLAGE, "_").level, GridPath(TOWN, VILLAGE, "_").code) == (
        "village",
        VILLAGE,
    )
    assert (GridPath(TOWN, "_", "_").level, GridPath(TOWN, "_", "_").code) == ("township", TOWN)
    assert (UNMAPPED.level, UNMAPPED.code) == (None, None)
    assert sorted([GridPath("b", "_", "_"), LEAF, GridPath("a", "_", "_")])[0] == LEAF


REFUSED = r"empty|contains|whitespace|bytes, at most|non-character"


@pytest.mark.parametrize("bad", BAD_CODES)
def test_bad_codes_and_ids_are_refused_everywhere(bad: str) -> None:
    topics = Topics("gridbridge")
    with pytest.raises(ValueError, match=REFUSED):
        GridPath(bad, VILLAGE, GRID)
    with pytest.raises(ValueError, match=REFUSED):
        GridPath(TOWN, bad, GRID)
    with pytest.raises(ValueError, match=REFUSED):
        GridPath(TOWN, VILLAGE, bad)
    with pytest.raises(ValueError, match=REFUSED):
        topics.status(LEAF, bad)
    with pytest.raises(ValueError, match=REFUSED):
        topics.request(LEAF, bad)
    with pytest.raises(ValueError, match=REFUSED):
        topics.village_summary(TOWN, bad)
    with pytest.raises(ValueError, match=REFUSED):
        topics.workorder(TOWN, bad)
    if "/" not in bad:  # a root may have several levels (test_roots)
        with pytest.raises(ValueError, match=REFUSED):
            Topics(bad)


def test_codes_are_strings_not_digits() -> None:
    path = GridPath("东关街道", "张塘社区", "G-3.a")
    topic = Topics("gb").status(path, "cam_1")
    assert topic == "gb/grid/东关街道/张塘社区/G-3.a/camera/cam_1/status"
    assert check_segment("a" * MAX_SEGMENT_BYTES) == "a" * MAX_SEGMENT_BYTES


def test_a_placeholder_is_only_followed_by_placeholders() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        GridPath("_", VILLAGE, GRID)
    with pytest.raises(ValueError, match="placeholder"):
        GridPath(TOWN, "_", GRID)
    with pytest.raises(ValueError, match="placeholder"):
        GridPath("_", "_", GRID)


def test_roots() -> None:
    assert Topics("city/gridbridge").status(LEAF, CAM) == (
        f"city/gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/camera/{CAM}/status"
    )
    for bad in ["", "/gridbridge", "gridbridge/", "a//b", "$SYS", "$gridbridge", "a/+", "#"]:
        with pytest.raises(ValueError, match=r"root|empty|contains"):
            Topics(bad)


def test_parse_request_round_trips() -> None:
    for root in ("gridbridge", "city/gb"):
        topics = Topics(root)
        for path in (LEAF, GridPath(TOWN, VILLAGE, "_"), GridPath(TOWN, "_", "_"), UNMAPPED):
            assert topics.parse_request(topics.request(path, CAM)) == (path, CAM)


@pytest.mark.parametrize(
    "topic",
    [
        f"other/grid/{TOWN}/{VILLAGE}/{GRID}/camera/{CAM}/request",  # another root
        f"gridbridgex/grid/{TOWN}/{VILLAGE}/{GRID}/camera/{CAM}/request",
        f"gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/camera/{CAM}/response",
        f"gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/camera/{CAM}/status",
        f"gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/camera/{CAM}/request/x",
        f"gridbridge/grid/{TOWN}/{VILLAGE}/camera/{CAM}/request",  # a level missing
        f"gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/cam/{CAM}/request",
        f"gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/camera//request",
        f"gridbridge/grid/{TOWN}/{VILLAGE}//camera/{CAM}/request",
        f"gridbridge/grid/+/+/+/camera/{CAM}/request",  # wildcards
        f"gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/camera/+/request",
        f"gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/camera/#",
        f"gridbridge/grid/_/{VILLAGE}/{GRID}/camera/{CAM}/request",  # impossible path
        f"gridbridge/grid/{TOWN}/{VILLAGE}/{GRID}/camera/{CAM}\x00/request",
        "gridbridge/bridge/state",
        "gridbridge",
        "",
    ],
)
def test_parse_request_rejects(topic: str) -> None:
    assert Topics("gridbridge").parse_request(topic) is None


def test_parse_request_never_raises_on_random_topics() -> None:
    rng = random.Random(4)
    topics = Topics("gridbridge")
    alphabet = "ab_/+#\x00\x01 网\ud800\ufffe"
    for _ in range(2000):
        tail = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        result = topics.parse_request("gridbridge/grid/" + tail)
        if result is not None:
            path, camera_id = result
            assert topics.request(path, camera_id) == "gridbridge/grid/" + tail


def test_path_of_sample_district(demo_index: GridIndex) -> None:
    assert path_of(GRID, demo_index.ancestors(GRID)) == LEAF
    assert path_of(VILLAGE, demo_index.ancestors(VILLAGE)) == GridPath(TOWN, VILLAGE, "_")
    assert path_of(TOWN, demo_index.ancestors(TOWN)) == GridPath(TOWN, "_", "_")
    assert path_of("999999999", demo_index.ancestors("999999999")) == UNMAPPED


def test_path_of_refuses_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="do not end"):
        path_of(GRID, [TOWN, VILLAGE])
    with pytest.raises(ValueError, match="deeper"):
        path_of("x", [TOWN, VILLAGE, GRID, "x"])
    with pytest.raises(ValueError, match="placeholder"):
        path_of("_", [TOWN, "_"])
    with pytest.raises(ValueError, match="contains '/'"):
        path_of("a/b", [TOWN, "a/b"])


def test_camera_paths(demo_index: GridIndex) -> None:
    other = "419901001001001"
    two = camera_paths([GRID, other, GRID], demo_index.ancestors)
    assert two == (GridPath(TOWN, "419901001001", other), LEAF)  # sorted, no repeats
    assert camera_paths([], demo_index.ancestors) == (UNMAPPED,)
    assert camera_paths(["stale-code"], demo_index.ancestors) == (UNMAPPED,)
    # A known link wins over a stale one: the camera is not also shown as unmapped.
    assert camera_paths([GRID, "stale-code"], demo_index.ancestors) == (LEAF,)
    assert camera_paths([VILLAGE], demo_index.ancestors) == (GridPath(TOWN, VILLAGE, "_"),)
