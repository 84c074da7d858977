"""The background work queue: long work (large imports, full evaluations) claimed by workers.

A worker claims a queued job atomically (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: one
UPDATE under the database write lock), beats a heartbeat while it runs, and records the outcome.
A job whose heartbeat has gone stale belongs to a dead worker and is queued again.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from signalhub_platform.db import Base
from signalhub_platform.models.types import BigId, UTCDateTime, closed_vocabulary, utcnow


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_run_after", "state", "run_after"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, object]] = mapped_column(JSON(), default=dict)
    state: Mapped[JobState] = mapped_column(closed_vocabulary(JobState, "job_state"), default=JobState.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str] = mapped_column(Text(), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
