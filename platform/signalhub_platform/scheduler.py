"""The one list of periodic jobs, and the APScheduler process that runs them.

Job functions are plain ``(session, *, now)`` functions in each area's ``jobs.py``; only this
module lists them. Production runs ``signalhub scheduler`` as a single process; the embedded
mode may run it inside the web process. Never once per gunicorn worker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy.orm import Session

from signalhub_config import KeyMaterial, Settings

JobFunction = Callable[..., object]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    function: JobFunction
    cron: dict[str, str]  # APScheduler CronTrigger fields, Asia/Shanghai time


def periodic_jobs(keys: KeyMaterial, settings: Settings | None = None) -> list[PeriodicJob]:
    """Every periodic job of the platform: the one list."""
    from signalhub_audit.jobs import make_audit_checkpoint
    from signalhub_ingest.jobs import recover_batches
    from signalhub_warnings.jobs import evaluate_all
    from signalhub_warnings.rules import Thresholds

    settings = settings or Settings.from_env()
    return [
        PeriodicJob(
            "audit_checkpoint", partial(make_audit_checkpoint, signing_key=keys.signing_key), {"minute": "*/30"}
        ),
        PeriodicJob("recover_batches", recover_batches, {"minute": "*/5"}),
        # Records age out of the window with no commit to trigger it: a full run every night.
        PeriodicJob(
            "evaluate_warnings",
            partial(
                evaluate_all, thresholds=Thresholds.from_settings(settings), acknowledge_days=settings.acknowledge_days
            ),
            {"hour": "1", "minute": "30"},
        ),
    ]


def run_job(job: PeriodicJob, session: Session, now: dt.datetime) -> object:
    return job.function(session, now=now)
