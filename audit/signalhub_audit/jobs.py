"""Periodic audit jobs: plain ``(session, *, now)`` functions that flush; the scheduler commits."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from signalhub_audit.integrity import create_checkpoint
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import Actor, AuditCheckpoint


def make_audit_checkpoint(session: Session, *, now: dt.datetime, signing_key: bytes) -> AuditCheckpoint:
    """Sign the current head of the audit log and store the checkpoint (audited as a job event).

    The scheduler binds ``signing_key`` from the instance's keys when it lists the job.
    """
    return create_checkpoint(
        session, signing_key, actor=Actor.job("audit_checkpoint"), tag=AuditTag.JOB_AUDIT_CHECKPOINT, now=now
    )
