"""The store's schema as typed declarative models.

The models describe the schema; the migrations in ``bridge/store/migrations/versions`` create
it (a test checks that both agree).  Queries run as Core statements on the tables (``*_t``
below) so bulk work is executemany, not one ORM round-trip per row.

Timestamps are `UTCDateTime`: aware UTC datetimes in and out, whatever the backend returns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names: Alembic's batch mode on SQLite and later migrations refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 64  # GB/T 28181 ids are 20 characters; other systems' codes may be longer


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    Binding a naive datetime raises `ValueError` (its meaning would be a guess).  SQLite keeps
    no zone, so values are stored there as naive UTC and given back aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: timestamps must carry a zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite autoincrements only an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class GridCellRow(Base):
    """One cell of the grid map; the whole map is replaced at once."""

    __tablename__ = "grid_cells"

    code: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    parent: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer)  # order of the cells in the grid file


class CameraRow(Base):
    """One camera of the inventory.  ``rtsp_url`` never carries credentials;
    ``password_enc`` is a `SecretBox` token, never the password."""

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    type_code: Mapped[str] = mapped_column(String(16))
    host: Mapped[str | None] = mapped_column(String(255))
    rtsp_port: Mapped[int] = mapped_column(Integer)
    onvif_port: Mapped[int] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(Text)
    password_enc: Mapped[str | None] = mapped_column(Text)
    rtsp_url: Mapped[str | None] = mapped_column(Text)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    crs: Mapped[str | None] = mapped_column(String(16))
    lon_wgs84: Mapped[float | None] = mapped_column(Float)
    lat_wgs84: Mapped[float | None] = mapped_column(Float)
    explicit_grids: Mapped[list[str]] = mapped_column(JSON)  # grid codes the inventory names
    key_location: Mapped[bool] = mapped_column(Boolean)
    upstream_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    address: Mapped[str] = mapped_column(Text)
    vendor: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    mapping: Mapped[str] = mapped_column(String(16))
    source_row: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CameraLinkRow(Base):
    """A camera's link to a grid cell.  No foreign key to ``grid_cells``: links outlive a grid
    replacement until they are recomputed, and manual links are kept."""

    __tablename__ = "camera_links"

    camera_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    grid_code: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, index=True)
    reason: Mapped[str] = mapped_column(String(16))


class CameraStateRow(Base):
    """A camera's current state; survives restarts."""

    __tablename__ = "camera_state"

    camera_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16))
    faults: Mapped[list[str]] = mapped_column(JSON)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class CameraOnvifRow(Base):
    """What ONVIF onboarding learnt about a camera (`bridge.observation.OnboardResult`).

    Replaced whole at each onboarding; gone with the camera.  URIs are pinned to the
    camera's configured host and hold no credentials.
    """

    __tablename__ = "camera_onvif"

    camera_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    manufacturer: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    firmware: Mapped[str] = mapped_column(Text)
    serial: Mapped[str] = mapped_column(Text)
    hardware_id: Mapped[str] = mapped_column(Text)
    stream_uri: Mapped[str | None] = mapped_column(Text)
    snapshot_uri: Mapped[str | None] = mapped_column(Text)
    profiles: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    services: Mapped[list[str]] = mapped_column(JSON)
    onboarded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CameraFrameRow(Base):
    """What the picture checks know of a camera: the last look, the picture faults confirmed,
    the baseline learnt from its healthy pictures, the last thumbnail's hash.

    Replaced at each look; gone with the camera.  The pictures themselves live on disk
    (`bridge.snapshots`).
    """

    __tablename__ = "camera_frames"

    camera_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str | None] = mapped_column(String(8))
    faults: Mapped[list[str]] = mapped_column(JSON)
    pending: Mapped[list[str]] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    # SQL NULL, not JSON null, when there is none (a camera not learnt yet).
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64))
    snapshot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str] = mapped_column(Text)


class TransitionRow(Base):
    """Append-only log of state changes.  No foreign key: history survives camera removal."""

    __tablename__ = "transitions"
    __table_args__ = (Index("ix_transitions_camera_id_at", "camera_id", "at"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    faults: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)


class WorkOrderRow(Base):
    """A maintenance work order: the whole order in ``data`` (`bridge.workorders.codec`),
    the columns index it.  ``version`` counts its events: an older write never overwrites a
    newer one (replays after a crash are harmless)."""

    __tablename__ = "work_orders"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    upstream_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    faults: Mapped[list[str]] = mapped_column(JSON)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class WorkOrderCameraRow(Base):
    """Cameras of a work order.  No foreign key to cameras: orders outlive cameras."""

    __tablename__ = "work_order_cameras"

    order_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("work_orders.id", ondelete="CASCADE"), primary_key=True
    )
    camera_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, index=True)


class WorkOrderEventRow(Base):
    """One event of a work order (opened, a step, escalated …), ``seq`` = the order's version
    after it: ``(order_id, seq)`` is unique, so storing the same event twice stores it once."""

    __tablename__ = "work_order_events"
    __table_args__ = (UniqueConstraint("order_id", "seq"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(24))
    step: Mapped[str] = mapped_column(String(16))  # "" for events that take no step
    actor: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text)


class WorkOrderEpisodeRow(Base):
    """What the order book knows of a camera's current fault episode (for a restart): when
    it began keys its order.  No foreign key: written in the same transaction as the events,
    dropped when the camera leaves the inventory."""

    __tablename__ = "work_order_episodes"

    camera_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxRow(Base):
    """A bus message waiting for the broker (DESIGN §4: changes made while it was away)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    qos: Mapped[int] = mapped_column(SmallInteger)
    retain: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


WEBHOOK_ERROR_LENGTH = 300  # a `DeliveryError` message: status, platform code, short text


class WebhookOutboxRow(Base):
    """A work-order event rendered for one webhook target, queued until delivered or given
    up (`bridge.store.webhooks`).  ``next_at`` is when the next attempt may be made;
    ``error`` the last failure's reason, never the target's URL (it holds the robot key)."""

    __tablename__ = "webhook_outbox"
    # `due` reads a target's pending rows (both settled times NULL) in id order.
    __table_args__ = (Index(None, "target", "delivered_at", "failed_at", "id"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(ID_LENGTH))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str] = mapped_column(String(WEBHOOK_ERROR_LENGTH))


USER_NAME_LENGTH = 64  # `bridge.users.model.MAX_NAME_LENGTH`
PASSWORD_HASH_LENGTH = 255  # "scrypt$N$r$p$salt$hash": ~90 characters today
TOKEN_LABEL_LENGTH = 100


class UserRow(Base):
    """A user of the web page and API (`bridge.users.model.User`).  ``password_hash`` is
    scrypt's (`bridge.users.passwords`), never the password."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(USER_NAME_LENGTH), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str | None] = mapped_column(String(ID_LENGTH))  # a grid map code
    password_hash: Mapped[str] = mapped_column(String(PASSWORD_HASH_LENGTH))
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiTokenRow(Base):
    """An API token of a user (``Authorization: Bearer gbt_…``), kept as its SHA-256 only;
    gone with its user."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(
        String(USER_NAME_LENGTH), ForeignKey("users.name", ondelete="CASCADE"), index=True
    )
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(TOKEN_LABEL_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSessionRow(Base):
    """A signed-in browser: the ``gb_session`` cookie's SHA-256, its CSRF token and when it
    ends (moved on while in use).  Gone with its user; expired rows are pruned."""

    __tablename__ = "web_sessions"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(
        String(USER_NAME_LENGTH), ForeignKey("users.name", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class MonitorRunRow(Base):
    """One run of the daemon: when it started, when it last said it was alive (every
    minute), when it stopped in order (``None``: running, or killed).  The reports count no
    monitored time outside the runs (`bridge.runs`)."""

    __tablename__ = "monitor_runs"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    alive_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


grid_cells_t = _table(GridCellRow)
cameras_t = _table(CameraRow)
camera_links_t = _table(CameraLinkRow)
camera_state_t = _table(CameraStateRow)
camera_onvif_t = _table(CameraOnvifRow)
camera_frames_t = _table(CameraFrameRow)
transitions_t = _table(TransitionRow)
work_orders_t = _table(WorkOrderRow)
work_order_cameras_t = _table(WorkOrderCameraRow)
work_order_events_t = _table(WorkOrderEventRow)
work_order_episodes_t = _table(WorkOrderEpisodeRow)
outbox_t = _table(OutboxRow)
webhook_outbox_t = _table(WebhookOutboxRow)
users_t = _table(UserRow)
api_tokens_t = _table(ApiTokenRow)
web_sessions_t = _table(WebSessionRow)
monitor_runs_t = _table(MonitorRunRow)
