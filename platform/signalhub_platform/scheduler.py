"""The one list of periodic jobs, and the APScheduler process that runs them.

Job functions are plain ``(session, *, now)`` functions in each area's ``jobs.py``; only this
module lists them. Production runs ``signalhub scheduler`` as a single process; the embedded
mode may run it inside the web process. Never once per gunicorn worker.

Only one scheduler is active, even if two are started: each holds or waits for the lease row in
``scheduler_leases``. The active one renews it every quarter of ``scheduler_lease_seconds``; a
standby tries at the same pace and takes the lease over once it has expired, with a
compare-and-set UPDATE that the database serialises (SQLite: one writer; PostgreSQL: the second
UPDATE re-checks its WHERE after the first commits). A job starts only after renewing the lease,
and every run is recorded in ``job_runs``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_config import KeyMaterial, Settings
from signalhub_platform.crypto import redact_id_numbers
from signalhub_platform.db import transaction
from signalhub_platform.models import Actor, JobRun, JobRunOutcome, SchedulerLease
from signalhub_platform.models.types import utcnow

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)

JobFunction = Callable[..., object]
Clock = Callable[[], dt.datetime]

TIMEZONE = "Asia/Shanghai"
LEASE_NAME = "scheduler"
ERROR_TEXT_LIMIT = 2000
# A run that starts more than this late (the process was busy or just took over) is skipped, not run late.
MISFIRE_GRACE_SECONDS = 300


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    function: JobFunction
    cron: dict[str, str]  # APScheduler CronTrigger fields, Asia/Shanghai time


def periodic_jobs(keys: KeyMaterial, settings: Settings | None = None) -> list[PeriodicJob]:
    """Every periodic job of the platform: the one list."""
    from signalhub_audit.jobs import make_audit_checkpoint
    from signalhub_ingest.jobs import recover_batches, remind_overdue_reports, rotate_keys
    from signalhub_ingest.reports import overdue_reports
    from signalhub_platform.crypto import PersonalDataCipher
    from signalhub_platform.maintenance import prune_history
    from signalhub_platform.reporting.jobs import build_collection_report_job
    from signalhub_warnings.jobs import evaluate_all, remind_overdue_acknowledgements
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
        # Before the working day: yesterday's missed acknowledgement dates and report due dates.
        PeriodicJob(
            "remind_overdue_acknowledgements",
            partial(remind_overdue_acknowledgements, locale=settings.default_locale),
            {"hour": "8", "minute": "30"},
        ),
        PeriodicJob(
            "remind_overdue_reports",
            partial(remind_overdue_reports, locale=settings.default_locale),
            {"hour": "8", "minute": "40"},
        ),
        PeriodicJob(
            "prune_history",
            partial(
                prune_history,
                job_history_days=settings.job_history_days,
                login_attempt_days=settings.login_attempt_days,
            ),
            {"hour": "3", "minute": "30"},
        ),
        # Does nothing until `signalhub keys rotate --request`; then a slice per run until done.
        PeriodicJob(
            "rotate_keys",
            partial(
                rotate_keys,
                cipher=PersonalDataCipher(keys),
                batch_size=settings.key_rotation_batch_size,
                rows_per_run=settings.key_rotation_rows_per_run,
            ),
            {"minute": "2-59/5"},
        ),
        # The quarterly collection report (每季度通报) of the quarter just ended; the overdue text
        # reports come from ingest, which the reporting package may not import (sibling layers).
        PeriodicJob(
            "build_collection_report",
            partial(build_collection_report_job, overdue=overdue_reports),
            {"month": "1,4,7,10", "day": "1", "hour": "2", "minute": "0"},
        ),
    ]


def run_job(job: PeriodicJob, session: Session, now: dt.datetime) -> object:
    return job.function(session, now=now)


# --- the lease: one active scheduler ------------------------------------------------------------


@dataclass(frozen=True)
class LeaseResult:
    is_held: bool
    is_new: bool = False  # this call took the lease (first ever, or over from an expired holder)
    previous_holder: str = ""


@dataclass(frozen=True)
class LeaseStatus:
    holder: str
    acquired_at: dt.datetime
    heartbeat_at: dt.datetime
    expires_at: dt.datetime
    is_fresh: bool  # the holder renewed the lease recently enough that it is still valid


def acquire_lease(
    session: Session, *, holder: str, now: dt.datetime, ttl: dt.timedelta, name: str = LEASE_NAME
) -> LeaseResult:
    """Renew our lease, or take it if nobody holds it or its holder stopped renewing. Flushes only.

    A takeover is audited, and the previous holder's runs still marked running end as errors:
    their process stopped renewing, so nobody will ever finish them.
    """
    row = session.execute(
        select(SchedulerLease.holder, SchedulerLease.expires_at).where(SchedulerLease.name == name)
    ).first()
    if row is None:
        try:
            with session.begin_nested():
                lease = SchedulerLease(
                    name=name, holder=holder, acquired_at=now, heartbeat_at=now, expires_at=now + ttl
                )
                session.add(lease)
        except IntegrityError:  # another scheduler inserted the row first: it holds the lease
            return LeaseResult(is_held=False)
        _audit_acquired(session, holder=holder, previous="", now=now)
        return LeaseResult(is_held=True, is_new=True)

    is_ours = row.holder == holder
    if not is_ours and row.expires_at > now:
        return LeaseResult(is_held=False)
    # Compare-and-set on what we read: if another scheduler changed the row meanwhile, nothing matches.
    condition = SchedulerLease.holder == row.holder
    if not is_ours:
        condition &= SchedulerLease.expires_at <= now
    values: dict[str, object] = {"holder": holder, "heartbeat_at": now, "expires_at": now + ttl}
    if not is_ours:
        values["acquired_at"] = now
    result = session.execute(
        update(SchedulerLease).where(SchedulerLease.name == name, condition).values(**values),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return LeaseResult(is_held=False)
    if is_ours:
        return LeaseResult(is_held=True)
    session.execute(
        update(JobRun)
        .where(JobRun.holder == row.holder, JobRun.outcome == JobRunOutcome.RUNNING)
        .values(
            outcome=JobRunOutcome.ERROR,
            finished_at=now,
            error=f"abandoned: scheduler {row.holder} stopped renewing its lease while this ran",
        ),
        execution_options={"synchronize_session": False},
    )
    _audit_acquired(session, holder=holder, previous=row.holder, now=now)
    return LeaseResult(is_held=True, is_new=True, previous_holder=row.holder)


def _audit_acquired(session: Session, *, holder: str, previous: str, now: dt.datetime) -> None:
    data = {"holder": holder, "previous": previous}
    record_event(session, AuditTag.JOB_SCHEDULER_LEASE, actor=Actor.job("scheduler"), data=data, at=now)


def release_lease(session: Session, *, holder: str, now: dt.datetime, name: str = LEASE_NAME) -> bool:
    """A clean stop: expire our lease now so a standby takes over at its next heartbeat."""
    result = session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
        .values(expires_at=now),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def lease_status(session: Session, *, now: dt.datetime, name: str = LEASE_NAME) -> LeaseStatus | None:
    """Who holds the lease and whether it is live; None when no scheduler ever ran."""
    lease = session.get(SchedulerLease, name)
    if lease is None:
        return None
    return LeaseStatus(
        holder=lease.holder,
        acquired_at=lease.acquired_at,
        heartbeat_at=lease.heartbeat_at,
        expires_at=lease.expires_at,
        is_fresh=lease.expires_at > now,
    )


# --- job runs -----------------------------------------------------------------------------------


def run_recorded(
    factory: sessionmaker[Session], job: PeriodicJob, *, holder: str, now: dt.datetime, clock: Clock = utcnow
) -> JobRun:
    """Run one job in its own transaction, recorded in ``job_runs`` before and after.

    A failing job is rolled back and recorded with its error; the exception does not propagate,
    so the scheduler keeps going.
    """
    with transaction(factory) as session:
        run = JobRun(job_name=job.name, holder=holder, started_at=now, outcome=JobRunOutcome.RUNNING, error="")
        session.add(run)
        session.flush()
        run_id = run.id
    outcome, error = JobRunOutcome.OK, ""
    try:
        with transaction(factory) as session:
            job.function(session, now=now)
    except Exception as exc:  # recorded below; one failing job must not stop the others
        log.exception("periodic job %s failed", job.name)
        outcome, error = JobRunOutcome.ERROR, describe_error(exc)
    with transaction(factory) as session:
        session.execute(
            update(JobRun).where(JobRun.id == run_id).values(finished_at=clock(), outcome=outcome, error=error),
            execution_options={"synchronize_session": False},
        )
        finished = session.get(JobRun, run_id)
        assert finished is not None
        return finished


def describe_error(exc: BaseException) -> str:
    """The error text kept with a run: type, message and the innermost frames, without ID numbers."""
    head = f"{type(exc).__name__}: {exc}"[: ERROR_TEXT_LIMIT // 2]
    tail = traceback.format_exc(limit=-5)[-(ERROR_TEXT_LIMIT // 2) :]
    return redact_id_numbers(f"{head}\n{tail}")[:ERROR_TEXT_LIMIT]


def recent_job_runs(session: Session, *, limit: int = 100) -> Sequence[JobRun]:
    return session.scalars(select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit)).all()


def list_job_runs(
    session: Session, actor: Actor, *, now: dt.datetime, limit: int = 100
) -> tuple[Sequence[JobRun], LeaseStatus | None]:
    """The platform office's view: recent runs and the active scheduler (audited)."""
    runs = recent_job_runs(session, limit=limit)
    record_event(session, AuditTag.WEB_JOB_RUN_LIST, actor=actor, data={"shown": len(runs)}, at=now)
    return runs, lease_status(session, now=now)


# --- the process --------------------------------------------------------------------------------


def scheduler_holder() -> str:
    """Names this process in the lease and the runs; the suffix tells a restarted process apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class SchedulerHost:
    """Runs the job list with APScheduler while this process holds the lease.

    Every process schedules every job; only the lease holder runs them, the others skip. A
    heartbeat thread (not an APScheduler job, so it keeps beating through a long job and through
    a graceful shutdown) renews the lease or, on a standby, tries to take it.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        jobs: Sequence[PeriodicJob],
        *,
        holder: str | None = None,
        lease_seconds: float = 60,
        clock: Clock = utcnow,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("scheduler_lease_seconds must be positive")
        self.factory = factory
        self.jobs = list(jobs)
        self.holder = holder or scheduler_holder()
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.heartbeat_seconds = max(lease_seconds / 4, 0.05)
        self.clock = clock
        self.is_active = False
        self._stopping = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._scheduler: BaseScheduler | None = None

    def beat(self) -> bool:
        """Renew or try to take the lease; True while this process is the active scheduler."""
        try:
            with transaction(self.factory) as session:
                result = acquire_lease(session, holder=self.holder, now=self.clock(), ttl=self.lease)
        except SQLAlchemyError:  # the database is away: whoever holds the lease cannot renew it either
            log.exception("scheduler heartbeat failed")
            result = LeaseResult(is_held=False)
        if result.is_new:
            log.info("scheduler %s is active (lease taken from %r)", self.holder, result.previous_holder or None)
        elif self.is_active and not result.is_held:
            log.warning("scheduler %s lost its lease; standing by", self.holder)
        self.is_active = result.is_held
        return result.is_held

    def run_scheduled(self, job: PeriodicJob) -> JobRun | None:
        """What APScheduler calls: run and record the job if we hold the lease, else skip it."""
        if not self.beat():
            log.debug("standby scheduler %s skips %s", self.holder, job.name)
            return None
        return run_recorded(self.factory, job, holder=self.holder, now=self.clock(), clock=self.clock)

    def release(self) -> None:
        if not self.is_active:
            return
        try:
            with transaction(self.factory) as session:
                release_lease(session, holder=self.holder, now=self.clock())
        except SQLAlchemyError:  # it expires on its own
            log.exception("could not release the scheduler lease")
        self.is_active = False

    # -- APScheduler ------------------------------------------------------------------------

    def configure(self, scheduler: BaseScheduler) -> BaseScheduler:
        from apscheduler.triggers.cron import CronTrigger

        for job in self.jobs:
            scheduler.add_job(
                self.run_scheduled,
                CronTrigger(timezone=TIMEZONE, **job.cron),
                args=[job],
                id=job.name,
                name=job.name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=MISFIRE_GRACE_SECONDS,
            )
        return scheduler

    def run_forever(self) -> None:
        """``signalhub scheduler``: blocks until ``shutdown()`` (from a signal handler)."""
        from apscheduler.schedulers.blocking import BlockingScheduler

        self._scheduler = self.configure(BlockingScheduler(timezone=TIMEZONE))
        self._start_heartbeat()
        try:
            self._scheduler.start()
        finally:
            self._stop_heartbeat()
            self.release()

    def start_background(self) -> None:
        """The embedded mode: jobs run in threads of the web process, under the same lease."""
        from apscheduler.schedulers.background import BackgroundScheduler

        self._scheduler = self.configure(BackgroundScheduler(timezone=TIMEZONE, daemon=True))
        self._start_heartbeat()
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop scheduling, let a running job finish (still heartbeating), then give the lease up."""
        from apscheduler.schedulers.base import STATE_STOPPED

        if self._scheduler is not None and self._scheduler.state != STATE_STOPPED:
            self._scheduler.shutdown(wait=True)
        self._stop_heartbeat()
        self.release()

    def _start_heartbeat(self) -> None:
        self._stopping.clear()
        self.beat()
        self._heartbeat = threading.Thread(target=self._heartbeat_loop, name="signalhub-scheduler-lease", daemon=True)
        self._heartbeat.start()

    def _heartbeat_loop(self) -> None:
        while not self._stopping.wait(self.heartbeat_seconds):
            self.beat()

    def _stop_heartbeat(self) -> None:
        self._stopping.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join()
        self._heartbeat = None


def start_embedded_scheduler(
    factory: sessionmaker[Session], keys: KeyMaterial, settings: Settings
) -> SchedulerHost | None:
    """For ``signalhub serve``: the scheduler in-process, unless the settings turn it off."""
    if not settings.embedded_scheduler:
        return None
    host = SchedulerHost(factory, periodic_jobs(keys, settings), lease_seconds=settings.scheduler_lease_seconds)
    host.start_background()
    return host
