"""Opening the database: URL handling, the async engine, and schema migrations.

SQLite (aiosqlite, WAL) is the default; PostgreSQL (asyncpg) for larger sites.  URLs are only
ever shown with the password masked.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

logger = logging.getLogger(__name__)

DB_FILE_NAME = "gridbridge.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5_000

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class StoreError(Exception):
    """The store cannot do what was asked: unreachable database, refused change, unknown id.

    The message is for people; it never contains a password or a secret.
    """


class UnknownCameraError(StoreError):
    """The camera id names no camera in the store."""


def sqlite_url(data_dir: Path) -> str:
    """The URL of the default SQLite database, ``gridbridge.db`` inside ``data_dir``."""
    return URL.create("sqlite+aiosqlite", database=str(data_dir / DB_FILE_NAME)).render_as_string(
        hide_password=False
    )


def parse_url(url: str) -> URL:
    """``url`` with its async driver (``sqlite+aiosqlite`` or ``postgresql+asyncpg``).

    Plain ``sqlite://``, ``postgresql://`` and ``postgres://`` are accepted.  Raises
    `StoreError` for anything else, without echoing the URL (it may hold a password).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError("store.url is not a database URL") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise StoreError(
            f"store.url uses {parsed.drivername!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    return parsed.set(drivername=driver)


def mask_url(url: URL | str) -> str:
    """``url`` as safe to log: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def create_engine(
    url: URL,
    *,
    connect_timeout_s: float,
    query_timeout_s: float | None = None,
    foreign_keys: bool = True,
) -> AsyncEngine:
    """The async engine for ``url`` (as returned by `parse_url`); no connection made yet.

    SQLite: the parent directory of the file is created; every connection gets WAL, a busy
    timeout and, unless ``foreign_keys`` is false (migrations only), foreign keys on.
    Transactions are real SQLite transactions (DDL included); a connection with the execution
    option ``sqlite_begin="IMMEDIATE"`` takes the write lock at BEGIN, so two writers wait
    for each other instead of failing with "database is locked" (waiting at most the busy
    timeout).  PostgreSQL: connecting has a deadline of ``connect_timeout_s`` and every
    statement one of ``query_timeout_s`` (None: no deadline).
    """
    # Keep Chinese text readable in JSON columns and geometry compact.
    serializer = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    if url.get_backend_name() != "sqlite":
        return create_async_engine(
            url,
            json_serializer=serializer,
            pool_pre_ping=True,
            connect_args={"timeout": connect_timeout_s, "command_timeout": query_timeout_s},
        )
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        json_serializer=serializer,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    pragmas = (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}",
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}",
    )

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module, which would otherwise begin
        # transactions late and leave DDL outside them (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    def on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "begin", on_begin)
    return engine


def is_database_error(exc: BaseException) -> bool:
    """True for the errors a database connection can raise: SQLAlchemy's, OS-level ones
    (refused, reset, timed out) and asyncpg's own, which escape SQLAlchemy at connect.

    False for a value the store's own types refused (wrapped by SQLAlchemy in a
    `StatementError` that is no `DBAPIError`): that is the caller's mistake; see
    `caller_error`.
    """
    if caller_error(exc) is not None:
        return False
    if isinstance(exc, SQLAlchemyError | OSError):
        return True
    return type(exc).__module__.partition(".")[0] == "asyncpg"


def caller_error(exc: BaseException) -> Exception | None:
    """The `ValueError`/`TypeError` a column type raised for a bad argument (e.g. a naive
    datetime), unwrapped from SQLAlchemy's `StatementError`; None for anything else."""
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        orig = exc.orig
        if isinstance(orig, ValueError | TypeError):
            return orig
    return None


async def open_engine(
    url: str, *, connect_timeout_s: float, query_timeout_s: float | None = None
) -> AsyncEngine:
    """An engine on ``url`` whose database is reachable and migrated to the newest schema.

    Raises `StoreError` (password masked) when the database cannot be reached within
    ``connect_timeout_s`` or the migration fails.  ``query_timeout_s``: see `create_engine`
    (migrations run without it).
    """
    parsed = parse_url(url)
    shown = mask_url(parsed)
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        # Every pooled connection would get its own empty database.
        raise StoreError("store.url names no SQLite file: give sqlite:///PATH")
    engine: AsyncEngine | None = None
    try:
        # SQLite migrations run with foreign keys off: a table rebuilt by batch mode is
        # dropped, and with them on, dropping it would cascade-delete the child rows.
        migrator = create_engine(parsed, connect_timeout_s=connect_timeout_s, foreign_keys=False)
        try:
            conn = migrator.connect()
            async with asyncio.timeout(connect_timeout_s):
                await conn.start()
            try:
                async with conn.begin():
                    await conn.run_sync(upgrade)
            finally:
                await conn.close()
        finally:
            await migrator.dispose()
        engine = create_engine(
            parsed, connect_timeout_s=connect_timeout_s, query_timeout_s=query_timeout_s
        )
        async with asyncio.timeout(connect_timeout_s), engine.connect():
            pass
    except Exception as exc:
        if engine is not None:
            await engine.dispose()
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {connect_timeout_s:g} s"
        elif is_database_error(exc):
            reason = describe_error(exc, parsed)
        else:
            raise
        raise StoreError(f"cannot open the store at {shown}: {reason}") from None
    return engine


def upgrade(connection: Connection) -> None:
    """Apply every pending migration on ``connection`` (idempotent: nothing when up to date).

    On SQLite, refuses to finish (raising `StoreError`) when the migrated data breaks a
    foreign key, since migrations run with the checks off.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
        if broken is not None:
            raise StoreError(f"migration left rows of table {broken[0]} without their parent")


def describe_error(exc: BaseException, url: URL) -> str:
    """A one-line reason for ``exc``, safe to show: the driver's first line only.

    Later lines carry row values (PostgreSQL's "DETAIL: Failing row contains (…)", with the
    password token) and SQLAlchemy appends the statement and its parameters: all dropped.
    The URL's password is masked too, just in case.
    """
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    text = lines[0].strip() if lines else ""
    # SQLAlchemy's asyncpg adapter prefixes "<class 'asyncpg.exceptions.X'>: ".
    text = re.sub(r"^<class '[\w.]+'>:\s*", "", text) or type(orig).__name__
    if url.password:
        text = text.replace(str(url.password), "***")
    return text[:300]
