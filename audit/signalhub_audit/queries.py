"""Read side of the audit log: filtered listings for the audit viewer ("who read what, when")."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.services import Subject
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import AuditEvent, AuditSubject


def list_events(
    session: Session,
    *,
    actor: str | None = None,
    agency_code: str | None = None,
    tag: AuditTag | None = None,
    subject: Subject | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Newest first; ``since`` inclusive, ``until`` exclusive.

    Pages by ``before_seq`` (the last seq of the previous page) rather than OFFSET, so a deep
    page of a large log costs the same as the first.
    """
    query = select(AuditEvent)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if agency_code is not None:
        query = query.where(AuditEvent.agency_code == agency_code)
    if tag is not None:
        query = query.where(AuditEvent.tag == AuditTag(tag).value)
    if subject is not None:
        kind, ref = subject
        touched = select(AuditSubject.seq).where(AuditSubject.kind == kind, AuditSubject.ref == str(ref))
        query = query.where(AuditEvent.seq.in_(touched))
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    return list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit)))
