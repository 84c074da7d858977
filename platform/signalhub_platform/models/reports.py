"""Text reports (文字报告) that agencies owe: special assessment and annual risk assessment reports.

A special assessment report (专项研判报告) is due within 10 working days after the end of a
special campaign; the agency declares the campaign, which creates the obligation, and later
attaches the file. An annual risk assessment report (年度风险评估报告) for year Y is due by
31 January of Y+1. Working days follow the official Chinese calendar.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from signalhub_platform.db import Base
from signalhub_platform.models.accounts import User
from signalhub_platform.models.agencies import Agency
from signalhub_platform.models.types import BigId, UTCDateTime, closed_vocabulary, utcnow


class ReportKind(enum.StrEnum):
    SPECIAL_ASSESSMENT = "special_assessment"  # 专项研判报告
    ANNUAL_RISK = "annual_risk"  # 年度风险评估报告


class TextReport(Base):
    __tablename__ = "text_reports"
    # One annual report per agency and year; campaigns are told apart by name and end date.
    __table_args__ = (UniqueConstraint("agency_id", "kind", "year", "campaign_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    kind: Mapped[ReportKind] = mapped_column(closed_vocabulary(ReportKind, "report_kind"))
    year: Mapped[int] = mapped_column()
    campaign_name: Mapped[str] = mapped_column(String(200), default="")
    campaign_end_on: Mapped[dt.date | None] = mapped_column(Date())
    due_on: Mapped[dt.date] = mapped_column(Date())
    filename: Mapped[str] = mapped_column(String(255), default="")
    file_path: Mapped[str] = mapped_column(String(500), default="")
    file_sha256: Mapped[str] = mapped_column(String(64), default="")
    file_size: Mapped[int] = mapped_column(BigInteger(), default=0)
    content_type: Mapped[str] = mapped_column(String(100), default="")
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    agency: Mapped[Agency] = relationship()
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
