"""The platform's housekeeping job: operational history that would otherwise grow for ever.

Pruned: the scheduler's finished job runs and the work queue's finished jobs older than
``job_history_days``, and login attempts older than ``login_attempt_days``. Never the audit log:
it is append-only (and the database refuses to delete from it); what a pruned row said is either
in an audit event already (logins, failures, lockouts, batch commits) or operational detail only.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.accounts import prune_login_attempts
from signalhub_platform.models import Actor, Job, JobRun, JobRunOutcome, JobState

# The per-address login limit counts the last minute: a shorter retention would weaken it.
MIN_LOGIN_ATTEMPT_DAYS = 1


def prune_history(
    session: Session, *, now: dt.datetime, job_history_days: int, login_attempt_days: int
) -> dict[str, int]:
    """Delete old job runs, finished queue jobs and login attempts; audited with the counts."""
    if job_history_days < 1:
        raise ValueError("SIGNALHUB_JOB_HISTORY_DAYS must be at least 1")
    if login_attempt_days < MIN_LOGIN_ATTEMPT_DAYS:
        raise ValueError(f"SIGNALHUB_LOGIN_ATTEMPT_DAYS must be at least {MIN_LOGIN_ATTEMPT_DAYS}")
    history_cutoff = now - dt.timedelta(days=job_history_days)
    login_cutoff = now - dt.timedelta(days=login_attempt_days)
    # A run still "running" is either live or awaits the takeover that closes it: never pruned.
    job_runs = session.execute(
        delete(JobRun).where(JobRun.started_at < history_cutoff, JobRun.outcome != JobRunOutcome.RUNNING),
        execution_options={"synchronize_session": False},
    ).rowcount  # type: ignore[attr-defined]
    queue_jobs = session.execute(
        delete(Job).where(Job.state.in_((JobState.DONE, JobState.FAILED)), Job.finished_at < history_cutoff),
        execution_options={"synchronize_session": False},
    ).rowcount  # type: ignore[attr-defined]
    login_attempts = prune_login_attempts(session, now=now, keep=dt.timedelta(days=login_attempt_days))
    counts = {"job_runs": int(job_runs), "queue_jobs": int(queue_jobs), "login_attempts": int(login_attempts)}
    record_event(
        session,
        AuditTag.JOB_MAINTENANCE_PRUNE,
        actor=Actor.job("prune_history"),
        data={**counts, "history_before": history_cutoff.isoformat(), "logins_before": login_cutoff.isoformat()},
        at=now,
    )
    return counts
