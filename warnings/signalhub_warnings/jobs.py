"""The warnings' background work: the daily full evaluation and the incremental queue handler.

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

from signalhub_audit.tags import AuditTag
from signalhub_platform.db import is_postgresql, transaction
from signalhub_platform.models import Actor, Record
from signalhub_warnings.aggregation import Affected
from signalhub_warnings.rules import Thresholds
from signalhub_warnings.services import EvaluationResult, affected_by_records, evaluate_warnings

EVALUATE_WARNINGS = "evaluate_warnings"  # the Job kind; ingest writes the same literal
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
