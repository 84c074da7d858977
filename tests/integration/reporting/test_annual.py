"""The annual comprehensive risk report: warnings by level and their trend from the events, top
categories, regions and industries, outcomes by stratum, each as far as the viewer may see; and its PDF."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.inspections import outcomes, printable
from signalhub_platform.models import Actor
from signalhub_platform.reporting.access import ReportingForbidden, ReportingNotFound
from signalhub_platform.reporting.annual import AnnualReport, annual_report
from signalhub_platform.reporting.pdf import annual_pdf
from signalhub_warnings.services import visible_warnings_clause
from tests.integration.reporting.annual_scene import Year, at, build_year
from tests.integration.reporting.scene import events_after, last_seq

AFTER_THE_YEAR = at(2027, 2, 1)


@pytest.fixture
def year(db_session: Session, cipher: PersonalDataCipher) -> Year:
    return build_year(db_session, cipher)


def report_for(session: Session, actor: Actor, year: int = 2026) -> AnnualReport:
    return annual_report(
        session,
        actor,
        year=year,
        warnings_visible=visible_warnings_clause,
        outcomes=outcomes.outcome_report,
        tag=AuditTag.WEB_ANNUAL_REPORT_READ,
        now=AFTER_THE_YEAR,
    )


def figures(report: AnnualReport) -> dict[str, tuple[int, ...]]:
    """level -> (reached, opened, escalated, cleared, in force at the end)"""
    return {
        row.level.value: (row.reached, row.opened, row.escalated, row.cleared, row.in_force_at_end)
        for row in report.levels
    }


def test_the_platform_office_counts_every_level_of_every_agency(db_session: Session, year: Year) -> None:
    report = report_for(db_session, Actor.for_user(year.office))
    assert figures(report) == {
        "red": (2, 2, 0, 1, 2),  # W1, W4 reached; W4 cleared; W1 and W5 (raised in 2025) in force
        "orange": (2, 1, 1, 0, 2),  # W2 escalated, W6 raised
        "yellow": (2, 2, 0, 0, 1),  # W2 (before escalating), W3; only W3 still yellow
    }
    assert report.monthly["red"] == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert report.monthly["orange"] == [0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]
    assert report.quarterly == {"red": [2, 0, 0, 0], "orange": [0, 1, 1, 0], "yellow": [1, 1, 0, 0]}
    assert report.scope == "all" and report.is_complete
    # Records: the office sees what is open to members, private records of any agency never.
    assert [(row.category, row.risk, row.penalty) for row in report.categories] == [("投诉举报", 2, 0), ("罚款", 0, 1)]
    assert report.records_total == 3
    assert [(row.key, row.warned_entities, row.records) for row in report.regions] == [
        ("金融街街道", 2, 0),  # W1 on E1 and W5 (raised in 2025, in force in 2026) on E4
        ("月坛街道", 1, 2),
        ("德胜街道", 1, 1),
    ]
    assert [(row.key, row.warned_entities, row.records) for row in report.industries] == [
        ("5231", 2, 3),
        ("6210", 2, 0),
    ]
    assert [(row.stratum, row.targets, row.results, row.hits) for row in report.outcomes] == [
        ("red", 1, 1, 1),
        ("orange", 0, 0, 0),
        ("yellow", 0, 0, 0),
        ("none", 1, 1, 0),
        ("all", 0, 0, 0),
        ("total", 2, 2, 1),
    ]
    assert report.draws == 1  # the 2025 draw is not this year's


def test_an_agency_user_counts_red_and_their_own_yellow_and_orange_only(db_session: Session, year: Year) -> None:
    tax = report_for(db_session, Actor.for_user(year.tax_user))
    assert figures(tax) == {"red": (2, 2, 0, 1, 2), "orange": (2, 1, 1, 0, 2), "yellow": (1, 1, 0, 0, 0)}
    assert tax.scope == "TAX"
    # TAX's own private record counts for TAX; MKT's does not; MKT's yellow on 德胜街道 does not make it warned.
    assert {row.category for row in tax.categories} == {"投诉举报", "欠缴税费", "罚款"}
    assert [(row.key, row.warned_entities, row.records) for row in tax.regions] == [
        ("金融街街道", 2, 1),
        ("月坛街道", 1, 2),
        ("德胜街道", 0, 1),
    ]

    mkt = report_for(db_session, Actor.for_user(year.mkt_user))
    assert figures(mkt) == {"red": (2, 2, 0, 1, 2), "orange": (0, 0, 0, 0, 0), "yellow": (1, 1, 0, 0, 1)}
    assert "欠缴税费" not in {row.category for row in mkt.categories}


def test_the_read_is_audited_and_outsiders_are_refused(db_session: Session, year: Year) -> None:
    seq = last_seq(db_session)
    report_for(db_session, Actor.for_user(year.tax_user))
    [(tag, event)] = events_after(db_session, seq)
    assert tag == "web:annual_report:read"
    assert event["data"]["reached"] == {"red": 2, "orange": 2, "yellow": 1} and event["data"]["scope"] == "TAX"
    assert event["subjects"] == [["annual_report", "2026"]]

    for actor in (Actor.for_user(year.auditor), Actor.public()):
        with pytest.raises(ReportingForbidden):
            report_for(db_session, actor)
    with pytest.raises(ReportingNotFound):
        report_for(db_session, Actor.for_user(year.office), year=2028)


def test_the_pdf_carries_the_chinese_title_and_figures_in_an_embedded_font(db_session: Session, year: Year) -> None:
    report = report_for(db_session, Actor.for_user(year.office))
    data = annual_pdf(report, font_path=printable.font_path(), printable=printable.printable, scope_name="全区")

    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "2026年度综合风险评估报告" in text
    assert "投诉举报" in text and "月坛街道" in text and "红色预警" in text
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            for descendant in font.get_object().get("/DescendantFonts", []):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                assert "/FontFile2" in descriptor  # the TrueType subset is inside the file
