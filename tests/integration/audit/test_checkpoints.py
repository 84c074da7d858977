"""Signed checkpoints: their place in the log, and what only they can catch (A7-A10)."""

from __future__ import annotations

import base64
import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.hashing import GENESIS, canonical_json, chain_hash
from signalhub_audit.integrity import (
    create_checkpoint,
    known_checkpoint_keys,
    parse_trusted_keys,
    public_key_bytes,
    sign_checkpoint,
    verify_log,
)
from signalhub_audit.jobs import make_audit_checkpoint
from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_platform.models import AuditCheckpoint, AuditEvent, AuditSubject
from signalhub_platform.scheduler import periodic_jobs, run_job
from tests.integration.audit.conftest import ALICE, START, drop_append_only_triggers, record_reads, tamper
from tests.unit.audit.test_notes import new_key

KEY = new_key()
KEYS = known_checkpoint_keys(KEY)
NOW = START + dt.timedelta(hours=1)


def checkpoint(session: Session, key: bytes = KEY) -> AuditCheckpoint:
    return create_checkpoint(session, key, actor=ALICE, tag=AuditTag.CLI_AUDIT_CHECKPOINT, now=NOW)


def test_the_checkpoint_pins_the_head_and_its_own_event_follows(db_session: Session) -> None:
    events = record_reads(db_session, 3)
    stored = checkpoint(db_session)
    assert (stored.size, stored.head_hash, stored.created_at) == (3, events[-1].hash, NOW)
    assert stored.note.startswith(f"signalhub-audit\n3\n{events[-1].hash}\n")
    event = db_session.execute(select(AuditEvent).where(AuditEvent.seq == 4)).scalar_one()
    assert event.tag == AuditTag.CLI_AUDIT_CHECKPOINT
    assert json.loads(event.payload)["data"]["size"] == 3
    assert db_session.scalars(select(AuditSubject.ref).where(AuditSubject.seq == 4)).all() == [str(stored.id)]
    result = verify_log(db_session, KEYS)
    assert (result.ok, result.events, result.checkpoints) == (True, 4, 1)


def test_a_checkpoint_of_the_empty_log_pins_genesis(db_session: Session) -> None:
    stored = checkpoint(db_session)
    assert (stored.size, stored.head_hash) == (0, GENESIS)
    assert verify_log(db_session, KEYS).ok


def test_the_scheduled_job_checkpoints_with_the_instance_key(db_session: Session, settings: Settings) -> None:
    record_reads(db_session, 2)
    [job] = [job for job in periodic_jobs(settings.load_keys()) if job.name == "audit_checkpoint"]
    stored = run_job(job, db_session, NOW)
    assert isinstance(stored, AuditCheckpoint) and stored.size == 2
    head = db_session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    assert (head.seq, head.tag, head.actor) == (3, AuditTag.JOB_AUDIT_CHECKPOINT, "job:audit_checkpoint")
    assert verify_log(db_session, known_checkpoint_keys(settings.load_keys().signing_key)).ok


def test_the_job_takes_an_explicit_key(db_session: Session) -> None:
    assert make_audit_checkpoint(db_session, now=NOW, signing_key=KEY).size == 0
    assert verify_log(db_session, KEYS).checkpoints == 1


def _truncate_to(session: Session, last: int, *, drop_checkpoints: bool) -> None:
    drop_append_only_triggers(session)
    tamper(session, "DELETE FROM audit_subjects WHERE seq > :last", last=last)
    tamper(session, "DELETE FROM audit_events WHERE seq > :last", last=last)
    if drop_checkpoints:
        tamper(session, "DELETE FROM audit_checkpoints")


def test_a7_an_external_checkpoint_detects_a_truncated_tail(db_session: Session) -> None:
    record_reads(db_session, 10)
    note = checkpoint(db_session).note  # size 10; its own event is seq 11
    _truncate_to(db_session, 7, drop_checkpoints=True)
    result = verify_log(db_session, KEYS, external_notes=[("export", note)])
    assert not result.ok
    assert [p["message"] for p in result.problems] == ["truncation: checkpoint 10 > last 7 (export)"]
    assert result.first_bad == 8


def test_a7_a_stored_checkpoint_also_detects_truncation_while_it_survives(db_session: Session) -> None:
    record_reads(db_session, 10)
    stored = checkpoint(db_session)
    _truncate_to(db_session, 7, drop_checkpoints=False)
    result = verify_log(db_session, KEYS)
    assert [p["message"] for p in result.problems] == [
        f"truncation: checkpoint 10 > last 7 (stored checkpoint #{stored.id})"
    ]


def test_a8_without_an_external_checkpoint_the_truncated_log_passes(db_session: Session) -> None:
    """The documented limit: the chain of what is left is intact, and nothing remembers the tail."""
    record_reads(db_session, 10)
    checkpoint(db_session)
    _truncate_to(db_session, 7, drop_checkpoints=True)
    result = verify_log(db_session, KEYS)
    assert (result.ok, result.events) == (True, 7)


def _rechain_from(session: Session, k: int) -> None:
    """The attacker's rewrite: change every event from k on and recompute the chain, all consistent."""
    drop_append_only_triggers(session)
    prev_hash = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == k - 1))
    rows = session.execute(
        select(AuditEvent.seq, AuditEvent.payload).where(AuditEvent.seq >= k).order_by(AuditEvent.seq)
    )
    for seq, payload in rows.all():
        forged = json.loads(payload)
        forged["data"] = {**forged["data"], "forged": True}
        new_payload = canonical_json(forged)
        new_hash = chain_hash(seq, prev_hash, new_payload)
        tamper(
            session,
            "UPDATE audit_events SET payload = :payload, prev_hash = :prev_hash, hash = :hash WHERE seq = :seq",
            payload=new_payload,
            prev_hash=prev_hash,
            hash=new_hash,
            seq=seq,
        )
        prev_hash = new_hash


def test_a9_a_rechained_log_fails_against_an_older_checkpoint(db_session: Session) -> None:
    record_reads(db_session, 8)
    stored = checkpoint(db_session)  # size 8, event 9
    record_reads(db_session, 3, start=9)  # seq 10..12
    _rechain_from(db_session, 5)
    result = verify_log(db_session, KEYS)
    assert [(p["seq"], p["message"]) for p in result.problems] == [
        (8, f"head hash mismatch at 8: stored checkpoint #{stored.id} pins another head")
    ]


def test_a9_an_exported_checkpoint_catches_the_rewrite_after_stored_ones_are_deleted(db_session: Session) -> None:
    record_reads(db_session, 8)
    note = checkpoint(db_session).note
    _rechain_from(db_session, 5)
    tamper(db_session, "DELETE FROM audit_checkpoints")
    assert verify_log(db_session, KEYS).ok  # the rewrite alone is a valid chain
    result = verify_log(db_session, KEYS, external_notes=[("export", note)])
    assert result.first_bad == 8
    assert "head hash mismatch" in result.problems[0]["message"]


def test_a10_a_stored_checkpoint_signed_by_an_unknown_key_is_rejected(db_session: Session) -> None:
    record_reads(db_session, 2)
    forged = checkpoint(db_session, key=new_key())
    result = verify_log(db_session, KEYS)
    assert result.problems == [
        {"seq": None, "message": f"stored checkpoint #{forged.id} rejected: no valid known signature"}
    ]
    assert not result.ok and result.first_bad is None and result.checkpoints == 0


def test_a10_an_external_note_with_one_edited_byte_is_rejected(db_session: Session) -> None:
    record_reads(db_session, 12)
    note = checkpoint(db_session).note
    edited = note.replace("signalhub-audit\n12\n", "signalhub-audit\n11\n", 1)
    result = verify_log(db_session, KEYS, external_notes=[("export", edited)])
    assert [p["message"] for p in result.problems] == ["export rejected: no valid known signature"]


def test_a10_a_retired_key_listed_as_trusted_is_accepted(db_session: Session) -> None:
    retired = new_key()
    record_reads(db_session, 2)
    checkpoint(db_session, key=retired)
    trusted = parse_trusted_keys(base64.b64encode(public_key_bytes(retired)).decode())
    result = verify_log(db_session, known_checkpoint_keys(KEY, trusted))
    assert (result.ok, result.checkpoints) == (True, 1)


def test_a_stored_checkpoint_whose_columns_were_edited_is_reported(db_session: Session) -> None:
    record_reads(db_session, 2)
    stored = checkpoint(db_session)
    drop_append_only_triggers(db_session)
    tamper(db_session, "UPDATE audit_checkpoints SET size = 1 WHERE id = :id", id=stored.id)
    result = verify_log(db_session, KEYS)
    assert [p["message"] for p in result.problems] == [
        f"stored checkpoint #{stored.id}: size/head_hash columns disagree with its signed note"
    ]


def test_a_checkpoint_for_a_deleted_event_reports_the_missing_head(db_session: Session) -> None:
    record_reads(db_session, 4)
    note = sign_checkpoint(KEY, size=3, head_hash="0" * 64, created_at=NOW)
    drop_append_only_triggers(db_session)
    tamper(db_session, "DELETE FROM audit_events WHERE seq = 3")
    result = verify_log(db_session, KEYS, external_notes=[("export", note)])
    assert [(p["seq"], p["message"]) for p in result.problems] == [
        (3, "gap at 3"),
        (3, "head hash mismatch at 3: export pins seq 3, which is missing"),
    ]
