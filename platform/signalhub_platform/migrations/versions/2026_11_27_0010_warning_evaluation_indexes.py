"""warnings' incremental evaluation: the records' entity and person indexes cover the hits

An incremental evaluation after a batch reads every hit of the affected entities, of the entities
behind the affected persons and of the records naming them; with these columns in the indexes it
never visits the table (the person index is partial: most records name nobody).
It also renews the evidence of thousands of warnings: on PostgreSQL, free room on each page lets
those updates happen in place, without new index entries (pages written from now on). Closed
warnings that still hold a reopening back get a small partial index of their own.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLOSURE_HOLDS = "status = 'closed' AND cleared_at IS NULL"
_HIT_COLUMNS = ["status", "agency_id", "department_id", "kind", "risk_level", "openness"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE risk_warnings SET (fillfactor = 70)")
        # A subject has a warning per scope that holds, so subject keys are nearly unique; the
        # planner's 30,000-row sample guesses ~4x fewer and then scans every warning to find the
        # few thousand an incremental evaluation looks at.
        op.execute("ALTER TABLE risk_warnings ALTER COLUMN subject_key SET (n_distinct = -0.4)")
    op.drop_index("ix_records_entity_current", table_name="records")
    op.create_index(
        "ix_records_entity_current", "records", ["entity_id", "is_current", "occurred_on", *_HIT_COLUMNS],
        postgresql_include=["id"],
    )  # fmt: skip
    op.drop_index("ix_records_person_current", table_name="records")
    op.create_index(
        "ix_records_person_current", "records", ["person_id", "is_current", "occurred_on", *_HIT_COLUMNS],
        postgresql_include=["id"], sqlite_where=sa.text("person_id IS NOT NULL"),
        postgresql_where=sa.text("person_id IS NOT NULL"),
    )  # fmt: skip
    op.create_index(
        "ix_risk_warnings_closure_holds", "risk_warnings", ["subject_key", "scope_key"],
        sqlite_where=sa.text(_CLOSURE_HOLDS), postgresql_where=sa.text(_CLOSURE_HOLDS),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_risk_warnings_closure_holds", table_name="risk_warnings")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE risk_warnings RESET (fillfactor)")
        op.execute("ALTER TABLE risk_warnings ALTER COLUMN subject_key RESET (n_distinct)")
    op.drop_index("ix_records_entity_current", table_name="records")
    op.create_index("ix_records_entity_current", "records", ["entity_id", "is_current", "occurred_on"])
    op.drop_index("ix_records_person_current", table_name="records")
    op.create_index("ix_records_person_current", "records", ["person_id", "is_current", "occurred_on"])
