"""Reading the ONVIF device service's SOAP replies: envelope, faults, clock, device info.

Pure (no I/O): bytes in, values or domain errors out.  Parsing goes through
`adapters.safexml` (no DTD, no entities, size cap).  Elements are found by local name in any
namespace: cameras differ in prefixes and in SOAP 1.1 vs 1.2.  Used by `adapters.onvif_soap`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from lxml import etree  # type: ignore[import-untyped]  # no stubs installed

from adapters.errors import ProtocolFailure
from adapters.safexml import parse_xml
from bridge.observation import DeviceInfo

__all__ = [
    "SoapFault",
    "is_auth_fault",
    "parse_device_information",
    "parse_system_date_time",
    "posix_utc_offset",
    "response_element",
]

# Fault (sub)codes that mean "who are you?" rather than "what do you mean?".
_AUTH_CODES = frozenset(
    {"NotAuthorized", "FailedAuthentication", "InvalidSecurityToken", "InvalidSecurity"}
)
# Some firmwares state it only in words, e.g. ipycam 1.3 ("Sender not authorized", with
# code s:Receiver) and several Dahua models ("Authority failure").
_AUTH_REASON = re.compile(r"not\s*authori[sz]ed|unauthori[sz]ed|authenticat|authority", re.I)
_MAX_TEXT = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class SoapFault(Exception):
    """A SOAP fault (or an HTTP status meaning one) in a reply; internal to the adapters.

    ``auth`` tells an authentication fault; `as_error` gives the `ProtocolFailure` to raise
    for any other.
    """

    def __init__(
        self, codes: tuple[str, ...], reason: str, status: int | None, *, auth: bool
    ) -> None:
        super().__init__(codes, reason)
        self.codes = codes
        self.reason = reason
        self.status = status
        self.auth = auth

    def as_error(self) -> ProtocolFailure:
        code = self.codes[-1] if self.codes else "unknown"
        text = f"SOAP fault {code}" + (f": {self.reason}" if self.reason else "")
        return ProtocolFailure(text, status=self.status)


def _clean(text: str | None) -> str:
    return _CONTROL.sub(" ", text or "").strip()[:_MAX_TEXT]


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def is_auth_fault(codes: tuple[str, ...], reason: str) -> bool:
    """True when a fault's codes (any prefix) or reason say the credentials were refused."""
    return any(_local(code) in _AUTH_CODES for code in codes) or bool(_AUTH_REASON.search(reason))


def _fault(fault: etree._Element, status: int) -> SoapFault:
    # SOAP 1.2: Code/Value, Subcode/Value …, Reason/Text; SOAP 1.1: faultcode, faultstring.
    codes = tuple(
        _clean(el.text) for el in fault.iter("{*}Value", "{*}faultcode") if _clean(el.text)
    )
    reason = _clean(fault.findtext("{*}Reason/{*}Text") or fault.findtext("{*}faultstring"))
    return SoapFault(codes, reason, status, auth=is_auth_fault(codes, reason))


def response_element(status: int, data: bytes, action: str, max_bytes: int) -> etree._Element:
    """The ``{action}Response`` element of a SOAP reply.

    Raises `SoapFault` when the reply is a fault, `ProtocolFailure` when it is no SOAP
    envelope, a non-200 status without a fault, or lacks the response element.
    """
    try:
        root = parse_xml(data, max_bytes=max_bytes)
    except ProtocolFailure as exc:
        if status != 200:
            raise ProtocolFailure(f"HTTP {status}", status=status) from None
        exc.status = status
        raise
    if etree.QName(root).localname != "Envelope":
        raise ProtocolFailure("reply is not a SOAP envelope", status=status)
    body = root.find("{*}Body")
    if body is None:
        raise ProtocolFailure("SOAP reply without a Body", status=status)
    fault = body.find("{*}Fault")
    if fault is not None:
        raise _fault(fault, status)
    if status != 200:
        raise ProtocolFailure(f"HTTP {status}", status=status)
    response = body.find(f"{{*}}{action}Response")
    if response is None:
        raise ProtocolFailure(f"reply has no {action}Response", status=status)
    return response


def parse_device_information(response: etree._Element) -> DeviceInfo:
    """`DeviceInfo` from a ``GetDeviceInformationResponse`` (missing fields are empty;
    each kept to 256 printable characters)."""
    return DeviceInfo(
        manufacturer=_clean(response.findtext("{*}Manufacturer")),
        model=_clean(response.findtext("{*}Model")),
        firmware=_clean(response.findtext("{*}FirmwareVersion")),
        serial=_clean(response.findtext("{*}SerialNumber")),
        hardware_id=_clean(response.findtext("{*}HardwareId")),
    )


def parse_system_date_time(response: etree._Element) -> datetime | None:
    """The camera's time (aware UTC) from a ``GetSystemDateAndTimeResponse``.

    UTCDateTime when given; else LocalDateTime shifted by the POSIX TimeZone (and
    DaylightSavings); ``None`` when neither gives a time.  Out-of-range fields that some
    firmwares send (minute 61) are carried over, not refused.  Raises `ProtocolFailure` for
    non-numeric or absurd fields.
    """
    info = response.find("{*}SystemDateAndTime")
    if info is None:
        raise ProtocolFailure("reply has no SystemDateAndTime")
    utc = info.find("{*}UTCDateTime")
    if utc is not None:
        return _datetime(utc, timedelta(0))
    local = info.find("{*}LocalDateTime")
    tz = info.findtext("{*}TimeZone/{*}TZ")
    if local is None or not tz:
        return None
    dst = (info.findtext("{*}DaylightSavings") or "").strip().lower() in ("true", "1")
    offset = posix_utc_offset(tz, dst=dst)
    return None if offset is None else _datetime(local, offset)


_DATE_FIELDS = {"Year": (1970, 9998), "Month": (1, 12), "Day": (1, 31)}
_TIME_FIELDS = {"Hour": (0, 99), "Minute": (0, 99), "Second": (0, 99)}


def _fields(part: etree._Element | None, limits: dict[str, tuple[int, int]]) -> dict[str, int]:
    # One pass over the few children by local name: cheaper than a wildcard path per field
    # (this runs on every heartbeat).
    texts = {}
    if part is not None:
        for child in part:
            if isinstance(child.tag, str):
                texts[child.tag.rpartition("}")[2]] = child.text
    values = {}
    for name, (low, high) in limits.items():
        try:
            value = int((texts.get(name) or "").strip())
        except ValueError:
            raise ProtocolFailure(f"date/time field {name} is not a number") from None
        if not low <= value <= high:
            raise ProtocolFailure(f"date/time field {name} out of range")
        values[name] = value
    return values


def _datetime(element: etree._Element, to_utc: timedelta) -> datetime:
    date = _fields(element.find("{*}Date"), _DATE_FIELDS)
    time = _fields(element.find("{*}Time"), _TIME_FIELDS)
    try:
        day = datetime(date["Year"], date["Month"], date["Day"], tzinfo=UTC)
    except ValueError:
        raise ProtocolFailure("date/time is not a calendar date") from None
    clock = timedelta(hours=time["Hour"], minutes=time["Minute"], seconds=time["Second"])
    return day + clock + to_utc


_POSIX_TZ = re.compile(
    r"\s*(?:<[^>]*>|[A-Za-z]{3,})"  # std name
    r"(?P<h>[+-]?\d{1,2})(?::(?P<m>\d{1,2}))?(?::(?P<s>\d{1,2}))?"  # std offset
    r"(?:(?P<dst><[^>]*>|[A-Za-z]{3,})"  # dst name
    r"(?:(?P<dh>[+-]?\d{1,2})(?::(?P<dm>\d{1,2}))?(?::(?P<ds>\d{1,2}))?)?)?"  # dst offset
)


def posix_utc_offset(tz: str, *, dst: bool) -> timedelta | None:
    """What to add to local time to get UTC, by a POSIX TZ string as ONVIF specifies it
    ("CST-8" is UTC+8, so -8 h; "EST5EDT" with ``dst`` is +4 h).  ``None`` when ``tz`` is
    not POSIX.  Note that POSIX signs are the reverse of ISO 8601's: a camera that writes
    "GMT+08:00" meaning UTC+8 breaks the standard, and is read as the standard says."""
    if tz.strip().upper() in ("UTC", "GMT", "Z"):
        return timedelta(0)
    match = _POSIX_TZ.match(tz)
    if match is None:
        return None

    def offset(hours: str, minutes: str | None, seconds: str | None) -> timedelta:
        sign = -1 if hours.startswith("-") else 1
        return sign * timedelta(
            hours=abs(int(hours)), minutes=int(minutes or 0), seconds=int(seconds or 0)
        )

    std = offset(match["h"], match["m"], match["s"])
    if not dst or match["dst"] is None:
        return std
    if match["dh"] is not None:
        return offset(match["dh"], match["dm"], match["ds"])
    return std - timedelta(hours=1)
