"""The scheduler's lease and its record of periodic job runs.

One row per lease name in ``scheduler_leases`` says which scheduler process is active. The holder
renews ``expires_at`` with every heartbeat; a standby takes the row over only once it has expired,
with a compare-and-set UPDATE (see ``signalhub_platform.scheduler``). ``job_runs`` keeps one row
per run of a periodic job: written when it starts, completed when it ends.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from signalhub_platform.db import Base
from signalhub_platform.models.types import BigId, UTCDateTime, closed_vocabulary


class JobRunOutcome(enum.StrEnum):
    RUNNING = "running"
    OK = "ok"
    ERROR = "error"


class SchedulerLease(Base):
    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_name_started_at", "job_name", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_name: Mapped[str] = mapped_column(String(64))
    holder: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[JobRunOutcome] = mapped_column(
        closed_vocabulary(JobRunOutcome, "job_run_outcome"), default=JobRunOutcome.RUNNING
    )
    error: Mapped[str] = mapped_column(Text(), default="")
