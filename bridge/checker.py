"""One check of one camera: run the layers, collect an Observation (DESIGN §3).

The layers, cheapest first, each under its own deadline:

- RTSP DESCRIBE on the camera's stream path (or a plain TCP connect when there is none);
- ONVIF GetSystemDateAndTime (no auth; gives the clock offset; "auth required" counts as an
  answer: the camera is alive);
- ONVIF GetDeviceInformation (authenticated; serial number) — not every interval: only when
  asked (``with_device``), since it costs a login on the camera.

Adapter errors become layer results here; nothing else is caught (STYLE 6, 7).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from adapters.errors import ProbeError
from adapters.onvif_soap import OnvifHeartbeatClient, OnvifTarget
from adapters.rtsp import RtspProbe, RtspTarget
from adapters.tcp import TcpProbe
from bridge.observation import DeviceInfo, LayerResult, Observation, SdpInfo

ONVIF_DEVICE_PATH = "/onvif/device_service"


@dataclass(frozen=True, slots=True)
class CheckTarget:
    """What a check needs to know about a camera (credentials included: never log it)."""

    camera_id: str
    host: str
    rtsp_port: int
    onvif_port: int
    rtsp_path: str | None
    username: str | None
    password: str | None = field(default=None, repr=False)
    expected_serial: str | None = None
    onvif: bool = True


def _failed(exc: ProbeError) -> LayerResult:
    status = getattr(exc, "status", None)
    return LayerResult(ok=False, error=exc.code, status=status, detail=str(exc))


class Checker:
    """Runs the check layers against one camera."""

    def __init__(
        self,
        rtsp: RtspProbe,
        onvif: OnvifHeartbeatClient,
        tcp: TcpProbe,
        timeout_s: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._rtsp = rtsp
        self._onvif = onvif
        self._tcp = tcp
        self._timeout_s = timeout_s
        self._now = now

    async def check(
        self,
        cam: CheckTarget,
        *,
        with_onvif: bool = True,
        with_device: bool = False,
        with_tcp: bool = False,
    ) -> Observation:
        """The layers that apply, in turn.  ONVIF runs when ``with_onvif`` or when the RTSP (or
        TCP) layer failed — then it tells a dead camera from a dead stream service.
        ``with_device`` adds the authenticated call, ``with_tcp`` plain connects (diagnosis)."""
        at = self._now()
        rtsp_tcp = onvif_tcp = rtsp = None
        sdp: SdpInfo | None = None
        if with_tcp or not cam.rtsp_path:
            rtsp_tcp = await self._connect(cam.host, cam.rtsp_port)
        if with_tcp and cam.onvif:
            onvif_tcp = await self._connect(cam.host, cam.onvif_port)
        if cam.rtsp_path:
            rtsp, sdp = await self._describe(cam)
        onvif_time = onvif_auth = None
        offset: float | None = None
        device: DeviceInfo | None = None
        stream_failed = (rtsp is not None and not rtsp.ok) or (
            rtsp is None and rtsp_tcp is not None and not rtsp_tcp.ok
        )
        if cam.onvif and (with_onvif or with_device or stream_failed):
            target = OnvifTarget(
                cam.host, cam.onvif_port, cam.username or "", cam.password or "", ONVIF_DEVICE_PATH
            )
            onvif_time, offset, auth_required = await self._clock(target)
            if auth_required and onvif_time.ok and offset is None and cam.password:
                # Some cameras (and ipycam) want a login even for the time: ask once more.
                onvif_time, offset, _ = await self._clock(target, auth=True)
            if with_device and onvif_time.ok:
                onvif_auth, device = await self._device(target, offset or 0.0)
        return Observation(
            cam.camera_id,
            at,
            rtsp_tcp=rtsp_tcp,
            onvif_tcp=onvif_tcp,
            rtsp=rtsp,
            sdp=sdp,
            onvif_time=onvif_time,
            clock_offset_s=offset,
            onvif_auth=onvif_auth,
            device=device,
            expected_serial=cam.expected_serial,
        )

    async def _connect(self, host: str, port: int) -> LayerResult:
        try:
            latency = await self._tcp.connect(host, port, self._timeout_s)
        except ProbeError as exc:
            return _failed(exc)
        return LayerResult(ok=True, latency_ms=latency)

    async def _describe(self, cam: CheckTarget) -> tuple[LayerResult, SdpInfo | None]:
        target = RtspTarget(
            cam.host, cam.rtsp_port, cam.rtsp_path or "/", cam.username, cam.password
        )
        try:
            reply = await self._rtsp.describe(target, self._timeout_s)
        except ProbeError as exc:
            return _failed(exc), None
        return LayerResult(ok=True, latency_ms=reply.latency_ms, status=reply.status), reply.sdp

    async def _clock(
        self, target: OnvifTarget, auth: bool = False
    ) -> tuple[LayerResult, float | None, bool]:
        sent = time.time()
        try:
            clock = await self._onvif.system_date_time(target, self._timeout_s, auth=auth)
        except ProbeError as exc:
            return _failed(exc), None, False
        offset = None
        if clock.utc is not None:
            # The device read its clock about half-way through the round trip.
            midway = sent + clock.latency_ms / 2000
            offset = clock.utc.timestamp() - midway
        return LayerResult(ok=True, latency_ms=clock.latency_ms), offset, clock.auth_required

    async def _device(
        self, target: OnvifTarget, offset_s: float
    ) -> tuple[LayerResult, DeviceInfo | None]:
        try:
            info, latency = await self._onvif.device_information(
                target, self._timeout_s, clock_offset_s=offset_s
            )
        except ProbeError as exc:
            return _failed(exc), None
        return LayerResult(ok=True, latency_ms=latency), info
