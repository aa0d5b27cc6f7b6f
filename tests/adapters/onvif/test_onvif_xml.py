"""Reading SOAP replies: envelope and faults, the camera's clock, device information."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.errors import ProtocolFailure
from adapters.onvif_xml import (
    SoapFault,
    parse_device_information,
    parse_system_date_time,
    posix_utc_offset,
    response_element,
)
from bridge.observation import DeviceInfo

CAP = 1 << 20


def clock(soap, inner: str) -> datetime | None:
    body = (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        f"{inner}</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )
    reply = soap.envelope(body).encode()
    return parse_system_date_time(response_element(200, reply, "GetSystemDateAndTime", CAP))


def stamp(tag: str, y: int, mo: int, d: int, h: int, mi: int, s: int) -> str:
    return (
        f"<tt:{tag}><tt:Time><tt:Hour>{h}</tt:Hour><tt:Minute>{mi}</tt:Minute>"
        f"<tt:Second>{s}</tt:Second></tt:Time><tt:Date><tt:Year>{y}</tt:Year>"
        f"<tt:Month>{mo}</tt:Month><tt:Day>{d}</tt:Day></tt:Date></tt:{tag}>"
    )


def test_utc_time_is_read(soap) -> None:
    at = clock(soap, stamp("UTCDateTime", 2025, 3, 1, 8, 30, 5))
    assert at == datetime(2025, 3, 1, 8, 30, 5, tzinfo=UTC)


def test_local_time_with_posix_zone_when_no_utc(soap) -> None:
    inner = "<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone>" + stamp(
        "LocalDateTime", 2025, 3, 1, 16, 30, 5
    )
    assert clock(soap, inner) == datetime(2025, 3, 1, 8, 30, 5, tzinfo=UTC)
    dst = (
        "<tt:DaylightSavings>true</tt:DaylightSavings><tt:TimeZone><tt:TZ>EST5EDT,M3.2.0,M11.1.0"
        "</tt:TZ></tt:TimeZone>" + stamp("LocalDateTime", 2025, 7, 1, 8, 0, 0)
    )
    assert clock(soap, dst) == datetime(2025, 7, 1, 12, 0, 0, tzinfo=UTC)


def test_no_usable_time_is_none(soap) -> None:
    assert clock(soap, stamp("LocalDateTime", 2025, 3, 1, 16, 30, 5)) is None
    assert clock(soap, "<tt:DateTimeType>Manual</tt:DateTimeType>") is None


def test_overflowing_fields_carry_over(soap) -> None:
    # Seen on cameras: 00:61:16 for 01:01:16.
    at = clock(soap, stamp("UTCDateTime", 2024, 8, 17, 0, 61, 16))
    assert at == datetime(2024, 8, 17, 1, 1, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    "fields",
    [
        (2025, 13, 1, 0, 0, 0),
        (2025, 2, 30, 0, 0, 0),
        (99999, 1, 1, 0, 0, 0),
        (2025, 1, 1, -1, 0, 0),
    ],
)
def test_absurd_dates_are_protocol_failures(soap, fields: tuple[int, ...]) -> None:
    with pytest.raises(ProtocolFailure):
        clock(soap, stamp("UTCDateTime", *fields))


def test_non_numeric_fields_are_protocol_failures(soap) -> None:
    with pytest.raises(ProtocolFailure, match="not a number"):
        clock(soap, stamp("UTCDateTime", 2025, 1, 1, 0, 0, 0).replace(">2025<", ">soon<"))


@pytest.mark.parametrize(
    ("tz", "dst", "hours"),
    [
        ("CST-8", False, -8),
        ("CST-8:00:00", False, -8),
        ("<+08>-8", False, -8),
        ("IST-5:30", False, -5.5),
        ("EST5EDT", False, 5),
        ("EST5EDT", True, 4),
        ("EST5EDT4,M3.2.0,M11.1.0", True, 4),
        ("CST-8", True, -8),  # no DST rule: the flag alone changes nothing
        ("UTC", False, 0),
        ("GMT+00:00", False, 0),
    ],
)
def test_posix_zones(tz: str, dst: bool, hours: float) -> None:
    assert posix_utc_offset(tz, dst=dst) == timedelta(hours=hours)


def test_unreadable_zone_is_none() -> None:
    assert posix_utc_offset("Asia/Shanghai", dst=False) is None
    assert posix_utc_offset("", dst=False) is None


def test_device_information_fields_cleaned_and_bounded(soap) -> None:
    reply = soap.envelope(
        "<tds:GetDeviceInformationResponse><tds:Manufacturer> HIKVISION\n</tds:Manufacturer>"
        f"<tds:Model>{'M' * 1000}</tds:Model><tds:SerialNumber>\tDS-1\t</tds:SerialNumber>"
        "</tds:GetDeviceInformationResponse>"
    ).encode()
    info = parse_device_information(response_element(200, reply, "GetDeviceInformation", CAP))
    assert info == DeviceInfo("HIKVISION", "M" * 256, "", "DS-1", "")


def test_soap12_fault_with_subcode(soap) -> None:
    reply = soap.fault12("s:Sender", "Sender not Authorized", "ter:NotAuthorized").encode()
    with pytest.raises(SoapFault) as info:
        response_element(400, reply, "GetDeviceInformation", CAP)
    assert info.value.auth
    assert info.value.codes == ("s:Sender", "ter:NotAuthorized")


def test_soap11_fault(soap) -> None:
    reply = soap.fault11(
        "wsse:FailedAuthentication", "The security token could not be authenticated"
    )
    with pytest.raises(SoapFault) as info:
        response_element(500, reply.encode(), "GetDeviceInformation", CAP)
    assert info.value.auth
    other = soap.fault11("SOAP-ENV:Client", "bad request").encode()
    with pytest.raises(SoapFault) as info:
        response_element(500, other, "GetDeviceInformation", CAP)
    assert not info.value.auth
    error = info.value.as_error()
    assert str(error) == "SOAP fault SOAP-ENV:Client: bad request"
    assert error.status == 500


def test_fault_found_only_by_wording(soap) -> None:
    # ipycam 1.3: code s:Receiver, no subcode, "Sender not authorized".
    reply = soap.fault12("s:Receiver", "Sender not authorized").encode()
    with pytest.raises(SoapFault) as info:
        response_element(401, reply, "GetSystemDateAndTime", CAP)
    assert info.value.auth


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, b"<html><body>Internal error</body></html>", "SOAP envelope"),
        (500, b"oops", "HTTP 500"),
        (200, b"not xml", "not well-formed"),
        (200, b"<html/>", "not a SOAP envelope"),
        (
            200,
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>',
            "without a Body",
        ),
        (
            200,
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x/>'
            b"</s:Body></s:Envelope>",
            "no GetDeviceInformationResponse",
        ),
    ],
)
def test_malformed_replies(status: int, body: bytes, message: str) -> None:
    with pytest.raises(ProtocolFailure, match=message) as info:
        response_element(status, body, "GetDeviceInformation", CAP)
    assert info.value.status == status


def test_non_200_envelope_without_fault_is_its_status(soap) -> None:
    reply = soap.device_reply("X").encode()
    with pytest.raises(ProtocolFailure, match="HTTP 503"):
        response_element(503, reply, "GetDeviceInformation", CAP)
