"""Supervision records (监管信息) and the batches (成批导入) that bring them in.

A record row is one *version*. Nothing is edited in place: a correction inserts a new version
pointing at the one it supersedes, with a reason; a withdrawal is a new version whose status is
``withdrawn``. The only column that changes on an old version is ``is_current``, the flag that
lets the warning engine and the visibility rule read current versions from an index.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from signalhub_platform.db import Base
from signalhub_platform.models.accounts import User
from signalhub_platform.models.agencies import Agency, Department
from signalhub_platform.models.registry import Entity, Person
from signalhub_platform.models.types import BigId, UTCDateTime, closed_vocabulary, utcnow


class RecordKind(enum.StrEnum):
    RISK = "risk"  # 风险类
    PENALTY = "penalty"  # 处罚类


class RiskLevel(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Openness(enum.StrEnum):
    PRIVATE = "private"  # 暂不开放: the owner agency only
    SHARED = "shared"  # 有条件开放: all member agencies, not public
    PUBLIC = "public"  # 完全开放: anyone


class RecordStatus(enum.StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class RecordSource(enum.StrEnum):
    FORM = "form"
    BATCH = "batch"
    API = "api"


class BatchState(enum.StrEnum):
    UPLOADED = "uploaded"
    VALIDATING = "validating"
    INVALID = "invalid"
    VALIDATED = "validated"
    COMMITTING = "committing"
    COMMITTED = "committed"
    DUPLICATE = "duplicate"
    FAILED = "failed"


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("agency_id", "file_sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # True when the platform office uploaded for the agency.
    is_on_behalf: Mapped[bool] = mapped_column(default=False)
    period: Mapped[str] = mapped_column(String(7))  # quarter, e.g. 2026Q3
    filename: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    content_sha256: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[BatchState] = mapped_column(closed_vocabulary(BatchState, "batch_state"))
    row_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    inserted_count: Mapped[int] = mapped_column(default=0)
    versioned_count: Mapped[int] = mapped_column(default=0)
    unchanged_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[dict[str, object]] | None] = mapped_column(JSON())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    committed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    agency: Mapped[Agency] = relationship()
    uploaded_by: Mapped[User | None] = relationship()


class Record(Base):
    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("agency_id", "source_ref", "version"),
        # At most one current version per (agency, source_ref).
        Index(
            "uq_records_current_source_ref",
            "agency_id",
            "source_ref",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
        Index("ix_records_entity_current", "entity_id", "is_current", "occurred_on"),
        Index("ix_records_person_current", "person_id", "is_current", "occurred_on"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    kind: Mapped[RecordKind] = mapped_column(closed_vocabulary(RecordKind, "record_kind"))
    risk_level: Mapped[RiskLevel | None] = mapped_column(closed_vocabulary(RiskLevel, "risk_level"))
    openness: Mapped[Openness] = mapped_column(closed_vocabulary(Openness, "openness"))
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    category: Mapped[str] = mapped_column(String(64))  # 归集内容
    description: Mapped[str] = mapped_column(Text(), default="")
    occurred_on: Mapped[dt.date] = mapped_column(Date())
    source_ref: Mapped[str] = mapped_column(String(64))  # the agency's own number, unique per agency
    version: Mapped[int] = mapped_column(default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))
    is_current: Mapped[bool] = mapped_column(default=True)
    status: Mapped[RecordStatus] = mapped_column(
        closed_vocabulary(RecordStatus, "record_status"), default=RecordStatus.ACTIVE
    )
    change_reason: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[RecordSource] = mapped_column(closed_vocabulary(RecordSource, "record_source"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    agency: Mapped[Agency] = relationship()
    department: Mapped[Department] = relationship()
    entity: Mapped[Entity | None] = relationship()
    person: Mapped[Person | None] = relationship()
