"""One active scheduler: the lease in ``scheduler_leases`` is held by exactly one process at a time,
renewed by its heartbeat, and taken over by a standby once the holder stops renewing it."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_platform.db import make_session_factory, transaction
from signalhub_platform.models import AuditEvent, JobRun, JobRunOutcome, SchedulerLease
from signalhub_platform.scheduler import LEASE_NAME, SchedulerHost, acquire_lease, lease_status

T0 = dt.datetime(2026, 3, 31, 16, 0, tzinfo=dt.UTC)
LEASE_SECONDS = 60


class Clock:
    """A clock the test moves by hand: no sleeping for a lease to expire."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def host(factory: sessionmaker[Session], name: str, clock: Clock) -> SchedulerHost:
    return SchedulerHost(factory, [], holder=name, lease_seconds=LEASE_SECONDS, clock=clock)


def lease_row(session: Session) -> SchedulerLease:
    session.expire_all()
    row = session.get(SchedulerLease, LEASE_NAME)
    assert row is not None
    return row


def test_two_schedulers_contending_exactly_one_holds_the_lease(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    clock = Clock()
    first, second = host(session_factory, "a:1", clock), host(session_factory, "b:2", clock)

    assert [first.beat(), second.beat()] == [True, False]
    for _ in range(3):  # heartbeats: the holder renews, the standby keeps standing by
        clock.advance(LEASE_SECONDS / 4)
        assert [second.beat(), first.beat()] == [False, True]
    assert (first.is_active, second.is_active) == (True, False)
    row = lease_row(db_session)
    assert (row.holder, row.acquired_at, row.heartbeat_at) == ("a:1", T0, clock.now)
    assert row.expires_at == clock.now + dt.timedelta(seconds=LEASE_SECONDS)
    # The first acquisition is audited once; renewals are not.
    tags = db_session.scalars(select(AuditEvent.tag)).all()
    assert tags == [AuditTag.JOB_SCHEDULER_LEASE]


def test_an_expired_lease_is_taken_over_and_the_old_holder_stands_by(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    clock = Clock()
    first, second = host(session_factory, "a:1", clock), host(session_factory, "b:2", clock)
    assert first.beat()
    with transaction(session_factory) as session:  # a run the first holder never finished
        session.add(JobRun(job_name="evaluate_warnings", holder="a:1", started_at=T0))

    clock.advance(LEASE_SECONDS - 1)  # the holder stopped beating, but its lease still runs
    assert not second.beat()
    clock.advance(1)  # expires_at <= now: expired
    assert second.beat()
    assert not first.beat()  # the old holder comes back: it is now the standby
    assert (first.is_active, second.is_active) == (False, True)

    row = lease_row(db_session)
    assert (row.holder, row.acquired_at) == ("b:2", clock.now)
    abandoned = db_session.scalars(select(JobRun)).one()
    assert abandoned.outcome == JobRunOutcome.ERROR and abandoned.finished_at == clock.now
    assert "abandoned" in abandoned.error and "a:1" in abandoned.error
    events = db_session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [e.tag for e in events] == [AuditTag.JOB_SCHEDULER_LEASE] * 2
    assert '"previous":"a:1"' in events[1].payload and '"holder":"b:2"' in events[1].payload


def test_a_clean_stop_hands_over_at_the_next_heartbeat(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    clock = Clock()
    first, second = host(session_factory, "a:1", clock), host(session_factory, "b:2", clock)
    assert first.beat()
    first.release()
    assert not first.is_active
    assert lease_status(db_session, now=clock.now).is_fresh is False  # type: ignore[union-attr]
    clock.advance(1)
    assert second.beat()


def test_a_holder_renews_even_after_its_own_lease_lapsed_if_nobody_took_it(
    session_factory: sessionmaker[Session],
) -> None:
    clock = Clock()
    only = host(session_factory, "a:1", clock)
    assert only.beat()
    clock.advance(LEASE_SECONDS * 3)  # e.g. the database was away for a while
    assert only.beat()


def test_lease_status_for_health(session_factory: sessionmaker[Session], db_session: Session) -> None:
    clock = Clock()
    assert lease_status(db_session, now=T0) is None
    assert host(session_factory, "a:1", clock).beat()
    status = lease_status(db_session, now=T0 + dt.timedelta(seconds=LEASE_SECONDS - 1))
    assert status is not None and status.is_fresh and status.heartbeat_at == T0
    stale = lease_status(db_session, now=T0 + dt.timedelta(seconds=LEASE_SECONDS))
    assert stale is not None and not stale.is_fresh


@pytest.mark.concurrency
def test_schedulers_racing_in_threads_never_both_hold_the_lease(scratch_database: Engine) -> None:
    """Real transactions from two threads at the same instant, round after round, with the lease
    expiring every round: each round exactly one of them holds it."""
    factory = make_session_factory(scratch_database)
    rounds = 25
    barrier = threading.Barrier(2)
    outcomes: dict[str, list[bool]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def contend(name: str) -> None:
        try:
            for n in range(rounds):
                # Round n: everyone's clock is 2 lease lengths on, so last round's lease has expired.
                now = T0 + dt.timedelta(seconds=2 * LEASE_SECONDS * n)
                barrier.wait()
                with transaction(factory) as session:
                    held = acquire_lease(session, holder=name, now=now, ttl=dt.timedelta(seconds=LEASE_SECONDS)).is_held
                outcomes[name].append(held)
                barrier.wait()
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=contend, args=(name,)) for name in outcomes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for n in range(rounds):
        held_by = [name for name in outcomes if outcomes[name][n]]
        assert len(held_by) == 1, (n, outcomes)
    with transaction(factory) as session:
        assert session.scalars(select(SchedulerLease)).one().holder in outcomes
