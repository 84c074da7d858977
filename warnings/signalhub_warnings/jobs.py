"""The warnings' background work: the daily full evaluation, the daily acknowledgement (SLA) check
and the incremental queue handler.

Ingest may not import this package, so it asks for an evaluation by writing a ``Job`` row of kind
``evaluate_warnings`` in the same transaction as its commit (a batch, a form or API record, a
correction, a withdrawal): the evaluation then sees exactly the committed records, and a
rolled-back commit leaves no job behind. The worker runs ``evaluate_affected`` on it. The daily
``evaluate_all`` re-evaluates every subject, because records age out of the window with no
commit to say so.

Evaluations take one lock (PostgreSQL: a transaction-level advisory lock; SQLite: BEGIN
IMMEDIATE already serialises writers), so two of them never open the same warning twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform import notices
from signalhub_platform.db import is_postgresql, transaction
from signalhub_platform.models import Actor, Message, Record, RiskWarning, Role, User, UserRole
from signalhub_platform.models.types import beijing_today
from signalhub_warnings.aggregation import Affected
from signalhub_warnings.lifecycle import ACTIVE_STATUSES
from signalhub_warnings.rules import Thresholds
from signalhub_warnings.services import EvaluationResult, affected_by_records, evaluate_warnings

EVALUATE_WARNINGS = "evaluate_warnings"  # the Job kind; ingest writes the same literal
# Title of the platform's message about a missed acknowledgement date: "overdue:<level>".
OVERDUE_TITLE_PREFIX = "overdue:"
# Namespace of the advisory lock that serialises evaluations on PostgreSQL ("WARN").
_EVALUATION_LOCK = 0x5167_5741_524E

QueueHandler = Callable[[sessionmaker[Session], Mapping[str, Any], Callable[[], None]], object]


def lock_evaluation(session: Session) -> None:
    """Wait for any other evaluation to finish; held until the caller's transaction ends."""
    if is_postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVALUATION_LOCK})


def evaluate_all(
    session: Session, *, now: dt.datetime, thresholds: Thresholds, acknowledge_days: Mapping[str, int]
) -> EvaluationResult:
    """The daily full run (scheduled at 01:30 Beijing time): every subject, as of today."""
    lock_evaluation(session)
    return evaluate_warnings(
        session,
        thresholds=thresholds,
        acknowledge_days=dict(acknowledge_days),
        actor=Actor.job(EVALUATE_WARNINGS),
        tag=AuditTag.JOB_WARNINGS_EVALUATE,
        trigger="daily",
        now=now,
    )


def remind_overdue_acknowledgements(session: Session, *, now: dt.datetime, locale: str) -> int:
    """Daily: an inbox message for each warning nobody acknowledged by its date (the SLA).

    To the assignee; without one (or a disabled one), to the warning's agency; an unassigned red
    warning to the platform office's admins, who assign red warnings. Once per warning and level:
    an escalation sets a new date, and missing that one is worth another message; nothing else
    repeats one. Returns how many messages were sent.
    """
    today = beijing_today(now)
    overdue = session.execute(
        select(
            RiskWarning.id,
            RiskWarning.level,
            RiskWarning.scope_agency_id,
            RiskWarning.acknowledge_due_on,
            User.id.label("assignee_id"),
        )
        .outerjoin(User, (User.id == RiskWarning.assignee_id) & User.is_active)
        .where(
            RiskWarning.is_active,
            RiskWarning.status.in_(ACTIVE_STATUSES),
            RiskWarning.acknowledged_at.is_(None),
            RiskWarning.acknowledge_due_on < today,
        )
        .order_by(RiskWarning.id)
    ).all()
    reminded = set(
        session.execute(
            select(Message.about_ref, Message.title).where(
                Message.about_type == "warning",
                Message.sender_user_id.is_(None),
                Message.title.like(f"{OVERDUE_TITLE_PREFIX}%"),
            )
        ).all()
    )
    office_admins: list[int] | None = None
    word = notices.translator(locale)
    messages: list[Message] = []
    warning_ids: list[int] = []
    for row in overdue:
        title = f"{OVERDUE_TITLE_PREFIX}{row.level.value}"  # the inbox shows it as the level and "overdue"
        if (str(row.id), title) in reminded:
            continue
        if row.assignee_id is not None:
            recipients: list[dict[str, int]] = [{"recipient_user_id": row.assignee_id}]
        elif row.scope_agency_id is not None:
            recipients = [{"recipient_agency_id": row.scope_agency_id}]
        else:
            if office_admins is None:
                office_admins = list(
                    session.scalars(
                        select(User.id)
                        .join(UserRole, UserRole.user_id == User.id)
                        .where(UserRole.role == Role.PLATFORM_ADMIN, User.is_active, User.agency_id.is_(None))
                        .order_by(User.id)
                    )
                )
            recipients = [{"recipient_user_id": user_id} for user_id in office_admins]
        body = word(notices.ACKNOWLEDGEMENT_OVERDUE_BODY, due_on=notices.day(row.acknowledge_due_on))
        messages += [
            Message(title=title, body=body, about_type="warning", about_ref=str(row.id), created_at=now, **recipient)
            for recipient in recipients
        ]
        warning_ids.append(row.id)
    session.add_all(messages)
    session.flush()
    record_event(
        session,
        AuditTag.JOB_WARNINGS_SLA,
        actor=Actor.job("remind_overdue_acknowledgements"),
        subjects=[("warning", warning_id) for warning_id in warning_ids],
        data={
            "as_of": today.isoformat(),
            "overdue": len(overdue),
            "reminded": len(warning_ids),
            "messages": len(messages),
        },
        at=now,
    )
    return len(messages)


def affected_by_batch_and_history(batch_id: int) -> Affected:
    """A committed batch's record versions and the versions they retired: a re-upload that moves a
    record to another entity or person takes a hit away from the old subject, which must be
    re-evaluated too."""
    retired = select(Record.supersedes_id).where(Record.batch_id == batch_id, Record.supersedes_id.is_not(None))
    return Affected(select(Record.id).where(or_(Record.batch_id == batch_id, Record.id.in_(retired))))


def affected_by_payload(payload: Mapping[str, Any]) -> tuple[Affected, str]:
    """The subjects a job's payload names, and the run's trigger text."""
    if payload.get("batch_id") is not None:
        batch_id = int(payload["batch_id"])
        return affected_by_batch_and_history(batch_id), f"batch:{batch_id}"
    if payload.get("record_ids"):
        ids = sorted({int(i) for i in payload["record_ids"]})
        return affected_by_records(ids), "records:" + ",".join(map(str, ids))
    raise ValueError(f"an evaluation job needs batch_id or record_ids, not {sorted(payload)}")


def evaluate_affected(
    factory: sessionmaker[Session],
    payload: Mapping[str, Any],
    heartbeat: Callable[[], None],
    *,
    thresholds: Thresholds,
    acknowledge_days: Mapping[str, int],
) -> EvaluationResult:
    """Queue handler: re-evaluate only the subjects touched by a batch or by some record versions."""
    affected, trigger = affected_by_payload(payload)
    heartbeat()
    with transaction(factory) as session:
        lock_evaluation(session)
        return evaluate_warnings(
            session,
            thresholds=thresholds,
            acknowledge_days=dict(acknowledge_days),
            actor=Actor.job(EVALUATE_WARNINGS),
            tag=AuditTag.JOB_WARNINGS_EVALUATE,
            affected=affected,
            trigger=trigger,
        )


def queue_handlers(*, thresholds: Thresholds, acknowledge_days: Mapping[str, int]) -> dict[str, QueueHandler]:
    return {
        EVALUATE_WARNINGS: partial(evaluate_affected, thresholds=thresholds, acknowledge_days=dict(acknowledge_days))
    }
