"""Servers the RTSP client tests talk to: a scripted camera, raw hostile servers, GStreamer.

* ``fake_camera(**behaviour)`` starts a :class:`FakeCamera`: a real RTSP server on
  ``127.0.0.1:0`` answering DESCRIBE like a camera (no auth, Basic, Digest with or without
  qop, nonce reuse or not, stale nonces, closing after 401, any status or SDP).  Its Digest
  check is written here from the RFCs, independently of ``adapters.http_auth``, so the tests
  do not only agree with themselves.  It records every request.
* ``raw_server(handler)`` serves ``handler(peer)`` (a :class:`RawPeer`) on ``127.0.0.1:0``
  for the hostile peers (silence, drip, floods, resets).
* ``gst_rtsp(auth)`` starts Debian's GStreamer RTSP server (``tests/peers/gst_rtsp_server.py``
  under ``/usr/bin/python3``) once per session and auth mode; skipped when GStreamer or its
  Python bindings are missing, failed instead under ``CI=true`` (the project's rule).
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
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import peer_missing

USER = "admin"
PASSWORD = "pa:ss@w#rd"  # the characters camera passwords really contain
REALM = "IP Camera(C1234)"
GST_SCRIPT = Path(__file__).resolve().parents[2] / "peers" / "gst_rtsp_server.py"
GST_PYTHON = os.environ.get("GRIDBRIDGE_GST_PYTHON", "/usr/bin/python3")  # Debian's, with gi
GST_READY_TIMEOUT_S = 20.0

VIDEO_SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Media Presentation\r\nt=0 0\r\n"
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=framerate:25\r\n"
    "a=x-dimensions:1920,1080\r\na=control:trackID=1\r\n"
    "m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
)
AUDIO_ONLY_SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"


def _hash(algorithm: str) -> Callable[[str], str]:
    name = "sha256" if algorithm.upper().startswith("SHA-256") else "md5"
    return lambda text: hashlib.new(name, text.encode()).hexdigest()


_AUTH_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')


@dataclass
class FakeCamera:
    """A scripted RTSP camera; see the module docstring.  ``requests`` holds every request
    as a dict of lower-cased headers plus ``method`` and ``uri``."""

    auth: str = "none"  # none | basic | digest | bearer (a scheme the client cannot answer)
    user: str = USER
    password: str = PASSWORD
    qop: bool = True
    algorithm: str | None = None  # None: challenge without algorithm= (means MD5)
    offer_basic_too: bool = False
    nonce_reuse: bool = True  # False: a nonce is valid only on its connection (GStreamer)
    stale_flag: bool = True  # say stale=true when a correct answer uses an expired nonce
    retire_nonce_after_success: bool = False
    close_after_401: bool = False
    close_header_then_ignore: bool = False  # 401 says Connection: close, socket stays open
    status: int = 200
    reason: str = "OK"
    sdp: str = VIDEO_SDP
    content_type: str | None = "application/sdp"
    extra_headers: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _nonces: set[str] = field(default_factory=set)
    _nc_seen: dict[str, int] = field(default_factory=dict)
    _opaque: str = field(default_factory=lambda: secrets.token_hex(8))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        local_nonces: set[str] = set()
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                first, *lines = head.split("\r\n")
                method, uri, _ = first.split(" ", 2)
                request = {"method": method, "uri": uri}
                for line in lines:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        request[name.strip().lower()] = value.strip()
                self.requests.append(request)
                status, headers, body = self.answer(request, local_nonces)
                reason = "Unauthorized" if status == 401 else self.reason
                text = f"RTSP/1.0 {status} {reason}\r\nCSeq: {request.get('cseq', '0')}\r\n"
                text += f"Server: FakeCam/1.0\r\n{headers}{self.extra_headers}"
                text += f"Content-Length: {len(body)}\r\n\r\n"
                writer.write(text.encode() + body)
                await writer.drain()
                if status == 401 and self.close_after_401:
                    break
                if status == 401 and self.close_header_then_ignore:
                    await reader.read()  # never answers on this connection again
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def answer(self, request: dict[str, str], local_nonces: set[str]) -> tuple[int, str, bytes]:
        """(status, extra header lines, body) for one request."""
        verdict = self.check_auth(request, local_nonces)
        if verdict is not None:
            headers = self.challenge(local_nonces, stale=verdict == "stale")
            if self.close_header_then_ignore:
                headers += "Connection: close\r\n"
            return 401, headers, b"Unauthorized"
        ctype = f"Content-Type: {self.content_type}\r\n" if self.content_type else ""
        body = self.sdp.encode() if 200 <= self.status < 300 else b""
        return self.status, ctype, body

    def challenge(self, local_nonces: set[str], *, stale: bool) -> str:
        if self.auth == "basic":
            return f'WWW-Authenticate: Basic realm="{REALM}"\r\n'
        if self.auth == "bearer":
            return 'WWW-Authenticate: Bearer realm="x"\r\n'
        nonce = secrets.token_hex(16)
        self._nonces.add(nonce)
        local_nonces.add(nonce)
        params = [f'realm="{REALM}"', f'nonce="{nonce}"', f'opaque="{self._opaque}"']
        if self.qop:
            params.append('qop="auth,auth-int"')
        if self.algorithm:
            params.append(f"algorithm={self.algorithm}")
        if stale and self.stale_flag:
            params.append("stale=TRUE")
        lines = f"WWW-Authenticate: Digest {', '.join(params)}\r\n"
        if self.offer_basic_too:
            lines += f'WWW-Authenticate: Basic realm="{REALM}"\r\n'
        return lines

    def check_auth(self, request: dict[str, str], local_nonces: set[str]) -> str | None:
        """None when the request may pass, else "bad" or "stale"."""
        if self.auth == "none":
            return None
        header = request.get("authorization", "")
        if self.auth == "basic":
            good = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return None if header == f"Basic {good}" else "bad"
        if not header.startswith("Digest "):
            return "bad"
        p = {
            m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _AUTH_PARAM.finditer(header[7:])
        }
        algorithm = self.algorithm or "MD5"
        h = _hash(algorithm)
        nonce = p.get("nonce", "")
        ha1 = h(f"{self.user}:{REALM}:{self.password}")
        if algorithm.lower().endswith("-sess"):
            ha1 = h(f"{ha1}:{nonce}:{p.get('cnonce', '')}")
        ha2 = h(f"{request['method']}:{p.get('uri', '')}")
        if self.qop:
            if p.get("qop") != "auth":
                return "bad"
            expected = h(f"{ha1}:{nonce}:{p.get('nc')}:{p.get('cnonce')}:auth:{ha2}")
        else:
            expected = h(f"{ha1}:{nonce}:{ha2}")
        if (
            p.get("username") != self.user
            or p.get("realm") != REALM
            or p.get("uri") != request["uri"]
            or p.get("opaque") != self._opaque
            or p.get("response") != expected
        ):
            return "bad"
        valid = nonce in (self._nonces if self.nonce_reuse else local_nonces)
        if self.qop and valid:
            nc = int(p.get("nc", "0"), 16)
            if nc <= self._nc_seen.get(nonce, 0):
                return "stale"  # a replayed nc: refuse like a careful server
            self._nc_seen[nonce] = nc
        if not valid:
            return "stale"
        if self.retire_nonce_after_success:
            self._nonces.discard(nonce)
            local_nonces.discard(nonce)
        return None

    def authorizations(self) -> list[str | None]:
        return [r.get("authorization") for r in self.requests]


@pytest.fixture
async def fake_camera() -> AsyncIterator[Callable[..., Awaitable[FakeCamera]]]:
    """Factory: ``await fake_camera(auth="digest", qop=False, …)`` → a started FakeCamera."""
    servers: list[asyncio.Server] = []

    async def start(**behaviour: Any) -> FakeCamera:
        camera = FakeCamera(**behaviour)
        server = await asyncio.start_server(camera.handle, "127.0.0.1", 0)
        servers.append(server)
        camera.port = server.sockets[0].getsockname()[1]
        return camera

    yield start
    for server in servers:
        server.close()


class RawPeer:
    """One accepted connection of a hostile server, on a raw non-blocking socket.

    Raw sockets rather than asyncio streams so the server itself allocates almost nothing
    (a stream transport reads with 256 KiB buffers): the memory tests measure the client.
    """

    def __init__(self, sock: socket.socket, stop: asyncio.Event) -> None:
        self.sock = sock
        self.stop = stop  # set at teardown

    async def read_request(self) -> bytes:
        """Bytes up to the end of one request head ('' if the client closed)."""
        loop = asyncio.get_running_loop()
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await loop.sock_recv(self.sock, 1024)
            if not chunk:
                break
            data += chunk
        return data

    async def send(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    def reset(self) -> None:
        """Close with SO_LINGER 0: the kernel sends RST."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


RawHandler = Callable[[RawPeer], Awaitable[None]]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[RawHandler], Awaitable[int]]]:
    """Factory: ``port = await raw_server(handler)``; ``handler(peer: RawPeer)`` per
    connection.  Teardown sets ``peer.stop``, cancels the handlers, closes every socket."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    sockets: list[socket.socket] = []
    tasks: set[asyncio.Task[None]] = set()

    async def serve(listener: socket.socket, handler: RawHandler) -> None:
        while True:
            conn, _ = await loop.sock_accept(listener)
            conn.setblocking(False)
            sockets.append(conn)
            task = asyncio.create_task(run(RawPeer(conn, stop), handler))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def run(peer: RawPeer, handler: RawHandler) -> None:
        try:
            await handler(peer)
        except OSError:
            pass  # the client hung up: expected for hostile peers
        finally:
            peer.close()

    async def start(handler: RawHandler) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setblocking(False)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        sockets.append(listener)
        task = asyncio.create_task(serve(listener, handler))
        tasks.add(task)
        port: int = listener.getsockname()[1]
        return port

    yield start
    stop.set()
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for sock in sockets:
        sock.close()


@dataclass(frozen=True)
class GstPeer:
    """A running GStreamer RTSP server: ``rtsp://127.0.0.1:{port}/test``."""

    port: int
    user: str = USER
    password: str = PASSWORD
    path: str = "/test"


@dataclass
class _GstServers:
    """One GStreamer RTSP server process per auth mode, started on first use."""

    processes: dict[str, tuple[subprocess.Popen[str], int]] = field(default_factory=dict)

    def peer(self, auth: str) -> GstPeer:
        if auth not in self.processes:
            self.processes[auth] = self._start(auth)
        return GstPeer(self.processes[auth][1])

    def _start(self, auth: str) -> tuple[subprocess.Popen[str], int]:
        if not os.path.exists(GST_PYTHON):
            peer_missing(f"{GST_PYTHON} not found (GStreamer RTSP server needs Debian's Python)")
        env = dict(os.environ, GST_RTSP_TEST_PASSWORD=PASSWORD)
        proc = subprocess.Popen(
            [GST_PYTHON, str(GST_SCRIPT), "--auth", auth, "--user", USER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        line = _read_line(proc, GST_READY_TIMEOUT_S)
        if line.startswith("READY "):
            return proc, int(line.split()[1])
        err = _stop(proc)
        if line.startswith("MISSING ") or proc.returncode == 3:
            peer_missing(f"GStreamer RTSP server unavailable: {line[8:] or err}")
        pytest.fail(f"GStreamer RTSP server did not start: {line!r} {err}")

    def stop_all(self) -> None:
        for proc, _ in self.processes.values():
            _stop(proc)


def _read_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """The first stdout line of ``proc`` within ``timeout_s`` ('' on timeout or exit)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if sel.select(left):
                return proc.stdout.readline().strip()
    return ""


def _stop(proc: subprocess.Popen[str]) -> str:
    """Terminate ``proc`` (kill after 5 s), close its pipes; the tail of its stderr."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    err = proc.stderr.read()[-500:] if proc.stderr else ""
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return err


@pytest.fixture(scope="session")
def gst_servers() -> Iterator[_GstServers]:
    servers = _GstServers()
    yield servers
    servers.stop_all()


@pytest.fixture
def gst_rtsp(gst_servers: _GstServers) -> Callable[[str], GstPeer]:
    """``peer = gst_rtsp("none" | "basic" | "digest")``: a GStreamer RTSP server serving
    ``/test`` (H.264 640x360 10 fps); with auth, ``peer.user`` / ``peer.password``."""
    return gst_servers.peer
