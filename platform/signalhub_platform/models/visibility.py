"""The one visibility rule for supervision records.

Every read of records — pages, API, exports, CLI, statistics — starts from
``visible_records(actor)`` or filters with ``record_visible_to(actor)``; nothing else decides.

- the owner agency sees every version of its own records;
- other member agencies and the platform office see ``shared`` and ``public`` records;
- the CLI operator and jobs (``is_system``) see what the platform office sees;
- the public sees ``public`` records only.

A record the viewer may not see is treated exactly like a missing one.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, false, or_, select

from signalhub_platform.models.actors import Actor
from signalhub_platform.models.records import Openness, Record

OPEN_TO_MEMBERS = (Openness.SHARED, Openness.PUBLIC)


def record_visible_to(actor: Actor) -> ColumnElement[bool]:
    """SQL condition: may ``actor`` see this record version?"""
    if actor.is_public:
        return Record.openness == Openness.PUBLIC
    if actor.agency_id is not None:
        return or_(Record.agency_id == actor.agency_id, Record.openness.in_(OPEN_TO_MEMBERS))
    if actor.is_platform_office or actor.is_system:
        return Record.openness.in_(OPEN_TO_MEMBERS)
    return false()


def visible_records(actor: Actor, *, current_only: bool = True) -> Select[tuple[Record]]:
    """Records ``actor`` may see; by default only current versions."""
    query = select(Record).where(record_visible_to(actor))
    if current_only:
        query = query.where(Record.is_current)
    return query


def can_see_record(actor: Actor, record: Record) -> bool:
    """The same rule for a record already in memory (a test keeps it in step with the SQL)."""
    if actor.is_public:
        return record.openness == Openness.PUBLIC
    if actor.agency_id is not None and record.agency_id == actor.agency_id:
        return True
    return record.openness in OPEN_TO_MEMBERS


def can_manage_record(actor: Actor, record: Record) -> bool:
    """Only the owner agency corrects or withdraws its records."""
    return actor.agency_id is not None and record.agency_id == actor.agency_id
