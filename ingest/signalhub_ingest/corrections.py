"""Corrections and withdrawals (痕迹化管理): a new version each time, never an edit in place.

Only the owner agency may change its records. A record the actor cannot see is reported as
missing; one it can see but does not own is forbidden; changing a superseded version is a
conflict (the caller must correct the current one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_ingest.errors import ConflictError, ForbiddenError, IngestError, NotFoundError
from signalhub_ingest.services import enqueue_evaluation
from signalhub_ingest.staging import content_sha256
from signalhub_platform.models import Actor, Entity, Person, Record, RecordKind, RecordStatus
from signalhub_platform.models.visibility import can_manage_record, visible_records

CORRECTABLE_FIELDS = ("kind", "risk_level", "openness", "category", "description", "occurred_on", "department_id")


RecordChangeError = IngestError


class RecordNotFound(NotFoundError):
    pass


class NotRecordOwner(ForbiddenError):
    pass


class StaleVersion(ConflictError):
    pass


def correct_record(
    session: Session, actor: Actor, record_id: int, changes: Mapping[str, Any], *, reason: str, tag: AuditTag
) -> Record:
    """Write a corrected version of the record; returns the new current version."""
    current = _owned_current_version(session, actor, record_id, tag)
    values = {name: getattr(current, name) for name in CORRECTABLE_FIELDS}
    values.update({name: value for name, value in changes.items() if name in CORRECTABLE_FIELDS})
    if values["kind"] == RecordKind.PENALTY:
        values["risk_level"] = None
    elif values["risk_level"] is None:
        raise RecordChangeError("a risk record needs a risk level")
    new = _new_version(session, actor, current, values, reason=reason, status=current.status)
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("record", current.id), ("record", new.id)],
        data={
            "action": "correct",
            "reason": reason[:500],
            "fields": sorted(k for k in changes if k in CORRECTABLE_FIELDS),
        },
    )
    return new


def withdraw_record(session: Session, actor: Actor, record_id: int, *, reason: str, tag: AuditTag) -> Record:
    """Withdraw the record: a new version in state ``withdrawn``, the history kept."""
    current = _owned_current_version(session, actor, record_id, tag)
    if current.status == RecordStatus.WITHDRAWN:
        raise StaleVersion("the record is already withdrawn")
    values = {name: getattr(current, name) for name in CORRECTABLE_FIELDS}
    new = _new_version(session, actor, current, values, reason=reason, status=RecordStatus.WITHDRAWN)
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("record", current.id), ("record", new.id)],
        data={"action": "withdraw", "reason": reason[:500]},
    )
    return new


def _owned_current_version(session: Session, actor: Actor, record_id: int, tag: AuditTag) -> Record:
    record = session.scalars(visible_records(actor, current_only=False).where(Record.id == record_id)).first()
    if record is None:
        record_event(session, tag, actor=actor, subjects=[("record", record_id)], data={"denied": "not found"})
        raise RecordNotFound("record not found")
    if not can_manage_record(actor, record):
        record_event(session, tag, actor=actor, subjects=[("record", record_id)], data={"denied": "not owner"})
        raise NotRecordOwner("only the owner agency may change this record")
    if not record.is_current:
        raise StaleVersion("this version has been superseded; change the current version")
    return record


def _new_version(
    session: Session, actor: Actor, current: Record, values: dict[str, Any], *, reason: str, status: RecordStatus
) -> Record:
    if not reason.strip():
        raise RecordChangeError("a reason is required")
    # Retire the old version first: the partial unique index allows one current version.
    current.is_current = False
    session.flush()
    new = Record(
        **values,
        agency_id=current.agency_id,
        entity_id=current.entity_id,
        person_id=current.person_id,
        source_ref=current.source_ref,
        version=current.version + 1,
        supersedes_id=current.id,
        is_current=True,
        status=status,
        change_reason=reason.strip()[:500],
        source=current.source,
        batch_id=None,
        created_by_id=actor.user_id,
    )
    new.content_sha256 = _content_of(session, new)
    session.add(new)
    session.flush()
    # Both versions: the new one's hits replace the old one's (same subject, other date or class).
    enqueue_evaluation(session, {"record_ids": [current.id, new.id]})
    return new


def _content_of(session: Session, record: Record) -> str:
    """The same content hash a batch row gets (staging.content_sha256), so that re-uploading an
    older file with the pre-correction values versions the record again, and the corrected or
    withdrawn values are what an unchanged re-upload leaves alone."""
    uscc = session.scalar(select(Entity.uscc).where(Entity.id == record.entity_id)) if record.entity_id else None
    bidx = (
        session.scalar(select(Person.id_blind_index).where(Person.id == record.person_id)) if record.person_id else None
    )
    return content_sha256(
        record.department_id, record.kind, record.risk_level, record.openness, uscc, bidx, record.category,
        record.description, record.occurred_on.isoformat(),
    )  # fmt: skip
