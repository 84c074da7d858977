"""Supervision records (监管信息) and the batches (成批导入) that bring them in.

A record row is one *version*. Nothing is edited in place: a correction inserts a new version
pointing at the one it supersedes, with a reason; a withdrawal is a new version whose status is
``withdrawn``. The only column that changes on an old version is ``is_current``, the flag that
lets the warning engine and the visibility rule read current versions from an index.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
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
    UPLOADED = "uploaded"  # stored, waiting for validation
    VALIDATING = "validating"
    INVALID = "invalid"  # has errors; commits only with "accept the valid rows"
    VALIDATED = "validated"  # every row valid (warnings may wait for confirmation)
    COMMITTING = "committing"  # claimed by one committer (compare-and-set from validated/invalid)
    COMMITTED = "committed"
    FAILED = "failed"  # unreadable file or an unexpected error; nothing was written


class Batch(Base):
    """One upload (成批导入), or the one-row envelope of a form or API record.

    Validation stages the normalised valid rows in ``batch_rows``; the commit merges them into
    ``records`` in one transaction. Progress counters are written in short transactions of their
    own so that the batch page can show them while the work runs.
    """

    __tablename__ = "batches"
    # Identical bytes from one agency are one batch; NULL (form/API envelopes) never collide.
    __table_args__ = (UniqueConstraint("agency_id", "file_sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # True when the platform office uploaded for the agency.
    is_on_behalf: Mapped[bool] = mapped_column(default=False)
    source: Mapped[RecordSource] = mapped_column(
        closed_vocabulary(RecordSource, "record_source"), default=RecordSource.BATCH
    )
    period: Mapped[str] = mapped_column(String(7))  # quarter, e.g. 2026Q3
    filename: Mapped[str] = mapped_column(String(255), default="")
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    file_size: Mapped[int] = mapped_column(BigInteger(), default=0)
    # Where the uploaded bytes are kept, relative to the instance folder.
    file_path: Mapped[str] = mapped_column(String(500), default="")
    # SHA-256 over the normalised rows: the same content re-saved by Excel has a new file hash.
    content_sha256: Mapped[str] = mapped_column(String(64), default="", index=True)
    same_content_as_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    state: Mapped[BatchState] = mapped_column(closed_vocabulary(BatchState, "batch_state"))
    row_count: Mapped[int] = mapped_column(default=0)
    valid_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    warning_count: Mapped[int] = mapped_column(default=0)
    # Progress, for the batch page and the API: rows read, validated, committed so far.
    progress_read: Mapped[int] = mapped_column(default=0)
    progress_validated: Mapped[int] = mapped_column(default=0)
    progress_committed: Mapped[int] = mapped_column(default=0)
    inserted_count: Mapped[int] = mapped_column(default=0)
    versioned_count: Mapped[int] = mapped_column(default=0)
    unchanged_count: Mapped[int] = mapped_column(default=0)
    # The first errors and warnings ({row, column, value, code, message_zh, message_en}); the
    # error workbook re-validates the stored file for the complete list.
    errors: Mapped[list[dict[str, object]] | None] = mapped_column(JSON())
    warnings: Mapped[list[dict[str, object]] | None] = mapped_column(JSON())
    # Every rejected row number as ranges ("11,101,501", "3-9"): the stored errors are only the first.
    rejected_rows: Mapped[str] = mapped_column(Text(), default="")
    failure: Mapped[str] = mapped_column(String(500), default="")
    is_valid_only_accepted: Mapped[bool] = mapped_column(default=False)
    nonstandard_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    committed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    validated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    committing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    committed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    agency: Mapped[Agency] = relationship()
    uploaded_by: Mapped[User | None] = relationship(foreign_keys=[uploaded_by_id])


class BatchRow(Base):
    """A validated, normalised row waiting for its batch's commit (staging; no plaintext ID number)."""

    __tablename__ = "batch_rows"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True)
    row_number: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))
    risk_level: Mapped[str | None] = mapped_column(String(16))
    openness: Mapped[str] = mapped_column(String(16))
    uscc: Mapped[str | None] = mapped_column(String(18))
    uscc_status: Mapped[str | None] = mapped_column(String(16))
    entity_name: Mapped[str] = mapped_column(String(200), default="")
    person_name: Mapped[str] = mapped_column(String(100), default="")
    person_blind_index: Mapped[str | None] = mapped_column(String(64))
    # Sealed only on the first row naming a person in the batch: one ciphertext per new person.
    person_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary())
    person_key_id: Mapped[str | None] = mapped_column(String(32))
    person_masked: Mapped[str | None] = mapped_column(String(18))
    category: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text(), default="")
    occurred_on: Mapped[dt.date] = mapped_column(Date())
    source_ref: Mapped[str] = mapped_column(String(64))
    content_sha256: Mapped[str] = mapped_column(String(64))


HIT_COLUMNS = ("status", "agency_id", "department_id", "kind", "risk_level", "openness")


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
        # Covering for the warning rules: an incremental evaluation reads every hit of the affected
        # entities (and of the entities behind the affected persons) from this index alone. SQLite
        # keeps the row id in every index; PostgreSQL needs it included.
        Index(
            "ix_records_entity_current",
            "entity_id",
            "is_current",
            "occurred_on",
            *HIT_COLUMNS,
            postgresql_include=["id"],
        ),
        # The same for the records naming a person (few: most records name none, hence partial).
        Index(
            "ix_records_person_current",
            "person_id",
            "is_current",
            "occurred_on",
            *HIT_COLUMNS,
            postgresql_include=["id"],
            sqlite_where=text("person_id IS NOT NULL"),
            postgresql_where=text("person_id IS NOT NULL"),
        ),
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
    # SHA-256 of the normalised content (see signalhub_ingest.rules): re-uploads compare by it.
    content_sha256: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[RecordSource] = mapped_column(closed_vocabulary(RecordSource, "record_source"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    agency: Mapped[Agency] = relationship()
    department: Mapped[Department] = relationship()
    entity: Mapped[Entity | None] = relationship()
    person: Mapped[Person | None] = relationship()
