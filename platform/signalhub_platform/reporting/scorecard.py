"""The liaison data-quality scorecard: each uploader's batches, rows, rejections, corrections and punctuality.

One line per (agency, uploader) for a calendar year in Beijing time, computed when read (it is a
working tool, not a bulletin):

- **batches**: file batches the user uploaded in the year, and how many of them were committed;
- **rows uploaded / rejected** and the **rejection rate**: as in the quarterly report, over their
  uploaded batches that were validated;
- **corrections** and **withdrawals**: record versions after the first that the user created in
  the year (the form, or a changed row in a re-uploaded file);
- **on-time quarters**: the quarters of the year so far in which the user committed at least one
  batch by its period's due date (the end of the month after that quarter, see ``quarterly``).

Every active liaison of an agency has a line, with zeros if they sent nothing; so does anyone else
who uploaded for the agency (an admin, or the platform office on its behalf). The platform office
sees every agency; a member agency's user sees their own agency's lines only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, true
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import (
    Actor,
    Agency,
    Batch,
    BatchState,
    Record,
    RecordSource,
    RecordStatus,
    Role,
    User,
    UserRole,
)
from signalhub_platform.models.quarters import Quarter, check_year, quarters_of_year, year_bounds
from signalhub_platform.models.types import BEIJING, utcnow
from signalhub_platform.reporting.access import (
    ReportingNotFound,
    refusals_audited,
    require_reader,
    sees_every_agency,
)
from signalhub_platform.reporting.quarterly import is_batch_on_time, rate


@dataclass
class ScorecardLine:
    agency_code: str
    agency_name: str
    user_id: int | None  # None: uploads from the command line
    username: str
    display_name: str
    is_liaison: bool
    batches: int = 0
    batches_committed: int = 0
    rows_uploaded: int = 0
    rows_rejected: int = 0
    corrections: int = 0
    withdrawals: int = 0
    on_time: set[Quarter] = field(default_factory=set)

    @property
    def rejection_rate(self) -> float | None:
        return rate(self.rows_rejected, self.rows_uploaded)

    @property
    def on_time_quarters(self) -> int:
        return len(self.on_time)


@dataclass(frozen=True)
class Scorecard:
    year: int
    quarters: list[Quarter]  # the quarters of the year that have begun
    lines: list[ScorecardLine]
    is_all_agencies: bool


def _scope(actor: Actor, column: Any) -> ColumnElement[bool]:
    return true() if sees_every_agency(actor) else column == actor.agency_id


def liaison_scorecard(
    session: Session, actor: Actor, *, year: int, tag: AuditTag, now: dt.datetime | None = None
) -> Scorecard:
    now = now or utcnow()
    with refusals_audited(session, actor, tag, data={"year": year}):
        require_reader(actor)
        try:
            check_year(year)
        except ValueError:
            raise ReportingNotFound("no_such_year", f"no scorecard for {year}", year=year) from None
        if year > Quarter.current(now).year:
            raise ReportingNotFound("no_such_year", f"{year} has not begun", year=year)
    start, end = year_bounds(year)
    quarters = [quarter for quarter in quarters_of_year(year) if quarter.start_at <= now]
    agencies = {
        agency.id: agency
        for agency in session.scalars(select(Agency).where(_scope(actor, Agency.id)).order_by(Agency.code))
    }
    lines: dict[tuple[int, int | None], ScorecardLine] = {}
    users: dict[int, User] = {}

    def line(agency_id: int, user_id: int | None) -> ScorecardLine:
        key = (agency_id, user_id)
        if key not in lines:
            agency = agencies[agency_id]
            user = users.get(user_id) if user_id is not None else None
            if user is None and user_id is not None:
                user = users[user_id] = session.get_one(User, user_id)
            lines[key] = ScorecardLine(
                agency_code=agency.code,
                agency_name=agency.name,
                user_id=user_id,
                username=user.username if user is not None else "",
                display_name=user.display_name if user is not None else "",
                is_liaison=user is not None and Role.LIAISON in user.roles and user.agency_id == agency_id,
            )
        return lines[key]

    liaisons = session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(User.is_active, UserRole.role == Role.LIAISON, _scope(actor, User.agency_id))
        .order_by(User.username)
    )
    for user in liaisons:
        if user.agency_id in agencies:
            users[user.id] = user
            line(user.agency_id, user.id)

    judged = and_(Batch.validated_at.is_not(None), Batch.state != BatchState.FAILED)
    file_batches = and_(Batch.source == RecordSource.BATCH, _scope(actor, Batch.agency_id))
    uploaded = session.execute(
        select(
            Batch.agency_id,
            Batch.uploaded_by_id,
            func.count(),
            func.sum(case((Batch.state == BatchState.COMMITTED, 1), else_=0)),
            func.sum(case((judged, Batch.row_count), else_=0)),
            func.sum(case((judged, Batch.row_count - Batch.valid_count), else_=0)),
        )
        .where(file_batches, Batch.created_at >= start, Batch.created_at < end)
        .group_by(Batch.agency_id, Batch.uploaded_by_id)
    ).all()
    for agency_id, user_id, count, committed, rows, rejected in uploaded:
        entry = line(agency_id, user_id)
        entry.batches += count
        entry.batches_committed += int(committed or 0)
        entry.rows_uploaded += int(rows or 0)
        entry.rows_rejected += int(rejected or 0)

    commits = session.execute(
        select(Batch.agency_id, Batch.uploaded_by_id, Batch.period, Batch.committed_at).where(
            file_batches, Batch.state == BatchState.COMMITTED, Batch.committed_at >= start, Batch.committed_at < end
        )
    ).all()
    for agency_id, user_id, period, committed_at in commits:
        if is_batch_on_time(period, committed_at):
            line(agency_id, user_id).on_time.add(Quarter.of(committed_at.astimezone(BEIJING).date()))

    changes = session.execute(
        select(Record.agency_id, Record.created_by_id, Record.status, func.count())
        .where(
            Record.version > 1,
            Record.created_at >= start,
            Record.created_at < end,
            _scope(actor, Record.agency_id),
        )
        .group_by(Record.agency_id, Record.created_by_id, Record.status)
    ).all()
    for agency_id, user_id, status, count in changes:
        entry = line(agency_id, user_id)
        if RecordStatus(status) == RecordStatus.WITHDRAWN:
            entry.withdrawals += count
        else:
            entry.corrections += count

    ordered = sorted(lines.values(), key=lambda item: (item.agency_code, not item.is_liaison, item.username))
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("agency", code) for code in sorted({item.agency_code for item in ordered})],
        data={"year": year, "lines": len(ordered), "all_agencies": sees_every_agency(actor)},
    )
    return Scorecard(year=year, quarters=quarters, lines=ordered, is_all_agencies=sees_every_agency(actor))
