"""Migrations are code: one head, and upgrading to it yields exactly the models' schema."""

from __future__ import annotations

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
