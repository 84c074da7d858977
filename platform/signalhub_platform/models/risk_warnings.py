"""Warnings (分级预警): computed yellow/orange/red flags on entities and persons, and their life cycle.

A warning is identified by (subject, scope): the subject is an entity or a person
(``subject_key`` = ``entity:<id>`` / ``person:<id>``), the scope an agency (yellow/orange, that
agency's own view) or the platform (red). At most one *active* warning exists per (subject,
scope); when its condition stops holding it is cleared (kept, with its trace), and a new
condition after closure opens a new warning. Every change is a ``WarningEvent`` that carries the
evidence at that moment.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    ForeignKey,
    FromClause,
    Index,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from signalhub_platform.db import Base
from signalhub_platform.models.accounts import User
from signalhub_platform.models.actors import Actor
from signalhub_platform.models.agencies import Agency
from signalhub_platform.models.registry import Entity, Person
from signalhub_platform.models.types import BigId, UTCDateTime, closed_vocabulary, utcnow

PLATFORM_SCOPE = "platform"


class WarningLevel(enum.StrEnum):
    YELLOW = "yellow"  # 黄色
    ORANGE = "orange"  # 橙色
    RED = "red"  # 红色


class WarningStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_DISPOSAL = "in_disposal"
    CLOSED = "closed"  # a supervisor closed it with a note
    CLEARED = "cleared"  # the condition no longer holds


class Measure(enum.StrEnum):
    INSPECTION = "inspection"  # 检查
    CAUTION = "caution"  # 警示
    PENALTY = "penalty"  # 处罚
    INTERVIEW = "interview"  # 约谈
    OTHER = "other"


class SubjectType(enum.StrEnum):
    ENTITY = "entity"
    PERSON = "person"


WARNINGS_FILLFACTOR = 70
CLOSURE_HOLDS = "status = 'closed' AND cleared_at IS NULL"


def closure_holds(warnings: FromClause) -> ColumnElement[bool]:
    """A closed warning whose condition still holds (``CLOSURE_HOLDS``, the partial index's own
    condition): it keeps the key from reopening until the condition is new."""
    return and_(warnings.c.status == WarningStatus.CLOSED.value, warnings.c.cleared_at.is_(None))


class RiskWarning(Base):
    __tablename__ = "risk_warnings"
    __table_args__ = (
        Index(
            "uq_risk_warnings_active_subject_scope",
            "subject_key",
            "scope_key",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
        Index("ix_risk_warnings_queue", "is_active", "level", "opened_at"),
        # Evaluations look warnings up by key from their candidates (a LEFT JOIN cannot use the
        # partial unique index above on SQLite).
        Index("ix_risk_warnings_subject_scope", "subject_key", "scope_key"),
        # Closed warnings whose condition still holds (they keep a reopening back): few, looked up
        # by every evaluation.
        Index(
            "ix_risk_warnings_closure_holds",
            "subject_key",
            "scope_key",
            sqlite_where=text(CLOSURE_HOLDS),
            postgresql_where=text(CLOSURE_HOLDS),
        ),
        # Room on each page, so PostgreSQL rewrites a warning whose evidence changed in place (a HOT
        # update touches no index): a batch renews the evidence of thousands of warnings.
        {"postgresql_with": {"fillfactor": WARNINGS_FILLFACTOR}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_type: Mapped[SubjectType] = mapped_column(closed_vocabulary(SubjectType, "subject_type"))
    subject_key: Mapped[str] = mapped_column(String(32))  # entity:<id> | person:<id>
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    scope_key: Mapped[str] = mapped_column(String(32))  # "platform" or the agency id as text
    scope_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    level: Mapped[WarningLevel] = mapped_column(closed_vocabulary(WarningLevel, "warning_level"))
    rules: Mapped[list[str]] = mapped_column(JSON(), default=list)
    evidence: Mapped[dict[str, object]] = mapped_column(JSON(), default=dict)
    # Plain copies of the rules and the record count, so an evaluation compares them in SQL.
    rule_codes: Mapped[str] = mapped_column(String(200), default="")
    record_count: Mapped[int] = mapped_column(default=0)
    status: Mapped[WarningStatus] = mapped_column(
        closed_vocabulary(WarningStatus, "warning_status"), default=WarningStatus.OPEN
    )
    is_active: Mapped[bool] = mapped_column(default=True)  # false once closed or cleared
    measure: Mapped[Measure | None] = mapped_column(closed_vocabulary(Measure, "warning_measure"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    note: Mapped[str] = mapped_column(Text(), default="")
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    level_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    acknowledge_due_on: Mapped[dt.date | None] = mapped_column(Date())
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    entity: Mapped[Entity | None] = relationship()
    person: Mapped[Person | None] = relationship()
    scope_agency: Mapped[Agency | None] = relationship()
    assignee: Mapped[User | None] = relationship()
    events: Mapped[list[WarningEvent]] = relationship(back_populates="warning", order_by="WarningEvent.id")


class WarningEventKind(enum.StrEnum):
    OPENED = "opened"
    ESCALATED = "escalated"
    DE_ESCALATED = "de_escalated"
    EVIDENCE_CHANGED = "evidence_changed"  # same level, other rules, agencies or departments
    CLEARED = "cleared"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    DISPOSAL = "disposal"  # a measure was recorded
    CLOSED = "closed"
    SNOOZED = "snoozed"
    FEEDBACK = "feedback"  # to the source agency
    RECEIPT = "receipt"  # a member agency acknowledged a red warning
    MANUAL = "manual"  # an agency admin marked the subject by hand


class WarningEvent(Base):
    __tablename__ = "warning_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("risk_warnings.id"), index=True)
    kind: Mapped[WarningEventKind] = mapped_column(closed_vocabulary(WarningEventKind, "warning_event_kind"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    from_level: Mapped[str | None] = mapped_column(String(16))
    to_level: Mapped[str | None] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text(), default="")
    evidence: Mapped[dict[str, object]] = mapped_column(JSON(), default=dict)

    warning: Mapped[RiskWarning] = relationship(back_populates="events")


class ManualFlag(Base):
    """An agency admin's hand-set yellow on a subject, with a reason, until lifted."""

    __tablename__ = "manual_flags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    subject_type: Mapped[SubjectType] = mapped_column(closed_vocabulary(SubjectType, "subject_type"))
    subject_key: Mapped[str] = mapped_column(String(32), index=True)
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    reason: Mapped[str] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class WarningSnooze(Base):
    """A rule silenced for one subject in one scope until ``until`` (a false positive), with a reason."""

    __tablename__ = "warning_snoozes"
    __table_args__ = (Index("ix_warning_snoozes_subject_scope", "subject_key", "scope_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(32))
    scope_key: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(String(32))
    until: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WarningReceipt(Base):
    """A member agency's acknowledgement of a red warning (回执)."""

    __tablename__ = "warning_receipts"
    __table_args__ = (UniqueConstraint("warning_id", "agency_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("risk_warnings.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Watch(Base):
    """A user watching an entity or a person: warning changes on it reach their inbox."""

    __tablename__ = "watches"
    __table_args__ = (UniqueConstraint("user_id", "subject_key"), Index("ix_watches_subject_key", "subject_key"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject_key: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Message(Base):
    """An internal message (内部信息推送): user or system to a user or an agency, about something."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_recipient_user_read", "recipient_user_id", "read_at"),
        Index("ix_messages_recipient_agency_read", "recipient_agency_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sender_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sender_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recipient_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text(), default="")
    about_type: Mapped[str] = mapped_column(String(16), default="")  # entity | person | record | warning
    about_ref: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


def addressed_to(actor: Actor) -> ColumnElement[bool]:
    """Messages in the actor's inbox: to them, or to their agency as a whole (warning feedback).

    The one addressing rule for the warnings inbox and the internal messages alike; those two
    packages are sibling layers that may not import each other, so it lives here."""
    mine = Message.recipient_user_id == actor.user_id
    if actor.agency_id is None:
        return mine
    return or_(mine, Message.recipient_agency_id == actor.agency_id)


class EvaluationRun(Base):
    """One evaluation of the warning rules: what it looked at and what it changed."""

    __tablename__ = "evaluation_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # full | incremental
    as_of: Mapped[dt.date] = mapped_column(Date())
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    subjects: Mapped[int] = mapped_column(default=0)
    opened: Mapped[int] = mapped_column(default=0)
    escalated: Mapped[int] = mapped_column(default=0)
    de_escalated: Mapped[int] = mapped_column(default=0)
    cleared: Mapped[int] = mapped_column(default=0)
    trigger: Mapped[str] = mapped_column(String(64), default="")  # e.g. batch:12, record:7, daily
