"""Acceptance (issue 2): the sample district, end to end through the command line.

Importing cameras.xlsx, and separately cameras.csv, links every camera of the answer key to
exactly its grid (``null`` = unmapped), reports the 8 bad rows with row numbers and reasons,
imports all others, and a re-import changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridge.cli.main import main

DEMO = Path(__file__).resolve().parents[3] / "bridge" / "demo" / "district"
EXPECTED = json.loads((DEMO / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gridbridge.toml"
    path.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code, out, _ = run(capsys, *argv, "--format", "json")
    return code, json.loads(out)


@pytest.mark.parametrize("name", ["cameras.xlsx", "cameras.csv"])
def test_demo_district_import(name: str, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(config)]
    code, grid = run_json(capsys, "grid", "load", str(DEMO / "grid.geojson"), *cfg)
    assert code == 0
    assert grid["cells"] == {"township": 6, "village": 54, "grid": 216}

    code, report = run_json(capsys, "cameras", "import", str(DEMO / name), *cfg)
    assert code == 2  # rows were rejected (the good ones are imported)
    reported = {(i["row"], i["camera_id"], i["kind"]) for i in report["issues"]}
    expected = {(b["row"], b["camera"], b["kind"]) for b in EXPECTED["bad_rows"]}
    assert reported == expected
    for issue in report["issues"]:
        want = "warning" if issue["kind"] == "outside_district" else "error"
        assert issue["severity"] == want
        assert issue["message"]
    assert report["rejected"] == 7
    assert report["imported"] == len(EXPECTED["grid_of_camera"])
    assert report["added"] == report["imported"]

    code, cameras = run_json(capsys, "cameras", "list", *cfg)
    assert code == 0
    listed = {c["id"]: c for c in cameras}
    assert set(listed) == set(EXPECTED["grid_of_camera"])
    wrong = {
        cam_id: (listed[cam_id]["grids"], grid_code)
        for cam_id, grid_code in EXPECTED["grid_of_camera"].items()
        if listed[cam_id]["grids"] != ([grid_code] if grid_code else [])
    }
    assert wrong == {}
    for cam_id, grid_code in EXPECTED["grid_of_camera"].items():
        item = listed[cam_id]
        assert item["state"] == "unknown"
        assert item["faults"] == []
        assert (item["mapping"] == "unmapped") == (grid_code is None)

    # The same file again changes nothing.
    code, again = run_json(capsys, "cameras", "import", str(DEMO / name), *cfg)
    assert code == 2
    assert (again["added"], again["updated"], again["pruned"]) == (0, 0, 0)
    assert again["unchanged"] == report["imported"]
    assert again["missing"] == []


def test_list_by_township_includes_everything_below(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(config)]
    run(capsys, "grid", "load", str(DEMO / "grid.geojson"), *cfg)
    run(capsys, "cameras", "import", str(DEMO / "cameras.csv"), *cfg)
    township = "419901001"
    code, cameras = run_json(capsys, "cameras", "list", "--grid", township, *cfg)
    assert code == 0
    want = {c for c, g in EXPECTED["grid_of_camera"].items() if g and g.startswith(township)}
    assert {c["id"] for c in cameras} == want
    village = next(iter(sorted(EXPECTED["grid_of_camera"].values(), key=str)))
    assert village is not None
    code, cameras = run_json(capsys, "cameras", "list", "--grid", village[:12], *cfg)
    assert {c["id"] for c in cameras} == {
        c for c, g in EXPECTED["grid_of_camera"].items() if g and g.startswith(village[:12])
    }
    code, _, err = run(capsys, "cameras", "list", "--grid", "999", *cfg)
    assert code == 2
    assert "999" in err


def test_outputs_never_show_camera_passwords(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(config)]
    run(capsys, "grid", "load", str(DEMO / "grid.geojson"), *cfg)
    seen = []
    for fmt in ("table", "json", "csv"):
        seen.append(
            run(capsys, "cameras", "import", str(DEMO / "cameras.csv"), *cfg, "--format", fmt)
        )
        seen.append(run(capsys, "cameras", "list", *cfg, "--format", fmt))
    text = "\n".join(out + err for _, out, err in seen)
    for password in ("Uv_pass88", "admin@123", "Dh#2020pw", "Sx!9xk2", "Hik12345"):
        assert password not in text
    db = (config.parent / "data" / "gridbridge.db").read_bytes()
    assert b"Dh#2020pw" not in db
    assert b"Uv_pass88" not in db
