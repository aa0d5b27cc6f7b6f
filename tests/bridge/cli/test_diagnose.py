"""``gridbridge diagnose``: still pictures in, metrics and faults out (table, JSON, CSV);
bad files named with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from bridge.cli.main import main
from bridge.simulator.pictures import apply_fault, live, scene


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def pictures(tmp_path: Path) -> dict[str, Path]:
    base = scene(7, 1280, 720)
    made = {
        "healthy": live(base, 1.0, seed=7),
        "earlier": live(base, 0.0, seed=7),
        "learn1": live(base, 2.0, seed=7),
        "learn2": live(base, 3.0, seed=7),
        "black": apply_fault(live(base, 4.0, seed=7), "black", seed=7),
        "blue": apply_fault(live(base, 5.0, seed=7), "no_signal", seed=7),
    }
    paths = {}
    for name, image in made.items():
        path = tmp_path / f"{name}.jpg"
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        path.write_bytes(data.tobytes())
        paths[name] = path
    png = tmp_path / "healthy.png"
    cv2.imwrite(str(png), made["healthy"])
    paths["png"] = png
    return paths


def test_json_lists_faults_labels_and_metrics(
    pictures: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "diagnose", str(pictures["healthy"]), str(pictures["black"]),
        str(pictures["blue"]), str(pictures["png"]), "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    results = {Path(e["file"]).name: e for e in json.loads(out)}
    assert results["healthy.jpg"]["faults"] == []
    assert results["healthy.png"]["faults"] == []
    assert results["black.jpg"]["faults"] == ["black"]
    assert results["black.jpg"]["labels_zh"] == ["黑屏"]
    assert results["blue.jpg"]["faults"] == ["no_signal"]
    assert results["healthy.jpg"]["metrics"]["source_width"] == 1280
    assert results["healthy.jpg"]["metrics"]["frozen_changed"] is None  # no --previous


def test_previous_reference_and_baseline(
    pictures: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    p = pictures
    code, out, _ = run(
        capsys, "diagnose", str(p["healthy"]), "--previous", str(p["healthy"]),
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)[0]["faults"] == ["frozen"]  # the same picture twice
    code, out, _ = run(
        capsys, "diagnose", str(p["healthy"]), "--previous", str(p["earlier"]),
        "--reference", str(p["earlier"]), "--baseline", str(p["learn1"]), str(p["learn2"]),
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    [entry] = json.loads(out)
    assert entry["faults"] == []
    assert entry["metrics"]["frozen_changed"] > 0
    assert entry["metrics"]["scene_similarity"] is not None


def test_table_and_csv(pictures: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagnose", str(pictures["black"]), str(pictures["healthy"]))
    assert code == 0
    assert "黑屏" in out
    assert "正常" in out
    assert "black.jpg: black:" in out  # the reason, under the table
    code, out, _ = run(capsys, "diagnose", str(pictures["black"]), "--format", "csv")
    assert code == 0
    assert out.splitlines()[0].startswith("file,faults,故障,night,brightness")


def test_bad_files_are_named_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 10)
    code, _, err = run(capsys, "diagnose", str(junk))
    assert code == 2
    assert "junk.jpg" in err
    code, _, err = run(capsys, "diagnose", str(tmp_path / "missing.jpg"))
    assert code == 2
    assert "missing.jpg" in err
    text = tmp_path / "notes.png"
    text.write_text("hello")
    code, _, err = run(capsys, "diagnose", str(text))
    assert code == 2
    assert "notes.png" in err
    cfg = tmp_path / "small.toml"
    cfg.write_text("[frames]\nmax_pixels = 100000\n", encoding="utf-8")
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((400, 400, 3), np.uint8))
    code, _, err = run(capsys, "diagnose", str(big), "--config", str(cfg))
    assert code == 2
    assert "100000 pixels" in err
