"""The command line on bad input: clear messages, exit 2, nothing lost or changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.cli.main import main

DEMO = Path(__file__).resolve().parents[3] / "bridge" / "demo" / "district"
HEADER = "设备编码,设备名称,IP地址,经度,纬度,坐标系,所属网格\n"


@pytest.fixture
def cfg(tmp_path: Path) -> list[str]:
    path = tmp_path / "gridbridge.toml"
    path.write_text(f'[store]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    return ["--config", str(path)]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_config_check_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[probe]\ninterval_s = 0\nconcurrency = 0\n[mqtt]\nroot = ""\nport = 1\n'
        '[http]\nlisten = "x"\n',
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "config", "check", "--config", str(path))
    assert code == 2
    lines = [line.strip() for line in out.splitlines()[1:]]
    assert sorted(line.split(":")[0] for line in lines) == [
        "http.listen",
        "mqtt.port",
        "mqtt.root",
        "probe.concurrency",
        "probe.interval_s",
    ]
    assert "5 problem(s)" in out


def test_config_check_ok(cfg: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "check", *cfg)
    assert code == 0
    assert out.strip().endswith(": ok")


def test_other_commands_refuse_a_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[probe]\ninterval_s = 0\n", encoding="utf-8")
    code, _, err = run(capsys, "cameras", "list", "--config", str(path))
    assert code == 2
    assert "probe.interval_s: must be ≥ 1" in err


def test_config_show_masks_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDBRIDGE_MQTT_PASSWORD", "s3cret-broker")
    code, out, _ = run(capsys, "config", "show", "--config", str(tmp_path / "none.toml"))
    assert code == 2  # missing file named
    path = tmp_path / "ok.toml"
    path.write_text("", encoding="utf-8")
    code, out, _ = run(capsys, "config", "show", "--config", str(path))
    assert code == 0
    shown = json.loads(out)
    assert shown["mqtt"]["password"] == "***"
    assert "s3cret-broker" not in out


def test_empty_inventory_file(
    tmp_path: Path, cfg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, _, err = run(capsys, "cameras", "import", str(empty), *cfg)
    assert code == 2
    assert "no grid map is loaded" in err
    run(capsys, "grid", "load", str(DEMO / "grid.geojson"), *cfg)
    code, _, err = run(capsys, "cameras", "import", str(empty), *cfg)
    assert code == 2
    assert "empty.csv" in err
    assert "empty" in err.split("empty.csv", 1)[1]


def test_header_only_inventory_imports_nothing(
    tmp_path: Path, cfg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "grid", "load", str(DEMO / "grid.geojson"), *cfg)
    run(capsys, "cameras", "import", str(DEMO / "cameras.csv"), *cfg)
    header_only = tmp_path / "header.csv"
    header_only.write_text(HEADER, encoding="utf-8")
    code, out, _ = run(capsys, "cameras", "import", str(header_only), *cfg, "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert (report["rows"], report["imported"], report["pruned"]) == (0, 0, 0)
    assert len(report["missing"]) == 1193  # reported, not removed without --prune
    code, out, _ = run(capsys, "cameras", "list", *cfg, "--format", "json")
    assert len(json.loads(out)) == 1193


def test_strict_imports_nothing_and_prune_removes(
    tmp_path: Path, cfg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "grid", "load", str(DEMO / "grid.geojson"), *cfg)
    code, out, _ = run(
        capsys, "cameras", "import", str(DEMO / "cameras.csv"), "--strict", *cfg, "--format", "json"
    )
    assert code == 2
    assert json.loads(out)["strict_refused"] is True
    code, out, _ = run(capsys, "cameras", "list", *cfg, "--format", "json")
    assert json.loads(out) == []

    run(capsys, "cameras", "import", str(DEMO / "cameras.csv"), *cfg)
    lines = (DEMO / "cameras.csv").read_text(encoding="utf-8-sig").splitlines()
    small = tmp_path / "small.csv"
    small.write_text("\n".join(lines[:11]) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "cameras", "import", str(small), "--prune", *cfg, "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["pruned"] == 1193 - 10
    assert report["unchanged"] == 10
    code, out, _ = run(capsys, "cameras", "list", *cfg, "--format", "json")
    assert len(json.loads(out)) == 10


def test_bad_grid_file_changes_nothing(
    tmp_path: Path, cfg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "grid", "load", str(DEMO / "grid.geojson"), *cfg)[0] == 0
    grid = json.loads((DEMO / "grid.geojson").read_text(encoding="utf-8"))
    leaf = next(f for f in grid["features"] if f["properties"]["level"] == "grid")
    (x0, y0), (x1, y1) = leaf["geometry"]["coordinates"][0][0], [114.3, 32.3]
    leaf["geometry"]["coordinates"] = [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]
    leaf["properties"]["code"] = "419901001001999"
    bad = tmp_path / "bowtie.geojson"
    bad.write_text(json.dumps(grid), encoding="utf-8")
    code, out, _ = run(capsys, "grid", "load", str(bad), *cfg)
    assert code == 2
    assert "419901001001999" in out
    assert "self-intersect" in out.lower()
    assert "not changed" in out
    code, out, _ = run(capsys, "grid", "list", *cfg, "--format", "json")
    codes = {c["code"] for c in json.loads(out)}
    assert len(codes) == 276
    assert "419901001001999" not in codes


def test_missing_grid_file(
    tmp_path: Path, cfg: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "grid", "load", str(tmp_path / "nope.geojson"), *cfg)
    assert code == 2
    assert "nope.geojson" in err


@pytest.mark.parametrize("before", [True, False])
def test_config_option_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], before: bool
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[probe]\ninterval_s = 0\n", encoding="utf-8")
    opt = ["--config", str(path)]
    argv = [*opt, "cameras", "list"] if before else ["cameras", "list", *opt]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "probe.interval_s" in err


def test_run_with_an_unreachable_database_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gridbridge.toml"
    path.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n'
        'url = "postgresql+asyncpg://gb:S3cretPw@127.0.0.1:1/gridbridge"\ntimeout_s = 2\n',
        encoding="utf-8",
    )
    code, _, err = run(capsys, "run", "--config", str(path))
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("gridbridge: cannot open the store")
    assert "S3cretPw" not in err


def test_broker_url_scheme_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gridbridge.toml"
    path.write_text('[mqtt]\nurl = "http://broker"\n', encoding="utf-8")
    code, out, _ = run(capsys, "config", "check", "--config", str(path))
    assert code == 2
    assert "mqtt.url: must be empty (embedded broker) or mqtt://" in out
