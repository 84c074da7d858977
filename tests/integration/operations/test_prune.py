"""The nightly prune: old job runs, finished queue jobs and login attempts go; the audit log stays."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub_audit.integrity import verify_log
from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.maintenance import prune_history
from signalhub_platform.models import Actor, AuditEvent, Job, JobRun, JobRunOutcome, JobState, LoginAttempt

NOW = dt.datetime(2026, 11, 27, 19, 30, tzinfo=dt.UTC)  # 03:30 in Beijing


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def test_rows_older_than_their_retention_go_and_the_rest_stay(db_session: Session) -> None:
    db_session.add_all([
        JobRun(job_name="old", holder="a:1", started_at=days_ago(200), finished_at=days_ago(200),
               outcome=JobRunOutcome.OK, error=""),
        JobRun(job_name="old_error", holder="a:1", started_at=days_ago(181), finished_at=days_ago(181),
               outcome=JobRunOutcome.ERROR, error="boom"),
        JobRun(job_name="recent", holder="a:1", started_at=days_ago(179), finished_at=days_ago(179),
               outcome=JobRunOutcome.OK, error=""),
        # Still marked running: live, or waiting for a takeover to close it; not history yet.
        JobRun(job_name="stuck", holder="a:1", started_at=days_ago(400), outcome=JobRunOutcome.RUNNING, error=""),
        Job(kind="validate_batch", state=JobState.DONE, finished_at=days_ago(200), created_at=days_ago(200)),
        Job(kind="validate_batch", state=JobState.FAILED, finished_at=days_ago(190), created_at=days_ago(190)),
        Job(kind="validate_batch", state=JobState.DONE, finished_at=days_ago(10), created_at=days_ago(10)),
        Job(kind="validate_batch", state=JobState.QUEUED, created_at=days_ago(300)),  # never finished: kept
        LoginAttempt(client_ip="10.0.0.1", username="a", attempted_at=days_ago(31)),
        LoginAttempt(client_ip="10.0.0.1", username="b", attempted_at=days_ago(29)),
    ])  # fmt: skip
    db_session.flush()

    counts = prune_history(db_session, now=NOW, job_history_days=180, login_attempt_days=30)

    assert counts == {"job_runs": 2, "queue_jobs": 2, "login_attempts": 1}
    assert sorted(db_session.scalars(select(JobRun.job_name))) == ["recent", "stuck"]
    assert sorted(db_session.scalars(select(Job.state))) == [JobState.DONE, JobState.QUEUED]
    assert db_session.scalars(select(LoginAttempt.username)).all() == ["b"]


def test_running_twice_deletes_nothing_more_and_each_run_is_audited(db_session: Session) -> None:
    db_session.add(LoginAttempt(client_ip="10.0.0.1", username="a", attempted_at=days_ago(40)))
    db_session.flush()

    first = prune_history(db_session, now=NOW, job_history_days=180, login_attempt_days=30)
    second = prune_history(db_session, now=NOW, job_history_days=180, login_attempt_days=30)

    assert first["login_attempts"] == 1 and second == {"job_runs": 0, "queue_jobs": 0, "login_attempts": 0}
    payloads = db_session.scalars(
        select(AuditEvent.payload).where(AuditEvent.tag == AuditTag.JOB_MAINTENANCE_PRUNE).order_by(AuditEvent.seq)
    ).all()
    data = [json.loads(payload)["data"] for payload in payloads]
    assert [d["login_attempts"] for d in data] == [1, 0]
    assert data[0]["history_before"] == days_ago(180).isoformat()


def test_audit_events_are_never_pruned(db_session: Session) -> None:
    for n in range(3):
        record_event(db_session, AuditTag.CLI_ENTITY_READ, actor=Actor.cli(), data={"n": n}, at=days_ago(1000))
    before = db_session.scalar(select(func.count()).select_from(AuditEvent))

    prune_history(db_session, now=NOW, job_history_days=1, login_attempt_days=1)

    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == before + 1  # plus the prune's event
    assert verify_log(db_session, {}).ok


@pytest.mark.parametrize(("history", "logins"), [(0, 30), (180, 0)])
def test_a_retention_below_a_day_is_refused(db_session: Session, history: int, logins: int) -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        prune_history(db_session, now=NOW, job_history_days=history, login_attempt_days=logins)
