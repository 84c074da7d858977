"""``record_event``: append one event to the hash chain, in the caller's transaction.

Writers are serialised so the chain never forks: on PostgreSQL a transaction-scoped advisory
lock is held from reading the head to commit; on SQLite every signalhub transaction already
begins with BEGIN IMMEDIATE (see ``signalhub_platform.db``). The unique ``prev_hash`` column is
the last line of defence. Because the lock lasts until commit, long jobs record their events
at the end of their work, just before committing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

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


class AppendedEvent(NamedTuple):
    seq: int
    hash: str


class AuditPayloadError(ValueError):
    """The event would have stored personal data in the clear."""


def record_event(
    session: Session,
    tag: AuditTag,
    *,
    actor: Actor,
    subjects: Iterable[Subject] = (),
    data: Mapping[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AppendedEvent:
    """Append an event in the caller's transaction (never commits). Raises if it cannot be written."""
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

    lock_chain(session)
    # Core on the session's connection: an audit row is written once and never loaded back as an
    # ORM object, and this runs on every read of the platform (the ORM bulk path costs ~3x more).
    connection = session.connection()
    last_seq, prev_hash = chain_head(session)
    seq = last_seq + 1
    event_hash = chain_hash(seq, prev_hash, payload)
    connection.execute(
        _INSERT_EVENT,
        [
            {
                "seq": seq,
                "occurred_at": occurred_at,
                "tag": tag.value,
                "actor": actor.name,
                "agency_code": actor.agency_code,
                "client_ip": actor.client_ip,
                "payload": payload,
                "prev_hash": prev_hash,
                "hash": event_hash,
            }
        ],
    )
    if subject_list:
        connection.execute(_INSERT_SUBJECT, [{"seq": seq, "kind": kind, "ref": ref} for kind, ref in subject_list])
    return AppendedEvent(seq=seq, hash=event_hash)


def chain_head(session: Session) -> tuple[int, str]:
    """``(seq, hash)`` of the newest event, ``(0, GENESIS)`` for an empty log.

    Only a writer holding ``lock_chain`` may rely on it staying the head.
    """
    head = session.connection().execute(_HEAD).first()
    return (head.seq, head.hash) if head else (0, GENESIS)


def lock_chain(session: Session) -> None:
    """Serialise writers of the chain until the transaction ends (PostgreSQL advisory lock).

    On SQLite the transaction already holds the database write lock (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_CHAIN_LOCK_ID})
