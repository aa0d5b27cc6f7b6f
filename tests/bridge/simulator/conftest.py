"""Fixtures for the simulator's tests: small inventories and fleets on 127.31.x.y, high ports.

Everything binds and connects on loopback only.  Each test gets its own third octet, so a
test never meets another test's sockets (TIME_WAIT, a slow close).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.simulator import AuthMode, SimCamera, Simulator, serial_for
from tests.support import worker_octets

RTSP_PORT = 18554
HTTP_PORT = 18080
HEADER = (
    "设备编码,设备名称,IP地址,RTSP端口,ONVIF端口,用户名,密码,RTSP地址,经度,纬度,坐标系,"
    "所属网格,重点部位,上级设备,安装地址,厂商,型号"
)
_octets = worker_octets(os.getpid() * 7)


def camera_id(n: int) -> str:
    """A valid GB/T 28181 camera ID (type 132) with serial ``n``."""
    return f"41990100001320{n:06d}"


@pytest.fixture
def subnet() -> str:
    """A fresh '127.31.N' prefix for this test."""
    return f"127.31.{next(_octets)}"


@pytest.fixture
def make_cameras(subnet: str) -> Callable[..., list[SimCamera]]:
    """``make_cameras(n, auth=…, **fields)``: n cameras at <subnet>.1…n on the high ports."""

    def make(
        count: int = 1, auth: AuthMode = AuthMode.DIGEST_QOP, **fields: object
    ) -> list[SimCamera]:
        cameras = []
        for i in range(1, count + 1):
            values: dict[str, object] = {
                "id": camera_id(i),
                "name": f"测试点位{i}",
                "host": f"{subnet}.{i}",
                "rtsp_port": RTSP_PORT,
                "onvif_port": HTTP_PORT,
                "username": "admin",
                "password": f"pw-{i}",
                "rtsp_path": "/Streaming/Channels/101",
                "vendor": "海康威视",
                "model": "DS-2CD3T46WD",
                "serial": serial_for(camera_id(i)),
                "auth": auth,
            }
            values.update(fields)
            cameras.append(SimCamera(**values))  # type: ignore[arg-type]
        return cameras

    return make


@pytest.fixture
async def sim(make_cameras: Callable[..., list[SimCamera]]) -> AsyncIterator[Simulator]:
    """A started simulator of three Digest-qop cameras (password 'pw-<n>')."""
    async with Simulator(make_cameras(3)) as simulator:
        yield simulator


def write_inventory(path: Path, rows: list[str]) -> Path:
    """Write a CSV inventory with the demo export's header and ``rows``."""
    path.write_text("\ufeff" + HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def inventory_row(
    n: int, host: str, *, vendor: str = "海康威视", ports: tuple[str, str] = ("", "")
) -> str:
    """One inventory row for camera ``n`` at ``host`` (coordinates in the district)."""
    rtsp, onvif = ports
    return (
        f"{camera_id(n)},点位{n},{host},{rtsp},{onvif},admin,pw-{n},,114.13,32.08,WGS84,"
        f",否,,示范区,{vendor},IPC-{n}"
    )


# --- a small independent RTSP/HTTP client --------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_response(reader: asyncio.StreamReader, timeout_s: float = 5.0) -> Response:
    """Read one RTSP or HTTP response (Content-Length bodies)."""
    async with asyncio.timeout(timeout_s):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
    return Response(status, headers, body)


async def exchange(host: str, port: int, request: bytes, timeout_s: float = 5.0) -> Response:
    """Open a connection, send ``request``, read one response, close."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    try:
        writer.write(request)
        return await read_response(reader, timeout_s)
    finally:
        writer.close()


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_header(
    challenge: str, user: str, password: str, method: str, uri: str, *, cnonce: str = "0a4f113b"
) -> str:
    """An Authorization header answering a Digest challenge (qop=auth when offered)."""
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm, nonce = params["realm"], params["nonce"]
    ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"{method}:{uri}")
    if params.get("qop") == "auth":
        response = md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
        extra = f', qop=auth, nc=00000001, cnonce="{cnonce}"'
    else:
        response, extra = md5(f"{ha1}:{nonce}:{ha2}"), ""
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}"{extra}'
    )


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def rtsp_request(method: str, uri: str, cseq: int, *headers: str) -> bytes:
    lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {cseq}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def describe_with_auth(camera: SimCamera, password: str | None = None) -> Response:
    """DESCRIBE, answer the 401 challenge on the same connection, return the second reply."""
    uri = f"rtsp://{camera.host}:{camera.rtsp_port}{camera.rtsp_path}"
    reader, writer = await asyncio.open_connection(camera.host, camera.rtsp_port)
    try:
        writer.write(rtsp_request("DESCRIBE", uri, 1, "Accept: application/sdp"))
        first = await read_response(reader)
        assert first.status == 401, first
        challenge = first.headers["www-authenticate"]
        pw = camera.password if password is None else password
        assert camera.username is not None
        assert pw is not None
        if challenge.startswith("Basic"):
            auth = basic_header(camera.username, pw)
        else:
            auth = digest_header(challenge, camera.username, pw, "DESCRIBE", uri)
        writer.write(rtsp_request("DESCRIBE", uri, 2, f"Authorization: {auth}"))
        return await read_response(reader)
    finally:
        writer.close()


async def fetch_snapshot(camera: SimCamera) -> bytes:
    """GET the camera's /snapshot.jpg, answering its challenge; the JPEG bytes."""
    request = f"GET /snapshot.jpg HTTP/1.1\r\nHost: {camera.host}\r\n"
    reply = await exchange(camera.host, camera.onvif_port, (request + "\r\n").encode())
    if reply.status == 401:
        assert camera.username is not None
        challenge, password = reply.headers["www-authenticate"], camera.password or ""
        auth = (
            basic_header(camera.username, password)
            if challenge.startswith("Basic")
            else digest_header(challenge, camera.username, password, "GET", "/snapshot.jpg")
        )
        request += f"Authorization: {auth}\r\n"
        reply = await exchange(camera.host, camera.onvif_port, (request + "\r\n").encode())
    assert reply.status == 200, reply
    assert reply.headers["content-type"] == "image/jpeg"
    return reply.body
