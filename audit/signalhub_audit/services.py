"""``record_event``: append one event to the hash chain, in the caller's transaction.

Writers are serialised so the chain never forks: on PostgreSQL a transaction-scoped advisory
lock is held from reading the head to commit; on SQLite every signalhub transaction already
begins with BEGIN IMMEDIATE (see ``signalhub_platform.db``). The unique ``prev_hash`` column is
the last line of defence.

Because that lock lasts until commit, an event is not written where it is recorded: it waits in
the session and the whole transaction's events are chained just before it commits (or as soon
as the transaction reads or changes the log itself). The lock is then held for the inserts and
the commit only, not for the rest of a request's work; a rolled-back transaction (or savepoint)
drops its events with the rest of its work, as before.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, event, insert, select, text
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import TextClause

from signalhub_audit.hashing import GENESIS, canonical_json, chain_hash
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import Actor, AuditEvent, AuditSubject
from signalhub_platform.models.types import utcnow

# Arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
AUDIT_CHAIN_LOCK_ID = 0x5167_4175_6469_74

# A resident ID number anywhere in a payload is a bug upstream: refuse to store it.
# Bounded by non-alphanumerics, so a run of digits inside a hex digest is not mistaken for one.
_ID_NUMBER_PATTERN = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{5}(?:18|19|20)[0-9]{9}[0-9Xx](?![0-9A-Za-z])")

Subject = tuple[str, str | int]

_EVENTS = AuditEvent.__table__
_HEAD = select(_EVENTS.c.seq, _EVENTS.c.hash).order_by(_EVENTS.c.seq.desc()).limit(1)
_INSERT_EVENT = insert(_EVENTS)
_INSERT_SUBJECT = insert(AuditSubject.__table__)
_LOCK_CHAIN = text("SELECT pg_advisory_xact_lock(:key)")
# In the order given, so subject ids still follow the events' order as with one INSERT per row.
_INSERT_SUBJECTS_FROM_ARRAYS = text(
    "INSERT INTO audit_subjects (seq, kind, ref) SELECT s, k, r FROM unnest("
    "CAST(:seq AS BIGINT[]), CAST(:kind AS VARCHAR[]), CAST(:ref AS VARCHAR[])) WITH ORDINALITY AS u(s, k, r, n) "
    "ORDER BY n"
)
_LOG_TABLES = frozenset({"audit_events", "audit_subjects", "audit_checkpoints"})
_PENDING = "signalhub_audit_pending"  # key in Session.info: events recorded, not yet written
_WRITTEN = "signalhub_audit_written"  # key in Session.info: (event, transaction it was written in)
# Whether statements of a shape touch the log, by SQLAlchemy cache key; emptied when it gets this big.
_TOUCHES_LOG_BY_SHAPE: dict[tuple[Any, ...], bool] = {}
_MAX_SHAPES = 2000


class AppendedEvent(NamedTuple):
    seq: int
    hash: str


class AuditPayloadError(ValueError):
    """The event would have stored personal data in the clear."""


class _PendingEvent(NamedTuple):
    transaction: SessionTransaction  # the innermost transaction when it was recorded
    order: int  # recording order within the session, kept if the event has to be written again
    row: dict[str, Any]  # the audit_events row without seq and hashes
    subjects: list[tuple[str, str]]


def record_event(
    session: Session,
    tag: AuditTag,
    *,
    actor: Actor,
    subjects: Iterable[Subject] = (),
    data: Mapping[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Record an event in the caller's transaction (never commits); it is chained when that commits.

    Raises at once if the event could not be written (unknown tag, personal data in the payload).
    """
    tag = AuditTag(tag)
    occurred_at = at or utcnow()
    subject_list = sorted({(kind, str(ref)) for kind, ref in subjects})
    payload = canonical_json(
        {
            "tag": tag.value,
            "at": occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "actor": actor.name,
            "agency": actor.agency_code,
            "ip": actor.client_ip,
            "subjects": [[kind, ref] for kind, ref in subject_list],
            "data": dict(data or {}),
        }
    )
    if _ID_NUMBER_PATTERN.search(payload):
        raise AuditPayloadError("refusing to write a resident ID number into the audit log")
    session.connection()  # begin the transaction now, so the event belongs to it
    transaction = session.get_nested_transaction() or session.get_transaction()
    assert transaction is not None
    row = {
        "occurred_at": occurred_at,
        "tag": tag.value,
        "actor": actor.name,
        "agency_code": actor.agency_code,
        "client_ip": actor.client_ip,
        "payload": payload,
    }
    order = session.info.get("signalhub_audit_order", 0) + 1
    session.info["signalhub_audit_order"] = order
    session.info.setdefault(_PENDING, []).append(_PendingEvent(transaction, order, row, subject_list))


def write_pending_events(session: Session) -> AppendedEvent | None:
    """Chain and insert the events recorded so far in this transaction; the last one, if any."""
    pending: list[_PendingEvent] = session.info.pop(_PENDING, [])
    if not pending:
        return None
    lock_chain(session)
    # Core on the session's connection: an audit row is written once and never loaded back as an
    # ORM object, and this runs on every read of the platform (the ORM bulk path costs ~3x more).
    connection = session.connection()
    written_in = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_WRITTEN, []).extend((item, written_in) for item in pending)
    seq, event_hash = _head(session)
    events: list[dict[str, Any]] = []
    subject_rows: list[dict[str, Any]] = []
    for item in pending:
        prev_hash, seq = event_hash, seq + 1
        event_hash = chain_hash(seq, prev_hash, item.row["payload"])
        events.append({**item.row, "seq": seq, "prev_hash": prev_hash, "hash": event_hash})
        subject_rows.extend({"seq": seq, "kind": kind, "ref": ref} for kind, ref in item.subjects)
    connection.execute(_INSERT_EVENT, events)
    if subject_rows:
        _insert_subjects(connection, subject_rows)
    return AppendedEvent(seq=seq, hash=event_hash)


def _insert_subjects(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if connection.dialect.name == "postgresql":
        # psycopg's executemany sends one statement per row, and a search or queue page audits 50
        # subjects: one statement with three arrays costs about half as much CPU.
        columns = {"seq": [row["seq"] for row in rows], "kind": [row["kind"] for row in rows]}
        connection.execute(_INSERT_SUBJECTS_FROM_ARRAYS, {**columns, "ref": [row["ref"] for row in rows]})
    else:
        connection.execute(_INSERT_SUBJECT, rows)


@event.listens_for(Session, "before_commit")
def _chain_before_commit(session: Session) -> None:
    write_pending_events(session)


@event.listens_for(Session, "do_orm_execute")
def _chain_before_touching_the_log(state: ORMExecuteState) -> None:
    # A transaction that reads or changes the log (a listing, a verify, a checkpoint) sees its own events.
    if state.session.info.get(_PENDING) and _touches_log(state.statement):
        write_pending_events(state.session)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """What the rolled-back transaction recorded goes; what it merely wrote for an outer one comes back.

    Events are written in whatever savepoint is current when the log is touched; an outer
    transaction's event written there must be written again once that savepoint is undone.
    """
    pending: list[_PendingEvent] = session.info.get(_PENDING, [])
    kept = [item for item in pending if not _within(item.transaction, previous_transaction)]
    written: list[tuple[_PendingEvent, SessionTransaction | None]] = session.info.get(_WRITTEN, [])
    undone = [item for item, where in written if _within(where, previous_transaction)]
    if undone:
        session.info[_WRITTEN] = [(item, where) for item, where in written if not _within(where, previous_transaction)]
        kept.extend(item for item in undone if not _within(item.transaction, previous_transaction))
    if pending or undone:
        session.info[_PENDING] = sorted(kept, key=lambda item: item.order)


@event.listens_for(Session, "after_transaction_end")
def _drop_with_the_session_transaction(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost ended (committed, rolled back or closed): nothing may linger
        session.info.pop(_PENDING, None)
        session.info.pop(_WRITTEN, None)


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def _touches_log(statement: Any) -> bool:
    if isinstance(statement, TextClause):
        return any(name in statement.text for name in _LOG_TABLES)
    # Walking a whole statement costs more than running a small one, and this runs for every
    # statement after a read recorded its event. Statements of one shape (SQLAlchemy's cache key:
    # the structure without the values, computed once per statement and reused to compile it) name
    # the same tables, so each shape is walked once.
    cache_key = statement._generate_cache_key()
    if cache_key is None:
        return _names_a_log_table(statement)
    is_touching = _TOUCHES_LOG_BY_SHAPE.get(cache_key.key)
    if is_touching is None:
        is_touching = _names_a_log_table(statement)
        if len(_TOUCHES_LOG_BY_SHAPE) >= _MAX_SHAPES:
            _TOUCHES_LOG_BY_SHAPE.clear()
        _TOUCHES_LOG_BY_SHAPE[cache_key.key] = is_touching
    return is_touching


def _names_a_log_table(statement: Any) -> bool:
    return any(isinstance(element, Table) and element.name in _LOG_TABLES for element in visitors.iterate(statement))


def chain_head(session: Session) -> tuple[int, str]:
    """``(seq, hash)`` of the newest event, ``(0, GENESIS)`` for an empty log, counting this transaction's own.

    Only a writer holding ``lock_chain`` may rely on it staying the head.
    """
    last = write_pending_events(session)
    return (last.seq, last.hash) if last else _head(session)


def _head(session: Session) -> tuple[int, str]:
    head = session.connection().execute(_HEAD).first()
    return (head.seq, head.hash) if head else (0, GENESIS)


def lock_chain(session: Session) -> None:
    """Serialise writers of the chain until the transaction ends (PostgreSQL advisory lock).

    On SQLite the transaction already holds the database write lock (BEGIN IMMEDIATE).
    """
    connection = session.connection()  # Core: this runs before every commit that wrote an event
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_CHAIN, {"key": AUDIT_CHAIN_LOCK_ID})
