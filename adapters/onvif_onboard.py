"""ONVIF onboarding with onvif-zeep-async: device info, services, profiles, stream and snapshot
URIs of one camera.  Runs rarely (once per camera, again when the inventory or the serial
changes), off the hot path; the result is cached in the store (DESIGN §3).

Untrusted camera, rules kept here (DESIGN §12):

- Every address the camera hands out is pinned to the inventory's host: service XAddrs and
  the snapshot URI to ``http://HOST:ONVIF_PORT/…``, the stream URI to ``rtsp://HOST:RTSP_PORT/…``
  (path and query kept, user info and credential query parameters dropped).  An address that
  cannot be pinned (another scheme, unparseable) is refused: the service counts as absent, the
  URI as unknown.  Requests whose address is not the pinned one are refused before any
  connection, and HTTP redirects are never followed — the daemon connects to no host the
  inventory did not name.
- Reply bodies are read with a cap (1 MiB by default, after decompression); zeep parses them
  with DTDs, entities and external references forbidden and libxml2's size limits on.
- The whole onboarding has one deadline.  Library exceptions (zeep, onvif, aiohttp, httpx)
  become `Unreachable`, `ProbeTimeout`, `AuthFailed` or `ProtocolFailure` here.

Process-wide and shared: one zeep `Settings`, onvif-zeep-async's bundled WSDL directory and
its in-process cache of parsed WSDL documents (warmed once, under a lock, by the first call:
~0.13 s of CPU; later onboardings cost ~5-7 ms of CPU).  Per onboarding: one aiohttp session
and one zeep transport, since the transport is pinned to that camera's host.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import zeep
import zeep.exceptions
from yarl import URL

from adapters.errors import AuthFailed, ProbeError, ProbeTimeout, ProtocolFailure, Unreachable
from adapters.onvif_pinning import pin_uri, safe_uri
from adapters.onvif_soap import DEFAULT_MAX_BODY_BYTES, OnvifTarget, read_capped
from adapters.onvif_xml import is_auth_fault
from bridge.observation import DeviceInfo, OnboardResult, Profile

# onvif-zeep-async (4.3) calls logging.basicConfig(level=INFO) when imported.  A library must
# not configure the root logger, and that stderr handler would print records past the
# redaction of bridge.logs: import it here, then put the root logger back as it was.
_root_logger = logging.getLogger()
_root_handlers, _root_level = _root_logger.handlers[:], _root_logger.level
import onvif  # type: ignore[import-untyped]  # noqa: E402  # no py.typed
from onvif import ONVIFCamera, ONVIFError, ONVIFService  # noqa: E402
from onvif.client import SERVICES  # type: ignore[import-untyped]  # noqa: E402
from onvif.exceptions import (  # type: ignore[import-untyped]  # noqa: E402
    ONVIFAuthError,
    ONVIFTimeoutError,
)
from onvif.zeep_aiohttp import AIOHTTPTransport  # type: ignore[import-untyped]  # noqa: E402

_root_logger.handlers[:] = _root_handlers
_root_logger.setLevel(_root_level)

__all__ = ["ZEEP_SETTINGS", "onboard"]

logger = logging.getLogger(__name__)

ZEEP_SETTINGS = zeep.Settings(
    strict=False,  # cameras' replies stray from the schema; tolerate, don't refuse
    xml_huge_tree=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
)

_WSDL_DIR = Path(onvif.__file__).parent / "wsdl"  # the bundled WSDLs: one dir per process
_MEDIA_NS = SERVICES["media"]["ns"]
_CLOSE_TIMEOUT_S = 5.0
_MAX_NAME = 256


class _PinnedTransport(AIOHTTPTransport):  # type: ignore[misc]  # untyped library
    """zeep's transport on our session: posts only to ``http://host:port``, follows no
    redirect, reads capped bodies, and never GETs (WSDLs come from local files)."""

    def __init__(
        self, session: aiohttp.ClientSession, host: str, port: int, max_body_bytes: int
    ) -> None:
        super().__init__(session=session)
        self._pinned = (host.lower(), port)
        self._max_body_bytes = max_body_bytes

    async def _post_internal(
        self, address: str, message: str | bytes, headers: dict[str, str]
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        try:
            url = URL(address)
            pinned = url.scheme == "http" and ((url.host or "").lower(), url.port) == self._pinned
        except ValueError:
            pinned = False
        if not pinned:
            raise ProtocolFailure("refused a request to an address the inventory did not name")
        data = message.encode() if isinstance(message, str) else message
        headers = dict(headers or {})
        headers.setdefault("Content-Type", 'text/xml; charset="utf-8"')
        response = await self.session.post(url, data=data, headers=headers, allow_redirects=False)
        async with response:
            if 300 <= response.status < 400:
                raise ProtocolFailure(
                    f"HTTP {response.status}: redirect refused (not followed)",
                    status=response.status,
                )
            content = await read_capped(response, self._max_body_bytes)
        return response, content

    async def get(self, address: str, params: Any = None, headers: Any = None) -> Any:
        raise ProtocolFailure("no HTTP GET during onboarding")


class _PinnedCamera(ONVIFCamera):  # type: ignore[misc]  # untyped library
    """ONVIFCamera whose URLs are pinned, whose services use `_PinnedTransport` and
    `ZEEP_SETTINGS`, and whose WS-Security tokens carry our clock offset."""

    def __init__(
        self, target: OnvifTarget, session: aiohttp.ClientSession, max_body_bytes: int
    ) -> None:
        super().__init__(
            target.host,
            target.port,
            target.username or None,
            target.password or None,
            no_cache=True,  # WSDLs are local files: no SQLite cache in the user's home
            adjust_time=False,  # we measure the offset ourselves (see `_clock_offset`)
        )
        self.target = target
        self.clock_offset = timedelta(0)
        self._transport = _PinnedTransport(session, target.host, target.port, max_body_bytes)

    def rewrite_url(self, url: str | None) -> str | None:
        pinned = pin_uri(url, "http", self.target.host, self.target.port)
        if url and pinned is None:
            logger.warning("camera %s: refused a service address it handed out", self.host)
        return pinned

    def get_definition(self, name: str, port_type: str | None = None) -> tuple[str, str, str]:
        xaddr, wsdl, binding = super().get_definition(name, port_type)
        if name == "devicemgmt":  # the inventory's path, not the library's fixed one
            xaddr = pin_uri(self.target.path, "http", self.target.host, self.target.port) or xaddr
        return xaddr, wsdl, binding

    async def create_onvif_service(
        self,
        name: str,
        port_type: str | None = None,
        read_timeout: int | None = None,
        write_timeout: int | None = None,
    ) -> ONVIFService:
        service = await super().create_onvif_service(name, port_type, read_timeout, write_timeout)
        service.transport = self._transport
        for client in (service.zeep_client, service.zeep_client_authless):
            if client is not None:
                client.transport = self._transport
                client.settings = ZEEP_SETTINGS
        if service.zeep_client is not None and service.zeep_client.wsse is not None:
            service.zeep_client.wsse.dt_diff = self.clock_offset
        return service


async def onboard(
    target: OnvifTarget,
    rtsp_port: int,
    timeout_s: float,
    *,
    clock_offset_s: float | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> OnboardResult:
    """Onboard one camera within ``timeout_s``: device info, services, profiles, and the
    stream and snapshot URIs of the first profile, all pinned to ``target.host``.

    ``clock_offset_s`` (camera time minus ours, e.g. from the heartbeat) dates WS-Security
    tokens; when ``None`` it is asked first (GetSystemDateAndTime, unauthenticated, then
    authenticated if the camera insists).  Raises `Unreachable`, `ProbeTimeout`,
    `AuthFailed` (credentials refused) or `ProtocolFailure` (faults, malformed or oversized
    replies, a required call missing).
    """
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit_per_host=2),
        timeout=aiohttp.ClientTimeout(total=None),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )
    camera: _PinnedCamera | None = None
    try:
        async with asyncio.timeout(timeout_s):
            await _WSDL_CACHE.warm()
            camera = _PinnedCamera(target, session, max_body_bytes)
            if clock_offset_s is not None:
                camera.clock_offset = timedelta(seconds=clock_offset_s)
            else:
                camera.clock_offset = await _clock_offset(camera)
            return await _ask(camera, rtsp_port)
    except ProbeError:
        raise
    except TimeoutError:
        raise ProbeTimeout(f"onboarding not done within {timeout_s:g} s") from None
    except Exception as exc:
        raise _domain_error(exc) from None
    finally:
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                if camera is not None:
                    await camera.close()
                await session.close()
        except (TimeoutError, aiohttp.ClientError, OSError):
            logger.debug("camera %s: closing onboarding connections failed", target.host)


async def _ask(camera: _PinnedCamera, rtsp_port: int) -> OnboardResult:
    target = camera.target
    await camera.update_xaddrs()
    devicemgmt = await camera.create_devicemgmt_service()
    info = await devicemgmt.GetDeviceInformation()
    device = DeviceInfo(
        manufacturer=_text(getattr(info, "Manufacturer", None)),
        model=_text(getattr(info, "Model", None)),
        firmware=_text(getattr(info, "FirmwareVersion", None)),
        serial=_text(getattr(info, "SerialNumber", None)),
        hardware_id=_text(getattr(info, "HardwareId", None)),
    )
    services = tuple(sorted(ns for ns, xaddr in camera.xaddrs.items() if xaddr))
    if not camera.xaddrs.get(_MEDIA_NS):
        return OnboardResult(device=device, services=services)
    media = await camera.create_media_service()
    profiles = tuple(p for p in map(_profile, await media.GetProfiles() or ()) if p is not None)
    stream_uri = snapshot_uri = None
    if profiles:
        token = profiles[0].token
        stream = await media.GetStreamUri(
            {
                "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                "ProfileToken": token,
            }
        )
        stream_uri = safe_uri(getattr(stream, "Uri", None), "rtsp", target, rtsp_port)
        try:
            snapshot = await media.GetSnapshotUri({"ProfileToken": token})
        except zeep.exceptions.Fault:
            snapshot = None  # optional: many encoders have no snapshot
        snapshot_uri = safe_uri(getattr(snapshot, "Uri", None), "http", target, target.port)
    return OnboardResult(device, profiles, stream_uri, snapshot_uri, services)


async def _clock_offset(camera: _PinnedCamera) -> timedelta:
    """The camera's clock minus ours; zero when it states no UTC time."""
    devicemgmt = await camera.create_devicemgmt_service()
    try:
        reply = await devicemgmt.authless_GetSystemDateAndTime()
    except (zeep.exceptions.Fault, zeep.exceptions.TransportError):
        # Some cameras (ipycam included) demand auth even for this call.
        reply = await devicemgmt.GetSystemDateAndTime()
    utc = getattr(reply, "UTCDateTime", None)
    try:
        date, time = utc.Date, utc.Time  # type: ignore[union-attr]
        camera_now = datetime(date.Year, date.Month, date.Day, tzinfo=UTC) + timedelta(
            hours=time.Hour, minutes=time.Minute, seconds=time.Second
        )
    except (AttributeError, TypeError, ValueError, OverflowError):
        return timedelta(0)
    return camera_now - datetime.now(UTC)


class _WsdlCache:
    """onvif-zeep-async's process-wide cache of parsed WSDL documents, warmed once.

    The library parses a WSDL in its executor on first use and caches it; warming the
    device and media WSDLs under a lock spares many first onboardings at start-up from all
    parsing them at once.  Makes no connection.
    """

    def __init__(self) -> None:
        self._ready = False
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def ready(self) -> bool:
        return self._ready

    async def warm(self) -> None:
        if self.ready():
            return
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # a lock serves one loop only
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:
            if self.ready():
                return
            for name in ("devicemgmt", "media"):
                spec = SERVICES[name]
                service = ONVIFService(
                    "http://127.0.0.1:9/",  # never contacted: setup() only loads the WSDL
                    None,
                    None,
                    str(_WSDL_DIR / spec["wsdl"]),
                    no_cache=True,
                    binding_name=f"{{{spec['ns']}}}{spec['binding']}",
                )
                try:
                    await service.setup()
                finally:
                    await service.close()
            self._ready = True


_WSDL_CACHE = _WsdlCache()


def _profile(raw: Any) -> Profile | None:
    token = _text(getattr(raw, "token", None))
    if not token:
        return None
    encoder = getattr(raw, "VideoEncoderConfiguration", None)
    resolution = getattr(encoder, "Resolution", None)
    rate = getattr(encoder, "RateControl", None)
    encoding = _text(getattr(encoder, "Encoding", None)) or None
    return Profile(
        token=token,
        name=_text(getattr(raw, "Name", None)),
        encoding=encoding,
        width=_int(getattr(resolution, "Width", None)),
        height=_int(getattr(resolution, "Height", None)),
        fps=_float(getattr(rate, "FrameRateLimit", None)),
    )


def _text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())[:_MAX_NAME]


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number < 100_000 else None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number < 100_000 else None


def _domain_error(exc: Exception) -> ProbeError:
    """The domain error for a library exception raised during onboarding."""
    if isinstance(exc, zeep.exceptions.Fault):
        codes = tuple(str(code) for code in (exc.code, *(exc.subcodes or ())) if code)
        reason = " ".join(str(exc.message or "").split())[:200]
        if is_auth_fault(codes, reason):
            return AuthFailed("the camera refused our ONVIF credentials")
        return ProtocolFailure(f"SOAP fault {codes[-1] if codes else ''}: {reason}".strip())
    if isinstance(exc, zeep.exceptions.TransportError):
        if exc.status_code == 401:
            return AuthFailed("the camera refused our ONVIF credentials")
        return ProtocolFailure(f"HTTP {exc.status_code}", status=exc.status_code or None)
    if isinstance(exc, ONVIFAuthError):
        return AuthFailed("the camera refused our ONVIF credentials")
    if isinstance(exc, ONVIFTimeoutError):
        return ProbeTimeout("onboarding timed out")
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError):
        return Unreachable("cannot connect to the camera's ONVIF service")
    if isinstance(exc, aiohttp.ClientConnectionError | ConnectionError):
        return Unreachable(f"connection failed: {type(exc).__name__}")
    if isinstance(exc, zeep.exceptions.Error | ONVIFError | aiohttp.ClientError | httpx.HTTPError):
        return ProtocolFailure(f"onboarding failed: {type(exc).__name__}")
    if isinstance(exc, OSError):
        return Unreachable(f"connection failed: {type(exc).__name__}")
    if isinstance(exc, AttributeError | KeyError | TypeError | ValueError):
        # A reply whose shape zeep accepted (strict=False) but that lacks what we read.
        logger.debug("onboarding: unexpected reply shape", exc_info=exc)
        return ProtocolFailure(f"unexpected ONVIF reply ({type(exc).__name__})")
    raise exc
