"""``signalhub audit checkpoint`` / ``verify`` as an operator runs them (A1, A3, A7, A8, A10 end to end)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.hashing import GENESIS
from signalhub_audit.integrity import sign_checkpoint
from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.models import AuditCheckpoint, AuditEvent
from signalhub_platform.models.types import utcnow
from tests.integration.audit.conftest import drop_append_only_triggers, record_reads, tamper
from tests.unit.audit.test_notes import new_key

DOCS = Path(__file__).resolve().parents[3] / "docs" / "audit.md"


def run(settings: Settings, factory: sessionmaker[Session], *args: str) -> Result:
    return CliRunner().invoke(main, ["audit", *args], obj=CliContext(settings=settings, factory=factory))


def test_a1_empty_log_verifies(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    result = run(settings, session_factory, "verify")
    assert result.exit_code == 0, result.output
    assert "0 events" in result.stdout


def test_verify_is_audited_after_verifying_so_the_next_verify_passes(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    assert run(settings, session_factory, "verify").exit_code == 0
    again = run(settings, session_factory, "verify")
    assert again.exit_code == 0 and "ok: 1 event," in again.stdout
    events = db_session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [event.tag for event in events] == [AuditTag.CLI_AUDIT_VERIFY] * 2
    assert json.loads(events[1].payload)["data"] == {
        "ok": True,
        "events": 1,
        "first_bad": None,
        "problems": 0,
        "checkpoints": 0,
        "external_checkpoints": 0,
    }


def test_json_output_is_exactly_the_result(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    result = run(settings, session_factory, "verify", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"ok": True, "events": 0, "first_bad": None, "problems": []}


def test_a3_a_tampered_log_fails_and_names_the_first_bad_seq(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    record_reads(db_session, 4)
    drop_append_only_triggers(db_session)
    tamper(db_session, "UPDATE audit_events SET payload = payload || ' ' WHERE seq = 2")
    db_session.commit()

    text_run = run(settings, session_factory, "verify")
    assert text_run.exit_code == 1
    assert "first bad seq 2" in text_run.stdout
    assert "seq 2: content hash mismatch" in text_run.stdout

    json_run = run(settings, session_factory, "verify", "--json")
    assert json_run.exit_code == 1
    report = json.loads(json_run.stdout)
    assert (report["ok"], report["first_bad"], report["events"]) == (False, 2, 5)  # 4 reads + the first verify
    assert report["problems"][0]["seq"] == 2


def test_checkpoint_export_then_verify_with_it(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    record_reads(db_session, 3)
    db_session.commit()
    export = tmp_path / "checkpoint.txt"
    made = run(settings, session_factory, "checkpoint", "--export", str(export))
    assert made.exit_code == 0, made.output
    stored = db_session.scalars(select(AuditCheckpoint)).one()
    assert stored.size == 3 and f"size 3, head {stored.head_hash}" in made.stdout
    assert export.read_text(encoding="utf-8") == stored.note
    assert db_session.scalar(select(AuditEvent.tag).where(AuditEvent.seq == 4)) == AuditTag.CLI_AUDIT_CHECKPOINT

    checked = run(settings, session_factory, "verify", "--checkpoint", str(export))
    assert checked.exit_code == 0, checked.output
    assert "ok: 4 events, 2 checkpoint(s) checked" in checked.stdout
    assert "warning" not in checked.stderr


def test_a7_and_a8_truncation_with_and_without_the_external_checkpoint(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    record_reads(db_session, 10)
    db_session.commit()
    export = tmp_path / "checkpoint.txt"
    assert run(settings, session_factory, "checkpoint", "--export", str(export)).exit_code == 0
    drop_append_only_triggers(db_session)
    for table in ("audit_subjects", "audit_events"):
        tamper(db_session, f"DELETE FROM {table} WHERE seq > 7")
    tamper(db_session, "DELETE FROM audit_checkpoints")
    db_session.commit()

    with_export = run(settings, session_factory, "verify", "--checkpoint", str(export))
    assert with_export.exit_code == 1
    assert "truncation: checkpoint 10 > last 7" in with_export.stdout

    # A8: without the external checkpoint the shortened log passes; the CLI and the docs say so.
    without = run(settings, session_factory, "verify")
    assert without.exit_code == 0
    assert "truncation" in without.stderr and "--checkpoint" in without.stderr
    docs = DOCS.read_text(encoding="utf-8")
    assert "external checkpoint" in docs and "cannot be detected" in docs


def test_a10_a_foreign_checkpoint_file_is_rejected(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger.txt"
    stranger.write_text(sign_checkpoint(new_key(), size=0, head_hash=GENESIS, created_at=utcnow()), encoding="utf-8")
    result = run(settings, session_factory, "verify", "--checkpoint", str(stranger))
    assert result.exit_code == 1
    assert "no valid known signature" in result.stdout


def test_checkpoint_without_a_signing_key_fails_cleanly(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    result = run(Settings(instance_path=str(tmp_path)), session_factory, "checkpoint")
    assert result.exit_code != 0
    assert "missing keys" in result.output
