"""The ONVIF adapters against an independent virtual camera: ipycam 1.3.0 on loopback (so we
don't only agree with our own fakes).  ipycam advertises 127.0.0.2 in every URL it hands out;
the adapters must come back pinned to 127.0.0.1.  Needs ``scripts/peers-venv``."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest

from adapters.errors import AuthFailed
from adapters.onvif_onboard import onboard
from adapters.onvif_soap import OnvifHeartbeat

DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"


async def test_clock_needs_auth_and_the_camera_counts_as_alive(
    heartbeat: OnvifHeartbeat, ipycam
) -> None:
    clock = await heartbeat.system_date_time(ipycam.target(), timeout_s=5)
    assert clock.auth_required  # ipycam demands WS-Security even for GetSystemDateAndTime
    assert clock.utc is None
    clock = await heartbeat.system_date_time(ipycam.target(), timeout_s=5, auth=True)
    assert clock.utc is not None
    assert abs(clock.utc - datetime.now(UTC)) < timedelta(seconds=5)


async def test_device_information_with_the_right_password(
    heartbeat: OnvifHeartbeat, ipycam
) -> None:
    info, latency_ms = await heartbeat.device_information(ipycam.target(), timeout_s=5)
    assert info.serial == ipycam.serial
    assert info.manufacturer == "PythonCam"
    assert info.model
    assert info.firmware == "1.3.0"
    assert latency_ms > 0


async def test_device_information_with_a_wrong_password(heartbeat: OnvifHeartbeat, ipycam) -> None:
    with pytest.raises(AuthFailed):
        await heartbeat.device_information(ipycam.target(password="wrong"), timeout_s=5)


async def test_onboarding(ipycam) -> None:
    rtsp_port = ipycam.rtsp_port
    result = await onboard(ipycam.target(), rtsp_port, timeout_s=20)
    assert result.device.serial == ipycam.serial
    assert [(p.token, p.encoding, p.width, p.height, p.fps) for p in result.profiles] == [
        ("Profile_Main", "H264", 640, 360, 10.0),
        ("Profile_Sub", "H264", 320, 180, 5.0),
    ]
    # ipycam says rtsp://127.0.0.2:PORT/video_main; we keep only its path.
    assert result.stream_uri == f"rtsp://127.0.0.1:{rtsp_port}/video_main"
    assert result.snapshot_uri == f"http://127.0.0.1:{ipycam.onvif_port}/snapshot.jpg"
    assert {DEVICE_NS, MEDIA_NS} <= set(result.services)


async def test_onboarding_with_a_wrong_password(ipycam) -> None:
    with pytest.raises(AuthFailed):
        await onboard(ipycam.target(password="wrong"), ipycam.rtsp_port, timeout_s=20)


def test_ipycam_listens_on_127_0_0_1_only(ipycam) -> None:
    # Bound to 0.0.0.0 it would accept on any loopback address (and on the LAN).
    with socket.create_connection(("127.0.0.1", ipycam.onvif_port), timeout=5):
        pass
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.3", ipycam.onvif_port), timeout=5).close()
