"""ingest staging, job queue, text reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:30:34.748611
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Columns added to tables that may hold rows get server defaults, so upgrades of live data work.
revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "queued",
                "running",
                "done",
                "failed",
                name="job_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_state_run_after", ["state", "run_after"], unique=False)

    op.create_table(
        "text_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "special_assessment",
                "annual_risk",
                name="report_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("campaign_name", sa.String(length=200), nullable=False),
        sa.Column("campaign_end_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("file_path", sa.String(length=500), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_text_reports_agency_id_agencies")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_text_reports_created_by_id_users")),
        sa.ForeignKeyConstraint(["submitted_by_id"], ["users.id"], name=op.f("fk_text_reports_submitted_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_reports")),
        sa.UniqueConstraint("agency_id", "kind", "year", "campaign_name", name=op.f("uq_text_reports_agency_id")),
    )
    with op.batch_alter_table("text_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_text_reports_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "batch_rows",
        sa.Column("batch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("risk_level", sa.String(length=16), nullable=True),
        sa.Column("openness", sa.String(length=16), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("uscc_status", sa.String(length=16), nullable=True),
        sa.Column("entity_name", sa.String(length=200), nullable=False),
        sa.Column("person_name", sa.String(length=100), nullable=False),
        sa.Column("person_blind_index", sa.String(length=64), nullable=True),
        sa.Column("person_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("person_key_id", sa.String(length=32), nullable=True),
        sa.Column("person_masked", sa.String(length=18), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_batch_rows_batch_id_batches"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("batch_id", "row_number", name=op.f("pk_batch_rows")),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "source",
                sa.Enum(
                    "form", "batch", "api", name="record_source", native_enum=False, create_constraint=True, length=32
                ),
                nullable=False,
                server_default="batch",
            )
        )
        batch_op.add_column(sa.Column("file_size", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("file_path", sa.String(length=500), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("same_content_as_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.add_column(sa.Column("valid_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("warning_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("progress_read", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("progress_validated", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("progress_committed", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("warnings", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("failure", sa.String(length=500), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("is_valid_only_accepted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("nonstandard_confirmed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("committed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("committing_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("file_sha256", existing_type=sa.VARCHAR(length=64), nullable=True)
        batch_op.create_index(batch_op.f("ix_batches_content_sha256"), ["content_sha256"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_batches_committed_by_id_users"), "users", ["committed_by_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_batches_same_content_as_id_batches"), "batches", ["same_content_as_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_batches_nonstandard_confirmed_by_id_users"), "users", ["nonstandard_confirmed_by_id"], ["id"]
        )

    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_column("content_sha256")

    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_batches_nonstandard_confirmed_by_id_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_batches_same_content_as_id_batches"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_batches_committed_by_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_batches_content_sha256"))
        batch_op.alter_column("file_sha256", existing_type=sa.VARCHAR(length=64), nullable=False)
        batch_op.drop_column("committing_since")
        batch_op.drop_column("validated_at")
        batch_op.drop_column("committed_by_id")
        batch_op.drop_column("nonstandard_confirmed_by_id")
        batch_op.drop_column("is_valid_only_accepted")
        batch_op.drop_column("failure")
        batch_op.drop_column("warnings")
        batch_op.drop_column("progress_committed")
        batch_op.drop_column("progress_validated")
        batch_op.drop_column("progress_read")
        batch_op.drop_column("warning_count")
        batch_op.drop_column("valid_count")
        batch_op.drop_column("same_content_as_id")
        batch_op.drop_column("file_path")
        batch_op.drop_column("file_size")
        batch_op.drop_column("source")

    op.drop_table("batch_rows")
    with op.batch_alter_table("text_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_text_reports_agency_id"))

    op.drop_table("text_reports")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_state_run_after")

    op.drop_table("jobs")
