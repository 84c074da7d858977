"""Read side of the audit log: filtered listings for the audit viewer ("who read what, when"), the
per-address counts behind the public search's rate limit, the state of the last signed checkpoint,
and "who read my data" (other agencies' reads of one agency's records).

Nothing here writes: callers audit their own reads of the log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import ColumnElement, Select, String, cast, func, select
from sqlalchemy.orm import Session

from signalhub_audit.integrity import CheckpointError, open_checkpoint
from signalhub_audit.services import Subject
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import AuditCheckpoint, AuditEvent, AuditSubject, Record


@dataclass(frozen=True)
class EventFilters:
    """The audit viewer's filters; ``since`` inclusive, ``until`` exclusive; None means any."""

    actor: str | None = None
    agency_code: str | None = None
    tag: AuditTag | None = None
    subject: Subject | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _filtered(filters: EventFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.actor is not None:
        conditions.append(AuditEvent.actor == filters.actor)
    if filters.agency_code is not None:
        conditions.append(AuditEvent.agency_code == filters.agency_code)
    if filters.tag is not None:
        conditions.append(AuditEvent.tag == AuditTag(filters.tag).value)
    if filters.subject is not None:
        kind, ref = filters.subject
        touched = select(AuditSubject.seq).where(AuditSubject.kind == kind, AuditSubject.ref == str(ref))
        conditions.append(AuditEvent.seq.in_(touched))
    if filters.since is not None:
        conditions.append(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditEvent.occurred_at < filters.until)
    return conditions


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
    filters = EventFilters(actor, agency_code, tag, subject, since, until)
    query = select(AuditEvent).where(*_filtered(filters))
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    return list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit)))


def iter_events(
    session: Session, filters: EventFilters, *, before_seq: int | None = None, chunk_size: int = 2_000
) -> Iterator[list[AuditEvent]]:
    """Every matching event, newest first, in chunks of one keyset query each.

    The caller may end its transaction between chunks (the CSV export does, so that on SQLite,
    where each transaction holds the write lock, a slow download never blocks writers).
    """
    while True:
        chunk = list_events(
            session,
            actor=filters.actor,
            agency_code=filters.agency_code,
            tag=filters.tag,
            subject=filters.subject,
            since=filters.since,
            until=filters.until,
            before_seq=before_seq,
            limit=chunk_size,
        )
        if not chunk:
            return
        yield chunk
        if len(chunk) < chunk_size:
            return
        before_seq = chunk[-1].seq


def last_seq(session: Session) -> int:
    """The newest event's seq (0 for an empty log)."""
    return int(session.scalar(select(func.max(AuditEvent.seq))) or 0)


# --- the public search's rate limit --------------------------------------------------------------


@dataclass(frozen=True)
class RecentActivity:
    count: int
    oldest_at: dt.datetime | None


def recent_activity(
    session: Session, tags: Collection[AuditTag], *, client_ip: str, since: dt.datetime
) -> RecentActivity:
    """How many events with one of ``tags`` came from ``client_ip`` at or after ``since``, and when
    the oldest of them happened.

    The audit log already holds one event per public search, in every worker's database, so it
    doubles as the rate limiter's shared counter (range scan of ``ix_audit_events_tag_occurred_at``).
    """
    count, oldest = session.execute(
        select(func.count(), func.min(AuditEvent.occurred_at)).where(
            AuditEvent.tag.in_([AuditTag(tag).value for tag in tags]),
            AuditEvent.occurred_at >= since,
            AuditEvent.client_ip == client_ip,
        )
    ).one()
    return RecentActivity(int(count or 0), oldest)


# --- checkpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointState:
    """The newest stored checkpoint as the viewer shows it; ``is_valid`` is its signature check."""

    id: int
    size: int
    head_hash: str
    created_at: dt.datetime
    key_id: str | None
    is_valid: bool
    problem: str = ""


def last_checkpoint(session: Session, keys: Mapping[str, Ed25519PublicKey]) -> CheckpointState | None:
    """The newest stored checkpoint and whether a known key signed it (None when there is none).

    The key id comes from the verified note; for a rejected note it is read from its first
    signature line, for display only.
    """
    row = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).first()
    if row is None:
        return None
    try:
        checkpoint = open_checkpoint(row.note, keys)
    except CheckpointError as exc:
        return CheckpointState(
            id=row.id,
            size=row.size,
            head_hash=row.head_hash,
            created_at=row.created_at,
            key_id=_claimed_key_id(row.note),
            is_valid=False,
            problem=str(exc),
        )
    is_consistent = (checkpoint.size, checkpoint.head_hash) == (row.size, row.head_hash)
    return CheckpointState(
        id=row.id,
        size=checkpoint.size,
        head_hash=checkpoint.head_hash,
        created_at=checkpoint.created_at,
        key_id=checkpoint.key_id,
        is_valid=is_consistent,
        problem="" if is_consistent else "size/head_hash columns disagree with its signed note",
    )


def _claimed_key_id(note: str) -> str | None:
    _body, _, signatures = note.partition("\n\n")
    for line in signatures.splitlines():
        if line.startswith("\u2014 "):
            return line[2:].partition(" ")[0][:16] or None
    return None


# --- who read my data ----------------------------------------------------------------------------

# Events that show a record's content to the reader: the record page, the API and the CLI, record
# exports, and the entity profile and the warning page, which list the records they are made of.
# Refused reads (``*:record:denied``) show nothing and are not reads.
RECORD_READ_TAGS: frozenset[AuditTag] = frozenset(
    {
        AuditTag.WEB_RECORD_READ,
        AuditTag.API_RECORD_READ,
        AuditTag.CLI_RECORD_READ,
        AuditTag.WEB_RECORD_EXPORT,
        AuditTag.API_RECORD_EXPORT,
        AuditTag.WEB_ENTITY_READ,
        AuditTag.API_ENTITY_READ,
        AuditTag.CLI_ENTITY_READ,
        AuditTag.WEB_WARNING_READ,
        AuditTag.API_WARNING_READ,
    }
)


@dataclass(frozen=True)
class ReaderSummary:
    """One reading agency (``agency_code``; ``platform`` for the platform office, the CLI and jobs)."""

    agency_code: str
    reads: int  # audit events that showed at least one of the owner's records
    records: int  # distinct records (all versions of one record count once)
    first_at: dt.datetime
    last_at: dt.datetime


@dataclass(frozen=True)
class ReadEvent:
    seq: int
    occurred_at: dt.datetime
    tag: str
    agency_code: str
    # The owner's records the event touched: (source_ref, newest version id touched), by source_ref.
    records: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class ReadersReport:
    readers: list[ReaderSummary]
    recent: list[ReadEvent]
    has_older: bool


def _owner_reads(
    *,
    owner_agency_id: int,
    owner_agency_code: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    source_ref: str | None,
) -> list[ColumnElement[bool]]:
    """Events by readers outside the owner agency that touched one of its records (see ``_joined``)."""
    conditions: list[ColumnElement[bool]] = [
        AuditSubject.kind == "record",
        Record.agency_id == owner_agency_id,
        AuditEvent.tag.in_(sorted(tag.value for tag in RECORD_READ_TAGS)),
        AuditEvent.agency_code != owner_agency_code,
    ]
    if since is not None:
        conditions.append(AuditEvent.occurred_at >= since)
    if until is not None:
        conditions.append(AuditEvent.occurred_at < until)
    if source_ref is not None:
        conditions.append(Record.source_ref == source_ref)
    return conditions


def _joined(*columns: Any) -> Select[Any]:
    """Reading events joined to the records they touched.

    ``audit_subjects.ref`` is text: the record id is cast to text rather than the ref to a number,
    so a non-numeric ref can never make the query fail.
    """
    return (
        select(*columns)
        .select_from(AuditEvent)
        .join(AuditSubject, AuditSubject.seq == AuditEvent.seq)
        .join(Record, AuditSubject.ref == cast(Record.id, String))
    )


def readers_of_records(
    session: Session,
    *,
    owner_agency_id: int,
    owner_agency_code: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    source_ref: str | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> ReadersReport:
    """Which other agencies read the owner agency's records, and when.

    Only records owned by ``owner_agency_id`` are ever joined, so nothing about another agency's
    records can come out of it; reads by the owner's own users are left out. ``readers`` aggregate
    the whole period; ``recent`` is one keyset page (``before_seq``) of the reading events, newest
    first, with the owner's records each one touched.
    """
    conditions = _owner_reads(
        owner_agency_id=owner_agency_id,
        owner_agency_code=owner_agency_code,
        since=since,
        until=until,
        source_ref=source_ref,
    )
    aggregate = session.execute(
        _joined(
            AuditEvent.agency_code,
            func.count(AuditEvent.seq.distinct()),
            func.count(Record.source_ref.distinct()),
            func.min(AuditEvent.occurred_at),
            func.max(AuditEvent.occurred_at),
        )
        .where(*conditions)
        .group_by(AuditEvent.agency_code)
    ).all()
    readers = sorted(
        (ReaderSummary(code, int(reads), int(records), first, last) for code, reads, records, first, last in aggregate),
        key=lambda reader: (-reader.reads, reader.agency_code),
    )

    page_conditions = [*conditions, AuditEvent.seq < before_seq] if before_seq is not None else conditions
    page_seqs = list(
        session.scalars(
            _joined(AuditEvent.seq)
            .where(*page_conditions)
            .group_by(AuditEvent.seq)
            .order_by(AuditEvent.seq.desc())
            .limit(limit + 1)
        )
    )
    has_older = len(page_seqs) > limit
    page_seqs = page_seqs[:limit]
    rows = (
        session.execute(
            _joined(
                AuditEvent.seq,
                AuditEvent.occurred_at,
                AuditEvent.tag,
                AuditEvent.agency_code,
                Record.source_ref,
                Record.id,
            )
            .where(*conditions, AuditEvent.seq.in_(page_seqs))
            .order_by(AuditEvent.seq.desc(), Record.source_ref, Record.id)
        ).all()
        if page_seqs
        else []
    )
    events: dict[int, ReadEvent] = {}
    newest_version: dict[int, dict[str, int]] = {}
    for seq, occurred_at, tag, agency_code, ref, record_id in rows:
        events.setdefault(seq, ReadEvent(seq, occurred_at, tag, agency_code))
        versions = newest_version.setdefault(seq, {})
        versions[ref] = max(record_id, versions.get(ref, 0))
    for seq, event in events.items():
        event.records.extend(sorted(newest_version[seq].items()))
    return ReadersReport(readers=readers, recent=list(events.values()), has_older=has_older)
