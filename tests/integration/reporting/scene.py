"""A district built by hand for the report tests: three agencies, their uploads and records in 2026Q3.

Every figure the quarterly report should show is written down here next to the data that makes it,
so the tests compare the report with numbers a person can check.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub_platform.models import (
    Agency,
    AuditEvent,
    Batch,
    BatchState,
    Entity,
    Record,
    RecordKind,
    RecordSource,
    RecordStatus,
    ReportKind,
    Role,
    TextReport,
    User,
)
from signalhub_platform.models.types import BEIJING
from tests.factories import make_agency, make_entity, make_record, make_user

Q3_DONE = dt.datetime(2026, 10, 1, 2, 0, tzinfo=BEIJING)  # when the quarter-end job runs
_files = itertools.count(1)


def beijing(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=BEIJING)


def make_batch(
    session: Session,
    agency: Agency,
    *,
    uploader: User | None,
    period: str,
    created_at: dt.datetime,
    rows: int,
    valid: int,
    state: BatchState = BatchState.COMMITTED,
    committed_at: dt.datetime | None = None,
    source: RecordSource = RecordSource.BATCH,
) -> Batch:
    """A batch as ingest leaves it: validated when uploaded, committed at ``committed_at`` if committed."""
    batch = Batch(
        agency_id=agency.id,
        uploaded_by_id=uploader.id if uploader else None,
        source=source,
        period=period,
        filename="quarter.xlsx",
        # Form and API envelopes have no file; files differ by their bytes, here by a counter.
        file_sha256=hashlib.sha256(str(next(_files)).encode()).hexdigest() if source == RecordSource.BATCH else None,
        state=state,
        row_count=rows,
        valid_count=valid,
        error_count=rows - valid,
        created_at=created_at,
        validated_at=None if state in (BatchState.UPLOADED, BatchState.FAILED) else created_at,
        committed_at=committed_at if state == BatchState.COMMITTED else None,
        committed_by_id=uploader.id if uploader and state == BatchState.COMMITTED else None,
    )
    session.add(batch)
    session.flush()
    return batch


def received(
    session: Session,
    agency: Agency,
    entity: Entity,
    at: dt.datetime,
    *,
    kind: RecordKind = RecordKind.RISK,
    by: User | None = None,
    category: str = "投诉举报",
    occurred_on: dt.date | None = None,
) -> Record:
    """A first version created at ``at``."""
    record = make_record(
        session, agency, entity=entity, kind=kind, category=category, occurred_on=occurred_on or at.date()
    )
    record.created_at = at
    record.created_by_id = by.id if by else None
    session.flush()
    return record


def changed(session: Session, record: Record, at: dt.datetime, *, by: User | None, withdraw: bool = False) -> Record:
    """A correction (or a withdrawal) of ``record`` created at ``at``: a new current version."""
    record.is_current = False
    session.flush()
    version = Record(
        agency_id=record.agency_id,
        department_id=record.department_id,
        kind=record.kind,
        risk_level=record.risk_level,
        openness=record.openness,
        entity_id=record.entity_id,
        category=record.category,
        description=record.description + " (corrected)",
        occurred_on=record.occurred_on,
        source_ref=record.source_ref,
        version=record.version + 1,
        supersedes_id=record.id,
        status=RecordStatus.WITHDRAWN if withdraw else RecordStatus.ACTIVE,
        change_reason="wrong date",
        source=record.source,
        created_by_id=by.id if by else None,
        created_at=at,
    )
    session.add(version)
    session.flush()
    return version


@dataclass
class District:
    tax: Agency
    mkt: Agency
    hrss: Agency
    tax_liaison: User
    tax_liaison_2: User  # a liaison who sent nothing
    tax_supervisor: User
    mkt_liaison: User
    hrss_liaison: User
    office: User
    auditor: User
    entity: Entity


def build_district(session: Session) -> District:
    """The hand-built 2026Q3 (1 July - 30 September, Beijing time).

    TAX: 3 file batches committed in Q3 (one for Q3 and one for Q2 by its due date of 31 July, on
    time; one for Q2 in September, late), an invalid upload never committed, 4 risk + 2 penalty new
    records, 1 correction and 1 withdrawal, an overdue special report. MKT: one form record (its
    envelope is not a file batch), no batch. HRSS: nothing.
    """
    tax, mkt, hrss = make_agency(session, "TAX"), make_agency(session, "MKT"), make_agency(session, "HRSS")
    for agency, name in ((tax, "区税务局"), (mkt, "区市场监管局"), (hrss, "区人力社保局")):
        agency.name = name
        # Created this year: no annual text report is owed yet, so the overdue list holds only what is set up below.
        agency.created_at = beijing(2026, 1, 1)
    district = District(
        tax=tax,
        mkt=mkt,
        hrss=hrss,
        tax_liaison=make_user(session, tax, Role.LIAISON, username="tax_liaison"),
        tax_liaison_2=make_user(session, tax, Role.LIAISON, username="tax_liaison_2"),
        tax_supervisor=make_user(session, tax, Role.SUPERVISOR, username="tax_supervisor"),
        mkt_liaison=make_user(session, mkt, Role.LIAISON, username="mkt_liaison"),
        hrss_liaison=make_user(session, hrss, Role.LIAISON, username="hrss_liaison"),
        office=make_user(session, None, Role.PLATFORM_ADMIN, username="office"),
        auditor=make_user(session, None, Role.AUDITOR, username="auditor"),
        entity=make_entity(session, name="北京华盛餐饮有限公司", region="金融街街道", industry="6210"),
    )
    liaison, entity = district.tax_liaison, district.entity

    # TAX batches: for Q3 (10 rows, 2 rejected) and for Q2 by 31 July (6 rows), on time; for Q2 in
    # September (5 rows), late; an invalid upload (4 rows, all rejected).
    make_batch(session, tax, uploader=liaison, period="2026Q3", created_at=beijing(2026, 8, 10),
               committed_at=beijing(2026, 8, 10, 11), rows=10, valid=8)  # fmt: skip
    make_batch(session, tax, uploader=liaison, period="2026Q2", created_at=beijing(2026, 7, 31, 23),
               committed_at=beijing(2026, 7, 31, 23, 50), rows=6, valid=6)  # fmt: skip
    make_batch(session, tax, uploader=liaison, period="2026Q2", created_at=beijing(2026, 9, 19),
               committed_at=beijing(2026, 9, 20), rows=5, valid=5)  # fmt: skip
    make_batch(session, tax, uploader=liaison, period="2026Q3", created_at=beijing(2026, 7, 5),
               state=BatchState.INVALID, rows=4, valid=0)  # fmt: skip
    # Outside the quarter: committed 1 October 00:30 Beijing time (30 September in UTC), on time in Q4.
    make_batch(session, tax, uploader=liaison, period="2026Q3", created_at=beijing(2026, 10, 1, 0, 10),
               committed_at=beijing(2026, 10, 1, 0, 30), rows=7, valid=7)  # fmt: skip

    # TAX records: 3 risk in the quarter, 1 risk at 23:59 on 30 September, 2 penalties; none counted from Q2/Q4.
    first = received(session, tax, entity, beijing(2026, 7, 2), by=liaison)
    second = received(session, tax, entity, beijing(2026, 8, 10, 11), by=liaison)
    received(session, tax, entity, beijing(2026, 8, 10, 11), by=liaison)
    received(session, tax, entity, beijing(2026, 9, 30, 23, 59), by=liaison)
    received(session, tax, entity, beijing(2026, 9, 1), kind=RecordKind.PENALTY, by=liaison, category="罚款")
    received(session, tax, entity, beijing(2026, 9, 2), kind=RecordKind.PENALTY, by=liaison, category="罚款")
    received(session, tax, entity, beijing(2026, 6, 30, 23, 59), by=liaison)  # Q2
    received(session, tax, entity, beijing(2026, 10, 1, 0, 1), by=liaison)  # Q4
    changed(session, first, beijing(2026, 9, 5), by=liaison)
    changed(session, second, beijing(2026, 9, 6), by=liaison, withdraw=True)

    # MKT: one record from the form, in its one-row envelope.
    make_batch(session, mkt, uploader=district.mkt_liaison, period="2026Q3", created_at=beijing(2026, 8, 1),
               committed_at=beijing(2026, 8, 1), rows=1, valid=1, source=RecordSource.FORM)  # fmt: skip
    received(session, mkt, entity, beijing(2026, 8, 1), by=district.mkt_liaison)

    # TAX owes a special assessment report due 24 July 2026 and never submitted it.
    session.add(
        TextReport(
            agency_id=tax.id,
            kind=ReportKind.SPECIAL_ASSESSMENT,
            year=2026,
            campaign_name="燃气安全专项整治",
            campaign_end_on=dt.date(2026, 7, 10),
            due_on=dt.date(2026, 7, 24),
        )
    )
    session.flush()
    return district


def last_seq(session: Session) -> int:
    return int(session.scalar(select(func.max(AuditEvent.seq))) or 0)


def events_after(session: Session, seq: int) -> list[tuple[str, dict]]:
    rows = session.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq))
    return [(row.tag, json.loads(row.payload)) for row in rows]
