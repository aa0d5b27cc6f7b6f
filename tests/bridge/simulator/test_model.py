"""Inventory → SimCamera: loopback only, default ports, stable serials, vendor auth styles."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.simulator import AuthMode, SimulatorError, load_inventory, serial_for
from bridge.simulator.model import SimCamera, check_unique_endpoints
from tests.bridge.simulator.conftest import camera_id, inventory_row, write_inventory


def test_rows_become_cameras_with_default_ports_and_vendor_auth(tmp_path: Path) -> None:
    rows = [
        inventory_row(1, "127.31.0.1", vendor="海康威视"),
        inventory_row(2, "127.31.0.2", vendor="大华", ports=("18554", "18080")),
        inventory_row(3, "127.31.0.3", vendor="宇视"),
        "not-an-id,坏行,127.31.0.4,,,admin,x,,114.13,32.08,WGS84,,否,,,海康威视,X",
    ]
    cameras = load_inventory(write_inventory(tmp_path / "cams.csv", rows))
    assert [c.id for c in cameras] == [camera_id(1), camera_id(2), camera_id(3)]
    first, second, third = cameras
    assert (first.rtsp_port, first.onvif_port) == (554, 80)
    assert (second.rtsp_port, second.onvif_port) == (18554, 18080)
    assert first.auth is AuthMode.DIGEST
    assert second.auth is AuthMode.DIGEST_QOP
    assert third.auth is AuthMode.DIGEST_QOP
    assert first.serial == serial_for(camera_id(1)) != serial_for(camera_id(1), replaced=True)
    assert first.username == "admin"
    assert first.password == "pw-1"
    assert "pw-1" not in repr(first)


def test_rtsp_path_comes_from_the_inventory_url_without_credentials(tmp_path: Path) -> None:
    row = inventory_row(1, "127.31.0.1").replace(
        ",,114.13", ",rtsp://admin:pw-1@127.31.0.1:554/cam/realmonitor?channel=1&subtype=0,114.13"
    )
    (camera,) = load_inventory(write_inventory(tmp_path / "cams.csv", [row]))
    assert camera.rtsp_path == "/cam/realmonitor?channel=1&subtype=0"
    assert camera.password == "pw-1"


def test_explicit_grid_codes_of_the_file_are_accepted(tmp_path: Path) -> None:
    row = inventory_row(1, "127.31.0.1").replace(",WGS84,,", ",WGS84,419901001001001,")
    assert len(load_inventory(write_inventory(tmp_path / "cams.csv", [row]))) == 1


@pytest.mark.parametrize("host", ["10.0.0.5", "192.168.1.64", "8.8.8.8", "cam.example.com"])
def test_a_host_outside_loopback_is_refused_with_its_row(tmp_path: Path, host: str) -> None:
    rows = [inventory_row(1, "127.31.0.1"), inventory_row(2, host)]
    with pytest.raises(SimulatorError, match=r"row 3 .*loopback|row 3 .*not an IP"):
        load_inventory(write_inventory(tmp_path / "cams.csv", rows))


def test_two_cameras_on_one_address_and_port_are_refused(tmp_path: Path) -> None:
    rows = [inventory_row(1, "127.31.0.1"), inventory_row(2, "127.31.0.1")]
    with pytest.raises(SimulatorError, match=r"both use 127\.31\.0\.1:554"):
        load_inventory(write_inventory(tmp_path / "cams.csv", rows))


def test_same_port_for_rtsp_and_onvif_is_refused() -> None:
    camera = SimCamera(id=camera_id(1), name="x", host="127.31.0.1", rtsp_port=80, onvif_port=80)
    with pytest.raises(SimulatorError, match="both 80"):
        check_unique_endpoints([camera])


def test_the_demo_inventory_loads_on_its_own_addresses() -> None:
    demo = Path(__file__).parents[3] / "bridge" / "demo" / "district" / "cameras.csv"
    cameras = load_inventory(demo)
    assert len(cameras) > 1000
    assert all(c.host.startswith("127.20.") for c in cameras)
    assert {c.auth for c in cameras} == {AuthMode.DIGEST, AuthMode.DIGEST_QOP}
