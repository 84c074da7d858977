"""collection reports: the quarterly collection report (每季度通报) kept as a snapshot per quarter

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 15:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "collection_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quarter", sa.String(length=7), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("built_by", sa.String(length=100), nullable=False),
        sa.Column("built_by_id", sa.Integer(), nullable=True),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["built_by_id"], ["users.id"], name=op.f("fk_collection_reports_built_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_reports")),
        sa.UniqueConstraint("quarter", name="uq_collection_reports_quarter"),
    )


def downgrade() -> None:
    op.drop_table("collection_reports")
