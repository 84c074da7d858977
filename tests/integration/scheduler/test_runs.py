"""Every run of a periodic job is recorded (start, end, outcome, error); a failing job is rolled
back and recorded, and the scheduler goes on; the real job list runs through the same runner."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.integrity import checkpoint_keys_from_settings, verify_log
from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.db import make_session_factory, transaction
from signalhub_platform.models import Agency, AuditCheckpoint, JobRun, JobRunOutcome, JobState
from signalhub_platform.scheduler import (
    TIMEZONE,
    PeriodicJob,
    SchedulerHost,
    lease_status,
    periodic_jobs,
    run_recorded,
)
from signalhub_platform.worker import enqueue, run_one
from tests.integration.scheduler.test_lease import T0, Clock

ID_NUMBER = "11010519491231002X"


def add_agency(session: Session, *, now: dt.datetime) -> None:
    session.add(Agency(code=f"J{now:%H%M%S%f}", name="from a job"))


def fail_after_writing(session: Session, *, now: dt.datetime) -> None:
    session.add(Agency(code="NEVER", name="rolled back"))
    session.flush()
    raise ValueError(f"boom for {ID_NUMBER}")


def runs(session: Session) -> list[JobRun]:
    session.expire_all()
    return list(session.scalars(select(JobRun).order_by(JobRun.id)))


def test_a_run_is_recorded_with_its_start_end_and_outcome(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    clock = Clock(T0 + dt.timedelta(seconds=3))
    run = run_recorded(session_factory, PeriodicJob("add", add_agency, {}), holder="a:1", now=T0, clock=clock)

    assert (run.job_name, run.holder, run.outcome, run.error) == ("add", "a:1", JobRunOutcome.OK, "")
    assert (run.started_at, run.finished_at) == (T0, clock.now)
    assert db_session.scalars(select(Agency.code)).all() == [f"J{T0:%H%M%S%f}"]  # the job's work committed


def test_a_failing_job_records_its_error_and_the_scheduler_keeps_going(
    session_factory: sessionmaker[Session], db_session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    host = SchedulerHost(session_factory, [], holder="a:1", clock=clock)
    failing, working = PeriodicJob("fail", fail_after_writing, {}), PeriodicJob("add", add_agency, {})

    failed = host.run_scheduled(failing)
    clock.advance(60)
    worked = host.run_scheduled(working)

    assert failed is not None and failed.outcome == JobRunOutcome.ERROR
    assert failed.error.startswith("ValueError: boom for ") and "Traceback" in failed.error
    assert ID_NUMBER not in failed.error and "110105********002X" in failed.error  # no ID number kept
    assert failed.finished_at is not None
    assert worked is not None and worked.outcome == JobRunOutcome.OK
    assert db_session.scalars(select(Agency.code)).all() == [f"J{clock.now:%H%M%S%f}"]  # "NEVER" rolled back
    assert [(r.job_name, r.outcome) for r in runs(db_session)] == [
        ("fail", JobRunOutcome.ERROR),
        ("add", JobRunOutcome.OK),
    ]
    assert "periodic job fail failed" in caplog.text


def test_a_standby_skips_its_jobs(session_factory: sessionmaker[Session], db_session: Session) -> None:
    clock = Clock()
    active = SchedulerHost(session_factory, [], holder="a:1", clock=clock)
    standby = SchedulerHost(session_factory, [], holder="b:2", clock=clock)
    assert active.beat()
    job = PeriodicJob("add", add_agency, {})

    assert standby.run_scheduled(job) is None
    assert active.run_scheduled(job) is not None
    assert [r.holder for r in runs(db_session)] == ["a:1"]


def test_the_job_list_runs_once_through_the_runner(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    jobs = periodic_jobs(settings.load_keys(), settings)
    clock = Clock(dt.datetime.now(dt.UTC))
    host = SchedulerHost(session_factory, jobs, holder="a:1", clock=clock)

    results = [host.run_scheduled(job) for job in jobs]

    assert [(r.job_name, r.outcome, r.error) for r in results if r is not None] == [
        (job.name, JobRunOutcome.OK, "") for job in jobs
    ]
    assert db_session.scalars(select(AuditCheckpoint)).one()  # audit_checkpoint did its work
    assert verify_log(db_session, checkpoint_keys_from_settings(settings)).ok


def test_apscheduler_gets_every_job_on_cron_in_beijing_time(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    jobs = periodic_jobs(settings.load_keys(), settings)
    scheduler = SchedulerHost(session_factory, jobs, holder="a:1").configure(BackgroundScheduler(timezone=TIMEZONE))

    scheduled = {job.id: job for job in scheduler.get_jobs()}
    assert sorted(scheduled) == sorted(job.name for job in jobs)
    nightly = scheduled["evaluate_warnings"].trigger
    # 2026-04-01 00:00 UTC is 08:00 in Beijing: the next 01:30 Beijing time is 17:30 UTC that day.
    fire = nightly.get_next_fire_time(None, dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
    assert fire.astimezone(dt.UTC) == dt.datetime(2026, 4, 1, 17, 30, tzinfo=dt.UTC)
    assert all(job.coalesce and job.max_instances == 1 for job in scheduled.values())


@pytest.mark.concurrency
def test_a_running_scheduler_records_runs_and_survives_a_failing_job(scratch_database: Engine) -> None:
    """APScheduler, the heartbeat thread and the lease together, for about two seconds."""
    factory = make_session_factory(scratch_database)
    every_second = {"second": "*"}
    jobs = [PeriodicJob("add", add_agency, every_second), PeriodicJob("fail", fail_after_writing, every_second)]
    host = SchedulerHost(factory, jobs, holder="a:1", lease_seconds=1)
    standby = SchedulerHost(factory, [], holder="b:2", lease_seconds=1)

    host.start_background()
    try:
        assert host.is_active and not standby.beat()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with transaction(factory) as session:
                outcomes = [(r.job_name, r.outcome) for r in runs(session)]
            if outcomes.count(("fail", JobRunOutcome.ERROR)) >= 2 and ("add", JobRunOutcome.OK) in outcomes:
                break
            time.sleep(0.1)
    finally:
        host.shutdown()

    assert outcomes.count(("fail", JobRunOutcome.ERROR)) >= 2  # it failed, and the next second ran again
    assert ("add", JobRunOutcome.OK) in outcomes
    with transaction(factory) as session:
        status = lease_status(session, now=dt.datetime.now(dt.UTC))
        assert status is not None and status.holder == "a:1" and not status.is_fresh  # released on shutdown
        assert session.scalars(select(Agency.code).where(Agency.code == "NEVER")).first() is None
    assert standby.beat()  # the standby takes over at once


def test_cli_lists_the_jobs_and_runs_one(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    context = CliContext(settings=settings, factory=session_factory)
    listed = CliRunner().invoke(main, ["scheduler", "--list"], obj=context)
    assert listed.exit_code == 0, listed.output
    assert "evaluate_warnings\thour=1 minute=30" in listed.output

    ran = CliRunner().invoke(main, ["scheduler", "--run", "audit_checkpoint"], obj=context)
    assert ran.exit_code == 0, ran.output
    assert "audit_checkpoint: ok" in ran.output
    (run,) = runs(db_session)
    assert run.holder.startswith("cli:") and run.outcome == JobRunOutcome.OK

    unknown = CliRunner().invoke(main, ["scheduler", "--run", "nope"], obj=context)
    assert unknown.exit_code != 0 and "audit_checkpoint" in unknown.output


def test_a_failing_queued_job_keeps_its_error_without_id_numbers(
    session_factory: sessionmaker[Session], db_session: Session
) -> None:
    """The work queue records a failure with the scheduler's error text: masked like a job run's."""

    def explode(_factory: object, payload: Mapping[str, object], _heartbeat: object) -> None:
        raise ValueError(f"boom for {payload['id_number']}")

    with transaction(session_factory) as session:
        enqueue(session, "explode", {"id_number": ID_NUMBER}, now=T0)
    failed = run_one(session_factory, {"explode": explode}, name="w:1", now=lambda: T0)

    assert failed is not None and (failed.state, failed.finished_at) == (JobState.FAILED, T0)
    assert failed.error.startswith("ValueError: boom for ") and "Traceback" in failed.error
    assert ID_NUMBER not in failed.error and "110105********002X" in failed.error
    assert run_one(session_factory, {"explode": explode}, name="w:1", now=lambda: T0) is None  # not retried
