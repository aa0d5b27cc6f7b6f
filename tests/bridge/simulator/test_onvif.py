"""ONVIF and snapshot, seen by onvif-zeep-async, by hand-written SOAP, and by OpenCV."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import AsyncIterator, Callable

import aiohttp
import cv2
import numpy as np
import onvif
import pytest
import zeep.exceptions
from lxml import etree

from bridge.simulator import AuthMode, SimCamera, Simulator
from tests.bridge.simulator.conftest import basic_header, digest_header

WSDL = os.path.join(os.path.dirname(onvif.__file__), "wsdl")
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
Make = Callable[..., list[SimCamera]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def soap(operation: str, ns: str, token: str = "", args: str = "") -> bytes:
    header = f"<s:Header>{token}</s:Header>" if token else ""
    return (
        f'<?xml version="1.0"?><s:Envelope xmlns:s="{SOAP12}">{header}<s:Body>'
        f'<{operation} xmlns="{ns}">{args}</{operation}></s:Body></s:Envelope>'
    ).encode()


def username_token(user: str, password: str) -> str:
    nonce = os.urandom(16)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest())
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
    kind = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    return (
        f'<Security xmlns="{wsse}" xmlns:wsu="{wsu}"><UsernameToken>'
        f"<Username>{user}</Username>"
        f'<Password Type="{kind}#PasswordDigest">{digest.decode()}</Password>'
        f'<Nonce EncodingType="{kind}#Base64Binary">{base64.b64encode(nonce).decode()}</Nonce>'
        f"<wsu:Created>{created}</wsu:Created></UsernameToken></Security>"
    )


DEVICE = "http://www.onvif.org/ver10/device/wsdl"


def device_url(camera: SimCamera) -> str:
    return f"http://{camera.host}:{camera.onvif_port}/onvif/device_service"


async def test_onvif_zeep_async_onboarding_end_to_end(sim: Simulator) -> None:
    camera = sim.cameras[1]
    client = onvif.ONVIFCamera(camera.host, camera.onvif_port, "admin", "pw-2", WSDL)
    try:
        await client.update_xaddrs()
        assert client.xaddrs["http://www.onvif.org/ver10/media/wsdl"].endswith(
            f"{camera.host}:{camera.onvif_port}/onvif/media_service"
        )
        device = await client.create_devicemgmt_service()
        info = await device.GetDeviceInformation()
        assert info.SerialNumber == camera.serial
        assert info.Manufacturer == "海康威视"
        assert info.Model == "DS-2CD3T46WD"
        capabilities = await device.GetCapabilities({"Category": "All"})
        assert capabilities.Media.XAddr.endswith("/onvif/media_service")
        media = await client.create_media_service()
        profiles = await media.GetProfiles()
        token = profiles[0].token
        assert profiles[0].VideoEncoderConfiguration.Encoding == "JPEG"  # as RTSP streams it
        request = media.create_type("GetStreamUri")
        request.ProfileToken = token
        request.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        stream = await media.GetStreamUri(request)
        assert stream.Uri == f"rtsp://{camera.host}:{camera.rtsp_port}{camera.rtsp_path}"
        snapshot_uri = await client.get_snapshot_uri(token)
        assert snapshot_uri == f"http://{camera.host}:{camera.onvif_port}/snapshot.jpg"
        picture = await client.get_snapshot(token)  # onvif-zeep-async answers the Digest itself
        assert picture is not None
        assert picture.startswith(b"\xff\xd8")
        clock = await device.GetSystemDateAndTime()
        assert clock.UTCDateTime.Date.Year >= 2024
    finally:
        await client.close()


async def test_onvif_zeep_async_wrong_password_gets_not_authorized(sim: Simulator) -> None:
    camera = sim.cameras[0]
    client = onvif.ONVIFCamera(camera.host, camera.onvif_port, "admin", "wrong", WSDL)
    try:
        await client.update_xaddrs()  # GetServices is pre-auth, as on real cameras
        device = await client.create_devicemgmt_service()
        with pytest.raises(zeep.exceptions.Fault) as caught:
            await device.GetDeviceInformation()
        assert "NotAuthorized" in str(caught.value.subcodes) or "not Authorized" in str(
            caught.value
        )
    finally:
        await client.close()


async def test_hand_written_ws_security(sim: Simulator, http: aiohttp.ClientSession) -> None:
    camera = sim.cameras[0]
    url = device_url(camera)
    good = soap("GetDeviceInformation", DEVICE, username_token("admin", "pw-1"))
    async with http.post(url, data=good) as response:
        assert response.status == 200
        root = etree.fromstring(await response.read())
    assert root.findtext(f".//{{{DEVICE}}}SerialNumber") == camera.serial
    for body, status in [
        (soap("GetDeviceInformation", DEVICE, username_token("admin", "bad")), 400),
        (soap("GetDeviceInformation", DEVICE, username_token("root", "pw-1")), 400),
        (soap("GetDeviceInformation", DEVICE), 401),
    ]:
        async with http.post(url, data=body) as response:
            assert response.status == status
            text = await response.text()
        assert "ter:NotAuthorized" in text
        assert "Fault" in text


async def test_get_system_date_and_time_needs_no_credentials(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        device_url(sim.cameras[0]), data=soap("GetSystemDateAndTime", DEVICE)
    ) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("application/soap+xml")
        assert b"UTCDateTime" in await r.read()


async def test_unknown_operation_and_dtd_requests_are_faults(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    url = device_url(sim.cameras[0])
    async with http.post(url, data=soap("Reboot", DEVICE, username_token("admin", "pw-1"))) as r:
        assert r.status == 400
        assert "ActionNotSupported" in await r.text()
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + soap("GetServices", DEVICE)[21:]
    async with http.post(url, data=evil) as r:
        assert r.status == 400
        assert "DTD" in await r.text()


async def test_snapshot_decodes_and_shows_the_camera(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    camera = sim.cameras[0]
    url = f"http://{camera.host}:{camera.onvif_port}/snapshot.jpg"
    async with http.get(url) as first:
        assert first.status == 401
        challenge = first.headers["WWW-Authenticate"]
    assert camera.username is not None
    assert camera.password is not None
    auth = digest_header(challenge, camera.username, camera.password, "GET", "/snapshot.jpg")
    async with http.get(url, headers={"Authorization": auth}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        data = await response.read()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (720, 1280, 3)
    assert image.std() > 30  # a pattern, not a flat picture


async def test_snapshot_is_encoded_once_per_second_per_camera(
    make_cameras: Make, http: aiohttp.ClientSession
) -> None:
    async with Simulator(
        make_cameras(1, auth=AuthMode.BASIC), clock=lambda: 1_750_000_000.5
    ) as sim:
        camera = sim.cameras[0]
        url = f"http://{camera.host}:{camera.onvif_port}/snapshot.jpg"
        assert camera.username is not None
        assert camera.password is not None
        headers = {"Authorization": basic_header(camera.username, camera.password)}
        bodies = set()
        for _ in range(50):
            async with http.get(url, headers=headers) as response:
                assert response.status == 200
                bodies.add(await response.read())
        assert len(bodies) == 1
        assert sim._snapshots.encodes == 1
