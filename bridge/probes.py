"""The real check adapters, wired: what the daemon, ``gridbridge check`` and the benchmarks
use to probe cameras.  One ONVIF HTTP session (keep-alive) and one RTSP prober per process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from adapters.onvif_onboard import onboard
from adapters.onvif_soap import OnvifHeartbeat, OnvifTarget
from adapters.rtsp import RtspProber
from adapters.tcp import TcpConnector
from bridge.checker import ONVIF_DEVICE_PATH, Checker, CheckTarget
from bridge.observation import OnboardResult
from bridge.settings import Settings

# Onboarding walks several ONVIF services: give it more time than one probe layer.
ONBOARD_TIMEOUT_FACTOR = 5


@dataclass(frozen=True)
class Probes:
    """A checker over the real adapters, and ONVIF onboarding for the same cameras."""

    checker: Checker
    onboard_timeout_s: float

    async def onboard(self, target: CheckTarget) -> OnboardResult:
        onvif = OnvifTarget(
            target.host,
            target.onvif_port,
            target.username or "",
            target.password or "",
            ONVIF_DEVICE_PATH,
        )
        return await onboard(onvif, target.rtsp_port, self.onboard_timeout_s)


@asynccontextmanager
async def real_probes(settings: Settings) -> AsyncIterator[Probes]:
    """The adapters, open for as long as the context lasts."""
    timeout_s = settings.probe.timeout_s
    # No keep-alive for the heartbeat: see OnvifHeartbeat.start (idle sockets, never reused).
    async with OnvifHeartbeat(keepalive_timeout_s=0) as heartbeat:
        checker = Checker(RtspProber(), heartbeat, TcpConnector(), timeout_s)
        yield Probes(checker, timeout_s * ONBOARD_TIMEOUT_FACTOR)
