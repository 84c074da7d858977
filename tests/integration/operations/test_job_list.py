"""The operation jobs are in the one job list, on their schedule, and each runs through the runner."""

from __future__ import annotations

import datetime as dt

from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.scheduler import TIMEZONE, SchedulerHost, periodic_jobs, run_recorded

OPERATION_JOBS = {
    "remind_overdue_acknowledgements": {"hour": "8", "minute": "30"},
    "remind_overdue_reports": {"hour": "8", "minute": "40"},
    "prune_history": {"hour": "3", "minute": "30"},
    "rotate_keys": {"minute": "2-59/5"},
}


def test_the_operation_jobs_are_in_the_one_list(settings: Settings) -> None:
    jobs = {job.name: job for job in periodic_jobs(settings.load_keys(), settings)}

    assert {name: jobs[name].cron for name in OPERATION_JOBS if name in jobs} == OPERATION_JOBS
    # The earlier ones stay.
    assert {"audit_checkpoint", "recover_batches", "evaluate_warnings"} <= set(jobs)
    assert len(jobs) == len(periodic_jobs(settings.load_keys(), settings))  # names are unique


def test_they_fire_in_beijing_time(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    scheduler = SchedulerHost(session_factory, periodic_jobs(settings.load_keys(), settings), holder="a:1").configure(
        BackgroundScheduler(timezone=TIMEZONE)
    )
    scheduled = {job.id: job.trigger for job in scheduler.get_jobs()}
    start = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)  # 08:00 in Beijing

    def next_fire(name: str) -> dt.datetime:
        return scheduled[name].get_next_fire_time(None, start).astimezone(dt.UTC)

    assert next_fire("remind_overdue_acknowledgements") == dt.datetime(2026, 4, 1, 0, 30, tzinfo=dt.UTC)
    assert next_fire("remind_overdue_reports") == dt.datetime(2026, 4, 1, 0, 40, tzinfo=dt.UTC)
    assert next_fire("prune_history") == dt.datetime(2026, 4, 1, 19, 30, tzinfo=dt.UTC)  # 03:30 the next morning
    assert next_fire("rotate_keys") == dt.datetime(2026, 4, 1, 0, 2, tzinfo=dt.UTC)  # off the other 5-minute job


def test_each_runs_cleanly_on_an_empty_district(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    jobs = {job.name: job for job in periodic_jobs(settings.load_keys(), settings)}
    now = dt.datetime.now(dt.UTC)

    outcomes = {name: run_recorded(session_factory, jobs[name], holder="a:1", now=now) for name in OPERATION_JOBS}

    assert {name: (run.outcome, run.error) for name, run in outcomes.items()} == {
        name: ("ok", "") for name in OPERATION_JOBS
    }


def test_scheduler_list_shows_them(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    context = CliContext(settings=settings, factory=session_factory)
    listed = CliRunner().invoke(main, ["scheduler", "--list"], obj=context)

    assert listed.exit_code == 0, listed.output
    assert "remind_overdue_reports\thour=8 minute=40" in listed.output
    assert "rotate_keys\tminute=2-59/5" in listed.output
