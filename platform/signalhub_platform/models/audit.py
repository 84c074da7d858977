"""Storage of the tamper-evident audit log; the logic lives in ``signalhub_audit``.

``payload`` holds the canonical JSON bytes (as UTF-8 text) that the hash covers; the other
columns are copies of payload fields kept for filtering, and ``verify`` checks they agree.
Rows are append-only: triggers reject UPDATE and DELETE (see the initial migration).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from signalhub_platform.db import Base
from signalhub_platform.models.types import BigId, UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_actor_occurred_at", "actor", "occurred_at"),
        Index("ix_audit_events_tag_occurred_at", "tag", "occurred_at"),
    )

    seq: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    tag: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    agency_code: Mapped[str] = mapped_column(String(32), default="", index=True)
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    payload: Mapped[str] = mapped_column(Text())
    # Unique: two events can never share a predecessor, so the chain cannot fork.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))


class AuditSubject(Base):
    """One object an event touched (entity, record, person, ...), for "who read my data" queries."""

    __tablename__ = "audit_subjects"
    __table_args__ = (Index("ix_audit_subjects_kind_ref", "kind", "ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger(), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement "the log had `size` events and this head hash" (Ed25519)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger())
    head_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text())  # the signed text and its signature line
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
