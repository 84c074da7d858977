"""Declared conflicts of interest (回避): an inspector is never drawn for an entity they declared.

A declaration names the inspector by certificate number and the entity by USCC, with a reason;
declaring the same pair again only updates the reason. Declarations are audited and take effect
for draws created afterwards (a frozen draw keeps the recusals it froze).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import Actor, Entity, Inspector, InspectorConflict, Role
from signalhub_platform.models.visibility import entity_visible_to


class ConflictRefused(ValueError):
    """The declaration names an unknown inspector or entity, or the actor may not make it."""


def can_declare_conflict(actor: Actor, inspector: Inspector) -> bool:
    if actor.is_system:
        return True
    own_agency = actor.agency_id == inspector.agency_id
    return own_agency and bool({Role.COORDINATOR, Role.AGENCY_ADMIN} & actor.roles)


def declare_conflict(
    session: Session, certificate_no: str, uscc: str, reason: str, *, actor: Actor, source: str = "web"
) -> InspectorConflict:
    inspector = session.scalars(select(Inspector).where(Inspector.certificate_no == certificate_no.strip())).first()
    if inspector is None:
        raise ConflictRefused(f"no inspector with certificate number {certificate_no!r}")
    if not can_declare_conflict(actor, inspector):
        raise ConflictRefused("only the inspector's own agency (coordinator or admin) may declare a conflict")
    code = uscc.strip().upper()
    # An entity the actor may not know of answers exactly like an unknown code: otherwise the form
    # would tell whether another agency holds a private record on it.
    entity = session.scalars(select(Entity).where(Entity.uscc == code, entity_visible_to(actor))).first()
    if entity is None:
        raise ConflictRefused(f"no entity with the code {code!r}")
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise ConflictRefused("give a reason of at most 500 characters")
    conflict = session.scalars(
        select(InspectorConflict).where(
            InspectorConflict.inspector_id == inspector.id, InspectorConflict.entity_id == entity.id
        )
    ).first()
    if conflict is None:
        conflict = InspectorConflict(inspector_id=inspector.id, entity_id=entity.id)
        session.add(conflict)
    conflict.reason = reason
    session.flush()
    record_event(
        session,
        AuditTag(f"{source}:inspector:conflict"),
        actor=actor,
        subjects=[("inspector", inspector.certificate_no), ("entity", entity.uscc)],
        data={"reason": reason},
    )
    return conflict
