"""The liaison data-quality scorecard: per uploader, from the hand-built district, within the viewer's agency."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.models import Actor
from signalhub_platform.models.quarters import Quarter
from signalhub_platform.reporting.access import ReportingForbidden, ReportingNotFound
from signalhub_platform.reporting.scorecard import Scorecard, liaison_scorecard
from tests.integration.reporting.scene import District, beijing, events_after, last_seq, make_batch

YEAR_END = beijing(2026, 12, 31, 12)


def card(session: Session, actor: Actor, year: int = 2026) -> Scorecard:
    return liaison_scorecard(session, actor, year=year, tag=AuditTag.WEB_SCORECARD_READ, now=YEAR_END)


def test_each_uploader_is_scored_from_their_own_batches_and_corrections(
    db_session: Session, district: District
) -> None:
    make_batch(db_session, district.hrss, uploader=district.office, period="2026Q2", created_at=beijing(2026, 5, 5),
               committed_at=beijing(2026, 5, 6), rows=20, valid=19)  # fmt: skip
    scorecard = card(db_session, Actor.for_user(district.office))

    lines = {(line.agency_code, line.username): line for line in scorecard.lines}
    assert list(lines) == [
        ("HRSS", "hrss_liaison"),
        ("HRSS", "office"),  # on the agency's behalf
        ("MKT", "mkt_liaison"),
        ("TAX", "tax_liaison"),
        ("TAX", "tax_liaison_2"),
    ]
    tax = lines[("TAX", "tax_liaison")]
    assert (tax.batches, tax.batches_committed, tax.rows_uploaded, tax.rows_rejected) == (5, 4, 32, 6)
    assert tax.rejection_rate == pytest.approx(6 / 32, abs=1e-4)
    assert (tax.corrections, tax.withdrawals) == (1, 1)
    # On time in Q3 (and late there too, for Q2 in September) and in Q4 (for Q3 on 1 October).
    assert tax.on_time == {Quarter(2026, 3), Quarter(2026, 4)} and tax.is_liaison

    idle = lines[("TAX", "tax_liaison_2")]
    assert (idle.batches, idle.rows_uploaded, idle.rejection_rate, idle.on_time_quarters) == (0, 0, None, 0)
    office = lines[("HRSS", "office")]
    assert (office.batches, office.rows_rejected, office.on_time, office.is_liaison) == (
        1,
        1,
        {Quarter(2026, 2)},
        False,
    )
    assert lines[("MKT", "mkt_liaison")].batches == 0  # the form record's envelope is not a batch file
    assert len(scorecard.quarters) == 4 and scorecard.is_all_agencies


def test_an_agency_user_sees_only_their_agency_and_the_read_is_audited(db_session: Session, district: District) -> None:
    seq = last_seq(db_session)
    scorecard = card(db_session, Actor.for_user(district.tax_supervisor))
    assert {line.agency_code for line in scorecard.lines} == {"TAX"}
    assert not scorecard.is_all_agencies
    [(tag, event)] = events_after(db_session, seq)
    assert tag == "web:scorecard:read" and event["data"] == {"year": 2026, "lines": 2, "all_agencies": False}


def test_a_year_not_begun_and_outsiders_are_refused(db_session: Session, district: District) -> None:
    with pytest.raises(ReportingNotFound):
        card(db_session, Actor.for_user(district.office), year=2027)
    with pytest.raises(ReportingForbidden):
        card(db_session, Actor.for_user(district.auditor))
    with pytest.raises(ReportingForbidden):
        card(db_session, Actor.public())


def test_quarters_elapsed_count_only_begun_quarters(db_session: Session, district: District) -> None:
    scorecard = liaison_scorecard(
        db_session, Actor.for_user(district.office), year=2026, tag=AuditTag.WEB_SCORECARD_READ,
        now=beijing(2026, 8, 1),
    )  # fmt: skip
    assert scorecard.quarters == [Quarter(2026, 1), Quarter(2026, 2), Quarter(2026, 3)]
