"""What one check of one camera saw: plain facts, no judgement (DESIGN §3).

Adapters fill these in; :mod:`health.verdict` judges them; the tracker decides transitions.
Pure: no I/O.  Nothing here holds a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LayerResult:
    """The outcome of one check layer.

    ``error`` is ``None`` on success, else one of the adapters' error codes: ``unreachable``,
    ``timeout``, ``auth_failed``, ``protocol``.  ``status`` is the protocol's status code when
    there was one (RTSP/HTTP).  ``detail`` is a short safe text for people.
    """

    ok: bool
    latency_ms: float | None = None
    error: str | None = None
    status: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SdpInfo:
    """What the SDP of a DESCRIBE says about the video."""

    has_video: bool
    codec: str | None = None  # "H264", "H265", "JPEG", …
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    media_count: int = 0


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """ONVIF GetDeviceInformation."""

    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    hardware_id: str = ""


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything one cheap check of a camera saw.

    A layer that did not run is ``None``.  ``clock_offset_s`` is device time minus our time
    (positive: the camera runs ahead).  ``expected_serial`` is the serial recorded at
    onboarding, to tell a replaced device.
    """

    camera_id: str
    at: datetime
    rtsp_tcp: LayerResult | None = None
    onvif_tcp: LayerResult | None = None
    rtsp: LayerResult | None = None
    sdp: SdpInfo | None = None
    onvif_time: LayerResult | None = None
    clock_offset_s: float | None = None
    onvif_auth: LayerResult | None = None
    device: DeviceInfo | None = None
    expected_serial: str | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """One ONVIF media profile, as far as onboarding needs it (``None``: not stated)."""

    token: str
    name: str = ""
    encoding: str | None = None  # "H264", "H265", "JPEG", …
    width: int | None = None
    height: int | None = None
    fps: float | None = None


@dataclass(frozen=True, slots=True)
class OnboardResult:
    """What ONVIF onboarding learnt about a camera, cached in the store.

    The URIs already point at the camera's configured host (never at an address the camera
    handed out) and carry no credentials.  ``stream_uri`` belongs to the first profile.
    ``services`` are the namespaces of the ONVIF services the camera offers, sorted.
    """

    device: DeviceInfo
    profiles: tuple[Profile, ...] = ()
    stream_uri: str | None = None
    snapshot_uri: str | None = None
    services: tuple[str, ...] = ()
