"""Peers for the ONVIF adapter tests, all on loopback.

* ``serve_app`` / ``serve_raw``: real servers on ``127.0.0.1:0`` — an aiohttp application,
  or a raw asyncio handler for peers that break HTTP (blackhole, slow drip, endless body).
* ``FakeCamera``: a small ONVIF device + media service that checks WS-Security (and, when
  asked, HTTP Digest), keeps its own clock, hands out addresses on *other* hosts (internet
  ones by default) and can be told to answer any action with anything.
* ``ipycam``: the independent virtual camera (PyPI ``ipycam`` 1.3.0) run by
  ``tests/peers/ipycam_launcher.py`` in the peers venv (``scripts/peers-venv``).  Missing
  venv: the test is skipped, or fails under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import secrets
import selectors
import socket
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from lxml import etree

from adapters.onvif_soap import OnvifHeartbeat, OnvifTarget
from tests.support import peer_missing

REPO = Path(__file__).resolve().parents[3]
PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"
LAUNCHER = REPO / "tests" / "peers" / "ipycam_launcher.py"
IPYCAM_READY_TIMEOUT_S = 60.0

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"
NAMESPACES = (
    f'xmlns:s="{SOAP12}" xmlns:tds="{DEVICE_NS}" xmlns:trt="{MEDIA_NS}" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error"'
)

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# --- SOAP text -------------------------------------------------------------------------------


def envelope(body: str, *, header: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {NAMESPACES}>{header}'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )


def fault12(code: str, reason: str, subcode: str | None = None) -> str:
    sub = f"<s:Subcode><s:Value>{subcode}</s:Value></s:Subcode>" if subcode else ""
    return envelope(
        f"<s:Fault><s:Code><s:Value>{code}</s:Value>{sub}</s:Code>"
        f'<s:Reason><s:Text xml:lang="en">{reason}</s:Text></s:Reason></s:Fault>'
    )


def fault11(code: str, reason: str) -> str:
    return (
        f'<?xml version="1.0"?><e:Envelope xmlns:e="{SOAP11}" '
        'xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
        f"<e:Body><e:Fault><faultcode>{code}</faultcode><faultstring>{reason}</faultstring>"
        "</e:Fault></e:Body></e:Envelope>"
    )


def time_reply(at: datetime) -> str:
    return envelope(
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        "<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone><tt:UTCDateTime>"
        f"<tt:Time><tt:Hour>{at.hour}</tt:Hour><tt:Minute>{at.minute}</tt:Minute>"
        f"<tt:Second>{at.second}</tt:Second></tt:Time><tt:Date><tt:Year>{at.year}</tt:Year>"
        f"<tt:Month>{at.month}</tt:Month><tt:Day>{at.day}</tt:Day></tt:Date></tt:UTCDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def device_reply(serial: str) -> str:
    return envelope(
        "<tds:GetDeviceInformationResponse><tds:Manufacturer>Hikvision</tds:Manufacturer>"
        "<tds:Model>DS-2CD2143G2-I</tds:Model><tds:FirmwareVersion>V5.7.3</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{serial}</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def action_of(body: bytes) -> str:
    """The local name of the SOAP Body's first element ('' when unreadable)."""
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        first = root.find(f"{{{SOAP12}}}Body")[0]
    except (etree.XMLSyntaxError, TypeError, IndexError):
        return ""
    return etree.QName(first).localname


def ws_security_ok(body: bytes, username: str, password: str, now: datetime) -> bool:
    """The WS-Security UsernameToken of ``body`` is ``username``'s, digest right, and its
    Created within 5 minutes of ``now`` (the camera's clock)."""
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return False
    user = root.findtext(".//{*}UsernameToken/{*}Username")
    digest = root.findtext(".//{*}UsernameToken/{*}Password")
    nonce = root.findtext(".//{*}UsernameToken/{*}Nonce")
    created = root.findtext(".//{*}UsernameToken/{*}Created")
    if None in (user, digest, nonce, created):
        return False
    expected = base64.b64encode(
        hashlib.sha1(base64.b64decode(nonce) + created.encode() + password.encode()).digest()
    ).decode()
    stamp = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return user == username and digest == expected and abs(stamp - now) < timedelta(minutes=5)


def digest_ok(
    header: str, method: str, username: str, password: str, realm: str, nonce: str
) -> bool:
    """An RFC 2617 ``qop=auth`` MD5 Digest ``Authorization`` value is right."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', header.removeprefix("Digest ")))
    ha1 = hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{params.get('uri', '')}".encode()).hexdigest()
    want = hashlib.md5(
        f"{ha1}:{nonce}:{params.get('nc')}:{params.get('cnonce')}:auth:{ha2}".encode()
    ).hexdigest()
    return params.get("username") == username and params.get("response") == want


class Soap:
    """The SOAP text helpers above, for test modules (which cannot import a conftest)."""

    envelope = staticmethod(envelope)
    fault11 = staticmethod(fault11)
    fault12 = staticmethod(fault12)
    time_reply = staticmethod(time_reply)
    device_reply = staticmethod(device_reply)


@pytest.fixture
def soap() -> type[Soap]:
    return Soap


# --- the fake camera -------------------------------------------------------------------------


@dataclass
class FakeCamera:
    """An ONVIF device + media service.  ``override[action]`` (an async handler taking the
    request) answers that action instead;
    ``calls`` counts the actions asked; ``hosts`` records each request's Host header."""

    username: str = "admin"
    password: str = "s3cret-密码"
    serial: str = "DS-FAKE-0001"
    auth_for_time: bool = False
    clock_offset_s: float = 0.0
    digest: bool = False
    advertise: str = "http://203.0.113.7:8899"  # TEST-NET-3: an "internet" host
    stream_uri: str = (
        "rtsp://admin:s3cret-密码@evil.example.com:8554/live?user=admin&password=x&channel=1"
    )
    snapshot_uri: str = "https://198.51.100.9/snap.jpg?pwd=x&size=small"
    override: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = field(
        default_factory=dict
    )
    calls: Counter[str] = field(default_factory=Counter)
    hosts: list[str] = field(default_factory=list)
    realm: str = "IP Camera(C1234)"
    nonce: str = field(default_factory=lambda: secrets.token_hex(16))

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)

    def soap(self, text: str, status: int = 200) -> web.Response:
        return web.Response(
            text=text, status=status, content_type="application/soap+xml", charset="utf-8"
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        action = action_of(body)
        self.calls[action] += 1
        self.hosts.append(request.host)
        if action in self.override:
            return await self.override[action](request)
        if self.digest and action != "GetSystemDateAndTime":
            header = request.headers.get("Authorization", "")
            if not digest_ok(header, "POST", self.username, self.password, self.realm, self.nonce):
                return web.Response(
                    status=401,
                    headers={
                        "WWW-Authenticate": f'Digest realm="{self.realm}", qop="auth", '
                        f'nonce="{self.nonce}", algorithm=MD5'
                    },
                )
        open_call = action == "GetSystemDateAndTime" and not self.auth_for_time
        if not open_call and not ws_security_ok(body, self.username, self.password, self.now()):
            return self.soap(fault12("s:Sender", "Sender not Authorized", "ter:NotAuthorized"), 400)
        return self.soap(self.reply(action, body))

    def reply(self, action: str, body: bytes) -> str:
        base = self.advertise
        if action == "GetSystemDateAndTime":
            return time_reply(self.now())
        if action == "GetDeviceInformation":
            return device_reply(self.serial)
        if action == "GetServices":
            services = "".join(
                f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{base}{path}"
                "</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>5</tt:Minor>"
                "</tds:Version></tds:Service>"
                for ns, path in (
                    (DEVICE_NS, "/onvif/device_service"),
                    (MEDIA_NS, "/onvif/media_service"),
                )
            )
            return envelope(f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>")
        if action == "GetCapabilities":
            return envelope(
                "<tds:GetCapabilitiesResponse><tds:Capabilities>"
                f"<tt:Device><tt:XAddr>{base}/onvif/device_service</tt:XAddr></tt:Device>"
                f"<tt:Media><tt:XAddr>{base}/onvif/media_service</tt:XAddr>"
                "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
                "<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
                "</tt:StreamingCapabilities></tt:Media>"
                "</tds:Capabilities></tds:GetCapabilitiesResponse>"
            )
        if action == "GetProfiles":
            profiles = "".join(
                f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{name}</tt:Name>'
                f'<tt:VideoEncoderConfiguration token="VEC_{token}"><tt:Name>v</tt:Name>'
                f"<tt:UseCount>1</tt:UseCount><tt:Encoding>{enc}</tt:Encoding>"
                f"<tt:Resolution><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:Resolution>"
                "<tt:Quality>5</tt:Quality><tt:RateControl>"
                f"<tt:FrameRateLimit>{fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>"
                "<tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl>"
                "</tt:VideoEncoderConfiguration></trt:Profiles>"
                for token, name, enc, w, h, fps in (
                    ("Profile_1", "mainStream", "H264", 2560, 1440, 25),
                    ("Profile_2", "subStream", "H264", 640, 360, 15),
                )
            )
            return envelope(f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>")
        if action in ("GetStreamUri", "GetSnapshotUri"):
            uri = self.stream_uri if action == "GetStreamUri" else self.snapshot_uri
            uri = uri.replace("&", "&amp;")
            return envelope(
                f"<trt:{action}Response><trt:MediaUri><tt:Uri>{uri}</tt:Uri>"
                "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
                "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
                f"</trt:MediaUri></trt:{action}Response>"
            )
        return fault12("s:Sender", "Action not supported", "ter:ActionNotSupported")


# --- servers ---------------------------------------------------------------------------------


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[[web.Application], Awaitable[int]]]:
    """serve_app(app) → the port of ``app`` served on 127.0.0.1 (stopped after the test)."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def serve_raw() -> AsyncIterator[Callable[[RawHandler], Awaitable[int]]]:
    """serve_raw(handler) → the port of a raw TCP server on 127.0.0.1 running ``handler``
    per connection (stopped, and its connections dropped, after the test)."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(handler: RawHandler) -> int:
        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            tasks.add(asyncio.current_task())  # type: ignore[arg-type]
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(guarded, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
    for task in tasks:
        task.cancel()
    for server in servers:
        await server.wait_closed()


@pytest.fixture
async def fake_camera(serve_app) -> Callable[..., Awaitable[tuple[FakeCamera, int]]]:
    """fake_camera(**fields) → (FakeCamera, port), served on 127.0.0.1."""

    async def start(**fields: object) -> tuple[FakeCamera, int]:
        camera = FakeCamera(**fields)  # type: ignore[arg-type]
        app = web.Application()
        app.router.add_post("/{tail:.*}", camera.handle)
        return camera, await serve_app(app)

    return start


@pytest.fixture
async def heartbeat() -> AsyncIterator[OnvifHeartbeat]:
    async with OnvifHeartbeat() as started:
        yield started


def target_for(camera: FakeCamera, port: int, **fields: object) -> OnvifTarget:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "username": camera.username,
        "password": camera.password,
    }
    values.update(fields)
    return OnvifTarget(**values)  # type: ignore[arg-type]


@pytest.fixture
def target() -> Callable[..., OnvifTarget]:
    return target_for


# --- ipycam ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ipycam:
    """A running ipycam: where it listens, its credentials, and what it advertises."""

    host: str
    onvif_port: int
    rtsp_port: int
    username: str
    password: str
    serial: str
    advertise_host: str

    def target(self, password: str | None = None) -> OnvifTarget:
        return OnvifTarget(
            self.host,
            self.onvif_port,
            self.username,
            self.password if password is None else password,
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def ipycam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ipycam]:
    """ipycam on loopback, with credentials, advertising 127.0.0.2 in the URLs it hands out
    (so that tests see the client pin them back to 127.0.0.1)."""
    if not PEERS_PYTHON.exists():
        peer_missing(f"{PEERS_PYTHON} missing: run scripts/peers-venv")
    check = subprocess.run(
        [str(PEERS_PYTHON), "-c", "import ipycam"], capture_output=True, timeout=60, check=False
    )
    if check.returncode != 0:
        peer_missing("ipycam is not installed in .venv-peers: run scripts/peers-venv")
    peer = Ipycam(
        host="127.0.0.1",
        onvif_port=free_port(),
        rtsp_port=free_port(),
        username="admin",
        password="ipy-" + secrets.token_hex(4),
        serial="GB-IPYCAM-7",
        advertise_host="127.0.0.2",
    )
    workdir = tmp_path_factory.mktemp("ipycam")
    stderr = (workdir / "stderr.txt").open("w")
    process = subprocess.Popen(
        [
            str(PEERS_PYTHON),
            str(LAUNCHER),
            f"--onvif-port={peer.onvif_port}",
            f"--rtsp-port={peer.rtsp_port}",
            f"--username={peer.username}",
            f"--advertise-host={peer.advertise_host}",
            f"--serial={peer.serial}",
        ],
        cwd=workdir,
        env={**os.environ, "IPYCAM_PASSWORD": peer.password},
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        if not _ready(process, IPYCAM_READY_TIMEOUT_S):
            process.kill()
            process.wait(timeout=10)
            err = (workdir / "stderr.txt").read_text(errors="replace")[-2000:]
            pytest.fail(f"ipycam did not start within {IPYCAM_READY_TIMEOUT_S:g} s: {err}")
        yield peer
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        stderr.close()


def _ready(process: subprocess.Popen[str], timeout_s: float) -> bool:
    """True once the launcher printed READY; False when it exited or the deadline passed."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=left):
                return False
            line = process.stdout.readline()
            if line.startswith("READY"):
                return True
            if not line:  # the launcher exited
                return False
    return False
