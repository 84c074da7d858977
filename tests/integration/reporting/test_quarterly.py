"""The quarterly collection report (每季度通报): figures equal the hand-built district, the snapshot
holds still until rebuilt, and each viewer reads only what they may."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_ingest.reports import overdue_reports
from signalhub_platform.models import Actor, BatchState, CollectionReport
from signalhub_platform.models.quarters import Quarter
from signalhub_platform.reporting.access import ReportingError, ReportingForbidden
from signalhub_platform.reporting.quarterly import build_collection_report, is_batch_on_time, read_collection_report
from tests.integration.reporting.scene import Q3_DONE, District, beijing, events_after, last_seq, make_batch

Q3 = Quarter(2026, 3)


def build(session: Session, actor: Actor | None = None, *, now: dt.datetime = Q3_DONE) -> CollectionReport:
    return build_collection_report(
        session,
        actor or Actor.cli(),
        quarter=Q3,
        overdue=overdue_reports,
        tag=AuditTag.CLI_COLLECTION_REPORT_BUILD,
        now=now,
    )


def lines_by_code(report: CollectionReport) -> dict[str, dict]:
    return {line["code"]: line for line in report.payload["agencies"]}


def test_the_quarter_figures_equal_the_hand_built_data(db_session: Session, district: District) -> None:
    report = build(db_session)
    lines = lines_by_code(report)

    tax = lines["TAX"]
    assert tax["records_received"] == {"risk": 4, "penalty": 2}  # 23:59 on 30 Sept counts, Q2 and Q4 do not
    assert (tax["corrections"], tax["withdrawals"]) == (1, 1)
    assert tax["correction_rate"] == pytest.approx(2 / 6, abs=1e-4)
    assert (tax["batches_committed"], tax["batches_on_time"], tax["batches_late"]) == (3, 2, 1)
    assert tax["timeliness"] == pytest.approx(2 / 3, abs=1e-4)
    assert tax["rule_met"] is True
    assert (tax["rows_uploaded"], tax["rows_rejected"]) == (25, 6)  # the invalid upload's 4 rows are rejected
    assert tax["rejection_rate"] == pytest.approx(6 / 25, abs=1e-4)
    [overdue] = tax["overdue_reports"]
    assert (overdue["kind"], overdue["campaign_name"], overdue["due_on"]) == (
        "special_assessment",
        "燃气安全专项整治",
        "2026-07-24",
    )

    mkt = lines["MKT"]  # a form record is not a batch: the rule is not met
    assert mkt["records_received"] == {"risk": 1, "penalty": 0}
    assert (mkt["batches_committed"], mkt["rule_met"], mkt["rejection_rate"]) == (0, False, None)
    assert mkt["correction_rate"] == 0.0

    hrss = lines["HRSS"]  # nothing at all: flagged, and no rate can be computed
    assert hrss["rule_met"] is False and hrss["records_total"] == 0
    assert (hrss["timeliness"], hrss["rejection_rate"], hrss["correction_rate"]) == (None, None, None)

    totals = report.payload["totals"]
    assert (totals["agencies"], totals["agencies_meeting_rule"]) == (3, 1)
    assert totals["records_received"] == {"risk": 5, "penalty": 2}
    assert (totals["rows_uploaded"], totals["rows_rejected"], totals["overdue_report_count"]) == (25, 6, 1)
    assert (totals["batches_committed"], totals["batches_late"], totals["timeliness"]) == (3, 1, 0.6667)
    assert totals["correction_rate"] == pytest.approx(2 / 7, abs=1e-4)
    assert report.payload["is_complete"] is True
    assert (report.payload["starts_on"], report.payload["ends_on"]) == ("2026-07-01", "2026-09-30")
    assert report.payload["batches_due_on"] == "2026-10-31"


def test_the_snapshot_holds_still_until_it_is_rebuilt(db_session: Session, district: District) -> None:
    first = build(db_session)
    first_sha, first_built = first.payload_sha256, first.built_at
    # MKT commits a batch file dated inside Q3 after the report was built (e.g. a late correction of the data).
    make_batch(db_session, district.mkt, uploader=district.mkt_liaison, period="2026Q3",
               created_at=beijing(2026, 9, 29), committed_at=beijing(2026, 9, 29, 11), rows=3, valid=3)  # fmt: skip
    db_session.commit()

    view = read_collection_report(db_session, Actor.cli(), quarter=Q3, tag=AuditTag.WEB_COLLECTION_REPORT_READ)
    assert {line["code"]: line["rule_met"] for line in view.lines}["MKT"] is False
    assert view.report is not None and view.report.payload_sha256 == first_sha

    seq = last_seq(db_session)
    rebuilt = build(db_session, now=Q3_DONE + dt.timedelta(days=3))
    assert lines_by_code(rebuilt)["MKT"]["rule_met"] is True
    assert rebuilt.built_at > first_built and rebuilt.payload_sha256 != first_sha
    assert db_session.scalar(select(func.count()).select_from(CollectionReport)) == 1
    [(tag, event)] = events_after(db_session, seq)
    assert tag == "cli:collection_report:build"
    assert event["data"]["replaced"] == {"built_at": first_built.astimezone(dt.UTC).isoformat(), "sha256": first_sha}
    assert event["data"]["sha256"] == rebuilt.payload_sha256


def test_a_build_during_the_quarter_is_marked_provisional(db_session: Session, district: District) -> None:
    report = build(db_session, now=beijing(2026, 9, 15))
    assert report.payload["is_complete"] is False
    assert report.payload["overdue_as_of"] == "2026-09-15"
    assert report.built_at == beijing(2026, 9, 15)


def test_a_quarter_that_has_not_begun_is_refused_and_audited(db_session: Session, district: District) -> None:
    seq = last_seq(db_session)
    with pytest.raises(ReportingError) as refused:
        build_collection_report(
            db_session, Actor.cli(), quarter=Quarter(2026, 4), overdue=overdue_reports,
            tag=AuditTag.CLI_COLLECTION_REPORT_BUILD, now=beijing(2026, 9, 15),
        )  # fmt: skip
    assert refused.value.code == "future_quarter"
    assert [(tag, event["data"]["refused"]) for tag, event in events_after(db_session, seq)] == [
        ("cli:collection_report:build", "future_quarter")
    ]
    assert db_session.scalar(select(func.count()).select_from(CollectionReport)) == 0


def test_only_the_platform_office_builds(db_session: Session, district: District) -> None:
    for user in (district.tax_liaison, district.auditor):
        with pytest.raises(ReportingForbidden):
            build(db_session, Actor.for_user(user))
    report = build(db_session, Actor.for_user(district.office))
    assert report.built_by == "office" and report.built_by_id == district.office.id


def test_an_agency_user_reads_only_their_own_line(db_session: Session, district: District) -> None:
    build(db_session)
    seq = last_seq(db_session)

    view = read_collection_report(
        db_session, Actor.for_user(district.mkt_liaison), quarter=Q3, tag=AuditTag.WEB_COLLECTION_REPORT_READ
    )
    assert [line["code"] for line in view.lines] == ["MKT"]
    assert view.totals is None and not view.can_build  # totals would give away the others' private counts

    office = read_collection_report(
        db_session, Actor.for_user(district.office), quarter=Q3, tag=AuditTag.WEB_COLLECTION_REPORT_READ
    )
    assert [line["code"] for line in office.lines] == ["HRSS", "MKT", "TAX"]
    assert office.totals is not None and office.can_build

    with pytest.raises(ReportingForbidden):
        read_collection_report(
            db_session, Actor.for_user(district.auditor), quarter=Q3, tag=AuditTag.WEB_COLLECTION_REPORT_READ
        )
    events = events_after(db_session, seq)
    assert [(tag, event["actor"], event["data"]["lines"]) for tag, event in events[:2]] == [
        ("web:collection_report:read", "mkt_liaison", 1),
        ("web:collection_report:read", "office", 3),
    ]
    assert events[2][1]["data"]["refused"] == "forbidden"


def test_a_quarter_not_built_reads_as_missing(db_session: Session, district: District) -> None:
    view = read_collection_report(db_session, Actor.cli(), quarter=Q3, tag=AuditTag.WEB_COLLECTION_REPORT_READ)
    assert view.report is None and view.lines == []


def test_failed_and_unvalidated_uploads_send_no_rows(db_session: Session, district: District) -> None:
    for state in (BatchState.FAILED, BatchState.UPLOADED):
        make_batch(db_session, district.hrss, uploader=district.hrss_liaison, period="2026Q3",
                   created_at=beijing(2026, 8, 2), state=state, rows=50, valid=0)  # fmt: skip
    hrss = lines_by_code(build(db_session))["HRSS"]
    assert (hrss["rows_uploaded"], hrss["rows_rejected"], hrss["rule_met"]) == (0, 0, False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026Q3", Quarter(2026, 3)), (" 2026q1 ", Quarter(2026, 1)), ("2026 Q4", Quarter(2026, 4))],
)
def test_quarters_parse(text: str, expected: Quarter) -> None:
    assert Quarter.parse(text) == expected


@pytest.mark.parametrize("text", ["2026Q5", "2026-3", "Q3", "", "1999Q1"])
def test_bad_quarters_are_refused_with_a_message(text: str) -> None:
    with pytest.raises(ValueError, match=r"2026Q3|year"):
        Quarter.parse(text)


@pytest.mark.parametrize(
    ("period", "committed_at", "on_time"),
    [
        ("2026Q2", beijing(2026, 7, 31, 23, 59), True),  # the last minute of the month after the quarter
        ("2026Q2", beijing(2026, 8, 1, 0, 0), False),
        ("2026Q3", beijing(2026, 8, 1), True),  # early is on time
        ("2026Q4", beijing(2027, 1, 31), True),  # Q4's batches are due by 31 January of the next year
        ("2026Q4", beijing(2027, 2, 1), False),
    ],
)
def test_a_batch_is_due_by_the_end_of_the_month_after_its_quarter(
    period: str, committed_at: dt.datetime, on_time: bool
) -> None:
    assert is_batch_on_time(period, committed_at) is on_time


def test_quarter_bounds_follow_beijing_time() -> None:
    q3 = Quarter(2026, 3)
    assert q3.start_at == dt.datetime(2026, 6, 30, 16, 0, tzinfo=dt.UTC)
    assert q3.end_at == dt.datetime(2026, 9, 30, 16, 0, tzinfo=dt.UTC)
    assert (q3.previous, q3.next, Quarter(2026, 1).previous) == (Quarter(2026, 2), Quarter(2026, 4), Quarter(2025, 4))
    assert Quarter.current(dt.datetime(2026, 9, 30, 16, 30, tzinfo=dt.UTC)) == Quarter(2026, 4)
