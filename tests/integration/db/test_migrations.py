"""Migrations are code: one head, and upgrading to it yields exactly the models' schema."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from signalhub_platform.db import Base
from signalhub_platform.schema import MIGRATIONS_DIR, heads


def test_single_migration_head() -> None:
    assert len(heads()) == 1


def test_revision_files_are_date_prefixed() -> None:
    names = [p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py")]
    assert names
    assert all(name[:4].isdigit() and name[4] == "_" for name in names), names


def test_upgrade_head_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_naming_convention_applies(engine: Engine) -> None:
    uniques = inspect(engine).get_unique_constraints("agencies")
    assert [u["name"] for u in uniques] == ["uq_agencies_code"]


def test_upgrade_keeps_existing_rows(tmp_path: Path) -> None:
    """Each migration runs on a database that already holds data, as production upgrades do."""
    from alembic import command
    from sqlalchemy import text

    from signalhub_platform.db import make_engine
    from signalhub_platform.schema import alembic_config, upgrade_database
    from tests.conftest import drop_database, new_database_url

    url = new_database_url(tmp_path, "upgrade_rows")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0001")
            conn.execute(
                text("INSERT INTO agencies (code, name, is_active, created_at) VALUES ('TAX', 'Tax', true, :t)"),
                {"t": "2026-01-01 00:00:00"},
            )
            conn.execute(
                text(
                    "INSERT INTO batches (agency_id, is_on_behalf, period, filename, file_sha256, content_sha256,"
                    " state, row_count, error_count, inserted_count, versioned_count, unchanged_count, created_at)"
                    " VALUES (1, false, '2026Q1', 'a.csv', 'ab', '', 'committed', 3, 0, 3, 0, 0, :t)"
                ),
                {"t": "2026-01-01 00:00:00"},
            )
            conn.execute(text("INSERT INTO departments (agency_id, code, name, is_active) VALUES (1, 'D1', 'D', true)"))
            conn.execute(
                text(
                    "INSERT INTO records (agency_id, department_id, kind, risk_level, openness, category, description,"
                    " occurred_on, source_ref, version, is_current, status, change_reason, source, batch_id,"
                    " created_at)"
                    " VALUES (1, 1, 'risk', 'low', 'shared', 'c', 'd', '2026-01-01', 'R1', 1, true, 'active', '',"
                    " 'batch', 1, :t)"
                ),
                {"t": "2026-01-01 00:00:00"},
            )
        upgrade_database(engine)  # a record points at the batch whose table the upgrade rebuilds
        with engine.connect() as conn:
            row = conn.execute(text("SELECT source, progress_read, is_valid_only_accepted FROM batches")).one()
            assert conn.execute(text("SELECT batch_id FROM records")).scalar_one() == 1
        assert row.source == "batch" and row.progress_read == 0 and not row.is_valid_only_accepted
    finally:
        engine.dispose()
        drop_database(url)
