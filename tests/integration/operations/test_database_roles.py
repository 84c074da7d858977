"""``signalhub database roles``: the application role may read and add audit rows, never change or
remove them (TESTS.md A13, PostgreSQL grants). Real roles in the test cluster, inside the test's
transaction, so the role and its grants vanish with the rollback."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.services import record_event, write_pending_events
from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.models import Actor, Agency, AuditEvent
from tests.conftest import BACKEND

postgresql_only = pytest.mark.skipif(BACKEND != "postgresql", reason="database roles exist on PostgreSQL only")


def roles_cli(settings: Settings, factory: sessionmaker[Session], *args: str) -> Result:
    return CliRunner().invoke(main, ["database", "roles", *args], obj=CliContext(settings=settings, factory=factory))


@pytest.fixture
def app_role(db_session: Session) -> Iterator[str]:
    name = f"signalhub_app_{secrets.token_hex(4)}"
    db_session.execute(text(f"CREATE ROLE {name} NOLOGIN"))
    yield name
    db_session.execute(text("RESET ROLE"))


def denied(session: Session, statement: str) -> str:
    """Run ``statement`` in a savepoint; return the error text (the savepoint is rolled back)."""
    with pytest.raises(ProgrammingError) as caught, session.begin_nested():
        session.execute(text(statement))
    return str(caught.value.orig)


@postgresql_only
def test_the_app_role_appends_to_the_audit_log_but_cannot_change_or_remove_it(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings, app_role: str
) -> None:
    record_event(db_session, AuditTag.CLI_ENTITY_READ, actor=Actor.cli(), data={"before": True})
    db_session.flush()

    result = roles_cli(settings, session_factory, "--app-role", app_role)

    assert result.exit_code == 0, result.output
    append_only = (
        "append-only (SELECT, INSERT; no UPDATE, DELETE, TRUNCATE): audit_checkpoints, audit_events, audit_subjects"
    )
    assert append_only in result.output
    [audited] = db_session.scalars(select(AuditEvent.payload).where(AuditEvent.tag == AuditTag.CLI_DATABASE_ROLES))
    assert json.loads(audited)["data"]["app_role"] == app_role

    db_session.execute(text(f"SET ROLE {app_role}"))
    # What the platform does as this role works: audit appends, ordinary writes, temporary tables.
    record_event(db_session, AuditTag.CLI_ENTITY_READ, actor=Actor.cli(), data={"as_app_role": True})
    # Inserted now, as this role: events are chained at commit, and the failed statements below roll
    # back savepoints that a write triggered by them (they name audit_events) would vanish with.
    assert write_pending_events(db_session) is not None
    agency = Agency(code="ROLE", name="written as the app role")
    db_session.add(agency)
    db_session.flush()
    agency.name = "updated as the app role"
    db_session.flush()
    db_session.execute(text("CREATE TEMPORARY TABLE staging_probe (n int) ON COMMIT DROP"))
    # What it must not do fails in the database, before any trigger runs.
    assert "permission denied for table audit_events" in denied(db_session, "UPDATE audit_events SET actor = 'x'")
    assert "permission denied for table audit_events" in denied(db_session, "DELETE FROM audit_events")
    assert "permission denied for table audit_subjects" in denied(db_session, "DELETE FROM audit_subjects")
    assert "permission denied for table audit_checkpoints" in denied(db_session, "TRUNCATE audit_checkpoints")
    assert "permission denied for table draws" in denied(db_session, "DELETE FROM draws")
    assert "permission denied for table alembic_version" in denied(db_session, "DELETE FROM alembic_version")
    db_session.execute(text("RESET ROLE"))
    query = select(AuditEvent.payload).where(AuditEvent.tag == AuditTag.CLI_ENTITY_READ).order_by(AuditEvent.seq)
    actors = [json.loads(payload)["data"] for payload in db_session.scalars(query)]
    assert actors == [{"before": True}, {"as_app_role": True}]  # nothing changed


@postgresql_only
def test_running_it_again_gives_the_same_result(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings, app_role: str
) -> None:
    assert roles_cli(settings, session_factory, "--app-role", app_role).exit_code == 0
    db_session.execute(text(f"GRANT UPDATE ON audit_events TO {app_role}"))  # someone granted too much by hand

    again = roles_cli(settings, session_factory, "--app-role", app_role)

    assert again.exit_code == 0, again.output
    assert not db_session.scalar(text(f"SELECT has_table_privilege('{app_role}', 'audit_events', 'UPDATE')"))
    assert db_session.scalar(text(f"SELECT has_table_privilege('{app_role}', 'audit_events', 'INSERT')"))


@postgresql_only
def test_privileges_through_another_role_are_found_and_nothing_is_kept(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings, app_role: str
) -> None:
    db_session.execute(text(f"GRANT pg_write_all_data TO {app_role}"))

    result = roles_cli(settings, session_factory, "--app-role", app_role)

    assert result.exit_code != 0
    assert f"{app_role} can still UPDATE audit_checkpoints" in result.output and "pg_write_all_data" in result.output
    assert not db_session.scalar(text(f"SELECT has_table_privilege('{app_role}', 'agencies', 'SELECT')"))


@postgresql_only
def test_unknown_superuser_and_malformed_roles_are_refused(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    missing = roles_cli(settings, session_factory, "--app-role", "no_such_role_here")
    assert missing.exit_code != 0 and "no role no_such_role_here: create it first" in missing.output
    superuser = db_session.scalar(text("SELECT rolname FROM pg_roles WHERE rolsuper ORDER BY rolname LIMIT 1"))
    refused = roles_cli(settings, session_factory, "--app-role", superuser)
    assert refused.exit_code != 0 and "is a superuser" in refused.output
    malformed = roles_cli(settings, session_factory, "--app-role", "app; DROP TABLE records")
    assert malformed.exit_code != 0 and "lowercase letters" in malformed.output


@pytest.mark.skipif(BACKEND == "postgresql", reason="the SQLite refusal")
def test_sqlite_is_refused_with_a_clear_error(session_factory: sessionmaker[Session], settings: Settings) -> None:
    result = roles_cli(settings, session_factory, "--app-role", "signalhub_app")

    assert result.exit_code != 0
    assert "database roles exist on PostgreSQL only; on SQLite the audit tables' triggers" in result.output


@pytest.fixture
def other_role(db_session: Session) -> str:
    """A second scratch role (an owner to be), gone with the test's rollback like ``app_role``."""
    name = f"signalhub_owner_{secrets.token_hex(4)}"
    db_session.execute(text(f"CREATE ROLE {name} NOLOGIN"))
    return name


def assert_refused_and_nothing_granted(result: Result, session: Session, app_role: str, reason: str) -> None:
    assert result.exit_code != 0, result.output
    assert reason in result.output
    assert not session.scalar(text(f"SELECT has_table_privilege('{app_role}', 'agencies', 'SELECT')"))
    assert not session.scalar(text(f"SELECT has_table_privilege('{app_role}', 'audit_events', 'INSERT')"))


@postgresql_only
def test_a_role_with_createrole_is_refused(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings, app_role: str
) -> None:
    # CREATEROLE lets it GRANT itself the owner's role, and with it every table.
    db_session.execute(text(f"ALTER ROLE {app_role} CREATEROLE"))

    result = roles_cli(settings, session_factory, "--app-role", app_role)

    assert_refused_and_nothing_granted(result, db_session, app_role, f"{app_role} has CREATEROLE")
    assert f"ALTER ROLE {app_role} NOCREATEROLE" in result.output


@postgresql_only
def test_a_member_of_the_database_owner_is_refused(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings, app_role: str, other_role: str
) -> None:
    database = db_session.scalar(text("SELECT current_database()"))
    db_session.execute(text(f'ALTER DATABASE "{database}" OWNER TO {other_role}'))
    db_session.execute(text(f"GRANT {other_role} TO {app_role}"))

    result = roles_cli(settings, session_factory, "--app-role", app_role)

    reason = f"{app_role} owns (or is a member of the owner of) database {database}"
    assert_refused_and_nothing_granted(result, db_session, app_role, reason)


@postgresql_only
def test_a_member_of_the_schema_owner_is_refused(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings, app_role: str, other_role: str
) -> None:
    schema = db_session.scalar(text("SELECT current_schema()"))
    db_session.execute(text(f'ALTER SCHEMA "{schema}" OWNER TO {other_role}'))
    db_session.execute(text(f"GRANT {other_role} TO {app_role}"))
    # It owns no table: the owner of the schema can still drop or rename the audit tables.
    assert not db_session.scalar(
        text(f"SELECT pg_has_role('{app_role}', tableowner, 'MEMBER') FROM pg_tables WHERE tablename = 'audit_events'")
    )

    result = roles_cli(settings, session_factory, "--app-role", app_role)

    reason = f"{app_role} owns (or is a member of the owner of) schema {schema}"
    assert_refused_and_nothing_granted(result, db_session, app_role, reason)


@postgresql_only
def test_a_role_that_may_create_in_the_schema_is_refused(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings, app_role: str
) -> None:
    schema = db_session.scalar(text("SELECT current_schema()"))
    db_session.execute(text(f'GRANT CREATE ON SCHEMA "{schema}" TO {app_role}'))

    result = roles_cli(settings, session_factory, "--app-role", app_role)

    assert_refused_and_nothing_granted(result, db_session, app_role, f"{app_role} may CREATE in schema {schema}")
    assert f"REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC, {app_role}" in result.output
