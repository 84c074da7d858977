"""Text report services: declaring campaigns, submitting files (checked by their bytes), who may do what,
on-behalf submission, the overdue list, and an audit event for every read, write and refusal."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_ingest import reports
from signalhub_ingest.reports import (
    ReportConflict,
    ReportError,
    ReportFileError,
    ReportFileUnavailable,
    ReportForbidden,
    ReportNotFound,
)
from signalhub_platform import workdays
from signalhub_platform.models import Actor, ReportKind, TextReport
from tests.factories import make_agency
from tests.integration.reports import files
from tests.integration.reports.conftest import District, events_after, last_seq

DECLARE = AuditTag.WEB_REPORT_DECLARE
SUBMIT = AuditTag.WEB_REPORT_SUBMIT
LIST = AuditTag.WEB_REPORT_LIST
DOWNLOAD = AuditTag.WEB_REPORT_DOWNLOAD
OVERDUE = AuditTag.WEB_REPORT_OVERDUE
# 10:00 in Beijing on the given day.
BEIJING_MORNING = dt.time(2, 0, tzinfo=dt.UTC)


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, BEIJING_MORNING)


def declare(
    session: Session, district: District, name: str = "食品安全专项整治", end_on: dt.date = dt.date(2025, 9, 26)
):
    return reports.declare_campaign(
        session, Actor.for_user(district.liaison), agency_code="TAX", name=name, end_on=end_on, tag=DECLARE
    )


def submit(session: Session, district: District, actor: Actor | None = None, **kwargs: object) -> TextReport:
    values: dict[str, object] = {"filename": "报告.pdf", "data": files.PDF, "now": at(dt.date(2025, 10, 10))}
    values.update(kwargs)
    return reports.submit_report(
        session,
        actor or Actor.for_user(district.liaison),
        agency_code="TAX",
        storage_dir=district.storage,
        tag=SUBMIT,
        **values,  # type: ignore[arg-type]
    )


# --- declaring ---------------------------------------------------------------------------------


def test_declaring_a_campaign_sets_its_due_date_on_the_official_calendar(
    db_session: Session, district: District
) -> None:
    seq = last_seq(db_session)
    report = declare(db_session, district)
    assert report.kind == ReportKind.SPECIAL_ASSESSMENT
    assert (report.campaign_end_on, report.due_on, report.year) == (dt.date(2025, 9, 26), dt.date(2025, 10, 16), 2025)
    assert report.created_by_id == district.liaison.id and report.submitted_at is None
    [(tag, payload)] = events_after(db_session, seq)
    assert tag == DECLARE
    assert payload["data"] == {"action": "declare", "campaign_end_on": "2025-09-26", "due_on": "2025-10-16"}
    assert ["report", str(report.id)] in payload["subjects"]


def test_the_agency_admin_may_declare_too(db_session: Session, district: District) -> None:
    report = reports.declare_campaign(
        db_session,
        Actor.for_user(district.admin),
        agency_code="TAX",
        name="x",
        end_on=dt.date(2026, 2, 10),
        tag=DECLARE,
    )
    assert report.due_on == dt.date(2026, 3, 2)  # across the Spring Festival


@pytest.mark.parametrize(
    ("who", "error"),
    [("supervisor", ReportForbidden), ("office", ReportForbidden), ("mkt_liaison", ReportNotFound)],
)
def test_only_the_agencys_liaisons_and_admins_declare(
    db_session: Session, district: District, who: str, error: type[ReportError]
) -> None:
    seq = last_seq(db_session)
    with pytest.raises(error):
        reports.declare_campaign(
            db_session,
            Actor.for_user(getattr(district, who)),
            agency_code="TAX",
            name="x",
            end_on=dt.date(2025, 9, 26),
            tag=DECLARE,
        )
    [(tag, payload)] = events_after(db_session, seq)
    assert tag == DECLARE and payload["data"]["refused"] == ("not_found" if error is ReportNotFound else "forbidden")
    assert db_session.query(TextReport).count() == 0


def test_a_campaign_name_is_declared_once_per_year(db_session: Session, district: District) -> None:
    declare(db_session, district)
    with pytest.raises(ReportConflict) as caught:
        declare(db_session, district, name="  食品安全专项整治 ", end_on=dt.date(2025, 12, 1))
    assert caught.value.code == "duplicate_campaign"
    declare(db_session, district, end_on=dt.date(2026, 3, 1))  # the same name another year is another campaign


def test_a_blank_name_is_refused(db_session: Session, district: District) -> None:
    with pytest.raises(ReportError) as caught:
        declare(db_session, district, name=" \t ")
    assert caught.value.code == "name_required"


def test_a_due_date_beyond_the_known_calendar_is_refused_with_its_year(db_session: Session, district: District) -> None:
    last = workdays.supported_years()[-1]
    seq = last_seq(db_session)
    with pytest.raises(ReportError) as caught:
        declare(db_session, district, end_on=dt.date(last, 12, 28))
    assert caught.value.code == "calendar_unavailable" and caught.value.params == {"year": last + 1}
    assert events_after(db_session, seq)[0][1]["data"]["refused"] == "calendar_unavailable"


# --- submitting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data", "content_type"),
    [
        ("专项研判报告.pdf", files.PDF, "application/pdf"),
        ("专项研判报告.DOCX", files.docx(), reports.CONTENT_TYPES[".docx"]),
        ("评估.xlsx", files.xlsx(), reports.CONTENT_TYPES[".xlsx"]),
    ],
)
def test_pdf_docx_and_xlsx_are_accepted_and_stored_by_hash(
    db_session: Session, district: District, filename: str, data: bytes, content_type: str
) -> None:
    report = declare(db_session, district)
    seq = last_seq(db_session)
    submitted = submit(db_session, district, report_id=report.id, filename=filename, data=data)
    sha256 = hashlib.sha256(data).hexdigest()
    extension = filename.lower().rsplit(".", 1)[1]
    assert submitted.id == report.id
    assert submitted.file_path == f"TAX/{sha256}.{extension}"
    assert (district.storage / "TAX" / f"{sha256}.{extension}").read_bytes() == data
    assert (submitted.file_sha256, submitted.file_size, submitted.content_type) == (sha256, len(data), content_type)
    assert submitted.filename == filename
    assert submitted.submitted_at == at(dt.date(2025, 10, 10)) and submitted.submitted_by_id == district.liaison.id
    [(tag, payload)] = events_after(db_session, seq)
    assert tag == SUBMIT
    assert payload["data"] == {
        "action": "submit",
        "kind": "special_assessment",
        "year": 2025,
        "sha256": sha256,
        "size": len(data),
        "content_type": content_type,
        "on_behalf": False,
        "is_late": False,
    }


@pytest.mark.parametrize(
    ("filename", "data", "code", "words"),
    [
        ("报告.pdf", files.EXE, "unknown_type", "not a PDF, DOCX or XLSX"),
        ("setup.exe", files.EXE, "bad_extension", "only PDF, DOCX and XLSX"),
        ("报告.docx", files.plain_zip(), "not_office", "not a Word (DOCX) or Excel (XLSX)"),
        ("报告.xlsx", files.plain_zip(), "not_office", "not a Word (DOCX) or Excel (XLSX)"),
        ("报告.docx", files.traversal_docx(), "unsafe_zip", "'..'"),
        ("报告.docx", files.absolute_docx(), "unsafe_zip", "absolute"),
        ("报告.xlsx", files.macro_xlsx(), "macro", "macros"),
        ("报告.docx", files.PDF, "type_mismatch", "named .docx but its content is PDF"),
        ("报告.xlsx", files.docx(), "type_mismatch", "named .xlsx but its content is DOCX"),
        ("报告.doc", files.PDF, "bad_extension", "only PDF, DOCX and XLSX"),
        ("报告.pdf", b"", "empty_file", "empty"),
        ("报告.docx", b"PK\x03\x04garbage", "unknown_type", "cannot be read"),
    ],
)
def test_anything_else_is_refused_with_a_clear_reason_and_nothing_stored(
    db_session: Session, district: District, filename: str, data: bytes, code: str, words: str
) -> None:
    report = declare(db_session, district)
    seq = last_seq(db_session)
    with pytest.raises(ReportFileError, match=re.escape(words)) as caught:
        submit(db_session, district, report_id=report.id, filename=filename, data=data)
    assert caught.value.code == code
    assert report.submitted_at is None and report.file_sha256 == ""
    assert not district.storage.exists() or not any(district.storage.rglob("*.*"))
    [(tag, payload)] = events_after(db_session, seq)
    assert tag == SUBMIT and payload["data"] == {"action": "submit", "refused": code}


def test_oversize_files_are_refused(db_session: Session, district: District, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "MAX_REPORT_BYTES", len(files.PDF) - 1)
    report = declare(db_session, district)
    with pytest.raises(ReportFileError) as caught:
        submit(db_session, district, report_id=report.id)
    assert caught.value.code == "too_large"


def test_a_report_is_submitted_once(db_session: Session, district: District) -> None:
    report = declare(db_session, district)
    submit(db_session, district, report_id=report.id)
    with pytest.raises(ReportConflict) as caught:
        submit(db_session, district, report_id=report.id, data=files.docx(), filename="second.docx")
    assert caught.value.code == "already_submitted"
    assert report.content_type == "application/pdf"


def test_an_annual_report_creates_its_row_with_the_31_january_due_date(db_session: Session, district: District) -> None:
    seq = last_seq(db_session)
    report = submit(
        db_session,
        district,
        annual_year=2025,
        filename="2025年度风险评估报告.docx",
        data=files.docx(),
        now=at(dt.date(2026, 2, 3)),
    )
    assert (report.kind, report.year, report.due_on, report.campaign_name) == (
        ReportKind.ANNUAL_RISK,
        2025,
        dt.date(2026, 1, 31),
        "",
    )
    [(_, payload)] = events_after(db_session, seq)
    assert payload["data"]["is_late"] is True and payload["data"]["kind"] == "annual_risk"
    with pytest.raises(ReportConflict):
        submit(db_session, district, annual_year=2025, now=at(dt.date(2026, 2, 4)))


def test_annual_years_outside_the_window_are_refused(db_session: Session, district: District) -> None:
    for year in (2022, 2027):
        with pytest.raises(ReportError) as caught:
            submit(db_session, district, annual_year=year, now=at(dt.date(2026, 2, 3)))
        assert caught.value.code == "bad_year" and caught.value.params == {"first": 2023, "last": 2026}


def test_a_special_report_id_of_another_agency_is_not_found(db_session: Session, district: District) -> None:
    report = declare(db_session, district)
    mkt = Actor.for_user(district.mkt_liaison)
    with pytest.raises(ReportNotFound):
        reports.submit_report(
            db_session,
            mkt,
            agency_code="MKT",
            report_id=report.id,
            filename="a.pdf",
            data=files.PDF,
            storage_dir=district.storage,
            tag=SUBMIT,
        )
    assert report.submitted_at is None


@pytest.mark.parametrize(
    ("who", "error"),
    [("supervisor", ReportForbidden), ("office_auditor", ReportForbidden), ("mkt_liaison", ReportNotFound)],
)
def test_only_the_agency_or_the_platform_office_admins_submit(
    db_session: Session, district: District, who: str, error: type[ReportError]
) -> None:
    report = declare(db_session, district)
    with pytest.raises(error):
        submit(db_session, district, Actor.for_user(getattr(district, who)), report_id=report.id)
    assert report.submitted_at is None


def test_the_platform_office_submits_on_behalf_and_it_is_recorded(db_session: Session, district: District) -> None:
    report = declare(db_session, district)
    seq = last_seq(db_session)
    submit(db_session, district, Actor.for_user(district.office), report_id=report.id)
    assert report.submitted_by_id == district.office.id
    assert report.submitted_by is not None and report.submitted_by.agency_id is None  # the office, not TAX
    [(tag, payload)] = events_after(db_session, seq)
    assert tag == SUBMIT and payload["actor"] == district.office.username and payload["agency"] == "platform"
    assert payload["data"]["on_behalf"] is True
    assert ["agency", "TAX"] in payload["subjects"]
    listing = reports.list_reports(
        db_session, Actor.for_user(district.liaison), agency_code="TAX", today=dt.date(2025, 10, 20), tag=LIST
    )
    [item] = [item for item in listing.items if item.report is report]
    assert item.is_on_behalf and item.status == reports.SUBMITTED and not item.is_late


# --- listing and downloading -------------------------------------------------------------------


def test_the_agency_list_shows_status_in_working_days(db_session: Session, district: District) -> None:
    overdue = declare(db_session, district, name="overdue", end_on=dt.date(2025, 9, 26))  # due 2025-10-16
    upcoming = declare(db_session, district, name="upcoming", end_on=dt.date(2025, 10, 31))  # due 2025-11-14
    late = declare(db_session, district, name="late", end_on=dt.date(2025, 9, 1))  # due 2025-09-15
    submit(db_session, district, report_id=late.id, now=at(dt.date(2025, 9, 17)))
    seq = last_seq(db_session)
    listing = reports.list_reports(
        db_session, Actor.for_user(district.supervisor), agency_code="TAX", today=dt.date(2025, 10, 20), tag=LIST
    )
    by_report = {item.report.id: item for item in listing.items if item.report is not None}
    assert (by_report[overdue.id].status, by_report[overdue.id].working_days_overdue) == (reports.OVERDUE, 2)
    assert (by_report[upcoming.id].status, by_report[upcoming.id].working_days_left) == (reports.DUE, 19)
    assert (by_report[late.id].status, by_report[late.id].is_late) == (reports.SUBMITTED, True)
    annual = {item.year: item.status for item in listing.items if item.kind == ReportKind.ANNUAL_RISK}
    # Created in 2020: 2022–2024 are owed (the last three), the 2025 report falls due on 31 January 2026.
    assert annual == {2022: reports.OVERDUE, 2023: reports.OVERDUE, 2024: reports.OVERDUE, 2025: reports.DUE}
    assert not listing.can_declare and not listing.can_submit  # a supervisor reads only
    [(tag, payload)] = events_after(db_session, seq)
    assert tag == LIST and payload["subjects"] == [["agency", "TAX"]]
    assert payload["data"] == {"action": "list", "as_of": "2025-10-20", "reports": 7}


def test_a_due_date_in_an_unpublished_year_shows_as_unknown(db_session: Session, district: District) -> None:
    last = workdays.supported_years()[-1]
    listing = reports.list_reports(
        db_session, Actor.for_user(district.liaison), agency_code="TAX", today=dt.date(last, 11, 27), tag=LIST
    )
    [item] = [item for item in listing.items if item.year == last]
    assert item.status == reports.DUE and item.working_days_left is None and item.calendar_missing_year == last + 1


def test_the_platform_office_lists_any_agency_and_others_see_nothing(db_session: Session, district: District) -> None:
    declare(db_session, district)
    today = dt.date(2025, 10, 20)
    office = reports.list_reports(db_session, Actor.for_user(district.office), agency_code="TAX", today=today, tag=LIST)
    assert office.can_submit and not office.can_declare
    seq = last_seq(db_session)
    for code in ("TAX", "NOPE"):
        with pytest.raises(ReportNotFound):
            reports.list_reports(
                db_session, Actor.for_user(district.mkt_liaison), agency_code=code, today=today, tag=LIST
            )
    assert [payload["data"] for _, payload in events_after(db_session, seq)] == [
        {"action": "list", "refused": "not_found"}
    ] * 2


def test_download_returns_the_stored_file_and_is_audited(db_session: Session, district: District) -> None:
    report = declare(db_session, district)
    submit(db_session, district, report_id=report.id, data=files.docx(), filename="r.docx")
    seq = last_seq(db_session)
    found, path = reports.get_report_file(
        db_session, Actor.for_user(district.supervisor), report_id=report.id, storage_dir=district.storage, tag=DOWNLOAD
    )
    assert found is report and path.read_bytes() == files.docx()
    [(tag, payload)] = events_after(db_session, seq)
    assert tag == DOWNLOAD and payload["data"] == {"action": "download", "sha256": report.file_sha256}


def test_another_agency_cannot_download(db_session: Session, district: District) -> None:
    report = declare(db_session, district)
    submit(db_session, district, report_id=report.id)
    seq = last_seq(db_session)
    with pytest.raises(ReportNotFound):
        reports.get_report_file(
            db_session,
            Actor.for_user(district.mkt_liaison),
            report_id=report.id,
            storage_dir=district.storage,
            tag=DOWNLOAD,
        )
    [(tag, payload)] = events_after(db_session, seq)
    assert tag == DOWNLOAD and payload["data"] == {"action": "download", "refused": "not_found"}


def test_an_altered_file_is_not_handed_out(db_session: Session, district: District) -> None:
    report = declare(db_session, district)
    submit(db_session, district, report_id=report.id)
    (district.storage / report.file_path).write_bytes(files.PDF + b"tampered")
    with pytest.raises(ReportFileUnavailable):
        reports.get_report_file(
            db_session,
            Actor.for_user(district.liaison),
            report_id=report.id,
            storage_dir=district.storage,
            tag=DOWNLOAD,
        )


# --- overdue -----------------------------------------------------------------------------------


@pytest.fixture
def overdue_scene(db_session: Session, district: District) -> dict[str, TextReport]:
    """TAX (since 2020): one special report overdue, one submitted on time, one not yet due; annual 2024 filed.
    MKT (since 2020): everything filed. NEW (since January 2026) and an inactive agency: nothing owed."""
    scene = {
        "overdue": declare(db_session, district, name="overdue", end_on=dt.date(2025, 9, 26)),
        "on_time": declare(db_session, district, name="on time", end_on=dt.date(2025, 9, 26)),
        "not_yet_due": declare(db_session, district, name="not yet due", end_on=dt.date(2026, 1, 26)),
    }
    submit(db_session, district, report_id=scene["on_time"].id, now=at(dt.date(2025, 10, 16)))
    submit(db_session, district, annual_year=2024, now=at(dt.date(2025, 1, 20)))
    mkt = Actor.for_user(district.mkt_liaison)
    for year in (2022, 2023, 2024, 2025):
        reports.submit_report(
            db_session,
            mkt,
            agency_code="MKT",
            annual_year=year,
            filename=f"{year}.pdf",
            data=files.PDF,
            storage_dir=district.storage,
            tag=SUBMIT,
            now=at(dt.date(2026, 1, 30)),
        )
    new = make_agency(db_session, "NEW")
    new.created_at = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    gone = make_agency(db_session, "GONE")
    gone.created_at, gone.is_active = dt.datetime(2020, 1, 1, tzinfo=dt.UTC), False
    db_session.flush()
    return scene


def _overdue(listing: list[reports.AgencyOverdue]) -> dict[str, list[tuple[str, int, str]]]:
    return {
        entry.agency.code: [(item.kind.value, item.year, item.campaign_name) for item in entry.items]
        for entry in listing
        if entry.items
    }


def test_overdue_lists_unsubmitted_special_reports_and_missing_annual_ones(
    db_session: Session, district: District, overdue_scene: dict[str, TextReport]
) -> None:
    listing = reports.overdue_reports(db_session, today=dt.date(2026, 2, 1))
    assert _overdue(listing) == {
        "TAX": [("annual_risk", 2023, ""), ("special_assessment", 2025, "overdue"), ("annual_risk", 2025, "")]
    }  # oldest due first
    [tax] = [entry for entry in listing if entry.agency.code == "TAX"]
    special = tax.items[1]
    assert special.report is overdue_scene["overdue"] and special.due_on == dt.date(2025, 10, 16)
    # 17 October 2025 – 1 February 2026 on the official calendar (New Year's Day off, Sunday 4 January worked).
    assert special.working_days_overdue == reports.working_days_between(dt.date(2025, 10, 16), dt.date(2026, 2, 1))
    assert tax.items[0].report is None and tax.items[0].due_on == dt.date(2024, 1, 31)
    assert {entry.agency.code for entry in listing} == {"MKT", "NEW", "TAX"}  # active agencies only


def test_annual_reports_are_not_overdue_on_31_january(
    db_session: Session, district: District, overdue_scene: dict[str, TextReport]
) -> None:
    assert _overdue(reports.overdue_reports(db_session, today=dt.date(2026, 1, 31))) == {
        "TAX": [("annual_risk", 2022, ""), ("annual_risk", 2023, ""), ("special_assessment", 2025, "overdue")]
    }


def test_at_most_the_last_three_years_are_chased(
    db_session: Session, district: District, overdue_scene: dict[str, TextReport]
) -> None:
    listing = _overdue(reports.overdue_reports(db_session, today=dt.date(2028, 3, 1)))
    # 2025–2027 are chased: TAX's missing 2023 report is no longer listed.
    assert [year for kind, year, _ in listing["TAX"] if kind == "annual_risk"] == [2025, 2026, 2027]
    assert [year for kind, year, _ in listing["MKT"]] == [2026, 2027]
    assert [year for kind, year, _ in listing["NEW"]] == [2026, 2027]  # created in 2026: nothing earlier


def test_the_overdue_list_is_for_the_platform_office_and_audited(
    db_session: Session, district: District, overdue_scene: dict[str, TextReport]
) -> None:
    seq = last_seq(db_session)
    listing = reports.list_overdue_reports(
        db_session, Actor.for_user(district.office), today=dt.date(2026, 2, 1), tag=OVERDUE
    )
    assert "TAX" in _overdue(listing)
    [(tag, payload)] = events_after(db_session, seq)
    assert tag == OVERDUE and payload["subjects"] == [["agency", "TAX"]]
    assert payload["data"] == {"action": "overdue", "as_of": "2026-02-01", "reports": 3}
    for user in (district.liaison, district.admin):
        with pytest.raises(ReportForbidden):
            reports.list_overdue_reports(db_session, Actor.for_user(user), today=dt.date(2026, 2, 1), tag=OVERDUE)
    assert events_after(db_session, seq)[-1][1]["data"] == {"action": "overdue", "refused": "forbidden"}
