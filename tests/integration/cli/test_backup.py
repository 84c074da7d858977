"""``signalhub backup`` / ``signalhub restore``: back to exactly the backup point, with the audit
chain verified; a non-empty database is only overwritten with --force; a restored log that does not
verify fails loudly. On the backend under test (SQLite always, PostgreSQL on the second pass)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.integrity import checkpoint_keys_from_settings, create_checkpoint, verify_log
from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.cli.backup import PG_DUMP_MAGIC, SQLITE_MAGIC
from signalhub_platform.db import make_engine, make_session_factory, transaction
from signalhub_platform.models import Actor, Agency, AuditCheckpoint, AuditEvent
from signalhub_platform.models.types import utcnow
from signalhub_platform.schema import upgrade_database
from tests.conftest import BACKEND, drop_database, new_database_url
from tests.factories import make_agency
from tests.integration.audit.conftest import drop_append_only_triggers, record_reads, tamper

pytestmark = pytest.mark.concurrency  # real commits in databases of their own


def run(settings: Settings, engine: Engine, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), obj=CliContext(settings=settings, factory=make_session_factory(engine)))


def snapshot(factory: sessionmaker[Session]) -> dict[str, Any]:
    with transaction(factory) as session:
        return {
            "agencies": session.scalars(select(Agency.code).order_by(Agency.code)).all(),
            "events": session.execute(
                select(AuditEvent.seq, AuditEvent.tag, AuditEvent.hash).order_by(AuditEvent.seq)
            ).all(),
            "checkpoints": session.scalars(select(AuditCheckpoint.note).order_by(AuditCheckpoint.id)).all(),
        }


def fill(factory: sessionmaker[Session], settings: Settings, *, codes: list[str], reads: int, start: int = 1) -> None:
    with transaction(factory) as session:
        for code in codes:
            make_agency(session, code)
        record_reads(session, reads, start=start)
        create_checkpoint(
            session,
            settings.load_keys().signing_key,
            actor=Actor.cli(),
            tag=AuditTag.CLI_AUDIT_CHECKPOINT,
            now=utcnow(),
        )


def test_backup_write_more_restore_returns_to_the_backup_point(
    scratch_database: Engine, settings: Settings, tmp_path: Path
) -> None:
    factory = make_session_factory(scratch_database)
    fill(factory, settings, codes=["TAX", "MKT"], reads=5)
    at_backup = snapshot(factory)
    file = tmp_path / "signalhub.backup"

    made = run(settings, scratch_database, "backup", str(file))
    assert made.exit_code == 0, made.output
    assert file.read_bytes().startswith(SQLITE_MAGIC if BACKEND == "sqlite" else PG_DUMP_MAGIC)
    assert "keys are not in the backup" in made.output
    fill(factory, settings, codes=["HEALTH"], reads=3, start=6)  # life goes on after the backup
    later = snapshot(factory)
    assert later["agencies"] == ["HEALTH", "MKT", "TAX"]

    refused = run(settings, scratch_database, "restore", str(file))
    assert refused.exit_code != 0 and "not empty" in refused.output
    assert snapshot(factory) == later  # nothing changed

    scratch_database.dispose()  # the platform is stopped before a restore
    restored = run(settings, scratch_database, "restore", "--force", str(file))
    assert restored.exit_code == 0, restored.output
    assert "audit chain verified" in restored.output and "(current)" in restored.output

    after = snapshot(factory)
    assert after["agencies"] == at_backup["agencies"] == ["MKT", "TAX"]
    assert after["checkpoints"] == at_backup["checkpoints"]
    # The log is the backup's, plus the restore itself as the newest event.
    assert after["events"][:-1] == at_backup["events"]
    assert after["events"][-1].tag == AuditTag.CLI_DATABASE_RESTORE
    with transaction(factory) as session:
        result = verify_log(session, checkpoint_keys_from_settings(settings))
        assert result.ok and result.checkpoints == 1, result.problems
        backup_event = session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.CLI_DATABASE_BACKUP)).all()
    assert backup_event == []  # audited in the live database after the copy, so not inside it


def test_restore_into_a_new_empty_database_needs_no_force(
    scratch_database: Engine, settings: Settings, tmp_path: Path
) -> None:
    fill(make_session_factory(scratch_database), settings, codes=["TAX"], reads=2)
    file = tmp_path / "signalhub.backup"
    assert run(settings, scratch_database, "backup", str(file)).exit_code == 0

    url = new_database_url(tmp_path, "restore_target")
    target = make_engine(url)
    try:
        if BACKEND == "postgresql":
            upgrade_database(target)  # e.g. after `signalhub init`'s migration, before any data
        restored = run(settings, target, "restore", str(file))
        assert restored.exit_code == 0, restored.output
        assert snapshot(make_session_factory(target))["agencies"] == ["TAX"]
    finally:
        target.dispose()
        drop_database(url)


def test_a_restored_log_that_does_not_verify_fails_loudly(
    scratch_database: Engine, settings: Settings, tmp_path: Path
) -> None:
    factory = make_session_factory(scratch_database)
    fill(factory, settings, codes=["TAX"], reads=4)
    with transaction(factory) as session:  # someone with database access edited an event
        drop_append_only_triggers(session)
        tamper(session, "UPDATE audit_events SET payload = replace(payload, 'alice', 'mallo') WHERE seq = 2")
    file = tmp_path / "tampered.backup"
    assert run(settings, scratch_database, "backup", str(file)).exit_code == 0

    scratch_database.dispose()
    restored = run(settings, scratch_database, "restore", "--force", str(file))
    assert restored.exit_code == 1
    assert "AUDIT CHAIN DOES NOT VERIFY" in restored.output
    assert "seq 2: content hash mismatch" in restored.output
    with transaction(factory) as session:  # no restore event appended to a log that failed
        assert AuditTag.CLI_DATABASE_RESTORE not in session.scalars(select(AuditEvent.tag)).all()


def test_backup_refuses_to_overwrite_a_file_and_restore_checks_the_format(
    scratch_database: Engine, settings: Settings, tmp_path: Path
) -> None:
    existing = tmp_path / "old.backup"
    existing.write_text("an older backup")
    kept = run(settings, scratch_database, "backup", str(existing))
    assert kept.exit_code != 0 and "exists" in kept.output
    assert existing.read_text() == "an older backup"

    wrong = tmp_path / "wrong.backup"
    wrong.write_bytes(json.dumps({"not": "a backup"}).encode())
    refused = run(settings, scratch_database, "restore", "--force", str(wrong))
    assert refused.exit_code != 0 and "is not a" in refused.output
