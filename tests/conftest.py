"""Fixtures shared by the whole test suite.

Real peers: the ``store`` fixture runs every store test on SQLite (a file under ``tmp_path``)
and on the machine's real PostgreSQL (a fresh database per test, dropped afterwards).  When
PostgreSQL is unreachable its tests are skipped — except under ``CI=true``, where they fail:
a test that needs a real peer must not pass silently in CI.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bridge.secretbox import SecretBox
from bridge.store import Store, sqlite_url
from tests.support import peer_missing

PG_DSN_ENV = "GRIDBRIDGE_TEST_PG_DSN"
DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_CONNECT_TIMEOUT_S = 5.0


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one test; yields its URL and drops it after."""
    import asyncpg

    dsn = os.environ.get(PG_DSN_ENV, DEFAULT_PG_DSN)
    shown = make_url(dsn).render_as_string(hide_password=True)

    async def maintenance() -> asyncpg.Connection:
        try:
            return await asyncpg.connect(dsn, timeout=PG_CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            peer_missing(f"PostgreSQL at {shown} unreachable: {type(exc).__name__}: {exc}")

    name = f"gbtest_{secrets.token_hex(6)}"
    conn = await maintenance()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield make_url(dsn).set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await maintenance()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
def secret_box() -> SecretBox:
    """A `SecretBox` with a fresh random key."""
    return SecretBox(SecretBox.generate_key())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "data")
        return
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """The URL of a fresh PostgreSQL database (for PostgreSQL-only tests)."""
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
async def store(store_url: str, secret_box: SecretBox) -> AsyncIterator[Store]:
    """A started `Store` on an empty, migrated database (SQLite and PostgreSQL)."""
    async with Store(store_url, secret_box) as started:
        yield started


SLOW_FIRST = ("tests/e2e/", "tests/browser/")
"""The daemon-level tests (tens of seconds each) run first: in parallel, the short ones
then fill both workers to the end instead of one worker finishing a long test alone."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(SLOW_FIRST))  # stable


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """In parallel (pytest-xdist, ``scripts/test``): each test on its own, except the
    real-browser tests, which share one daemon (`tests/browser`'s ``site``, package scope)
    and so run on one worker, not each worker starting a daemon of its own.  (xdist's own
    ``--dist loadgroup`` marks no longer reach it under pytest 9.2, whose node ids are
    read-only.)"""
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/browser/" if nodeid.startswith("tests/browser/") else nodeid

    return Scheduling(config, log)
