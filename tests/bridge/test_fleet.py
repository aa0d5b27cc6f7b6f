"""The bus's view of the fleet: statuses under every grid path, summaries, clears on moves."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.geojson import read_grid_file
from bridge.bus.summaries import Counts
from bridge.bus.topics import GridPath, Topics
from bridge.fleet import Fleet
from bridge.grid import GridIndex, validate_cells
from bridge.model import CameraState, CameraView, Mapping
from bridge.observation import LayerResult, Observation
from bridge.tracker import Transition

DEMO = Path(__file__).resolve().parents[2] / "bridge" / "demo" / "district"
CELLS, _ = validate_cells(read_grid_file(DEMO / "grid.geojson"))
INDEX = GridIndex(CELLS)
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
G1, G2, G3 = "419901001002003", "419901001002004", "419901002001001"


def view(cam_id: str, *grids: str, state: CameraState = CameraState.UNKNOWN) -> CameraView:
    return CameraView(
        id=cam_id,
        name=f"点位{cam_id[-3:]}",
        host="127.0.0.1",
        grids=tuple(grids),
        mapping=Mapping.COORDINATES if grids else Mapping.UNMAPPED,
        state=state,
        faults=(),
        since=None,
        checked_at=None,
        key_location=False,
        upstream_id=None,
        vendor="大华",
        model="X",
        address="",
        lon_wgs84=None,
        lat_wgs84=None,
    )


def by_topic(messages: list) -> dict[str, tuple[bytes, int, bool]]:
    return {m.topic: (m.payload, m.qos, m.retain) for m in messages}


def test_statuses_under_every_path_and_summaries() -> None:
    fleet = Fleet(Topics("gb"))
    assert fleet.load([view("A001", G1, G2), view("B002"), view("C003", G3)], INDEX, T0) == []
    retained = by_topic(list(fleet.retained(T0)))
    a1 = "gb/grid/419901001/419901001002/419901001002003/camera/A001/status"
    a2 = "gb/grid/419901001/419901001002/419901001002004/camera/A001/status"
    b = "gb/grid/_/_/_/camera/B002/status"
    assert {a1, a2, b} <= set(retained)
    payload, qos, retain = retained[a1]
    assert (qos, retain) == (1, True)
    status = json.loads(payload)
    assert (status["id"], status["state"], status["grids"]) == ("A001", "unknown", [G1, G2])
    village = json.loads(retained["gb/grid/419901001/419901001002/summary"][0])
    assert village["counts"]["unknown"] == 1  # two grids, counted once in the village
    assert "gb/grid/419901002/summary" in retained


def test_transition_publishes_status_and_changed_summaries() -> None:
    fleet = Fleet(Topics("gb"))
    fleet.load([view("A001", G1)], INDEX, T0)
    obs = Observation(
        "A001",
        T0,
        rtsp=LayerResult(True, 3.5),
        onvif_time=LayerResult(True, 1.0),
        clock_offset_s=0.4,
    )
    t = Transition("A001", T0, CameraState.UNKNOWN, CameraState.ONLINE, (), False, "first")
    out = by_topic(fleet.on_transition(t, obs))
    status = json.loads(out["gb/grid/419901001/419901001002/419901001002003/camera/A001/status"][0])
    assert (status["state"], status["latency_ms"]["rtsp"]) == ("online", 3.5)
    assert status["since"].startswith("2026-11-27T08:00:00")
    for summary in (
        "gb/grid/419901001/summary",
        "gb/grid/419901001/419901001002/summary",
        "gb/grid/419901001/419901001002/419901001002003/summary",
    ):
        assert json.loads(out[summary][0])["counts"]["online"] == 1
    # A faults-only change: status again, summaries unchanged, `since` kept.
    later = T0 + timedelta(minutes=1)
    t2 = Transition("A001", later, CameraState.ONLINE, CameraState.ONLINE, (), False, "x")
    out = by_topic(fleet.on_transition(t2))
    assert all("summary" not in topic for topic in out)
    status = json.loads(next(iter(out.values()))[0])
    assert status["since"].startswith("2026-11-27T08:00:00")


def test_moved_camera_clears_its_old_topic_and_removed_camera_is_cleared() -> None:
    fleet = Fleet(Topics("gb"))
    fleet.load([view("A001", G1), view("B002", G3)], INDEX, T0)
    out = by_topic(fleet.load([view("A001", G2)], INDEX, T0))
    old = "gb/grid/419901001/419901001002/419901001002003/camera/A001/status"
    new = "gb/grid/419901001/419901001002/419901001002004/camera/A001/status"
    assert out[old] == (b"", 1, True)
    assert json.loads(out[new][0])["grids"] == [G2]
    assert out["gb/grid/419901002/419901002001/419901002001001/camera/B002/status"] == (
        b"",
        1,
        True,
    )
    # The summaries of cells that lost their last camera are cleared too.
    assert out["gb/grid/419901002/summary"] == (b"", 1, True)
    assert fleet.paths_of("B002") == ()


def test_read_only_views_for_the_web_page() -> None:
    fleet = Fleet(Topics("gb"))
    fleet.load([view("A001", G1, G2), view("B002"), view("C003", G3)], INDEX, T0)
    t = Transition("A001", T0, CameraState.UNKNOWN, CameraState.OFFLINE, ("unreachable",),
                   False, "x")  # fmt: skip
    fleet.on_transition(t)
    cam = fleet.camera("A001")
    assert cam is not None
    assert (cam.info.name, cam.facts.state, cam.facts.faults) == (
        "点位001", "offline", ("unreachable",)
    )  # fmt: skip
    assert cam.paths == fleet.paths_of("A001")
    assert fleet.camera("nope") is None
    assert [c.info.id for c in fleet.cameras()] == ["A001", "B002", "C003"]
    assert fleet.state_counts() == Counts(offline=1, unknown=2)  # the unmapped one too
    village = fleet.summary(GridPath("419901001", "419901001002", "_"))
    assert village == Counts(offline=1)  # linked to two of its grids: counted once
    assert fleet.summary(GridPath("419901009", "_", "_")) is None
