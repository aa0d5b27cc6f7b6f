"""The daemon's runs, so that reports count no monitored time while it was stopped.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27

One row per start of the daemon (`bridge.runs`).  Written by hand; ``tests/bridge/store``
checks that it matches `bridge.store.tables`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitor_runs",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alive_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_runs"),
    )
    op.create_index("ix_monitor_runs_started_at", "monitor_runs", ["started_at"])


def downgrade() -> None:
    op.drop_table("monitor_runs")
