"""The set-based merge of a batch's staged rows into the live tables, inside the database engine.

One call runs a handful of INSERT … SELECT / UPDATE statements (identical on SQLite and
PostgreSQL) instead of a query per row:

1. provisional entities for codes unknown to the registry ("not in registry");
2. persons for ID numbers not seen before (ciphertext, blind index and mask come staged);
3. retire the current version of every record whose content changed (or that was withdrawn);
4. insert version 1 of new records, and version n+1 of changed ones, pointing at the version
   they supersede, with the batch as the reason.

Unchanged rows (same agency, ``source_ref`` and content hash as the current active version) write
nothing. The caller owns the transaction: all of it commits or none of it does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, case, exists, func, insert, literal, null, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from signalhub_platform.models import (
    BatchRow,
    CodeStatus,
    Entity,
    EntityStatus,
    EntityType,
    Person,
    Record,
    RecordSource,
    RecordStatus,
)

# psycopg reports no rowcount for INSERT … SELECT unless SQLAlchemy is asked to keep it.
_ROWCOUNT = {"preserve_rowcount": True}

STAGING: Table = BatchRow.__table__  # type: ignore[assignment]
_RECORDS = Record.__table__
_ENTITIES = Entity.__table__
_PERSONS = Person.__table__


def _insert_new(conn: Any, table: Table, names: list[str], rows: Any) -> Any:
    """INSERT that skips rows whose unique key another agency's concurrent batch just added.

    The per-agency lock serialises one agency's merges only; two agencies may create the same new
    entity or person at once, and one of them must not fail its whole batch for it.
    """
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(table).from_select(names, rows).on_conflict_do_nothing()


def _type_by_prefix(uscc: Any) -> Any:
    """Until the registry says otherwise, an unknown code's entity type follows its first two characters."""
    return case(
        (func.substr(uscc, 1, 2) == "92", literal(EntityType.INDIVIDUAL_BUSINESS.value)),
        (func.substr(uscc, 1, 2) == "93", literal(EntityType.FARMER_COOPERATIVE.value)),
        else_=literal(EntityType.ENTERPRISE.value),
    )


RECORD_COLUMNS = (
    "agency_id", "department_id", "kind", "risk_level", "openness", "entity_id", "person_id", "category",
    "description", "occurred_on", "source_ref", "version", "supersedes_id", "is_current", "status",
    "change_reason", "content_sha256", "source", "batch_id", "created_by_id", "created_at",
)  # fmt: skip


@dataclass(frozen=True)
class MergeCounts:
    staged: int
    inserted: int  # new records (version 1)
    versioned: int  # new versions of existing records
    unchanged: int
    entities_created: int
    persons_created: int


def merge_staged_rows(
    session: Session,
    *,
    batch_id: int,
    agency_id: int,
    source: RecordSource,
    created_by_id: int | None,
    now: dt.datetime,
    staging: Table = STAGING,
) -> MergeCounts:
    """Merge the batch's rows from ``staging`` (``batch_rows``, or a temporary twin of it)."""
    conn = session.connection()
    _ROWS = staging
    in_batch = _ROWS.c.batch_id == batch_id
    staged = conn.execute(select(func.count()).select_from(_ROWS).where(in_batch)).scalar_one()

    entities_created = conn.execute(
        _insert_new(
            conn,
            _ENTITIES,
            [
                "uscc",
                "uscc_status",
                "name",
                "type",
                "region",
                "industry",
                "address",
                "status",
                "is_in_registry",
                "created_at",
                "updated_at",
            ],
            select(
                _ROWS.c.uscc,
                func.coalesce(func.max(_ROWS.c.uscc_status), CodeStatus.VALID.value),
                func.coalesce(func.nullif(func.max(_ROWS.c.entity_name), ""), _ROWS.c.uscc),
                func.min(_type_by_prefix(_ROWS.c.uscc)),
                literal(""),
                literal(""),
                literal(""),
                literal(EntityStatus.ACTIVE.value),
                literal(False),
                literal(now, _ENTITIES.c.created_at.type),
                literal(now, _ENTITIES.c.updated_at.type),
            )
            .where(in_batch, _ROWS.c.uscc.is_not(None), ~exists().where(_ENTITIES.c.uscc == _ROWS.c.uscc))
            .group_by(_ROWS.c.uscc),
        ),
        execution_options=_ROWCOUNT,
    ).rowcount

    persons_created = conn.execute(
        _insert_new(
            conn,
            _PERSONS,
            ["name", "id_ciphertext", "id_key_id", "id_blind_index", "id_masked", "created_at"],
            select(
                _ROWS.c.person_name,
                _ROWS.c.person_ciphertext,
                _ROWS.c.person_key_id,
                _ROWS.c.person_blind_index,
                _ROWS.c.person_masked,
                literal(now, _PERSONS.c.created_at.type),
            ).where(
                in_batch,
                _ROWS.c.person_ciphertext.is_not(None),
                ~exists().where(_PERSONS.c.id_blind_index == _ROWS.c.person_blind_index),
            ),
        ),
        execution_options=_ROWCOUNT,
    ).rowcount

    # 3. Retire current versions whose content changed. A row whose content equals an earlier
    # version is stale (an old file uploaded again): it changes nothing, so a correction or a
    # withdrawal made since is not undone. A withdrawal keeps the content it withdrew, so the
    # unchanged row leaves it withdrawn; new content makes a new active version.
    earlier = aliased(_RECORDS)
    changed = exists().where(
        in_batch,
        _ROWS.c.source_ref == _RECORDS.c.source_ref,
        _ROWS.c.content_sha256 != _RECORDS.c.content_sha256,
        ~exists().where(
            earlier.c.agency_id == _RECORDS.c.agency_id,
            earlier.c.source_ref == _RECORDS.c.source_ref,
            earlier.c.content_sha256 == _ROWS.c.content_sha256,
        ),
    )
    versioned = conn.execute(
        update(_RECORDS)
        .where(_RECORDS.c.agency_id == agency_id, _RECORDS.c.is_current, changed)
        .values(is_current=False),
        execution_options=_ROWCOUNT,
    ).rowcount

    entity = aliased(_ENTITIES)
    person = aliased(_PERSONS)
    has_current = exists().where(
        _RECORDS.c.agency_id == agency_id, _RECORDS.c.source_ref == _ROWS.c.source_ref, _RECORDS.c.is_current
    )

    def rows_select(*, version: Any, supersedes_id: Any, reason: Any, extra: list[Any], joins: Any = None) -> Any:
        query = (
            select(
                literal(agency_id),
                _ROWS.c.department_id,
                _ROWS.c.kind,
                _ROWS.c.risk_level,
                _ROWS.c.openness,
                entity.c.id,
                person.c.id,
                _ROWS.c.category,
                _ROWS.c.description,
                _ROWS.c.occurred_on,
                _ROWS.c.source_ref,
                version,
                supersedes_id,
                literal(True),
                literal(RecordStatus.ACTIVE.value),
                reason,
                _ROWS.c.content_sha256,
                literal(source.value),
                literal(batch_id),
                literal(created_by_id, _RECORDS.c.created_by_id.type),
                literal(now, _RECORDS.c.created_at.type),
            )
            .select_from(joins if joins is not None else _ROWS)
            .outerjoin(entity, entity.c.uscc == _ROWS.c.uscc)
            .outerjoin(person, person.c.id_blind_index == _ROWS.c.person_blind_index)
            .where(in_batch, ~has_current, *extra)
        )
        return query

    # 4a. Records never seen before: version 1.
    no_history = ~exists().where(_RECORDS.c.agency_id == agency_id, _RECORDS.c.source_ref == _ROWS.c.source_ref)
    inserted = conn.execute(
        insert(_RECORDS).from_select(
            list(RECORD_COLUMNS),
            rows_select(version=literal(1), supersedes_id=null(), reason=literal(""), extra=[no_history]),
        ),
        execution_options=_ROWCOUNT,
    ).rowcount

    # 4b. New versions: join each staged row to the latest (just retired) version of its record.
    if not versioned:
        return MergeCounts(staged, inserted, 0, staged - inserted, entities_created, persons_created)
    latest = aliased(_RECORDS)
    newer = aliased(_RECORDS)
    is_latest = ~exists().where(
        newer.c.agency_id == latest.c.agency_id,
        newer.c.source_ref == latest.c.source_ref,
        newer.c.version > latest.c.version,
    )
    joined = _ROWS.join(latest, and_(latest.c.agency_id == agency_id, latest.c.source_ref == _ROWS.c.source_ref))
    reinserted = conn.execute(
        insert(_RECORDS).from_select(
            list(RECORD_COLUMNS),
            rows_select(
                version=latest.c.version + 1,
                supersedes_id=latest.c.id,
                reason=literal(f"batch #{batch_id}"),
                extra=[is_latest],
                joins=joined,
            ),
        ),
        execution_options=_ROWCOUNT,
    ).rowcount
    if reinserted != versioned:
        raise RuntimeError(f"merge of batch {batch_id}: retired {versioned} versions but wrote {reinserted}")
    return MergeCounts(
        staged=staged,
        inserted=inserted,
        versioned=versioned,
        unchanged=staged - inserted - versioned,
        entities_created=entities_created,
        persons_created=persons_created,
    )
