"""RtspProber.describe against hostile or broken peers: every probe ends at its deadline,
within its memory caps, with the right domain error (DESIGN §12)."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters.errors import ProbeError, ProbeTimeout, ProtocolFailure, Unreachable
from adapters.rtsp import RtspProber, RtspTarget

Peer = Any  # conftest.RawPeer: read_request(), send(), reset(), close(), stop
Handler = Callable[[Peer], Awaitable[None]]
StartRaw = Callable[[Handler], Awaitable[int]]

DEADLINE_S = 0.6
SLACK_S = 0.25  # scheduling noise allowed past the deadline on a busy 2-core machine
# Allocated once, so the flooding servers allocate next to nothing during the probe.
CHUNK = b"a" * 8192
LINES = (b"X-Junk: " + b"b" * 100 + b"\r\n") * 80
RTP_PACKET = b"$\x00" + struct.pack(">H", 1400) + b"\x80" * 1400
MEMORY_LIMIT_BYTES = 256 * 1024  # caps are 16 KiB head + 64 KiB body


def target(port: int) -> RtspTarget:
    return RtspTarget("127.0.0.1", port, "/live?pwd=hunter2", "admin", "hunter2")


async def timed(port: int, timeout_s: float = DEADLINE_S) -> tuple[ProbeError, float]:
    started = time.perf_counter()
    with pytest.raises(ProbeError) as info:
        await RtspProber().describe(target(port), timeout_s)
    assert "hunter2" not in str(info.value)
    return info.value, time.perf_counter() - started


async def blackhole(peer: Peer) -> None:
    await peer.stop.wait()


async def drip(peer: Peer) -> None:
    await peer.read_request()
    for byte in b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 100\r\n\r\nv=0\r\n" * 100:
        await peer.send(bytes([byte]))
        await asyncio.sleep(0.1)  # PEERS' "one byte every 2 s", faster so the test is short


async def slow_body(peer: Peer) -> None:
    await peer.read_request()
    await peer.send(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 60000\r\n\r\nv=0\r\n")
    await peer.stop.wait()


async def test_blackhole_ends_at_the_deadline(raw_server: StartRaw) -> None:
    error, elapsed = await timed(await raw_server(blackhole))
    assert isinstance(error, ProbeTimeout)
    assert DEADLINE_S <= elapsed < DEADLINE_S + SLACK_S
    assert "pwd=***" in str(error)
    assert "0.6 s" in str(error)


@pytest.mark.parametrize("handler", [drip, slow_body])
async def test_slow_peers_end_at_the_deadline(raw_server: StartRaw, handler: Handler) -> None:
    error, elapsed = await timed(await raw_server(handler))
    assert isinstance(error, ProbeTimeout)
    assert DEADLINE_S <= elapsed < DEADLINE_S + SLACK_S


async def flood_head_line(peer: Peer) -> None:
    await peer.send(b"RTSP/1.0 200 OK\r\nX-Junk: ")
    for _ in range(100 * 1024 * 1024 // len(CHUNK)):  # 100 MB if the client kept reading
        await peer.send(CHUNK)


async def flood_header_lines(peer: Peer) -> None:
    await peer.send(b"RTSP/1.0 200 OK\r\n")
    for _ in range(100 * 1024 * 1024 // len(LINES)):
        await peer.send(LINES)


async def flood_body(peer: Peer) -> None:
    await peer.read_request()
    await peer.send(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 104857600\r\n\r\n")
    for _ in range(100 * 1024 * 1024 // len(CHUNK)):
        await peer.send(CHUNK)


async def flood_rtp(peer: Peer) -> None:
    await peer.read_request()
    while True:
        await peer.send(RTP_PACKET)


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (flood_head_line, "head over the 16384-byte cap"),
        (flood_header_lines, "head over the 16384-byte cap"),
        (flood_body, "104857600 bytes is over the 65536-byte cap"),
        (flood_rtp, "interleaved RTP data before PLAY"),
    ],
)
async def test_floods_are_refused_at_the_cap_without_memory_growth(
    raw_server: StartRaw, handler: Handler, message: str
) -> None:
    port = await raw_server(handler)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        error, elapsed = await timed(port, timeout_s=5.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, ProtocolFailure)
    assert message in str(error)
    assert elapsed < 1.0, "refused at the cap, not at the deadline"
    assert peak < MEMORY_LIMIT_BYTES, f"peak {peak} bytes during the probe"


async def reset_mid_reply(peer: Peer) -> None:
    await peer.read_request()
    await peer.send(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Le")
    await asyncio.sleep(0.05)
    peer.reset()


async def close_mid_body(peer: Peer) -> None:
    await peer.read_request()
    await peer.send(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 500\r\n\r\nv=0\r\n")
    peer.close()


async def close_at_once(peer: Peer) -> None:
    peer.close()


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (reset_mid_reply, "connection reset before a complete reply"),
        (close_mid_body, "connection closed before a complete reply"),
        (close_at_once, "before a complete reply"),
    ],
)
async def test_peer_closing_early_is_unreachable(
    raw_server: StartRaw, handler: Handler, message: str
) -> None:
    error, elapsed = await timed(await raw_server(handler), timeout_s=5.0)
    assert isinstance(error, Unreachable)
    assert message in str(error)
    assert elapsed < 1.0


async def test_connection_refused_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    error, _elapsed = await timed(port, timeout_s=5.0)
    assert isinstance(error, Unreachable)
    assert "connection refused" in str(error)


async def test_nothing_is_left_behind(raw_server: StartRaw) -> None:
    """Every path closes its connection: no task or transport outlives the probe."""
    ports = [await raw_server(h) for h in (blackhole, flood_body, reset_mid_reply)]
    before = len(asyncio.all_tasks())
    for port in ports:
        await timed(port, timeout_s=0.3)
    await asyncio.sleep(0.05)
    assert len(asyncio.all_tasks()) <= before + len(ports)  # only the servers' handlers
