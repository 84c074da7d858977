"""The one visibility rule for supervision records.

Every read of records — pages, API, exports, CLI, statistics — starts from
``visible_records(actor)`` or filters with ``record_visible_to(actor)``; nothing else decides.

- the owner agency sees every version of its own records;
- other member agencies and the platform office see ``shared`` and ``public`` records;
- the CLI operator and jobs (``is_system``) see what the platform office sees;
- the public sees ``public`` records only.

A record the viewer may not see is treated exactly like a missing one.

Entities and persons follow from it. An entity from the business registry, and a person holding a
role at one, are public facts shown to every signed-in user; one created from an agency's records
says that some agency holds a record on it (perhaps a private one), so only a viewer who may see
one of its current records may know of it (``entity_visible_to``, ``person_visible_to``). To anyone
else it is exactly a missing one.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, exists, false, or_, select
from sqlalchemy.orm import aliased

from signalhub_platform.models.actors import Actor
from signalhub_platform.models.records import Openness, Record
from signalhub_platform.models.registry import Entity, EntityPersonRole, Person

OPEN_TO_MEMBERS = (Openness.SHARED, Openness.PUBLIC)


def record_visible_to(actor: Actor, record: type[Record] = Record) -> ColumnElement[bool]:
    """SQL condition: may ``actor`` see this record version (``record`` may be an alias)?"""
    if actor.is_public:
        return record.openness == Openness.PUBLIC
    if actor.agency_id is not None:
        return or_(record.agency_id == actor.agency_id, record.openness.in_(OPEN_TO_MEMBERS))
    if actor.is_platform_office or actor.is_system:
        return record.openness.in_(OPEN_TO_MEMBERS)
    return false()


def visible_records(actor: Actor, *, current_only: bool = True) -> Select[tuple[Record]]:
    """Records ``actor`` may see; by default only current versions.

    With history, an old version is visible only while the record's current version is too:
    when the owner reclassifies a record as private, its earlier shared versions disappear from
    other agencies' view as well (the owner's latest decision on openness wins).
    """
    query = select(Record).where(record_visible_to(actor))
    if current_only:
        return query.where(Record.is_current)
    current = aliased(Record)
    return query.where(
        exists().where(
            current.agency_id == Record.agency_id,
            current.source_ref == Record.source_ref,
            current.is_current,
            record_visible_to(actor, current),  # type: ignore[arg-type]
        )
    )


def entity_visible_to(actor: Actor) -> ColumnElement[bool]:
    """SQL condition: may ``actor`` know that this entity exists (registry, or a record it may see)?"""
    return or_(
        Entity.is_in_registry,
        exists().where(Record.entity_id == Entity.id, Record.is_current, record_visible_to(actor)),
    )


def person_visible_to(actor: Actor) -> ColumnElement[bool]:
    """SQL condition: may ``actor`` know of this person? Persons from the registry (a role at an
    entity) yes; a person first seen in an agency's records only if the actor may see such a record."""
    return or_(
        exists().where(EntityPersonRole.person_id == Person.id),
        exists().where(Record.person_id == Person.id, Record.is_current, record_visible_to(actor)),
    )


def can_manage_record(actor: Actor, record: Record) -> bool:
    """Only the owner agency corrects or withdraws its records."""
    return actor.agency_id is not None and record.agency_id == actor.agency_id
