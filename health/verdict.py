"""The verdict: what one observation says about a camera's health (pure; DESIGN §5).

``judge`` turns the plain facts of one cheap check into a state and fault codes.  It knows
nothing of history: hysteresis and flapping are the tracker's job (:mod:`bridge.tracker`).

States from the cheap checks:
- ``offline``  — the camera cannot be reached at all (``unreachable``);
- ``degraded`` — it answers, but something is wrong (``rtsp_error``, ``auth_failed``,
  ``onvif_error``, ``clock_drift``, ``replaced``);
- ``online``   — everything checked was fine.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.model import CameraState
from bridge.observation import LayerResult, Observation

# Order in which faults are listed: the most telling first.
FAULT_ORDER = (
    "unreachable",
    "rtsp_error",
    "auth_failed",
    "onvif_error",
    "no_signal",
    "black",
    "frozen",
    "blur",
    "occluded",
    "color_cast",
    "too_dark",
    "too_bright",
    "noise",
    "scene_changed",
    "clock_drift",
    "replaced",
)

# What the frame tier's picture diagnosis can find (health.vqd); the rest come from the
# cheap checks.
PICTURE_FAULTS = frozenset(
    {"no_signal", "black", "frozen", "blur", "occluded", "color_cast", "too_dark",
     "too_bright", "noise", "scene_changed"}
)  # fmt: skip

FAULT_LABELS_ZH = {
    "unreachable": "网络不通",
    "rtsp_error": "视频流异常",
    "auth_failed": "鉴权失败",
    "onvif_error": "ONVIF服务异常",
    "no_signal": "无视频信号",
    "black": "黑屏",
    "frozen": "画面冻结",
    "blur": "模糊",
    "occluded": "遮挡",
    "color_cast": "偏色",
    "too_dark": "亮度异常",
    "too_bright": "亮度异常",
    "noise": "雪花噪声",
    "scene_changed": "场景变换",
    "clock_drift": "时钟偏差",
    "replaced": "设备更换",
}

# The same labels in English (the web page's English switch, the API's ``faults`` stay codes).
FAULT_LABELS_EN = {
    "unreachable": "Network unreachable",
    "rtsp_error": "Video stream error",
    "auth_failed": "Login refused",
    "onvif_error": "ONVIF service error",
    "no_signal": "No video signal",
    "black": "Black picture",
    "frozen": "Frozen picture",
    "blur": "Blurred",
    "occluded": "Blocked view",
    "color_cast": "Colour cast",
    "too_dark": "Too dark",
    "too_bright": "Too bright",
    "noise": "Noisy picture",
    "scene_changed": "Scene changed",
    "clock_drift": "Clock wrong",
    "replaced": "Device replaced",
}

_NO_CONNECTION = frozenset({"unreachable", "timeout"})


@dataclass(frozen=True, slots=True)
class VerdictRules:
    """Thresholds of the verdict (from config)."""

    clock_drift_s: float = 10.0


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """A camera's health according to one observation."""

    state: CameraState
    faults: tuple[str, ...]
    summary: str  # short, safe text for the transition log and `check`


def _no_connection(layer: LayerResult | None) -> bool:
    return layer is not None and not layer.ok and layer.error in _NO_CONNECTION


def _answered(layer: LayerResult | None) -> bool:
    return layer is not None and (layer.ok or layer.error not in _NO_CONNECTION)


def judge(obs: Observation, rules: VerdictRules) -> CameraHealth:
    """The state and faults that ``obs`` shows.  Raises ValueError if no layer ran."""
    layers = {
        "rtsp_tcp": obs.rtsp_tcp,
        "onvif_tcp": obs.onvif_tcp,
        "rtsp": obs.rtsp,
        "onvif_time": obs.onvif_time,
        "onvif_auth": obs.onvif_auth,
    }
    ran = {name: layer for name, layer in layers.items() if layer is not None}
    if not ran:
        raise ValueError(f"observation of {obs.camera_id} has no check layer")
    notes: list[str] = []
    faults: set[str] = set()

    # The service layers decide whether the camera answers; plain TCP connects only decide
    # when no service layer ran, and otherwise explain (a hung camera still accepts TCP).
    services = [
        layer for k in ("rtsp", "onvif_time", "onvif_auth") if (layer := layers[k]) is not None
    ]
    deciding = services or list(ran.values())
    if not any(_answered(layer) for layer in deciding):
        first = deciding[0]
        summary = f"no answer: {first.detail or first.error}"
        if services and any(layer.ok for layer in (obs.rtsp_tcp, obs.onvif_tcp) if layer):
            summary += "; its ports accept connections but no service answers (hung?)"
        return CameraHealth(CameraState.OFFLINE, ("unreachable",), summary)

    rtsp = obs.rtsp
    if rtsp is not None:
        if rtsp.ok and obs.sdp is not None and not obs.sdp.has_video:
            faults.add("rtsp_error")
            notes.append("RTSP: no video track in SDP")
        elif not rtsp.ok and rtsp.error == "auth_failed":
            faults.add("auth_failed")
            notes.append(f"RTSP: {rtsp.detail or 'credentials rejected'}")
        elif not rtsp.ok:
            faults.add("rtsp_error")
            notes.append(f"RTSP: {rtsp.detail or rtsp.error}")
    elif _no_connection(obs.rtsp_tcp):
        faults.add("rtsp_error")
        notes.append("RTSP port closed")

    for name in ("onvif_time", "onvif_auth"):
        layer = layers[name]
        if layer is None or layer.ok:
            continue
        if layer.error == "auth_failed" and name == "onvif_auth":
            faults.add("auth_failed")
        else:
            faults.add("onvif_error")
        notes.append(f"ONVIF: {layer.detail or layer.error}")

    if obs.clock_offset_s is not None and abs(obs.clock_offset_s) > rules.clock_drift_s:
        faults.add("clock_drift")
        notes.append(f"clock off by {obs.clock_offset_s:+.0f} s")
    if (
        obs.device is not None
        and obs.expected_serial
        and obs.device.serial
        and obs.device.serial != obs.expected_serial
    ):
        faults.add("replaced")
        notes.append("serial number changed")

    ordered = tuple(f for f in FAULT_ORDER if f in faults)
    if ordered:
        return CameraHealth(CameraState.DEGRADED, ordered, "; ".join(notes))
    return CameraHealth(CameraState.ONLINE, (), "ok")


def with_picture(health: CameraHealth, picture_faults: tuple[str, ...]) -> CameraHealth:
    """The verdict of a cheap check with the picture faults the frame tier confirmed: a
    camera that answers but shows a wrong picture is ``degraded``.  An offline camera stays
    offline with its own fault (its last picture says nothing about now)."""
    if not picture_faults or health.state is CameraState.OFFLINE:
        return health
    faults = set(health.faults) | set(picture_faults)
    ordered = tuple(f for f in FAULT_ORDER if f in faults)
    picture = "picture: " + ", ".join(f for f in FAULT_ORDER if f in picture_faults)
    summary = picture if health.state is CameraState.ONLINE else f"{health.summary}; {picture}"
    return CameraHealth(CameraState.DEGRADED, ordered, summary)
