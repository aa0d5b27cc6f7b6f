"""TCP connect probe: is anything listening on the camera's port?

Used for cameras with no RTSP address, and by ``gridbridge check`` to tell "nothing answers"
from "a service answers wrongly".  A connect that succeeds is closed at once.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from typing import Protocol

from adapters.errors import ProbeTimeout, Unreachable


class TcpProbe(Protocol):
    async def connect(self, host: str, port: int, timeout_s: float) -> float:
        """Milliseconds the connect took; raises Unreachable or ProbeTimeout."""
        ...


class TcpConnector:
    """Connects with a plain non-blocking socket (no streams: this runs for every camera)."""

    async def connect(self, host: str, port: int, timeout_s: float) -> float:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                await loop.sock_connect(sock, (host, port))
        except TimeoutError:
            raise ProbeTimeout(f"TCP {host}:{port}: no answer within {timeout_s:g} s") from None
        except OSError as exc:
            reason = errno.errorcode.get(exc.errno or 0, "") or exc.strerror or "error"
            raise Unreachable(f"TCP {host}:{port}: {reason}") from None
        finally:
            sock.close()
        return (time.perf_counter() - started) * 1000
