"""Opening the store: migrations, URLs, errors without secrets, timestamps."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from bridge.model import CameraState
from bridge.secretbox import SecretBox
from bridge.store import Store, StoreError, mask_url, sqlite_url
from bridge.store.engine import MIGRATIONS_DIR, create_engine, parse_url
from bridge.store.tables import Base

HEAD_REVISION = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()

TABLES = {
    "grid_cells",
    "cameras",
    "camera_links",
    "camera_state",
    "transitions",
    "work_orders",
    "work_order_cameras",
    "work_order_events",
    "outbox",
    "camera_onvif",
    "camera_frames",
    "work_order_episodes",
    "webhook_outbox",
    "users",
    "api_tokens",
    "web_sessions",
    "monitor_runs",
}


async def test_migrations_create_every_table_and_rerun_as_no_op(
    store_url: str, secret_box: SecretBox, raw_sql, make_camera
) -> None:
    async with Store(store_url, secret_box) as store:
        await store.apply_import([make_camera(1)], {}, {})
    # A second start finds the schema current and keeps the data.
    async with Store(store_url, secret_box) as store:
        assert await store.camera_ids() == {make_camera(1).id}
    assert [tuple(r) for r in await raw_sql("SELECT version_num FROM alembic_version")] == [
        (HEAD_REVISION,)
    ]


async def test_migrated_schema_matches_the_models(store: Store, store_url: str) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    engine = create_engine(parse_url(store_url), connect_timeout_s=5.0)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []
    table_names = {str(t) for t in Base.metadata.tables}
    assert table_names == TABLES


async def test_sqlite_file_and_directories_are_created(tmp_path: Path, secret_box) -> None:
    data_dir = tmp_path / "a" / "b"
    async with Store(sqlite_url(data_dir), secret_box):
        pass
    assert (data_dir / "gridbridge.db").is_file()


async def test_sqlite_pragmas_on_every_connection(tmp_path: Path, secret_box) -> None:
    # The store's own connections: WAL is kept in the file, the others per connection.
    async with (
        Store(sqlite_url(tmp_path), secret_box) as store,
        store._transaction("test") as conn,
    ):
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000


async def test_two_sqlite_writers_wait_for_each_other(
    tmp_path: Path, secret_box, make_camera
) -> None:
    # Two processes (daemon and a CLI import) share the file: each read-then-write import
    # must wait for the other's lock, not fail with "database is locked".
    url = sqlite_url(tmp_path)
    async with Store(url, secret_box) as one, Store(url, secret_box) as two:
        batches = [[make_camera(i) for i in range(k, 3_000, 2)] for k in (0, 1)]
        results = await asyncio.gather(
            one.apply_import(batches[0], {}, {}), two.apply_import(batches[1], {}, {})
        )
        assert [r.added for r in results] == [1_500, 1_500]
        assert len(await one.camera_ids()) == 3_000


@pytest.mark.postgres
async def test_a_statement_over_its_deadline_raises_store_error(
    pg_url: str, secret_box: SecretBox
) -> None:
    async with Store(pg_url, secret_box, query_timeout_s=0.2) as store:
        with pytest.raises(StoreError, match="slow query"):
            async with store._transaction("slow query") as conn:
                await conn.exec_driver_sql("SELECT pg_sleep(5)")
        assert await store.camera_ids() == set()  # the store still works


def test_urls() -> None:
    assert sqlite_url(Path("/var/lib/gb")) == "sqlite+aiosqlite:////var/lib/gb/gridbridge.db"
    assert parse_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert parse_url("postgres://u:p@h/db").drivername == "postgresql+asyncpg"
    assert parse_url("postgresql://u:p@h/db").drivername == "postgresql+asyncpg"
    assert mask_url("postgresql://gb:s3cr%40t@db.local/gb") == "postgresql://gb:***@db.local/gb"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://gb:hunter2@h/db", "uses 'mysql'"),
        ("sqlite://", "names no SQLite file"),
        ("sqlite:///:memory:", "names no SQLite file"),
        ("not a url hunter2", "not a database URL"),
        ("postgresql://gb:hunter2@127.0.0.1:1/gb", "cannot open the store at"),
    ],
)
async def test_open_errors_name_the_problem_never_the_password(
    url: str, expected: str, secret_box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = Store(url, secret_box, connect_timeout_s=2.0)
    with pytest.raises(StoreError, match=expected) as info:
        await store.start()
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(store)
    assert "hunter2" not in caplog.text


@pytest.mark.postgres
async def test_open_log_line_masks_password(
    pg_url: str, secret_box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Trust auth ignores the password, so this connects and logs the URL.
    with_password = pg_url.replace("postgres@", "postgres:hunter2@", 1)
    async with Store(with_password, secret_box):
        pass
    assert "store open at" in caplog.text
    assert "hunter2" not in caplog.text


async def test_methods_before_start_raise_store_error(secret_box: SecretBox, tmp_path) -> None:
    store = Store(sqlite_url(tmp_path), secret_box)
    with pytest.raises(StoreError, match="not started"):
        await store.camera_ids()


async def test_start_twice_without_close_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="already started"):
        await store.start()


async def test_timestamps_come_back_aware_utc(store: Store, make_camera) -> None:
    await store.apply_import([make_camera(1)], {}, {})
    cid = make_camera(1).id
    at = datetime(2025, 3, 1, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    await store.record_transition(cid, at, CameraState.UNKNOWN, CameraState.ONLINE, [], "ok")
    (view,) = await store.list_cameras()
    assert view.since == at
    assert view.since.tzinfo is UTC  # type: ignore[union-attr]
    assert view.checked_at == at
    assert view.checked_at.tzinfo is UTC  # type: ignore[union-attr]
    state, _, since = (await store.current_states())[cid]
    assert state is CameraState.ONLINE
    assert since == at
    assert since.tzinfo is UTC  # type: ignore[union-attr]


async def test_naive_timestamps_are_refused(store: Store, make_camera) -> None:
    await store.apply_import([make_camera(1)], {}, {})
    with pytest.raises(ValueError, match="naive datetime"):
        await store.record_transition(
            make_camera(1).id, datetime(2025, 1, 1), CameraState.UNKNOWN, CameraState.ONLINE, [], ""
        )
