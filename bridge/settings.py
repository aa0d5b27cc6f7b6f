"""Configuration: one TOML file, validated at the edge by pydantic v2.

Every field has bounds and a description; unknown keys are errors; all problems are reported
at once with their key path (``probe.interval_s: must be ≥ 1``).  Secrets come inline, from a
``*_file`` key naming a file, or from an environment variable (which wins), and print as
``***`` everywhere.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pydantic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge.settings_vqd import VqdSettings
from bridge.workorders.model import EventKind

DEFAULT_CONFIG_PATH = Path("gridbridge.toml")
MAX_CONFIG_BYTES = 1024 * 1024
MAX_SECRET_FILE_BYTES = 64 * 1024


class Secret(pydantic.Secret[str]):
    """A secret string: ``str()``, ``repr()`` and JSON dumps show ``***``."""

    def _display(self) -> str:
        return "***"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _port(description: str, default: int) -> Any:
    return Field(default, ge=1, le=65535, description=description)


class StoreSettings(_Section):
    url: str = Field(
        "",
        description="Database URL. Empty: SQLite file gridbridge.db in data_dir. PostgreSQL: "
        "postgresql+asyncpg://user@host:5432/dbname (password better in store.password).",
    )
    data_dir: Path = Field(
        Path("data"),
        description="Directory for the SQLite database, the secret key file and snapshots.",
    )
    password: Secret | None = Field(
        None, description="Database password, put into the URL. Env: GRIDBRIDGE_STORE_PASSWORD."
    )
    password_file: Path | None = Field(None, description="File holding the database password.")
    secret_key: Secret | None = Field(
        None,
        description="Key that encrypts stored camera passwords (Fernet, urlsafe base64 of 32 "
        "bytes; make one with `gridbridge secret-key`). Env: GRIDBRIDGE_SECRET_KEY. Empty: "
        "read or create data_dir/secret.key (mode 0600). Keep it apart from the database "
        "backups: the database alone must not reveal camera passwords.",
    )
    secret_key_file: Path | None = Field(None, description="File holding the secret key.")
    timeout_s: float = Field(10.0, gt=0, le=300, description="Deadline to connect to the database.")


class InventorySettings(_Section):
    default_crs: str = Field(
        "",
        description="Coordinate system for rows whose 坐标系 cell is empty (WGS84, GCJ02, BD09). "
        "Empty: such rows are errors; gridbridge never guesses.",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Column names of your export for fields gridbridge does not recognise by "
        "itself, e.g. {id = '摄像机编号'}. --columns MAP.toml overrides.",
    )
    max_file_mb: int = Field(50, ge=1, le=2048, description="Largest inventory file accepted.")
    max_rows: int = Field(200_000, ge=1, le=2_000_000, description="Most rows in one import.")


class GridSettings(_Section):
    max_file_mb: int = Field(64, ge=1, le=2048, description="Largest grid GeoJSON file accepted.")


class CameraSettings(_Section):
    default_username: str = Field(
        "admin", max_length=64, description="Login for cameras whose row has none."
    )
    default_password: Secret | None = Field(
        None,
        description="Password for cameras whose row has none. Env: GRIDBRIDGE_CAMERA_PASSWORD.",
    )
    default_password_file: Path | None = Field(None, description="File holding that password.")
    default_rtsp_port: int = _port("RTSP port when the row has none.", 554)
    default_onvif_port: int = _port("ONVIF (HTTP) port when the row has none.", 80)


class MqttSettings(_Section):
    url: str = Field(
        "",
        description="Broker URL, mqtt://host:1883 or mqtts://host:8883. Empty: an embedded "
        "broker on 127.0.0.1 (demo and small sites).",
    )

    @field_validator("url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if value and not value.startswith(("mqtt://", "mqtts://")):
            raise ValueError("must be empty (embedded broker) or mqtt://HOST[:PORT] or mqtts://…")
        return value

    root: str = Field(
        "gridbridge",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$",
        description="Topic root of the bus; every topic starts with it.",
    )
    username: str = Field("", max_length=128, description="Broker login.")
    password: Secret | None = Field(
        None, description="Broker password. Env: GRIDBRIDGE_MQTT_PASSWORD."
    )
    password_file: Path | None = Field(None, description="File holding the broker password.")
    client_id: str = Field("gridbridge", min_length=1, max_length=64, description="MQTT client id.")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive interval.")
    connect_timeout_s: float = Field(10.0, gt=0, le=120, description="Deadline to connect.")


class ProbeSettings(_Section):
    interval_s: float = Field(30.0, ge=1, le=86400, description="Cheap check of every camera.")
    timeout_s: float = Field(
        3.0, gt=0, le=60, description="Deadline of one check layer on one camera."
    )
    concurrency: int = Field(500, ge=1, le=20000, description="Checks running at once, in all.")
    per_host_concurrency: int = Field(
        2, ge=1, le=64, description="Checks at once against one address (an NVR serves many)."
    )
    offline_after: int = Field(
        3, ge=1, le=100, description="Failed checks in a row before a camera is offline."
    )
    online_after: int = Field(
        2, ge=1, le=100, description="Good checks in a row before it is online again."
    )
    max_backoff_s: float = Field(
        300.0, ge=1, le=86400, description="Longest wait between checks of an offline camera."
    )
    auth_backoff_s: float = Field(
        1800.0,
        ge=60,
        le=86400,
        description="Wait after a camera rejected our login several times (cameras lock "
        "accounts after a few failures).",
    )
    onvif_interval_s: float = Field(
        300.0,
        ge=0,
        le=86400,
        description="ONVIF GetSystemDateAndTime (ONVIF service, clock) this often; the RTSP "
        "check runs every interval, and ONVIF too whenever RTSP fails. 0: every check.",
    )
    device_interval_s: float = Field(
        3600.0,
        ge=60,
        le=7 * 86400,
        description="Authenticated ONVIF call (serial number: replaced devices) this often.",
    )
    clock_drift_s: float = Field(
        10.0, gt=0, le=86400, description="Camera clock off by more than this: clock_drift."
    )
    flap_transitions: int = Field(
        4, ge=2, le=100, description="State changes within flap_window_s that mean flapping."
    )
    flap_window_s: float = Field(
        600.0, ge=10, le=86400, description="Window for flapping; also the calm that ends it."
    )

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> ProbeSettings:
        if self.timeout_s >= self.interval_s:
            raise ValueError("timeout_s: must be smaller than probe.interval_s")
        return self


class FrameSettings(_Section):
    enabled: bool = Field(True, description="Look at every camera's picture now and then.")
    interval_s: float = Field(
        900.0, ge=10, le=86400, description="Picture check (snapshot + diagnosis) cadence."
    )
    timeout_s: float = Field(
        10.0, gt=0, le=120, description="Deadline of one picture check (both pictures)."
    )
    concurrency: int = Field(
        4, ge=1, le=256, description="Picture checks running at once (their own cap)."
    )
    grab_threads: int = Field(
        2,
        ge=1,
        le=64,
        description="Threads grabbing frames from RTSP with OpenCV (a camera that hangs the "
        "decoder holds one until OpenCV's own timeouts end it).",
    )
    frozen_gap_s: float = Field(
        2.0,
        ge=0.2,
        le=30,
        description="Seconds between the two pictures compared to tell a frozen picture.",
    )
    confirm_s: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="A picture fault not seen before is looked at again after this long and "
        "reported only if the second look agrees (someone walking past is not 'occluded').",
    )
    night_start: str = Field(
        "19:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Night begins (HH:MM)."
    )
    night_end: str = Field(
        "07:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Night ends (HH:MM)."
    )
    utc_offset_h: float = Field(
        8.0, ge=-12, le=14, description="Local time of the district (China: +8), for night."
    )
    max_jpeg_bytes: int = Field(
        8 << 20, ge=64 << 10, le=64 << 20, description="Largest snapshot accepted (bytes)."
    )
    max_pixels: int = Field(
        40_000_000, ge=100_000, le=200_000_000, description="Largest picture accepted (pixels)."
    )
    history_count: int = Field(
        20, ge=0, le=10_000, description="Snapshots kept per camera besides the latest."
    )
    history_age_days: float = Field(
        7.0, ge=0, le=3650, description="Snapshots older than this are deleted."
    )
    history_max_mb: int = Field(
        20480,
        ge=1,
        le=10_000_000,
        description="All pictures on disk together (latest, thumbnails, references, history) "
        "at most this size; the oldest history goes first, latest pictures are never deleted. "
        "Size it: ~0.9 MB per camera for the latest pictures, ~0.4 MB per history picture.",
    )
    thumbnail_width: int = Field(
        320, ge=64, le=320, description="Width of the thumbnail published on the bus."
    )
    thumbnail_max_bytes: int = Field(
        30_000, ge=4_000, le=30_000, description="Largest thumbnail published on the bus."
    )
    vqd: VqdSettings = Field(
        default_factory=VqdSettings,
        description="Thresholds of the picture diagnosis (docs/vqd.md says why each default).",
    )


def _hours(default: float, description: str) -> Any:
    return Field(default, gt=0, le=90 * 24, description=description)


WEBHOOK_ENV_PREFIX = "GRIDBRIDGE_WEBHOOK_"
# (key, env var suffix, file key) of each webhook target's secrets.
WEBHOOK_SECRETS: tuple[tuple[str, str, str], ...] = (
    ("url", "URL", "url_file"),
    ("secret", "SECRET", "secret_file"),
)


def webhook_env_var(name: str, suffix: str) -> str:
    """The environment variable of a webhook target's secret: ``crew-wecom``, ``URL`` →
    ``GRIDBRIDGE_WEBHOOK_CREW_WECOM_URL``."""
    return f"{WEBHOOK_ENV_PREFIX}{name.upper().replace('-', '_')}_{suffix}"


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return (
            not any(c.isspace() or not c.isprintable() for c in url)
            and parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and parts.username is None
            and parts.port != 0  # .port raises ValueError when out of range
        )
    except ValueError:
        return False


class WebhookSettings(_Section):
    """One receiver of work-order events (docs/webhooks.md)."""

    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="Unique name; logs and the queue name the target by it, never by its URL.",
        examples=["crew-wecom"],
    )
    kind: Literal["wecom", "dingtalk", "json"] = Field(
        description="wecom (企业微信 group robot), dingtalk (钉钉 custom robot) or json (any "
        "HTTP endpoint taking JSON).",
        examples=["wecom"],
    )
    url: Secret | None = Field(
        None,
        description="The webhook URL, http(s):// only. A secret: robot URLs carry the key or "
        "access token. Env: GRIDBRIDGE_WEBHOOK_<NAME>_URL (name upper-cased, - as _).",
        examples=["https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."],
    )
    url_file: Path | None = Field(None, description="File holding the webhook URL.")
    secret: Secret | None = Field(
        None,
        description="dingtalk: the 加签 secret (SEC…). json: HMAC key of the signature "
        "headers. Env: GRIDBRIDGE_WEBHOOK_<NAME>_SECRET.",
    )
    secret_file: Path | None = Field(None, description="File holding that secret.")
    min_interval_s: float = Field(
        3.5,
        ge=0,
        le=3600,
        description="Least time between two posts to this target (robots take 20 a minute).",
    )
    timeout_s: float = Field(
        10.0, gt=0, le=120, description="Deadline of one POST, connection to the last byte."
    )
    retry_first_s: float = Field(
        5.0,
        ge=1,
        le=3600,
        description="Wait after a first failed delivery; doubles with each failure (±20 %).",
    )
    retry_max_s: float = Field(
        600.0,
        ge=1,
        le=86400,
        description="Longest wait between two tries (also caps a receiver's Retry-After). "
        "Nothing is given up while the receiver is down: events wait in order.",
    )
    events: tuple[EventKind, ...] = Field(
        tuple(EventKind),
        min_length=1,
        description="Which order events go to this target (e.g. a duty-officer group may "
        "want only escalated).",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: Secret | None) -> Secret | None:
        # The URL holds the robot's key: the message must not show any of it.
        if value is not None and not _is_http_url(value.get_secret_value()):
            raise ValueError(
                "must be http://HOST/… or https://HOST/… without user:password@ "
                "(the value is not shown: it is a secret)"
            )
        return value

    @model_validator(mode="after")
    def _complete(self) -> WebhookSettings:
        if self.url is None:
            env_var = webhook_env_var(self.name, "URL")
            raise ValueError(f"url: required (url, url_file or the environment variable {env_var})")
        if self.secret is not None and self.kind == "wecom":
            raise ValueError("secret: 企业微信 robots are not signed; leave it out")
        if self.retry_max_s < self.retry_first_s:
            raise ValueError(
                f"retry_max_s ({self.retry_max_s:g}) must be at least retry_first_s "
                f"({self.retry_first_s:g})"
            )
        return self


class WorkOrderSettings(_Section):
    enabled: bool = Field(True, description="Turn lasting faults into maintenance work orders.")
    debounce_s: float = Field(
        180.0,
        ge=0,
        le=7 * 86400,
        description="A camera offline or degraded this long gets an order (a reboot does not).",
    )
    reopen_window_s: float = Field(
        86400.0,
        ge=0,
        le=90 * 86400,
        description="The same fault back this soon after a verified close reopens the order "
        "(返修) instead of opening a new one.",
    )
    verify_checks: int = Field(
        2, ge=1, le=100, description="Healthy checks after a recovery or repair before 验收."
    )
    verify_timeout_s: float = Field(
        1800.0,
        ge=1,
        le=7 * 86400,
        description="After 修复, a camera not verified this long sends the order back to 到场 "
        "(leave a rebooting camera time to come back; at least verify_checks + 1 probe "
        "intervals).",
    )
    respond_key_h: float = _hours(2.0, "重点部位: hours to accept (接单) an order.")
    repair_key_h: float = _hours(24.0, "重点部位: hours to repair it.")
    respond_normal_h: float = _hours(24.0, "Other cameras: hours to accept an order.")
    repair_normal_h: float = _hours(48.0, "Other cameras: hours to repair it.")
    group_window_s: float = Field(
        120.0,
        ge=10,
        le=3600,
        description="Cameras behind one NVR/switch (上级设备, or one address) failing within "
        "this of each other get one parent order.",
    )
    group_min_cameras: int = Field(
        3, ge=2, le=1000, description="Failing cameras that make a parent order."
    )
    mass_share: float = Field(
        0.3,
        gt=0,
        le=1,
        description="This share of all cameras failing within mass_window_s is the bridge's own "
        "network: no orders, one bridge_network alarm.",
    )
    mass_window_s: float = Field(60.0, ge=10, le=3600, description="Window of mass_share.")
    mass_clear_share: float = Field(
        0.1, ge=0, lt=1, description="The alarm clears below this share still failing."
    )
    mass_min_cameras: int = Field(
        100, ge=2, le=1_000_000, description="Fleets smaller than this have no mass rule."
    )
    evidence_keep_days: int = Field(
        400,
        ge=1,
        le=10 * 366,
        description="Days the before/after pictures of a closed order are kept (a year of "
        "contract audits and a margin); an open order's are kept however old.",
    )
    webhooks: tuple[WebhookSettings, ...] = Field(
        (),
        description="Webhook targets (企业微信/钉钉 group robots, JSON receivers) for work-order "
        "events, delivered in order through a queue in the database; none by default.",
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> WorkOrderSettings:
        if self.mass_clear_share >= self.mass_share:
            raise ValueError("mass_clear_share: must be smaller than workorders.mass_share")
        return self

    @model_validator(mode="after")
    def _unique_webhooks(self) -> WorkOrderSettings:
        # Names that differ only in case or - vs _ would share their environment variables.
        seen: dict[str, str] = {}
        for hook in self.webhooks:
            env_var = webhook_env_var(hook.name, "URL")
            if env_var in seen:
                same = seen[env_var] == hook.name
                raise ValueError(
                    f"webhooks: the name {hook.name!r} is used twice"
                    if same
                    else f"webhooks: the names {seen[env_var]!r} and {hook.name!r} are too "
                    f"alike (both use {env_var})"
                )
            seen[env_var] = hook.name
        return self


class HttpSettings(_Section):
    listen: str = Field(
        "127.0.0.1:8080",
        description="HOST:PORT of the web page, API, /healthz and /metrics.",
    )
    public_url: str = Field(
        "",
        max_length=512,
        pattern=r"^(https?://[^\s/]+(/[^\s]*)?)?$",
        description="How workstations reach the web page, e.g. http://10.1.2.3:8080 (for the "
        "snapshot_url of status messages and work-order webhooks). Empty: http://<listen>.",
    )
    session_hours: float = Field(
        12.0,
        ge=0.1,
        le=24 * 31,
        description="A web login lasts this long after the last request (sliding); users are "
        "managed with gridbridge users (docs/auth.md).",
    )
    live_max_streams: int = Field(
        4,
        ge=1,
        le=64,
        description="Cameras whose live view (实时画面) may run at once: each decodes the "
        "camera's stream on this machine (a 1080p 25 fps H.264 stream takes about an eighth "
        "of a core; docs/live.md). More viewers of the same camera cost no more decoding.",
    )
    live_fps: int = Field(
        5, ge=1, le=5, description="Live view pictures per second (the rest are dropped)."
    )
    live_width: int = Field(
        640,
        ge=160,
        le=640,
        description="Live view pictures are scaled down to at most this many pixels wide "
        "(and high, for an upright stream).",
    )
    live_max_s: int = Field(
        600,
        ge=30,
        le=86_400,
        description="One live view ends after this many seconds (the page offers to go on), "
        "so a page left open does not hold one of the live_max_streams for good.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_basic_login(cls, data: Any) -> Any:
        # The single HTTP Basic login of earlier versions: say where it went, not just
        # "unknown key", so an upgraded daemon's config error tells the way.
        if isinstance(data, dict):
            for key in ("username", "password", "password_file"):
                if key in data:
                    raise ValueError(
                        f"{key}: the single web login is gone; add users to the store with "
                        "gridbridge users add NAME --role admin (docs/auth.md)"
                    )
        return data

    @property
    def base_url(self) -> str:
        """The web service as workstations reach it, for links to its pictures:
        ``public_url`` without a trailing ``/``, else ``http://<listen>``."""
        return self.public_url.rstrip("/") or f"http://{self.listen}"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
        return value


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    json_lines: bool = Field(False, description="One JSON object per log line (for log systems).")


class Settings(_Section):
    """The whole configuration file."""

    store: StoreSettings = Field(default_factory=StoreSettings, description="Database.")
    inventory: InventorySettings = Field(
        default_factory=InventorySettings, description="Camera inventory import."
    )
    grid: GridSettings = Field(default_factory=GridSettings, description="Grid map import.")
    cameras: CameraSettings = Field(
        default_factory=CameraSettings, description="Defaults for cameras."
    )
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="The MQTT bus.")
    probe: ProbeSettings = Field(default_factory=ProbeSettings, description="Cheap checks.")
    frames: FrameSettings = Field(default_factory=FrameSettings, description="Picture checks.")
    workorders: WorkOrderSettings = Field(
        default_factory=WorkOrderSettings, description="Maintenance work orders."
    )
    http: HttpSettings = Field(default_factory=HttpSettings, description="Web page and API.")
    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")

    @model_validator(mode="after")
    def _verification_fits(self) -> Settings:
        # Verification needs verify_checks healthy checks, one per probe interval: a shorter
        # timeout would send every repair back to 到场 before it could pass.
        orders = self.workorders
        needed = (orders.verify_checks + 1) * self.probe.interval_s
        if orders.enabled and orders.verify_timeout_s < needed:
            raise ValueError(
                f"workorders.verify_timeout_s: {orders.verify_timeout_s:g} s is too short for "
                f"verification ({orders.verify_checks} healthy checks every "
                f"probe.interval_s = {self.probe.interval_s:g} s); use at least {needed:g}"
            )
        return self


# (section, key, env var, file key) of every secret.
SECRETS: tuple[tuple[str, str, str, str], ...] = (
    ("store", "password", "GRIDBRIDGE_STORE_PASSWORD", "password_file"),
    ("store", "secret_key", "GRIDBRIDGE_SECRET_KEY", "secret_key_file"),
    ("cameras", "default_password", "GRIDBRIDGE_CAMERA_PASSWORD", "default_password_file"),
    ("mqtt", "password", "GRIDBRIDGE_MQTT_PASSWORD", "password_file"),
)


@dataclass(frozen=True)
class ConfigProblem:
    """One problem with the configuration, located by its key path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` lists every reason at once."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))


def load_settings(path: Path | None, env: dict[str, str] | None = None) -> Settings:
    """Read and validate the config file (or built-in defaults when ``path`` is None).

    Secrets from the environment and from ``*_file`` keys are folded in.  Raises
    :class:`ConfigError` listing every problem with its key path.
    """
    env = dict(os.environ) if env is None else env
    source = str(path) if path is not None else "built-in defaults"
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_toml(path)
    problems: list[ConfigProblem] = []
    base = path.parent if path else Path(".")
    _fold_secrets(data, env, base, problems)
    _fold_webhook_secrets(data, env, base, problems)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        # A secret whose file could not be read is not "required" on top of that.
        unread = {p.path.removesuffix("_file") for p in problems}
        problems.extend(
            p
            for p in _problems_of(exc)
            if not (p.path in unread and p.message.startswith("required"))
        )
        raise ConfigError(source, problems) from None
    if problems:
        raise ConfigError(source, problems)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    source = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ConfigError(source, [ConfigProblem("", "file not found")]) from None
    except OSError as exc:
        raise ConfigError(source, [ConfigProblem("", f"cannot read: {exc.strerror}")]) from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(source, [ConfigProblem("", f"file is {size} bytes, limit 1 MiB")])
    try:
        text = path.read_bytes().decode("utf-8-sig")
        return tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(source, [ConfigProblem("", "not UTF-8 text")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [ConfigProblem("", f"not valid TOML: {exc}")]) from None


def _fold_secrets(
    data: dict[str, Any], env: dict[str, str], base: Path, problems: list[ConfigProblem]
) -> None:
    """Put secrets from env vars and ``*_file`` keys into ``data`` (env wins over file)."""
    for section, key, env_var, file_key in SECRETS:
        sect = data.get(section)
        if sect is not None and not isinstance(sect, dict):
            continue  # reported by validation
        file_value = sect.get(file_key) if sect else None
        value = _read_secret_file(file_value, base, f"{section}.{file_key}", problems)
        if env.get(env_var):
            value = env[env_var]
        if value is not None:
            data.setdefault(section, {})[key] = value


def _fold_webhook_secrets(
    data: dict[str, Any], env: dict[str, str], base: Path, problems: list[ConfigProblem]
) -> None:
    """Put each ``[[workorders.webhooks]]`` target's URL and secret from its env vars
    (``GRIDBRIDGE_WEBHOOK_<NAME>_URL``/``_SECRET``) and ``*_file`` keys into ``data``."""
    section = data.get("workorders")
    hooks = section.get("webhooks") if isinstance(section, dict) else None
    if not isinstance(hooks, list):
        return  # absent, or reported by validation
    for index, hook in enumerate(hooks):
        if not isinstance(hook, dict):
            continue
        name = hook.get("name")
        for key, suffix, file_key in WEBHOOK_SECRETS:
            where = f"workorders.webhooks.{index}.{file_key}"
            value = _read_secret_file(hook.get(file_key), base, where, problems)
            env_var = webhook_env_var(name, suffix) if isinstance(name, str) and name else None
            if env_var and env.get(env_var):
                value = env[env_var]
            if value is not None:
                hook[key] = value


def _read_secret_file(
    file_value: Any, base: Path, where: str, problems: list[ConfigProblem]
) -> str | None:
    """The stripped text of the secret file named by ``file_value`` (relative to ``base``),
    or None when none is named or it cannot be read (a problem at ``where``)."""
    if not (isinstance(file_value, str) and file_value):
        return None
    secret_path = Path(file_value)
    if not secret_path.is_absolute():
        secret_path = base / secret_path
    try:
        raw = secret_path.read_bytes()[: MAX_SECRET_FILE_BYTES + 1]
        if len(raw) > MAX_SECRET_FILE_BYTES:
            problems.append(ConfigProblem(where, "file too large"))
            return None
        return raw.decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        problems.append(ConfigProblem(where, f"cannot read {secret_path}: {reason}"))
        return None


_MESSAGES = {
    "greater_than_equal": "must be ≥ {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be ≤ {le}",
    "less_than": "must be < {lt}",
    "extra_forbidden": "unknown key",
    "missing": "required",
    "string_too_long": "at most {max_length} characters",
    "string_too_short": "at least {min_length} characters",
    "string_pattern_mismatch": "has characters that are not allowed here",
    "literal_error": "must be one of {expected}",
}


def _num(value: Any) -> Any:
    """1.0 → 1 in messages; other values unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _problems_of(exc: ValidationError) -> list[ConfigProblem]:
    out: list[ConfigProblem] = []
    for err in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(p) for p in err["loc"])
        template = _MESSAGES.get(err["type"])
        ctx = err.get("ctx") or {}
        if template is not None:
            try:
                message = template.format(**{k: _num(v) for k, v in ctx.items()})
            except (KeyError, IndexError):
                message = err["msg"]
        elif err["type"] == "value_error":
            # Model validators say "field: reason" to point at the field inside the section.
            message = str(ctx.get("error", err["msg"]))
            field, sep, rest = message.partition(": ")
            if sep and field.isidentifier():
                path, message = f"{path}.{field}" if path else field, rest
        else:
            message = err["msg"][:1].lower() + err["msg"][1:]
        out.append(ConfigProblem(path, message))
    return out
