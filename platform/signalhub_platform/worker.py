"""The background work queue: enqueue, claim, run, heartbeat, retry.

Jobs are rows in ``jobs``. A worker claims the oldest due job atomically — PostgreSQL with
``FOR UPDATE SKIP LOCKED`` (several workers never block on or take the same row), SQLite with a
single UPDATE under the database write lock — runs its handler outside that transaction, and
records the outcome. A running job whose heartbeat is older than ``STALE_AFTER`` belonged to a
worker that died; it is queued again (up to ``MAX_ATTEMPTS``).

In the embedded single-process mode a worker thread runs inside the web process; in production
``signalhub worker`` processes run beside the web workers.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import is_postgresql, transaction
from signalhub_platform.models import Job, JobState
from signalhub_platform.models.types import utcnow
from signalhub_platform.scheduler import describe_error

log = logging.getLogger(__name__)

# Longer than any single statement a job runs between heartbeats (a million-row merge takes ~30 s).
STALE_AFTER = dt.timedelta(minutes=15)
HEARTBEAT_EVERY = dt.timedelta(seconds=20)
MAX_ATTEMPTS = 3

Handler = Callable[[sessionmaker[Session], Mapping[str, Any], Callable[[], None]], object]


def queue_handlers(settings: Settings, cipher: PersonalDataCipher) -> dict[str, Handler]:
    """Every kind of queued job and its handler: the one map ``signalhub worker`` and ``serve`` run."""
    from signalhub_ingest.jobs import queue_handlers as ingest_handlers
    from signalhub_warnings.jobs import queue_handlers as warnings_handlers
    from signalhub_warnings.rules import Thresholds

    return {
        **ingest_handlers(
            cipher=cipher, instance_dir=settings.instance_dir, bulk_cache_mb=settings.sqlite_bulk_cache_mb
        ),
        **warnings_handlers(thresholds=Thresholds.from_settings(settings), acknowledge_days=settings.acknowledge_days),
    }


def enqueue(session: Session, kind: str, payload: Mapping[str, Any], *, now: dt.datetime | None = None) -> Job:
    job = Job(kind=kind, payload=dict(payload), run_after=now or utcnow())
    session.add(job)
    session.flush()
    return job


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def claim_next(session: Session, name: str, *, now: dt.datetime, kinds: frozenset[str] | None = None) -> Job | None:
    """Take one due job for this worker, or None. Caller commits at once to publish the claim."""
    _requeue_stale(session, now=now)
    query = select(Job).where(Job.state == JobState.QUEUED, Job.run_after <= now).order_by(Job.id).limit(1)
    if kinds:
        query = query.where(Job.kind.in_(kinds))
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    job = session.scalars(query).first()
    if job is None:
        return None
    job.state = JobState.RUNNING
    job.claimed_by = name
    job.claimed_at = job.heartbeat_at = now
    job.attempts += 1
    session.flush()
    return job


def _requeue_stale(session: Session, *, now: dt.datetime) -> None:
    stale = (Job.state == JobState.RUNNING) & (Job.heartbeat_at < now - STALE_AFTER)
    session.execute(update(Job).where(stale, Job.attempts < MAX_ATTEMPTS).values(state=JobState.QUEUED, claimed_by=""))
    session.execute(
        update(Job)
        .where(stale, Job.attempts >= MAX_ATTEMPTS)
        .values(state=JobState.FAILED, finished_at=now, error="worker died; attempts exhausted")
    )


def run_one(
    factory: sessionmaker[Session],
    handlers: Mapping[str, Handler],
    *,
    name: str | None = None,
    now: Callable[[], dt.datetime] = utcnow,
) -> Job | None:
    """Claim and run one job; returns it (finished or failed), or None when the queue is empty."""
    name = name or worker_name()
    with transaction(factory) as session:
        job = claim_next(session, name, now=now(), kinds=frozenset(handlers))
        if job is None:
            return None
        job_id, kind, payload = job.id, job.kind, dict(job.payload)

    last_beat = [now()]

    def heartbeat() -> None:
        """Handlers call this between chunks; it writes at most every HEARTBEAT_EVERY."""
        current = now()
        if current - last_beat[0] < HEARTBEAT_EVERY:
            return
        last_beat[0] = current
        with transaction(factory) as session:
            session.execute(update(Job).where(Job.id == job_id, Job.claimed_by == name).values(heartbeat_at=current))

    outcome: dict[str, object] = {"state": JobState.DONE}
    try:
        handlers[kind](factory, payload, heartbeat)
    except Exception as exc:  # the job failed; the worker lives on and records why
        log.exception("job %s (%s) failed", job_id, kind)
        # The scheduler's error text: a batch's failure may quote a row, so ID numbers are masked.
        outcome = {"state": JobState.FAILED, "error": describe_error(exc)}
    with transaction(factory) as session:
        session.execute(update(Job).where(Job.id == job_id).values(finished_at=now(), **outcome))
        return session.get(Job, job_id)


def run_until_empty(factory: sessionmaker[Session], handlers: Mapping[str, Handler], *, limit: int = 1000) -> int:
    """Run jobs until none is due (tests, the CLI); returns how many ran."""
    ran = 0
    while ran < limit and run_one(factory, handlers) is not None:
        ran += 1
    return ran


class WorkerThread(threading.Thread):
    """The embedded mode's in-process worker: polls the queue until stopped."""

    def __init__(self, factory: sessionmaker[Session], handlers: Mapping[str, Handler], poll_seconds: float = 1.0):
        super().__init__(name="signalhub-worker", daemon=True)
        self.factory = factory
        self.handlers = handlers
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()
        self.wake = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                if run_one(self.factory, self.handlers) is not None:
                    continue
            except Exception:  # keep the worker alive; the failure is logged and retried later
                log.exception("worker loop error")
            self.wake.wait(self.poll_seconds)
            self.wake.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
