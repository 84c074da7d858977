"""draws, teams and inspection results

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 12:26:33.130769
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "draws",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "frozen",
                "seeded",
                "drawn",
                "published",
                name="draw_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("population_sha256", sa.String(length=64), nullable=False),
        sa.Column("population_count", sa.Integer(), nullable=False),
        sa.Column("strata_counts", sa.Text(), nullable=False),
        sa.Column("dice", sa.String(length=200), nullable=True),
        sa.Column("seed", sa.Text(), nullable=True),
        sa.Column("seeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rounds", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("result_sha256", sa.String(length=64), nullable=True),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_draws_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draws")),
    )
    with op.batch_alter_table("draws", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_draws_status"), ["status"], unique=False)

    op.create_table(
        "draw_commitments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("draw_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("commitment_sha256", sa.String(length=64), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=True),
        sa.Column("revealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_draw_commitments_agency_id_agencies")),
        sa.ForeignKeyConstraint(["draw_id"], ["draws.id"], name=op.f("fk_draw_commitments_draw_id_draws")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draw_commitments")),
        sa.UniqueConstraint("draw_id", "agency_id", name=op.f("uq_draw_commitments_draw_id")),
    )
    with op.batch_alter_table("draw_commitments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_draw_commitments_draw_id"), ["draw_id"], unique=False)

    op.create_table(
        "draw_targets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("draw_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("stratum", sa.String(length=16), nullable=False),
        sa.Column("ticket", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["draw_id"], ["draws.id"], name=op.f("fk_draw_targets_draw_id_draws")),
        sa.ForeignKeyConstraint(["entity_id"], ["entities.id"], name=op.f("fk_draw_targets_entity_id_entities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draw_targets")),
        sa.UniqueConstraint("draw_id", "entity_id", name=op.f("uq_draw_targets_draw_entity")),
        sa.UniqueConstraint("draw_id", "position", name=op.f("uq_draw_targets_draw_position")),
    )
    with op.batch_alter_table("draw_targets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_draw_targets_entity_id"), ["entity_id"], unique=False)

    op.create_table(
        "draw_team_members",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("target_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("inspector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"], name=op.f("fk_draw_team_members_agency_id_agencies")),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["inspectors.id"], name=op.f("fk_draw_team_members_inspector_id_inspectors")
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["draw_targets.id"], name=op.f("fk_draw_team_members_target_id_draw_targets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_draw_team_members")),
        sa.UniqueConstraint("target_id", "inspector_id", name=op.f("uq_draw_team_members_target_id")),
    )
    with op.batch_alter_table("draw_team_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_draw_team_members_inspector_id"), ["inspector_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_draw_team_members_target_id"), ["target_id"], unique=False)

    op.create_table(
        "inspection_results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("target_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "no_problem",
                "problems_found",
                "ordered_to_correct",
                "referred_for_penalty",
                "not_reachable",
                name="inspection_outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("attachment_name", sa.String(length=200), nullable=True),
        sa.Column("attachment_type", sa.String(length=100), nullable=True),
        sa.Column("attachment", sa.LargeBinary(), nullable=True),
        sa.Column("attachment_sha256", sa.String(length=64), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["entity_id"], ["entities.id"], name=op.f("fk_inspection_results_entity_id_entities")),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_inspection_results_recorded_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["draw_targets.id"], name=op.f("fk_inspection_results_target_id_draw_targets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_results")),
        sa.UniqueConstraint("target_id", name=op.f("uq_inspection_results_target_id")),
    )
    with op.batch_alter_table("inspection_results", schema=None) as batch_op:
        batch_op.create_index("ix_inspection_results_entity_inspected", ["entity_id", "inspected_on"], unique=False)

    create_draw_triggers()


# A draw is append-only: its rows are never deleted and its frozen manifest never changes (the
# placeholder '{}' is replaced once, in the transaction that creates the draw and learns its id). These
# triggers hold that inside the database; `signalhub draw verify` still catches a tamper made by
# someone able to drop them, by comparing with the hash in the audit log.
APPEND_ONLY_TABLES = ("draws", "draw_commitments", "draw_targets", "draw_team_members")

SQLITE_TRIGGERS = [
    *[
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"""
        for table in APPEND_ONLY_TABLES
    ],
    """CREATE TRIGGER draws_manifest_frozen BEFORE UPDATE OF manifest, population_sha256 ON draws
       WHEN OLD.manifest <> '{}'
       AND (NEW.manifest IS NOT OLD.manifest OR NEW.population_sha256 IS NOT OLD.population_sha256)
       BEGIN SELECT RAISE(ABORT, 'a draw manifest is frozen'); END""",
]

POSTGRESQL_TRIGGERS = [
    *[
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION signalhub_append_only()"""
        for table in APPEND_ONLY_TABLES
    ],
    """CREATE FUNCTION signalhub_draw_manifest_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF OLD.manifest <> '{}' AND (NEW.manifest IS DISTINCT FROM OLD.manifest
            OR NEW.population_sha256 IS DISTINCT FROM OLD.population_sha256) THEN
           RAISE EXCEPTION 'a draw manifest is frozen';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER draws_manifest_frozen BEFORE UPDATE ON draws
       FOR EACH ROW EXECUTE FUNCTION signalhub_draw_manifest_frozen()""",
]


def create_draw_triggers() -> None:
    statements = POSTGRESQL_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in statements:
        op.execute(statement)


def drop_draw_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete" + (f" ON {table}" if postgresql else ""))
    op.execute("DROP TRIGGER IF EXISTS draws_manifest_frozen" + (" ON draws" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS signalhub_draw_manifest_frozen()")


def downgrade() -> None:
    drop_draw_triggers()
    with op.batch_alter_table("inspection_results", schema=None) as batch_op:
        batch_op.drop_index("ix_inspection_results_entity_inspected")

    op.drop_table("inspection_results")
    with op.batch_alter_table("draw_team_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_draw_team_members_target_id"))
        batch_op.drop_index(batch_op.f("ix_draw_team_members_inspector_id"))

    op.drop_table("draw_team_members")
    with op.batch_alter_table("draw_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_draw_targets_entity_id"))

    op.drop_table("draw_targets")
    with op.batch_alter_table("draw_commitments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_draw_commitments_draw_id"))

    op.drop_table("draw_commitments")
    with op.batch_alter_table("draws", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_draws_status"))

    op.drop_table("draws")
