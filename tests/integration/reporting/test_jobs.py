"""The quarter-end job: in the one job list, on the first day of each quarter at 02:00 Beijing time,
building the quarter just ended, and harmless when it runs again."""

from __future__ import annotations

import datetime as dt

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_ingest.reports import overdue_reports
from signalhub_platform.models import Actor, CollectionReport
from signalhub_platform.models.quarters import Quarter
from signalhub_platform.reporting.jobs import build_collection_report_job
from signalhub_platform.reporting.quarterly import build_collection_report
from signalhub_platform.scheduler import TIMEZONE, PeriodicJob, SchedulerHost, periodic_jobs, run_job
from tests.integration.reporting.scene import Q3_DONE, District, beijing, events_after, last_seq


def the_job(settings: Settings) -> PeriodicJob:
    [job] = [job for job in periodic_jobs(settings.load_keys(), settings) if job.name == "build_collection_report"]
    return job


def test_the_job_is_in_the_list_and_fires_when_a_quarter_begins(
    settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    job = the_job(settings)
    scheduler = SchedulerHost(session_factory, [job], holder="a:1").configure(BackgroundScheduler(timezone=TIMEZONE))
    trigger = scheduler.get_job("build_collection_report").trigger
    fires, moment = [], dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    for _ in range(4):
        moment = trigger.get_next_fire_time(None, moment)
        fires.append(moment.astimezone(dt.UTC))
        moment += dt.timedelta(minutes=1)
    # 02:00 in Beijing is 18:00 UTC on the day before.
    assert fires == [
        dt.datetime(2026, 3, 31, 18, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 6, 30, 18, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 9, 30, 18, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 31, 18, 0, tzinfo=dt.UTC),
    ]


def test_at_quarter_end_the_job_builds_the_quarter_just_ended(
    settings: Settings, db_session: Session, district: District
) -> None:
    seq = last_seq(db_session)
    run_job(the_job(settings), db_session, Q3_DONE)

    report = db_session.scalars(select(CollectionReport)).one()
    assert report.quarter == "2026Q3" and report.built_by == "job:build_collection_report"
    assert report.built_at == Q3_DONE and report.payload["is_complete"] is True
    assert {line["code"]: line["rule_met"] for line in report.payload["agencies"]} == {
        "HRSS": False,
        "MKT": False,
        "TAX": True,
    }
    [(tag, event)] = events_after(db_session, seq)
    assert tag == "job:collection_report:build" and event["data"]["replaced"] is None


def test_running_again_keeps_the_complete_snapshot(db_session: Session, district: District) -> None:
    first = build_collection_report_job(db_session, now=Q3_DONE, overdue=overdue_reports)
    assert first is not None
    sha, seq = first.payload_sha256, last_seq(db_session)

    assert build_collection_report_job(db_session, now=Q3_DONE + dt.timedelta(hours=1), overdue=overdue_reports) is None
    assert db_session.scalars(select(CollectionReport)).one().payload_sha256 == sha
    assert events_after(db_session, seq) == []


def test_the_job_replaces_a_provisional_snapshot(db_session: Session, district: District) -> None:
    build_collection_report(
        db_session, Actor.cli(), quarter=Quarter(2026, 3), overdue=overdue_reports,
        tag=AuditTag.CLI_COLLECTION_REPORT_BUILD, now=beijing(2026, 9, 20),
    )  # fmt: skip
    report = build_collection_report_job(db_session, now=Q3_DONE, overdue=overdue_reports)
    assert report is not None and report.payload["is_complete"] is True
    assert db_session.scalar(select(func.count()).select_from(CollectionReport)) == 1


def test_in_january_the_job_builds_the_fourth_quarter(db_session: Session, district: District) -> None:
    report = build_collection_report_job(db_session, now=beijing(2027, 1, 1, 2), overdue=overdue_reports)
    assert report is not None and report.quarter == "2026Q4"
    # TAX's batch for Q3 committed at 00:30 on 1 October belongs to Q4's report, on time (due 31 October).
    tax = {line["code"]: line for line in report.payload["agencies"]}["TAX"]
    assert (tax["batches_committed"], tax["batches_on_time"], tax["records_received"]["risk"]) == (1, 1, 1)
