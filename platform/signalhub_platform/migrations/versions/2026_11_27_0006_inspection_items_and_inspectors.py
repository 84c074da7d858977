"""inspection items and inspectors

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 12:12:14.590118
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inspection_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("is_market_supervision", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_inspection_items_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_items")),
        sa.UniqueConstraint("agency_id", "item_code", name=op.f("uq_inspection_items_agency_id")),
    )
    with op.batch_alter_table("inspection_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspection_items_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "inspectors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("certificate_no", sa.String(length=64), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_inspectors_agency_id_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspectors")),
        sa.UniqueConstraint("certificate_no", name=op.f("uq_inspectors_certificate_no")),
    )
    with op.batch_alter_table("inspectors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspectors_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "inspector_conflicts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("inspector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["entity_id"], ["entities.id"], name=op.f("fk_inspector_conflicts_entity_id_entities")),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["inspectors.id"], name=op.f("fk_inspector_conflicts_inspector_id_inspectors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspector_conflicts")),
        sa.UniqueConstraint("inspector_id", "entity_id", name=op.f("uq_inspector_conflicts_inspector_id")),
    )
    with op.batch_alter_table("inspector_conflicts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspector_conflicts_entity_id"), ["entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_inspector_conflicts_inspector_id"), ["inspector_id"], unique=False)

    op.create_table(
        "inspector_qualifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("inspector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["inspectors.id"], name=op.f("fk_inspector_qualifications_inspector_id_inspectors")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["inspection_items.id"], name=op.f("fk_inspector_qualifications_item_id_inspection_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspector_qualifications")),
        sa.UniqueConstraint("inspector_id", "item_id", name=op.f("uq_inspector_qualifications_inspector_id")),
    )
    with op.batch_alter_table("inspector_qualifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspector_qualifications_inspector_id"), ["inspector_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_inspector_qualifications_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inspector_qualifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspector_qualifications_item_id"))
        batch_op.drop_index(batch_op.f("ix_inspector_qualifications_inspector_id"))

    op.drop_table("inspector_qualifications")
    with op.batch_alter_table("inspector_conflicts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspector_conflicts_inspector_id"))
        batch_op.drop_index(batch_op.f("ix_inspector_conflicts_entity_id"))

    op.drop_table("inspector_conflicts")
    with op.batch_alter_table("inspectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspectors_agency_id"))

    op.drop_table("inspectors")
    with op.batch_alter_table("inspection_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspection_items_agency_id"))

    op.drop_table("inspection_items")
