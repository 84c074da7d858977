"""Published periodic reports: the quarterly collection report (每季度通报) kept as a snapshot.

A bulletin, once circulated, must read the same next month: the figures are computed once and
stored as JSON, one row per quarter. Building again (on demand, or by the quarter-end job over a
provisional build) replaces the payload with a new ``built_at``; the audit log keeps who rebuilt
it and the fingerprints of the old and the new payload.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from signalhub_platform.db import Base
from signalhub_platform.models.types import BigId, UTCDateTime, utcnow


class CollectionReport(Base):
    __tablename__ = "collection_reports"
    __table_args__ = (UniqueConstraint("quarter", name="uq_collection_reports_quarter"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    quarter: Mapped[str] = mapped_column(String(7))  # e.g. 2026Q3
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    built_by: Mapped[str] = mapped_column(String(100))  # the actor's name: a user, cli:<os user> or job:<name>
    built_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # SHA-256 of the canonical JSON of ``payload``: quoted in a circulated bulletin, it shows the copy is unchanged.
    payload_sha256: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON())
