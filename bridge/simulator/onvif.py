"""The HTTP port of a simulated camera: ONVIF device and media services, and its snapshot.

Routes: ``POST /onvif/device_service`` and ``POST /onvif/media_service`` (any operation below
on either path, as many cameras do), ``GET /snapshot.jpg``.  Operations:
GetSystemDateAndTime, GetCapabilities, GetServices (no credentials, ONVIF's pre-auth class);
GetDeviceInformation, GetProfiles, GetStreamUri, GetSnapshotUri (WS-Security UsernameToken
required).  A missing token is answered HTTP 401, a wrong one HTTP 400, both with the SOAP
fault ``ter:NotAuthorized``.  ONVIF faults (``bad_xml``, ``xml_bomb``, ``huge_body``,
``clock_drift``, ``replaced``, ``auth_fail``) change the SOAP replies here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from email.utils import formatdate
from xml.sax.saxutils import escape

from bridge.simulator.auth import Authenticator, Check, verify_ws_security
from bridge.simulator.faults import Fault
from bridge.simulator.model import SimCamera, serial_for
from bridge.simulator.soap import (
    SoapRequest,
    SoapRequestError,
    bad_xml,
    content_type,
    envelope,
    fault,
    huge_envelope,
    parse_request,
    xml_bomb,
)
from bridge.simulator.wire import Pending, Reply, Request

__all__ = ["PROFILE_TOKEN", "SNAPSHOT_PATH", "SOAP_PATHS", "Picture", "StreamFormat", "http_reply"]

SOAP_PATHS = frozenset({"/onvif/device_service", "/onvif/media_service"})
SNAPSHOT_PATH = "/snapshot.jpg"
PROFILE_TOKEN = "Profile_1"  # noqa: S105 - a media profile token, not a secret
FIRMWARE = "V5.7.3 build 230101"
SERVER = "gridbridge-simulator HTTP"
_PUBLIC_OPS = frozenset({"GetSystemDateAndTime", "GetCapabilities", "GetServices"})
_MIB = 1024 * 1024

# The camera's picture at a time of its clock: JPEG bytes, or a future of them.
Picture = Callable[[float], "bytes | asyncio.Future[bytes]"]
# The main stream as GetProfiles describes it: width, height, frames per second.
StreamFormat = tuple[int, int, float]


def _date_time(moment: dt.datetime) -> str:
    return (
        f"<tt:Time><tt:Hour>{moment.hour}</tt:Hour><tt:Minute>{moment.minute}</tt:Minute>"
        f"<tt:Second>{moment.second}</tt:Second></tt:Time>"
        f"<tt:Date><tt:Year>{moment.year}</tt:Year><tt:Month>{moment.month}</tt:Month>"
        f"<tt:Day>{moment.day}</tt:Day></tt:Date>"
    )


def _system_date_and_time(now: float) -> str:
    utc = dt.datetime.fromtimestamp(now, dt.UTC)
    local = utc + dt.timedelta(hours=8)  # China Standard Time, as the cameras are set
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        "<tt:TimeZone><tt:TZ>CST-8:00:00</tt:TZ></tt:TimeZone>"
        f"<tt:UTCDateTime>{_date_time(utc)}</tt:UTCDateTime>"
        f"<tt:LocalDateTime>{_date_time(local)}</tt:LocalDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def _device_information(camera: SimCamera, replaced: bool) -> str:
    serial = serial_for(camera.id, replaced=True) if replaced else camera.serial
    return (
        "<tds:GetDeviceInformationResponse>"
        f"<tds:Manufacturer>{escape(camera.vendor or 'gridbridge')}</tds:Manufacturer>"
        f"<tds:Model>{escape(camera.model or 'SIM-IPC')}</tds:Model>"
        f"<tds:FirmwareVersion>{FIRMWARE}</tds:FirmwareVersion>"
        f"<tds:SerialNumber>{serial}</tds:SerialNumber>"
        f"<tds:HardwareId>{escape(camera.id)}</tds:HardwareId>"
        "</tds:GetDeviceInformationResponse>"
    )


def _base(camera: SimCamera) -> str:
    return f"http://{camera.host}:{camera.onvif_port}"


def _capabilities(camera: SimCamera) -> str:
    base = _base(camera)
    return (
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Device><tt:XAddr>{base}/onvif/device_service</tt:XAddr></tt:Device>"
        f"<tt:Media><tt:XAddr>{base}/onvif/media_service</tt:XAddr>"
        "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
        "<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
        "</tt:StreamingCapabilities></tt:Media>"
        "</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def _services(camera: SimCamera) -> str:
    base = _base(camera)
    entries = (
        ("http://www.onvif.org/ver10/device/wsdl", "device_service", 2, 60),
        ("http://www.onvif.org/ver10/media/wsdl", "media_service", 2, 60),
    )
    services = "".join(
        f"<tds:Service><tds:Namespace>{ns}</tds:Namespace>"
        f"<tds:XAddr>{base}/onvif/{path}</tds:XAddr>"
        f"<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version>"
        "</tds:Service>"
        for ns, path, major, minor in entries
    )
    return f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>"


def _profiles(stream: StreamFormat) -> str:
    width, height, fps = stream
    return (
        f'<trt:GetProfilesResponse><trt:Profiles token="{PROFILE_TOKEN}" fixed="true">'
        "<tt:Name>mainStream</tt:Name>"
        '<tt:VideoSourceConfiguration token="VideoSourceConfig_1">'
        "<tt:Name>VideoSourceConfig_1</tt:Name><tt:UseCount>1</tt:UseCount>"
        "<tt:SourceToken>VideoSource_1</tt:SourceToken>"
        f'<tt:Bounds x="0" y="0" width="{width}" height="{height}"/>'
        "</tt:VideoSourceConfiguration>"
        '<tt:VideoEncoderConfiguration token="VideoEncoderConfig_1">'
        "<tt:Name>VideoEncoderConfig_1</tt:Name><tt:UseCount>1</tt:UseCount>"
        "<tt:Encoding>JPEG</tt:Encoding>"
        f"<tt:Resolution><tt:Width>{width}</tt:Width><tt:Height>{height}</tt:Height>"
        "</tt:Resolution><tt:Quality>4</tt:Quality>"
        f"<tt:RateControl><tt:FrameRateLimit>{max(1, round(fps))}</tt:FrameRateLimit>"
        "<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>4096</tt:BitrateLimit>"
        "</tt:RateControl>"
        "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type>"
        "<tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port>"
        "<tt:TTL>0</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
        "<tt:SessionTimeout>PT5S</tt:SessionTimeout></tt:VideoEncoderConfiguration>"
        "</trt:Profiles></trt:GetProfilesResponse>"
    )


def _media_uri(operation: str, uri: str) -> str:
    return (
        f"<trt:{operation}Response><trt:MediaUri><tt:Uri>{escape(uri)}</tt:Uri>"
        "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
        "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
        f"<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:{operation}Response>"
    )


def _soap_body(
    camera: SimCamera, fault_: Fault | None, soap: SoapRequest, now: float, stream: StreamFormat
) -> str:
    """The body of a successful reply, or '' if the operation is unknown."""
    op = soap.operation
    if op == "GetSystemDateAndTime":
        return _system_date_and_time(now)
    if op == "GetCapabilities":
        return _capabilities(camera)
    if op == "GetServices":
        return _services(camera)
    if op == "GetDeviceInformation":
        return _device_information(camera, fault_ is not None and fault_.kind == "replaced")
    if op == "GetProfiles":
        return _profiles(stream)
    if op == "GetStreamUri":
        uri = f"rtsp://{camera.host}:{camera.rtsp_port}{camera.rtsp_path}"
        return _media_uri(op, uri)
    if op == "GetSnapshotUri":
        return _media_uri(op, f"{_base(camera)}{SNAPSHOT_PATH}")
    return ""


def _soap_reply(
    camera: SimCamera,
    fault_: Fault | None,
    soap_bytes: bytes,
    now: float,
    headers: list[tuple[str, str]],
    stream: StreamFormat,
) -> Reply:
    kind = fault_.kind if fault_ is not None else None
    try:
        soap = parse_request(soap_bytes)
    except SoapRequestError as exc:
        body = fault(SOAP_NS_DEFAULT, "InvalidArgVal", escape(str(exc)))
        return Reply(400, [*headers, ("Content-Type", content_type(SOAP_NS_DEFAULT))], body)
    headers = [*headers, ("Content-Type", content_type(soap.soap_ns))]
    if kind == "bad_xml":
        return Reply(200, headers, bad_xml(soap.soap_ns))
    if kind == "xml_bomb":
        return Reply(200, headers, xml_bomb(soap.soap_ns))
    if kind == "huge_body" and fault_ is not None:
        head, rest, rest_bytes = huge_envelope(soap.soap_ns, int(fault_.param("mb") * _MIB))
        return Reply(200, headers, head, stream=rest, stream_bytes=rest_bytes)
    if soap.operation not in _PUBLIC_OPS:
        good = kind != "auth_fail" and verify_ws_security(
            camera, soap.username, soap.password, soap.password_type, soap.nonce, soap.created
        )
        if not good:
            status = 400 if soap.has_token else 401
            body = fault(soap.soap_ns, "NotAuthorized", "Sender not Authorized")
            return Reply(status, headers, body)
    if soap.operation in ("GetStreamUri", "GetSnapshotUri"):
        token = soap.arg("ProfileToken")
        if token != PROFILE_TOKEN:
            body = fault(soap.soap_ns, "NoProfile", "Profile token does not exist")
            return Reply(400, headers, body)
    result = _soap_body(camera, fault_, soap, now, stream)
    if not result:
        body = fault(soap.soap_ns, "ActionNotSupported", "Optional Action Not Implemented")
        return Reply(400, headers, body)
    return Reply(200, headers, envelope(soap.soap_ns, result))


SOAP_NS_DEFAULT = "http://www.w3.org/2003/05/soap-envelope"


def http_reply(
    camera: SimCamera,
    fault_: Fault | None,
    auth: Authenticator,
    picture: Picture,
    stream: StreamFormat,
    request: Request,
    now: float,
) -> Reply | Pending[bytes]:
    """The reply of ``camera`` (with ``fault_`` or none) to an HTTP request at wall time ``now``.

    ``picture`` makes the snapshot (``Pending`` while it is being rendered); ``stream`` is
    what GetProfiles reports of the main stream.
    """
    if fault_ is not None and fault_.kind == "clock_drift":
        now += fault_.param("offset_s")
    headers = [("Server", SERVER), ("Date", formatdate(now, usegmt=True))]
    if request.version == "RTSP/1.0":
        return Reply(400, headers, close=True)
    path = request.target.split("?", 1)[0]
    if path in SOAP_PATHS:
        if request.method != "POST":
            return Reply(405, [*headers, ("Allow", "POST")])
        return _soap_reply(camera, fault_, request.body, now, headers, stream)
    if path == SNAPSHOT_PATH:
        if request.method not in ("GET", "HEAD"):
            return Reply(405, [*headers, ("Allow", "GET, HEAD")])
        reject = fault_ is not None and fault_.kind == "auth_fail"
        check = auth.check(
            camera, request.method, request.headers.get("authorization"), reject_all=reject
        )
        if check is not Check.OK:
            challenge = auth.challenge(camera, stale=check is Check.STALE)
            return Reply(401, [*headers, ("WWW-Authenticate", challenge)])
        jpeg = picture(now)
        head = request.method == "HEAD"
        if isinstance(jpeg, bytes):
            return _snapshot(jpeg, headers, head)
        return Pending(jpeg, lambda data: _snapshot(data, headers, head))
    return Reply(404, headers)


def _snapshot(jpeg: bytes, headers: list[tuple[str, str]], head: bool) -> Reply:
    reply = Reply(200, [*headers, ("Content-Type", "image/jpeg")], b"" if head else jpeg)
    if head:
        reply.stream, reply.stream_bytes = iter(()), len(jpeg)
    return reply
