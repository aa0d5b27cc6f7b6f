"""Simulated cameras for the live-view tests: the project's simulator on 127.62.N.x.

Each test gets its own third octet and free ports, so it never meets another test's sockets.
The simulator streams RTP/JPEG over RTSP, which OpenCV reads like a camera's stream.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bridge.simulator import AuthMode, SimCamera, Simulator, StreamLimits
from tests.support import worker_octets

PASSWORD = "Live#p@ss:1"  # the characters camera passwords really contain
_octets = worker_octets(os.getpid() * 13)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveSim:
    sim: Simulator
    cameras: tuple[SimCamera, ...]

    def url(self, camera: SimCamera, password: str = PASSWORD) -> str:
        """The stream URL with the raw password, as the inventory holds it."""
        return f"rtsp://admin:{password}@{camera.host}:{camera.rtsp_port}{camera.rtsp_path}"

    @property
    def sessions(self) -> int:
        """RTSP sessions the simulator streams now (its own count, not the hub's)."""
        return self.sim._media.active


@asynccontextmanager
async def live_sim(
    count: int = 1, *, fps: float = 12.0, max_session_s: float = 300.0
) -> AsyncIterator[LiveSim]:
    """``count`` Digest cameras streaming 1280x720 RTP/JPEG at ``fps`` (above the live
    view's 5, so its cap is what limits the rate); a session ends after ``max_session_s``."""
    subnet = f"127.62.{next(_octets)}"
    cameras = []
    for n in range(1, count + 1):
        host = f"{subnet}.{n}"
        cameras.append(
            SimCamera(
                id=f"4199010001132600{n:04d}",
                name=f"实时{n}",
                host=host,
                rtsp_port=free_port(host),
                onvif_port=free_port(host),
                username="admin",
                password=PASSWORD,
                auth=AuthMode.DIGEST_QOP,
            )
        )
    async with Simulator(cameras, stream=StreamLimits(fps=fps, max_session_s=max_session_s)) as sim:
        yield LiveSim(sim, tuple(cameras))


async def eventually(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until ``condition()`` is true; fails after ``timeout_s``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started
