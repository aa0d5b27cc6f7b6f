"""Hostile peers: every bad behaviour ends as a domain error, at the deadline at the latest,
without memory growth, and without a connection to anywhere the target did not name.

Memory is measured with tracemalloc around the call (client and in-process server together):
the peak must stay far below what the peer offers.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import time
import tracemalloc
from collections.abc import Awaitable
from typing import Any

import pytest
from aiohttp import web

from adapters.errors import AuthFailed, ProbeError, ProbeTimeout, ProtocolFailure, Unreachable
from adapters.onvif_soap import OnvifHeartbeat, OnvifTarget

MiB = 1 << 20
DEADLINE_S = 1.0
CHUNK = b"\0" * 65536


async def measured(call: Awaitable[Any]) -> tuple[BaseException | None, int, float]:
    """(domain error or None, tracemalloc peak in bytes, seconds) of awaiting ``call``."""
    tracemalloc.start()
    started = time.monotonic()
    error: BaseException | None = None
    try:
        await call
    except ProbeError as exc:
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak, time.monotonic() - started


def local(port: int) -> OnvifTarget:
    return OnvifTarget("127.0.0.1", port, "admin", "pw")


async def read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))


def app_replying(handler: Any) -> web.Application:
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    return app


# --- bombs and endless bodies ----------------------------------------------------------------


async def test_xml_bomb_is_refused_without_memory_growth(heartbeat, serve_app) -> None:
    entities = "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' if i else '<!ENTITY l0 "lol">' for i in range(10)
    )
    bomb = f'<?xml version="1.0"?><!DOCTYPE s [{entities}]><s>&l9;</s>'

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=bomb, content_type="application/soap+xml")

    port = await serve_app(app_replying(handler))
    error, peak, _ = await measured(heartbeat.device_information(local(port), DEADLINE_S))
    assert isinstance(error, ProtocolFailure)
    assert "DTD is refused" in str(error)
    assert peak < 2 * MiB


async def test_huge_declared_body_is_refused_before_reading(heartbeat, serve_raw) -> None:
    sent = 0

    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n")
        while sent < 100 * MiB:
            writer.write(CHUNK)
            await writer.drain()
            sent += len(CHUNK)

    port = await serve_raw(huge)
    error, peak, elapsed = await measured(heartbeat.system_date_time(local(port), DEADLINE_S))
    assert isinstance(error, ProtocolFailure)
    assert "104857600 bytes refused" in str(error)
    assert peak < 3 * MiB
    assert elapsed < DEADLINE_S


async def test_endless_chunked_body_stops_at_the_cap(heartbeat, serve_raw) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            await writer.drain()

    port = await serve_raw(endless)
    error, peak, elapsed = await measured(heartbeat.system_date_time(local(port), 5.0))
    assert isinstance(error, ProtocolFailure)
    assert "over 1048576 bytes refused" in str(error)
    assert peak < 4 * MiB
    assert elapsed < 5.0


async def test_gzip_bomb_is_capped_after_decompression(heartbeat, serve_app) -> None:
    bomb = gzip.compress(b"<" + b" " * (200 * MiB), compresslevel=9)  # ~200 KB on the wire
    assert len(bomb) < MiB

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    port = await serve_app(app_replying(handler))
    error, peak, _ = await measured(heartbeat.system_date_time(local(port), 5.0))
    assert isinstance(error, ProtocolFailure)
    assert "over 1048576 bytes refused" in str(error)
    assert peak < 4 * MiB


async def test_endless_header_line_is_refused(heartbeat, serve_raw) -> None:
    async def long_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Junk: ")
        while True:
            writer.write(b"a" * 4096)
            await writer.drain()

    port = await serve_raw(long_header)
    error, peak, _ = await measured(heartbeat.system_date_time(local(port), 5.0))
    assert isinstance(error, ProtocolFailure)
    assert peak < 2 * MiB


# --- deadlines -------------------------------------------------------------------------------


async def test_blackhole_ends_at_the_deadline(heartbeat, serve_raw) -> None:
    async def blackhole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    port = await serve_raw(blackhole)
    error, _, elapsed = await measured(heartbeat.device_information(local(port), DEADLINE_S))
    assert isinstance(error, ProbeTimeout)
    assert DEADLINE_S - 0.05 < elapsed < DEADLINE_S + 0.5


async def test_slow_drip_body_ends_at_the_deadline(heartbeat, serve_raw) -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n")
        while True:
            writer.write(b"<")
            await writer.drain()
            await asyncio.sleep(0.2)

    port = await serve_raw(drip)
    error, _, elapsed = await measured(heartbeat.system_date_time(local(port), DEADLINE_S))
    assert isinstance(error, ProbeTimeout)
    assert DEADLINE_S - 0.05 < elapsed < DEADLINE_S + 0.5


async def test_slow_drip_headers_end_at_the_deadline(heartbeat, serve_raw) -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n" * 100:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.2)

    port = await serve_raw(drip)
    error, _, elapsed = await measured(heartbeat.system_date_time(local(port), DEADLINE_S))
    assert isinstance(error, ProbeTimeout)
    assert elapsed < DEADLINE_S + 0.5


# --- broken connections ----------------------------------------------------------------------


async def test_reset_mid_reply(heartbeat, serve_raw) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<s:Envelope")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST

    port = await serve_raw(reset)
    error, _, elapsed = await measured(heartbeat.system_date_time(local(port), 5.0))
    assert isinstance(error, ProtocolFailure | Unreachable)
    assert elapsed < 1.0


async def test_closed_before_any_reply_is_unreachable(heartbeat, serve_raw) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    port = await serve_raw(hang_up)
    error, _, _ = await measured(heartbeat.system_date_time(local(port), 5.0))
    assert isinstance(error, Unreachable)


async def test_not_http_at_all(heartbeat, serve_raw) -> None:
    async def ssh(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_8.4\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(3600)

    port = await serve_raw(ssh)
    error, _, elapsed = await measured(heartbeat.system_date_time(local(port), 5.0))
    assert isinstance(error, ProtocolFailure)
    assert elapsed < 1.0


# --- redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_to_another_host_is_not_followed(
    heartbeat, serve_app, soap, status: int
) -> None:
    elsewhere_hits = 0

    async def elsewhere(request: web.Request) -> web.Response:
        nonlocal elsewhere_hits
        elsewhere_hits += 1
        return web.Response(text=soap.device_reply("EVIL"), content_type="application/soap+xml")

    other = await serve_app(app_replying(elsewhere))

    async def redirect(request: web.Request) -> web.Response:
        location = f"http://127.0.0.2:{other}/onvif/device_service"
        return web.Response(status=status, headers={"Location": location})

    port = await serve_app(app_replying(redirect))
    with pytest.raises(ProtocolFailure, match="redirect refused") as info:
        await heartbeat.device_information(local(port), DEADLINE_S)
    assert info.value.status == status
    assert elsewhere_hits == 0


# --- SOAP faults and statuses ----------------------------------------------------------------


def _faults(soap: Any) -> list[tuple[str, int, str, str, object]]:
    """(call, status, body, content type, expected: exception type or "auth_required")."""
    xml = "application/soap+xml"
    not_authorized = soap.fault12("s:Sender", "Sender not Authorized", "ter:NotAuthorized")
    return [
        ("clock", 400, not_authorized, xml, "auth_required"),
        ("info", 400, not_authorized, xml, AuthFailed),
        ("clock", 401, "", "text/plain", "auth_required"),
        ("info", 401, "", "text/plain", AuthFailed),
        (
            "info",
            500,
            soap.fault11("wsse:FailedAuthentication", "bad token"),
            "text/xml",
            AuthFailed,
        ),
        ("info", 500, soap.fault11("wsse:InvalidSecurity", "no header"), "text/xml", AuthFailed),
        (
            "info",
            500,
            soap.fault12("s:Sender", "Not supported", "ter:ActionNotSupported"),
            xml,
            ProtocolFailure,
        ),
        ("clock", 500, soap.fault11("SOAP-ENV:Server", "busy"), "text/xml", ProtocolFailure),
        ("info", 200, soap.fault12("s:Receiver", "Internal", "ter:Action"), xml, ProtocolFailure),
        ("info", 404, "<html>Not Found</html>", "text/html", ProtocolFailure),
        ("clock", 503, "", "text/plain", ProtocolFailure),
    ]


@pytest.mark.parametrize("case", range(11))
async def test_soap_faults_are_mapped(heartbeat, serve_app, soap, case: int) -> None:
    call, status, body, content_type, expected = _faults(soap)[case]

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type=content_type)

    port = await serve_app(app_replying(handler))
    target = local(port)
    run = (
        heartbeat.system_date_time(target, DEADLINE_S)
        if call == "clock"
        else heartbeat.device_information(target, DEADLINE_S)
    )
    if expected == "auth_required":
        clock = await run
        assert clock.auth_required
        assert clock.utc is None
        return
    assert isinstance(expected, type)
    with pytest.raises(expected) as info:
        await run
    if expected is ProtocolFailure:
        assert info.value.status == status


async def test_nothing_of_aiohttp_escapes(serve_raw) -> None:
    """Whatever the peer does, only the domain errors leave the adapter (each run with a
    fresh session, as after a restart)."""

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n")
        await writer.drain()

    port = await serve_raw(garbage)
    async with OnvifHeartbeat() as heartbeat:
        with pytest.raises(ProbeError):
            await heartbeat.system_date_time(local(port), DEADLINE_S)
