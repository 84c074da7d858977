"""A14: concurrent writers, each with its own transaction, never fork or gap the chain."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from signalhub_audit.integrity import verify_log
from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.db import make_session_factory, transaction
from signalhub_platform.models import Actor, AuditEvent

THREADS = 2
EVENTS_PER_THREAD = 500


@pytest.mark.concurrency
def test_a14_two_threads_of_500_audited_reads(scratch_database: Engine) -> None:
    factory = make_session_factory(scratch_database)
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def reader(name: str) -> None:
        actor = Actor(name=name, agency_code="AG1", client_ip="10.0.0.1")
        try:
            start.wait()
            for n in range(EVENTS_PER_THREAD):
                with transaction(factory) as session:  # one real commit per audited read
                    record_event(session, AuditTag.WEB_RECORD_READ, actor=actor, subjects=[("record", n)])
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(f"reader{i}",)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    total = THREADS * EVENTS_PER_THREAD
    with transaction(factory) as session:
        seqs = session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
        assert seqs == list(range(1, total + 1))
        assert session.scalar(select(func.count(func.distinct(AuditEvent.prev_hash)))) == total
        per_actor = dict(session.execute(select(AuditEvent.actor, func.count()).group_by(AuditEvent.actor)).all())
        assert per_actor == {f"reader{i}": EVENTS_PER_THREAD for i in range(THREADS)}
        result = verify_log(session, {}, chunk_size=300)
        assert (result.ok, result.events, result.problems) == (True, total, [])
