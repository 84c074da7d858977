"""Ingest's background work: queue handlers for validation and commit, and its periodic jobs
(batch recovery, overdue text report reminders, key rotation on request).

Periodic jobs are plain ``(session, *, now)`` functions; queue handlers take the session factory
(they run several transactions), the job's payload and a heartbeat to call between chunks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_ingest import personal_data, reports, services
from signalhub_platform import notices
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import transaction
from signalhub_platform.models import Actor, Job, JobState, Message, ReportKind, User
from signalhub_platform.models.types import beijing_today

VALIDATE_BATCH = "validate_batch"
COMMIT_BATCH = "commit_batch"
# A requested key rotation: a ``Job`` row no worker claims (no queue handler has this kind); the
# scheduler's ``rotate_keys`` carries it out a bounded slice per run and marks it done.
ROTATE_KEYS = "rotate_keys"
# ``Message.about_type`` of the platform's overdue-report reminders; ``about_ref`` names the report.
REPORT_NOTICE = "text_report"

QueueHandler = Callable[[sessionmaker[Session], Mapping[str, Any], Callable[[], None]], object]


def recover_batches(session: Session, *, now: dt.datetime) -> list[int]:
    """Periodic and at start-up: batches whose committer died go back to their validated state."""
    return services.recover_stuck_batches(session, actor=Actor.job("recover_batches"), now=now)


def remind_overdue_reports(session: Session, *, now: dt.datetime, locale: str) -> int:
    """Daily: an inbox message to each agency for every text report of its that is past due.

    Once per report: a report already reminded of is never reminded of again, however long it
    stays overdue (the overdue list and the agency's reports page keep showing it). Returns how
    many messages were sent.
    """
    today = beijing_today(now)
    listing = [entry for entry in reports.overdue_reports(session, today=today) if entry.items]
    reminded = set(
        session.execute(
            select(Message.recipient_agency_id, Message.about_ref).where(
                Message.about_type == REPORT_NOTICE, Message.sender_user_id.is_(None)
            )
        ).all()
    )
    word = notices.translator(locale)
    messages = []
    for entry in listing:
        for item in entry.items:
            ref = overdue_report_ref(item)
            if (entry.agency.id, ref) in reminded:
                continue
            if item.kind == ReportKind.ANNUAL_RISK:
                name = word(notices.ANNUAL_REPORT, year=item.year)
            else:
                name = word(notices.SPECIAL_REPORT, campaign=item.campaign_name)
            messages.append(
                Message(
                    recipient_agency_id=entry.agency.id,
                    title=word(notices.REPORT_OVERDUE_TITLE, report=name)[:200],
                    body=word(notices.REPORT_OVERDUE_BODY, report=name, due_on=notices.day(item.due_on)),
                    about_type=REPORT_NOTICE,
                    about_ref=ref,
                    created_at=now,
                )
            )
    session.add_all(messages)
    session.flush()
    record_event(
        session,
        AuditTag.JOB_REPORT_OVERDUE,
        actor=Actor.job("remind_overdue_reports"),
        subjects=[("message", message.id) for message in messages],
        data={
            "as_of": today.isoformat(),
            "overdue": sum(len(entry.items) for entry in listing),
            "agencies": sorted({entry.agency.code for entry in listing}),
            "reminded": len(messages),
        },
        at=now,
    )
    return len(messages)


def overdue_report_ref(item: reports.ReportStatus) -> str:
    """What a reminder is about: an annual report by its year (it may have no row), a special one by its row."""
    if item.kind == ReportKind.ANNUAL_RISK:
        return f"{item.kind.value}:{item.year}"
    assert item.report is not None  # a special report exists as a row from its declaration
    return f"{item.kind.value}:{item.report.id}"


# --- key rotation on request -----------------------------------------------------------------


class KeyRotationError(RuntimeError):
    """A requested rotation cannot proceed in this process (recorded as the run's error)."""


def request_key_rotation(session: Session, cipher: PersonalDataCipher, *, actor: Actor, now: dt.datetime) -> Job:
    """Ask the scheduler to move every ID number to ``cipher``'s primary key (audited; flushes).

    ``cipher`` is the requesting process's ring: its primary is the key the rotation targets, and
    the scheduler refuses to rotate unless its own primary is the same (it was restarted on the
    new ring). An open request for the same key is returned instead of adding another.
    """
    target = cipher.primary_key_id
    open_requests = session.scalars(
        select(Job).where(Job.kind == ROTATE_KEYS, Job.state == JobState.QUEUED).order_by(Job.id)
    ).all()
    for job in open_requests:
        if job.payload.get("to_key_id") == target:
            return job
    job = Job(kind=ROTATE_KEYS, payload={"to_key_id": target, "requested_by": actor.name}, run_after=now)
    session.add(job)
    session.flush()
    record_event(
        session,
        AuditTag.CLI_KEYS_ROTATE,
        actor=actor,
        subjects=[("job", job.id)],
        data={"action": "request", "to_key_id": target, "pending": personal_data.key_usage(session).pending(target)},
        at=now,
    )
    return job


def rotate_keys(
    session: Session, *, now: dt.datetime, cipher: PersonalDataCipher, batch_size: int, rows_per_run: int
) -> int:
    """Every few minutes: carry out the newest rotation request, at most ``rows_per_run`` ID numbers a run.

    Nothing to do without an open request. A newer request supersedes older ones. The request is
    marked done (and audited) once no person and no staged batch row is under another key; until
    then each run re-encrypts the next slice, one audit event per batch. Returns how many ID
    numbers this run re-encrypted.
    """
    requests = session.scalars(
        select(Job).where(Job.kind == ROTATE_KEYS, Job.state == JobState.QUEUED).order_by(Job.id)
    ).all()
    if not requests:
        return 0
    *older, request = requests
    for job in older:
        job.state, job.finished_at, job.error = JobState.DONE, now, f"superseded by request {request.id}"
    target = str(request.payload.get("to_key_id", ""))
    if target != cipher.primary_key_id:
        raise KeyRotationError(
            f"rotation to key {target!r} was requested, but this scheduler encrypts with {cipher.primary_key_id!r}: "
            "restart the scheduler on the current key ring"
        )
    actor = Actor.job(ROTATE_KEYS)
    count = personal_data.rotate_personal_data(
        session, cipher, actor=actor, batch_size=batch_size, max_rows=rows_per_run, tag=AuditTag.JOB_KEYS_ROTATE
    )
    if count < rows_per_run:
        count += personal_data.rotate_staged_id_numbers(
            session,
            cipher,
            actor=actor,
            batch_size=batch_size,
            max_rows=rows_per_run - count,
            tag=AuditTag.JOB_KEYS_ROTATE,
        )
    done_so_far = int(request.payload.get("rotated", 0)) + count
    request.payload = {**request.payload, "rotated": done_so_far}
    if personal_data.key_usage(session).pending(target) == 0:
        request.state, request.finished_at = JobState.DONE, now
        record_event(
            session,
            AuditTag.JOB_KEYS_ROTATE,
            actor=actor,
            subjects=[("job", request.id)],
            data={"action": "done", "to_key_id": target, "rotated": done_so_far},
            at=now,
        )
    session.flush()
    return count


def queue_handlers(
    *,
    cipher: PersonalDataCipher,
    instance_dir: Path,
    today: Callable[[], dt.date] = beijing_today,
    bulk_cache_mb: int = 0,
) -> dict[str, QueueHandler]:
    def validate(factory: sessionmaker[Session], payload: Mapping[str, Any], heartbeat: Callable[[], None]) -> object:
        return services.validate_batch(
            factory,
            int(payload["batch_id"]),
            cipher=cipher,
            instance_dir=instance_dir,
            today=today(),
            actor=Actor.job(VALIDATE_BATCH),
            progress=lambda _phase, _rows: heartbeat(),
        )

    def commit(factory: sessionmaker[Session], payload: Mapping[str, Any], heartbeat: Callable[[], None]) -> object:
        actor = _requesting_actor(factory, payload)
        return services.commit_batch(
            factory,
            int(payload["batch_id"]),
            actor=actor,
            channel=str(payload.get("channel", "web")),
            accept_valid=bool(payload.get("accept_valid")),
            confirm_nonstandard=bool(payload.get("confirm_nonstandard")),
            bulk_cache_mb=bulk_cache_mb,
        )

    return {VALIDATE_BATCH: validate, COMMIT_BATCH: commit}


def _requesting_actor(factory: sessionmaker[Session], payload: Mapping[str, Any]) -> Actor:
    """The commit is the requesting user's act: the audit log names them, not the worker."""
    user_id = payload.get("user_id")
    if user_id is None:
        return Actor.job(COMMIT_BATCH)
    with transaction(factory) as session:
        user = session.get(User, int(user_id))
        if user is None or not user.is_active:
            raise services.BatchForbidden("the requesting user no longer exists or is disabled")
        return Actor.for_user(user, str(payload.get("client_ip", "")))
