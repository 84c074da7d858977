"""Events wait in the session and are chained at commit, so the chain's lock is held only then.

A request records its read early and goes on working (rendering, the linked-entity graph);
another request must be able to commit its own events meanwhile. What a transaction undoes,
its events go with; what it reads of the log includes its own events.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from signalhub_audit.integrity import verify_log
from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.db import is_postgresql, make_session_factory, transaction
from signalhub_platform.models import Actor, AuditEvent, AuditSubject

ALICE = Actor(name="alice", agency_code="AG1", client_ip="10.0.0.1")
BOB = Actor(name="bob", agency_code="AG2", client_ip="10.0.0.2")


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_a_transaction_reading_the_log_sees_its_own_events(db_session: Session) -> None:
    before = _count(db_session)
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=ALICE, subjects=[("record", 1)])
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=ALICE, subjects=[("record", 2)])
    assert _count(db_session) == before + 2
    actors = db_session.scalars(select(AuditEvent.actor).order_by(AuditEvent.seq.desc()).limit(2)).all()
    assert actors == ["alice", "alice"]


def test_a_rolled_back_savepoint_takes_its_events_and_a_released_one_keeps_them(db_session: Session) -> None:
    before = _count(db_session)
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=ALICE, subjects=[("record", 1)])
    kept = db_session.begin_nested()
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=ALICE, subjects=[("record", 2)])
    kept.commit()
    undone = db_session.begin_nested()
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=BOB, subjects=[("record", 3)])
    undone.rollback()
    events = db_session.execute(select(AuditEvent.actor, AuditEvent.payload).order_by(AuditEvent.seq)).all()
    assert len(events) == before + 2
    assert [actor for actor, _ in events[before:]] == ["alice", "alice"]


def test_an_outer_event_written_inside_a_savepoint_that_rolls_back_is_written_again(db_session: Session) -> None:
    before = _count(db_session)
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=ALICE, subjects=[("record", 1)])
    undone = db_session.begin_nested()
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=BOB, subjects=[("record", 2)])
    assert _count(db_session) == before + 2  # reading the log writes both, inside the savepoint
    undone.rollback()
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=ALICE, subjects=[("record", 3)])
    actors = db_session.scalars(select(AuditEvent.actor).where(AuditEvent.seq > before).order_by(AuditEvent.seq))
    assert actors.all() == ["alice", "alice"]  # bob's went with his savepoint; alice's first came back
    assert verify_log(db_session, {}).ok


@pytest.mark.concurrency
def test_events_of_a_rolled_back_transaction_are_never_written(scratch_database: Engine) -> None:
    factory = make_session_factory(scratch_database)
    session = factory()
    record_event(session, AuditTag.WEB_RECORD_READ, actor=ALICE, subjects=[("record", 1)])
    session.rollback()
    session.close()
    with transaction(factory) as check:
        assert _count(check) == 0
        record_event(check, AuditTag.WEB_RECORD_READ, actor=BOB, subjects=[("record", 2)])
    with transaction(factory) as check:
        assert check.scalars(select(AuditEvent.actor)).all() == ["bob"]
        assert verify_log(check, {}).ok


@pytest.mark.concurrency
def test_an_open_transaction_with_recorded_events_does_not_block_another_writer(scratch_database: Engine) -> None:
    if not is_postgresql(scratch_database):
        pytest.skip("SQLite has one writer at a time: every transaction begins IMMEDIATE")
    factory = make_session_factory(scratch_database)
    slow = factory()
    try:
        record_event(slow, AuditTag.WEB_ENTITY_READ, actor=ALICE, subjects=[("entity", 1)])
        # Still working, not committed. Another request commits its read without waiting (a lock
        # timeout turns waiting into an error instead of a hung test).
        with transaction(factory) as fast:
            fast.execute(select(1))
            fast.connection().exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            record_event(fast, AuditTag.WEB_RECORD_READ, actor=BOB, subjects=[("record", 9)])
        slow.commit()
    finally:
        slow.close()
    with transaction(factory) as check:
        assert check.scalars(select(AuditEvent.actor).order_by(AuditEvent.seq)).all() == ["bob", "alice"]
        assert verify_log(check, {}).ok


def test_a_read_of_the_log_sees_new_events_every_time_it_runs(db_session: Session) -> None:
    """Whether a statement reads the log is worked out once per statement shape: the second read of
    the same shape must still write the events recorded since the first."""
    for n in range(3):
        record_event(db_session, AuditTag.WEB_RECORD_READ, actor=ALICE, subjects=[("record", n)])
        newest = db_session.scalars(select(AuditEvent.payload).order_by(AuditEvent.seq.desc()).limit(1)).one()
        assert f'["record","{n}"]' in newest


def test_subjects_are_stored_in_order_with_their_event(db_session: Session) -> None:
    subjects = [("entity", f"91110102{n:010d}") for n in range(60)] + [("record", n) for n in range(5)]
    record_event(db_session, AuditTag.WEB_ENTITY_SEARCH, actor=ALICE, subjects=subjects)
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=BOB, subjects=[("record", 99)])
    db_session.commit()
    first, second = db_session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(2)).all()[::-1]
    rows = db_session.execute(
        select(AuditSubject.seq, AuditSubject.kind, AuditSubject.ref)
        .where(AuditSubject.seq.in_([first, second]))
        .order_by(AuditSubject.id)
    ).all()
    expected = sorted((kind, str(ref)) for kind, ref in subjects)
    assert [tuple(row) for row in rows] == [(first, *s) for s in expected] + [(second, "record", "99")]
