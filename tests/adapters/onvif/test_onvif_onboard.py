"""Onboarding through onvif-zeep-async against a fake camera that hands out internet hosts:
every address pinned to the inventory's host (or refused), no credentials in URIs, hostile
replies ending as domain errors."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from adapters.errors import AuthFailed, ProbeTimeout, ProtocolFailure, Unreachable
from adapters.onvif_onboard import _PinnedTransport, onboard
from adapters.onvif_pinning import pin_uri
from adapters.onvif_soap import OnvifTarget
from bridge.observation import DeviceInfo, Profile

DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"
RTSP_PORT = 10554
CHUNK = b" " * 65536


def answer(response: web.StreamResponse) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An override handler that always gives ``response`` (built once: send it once)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return response

    return handler


@pytest.mark.parametrize(
    ("uri", "scheme", "expected"),
    [
        (
            "rtsp://admin:pw@203.0.113.5:554/Streaming/Channels/101?transportmode=unicast",
            "rtsp",
            "rtsp://127.0.0.1:8554/Streaming/Channels/101?transportmode=unicast",
        ),
        (
            "rtsp://evil.example.com/live?user=admin&password=pw&Channel=1&PWD=x",
            "rtsp",
            "rtsp://127.0.0.1:8554/live?Channel=1",
        ),
        ("rtsps://10.0.0.9:322/live", "rtsp", "rtsp://127.0.0.1:8554/live"),
        ("http://10.0.0.9/onvif/media#frag", "http", "http://127.0.0.1:8554/onvif/media"),
        ("https://10.0.0.9/snap.jpg", "http", "http://127.0.0.1:8554/snap.jpg"),
        ("/onvif/media_service", "http", "http://127.0.0.1:8554/onvif/media_service"),
        ("http://10.0.0.9", "http", "http://127.0.0.1:8554/"),
        ("http://10.0.0.9/a%20b?x=%2F", "http", "http://127.0.0.1:8554/a%20b?x=/"),
        ("ftp://10.0.0.9/file", "http", None),
        ("file:///etc/passwd", "http", None),
        ("javascript:alert(1)", "http", None),
        ("rtsp://10.0.0.9/live", "http", None),
        ("http://[::1", "http", None),
        ("relative/path", "http", None),
        ("", "http", None),
        (None, "http", None),
    ],
)
def test_pin_uri(uri: str | None, scheme: str, expected: str | None) -> None:
    assert pin_uri(uri, scheme, "127.0.0.1", 8554) == expected


def test_pin_uri_brackets_ipv6_hosts() -> None:
    assert pin_uri("rtsp://x/live", "rtsp", "::1", 554) == "rtsp://[::1]:554/live"


async def test_every_handed_out_address_is_pinned(fake_camera, target) -> None:
    camera, port = await fake_camera()  # hands out 203.0.113.7, evil.example.com, 198.51.100.9
    result = await onboard(target(camera, port), RTSP_PORT, timeout_s=10)

    assert result.device == DeviceInfo("Hikvision", "DS-2CD2143G2-I", "V5.7.3", camera.serial, "88")
    assert result.profiles == (
        Profile("Profile_1", "mainStream", "H264", 2560, 1440, 25.0),
        Profile("Profile_2", "subStream", "H264", 640, 360, 15.0),
    )
    assert result.stream_uri == f"rtsp://127.0.0.1:{RTSP_PORT}/live?channel=1"
    assert result.snapshot_uri == f"http://127.0.0.1:{port}/snap.jpg?size=small"
    assert result.services == (DEVICE_NS, MEDIA_NS)
    # The media service was asked here, on the inventory's host, not at 203.0.113.7.
    assert camera.calls["GetProfiles"] == 1
    assert camera.calls["GetStreamUri"] == 1
    assert set(camera.hosts) == {f"127.0.0.1:{port}"}
    for uri in (result.stream_uri, result.snapshot_uri):
        assert camera.password not in uri
        assert "admin" not in uri


async def test_older_camera_without_get_services(fake_camera, target, soap) -> None:
    camera, port = await fake_camera()
    camera.override["GetServices"] = answer(
        camera.soap(soap.fault12("s:Sender", "Not supported", "ter:ActionNotSupported"), 400)
    )
    result = await onboard(target(camera, port), RTSP_PORT, timeout_s=10)
    assert camera.calls["GetCapabilities"] == 1
    assert MEDIA_NS in result.services
    assert result.stream_uri == f"rtsp://127.0.0.1:{RTSP_PORT}/live?channel=1"
    assert set(camera.hosts) == {f"127.0.0.1:{port}"}


async def test_many_first_onboardings_at_once(fake_camera, target) -> None:
    cameras = [await fake_camera(serial=f"DS-{n}") for n in range(20)]
    results = await asyncio.gather(
        *(onboard(target(camera, port), RTSP_PORT, timeout_s=20) for camera, port in cameras)
    )
    assert [r.device.serial for r in results] == [f"DS-{n}" for n in range(20)]


async def test_camera_clock_ahead_is_measured_first(fake_camera, target) -> None:
    camera, port = await fake_camera(clock_offset_s=3 * 3600.0)
    result = await onboard(target(camera, port), RTSP_PORT, timeout_s=10)
    assert result.device.serial == camera.serial
    assert camera.calls["GetSystemDateAndTime"] == 1


async def test_given_clock_offset_skips_the_time_call(fake_camera, target) -> None:
    camera, port = await fake_camera(clock_offset_s=-3600.0, auth_for_time=True)
    result = await onboard(target(camera, port), RTSP_PORT, timeout_s=10, clock_offset_s=-3600.0)
    assert result.device.serial == camera.serial
    assert camera.calls["GetSystemDateAndTime"] == 0


async def test_camera_demanding_auth_for_its_clock(fake_camera, target) -> None:
    camera, port = await fake_camera(auth_for_time=True)
    result = await onboard(target(camera, port), RTSP_PORT, timeout_s=10)
    assert result.device.serial == camera.serial


async def test_wrong_password_is_auth_failed(fake_camera, target) -> None:
    camera, port = await fake_camera()
    with pytest.raises(AuthFailed) as info:
        await onboard(target(camera, port, password="hunter2"), RTSP_PORT, timeout_s=10)
    assert "hunter2" not in str(info.value)


async def test_unpinnable_media_address_counts_as_no_media(fake_camera, target) -> None:
    camera, port = await fake_camera(advertise="file://")
    result = await onboard(target(camera, port), RTSP_PORT, timeout_s=10)
    assert result.services == ()
    assert result.profiles == ()
    assert result.stream_uri is None
    assert camera.calls["GetProfiles"] == 0


async def test_unpinnable_uris_are_dropped(fake_camera, target) -> None:
    camera, port = await fake_camera(
        stream_uri="ftp://203.0.113.7/live", snapshot_uri="file:///etc/passwd"
    )
    result = await onboard(target(camera, port), RTSP_PORT, timeout_s=10)
    assert result.profiles
    assert result.stream_uri is None
    assert result.snapshot_uri is None


async def test_uri_still_carrying_the_password_is_dropped(fake_camera, target) -> None:
    camera, port = await fake_camera(password="s3cret-pass", stream_uri="rtsp://x/s3cret-pass/1")
    result = await onboard(target(camera, port), RTSP_PORT, 10)
    assert result.stream_uri is None


async def test_missing_snapshot_is_not_an_error(fake_camera, target, soap) -> None:
    camera, port = await fake_camera()
    camera.override["GetSnapshotUri"] = answer(
        camera.soap(soap.fault12("s:Receiver", "No snapshot", "ter:ActionNotSupported"), 500)
    )
    result = await onboard(target(camera, port), RTSP_PORT, timeout_s=10)
    assert result.snapshot_uri is None
    assert result.stream_uri is not None


async def test_fault_on_a_required_call_is_a_protocol_failure(fake_camera, target, soap) -> None:
    camera, port = await fake_camera()
    camera.override["GetProfiles"] = answer(
        camera.soap(soap.fault12("s:Receiver", "Busy", "ter:Action"), 500)
    )
    with pytest.raises(ProtocolFailure, match="Busy"):
        await onboard(target(camera, port), RTSP_PORT, timeout_s=10)


async def test_huge_reply_is_refused_without_memory_growth(fake_camera, target) -> None:
    camera, port = await fake_camera()

    async def endless(request: web.Request) -> web.StreamResponse:
        # Streamed from one shared chunk, so the server itself allocates next to nothing.
        response = web.StreamResponse(headers={"Content-Type": "application/soap+xml"})
        await response.prepare(request)
        while True:
            await response.write(CHUNK)

    camera.override["GetProfiles"] = endless
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolFailure, match="refused"):
            await onboard(target(camera, port), RTSP_PORT, timeout_s=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


async def test_reply_with_a_dtd_is_refused(fake_camera, target, soap) -> None:
    camera, port = await fake_camera()
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        + soap.envelope("<trt:GetProfilesResponse>&b;</trt:GetProfilesResponse>").split("?>", 1)[1]
    )
    camera.override["GetProfiles"] = answer(camera.soap(bomb))
    with pytest.raises(ProtocolFailure):
        await onboard(target(camera, port), RTSP_PORT, timeout_s=10)


async def test_redirect_is_not_followed(fake_camera, target) -> None:
    elsewhere, elsewhere_port = await fake_camera()
    camera, port = await fake_camera()
    camera.override["GetProfiles"] = answer(
        web.Response(status=307, headers={"Location": f"http://127.0.0.2:{elsewhere_port}/x"})
    )
    with pytest.raises(ProtocolFailure, match="redirect refused"):
        await onboard(target(camera, port), RTSP_PORT, timeout_s=10)
    assert not elsewhere.calls


async def test_blackhole_ends_at_the_deadline(serve_raw) -> None:
    async def blackhole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    port = await serve_raw(blackhole)
    started = time.monotonic()
    with pytest.raises(ProbeTimeout):
        await onboard(OnvifTarget("127.0.0.1", port, "admin", "pw"), RTSP_PORT, timeout_s=1.0)
    assert time.monotonic() - started < 1.5


async def test_refused_is_unreachable() -> None:
    with pytest.raises(Unreachable):
        await onboard(OnvifTarget("127.0.0.1", 9, "admin", "pw"), RTSP_PORT, timeout_s=5)


async def test_transport_refuses_any_other_address_before_connecting() -> None:
    async with aiohttp.ClientSession() as session:
        transport = _PinnedTransport(session, "127.0.0.1", 8080, 1 << 20)
        for address in (
            "http://203.0.113.7:8080/onvif/media_service",
            "http://127.0.0.1:8081/onvif/media_service",
            "https://127.0.0.1:8080/onvif/media_service",
            "http://127.0.0.1:8080@203.0.113.7/x",
        ):
            with pytest.raises(ProtocolFailure, match="did not name"):
                await transport.post(address, "<x/>", {})
        with pytest.raises(ProtocolFailure):
            await transport.get("http://127.0.0.1:8080/wsdl")
