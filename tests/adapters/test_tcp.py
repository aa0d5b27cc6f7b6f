"""TCP connect probe against real sockets on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

from adapters.errors import ProbeTimeout, Unreachable
from adapters.tcp import TcpConnector


async def test_open_port() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        latency = await TcpConnector().connect("127.0.0.1", port, 2.0)
    assert 0 <= latency < 2000


async def test_closed_port_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unreachable, match="ECONNREFUSED"):
        await TcpConnector().connect("127.0.0.1", port, 2.0)


async def test_full_backlog_ends_at_the_deadline() -> None:
    # A listening socket that never accepts, with its backlog filled, leaves further SYNs
    # unanswered: the connect must end at its deadline.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", port))
            fillers.append(s)
        started = time.perf_counter()
        with pytest.raises(ProbeTimeout):
            await TcpConnector().connect("127.0.0.1", port, 0.3)
        assert time.perf_counter() - started < 1.0
    finally:
        for s in fillers:
            s.close()
        listener.close()
