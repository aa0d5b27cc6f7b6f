"""The store: grid map, camera inventory and links, camera state, transitions — and, for later
issues, work orders and the bus outbox — in SQLite (default) or PostgreSQL.

`Store` is the only way in.  Every method is one transaction: it happens whole or not at all.
Database failures surface as `StoreError` with a message for people and no password in it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.bus.message import Message
from bridge.model import CameraLink, CameraRecord, CameraState, CameraView, GridCell
from bridge.model import Mapping as CameraMapping
from bridge.observation import OnboardResult
from bridge.runs import watched_spans
from bridge.secretbox import SecretBox
from bridge.store import (
    cameras,
    frames,
    grid,
    links,
    monitoring,
    onvif,
    outbox,
    states,
    workorders,
)
from bridge.store import reports as reports_store
from bridge.store import runs as runs_store
from bridge.store import users as users_store
from bridge.store import webhooks as webhooks_store
from bridge.store.cameras import ImportCounts
from bridge.store.common import utcnow
from bridge.store.engine import (
    StoreError,
    UnknownCameraError,
    caller_error,
    describe_error,
    is_database_error,
    mask_url,
    open_engine,
    parse_url,
    sqlite_url,
)
from bridge.store.frames import FrameRecord
from bridge.store.reports import HistoryReader, ReportInventory
from bridge.store.users import UnknownUserError, UserExistsError
from bridge.store.workorders import StoredEvent
from bridge.users.model import TokenUse, User, WebSession
from bridge.workorders.model import Episode, Order, OrderEvent

__all__ = [
    "ImportCounts",
    "Store",
    "StoreError",
    "UnknownCameraError",
    "UnknownUserError",
    "UserExistsError",
    "mask_url",
    "sqlite_url",
]

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_S = 10.0
# Per statement (PostgreSQL); generous: one executemany of a 20,000-camera import is one
# statement.  SQLite waits for a lock at most its busy timeout (engine.SQLITE_BUSY_TIMEOUT_MS).
DEFAULT_QUERY_TIMEOUT_S = 60.0


class Store:
    """Persistent state of gridbridge behind one async engine.

    The constructor only assigns; `start` (or ``async with``) connects and migrates the schema
    to the newest version; `close` releases the connections.  Reusable after `close`, not
    re-entrant.  Deadlines: ``connect_timeout_s`` to connect, ``query_timeout_s`` per
    statement on PostgreSQL; exceeding either raises `StoreError`.  ``now`` gives the time
    stamped on rows (aware UTC).
    """

    def __init__(
        self,
        url: str,
        secret_box: SecretBox,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._url = url
        self._box = secret_box
        self._connect_timeout_s = connect_timeout_s
        self._query_timeout_s = query_timeout_s
        self._now = now
        self._engine: AsyncEngine | None = None

    def __repr__(self) -> str:
        return f"Store({mask_url(self._url)!r})"

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return parse_url(self._url).get_backend_name()

    async def start(self) -> None:
        """Connect (within ``connect_timeout_s``) and apply pending migrations.

        SQLite: the file and its directory are created when missing.  Raises `StoreError`
        when the database cannot be reached or migrated, or when already started.
        """
        if self._engine is not None:
            raise StoreError("the store is already started")
        self._engine = await open_engine(
            self._url,
            connect_timeout_s=self._connect_timeout_s,
            query_timeout_s=self._query_timeout_s,
        )
        logger.debug("store open at %s", mask_url(self._url))

    async def close(self) -> None:
        """Close every connection; a no-op when not started."""
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def ping(self) -> None:
        """One ``SELECT 1`` (readiness): returns when the database answers, raises
        `StoreError` when it does not (the caller sets the deadline)."""
        async with self._transaction("database not reachable") as conn:
            await conn.execute(text("SELECT 1"))

    @asynccontextmanager
    async def _transaction(
        self, what: str, *, write: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """One transaction; ``write`` takes SQLite's write lock at once (see `create_engine`).
        Database errors become `StoreError` naming ``what`` did not happen."""
        if self._engine is None:
            raise StoreError(f"{what}: the store is not started")
        try:
            async with self._engine.connect() as conn:
                if write:
                    await conn.execution_options(sqlite_begin="IMMEDIATE")
                async with conn.begin():
                    yield conn
        except Exception as exc:
            mistake = caller_error(exc)
            if mistake is not None:
                raise mistake from None
            if not is_database_error(exc):
                raise
            reason = describe_error(exc, parse_url(self._url))
            raise StoreError(f"{what}: {reason}") from None

    # --- grid -----------------------------------------------------------------------------

    async def replace_grid(
        self,
        cells: Sequence[GridCell],
        relinks: Mapping[str, Sequence[CameraLink]] | None = None,
        mappings: Mapping[str, CameraMapping] | None = None,
    ) -> None:
        """Replace the whole grid map with ``cells`` (kept in this order), atomically.

        With ``relinks``: for each camera id in it, its explicit and coordinates links become
        exactly the given ones (manual links are kept) and its mapping becomes
        ``mappings[id]`` (default: implied by the links).  Ids of cameras no longer stored are
        skipped.  On any failure (e.g. a duplicate cell code) nothing changes and
        `StoreError` is raised.
        """
        async with self._transaction("grid map not replaced", write=True) as conn:
            await grid.replace_grid(conn, cells, relinks or {}, mappings or {}, self._now())

    async def load_grid(self) -> list[GridCell]:
        """The stored grid map, in the order it was given (empty before the first load)."""
        async with self._transaction("grid map not read") as conn:
            return await grid.load_grid(conn)

    # --- cameras --------------------------------------------------------------------------

    async def camera_ids(self) -> set[str]:
        """The ids of every stored camera."""
        async with self._transaction("camera ids not read") as conn:
            return await cameras.camera_ids(conn)

    async def cameras_for_relink(self) -> list[CameraRecord]:
        """Every camera, ordered by id, with ``password=None`` (nothing decrypted) and its
        ``explicit_grids``: what a caller needs to recompute links after a new grid."""
        async with self._transaction("cameras not read") as conn:
            return await cameras.all_records(conn)

    async def apply_import(
        self,
        cameras_in: Sequence[CameraRecord],
        links_in: Mapping[str, Sequence[CameraLink]],
        mappings: Mapping[str, CameraMapping],
        prune: Collection[str] = (),
    ) -> ImportCounts:
        """Store an inventory import in one transaction.

        New cameras are inserted with state ``unknown`` (no faults, ``since`` = now).  A
        known camera is rewritten only when a field, its password (compared decrypted: a
        password stored under another key counts as changed and is re-encrypted), its
        mapping or its computed links differ; otherwise nothing of it is written and
        ``updated_at`` stays.  Each camera's explicit and coordinates links become exactly
        ``links_in[id]`` (none when absent); manual links are kept.  The mapping is
        ``mappings[id]``, default implied by the links.  Cameras in ``prune`` are deleted
        with their links and state (their transitions stay).

        Raises `ValueError` for inconsistent arguments (duplicate ids, links filed under
        another id or for a camera not in the import, manual links, an id both imported and
        pruned) and `StoreError` when the database refuses; then nothing is stored.
        """
        async with self._transaction("inventory not imported", write=True) as conn:
            return await cameras.apply_import(
                conn, self._box, cameras_in, links_in, mappings, prune, self._now()
            )

    async def list_cameras(
        self,
        grid_codes: Collection[str] | None = None,
        state: CameraState | None = None,
    ) -> list[CameraView]:
        """Cameras ordered by id, each with all its grid codes (sorted), mapping and state.

        ``grid_codes``: only cameras linked to at least one of these cells (the caller
        expands a township or village to its descendants); an empty collection gives none.
        ``state``: only cameras in that state (``unknown`` includes cameras with no state).
        """
        if isinstance(grid_codes, str):
            raise TypeError("grid_codes is a collection of codes, not one code")
        async with self._transaction("cameras not listed") as conn:
            return await cameras.list_views(conn, grid_codes, state)

    async def get_camera(self, camera_id: str) -> CameraRecord | None:
        """One camera with its password decrypted, or None when unknown.

        Raises `bridge.secretbox.SecretError` when the password was stored under another key.
        """
        async with self._transaction("camera not read") as conn:
            return await cameras.get_record(conn, self._box, camera_id)

    async def links_of(self, camera_id: str) -> list[CameraLink]:
        """The links of one camera sorted by grid code (empty when unknown)."""
        async with self._transaction("camera links not read") as conn:
            return await links.links_of(conn, camera_id)

    async def add_manual_link(self, camera_id: str, grid_code: str) -> bool:
        """Link a camera to a cell by hand (kept across imports and grid changes); an existing
        computed link to that cell becomes manual.  True when something changed.  Raises
        `UnknownCameraError` when the camera is not stored."""
        async with self._transaction("link not added", write=True) as conn:
            return await links.add_manual_link(conn, camera_id, grid_code, self._now())

    async def remove_link(self, camera_id: str, grid_code: str) -> bool:
        """Remove a camera's link to a cell, whatever its reason.  True when one was removed.
        (A computed link returns at the next import or grid change that computes it.)"""
        async with self._transaction("link not removed", write=True) as conn:
            return await links.remove_link(conn, camera_id, grid_code, self._now())

    # --- state ----------------------------------------------------------------------------

    async def record_transition(
        self,
        camera_id: str,
        at: datetime,
        from_state: CameraState,
        to_state: CameraState,
        faults: Sequence[str],
        reason: str,
        *,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append a transition to the log and make ``to_state`` (with ``faults``, since and
        checked at ``at``) the camera's current state, in one transaction.  ``detail``, when
        given, replaces the state's detail object.  ``at`` must be timezone-aware.  Raises
        `UnknownCameraError` (and records nothing) when the camera is not stored."""
        async with self._transaction("transition not recorded", write=True) as conn:
            await states.record_transition(
                conn, camera_id, at, from_state, to_state, faults, reason, detail
            )

    async def current_states(
        self,
    ) -> dict[str, tuple[CameraState, tuple[str, ...], datetime | None]]:
        """camera id → (state, faults, since) for every stored camera."""
        async with self._transaction("camera states not read") as conn:
            return await states.current_states(conn)

    # --- monitoring (bulk) ------------------------------------------------------------------

    async def monitor_records(self) -> tuple[list[CameraRecord], list[str]]:
        """Every camera with its password decrypted, ordered by id, and the ids whose stored
        password cannot be decrypted with this key (returned with ``password=None``)."""
        async with self._transaction("cameras not read") as conn:
            return await monitoring.monitor_records(conn, self._box)

    async def state_rows(self) -> dict[str, monitoring.StateRow]:
        """camera id → stored state, faults, since, checked at and flapping flag."""
        async with self._transaction("camera states not read") as conn:
            return await monitoring.state_rows(conn)

    async def record_transitions(
        self,
        batch: Sequence[monitoring.TransitionRecord],
        messages: Sequence[Message] = (),
    ) -> int:
        """Append a batch of transitions, set each camera's current state (``since`` moves
        only when the state changed) and put ``messages`` (their statuses for the bus) into
        the outbox — all in one transaction, so a state change is never recorded without its
        message, nor published without being recorded.  Cameras no longer stored are skipped
        but their transitions logged.  Returns how many states were set."""
        async with self._transaction("transitions not recorded", write=True) as conn:
            applied = await monitoring.record_transitions(conn, batch)
            if messages:
                await outbox.enqueue(conn, messages, self._now())
            return applied

    async def transitions_of(
        self, camera_id: str, limit: int = 50
    ) -> list[monitoring.LoggedTransition]:
        """The camera's last ``limit`` transitions from the log, newest first (its page's
        timeline)."""
        async with self._transaction("transitions not read") as conn:
            return await monitoring.transitions_of(conn, camera_id, limit)

    async def inventory_mark(self) -> tuple[int, datetime | None, int]:
        """A cheap fingerprint of the inventory and grid map: it changes whenever an import,
        a new map, a manual link or a changed password touched them."""
        async with self._transaction("inventory not read") as conn:
            return await monitoring.inventory_mark(conn)

    async def touch_checked(self, checked: Sequence[tuple[str, datetime]]) -> None:
        """Record the time of the latest check of many cameras in one transaction."""
        async with self._transaction("check times not recorded", write=True) as conn:
            await monitoring.touch_checked(conn, checked)

    # --- ONVIF onboarding -----------------------------------------------------------------

    async def save_onboarding(self, camera_id: str, result: OnboardResult, at: datetime) -> None:
        """Store ``result`` as the camera's ONVIF onboarding made at ``at`` (timezone-aware),
        replacing any earlier one.  Raises `UnknownCameraError` (and stores nothing) when
        the camera is not stored."""
        async with self._transaction("onboarding not saved", write=True) as conn:
            await onvif.save_onboarding(conn, camera_id, result, at)

    async def get_onboarding(self, camera_id: str) -> tuple[OnboardResult, datetime] | None:
        """The camera's last ONVIF onboarding and when it was made; None when it has none
        (or the camera is unknown)."""
        async with self._transaction("onboarding not read") as conn:
            return await onvif.get_onboarding(conn, camera_id)

    async def onboarding_due(self, camera_ids: Collection[str] | None = None) -> set[str]:
        """Ids of the cameras that need ONVIF onboarding: never onboarded, or changed by an
        inventory import (``updated_at``) after their last onboarding.  Cameras without a
        host are never due.  ``camera_ids`` limits the answer to those cameras (None: all)."""
        if isinstance(camera_ids, str):
            raise TypeError("camera_ids is a collection of ids, not one id")
        async with self._transaction("cameras due for onboarding not read") as conn:
            return await onvif.onboarding_due(conn, camera_ids)

    async def onboarded(self) -> dict[str, tuple[str, str | None]]:
        """camera id → (recorded serial, stream URI) of every onboarded camera."""
        async with self._transaction("onboardings not read") as conn:
            return await onvif.onboarded(conn)

    async def forget_onboarding(self, camera_id: str) -> bool:
        """Drop the camera's onboarding (e.g. when its serial changed: the device was
        replaced), so that it is due again.  True when there was one."""
        async with self._transaction("onboarding not forgotten", write=True) as conn:
            return await onvif.forget_onboarding(conn, camera_id)

    # --- picture checks (frame tier) --------------------------------------------------------

    async def save_frame(
        self, camera_id: str, record: FrameRecord, messages: Sequence[Message] = ()
    ) -> None:
        """Store the camera's last picture check and, in the same transaction, enqueue
        ``messages`` (its status with the new thumbnail hash).  Raises `UnknownCameraError`
        when the camera is not stored."""
        async with self._transaction("picture check not saved", write=True) as conn:
            await frames.save_frame(conn, camera_id, record)
            if messages:
                await outbox.enqueue(conn, messages, self._now())

    async def frame_records(self) -> dict[str, FrameRecord]:
        """camera id → its last picture check, for every camera looked at."""
        async with self._transaction("picture checks not read") as conn:
            return await frames.frame_records(conn)

    async def get_frame(self, camera_id: str) -> FrameRecord | None:
        async with self._transaction("picture check not read") as conn:
            return await frames.get_frame(conn, camera_id)

    async def forget_picture_baseline(self, camera_id: str) -> bool:
        """Forget the baseline learnt from the camera's pictures (re-aimed, re-focused,
        learnt while faulty); the next healthy looks learn it again.  True if it had one."""
        async with self._transaction("picture baseline not forgotten", write=True) as conn:
            return await frames.forget_baseline(conn, camera_id)

    async def record_order_events(
        self,
        events: Sequence[OrderEvent],
        episodes: Sequence[Episode] = (),
        messages: Sequence[Message] = (),
        *,
        forget_episodes: Collection[str] = (),
        webhooks: Sequence[tuple[str, bytes]] = (),
    ) -> int:
        """Record work-order events with their orders, the order book's episodes, the
        bus messages announcing them and the ``webhooks`` bodies (``(target, body)``, see
        `enqueue_webhooks`), in one transaction.  Idempotent: events already
        recorded (same order and seq) are skipped, an order is never replaced by an older
        version.  Returns how many events were new.  Webhook bodies are queued as given,
        even when their events were recorded before: a replayed batch is delivered again
        (webhook delivery is at least once; receivers deduplicate on order and seq)."""
        async with self._transaction("work-order events not recorded", write=True) as conn:
            new = await workorders.record_events(
                conn, events, episodes, forget_episodes, self._now()
            )
            if messages:
                await outbox.enqueue(conn, messages, self._now())
            if webhooks:
                await webhooks_store.enqueue(conn, webhooks, self._now())
            return new

    async def load_orders(
        self, *, open_only: bool = False, state: str | None = None, camera_id: str | None = None
    ) -> list[Order]:
        """Work orders, oldest first (all, open ones, in a state, or of a camera)."""
        async with self._transaction("work orders not read") as conn:
            return await workorders.load_orders(
                conn, open_only=open_only, state=state, camera_id=camera_id
            )

    async def load_book_orders(self, closed_since: datetime, faulty: Sequence[str]) -> list[Order]:
        """The orders the daemon's order book keeps (`workorders.load_book_orders`)."""
        async with self._transaction("work orders not read") as conn:
            return await workorders.load_book_orders(conn, closed_since, faulty)

    async def get_order(self, order_id: str) -> Order | None:
        async with self._transaction("work order not read") as conn:
            return await workorders.get_order(conn, order_id)

    async def order_events(self, order_id: str) -> list[StoredEvent]:
        """The recorded history of an order, in order."""
        async with self._transaction("work-order events not read") as conn:
            return await workorders.order_events(conn, order_id)

    async def load_order_episodes(self) -> list[Episode]:
        async with self._transaction("work-order episodes not read") as conn:
            return await workorders.load_episodes(conn)

    # --- bus outbox (DESIGN §4) -------------------------------------------------------------

    async def enqueue(self, messages: Sequence[Message]) -> int:
        """Append ``messages`` to the bus outbox, in order, in one transaction; returns how
        many.  To write them with another change atomically, call
        `bridge.store.outbox.enqueue` with that transaction's connection instead."""
        async with self._transaction("bus messages not queued", write=True) as conn:
            return await outbox.enqueue(conn, messages, self._now())

    async def pending(self, limit: int, after: int | None = None) -> list[tuple[int, Message]]:
        """Up to ``limit`` unsent outbox messages, lowest id first, as ``(id, message)``;
        with ``after``, only those of a higher id."""
        async with self._transaction("bus outbox not read") as conn:
            return await outbox.pending(conn, limit, after)

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        """Unsent outbox messages and when the oldest was queued (``None``: none), for
        /metrics."""
        async with self._transaction("bus outbox not read") as conn:
            return await outbox.backlog(conn)

    async def mark_sent(self, ids: Sequence[int], at: datetime) -> int:
        """Mark outbox rows ``ids`` sent at ``at`` (timezone-aware); returns how many
        changed (rows already sent are left as they are)."""
        async with self._transaction("bus messages not marked sent", write=True) as conn:
            return await outbox.mark_sent(conn, ids, at)

    async def prune_sent(self, older_than: datetime) -> int:
        """Delete outbox rows sent before ``older_than``; returns how many.  Unsent rows
        are never deleted."""
        async with self._transaction("bus outbox not pruned", write=True) as conn:
            return await outbox.prune_sent(conn, older_than)

    # --- webhook outbox (work-order events to 企业微信/钉钉/JSON receivers) ------------------

    async def enqueue_webhooks(self, items: Sequence[tuple[str, bytes]]) -> int:
        """Queue ``items`` — ``(target name, rendered body)`` — for delivery, in order, in
        one transaction; returns how many.  To queue them with the work-order events they
        announce, pass them to `record_order_events` (or call
        `bridge.store.webhooks.enqueue` with that transaction's connection) instead."""
        async with self._transaction("webhook messages not queued", write=True) as conn:
            return await webhooks_store.enqueue(conn, items, self._now())

    async def webhooks_due(self, target: str, limit: int, now: datetime) -> list[tuple[int, bytes]]:
        """Up to ``limit`` pending messages of ``target`` as ``(id, body)``, oldest first —
        none when the oldest one's next attempt is after ``now`` (strict order)."""
        async with self._transaction("webhook queue not read") as conn:
            return await webhooks_store.due(conn, target, limit, now)

    async def webhook_delivered(self, item_id: int, at: datetime) -> bool:
        """Mark a pending webhook message delivered; False when it was not pending."""
        async with self._transaction("webhook message not marked delivered", write=True) as conn:
            return await webhooks_store.delivered(conn, item_id, at)

    async def webhook_retry(
        self, item_id: int, next_at: datetime, attempts: int, error: str
    ) -> bool:
        """Record a failed attempt of a pending webhook message, tried again from
        ``next_at``; False when it was not pending."""
        async with self._transaction("webhook retry not recorded", write=True) as conn:
            return await webhooks_store.retry(conn, item_id, next_at, attempts, error)

    async def webhook_failed(self, item_id: int, at: datetime, error: str) -> bool:
        """Give a pending webhook message up (refused for good); False when not pending."""
        async with self._transaction("webhook message not marked failed", write=True) as conn:
            return await webhooks_store.failed(conn, item_id, at, error)

    async def prune_webhooks(self, older_than: datetime) -> int:
        """Delete webhook messages delivered or given up before ``older_than``; returns how
        many.  Pending messages are never deleted."""
        async with self._transaction("webhook queue not pruned", write=True) as conn:
            return await webhooks_store.prune(conn, older_than)

    async def webhook_backlog(self) -> dict[str, tuple[int, datetime]]:
        """target → (pending messages, when the oldest was queued), for /healthz and
        /metrics; targets with nothing pending are absent."""
        async with self._transaction("webhook queue not read") as conn:
            return await webhooks_store.backlog(conn)

    # --- users, API tokens, web sessions (bridge.store.users; docs/auth.md) -----------------

    async def add_user(self, user: User, password_hash: str) -> None:
        """Add a user with a password hash; `UserExistsError` when the name is taken."""
        async with self._transaction("user not added", write=True) as conn:
            await users_store.add_user(conn, user, password_hash, self._now())

    async def get_user(self, name: str) -> User | None:
        async with self._transaction("user not read") as conn:
            return await users_store.get_user(conn, name)

    async def login_record(self, name: str) -> tuple[User, str] | None:
        """The user and its password hash (for a login); None for an unknown name."""
        async with self._transaction("user not read") as conn:
            return await users_store.login_record(conn, name)

    async def list_users(self) -> list[tuple[User, int]]:
        """Every user by name, with its number of API tokens."""
        async with self._transaction("users not listed") as conn:
            return await users_store.list_users(conn)

    async def remove_user(self, name: str) -> bool:
        """Delete a user, its tokens and sessions; False when there was none."""
        async with self._transaction("user not removed", write=True) as conn:
            return await users_store.remove_user(conn, name)

    async def set_password(self, name: str, password_hash: str, *, end_sessions: bool) -> bool:
        """A new password hash (with ``end_sessions``, the user's browsers must sign in
        again); False for an unknown user."""
        async with self._transaction("password not changed", write=True) as conn:
            return await users_store.set_password(
                conn, name, password_hash, self._now(), end_sessions=end_sessions
            )

    async def set_user_disabled(self, name: str, disabled: bool) -> bool:
        """Disable (ends its sessions; its tokens let nobody in) or enable a user; False for
        an unknown user."""
        async with self._transaction("user not changed", write=True) as conn:
            return await users_store.set_disabled(conn, name, disabled, self._now())

    async def add_token(self, name: str, token_sha256: str, label: str = "") -> int:
        """Record an API token of ``name`` by its SHA-256; `UnknownUserError` when unknown."""
        async with self._transaction("token not added", write=True) as conn:
            return await users_store.add_token(conn, name, token_sha256, label, self._now())

    async def revoke_tokens(self, name: str) -> int:
        """Delete every API token of ``name``; returns how many."""
        async with self._transaction("tokens not revoked", write=True) as conn:
            return await users_store.revoke_tokens(conn, name)

    async def token_user(self, token_sha256: str) -> TokenUse | None:
        async with self._transaction("token not read") as conn:
            return await users_store.token_user(conn, token_sha256)

    async def touch_token(self, token_id: int, at: datetime) -> None:
        async with self._transaction("token use not recorded", write=True) as conn:
            await users_store.touch_token(conn, token_id, at)

    async def create_session(
        self, id_sha256: str, name: str, csrf_token: str, at: datetime, expires_at: datetime
    ) -> None:
        """Record a new web session begun ``at`` (sessions expired by then are dropped on
        the way); `UnknownUserError` for an unknown user."""
        async with self._transaction("session not created", write=True) as conn:
            await users_store.create_session(conn, id_sha256, name, csrf_token, at, expires_at)

    async def session_of(self, id_sha256: str, now: datetime) -> WebSession | None:
        """The live session with this SHA-256 and its user; None when unknown or expired."""
        async with self._transaction("session not read") as conn:
            return await users_store.session_of(conn, id_sha256, now)

    async def extend_session(self, id_sha256: str, expires_at: datetime) -> bool:
        async with self._transaction("session not extended", write=True) as conn:
            return await users_store.extend_session(conn, id_sha256, expires_at)

    async def end_session(self, id_sha256: str) -> bool:
        async with self._transaction("session not ended", write=True) as conn:
            return await users_store.end_session(conn, id_sha256)

    # --- the daemon's runs (bridge.runs) -------------------------------------------------

    async def start_run(self, at: datetime) -> int:
        """Record a run of the daemon starting at ``at``; returns its id."""
        async with self._transaction("run not recorded", write=True) as conn:
            return await runs_store.start(conn, at)

    async def run_alive(self, run_id: int, at: datetime) -> None:
        async with self._transaction("run not marked alive", write=True) as conn:
            await runs_store.alive(conn, run_id, at)

    async def end_run(self, run_id: int, at: datetime) -> None:
        async with self._transaction("run end not recorded", write=True) as conn:
            await runs_store.end(conn, run_id, at)

    # --- reports (bridge.store.reports; docs/reports.md) ---------------------------------

    async def report_data(
        self,
        start: datetime,
        end: datetime,
        begin: Callable[[ReportInventory], HistoryReader],
    ) -> tuple[ReportInventory, int]:
        """What the 在线率/完好率 report reads, in one transaction (so all of it agrees):
        the inventory (grid cells; every camera with its links and when it entered the
        inventory; when the daemon was running) is given to ``begin``, which returns the
        consumer of the histories; then each camera's last logged state before ``start``
        and its transitions in [``start``, ``end``) are handed to that consumer one camera
        at a time as the rows stream in (cameras with neither are not).  Returns the
        inventory and how many transitions were read.  Both callbacks run on the event
        loop (the consumer between fetches of `bridge.store.reports.PARTITION_ROWS` rows):
        they should be quick."""
        async with self._transaction("report data not read") as conn:
            inv = await reports_store.inventory(conn)
            runs, first_run = await runs_store.overlapping(conn, start, end)
            inv = replace(inv, watched=watched_spans(runs, first_run, start, end))
            reader = begin(inv)
            read = await reports_store.histories(conn, inv.added_at, start, end, reader)
            return inv, read
