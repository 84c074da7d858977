"""The one list of periodic jobs, and the APScheduler process that runs them.

Job functions are plain ``(session, *, now)`` functions in each area's ``jobs.py``; only this
module lists them. Production runs ``signalhub scheduler`` as a single process; the embedded
mode may run it inside the web process. Never once per gunicorn worker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

JobFunction = Callable[..., object]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    function: JobFunction
    cron: dict[str, str]  # APScheduler CronTrigger fields, Asia/Shanghai time


def periodic_jobs() -> list[PeriodicJob]:
    """Every periodic job of the platform."""
    from signalhub_audit.jobs import make_audit_checkpoint

    return [
        PeriodicJob("audit_checkpoint", make_audit_checkpoint, {"minute": "*/30"}),
    ]


def run_job(job: PeriodicJob, session: Session, now: dt.datetime) -> object:
    return job.function(session, now=now)
