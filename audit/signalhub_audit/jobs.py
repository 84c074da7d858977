"""Periodic audit jobs: plain ``(session, *, now)`` functions that flush; the scheduler commits."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from signalhub_audit.integrity import create_checkpoint
from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_platform.models import Actor, AuditCheckpoint


def make_audit_checkpoint(session: Session, *, now: dt.datetime, signing_key: bytes | None = None) -> AuditCheckpoint:
    """Sign the current head of the audit log and store the checkpoint (audited as a job event).

    The scheduler calls jobs as ``(session, now=...)`` only, so without ``signing_key`` the key
    comes from the environment, exactly as the scheduler process itself is configured.
    """
    if signing_key is None:
        signing_key = Settings.from_env().load_keys().signing_key
    return create_checkpoint(
        session, signing_key, actor=Actor.job("audit_checkpoint"), tag=AuditTag.JOB_AUDIT_CHECKPOINT, now=now
    )
