"""Audited reads of entities and records.

Every function here reads through ``visible_records`` and writes its audit event before
returning anything: if the event cannot be written the caller gets an exception, not data.

Entities from the business registry are public facts, shown to every signed-in user. An entity
that is not in the registry was created from an agency's records (``is_in_registry`` false): its
existence says that some agency holds a record on it, which may be private. It is shown only to a
viewer who may see at least one of its current records, and to anyone else it is exactly a
missing code (``entity_visible_to``, in ``models.visibility`` with the record rule).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Integer, Row, Select, String, bindparam, func, or_, select
from sqlalchemy.orm import Session, joinedload

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import PersonalDataCipher, redact_id_numbers
from signalhub_platform.identifiers.normalise import CheckStatus
from signalhub_platform.identifiers.resident_id import validate_id_number
from signalhub_platform.models import (
    Actor,
    Entity,
    EntityPersonRole,
    EntityStatus,
    EntityType,
    Person,
    Record,
    RecordStatus,
)
from signalhub_platform.models.statement_cache import per_actor
from signalhub_platform.models.visibility import entity_visible_to, person_visible_to, visible_records

SEARCH_LIMIT = 50


@dataclass(frozen=True)
class EntityProfile:
    entity: Entity
    roles: list[EntityPersonRole]
    records_by_agency: dict[str, list[Record]] = field(default_factory=dict)

    @property
    def record_count(self) -> int:
        return sum(len(records) for records in self.records_by_agency.values())


@dataclass(frozen=True)
class PersonHit:
    person: Person
    roles: list[EntityPersonRole]


@dataclass(frozen=True)
class RecordView:
    record: Record
    history: list[Record]  # every version the viewer may see, oldest first


def search_entities(
    session: Session, actor: Actor, query: str, *, tag: AuditTag, limit: int = SEARCH_LIMIT
) -> list[EntitySummary]:
    """Entities whose name contains ``query`` or whose code starts with it (registry data)."""
    text = query.strip()
    if not text:
        return []
    code = text.upper()
    like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # What ``startswith(code, autoescape=True)`` does to a literal, done here since the code is bound.
    prefix = code.replace("/", "//").replace("%", "/%").replace("_", "/_")
    values = {"code": code, "prefix": prefix, "like": like, "limit": limit}
    entities = list(session.execute(_entity_search(actor), values))
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("entity", entity.uscc) for entity in entities],
        data={"query": redact_id_numbers(text[:100]), "results": len(entities)},
    )
    return entities


# What a search shows of an entity: rows, not ORM objects (a search returns up to 50 of them).
EntitySummary = Row[tuple[str, str, EntityType, str, str, EntityStatus, bool]]


@per_actor
def _entity_search(actor: Actor) -> Select[tuple[str, str, EntityType, str, str, EntityStatus, bool]]:
    code = bindparam("code", type_=String())
    return (
        select(
            Entity.uscc, Entity.name, Entity.type, Entity.region, Entity.industry, Entity.status, Entity.is_in_registry
        )
        .where(
            or_(
                Entity.uscc == code,
                Entity.uscc.startswith(bindparam("prefix", type_=String()), escape="/"),
                Entity.name.like(bindparam("like", type_=String()), escape="\\"),
            ),
            entity_visible_to(actor),
        )
        .order_by(Entity.uscc != code, Entity.name)
        .limit(bindparam("limit", type_=Integer()))
    )


def search_persons(
    session: Session, actor: Actor, query: str, *, cipher: PersonalDataCipher, tag: AuditTag, limit: int = SEARCH_LIMIT
) -> list[PersonHit]:
    """Persons by exact name, or by ID number (agency users only) through the blind index.

    The audit event never holds the number: for an ID search it keeps the blind index under
    the searching agency's own scope, which cannot be joined with other agencies' trails.
    """
    text = query.strip()
    if not text:
        return []
    checked = validate_id_number(text)
    data: dict[str, object] = {}
    if checked.status == CheckStatus.VALID and checked.value:
        if actor.agency_id is None:
            # Audited like any refused read (the caller commits); no index: the platform scope's
            # would be the persons table's own, joinable with it.
            record_event(session, tag, actor=actor, data={"rejected": "ID number search is for agency users only"})
            raise PermissionError("ID number search is for member agency users only")
        condition = Person.id_blind_index == cipher.blind_index(checked.value)
        data["id_number_bidx"] = cipher.blind_index(checked.value, scope=actor.agency_code)
    elif any(char.isdigit() for char in text):
        # Digits that are not a valid ID number: search nothing rather than echo them anywhere.
        condition = None
        data["rejected"] = "not a valid ID number"
    else:
        condition = Person.name == text
        data["name"] = text[:50]
    persons = (
        []
        if condition is None
        else list(session.scalars(select(Person).where(condition, person_visible_to(actor)).limit(limit)))
    )
    roles = (
        list(
            session.scalars(
                select(EntityPersonRole)
                .where(EntityPersonRole.person_id.in_([p.id for p in persons]))
                .options(joinedload(EntityPersonRole.entity))
                .order_by(EntityPersonRole.since)
            )
        )
        if persons
        else []
    )
    record_event(session, tag, actor=actor, subjects=[("person", p.id) for p in persons], data=data)
    return [PersonHit(person, [r for r in roles if r.person_id == person.id]) for person in persons]


def looks_like_id_number(query: str) -> bool:
    return validate_id_number(query.strip()).status == CheckStatus.VALID


def get_entity_profile(
    session: Session, actor: Actor, uscc: str, *, tag: AuditTag, purpose: str = ""
) -> EntityProfile | None:
    """Base data, responsible persons (masked) and the current records the viewer may see.

    None, audited alike, for an unknown code and for an entity the viewer may not know of.
    """
    code = uscc.strip().upper()
    entity = session.scalars(_visible_entity_by_code(actor), {"uscc": code}).first()
    if entity is None:
        record_event(
            session, tag, actor=actor, subjects=[("entity", code[:18])], data={"found": False, "purpose": purpose}
        )
        return None
    roles = list(session.scalars(_roles_of_entity(), {"entity_id": entity.id}))
    records = list(session.scalars(_visible_active_records_of_entity(actor), {"entity_id": entity.id}))
    grouped: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        grouped[record.agency.name].append(record)
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("entity", entity.uscc), *(("record", record.id) for record in records)],
        data={"records": len(records), "purpose": purpose},
    )
    return EntityProfile(entity=entity, roles=roles, records_by_agency=dict(grouped))


# The profile's statements, built once (per actor where visibility enters): every lookup runs them.


@per_actor
def _visible_entity_by_code(actor: Actor) -> Select[tuple[Entity]]:
    return select(Entity).where(Entity.uscc == bindparam("uscc"), entity_visible_to(actor))


@functools.cache
def _roles_of_entity() -> Select[tuple[EntityPersonRole]]:
    return (
        select(EntityPersonRole)
        .where(EntityPersonRole.entity_id == bindparam("entity_id"))
        .options(joinedload(EntityPersonRole.person))
        .order_by(EntityPersonRole.since)
    )


@per_actor
def _visible_active_records_of_entity(actor: Actor) -> Select[tuple[Record]]:
    return (
        visible_records(actor)
        .where(Record.entity_id == bindparam("entity_id"), Record.status == RecordStatus.ACTIVE)
        .options(joinedload(Record.agency), joinedload(Record.department), joinedload(Record.person))
        .order_by(Record.occurred_on.desc(), Record.id.desc())
    )


def get_record(
    session: Session, actor: Actor, record_id: int, *, tag: AuditTag, denied_tag: AuditTag, purpose: str = ""
) -> RecordView | None:
    """One record version and its visible history; None (like a missing id) when not visible."""
    record = session.scalars(
        visible_records(actor, current_only=False)
        .where(Record.id == record_id)
        .options(joinedload(Record.agency), joinedload(Record.department), joinedload(Record.entity))
    ).first()
    if record is None:
        # Audited like any other attempt; the response cannot tell "hidden" from "missing".
        record_event(session, denied_tag, actor=actor, subjects=[("record", record_id)], data={"purpose": purpose})
        return None
    history = list(
        session.scalars(
            visible_records(actor, current_only=False)
            .where(Record.agency_id == record.agency_id, Record.source_ref == record.source_ref)
            .order_by(Record.version)
        )
    )
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("record", version.id) for version in history]
        + ([("entity", record.entity.uscc)] if record.entity else [])
        + ([("person", record.person_id)] if record.person_id else []),
        data={"record_id": record.id, "versions": len(history), "purpose": purpose},
    )
    return RecordView(record=record, history=history)


def count_visible_records(session: Session, actor: Actor) -> int:
    """How many current, active records the actor may see (for the home page)."""
    visible = visible_records(actor).where(Record.status == RecordStatus.ACTIVE).subquery()
    return int(session.scalar(select(func.count()).select_from(visible)) or 0)
