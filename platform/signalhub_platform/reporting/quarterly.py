"""The quarterly collection report (每季度通报): how each agency collected its information in a quarter.

Article 13 of the collection standard asks for batch imports "at least once a quarter", done in
time; Article 20 for a bulletin on each agency's collection every quarter. Per agency, for a
quarter in Beijing time:

- **records received** by kind: new records (first versions) created in the quarter, from
  batches, the form and the API alike; **corrections** and **withdrawals**: later versions
  created in the quarter (a changed row in a re-uploaded file is a correction too);
- **batches committed**: file batches (成批导入, not the one-row envelopes of form and API
  records) committed in the quarter; the **rule is met** when there is at least one;
- **timeliness**: a quarter's data can only be uploaded once the quarter is over, so the batches
  for a quarter (their period) are due by the last day of the month after it: Q2's by 31 July.
  The standard says only "in time, at least once a quarter"; this due date is our reading of "in
  time". Timeliness is the share of the batches committed in the quarter that met their period's
  due date: in Q3's report a batch for Q2 committed on 20 July is on time, one committed in
  August late, and a batch for Q3 itself (committed early) on time;
- **rejection rate**: rejected rows / rows uploaded, over the file batches uploaded in the
  quarter that were validated (an invalid file that was fixed and uploaded again counts twice:
  every row sent counts);
- **correction rate**: (corrections + withdrawals) / records received;
- **overdue text reports** (文字报告): the special and annual reports past due without a file,
  by the text reports' own rule, as of the quarter's last day (or today, for the current quarter).

The figures count every record of the agency, private ones included: the report says how much
an agency collected, never what. That is why an agency user sees only their own agency's line,
and district totals are for the platform office (see ``access``).

The report is kept as a snapshot (``CollectionReport``) so a circulated bulletin does not drift;
building again replaces it, audited. This package may not import the text reports' service
(``signalhub_ingest``, a sibling layer), so the overdue list comes in as ``overdue``: the caller
passes ``signalhub_ingest.reports.overdue_reports``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, literal_column, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from signalhub_audit.hashing import canonical_json
from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import (
    Actor,
    Agency,
    Batch,
    BatchState,
    CollectionReport,
    Record,
    RecordKind,
    RecordSource,
    RecordStatus,
)
from signalhub_platform.models.quarters import Quarter
from signalhub_platform.models.types import BEIJING, beijing_today, utcnow
from signalhub_platform.reporting.access import (
    ReportingError,
    refusals_audited,
    require_builder,
    require_reader,
    sees_every_agency,
    visible_agency_ids,
)

PAYLOAD_FORMAT = 1
RATE_DIGITS = 4
COUNT_FIELDS = (
    "records_total",
    "corrections",
    "withdrawals",
    "batches_committed",
    "batches_on_time",
    "batches_late",
    "rows_uploaded",
    "rows_rejected",
    "overdue_report_count",
)


# --- what the text reports' service hands in --------------------------------------------------


class OverdueItem(Protocol):
    """One overdue text report (``signalhub_ingest.reports.ReportStatus``)."""

    @property
    def kind(self) -> str: ...
    @property
    def year(self) -> int: ...
    @property
    def due_on(self) -> dt.date: ...
    @property
    def campaign_name(self) -> str: ...
    @property
    def working_days_overdue(self) -> int | None: ...


class AgencyOverdue(Protocol):
    """One agency's overdue reports (``signalhub_ingest.reports.AgencyOverdue``)."""

    @property
    def agency(self) -> Agency: ...
    @property
    def items(self) -> Sequence[OverdueItem]: ...


# ``overdue(session, today=day)``: every active agency with its text reports past due on ``day``.
OverdueSource = Callable[..., Sequence[AgencyOverdue]]


# --- the figures (pure helpers) ---------------------------------------------------------------


def rate(numerator: int, denominator: int) -> float | None:
    """A share rounded for the bulletin; None when there is nothing to divide by (shown as —)."""
    return round(numerator / denominator, RATE_DIGITS) if denominator else None


def _with_rates(figures: dict[str, Any]) -> dict[str, Any]:
    received = figures["records_total"]
    figures["rejection_rate"] = rate(figures["rows_rejected"], figures["rows_uploaded"])
    figures["correction_rate"] = rate(figures["corrections"] + figures["withdrawals"], received)
    figures["timeliness"] = rate(figures["batches_on_time"], figures["batches_committed"])
    return figures


def batch_due_on(period: Quarter) -> dt.date:
    """The last day a batch for ``period`` is on time: the end of the month after the quarter."""
    first_month = period.next.starts_on  # January, April, July or October: the next month is in the same year
    return dt.date(first_month.year, first_month.month + 1, 1) - dt.timedelta(days=1)


def is_batch_on_time(period: str, committed_at: dt.datetime) -> bool:
    try:
        due_on = batch_due_on(Quarter.parse(period))
    except ValueError:  # periods are validated on upload; an odd one is not held against the agency
        return True
    return committed_at.astimezone(BEIJING).date() <= due_on


def overdue_as_of(quarter: Quarter, now: dt.datetime) -> dt.date:
    """Text reports are judged on the quarter's last day, or today while the quarter runs."""
    return min(quarter.ends_on, beijing_today(now))


# --- collecting a quarter ---------------------------------------------------------------------


def _record_counts(session: Session, quarter: Quarter) -> dict[int, dict[str, int]]:
    # Inline literal: PostgreSQL matches the GROUP BY expression to the selected one by its text.
    is_first = Record.version == literal_column("1")
    rows = session.execute(
        select(
            Record.agency_id,
            Record.kind,
            Record.source,
            is_first,
            Record.status,
            func.count(),
        )
        .where(Record.created_at >= quarter.start_at, Record.created_at < quarter.end_at)
        .group_by(Record.agency_id, Record.kind, Record.source, is_first, Record.status)
    ).all()
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for agency_id, kind, source, first, status, count in rows:
        figures = counts[agency_id]
        if first:
            figures[f"received:{RecordKind(kind).value}"] += count
            figures[f"source:{RecordSource(source).value}"] += count
        elif RecordStatus(status) == RecordStatus.WITHDRAWN:
            figures["withdrawals"] += count
        else:
            figures["corrections"] += count
    return counts


def _batch_counts(session: Session, quarter: Quarter) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    committed = session.execute(
        select(Batch.agency_id, Batch.period, Batch.committed_at).where(
            Batch.source == RecordSource.BATCH,
            Batch.state == BatchState.COMMITTED,
            Batch.committed_at >= quarter.start_at,
            Batch.committed_at < quarter.end_at,
        )
    ).all()
    for agency_id, period, committed_at in committed:
        counts[agency_id]["batches_committed"] += 1
        counts[agency_id]["batches_on_time" if is_batch_on_time(period, committed_at) else "batches_late"] += 1
    uploaded = session.execute(
        select(Batch.agency_id, func.sum(Batch.row_count), func.sum(Batch.row_count - Batch.valid_count))
        .where(
            Batch.source == RecordSource.BATCH,
            Batch.validated_at.is_not(None),
            Batch.state != BatchState.FAILED,  # unreadable or broken: no row was judged
            Batch.created_at >= quarter.start_at,
            Batch.created_at < quarter.end_at,
        )
        .group_by(Batch.agency_id)
    ).all()
    for agency_id, rows, rejected in uploaded:
        counts[agency_id]["rows_uploaded"] += int(rows or 0)
        counts[agency_id]["rows_rejected"] += int(rejected or 0)
    return counts


def _overdue_lines(listing: Sequence[AgencyOverdue]) -> dict[int, list[dict[str, Any]]]:
    return {
        entry.agency.id: [
            {
                "kind": str(getattr(item.kind, "value", item.kind)),
                "year": item.year,
                "campaign_name": item.campaign_name,
                "due_on": item.due_on.isoformat(),
                # null when the official calendar of a year in between is not available yet
                "working_days_overdue": item.working_days_overdue,
            }
            for item in entry.items
        ]
        for entry in listing
    }


def collect_quarter(session: Session, quarter: Quarter, *, overdue: OverdueSource, now: dt.datetime) -> dict[str, Any]:
    """The report's payload: one line per agency and the district totals (unaudited; see ``build``)."""
    records = _record_counts(session, quarter)
    batches = _batch_counts(session, quarter)
    as_of = overdue_as_of(quarter, now)
    overdue_by_agency = _overdue_lines(overdue(session, today=as_of))
    lines = []
    for agency in session.scalars(select(Agency).order_by(Agency.code)):
        r, b = records.get(agency.id, {}), batches.get(agency.id, {})
        if not agency.is_active and not (r or b):
            continue  # a retired agency appears only for a quarter it still collected in
        reports = overdue_by_agency.get(agency.id, [])
        received = {kind.value: r.get(f"received:{kind.value}", 0) for kind in RecordKind}
        line: dict[str, Any] = {
            "agency_id": agency.id,
            "code": agency.code,
            "name": agency.name,
            "records_received": received,
            "records_total": sum(received.values()),
            "records_by_source": {source.value: r.get(f"source:{source.value}", 0) for source in RecordSource},
            "corrections": r.get("corrections", 0),
            "withdrawals": r.get("withdrawals", 0),
            "batches_committed": b.get("batches_committed", 0),
            "batches_on_time": b.get("batches_on_time", 0),
            "batches_late": b.get("batches_late", 0),
            "rule_met": b.get("batches_committed", 0) >= 1,
            "rows_uploaded": b.get("rows_uploaded", 0),
            "rows_rejected": b.get("rows_rejected", 0),
            "overdue_reports": reports,
            "overdue_report_count": len(reports),
        }
        lines.append(_with_rates(line))
    return {
        "format": PAYLOAD_FORMAT,
        "quarter": str(quarter),
        "starts_on": quarter.starts_on.isoformat(),
        "ends_on": quarter.ends_on.isoformat(),
        "overdue_as_of": as_of.isoformat(),
        # when this quarter's own batches fall due (they count in the next quarter's report)
        "batches_due_on": batch_due_on(quarter).isoformat(),
        # False: built before the quarter ended, so its figures are provisional
        "is_complete": now >= quarter.end_at,
        "agencies": lines,
        "totals": district_totals(lines),
    }


def district_totals(lines: Sequence[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = {name: sum(line[name] for line in lines) for name in COUNT_FIELDS}
    totals["records_received"] = {
        kind.value: sum(line["records_received"][kind.value] for line in lines) for kind in RecordKind
    }
    totals["records_by_source"] = {
        source.value: sum(line["records_by_source"][source.value] for line in lines) for source in RecordSource
    }
    totals["agencies"] = len(lines)
    totals["agencies_meeting_rule"] = sum(1 for line in lines if line["rule_met"])
    return _with_rates(totals)


def payload_sha256(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


# --- building and reading the snapshot --------------------------------------------------------


def _find(session: Session, quarter: Quarter, *, for_update: bool = False) -> CollectionReport | None:
    query = select(CollectionReport).where(CollectionReport.quarter == str(quarter))
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()


def build_collection_report(
    session: Session,
    actor: Actor,
    *,
    quarter: Quarter,
    overdue: OverdueSource,
    tag: AuditTag,
    now: dt.datetime | None = None,
) -> CollectionReport:
    """Compute the quarter's figures and store them as its snapshot, replacing an earlier one (audited)."""
    now = now or utcnow()
    with refusals_audited(
        session, actor, tag, subjects=[("collection_report", str(quarter))], data={"quarter": str(quarter)}
    ):
        require_builder(actor)
        if quarter > Quarter.current(now):
            raise ReportingError(
                "future_quarter", f"{quarter} has not begun; its report cannot be built yet", quarter=str(quarter)
            )
    payload = collect_quarter(session, quarter, overdue=overdue, now=now)
    digest = payload_sha256(payload)
    report = _find(session, quarter, for_update=True)
    previous = None if report is None else {"built_at": _utc(report.built_at), "sha256": report.payload_sha256}
    if report is None:
        report = CollectionReport(quarter=str(quarter))
        try:
            with session.begin_nested():  # a concurrent first build of the same quarter hits the unique constraint
                _fill(report, actor, payload, digest, now)
                session.add(report)
        except IntegrityError:
            report = _find(session, quarter, for_update=True)
            assert report is not None
            previous = {"built_at": _utc(report.built_at), "sha256": report.payload_sha256}
            _fill(report, actor, payload, digest, now)
    else:
        _fill(report, actor, payload, digest, now)
    session.flush()
    totals = payload["totals"]
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("collection_report", str(quarter))],
        data={
            "quarter": str(quarter),
            "sha256": digest,
            "is_complete": payload["is_complete"],
            "agencies": totals["agencies"],
            "agencies_meeting_rule": totals["agencies_meeting_rule"],
            "replaced": previous,
        },
        at=now,
    )
    return report


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _fill(report: CollectionReport, actor: Actor, payload: dict[str, Any], digest: str, now: dt.datetime) -> None:
    report.payload = payload
    report.payload_sha256 = digest
    report.built_at = now
    report.built_by = actor.name
    report.built_by_id = actor.user_id


@dataclass(frozen=True)
class QuarterlyView:
    """What one viewer may read of a quarter's snapshot."""

    quarter: Quarter
    report: CollectionReport | None  # None: not built yet
    lines: list[dict[str, Any]]
    totals: dict[str, Any] | None  # district totals: the platform office only
    can_build: bool
    # The snapshot's SHA-256, for those who see every agency: it is a digest of every agency's
    # figures, so an agency user could confirm a guess at another agency's line with it.
    fingerprint: str | None = None

    @property
    def payload(self) -> dict[str, Any]:
        return self.report.payload if self.report is not None else {}


def built_quarters(session: Session) -> list[str]:
    """Quarters with a snapshot, newest first (their names only: for the quarter picker)."""
    return list(session.scalars(select(CollectionReport.quarter).order_by(CollectionReport.quarter.desc())))


def read_collection_report(
    session: Session, actor: Actor, *, quarter: Quarter, tag: AuditTag, action: str = "read"
) -> QuarterlyView:
    """The quarter's snapshot as ``actor`` may see it: every line for the platform office, their own otherwise."""
    subjects = [("collection_report", str(quarter))]
    with refusals_audited(session, actor, tag, subjects=subjects, data={"quarter": str(quarter), "action": action}):
        require_reader(actor)
    report = _find(session, quarter)
    lines: list[dict[str, Any]] = []
    totals = None
    if report is not None:
        all_lines = report.payload.get("agencies", [])
        allowed = set(visible_agency_ids(actor, [line["agency_id"] for line in all_lines]))
        lines = [line for line in all_lines if line["agency_id"] in allowed]
        totals = report.payload.get("totals") if sees_every_agency(actor) else None
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[*subjects, *(("agency", line["code"]) for line in lines)],
        data={
            "quarter": str(quarter),
            "action": action,
            "built_at": _utc(report.built_at) if report is not None else None,
            "sha256": report.payload_sha256 if report is not None else None,
            "lines": len(lines),
            "totals": totals is not None,
        },
    )
    everything = sees_every_agency(actor)
    fingerprint = report.payload_sha256 if report is not None and everything else None
    return QuarterlyView(
        quarter=quarter, report=report, lines=lines, totals=totals, can_build=everything, fingerprint=fingerprint
    )


def quarter_for_build_job(now: dt.datetime) -> Quarter:
    """At 02:00 on 1 April the quarter just ended is Q1: the one before the current quarter."""
    return Quarter.current(now).previous
