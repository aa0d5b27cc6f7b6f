"""Fault kinds a simulated camera can be given, and validation of a faults mapping.

A faults mapping (the faults file and the body of ``POST /faults``, DESIGN §11) is a JSON
object: camera ID → a kind string, or an object ``{"kind": …, …parameters}``.  Validation
checks everything and reports every problem at once; nothing is applied unless all is well.

The registry ``KINDS`` is the one list of kinds: adding a kind means adding an entry here and
handling it where the camera answers.  Picture kinds (``PICTURE_KINDS``, plus ``night_ir``)
change only the picture — snapshot and RTSP stream — and leave every control answer healthy.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["KINDS", "PICTURE_KINDS", "Fault", "FaultError", "FaultKind", "parse_faults"]


class FaultError(ValueError):
    """A faults mapping is invalid; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class Param:
    """One numeric parameter of a fault kind: default and inclusive bounds."""

    default: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class FaultKind:
    """A kind of fault: its name, what it does, and its parameters."""

    name: str
    summary: str
    params: Mapping[str, Param] = field(default_factory=dict)


def _kind(name: str, summary: str, **params: Param) -> tuple[str, FaultKind]:
    return name, FaultKind(name, summary, MappingProxyType(params))


# The picture faults of DESIGN §5, as bridge.simulator.pictures renders them (named here too so
# that validating a faults file does not import OpenCV).
PICTURE_KINDS = (
    "black", "frozen", "blur", "occluded", "color_cast", "too_dark", "too_bright", "noise",
    "no_signal", "scene_changed",
)  # fmt: skip


def _strength() -> Param:
    return Param(1.0, 0.1, 1.0)


KINDS: Mapping[str, FaultKind] = MappingProxyType(
    dict(
        [
            _kind("down", "both ports refuse connections"),
            _kind("blackhole", "both ports accept connections and never answer"),
            _kind(
                "slow",
                "every reply is delayed by latency_ms",
                latency_ms=Param(2000, 0, 600_000),
            ),
            _kind("auth_fail", "every credential is rejected (RTSP 401, ONVIF NotAuthorized)"),
            _kind("rtsp_500", "RTSP DESCRIBE answers 500 Internal Server Error"),
            _kind("no_video_track", "RTSP DESCRIBE answers an SDP with an audio track only"),
            _kind("bad_xml", "ONVIF replies are malformed XML"),
            _kind("xml_bomb", "ONVIF replies carry a billion-laughs DTD"),
            _kind(
                "huge_body",
                "ONVIF replies are mb megabytes long (streamed, declared in Content-Length)",
                mb=Param(100, 0.001, 100_000),
            ),
            _kind(
                "clock_drift",
                "the device clock (ONVIF, RTSP Date, snapshot) is off by offset_s",
                offset_s=Param(300, -10 * 365 * 86400, 10 * 365 * 86400),
            ),
            _kind("replaced", "GetDeviceInformation reports a different serial number"),
            _kind(
                "flapping",
                "down for period_s, then up for period_s, and so on (starts down)",
                period_s=Param(60, 0.05, 86400),
            ),
            _kind("black", "picture: dark and flat (strength 1: lens cap)", strength=_strength()),
            _kind("frozen", "picture: the frame of the moment the fault was set, ever after"),
            _kind("blur", "picture: out of focus (strength: how far)", strength=_strength()),
            _kind(
                "occluded",
                "picture: something on the lens covers 30 % + 40 % x strength of the view",
                strength=_strength(),
            ),
            _kind("color_cast", "picture: a strong colour tint", strength=_strength()),
            _kind(
                "too_dark",
                "picture: underexposed, mean grey 28 - 10 x strength",
                strength=_strength(),
            ),
            _kind(
                "too_bright",
                "picture: overexposed, mean grey 226 + 18 x strength",
                strength=_strength(),
            ),
            _kind("noise", "picture: heavy snow and interference", strength=_strength()),
            _kind("no_signal", "picture: the encoder's uniform 'NO SIGNAL' screen"),
            _kind("scene_changed", "picture: another street (the camera was turned or moved)"),
            _kind("night_ir", "picture: healthy, in infrared night mode (grey) — not a fault"),
        ]
    )
)


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault given to one camera: its kind and every parameter (defaults filled in)."""

    kind: str
    params: Mapping[str, float] = field(default_factory=dict)

    def param(self, name: str) -> float:
        """The value of a parameter of this fault's kind (its default when not given)."""
        value = self.params.get(name)
        return KINDS[self.kind].params[name].default if value is None else value

    def to_json(self) -> dict[str, object]:
        """``{"kind": …, …parameters}``, the form ``parse_faults`` accepts."""
        return {"kind": self.kind, **self.params}


def _known_kinds() -> str:
    return ", ".join(KINDS)


def _parse_one(camera_id: str, spec: object, problems: list[str]) -> Fault | None:
    where = f"{camera_id}:"
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, Mapping):
        problems.append(f"{where} must be a kind string or an object with 'kind'")
        return None
    name = spec.get("kind")
    if not isinstance(name, str):
        problems.append(f"{where} 'kind' missing or not a string (known: {_known_kinds()})")
        return None
    kind = KINDS.get(name)
    if kind is None:
        problems.append(f"{where} unknown kind {name!r} (known: {_known_kinds()})")
        return None
    params: dict[str, float] = {}
    ok = True
    for key, value in spec.items():
        if key == "kind":
            continue
        rule = kind.params.get(key)
        if rule is None:
            allowed = ", ".join(kind.params) or "none"
            problems.append(f"{where} {name} has no parameter {key!r} (parameters: {allowed})")
            ok = False
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not rule.low <= value <= rule.high
        ):
            problems.append(f"{where} {name}.{key} must be a number in [{rule.low}, {rule.high}]")
            ok = False
        else:
            params[key] = value
    for key, rule in kind.params.items():
        params.setdefault(key, rule.default)
    return Fault(name, MappingProxyType(params)) if ok else None


def parse_faults(data: object, known_ids: Collection[str]) -> dict[str, Fault]:
    """Validate a faults mapping; return camera ID → ``Fault``.

    Raises ``FaultError`` listing every problem (not an object, unknown camera IDs, unknown
    kinds, unknown parameters, values out of bounds) — all or nothing.
    """
    if not isinstance(data, Mapping):
        raise FaultError('faults must be a JSON object: camera ID → kind or {"kind": …}')
    problems: list[str] = []
    faults: dict[str, Fault] = {}
    for camera_id, spec in data.items():
        if camera_id not in known_ids:
            problems.append(f"{str(camera_id)[:40]!r}: no such camera in the inventory")
            continue
        fault = _parse_one(camera_id, spec, problems)
        if fault is not None:
            faults[camera_id] = fault
    if problems:
        shown = problems[:20] + ([f"… {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise FaultError("invalid faults: " + "; ".join(shown))
    return faults
