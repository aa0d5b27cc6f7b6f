"""The payloads of the bus, built and parsed in one place (DESIGN §4; schemas in docs/schemas).

Every JSON payload is UTF-8, compact (no spaces), with non-ASCII text as is (not ``\\u``
escapes), keys in a fixed order, and never contains ``NaN`` or ``Infinity`` (a measurement
that is not finite is ``null``).  Times are ISO 8601 in UTC to the second
(``2025-06-01T08:00:00+00:00``); builders refuse naive datetimes.

Nothing secret can reach a payload: :class:`CameraInfo` has no credential or stream URL
field, and a ``snapshot_url`` carrying a user name or password is refused.

Requests come from workstations, which are untrusted: :func:`parse_request` caps the size,
accepts one JSON object with a known ``action``, and raises nothing but
:class:`RequestError` whatever the bytes.

Pure: no I/O.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast
from urllib.parse import urlsplit

from bridge.bus.summaries import STATES, online_rate
from bridge.bus.topics import GridPath
from bridge.model import CameraState, CameraView
from health.verdict import FAULT_LABELS_ZH, FAULT_ORDER

STATUS_SCHEMA: Final = "gridbridge.status/1"
SUMMARY_SCHEMA: Final = "gridbridge.summary/1"
RESPONSE_SCHEMA: Final = "gridbridge.response/1"

Action = Literal["snapshot", "recheck"]
ACTIONS: tuple[Action, ...] = ("snapshot", "recheck")

MAX_REQUEST_BYTES: Final = 4096
MAX_ID_CHARS: Final = 64
"""Longest request ``id`` (and ``client``), in characters; an integer id counts its digits."""
MAX_ERROR_CHARS: Final = 200

_FAULT_RANK = {code: i for i, code in enumerate(FAULT_ORDER)}
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """What the bus says about a camera besides its state (from the inventory).

    ``grids`` are the codes of every cell it is linked to; ``lon``/``lat`` are WGS-84;
    ``upstream`` is the NVR/switch it hangs off (上级设备).  No secret has a field here.
    """

    id: str
    name: str
    grids: tuple[str, ...]
    key_location: bool
    address: str
    vendor: str
    model: str
    lon: float | None
    lat: float | None
    upstream: str | None


def camera_info(view: CameraView) -> CameraInfo:
    """The bus's view of a camera as the store lists it (WGS-84 position, every grid link)."""
    return CameraInfo(
        id=view.id,
        name=view.name,
        grids=tuple(view.grids),
        key_location=view.key_location,
        address=view.address,
        vendor=view.vendor,
        model=view.model,
        lon=view.lon_wgs84,
        lat=view.lat_wgs84,
        upstream=view.upstream_id,
    )


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """The state part of a status: the tracker's published state and the last check's
    measurements.  ``state`` is a :class:`~bridge.model.CameraState` value."""

    state: str
    faults: tuple[str, ...]
    flapping: bool
    since: datetime | None
    checked_at: datetime | None
    rtsp_ms: float | None = None
    onvif_ms: float | None = None
    clock_offset_s: float | None = None
    thumbnail_sha256: str | None = None


class RequestError(ValueError):
    """A request that cannot be served, with a message fit for the error response.

    ``request_id`` is the request's ``id`` when it could be read (echo it in the error
    response), else ``None``.
    """

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request.  ``id`` is echoed in the response, always as a string (an integer
    id ``42`` comes back as ``"42"``); ``client`` optionally names the sender (rate limits
    per client on MQTT 3.1.1, where there are no user properties)."""

    action: Action
    id: str | None
    client: str | None = None


def _encode(document: dict[str, Any]) -> bytes:
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # A lone surrogate (only from a bad decode upstream) must not make publishing fail.
    return text.encode("utf-8", "replace")


def _time(value: datetime | None, what: str) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} is a naive datetime; the bus needs aware ones")
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _number(value: float | None, digits: int) -> float | None:
    return round(float(value), digits) if value is not None and math.isfinite(value) else None


def _faults(codes: tuple[str, ...]) -> list[str]:
    """Without repeats, most telling first (``FAULT_ORDER``); unknown codes after, sorted."""
    return sorted(set(codes), key=lambda code: (_FAULT_RANK.get(code, len(_FAULT_RANK)), code))


def _state(state: str) -> str:
    try:
        return CameraState(state).value
    except ValueError:
        raise ValueError(f"unknown camera state {state!r}") from None


def _check_snapshot_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("snapshot_url must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("snapshot_url must not carry credentials")
    return url


def _path(path: GridPath) -> dict[str, str]:
    return {"town": path.town, "village": path.village, "grid": path.grid}


def status_payload(
    cam: CameraInfo, path: GridPath, facts: StatusFacts, *, snapshot_url: str | None
) -> bytes:
    """The retained status of ``cam`` as published under ``path`` (schema
    ``gridbridge.status/1``, docs/schemas/status.schema.json).

    Fields, in order: ``schema``, ``id``, ``name``, ``path``, ``grids``, ``state``,
    ``faults``, ``faults_zh`` (Chinese label of each fault, same order), ``flapping``,
    ``since``, ``checked_at``, ``latency_ms`` ``{rtsp, onvif}``, ``clock_offset_s``,
    ``snapshot_url``, ``thumbnail_sha256``, ``key_location``, ``address``, ``vendor``,
    ``model``, ``upstream``, ``location`` (``{lon, lat}`` or ``null``).  Latencies are
    rounded to 0.1 ms, the clock offset to 1 ms, coordinates to 6 decimals (~0.1 m).

    Raises ``ValueError`` for an unknown state, a naive datetime, a thumbnail hash that is
    not 64 lowercase hex digits, or a ``snapshot_url`` that is not plain http(s) or carries
    credentials.
    """
    faults = _faults(facts.faults)
    if facts.thumbnail_sha256 is not None and not _SHA256.fullmatch(facts.thumbnail_sha256):
        raise ValueError("thumbnail_sha256 must be 64 lowercase hex digits")
    lon, lat = _number(cam.lon, 6), _number(cam.lat, 6)
    document = {
        "schema": STATUS_SCHEMA,
        "id": cam.id,
        "name": cam.name,
        "path": _path(path),
        "grids": list(cam.grids),
        "state": _state(facts.state),
        "faults": faults,
        "faults_zh": [FAULT_LABELS_ZH.get(code, code) for code in faults],
        "flapping": bool(facts.flapping),
        "since": _time(facts.since, "since"),
        "checked_at": _time(facts.checked_at, "checked_at"),
        "latency_ms": {"rtsp": _number(facts.rtsp_ms, 1), "onvif": _number(facts.onvif_ms, 1)},
        "clock_offset_s": _number(facts.clock_offset_s, 3),
        "snapshot_url": _check_snapshot_url(snapshot_url) if snapshot_url is not None else None,
        "thumbnail_sha256": facts.thumbnail_sha256,
        "key_location": bool(cam.key_location),
        "address": cam.address,
        "vendor": cam.vendor,
        "model": cam.model,
        "upstream": cam.upstream,
        "location": {"lon": lon, "lat": lat} if lon is not None and lat is not None else None,
    }
    return _encode(document)


def summary_payload(level: str, path: GridPath, counts: Mapping[str, int], at: datetime) -> bytes:
    """The retained summary of one cell (schema ``gridbridge.summary/1``).

    ``path`` names the cell as a summary key does (``bridge.bus.summaries``): ``t/v/g`` for
    a grid, ``t/v/_`` for a village, ``t/_/_`` for a township; ``level`` must match it.
    ``counts`` maps states to counts (missing states count 0; ``Counts`` fits).  ``at`` is
    when the counts were computed (the change, or the re-publish after a reconnect).
    Fields: ``schema``, ``level``, ``code``, ``path``, ``counts`` ``{online, degraded,
    offline, unknown}``, ``total``, ``online_rate`` (``online / (total − unknown)`` to 4
    decimals, ``null`` when no state is known), ``at``.

    Raises ``ValueError`` for a level that does not match the path, an unknown state or a
    count that is not a non-negative integer.
    """
    if path.level is None or level != path.level:
        raise ValueError(f"path {path.segments()!r} is not a {level} cell")
    for state, count in counts.items():
        if state not in STATES:
            raise ValueError(f"unknown state {state!r} in counts")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"count of {state} must be a non-negative integer, got {count!r}")
    plain = {state: counts.get(state, 0) for state in STATES}
    rate = online_rate(plain)
    document = {
        "schema": SUMMARY_SCHEMA,
        "level": level,
        "code": path.code,
        "path": _path(path),
        "counts": plain,
        "total": sum(plain.values()),
        "online_rate": round(rate, 4) if rate is not None else None,
        "at": _time(at, "at"),
    }
    return _encode(document)


def bridge_state_payload(online: bool) -> bytes:
    """``b"online"`` or ``b"offline"``: plain text, not JSON (Zigbee2MQTT's convention, and
    what a broker's last will can carry without the bridge)."""
    return b"online" if online else b"offline"


def _plain(value: Any) -> Any:
    """JSON values for response data: datetimes as ISO 8601 UTC, enums by value, tuples as
    lists, non-finite floats as null.  Raises ``ValueError`` for anything else."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, datetime):
        return _time(value, "a datetime in data")
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    raise ValueError(f"response data cannot hold a {type(value).__name__}")


def response_payload(
    request_id: str | None,
    ok: bool,
    *,
    action: str | None,
    error: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> bytes:
    """The answer to one request (schema ``gridbridge.response/1``), not retained.

    Fields: ``schema``, ``id`` (the request's id as a string, ``null`` when it had none or
    it could not be read), ``ok``, ``action`` (``null`` when the request had no valid one),
    ``error`` (a short English message, cut to 200 characters; ``null`` when ok), ``data``
    (an object, or ``null``).  Raises ``ValueError`` when ``ok`` and ``error`` disagree, for
    an unknown action, an id longer than 64 characters or data that is not JSON-able.
    """
    if ok == (error is not None):
        raise ValueError("a response has an error exactly when it is not ok")
    if action is not None and action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if request_id is not None and len(request_id) > MAX_ID_CHARS:
        raise ValueError(f"request id longer than {MAX_ID_CHARS} characters")
    if error is not None and len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS - 1] + "…"
    document = {
        "schema": RESPONSE_SCHEMA,
        "id": request_id,
        "ok": ok,
        "action": action,
        "error": error,
        "data": _plain(data) if data is not None else None,
    }
    return _encode(document)


# --- parsing requests ---------------------------------------------------------------------


def _show(value: object) -> str:
    return repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."


class _Constant(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's json reads them, JSON has none."""


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


def _short_text(value: object, what: str, request_id: str | None = None) -> str | None:
    """A string or integer (as its decimal string) of at most 64 characters; ``None`` for
    null or a missing field.  Raises ``RequestError`` (carrying ``request_id``) otherwise."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(f"{what} is not valid Unicode text", request_id) from None
    else:
        raise RequestError(
            f"{what} must be a string of at most {MAX_ID_CHARS} characters or an integer",
            request_id,
        )
    if len(text) > MAX_ID_CHARS:
        raise RequestError(f"{what} is longer than {MAX_ID_CHARS} characters", request_id)
    return text


def parse_request(payload: bytes, *, max_bytes: int = MAX_REQUEST_BYTES) -> Request:
    """Read one request: a JSON object (UTF-8, a BOM tolerated) of at most ``max_bytes``
    with ``action`` (``"snapshot"`` or ``"recheck"``, exactly), an optional ``id`` (string
    of at most 64 characters, or an integer of at most 64 digits) and an optional ``client``
    (same rule).  Other fields are ignored, so that clients
    can send more than this version knows.

    Raises :class:`RequestError` — and nothing else, whatever the bytes — for an empty,
    oversized, non-UTF-8, non-JSON (``NaN`` included) or too deeply nested payload, a
    payload that is not an object, a missing or unknown action, or a bad id or client.  The
    error carries the id when it was readable, so that the error response can echo it.
    """
    if max_bytes < 1:
        raise ValueError("max_bytes must be positive")
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise RequestError("request payload is not bytes")
    data = bytes(payload)
    if not data:
        raise RequestError("empty request: expected a JSON object")
    if len(data) > max_bytes:
        raise RequestError(f"request is {len(data)} bytes, at most {max_bytes}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RequestError("request is not UTF-8 text") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"request is not valid JSON ({exc.msg} at character {exc.pos})"
        ) from None
    except _Constant as exc:
        raise RequestError(f"request is not valid JSON ({exc} is not a JSON value)") from None
    except (ValueError, RecursionError):  # a number past Python's digit limit; deep nesting
        raise RequestError("request is not valid JSON (nested too deep or out of range)") from None
    if not isinstance(document, dict):
        raise RequestError("request must be a JSON object")
    request_id = _short_text(document.get("id"), "id")
    client = _short_text(document.get("client"), "client", request_id)
    action = document.get("action")
    if action is None:
        raise RequestError("missing action: expected snapshot or recheck", request_id)
    if action not in ACTIONS:
        raise RequestError(
            f"unknown action {_show(action)}: expected snapshot or recheck", request_id
        )
    return Request(cast(Action, action), request_id, client)
