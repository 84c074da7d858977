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
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from signalhub_audit.hashing import GENESIS, canonical_json, chain_hash
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import Actor, AuditEvent, AuditSubject
from signalhub_platform.models.types import utcnow

# Arbitrary constant naming the audit chain's advisory lock on PostgreSQL.
AUDIT_CHAIN_LOCK_ID = 0x5167_4175_6469_74

# A resident ID number anywhere in a payload is a bug upstream: refuse to store it.
_ID_NUMBER_PATTERN = re.compile(r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{9}[0-9Xx](?![0-9])")

Subject = tuple[str, str | int]


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
) -> AuditEvent:
    """Append an event; flushes, never commits. Raises if the event cannot be written."""
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
    head = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev_hash = (head.seq + 1, head.hash) if head else (1, GENESIS)
    event = AuditEvent(
        seq=seq,
        occurred_at=occurred_at,
        tag=tag.value,
        actor=actor.name,
        agency_code=actor.agency_code,
        client_ip=actor.client_ip,
        payload=payload,
        prev_hash=prev_hash,
        hash=chain_hash(seq, prev_hash, payload),
    )
    session.add(event)
    session.add_all(AuditSubject(seq=seq, kind=kind, ref=ref) for kind, ref in subject_list)
    session.flush()
    return event


def lock_chain(session: Session) -> None:
    """Serialise writers of the chain until the transaction ends (PostgreSQL advisory lock).

    On SQLite the transaction already holds the database write lock (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_CHAIN_LOCK_ID})
