"""The hash chain: pinned format (A2), tampering that verify finds (A3-A6), append-only tables (A13)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from signalhub_audit.integrity import VerifyResult, verify_log
from signalhub_audit.queries import list_events
from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.db import is_postgresql
from signalhub_platform.models import Actor, AuditEvent, AuditSubject
from tests.integration.audit.conftest import (
    ALICE,
    START,
    append_only_trigger_count,
    drop_append_only_triggers,
    record_reads,
    tamper,
)

NO_KEYS: dict = {}


def verify(session: Session, chunk_size: int = 10_000) -> VerifyResult:
    return verify_log(session, NO_KEYS, chunk_size=chunk_size)


def messages(result: VerifyResult) -> list[tuple[int | None, str]]:
    return [(p["seq"], p["message"]) for p in result.problems]


# --- A2: the documented formula, recomputed here without importing it ---------------------------

GOLDEN_PAYLOAD = (
    '{{"actor":"alice","agency":"AG1","at":"2026-01-02T03:04:{second:02d}.000006+00:00",'
    '"data":{{"n":{n},"purpose":"检查"}},"ip":"10.0.0.1","subjects":[["record","{n}"]],"tag":"web:record:read"}}'
)
# hash[3] as computed when the format was pinned; a different value means the format changed.
GOLDEN_HEAD = "c30bc08f4a45e898efdb9e351bd5fd72c9af69d3b91f49b3c2e8012caf349e69"


def golden_hash(seq: int, prev_hash: str, payload: str) -> str:
    return hashlib.sha256(f"{seq}\n{prev_hash}\n".encode() + payload.encode("utf-8")).hexdigest()


def test_a2_stored_hashes_equal_the_documented_formula(db_session: Session) -> None:
    for n in (1, 2, 3):
        record_event(
            db_session,
            AuditTag.WEB_RECORD_READ,
            actor=ALICE,
            subjects=[("record", n)],
            data={"purpose": "检查", "n": n},
            at=START + dt.timedelta(seconds=n),
        )
    rows = db_session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
    assert [row.seq for row in rows] == [1, 2, 3]
    prev_hash = "0" * 64
    for row in rows:
        payload = GOLDEN_PAYLOAD.format(second=5 + row.seq, n=row.seq)
        assert row.payload == payload
        assert row.prev_hash == prev_hash
        assert row.hash == golden_hash(row.seq, prev_hash, payload)
        prev_hash = row.hash
    assert prev_hash == GOLDEN_HEAD
    assert verify(db_session).ok


# --- A3-A6 and other tampering ------------------------------------------------------------------


def test_an_untouched_log_verifies_in_any_chunk_size(db_session: Session) -> None:
    record_reads(db_session, 7)
    for chunk_size in (1, 2, 3, 10_000):
        result = verify(db_session, chunk_size)
        assert (result.ok, result.events, result.first_bad, result.problems) == (True, 7, None, [])


def test_a3_one_changed_payload_byte_is_a_content_hash_mismatch(db_session: Session) -> None:
    record_reads(db_session, 5)
    drop_append_only_triggers(db_session)
    tamper(
        db_session,
        "UPDATE audit_events SET payload = replace(payload, :old, :new) WHERE seq = 3",
        old='"n":3',
        new='"n":4',
    )
    result = verify(db_session)
    assert not result.ok
    assert result.first_bad == 3
    assert [seq for seq, _ in messages(result)] == [3]
    assert "content hash mismatch" in result.problems[0]["message"]


def test_a4_a_changed_payload_with_its_hash_recomputed_breaks_the_next_link(db_session: Session) -> None:
    record_reads(db_session, 5)
    drop_append_only_triggers(db_session)
    row = db_session.execute(select(AuditEvent.payload, AuditEvent.prev_hash).where(AuditEvent.seq == 3)).one()
    forged = row.payload.replace('"n":3', '"n":33')
    tamper(
        db_session,
        "UPDATE audit_events SET payload = :payload, hash = :hash WHERE seq = 3",
        payload=forged,
        hash=golden_hash(3, row.prev_hash, forged),
    )
    result = verify(db_session)
    assert [seq for seq, _ in messages(result)] == [4]
    assert "prev_hash mismatch" in result.problems[0]["message"]


def test_a5_a_deleted_row_is_a_gap(db_session: Session) -> None:
    record_reads(db_session, 5)
    drop_append_only_triggers(db_session)
    tamper(db_session, "DELETE FROM audit_events WHERE seq = 3")
    result = verify(db_session)
    assert messages(result) == [(3, "gap at 3")]
    assert result.events == 4


def test_a5_several_deleted_rows_name_the_range(db_session: Session) -> None:
    record_reads(db_session, 6)
    drop_append_only_triggers(db_session)
    tamper(db_session, "DELETE FROM audit_events WHERE seq IN (1, 3, 4)")
    result = verify(db_session, chunk_size=2)
    assert messages(result) == [(1, "gap at 1"), (3, "gap at 3 (seq 3..4 missing)")]


def test_a6_swapped_payloads_are_a_mismatch_at_k(db_session: Session) -> None:
    record_reads(db_session, 5)
    drop_append_only_triggers(db_session)
    payloads = dict(
        db_session.execute(select(AuditEvent.seq, AuditEvent.payload).where(AuditEvent.seq.in_([2, 3]))).all()
    )
    for seq, other in ((2, 3), (3, 2)):
        tamper(
            db_session, "UPDATE audit_events SET payload = :payload WHERE seq = :seq", payload=payloads[other], seq=seq
        )
    result = verify(db_session)
    assert result.first_bad == 2
    assert [seq for seq, message in messages(result) if "content hash mismatch" in message] == [2, 3]


@pytest.mark.parametrize(
    ("column", "value"),
    [("tag", "web:home:read"), ("actor", "mallory"), ("agency_code", "AG2"), ("client_ip", "192.0.2.1")],
)
def test_a_denormalised_column_that_disagrees_with_the_payload_is_found(
    db_session: Session, column: str, value: str
) -> None:
    record_reads(db_session, 3)
    drop_append_only_triggers(db_session)
    tamper(db_session, f"UPDATE audit_events SET {column} = :value WHERE seq = 2", value=value)
    result = verify(db_session)
    assert [seq for seq, _ in messages(result)] == [2]
    assert "content hash mismatch" in result.problems[0]["message"]
    assert column in result.problems[0]["message"]


def test_a_changed_event_time_is_found(db_session: Session) -> None:
    record_reads(db_session, 3)
    drop_append_only_triggers(db_session)
    db_session.execute(
        AuditEvent.__table__.update().where(AuditEvent.seq == 2).values(occurred_at=START - dt.timedelta(days=1))
    )
    result = verify(db_session)
    assert [seq for seq, _ in messages(result)] == [2]
    assert "occurred_at" in result.problems[0]["message"]


def test_a_changed_subject_row_is_found(db_session: Session) -> None:
    record_reads(db_session, 3)
    drop_append_only_triggers(db_session)
    tamper(db_session, "UPDATE audit_subjects SET ref = '999' WHERE seq = 2")
    result = verify(db_session)
    assert [seq for seq, _ in messages(result)] == [2]
    assert "audit_subjects" in result.problems[0]["message"]


def test_dropping_triggers_is_contained_in_the_test(db_session: Session) -> None:
    before = append_only_trigger_count(db_session)
    db_session.commit()  # the triggers are dropped in a SAVEPOINT of their own
    drop_append_only_triggers(db_session)
    assert append_only_trigger_count(db_session) < before
    db_session.rollback()
    assert append_only_trigger_count(db_session) == before > 0


# --- A13: the app's own connection cannot change the log ----------------------------------------

APPEND_ONLY_STATEMENTS = [
    "UPDATE audit_events SET payload = 'x' WHERE seq = 1",
    "UPDATE audit_events SET hash = hash WHERE seq = 1",
    "DELETE FROM audit_events WHERE seq = 1",
    "DELETE FROM audit_events",
    "UPDATE audit_subjects SET ref = 'x'",
    "DELETE FROM audit_subjects",
    "UPDATE audit_checkpoints SET size = 0",
    "DELETE FROM audit_checkpoints",
]


@pytest.mark.parametrize("statement", APPEND_ONLY_STATEMENTS)
def test_a13_update_and_delete_fail_in_the_database(db_session: Session, statement: str) -> None:
    from signalhub_audit.integrity import create_checkpoint
    from tests.unit.audit.test_notes import new_key

    record_reads(db_session, 2)
    create_checkpoint(db_session, new_key(), actor=ALICE, tag=AuditTag.CLI_AUDIT_CHECKPOINT, now=START)
    before = _snapshot(db_session)
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        db_session.execute(text(statement))
    assert _snapshot(db_session) == before


def test_a13_truncate_fails_on_postgresql(db_session: Session) -> None:
    if not is_postgresql(db_session):
        pytest.skip("SQLite has no TRUNCATE; DELETE is covered above")
    record_reads(db_session, 1)
    for table in ("audit_events", "audit_subjects", "audit_checkpoints"):
        with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
            db_session.execute(text(f"TRUNCATE {table}"))
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def _snapshot(session: Session) -> list[object]:
    return [
        session.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()
        for table in ("audit_events", "audit_subjects", "audit_checkpoints")
    ]


# --- queries ------------------------------------------------------------------------------------


def test_list_events_filters(db_session: Session) -> None:
    bob = Actor(name="bob", agency_code="AG2")
    record_reads(db_session, 3)  # seq 1..3, alice/AG1, records 1..3
    record_event(db_session, AuditTag.WEB_ENTITY_READ, actor=bob, subjects=[("entity", 7)], at=START)
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=bob, subjects=[("record", 2)], at=START)

    def seqs(**filters: object) -> list[int]:
        return [event.seq for event in list_events(db_session, **filters)]  # type: ignore[arg-type]

    assert seqs() == [5, 4, 3, 2, 1]
    assert seqs(actor="bob") == [5, 4]
    assert seqs(agency_code="AG1") == [3, 2, 1]
    assert seqs(tag=AuditTag.WEB_ENTITY_READ) == [4]
    assert seqs(subject=("record", 2)) == [5, 2]
    assert seqs(since=START + dt.timedelta(seconds=2), until=START + dt.timedelta(seconds=3)) == [2]
    assert seqs(before_seq=3, limit=1) == [2]
    assert db_session.scalar(select(func.count()).select_from(AuditSubject)) == 5
    assert json.loads(list_events(db_session, limit=1)[0].payload)["actor"] == "bob"
