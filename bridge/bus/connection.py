"""How the publisher reaches the broker: the URL, the aiomqtt client, the retry delays.

Pure but for `make_client` (which needs a running event loop, as aiomqtt does).  Nothing
here logs a password: `BrokerAddress.masked` is the only way an address is shown.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from bridge.bus.message import Message, WireProperties, wire_properties
from bridge.url_credentials import split_rtsp_credentials, url_host_port

log = logging.getLogger(__name__)

__all__ = [
    "AUTH_REFUSED",
    "AUTH_RETRY_DELAY_S",
    "RECONNECT_FIRST_DELAY_S",
    "RECONNECT_JITTER",
    "RECONNECT_MAX_DELAY_S",
    "V5_REFUSED",
    "BrokerAddress",
    "BusConfigError",
    "OutageLog",
    "PropertiesCache",
    "make_client",
    "parse_broker_url",
    "reconnect_delay_s",
    "refused_with",
]

RECONNECT_FIRST_DELAY_S = 1.0
RECONNECT_MAX_DELAY_S = 15.0  # a broker back from an outage is found within this
RECONNECT_JITTER = 0.25  # ± fraction of the delay, so a district's bridges do not align
AUTH_RETRY_DELAY_S = 300.0  # credentials refused: a person must act; retry rarely
V5_REFUSED = (1, 0x84)  # CONNACK "unacceptable protocol version" (3.1.1) / 0x84 (5)
AUTH_REFUSED = (4, 5, 0x86, 0x87)  # bad user name or password / not authorised


class BusConfigError(ValueError):
    """The MQTT settings cannot work (a bad broker URL); the message is fit for people and
    holds no password."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker is and how to log in (from `parse_broker_url`)."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def masked(self) -> str:
        """The URL with the password shown as ``***``: safe to log."""
        user = ""
        if self.username:
            user = f"{self.username}:***@" if self.password else f"{self.username}@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"


def parse_broker_url(url: str, username: str = "", password: str | None = None) -> BrokerAddress:
    """``mqtt://host[:port]`` (1883) or ``mqtts://host[:port]`` (8883), IPv6 in brackets.

    Credentials in the URL (``mqtt://user:pw@host``) are used when ``username`` is empty;
    otherwise ``username``/``password`` (from the settings) win.  Raises `BusConfigError`
    for anything else (no host, another scheme, a path or query, a bad port) — its message
    shows the URL with any password masked.
    """
    bare, url_user, url_password = split_rtsp_credentials(url.strip())
    shown = bare if url_user is None else bare.replace("://", f"://{url_user}:***@", 1)
    parts = url_host_port(bare)
    if parts is None:
        raise BusConfigError(f"broker URL {shown!r}: expected mqtt://host:port or mqtts://…")
    scheme, host, port_text = parts
    if scheme not in ("mqtt", "mqtts"):
        raise BusConfigError(f"broker URL {shown!r}: scheme must be mqtt:// or mqtts://")
    rest = bare[bare.index("://") + 3 :].split("/", 1)
    if (len(rest) > 1 and rest[1]) or "?" in bare or "#" in bare:
        raise BusConfigError(f"broker URL {shown!r}: no path or query expected")
    tls = scheme == "mqtts"
    if port_text is None:
        port = 8883 if tls else 1883
    elif port_text.isdigit() and 1 <= int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise BusConfigError(f"broker URL {shown!r}: port must be 1–65535")
    if username:
        return BrokerAddress(host.strip("[]"), port, tls, username, password)
    return BrokerAddress(host.strip("[]"), port, tls, url_user, url_password)


def reconnect_delay_s(
    failures: int,
    rand: float,
    *,
    first_s: float = RECONNECT_FIRST_DELAY_S,
    max_s: float = RECONNECT_MAX_DELAY_S,
    jitter: float = RECONNECT_JITTER,
) -> float:
    """Seconds before connection attempt number ``failures + 1``: ``first_s`` doubled per
    failure up to ``max_s``, ± ``jitter`` × itself (``rand`` uniform in [0, 1))."""
    base = min(max_s, first_s * 2.0 ** min(max(failures - 1, 0), 30))
    return base * (1.0 + jitter * (2.0 * rand - 1.0))


class OutageLog:
    """Logs the broker going away once and coming back once — never once per retry.

    ``how`` a connection ended: ``"dropped"`` (was up), ``"failed"`` (could not connect) or
    ``"auth"`` (credentials refused: an error, a person must act).
    """

    def __init__(
        self, monotonic: Callable[[], float] = time.monotonic, *, reconnect_max_s: float
    ) -> None:
        self._monotonic = monotonic
        self._reconnect_max_s = reconnect_max_s
        self._down_since: float | None = None  # None while up, and before the first try
        self._down_auth = False  # the outage is a refusal of our credentials

    def up(self, address: BrokerAddress, protocol: str) -> None:
        """A connection is up: logs the first one and the end of an outage."""
        if self._down_since is None:
            log.info("connected to MQTT broker %s (MQTT %s)", address.masked(), protocol)
        else:
            down_s = self._monotonic() - self._down_since
            log.info("MQTT broker %s is back after %.0f s", address.masked(), down_s)
        self._down_since = None

    def down(self, address: BrokerAddress, exc: BaseException, how: str) -> None:
        """A connection ended or could not be made: logged at the start of an outage, and
        when it turns into (or out of) a refusal of our credentials; retries at DEBUG."""
        reason = str(exc) or type(exc).__name__
        if exc.__cause__ is not None:  # aiomqtt: "Disconnected during message iteration"
            reason = f"{reason} ({exc.__cause__})"
        if self._down_since is not None and self._down_auth == (how == "auth"):
            log.debug("MQTT broker %s still unreachable: %s", address.masked(), reason)
            return
        if self._down_since is None:
            self._down_since = self._monotonic()
        self._down_auth = how == "auth"
        if how == "auth":
            log.error(
                "MQTT broker %s refused our credentials (%s); retrying every %.0f s",
                address.masked(),
                reason,
                AUTH_RETRY_DELAY_S,
            )
            return
        what = "connection lost" if how == "dropped" else "unreachable"
        log.warning(
            "MQTT broker %s %s: %s; reconnecting with backoff up to %g s",
            address.masked(),
            what,
            reason,
            self._reconnect_max_s,
        )


class _SocketNoise(logging.Filter):
    """paho logs every lost socket at ERROR ("failed to receive on socket: …"); the
    publisher reports each outage itself, once (`OutageLog`), so those lines go to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING and record.getMessage().startswith(
            ("failed to receive on socket", "timeout on socket")
        ):
            _PAHO_LOG.debug("%s", record.getMessage())
            return False
        return True


_PAHO_LOG = logging.getLogger(f"{__name__}.paho")
_PAHO_LOG.addFilter(_SocketNoise())


def refused_with(exc: BaseException, codes: tuple[int, ...]) -> bool:
    """Whether ``exc`` is a refusal (CONNACK) by the broker with one of ``codes``."""
    if not isinstance(exc, aiomqtt.MqttCodeError) or exc.rc is None:
        return False
    rc = exc.rc
    return (rc.value if isinstance(rc, ReasonCode) else rc) in codes


def make_client(
    address: BrokerAddress,
    *,
    client_id: str,
    protocol: aiomqtt.ProtocolVersion,
    will: Message,
    keepalive_s: int,
    timeout_s: float,
    window: int,
    tls: ssl.SSLContext | None,
) -> aiomqtt.Client:
    """A new (unconnected) aiomqtt client for ``address``.  ``timeout_s`` bounds each
    acknowledgement wait; ``window`` is paho's in-flight limit (QoS > 0)."""
    client = aiomqtt.Client(
        address.host,
        address.port,
        identifier=client_id,
        username=address.username,
        password=address.password,
        protocol=protocol,
        will=aiomqtt.Will(will.topic, will.payload, will.qos, will.retain),
        keepalive=keepalive_s,
        timeout=timeout_s,
        tls_context=tls if address.tls else None,
        max_inflight_messages=window,
        logger=_PAHO_LOG,
    )
    # aiomqtt warns on every publish past this many pending calls; the window bounds them.
    client.pending_calls_threshold = window + 10
    return client


class PropertiesCache:
    """The MQTT 5 PUBLISH properties of each kind of message (`wire_properties`), built
    once and reused: paho only reads them, and building one per message cost ~20 % of the
    publish rate."""

    def __init__(self) -> None:
        self._props: dict[WireProperties, Properties | None] = {}

    def of(self, message: Message) -> Properties | None:
        """The properties to send with ``message`` (None: none)."""
        wanted = wire_properties(message)
        try:
            return self._props[wanted]
        except KeyError:
            pass
        props: Properties | None = None
        if wanted.content_type is not None or wanted.expiry_s is not None:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if wanted.content_type is not None:
                props.ContentType = wanted.content_type
            if wanted.expiry_s is not None:
                props.MessageExpiryInterval = wanted.expiry_s
        self._props[wanted] = props
        return props
