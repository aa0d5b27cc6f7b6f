"""The webhook outbox: work-order events rendered per target, kept until delivered.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Written by hand; ``tests/bridge/store`` checks that it matches `bridge.store.tables`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

ID = 64
ERROR = 300
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("target", sa.String(ID), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        _ts("created_at"),
        _ts("next_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("delivered_at", nullable=True),
        _ts("failed_at", nullable=True),
        sa.Column("error", sa.String(ERROR), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_outbox"),
    )
    op.create_index(
        "ix_webhook_outbox_target_delivered_at_failed_at_id",
        "webhook_outbox",
        ["target", "delivered_at", "failed_at", "id"],
    )


def downgrade() -> None:
    op.drop_table("webhook_outbox")
