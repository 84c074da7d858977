"""Helpers for audit tests: a fixed actor, a few events, and tampering with the triggers out of the way."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from signalhub_audit.services import AppendedEvent, record_event, write_pending_events
from signalhub_audit.tags import AuditTag
from signalhub_platform.db import is_postgresql
from signalhub_platform.models import Actor

AUDIT_TABLES = ("audit_events", "audit_subjects", "audit_checkpoints")
ALICE = Actor(name="alice", agency_code="AG1", client_ip="10.0.0.1")
START = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)


def record_reads(session: Session, count: int, *, start: int = 1) -> list[AppendedEvent]:
    """``count`` record reads by alice, one second apart, each touching one record, written to the chain."""
    appended = []
    for n in range(start, start + count):
        record_event(
            session,
            AuditTag.WEB_RECORD_READ,
            actor=ALICE,
            subjects=[("record", n)],
            data={"n": n},
            at=START + dt.timedelta(seconds=n),
        )
        event = write_pending_events(session)
        assert event is not None
        appended.append(event)
    return appended


def drop_append_only_triggers(session: Session) -> None:
    """Let a test play the attacker with direct database access.

    DDL is transactional on both databases, so the test's rollback puts the triggers back
    (``test_dropping_triggers_is_contained_in_the_test`` checks that).
    """
    if is_postgresql(session):
        for table in AUDIT_TABLES:
            session.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))
    else:
        for table in AUDIT_TABLES:
            for verb in ("update", "delete"):
                session.execute(text(f"DROP TRIGGER {table}_no_{verb}"))


def append_only_trigger_count(session: Session) -> int:
    if is_postgresql(session):
        query = "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'audit_%' AND NOT tgisinternal"
    else:
        query = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_%'"
    return int(session.execute(text(query)).scalar_one())


def tamper(session: Session, sql: str, **params: object) -> None:
    session.execute(text(sql), params)
