"""Periodic work of the reports: the quarterly collection report, built when a quarter ends.

``scheduler.periodic_jobs`` runs ``build_collection_report_job`` at 02:00 (Beijing time) on the
first day of January, April, July and October, passing the text reports' overdue list as
``overdue`` (see ``quarterly``). It builds the quarter just ended. Running it again is harmless:
a snapshot already built after that quarter's end (by an earlier run or by the platform office)
is kept, so a bulletin already circulated is never replaced behind the office's back; only a
provisional snapshot, built while the quarter was still running, is replaced.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.models import Actor, CollectionReport
from signalhub_platform.reporting.quarterly import OverdueSource, build_collection_report, quarter_for_build_job

JOB_NAME = "build_collection_report"


def build_collection_report_job(
    session: Session, *, now: dt.datetime, overdue: OverdueSource
) -> CollectionReport | None:
    """Build the quarter just ended; None when a complete snapshot of it already exists."""
    quarter = quarter_for_build_job(now)
    built_at = session.scalar(select(CollectionReport.built_at).where(CollectionReport.quarter == str(quarter)))
    if built_at is not None and built_at >= quarter.end_at:
        return None
    return build_collection_report(
        session,
        Actor.job(JOB_NAME),
        quarter=quarter,
        overdue=overdue,
        tag=AuditTag.JOB_COLLECTION_REPORT_BUILD,
        now=now,
    )
