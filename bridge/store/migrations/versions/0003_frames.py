"""Picture checks: one row per camera looked at (faults, baseline, last thumbnail).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Written by hand; ``tests/bridge/store`` checks that it matches `bridge.store.tables`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

ID = 64


def upgrade() -> None:
    op.create_table(
        "camera_frames",
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(8), nullable=True),
        sa.Column("faults", sa.JSON(), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=True),
        sa.Column("thumbnail_sha256", sa.String(64), nullable=True),
        sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name="fk_camera_frames_camera_id_cameras",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("camera_id", name="pk_camera_frames"),
    )


def downgrade() -> None:
    op.drop_table("camera_frames")
