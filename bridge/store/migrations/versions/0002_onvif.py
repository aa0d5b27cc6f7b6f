"""ONVIF onboarding results: one row per onboarded camera.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

Written by hand; ``tests/bridge/store`` checks that it matches `bridge.store.tables`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

ID = 64


def upgrade() -> None:
    op.create_table(
        "camera_onvif",
        sa.Column("camera_id", sa.String(ID), nullable=False),
        sa.Column("manufacturer", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("firmware", sa.Text(), nullable=False),
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("hardware_id", sa.Text(), nullable=False),
        sa.Column("stream_uri", sa.Text(), nullable=True),
        sa.Column("snapshot_uri", sa.Text(), nullable=True),
        sa.Column("profiles", sa.JSON(), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("onboarded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name="fk_camera_onvif_camera_id_cameras",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("camera_id", name="pk_camera_onvif"),
    )


def downgrade() -> None:
    op.drop_table("camera_onvif")
