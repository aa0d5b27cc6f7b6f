"""Work orders in their real shape: versioned orders, events keyed by (order, seq), episodes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

The three work-order tables of 0001 were placeholders no release ever wrote to: they are
dropped and made again (a downgrade makes the placeholders again, empty).  Written by hand;
``tests/bridge/store`` checks that it matches `bridge.store.tables`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

ID = 64
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk_order(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["order_id"],
        ["work_orders.id"],
        name=f"fk_{table}_order_id_work_orders",
        ondelete="CASCADE",
    )


def _drop_placeholders() -> None:
    for table in ("work_order_events", "work_order_cameras", "work_orders"):
        op.drop_table(table)


def upgrade() -> None:
    _drop_placeholders()
    op.create_table(
        "work_orders",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("upstream_id", sa.String(ID), nullable=True),
        sa.Column("faults", sa.JSON(), nullable=False),
        _ts("opened_at"),
        _ts("deadline", nullable=True),
        _ts("updated_at"),
        _ts("closed_at", nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_work_orders"),
    )
    op.create_index("ix_work_orders_state", "work_orders", ["state"])
    op.create_index("ix_work_orders_opened_at", "work_orders", ["opened_at"])
    op.create_table(
        "work_order_cameras",
        sa.Column("order_id", sa.String(ID), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        _fk_order("work_order_cameras"),
        sa.PrimaryKeyConstraint("order_id", "camera_id", name="pk_work_order_cameras"),
    )
    op.create_index("ix_work_order_cameras_camera_id", "work_order_cameras", ["camera_id"])
    op.create_table(
        "work_order_events",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(ID), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        _ts("at"),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        _fk_order("work_order_events"),
        sa.PrimaryKeyConstraint("id", name="pk_work_order_events"),
        sa.UniqueConstraint("order_id", "seq", name="uq_work_order_events_order_id_seq"),
    )
    op.create_index("ix_work_order_events_order_id", "work_order_events", ["order_id"])
    op.create_table(
        "work_order_episodes",
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("camera_id", name="pk_work_order_episodes"),
    )


def downgrade() -> None:
    op.drop_table("work_order_episodes")
    _drop_placeholders()
    op.create_table(
        "work_orders",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("upstream_id", sa.String(ID), nullable=True),
        sa.Column("faults", sa.JSON(), nullable=False),
        _ts("opened_at"),
        _ts("deadline", nullable=True),
        _ts("updated_at"),
        _ts("closed_at", nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_work_orders"),
    )
    op.create_index("ix_work_orders_state", "work_orders", ["state"])
    op.create_table(
        "work_order_cameras",
        sa.Column("order_id", sa.String(ID), nullable=False),
        sa.Column("camera_id", sa.String(ID), nullable=False),
        _fk_order("work_order_cameras"),
        sa.PrimaryKeyConstraint("order_id", "camera_id", name="pk_work_order_cameras"),
    )
    op.create_index("ix_work_order_cameras_camera_id", "work_order_cameras", ["camera_id"])
    op.create_table(
        "work_order_events",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(ID), nullable=False),
        _ts("at"),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        _fk_order("work_order_events"),
        sa.PrimaryKeyConstraint("id", name="pk_work_order_events"),
    )
    op.create_index("ix_work_order_events_order_id", "work_order_events", ["order_id"])
