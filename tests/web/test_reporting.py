"""Report pages: the quarterly collection report (build button, own-agency lines, XLSX with escaped
cells), the liaison scorecard and the annual risk report with its PDF; every read is audited."""

from __future__ import annotations

import io
import json

import pytest
from flask import Flask
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import AuditEvent, CollectionReport, Role, User
from signalhub_platform.models.quarters import Quarter
from tests.factories import make_user
from tests.integration.reporting.annual_scene import build_year
from tests.integration.reporting.scene import District, build_district
from tests.web.test_pages import BASE, csrf_of, signed_in


@pytest.fixture
def district(db_session: Session) -> District:
    return build_district(db_session)


def tags_after(session: Session, seq: int) -> list[tuple[str, dict]]:
    rows = session.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq))
    return [(row.tag, json.loads(row.payload)) for row in rows]


def head(session: Session) -> int:
    return max([0, *session.scalars(select(AuditEvent.seq))])


def build_q3(app: Flask, session: Session, district: District) -> None:
    client = signed_in(app, session, district.office)
    token = csrf_of(client.get(f"{BASE}/reporting/quarterly?quarter=2026Q3").get_data(as_text=True))
    response = client.post(f"{BASE}/reporting/quarterly/build", data={"csrf_token": token, "quarter": "2026Q3"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/reporting/quarterly?quarter=2026Q3&done=built")


def test_the_office_builds_the_report_and_sees_every_agency_with_totals(
    app: Flask, db_session: Session, district: District
) -> None:
    client = signed_in(app, db_session, district.office)
    html = client.get(f"{BASE}/reporting/quarterly?quarter=2026Q3").get_data(as_text=True)
    assert "尚未生成" in html and "立即生成通报" in html  # not built yet; the office may build it

    seq = head(db_session)
    build_q3(app, db_session, district)
    html = client.get(f"{BASE}/reporting/quarterly?quarter=2026Q3&done=built").get_data(as_text=True)
    assert all(name in html for name in ("区税务局", "区市场监管局", "区人力社保局"))
    assert "全区合计" in html and "1 / 3 个单位" in html
    assert html.count("未达到") == 2  # MKT and HRSS committed no batch file
    assert "燃气安全专项整治" in html  # TAX's overdue special report
    report = db_session.scalars(select(CollectionReport)).one()
    assert report.payload_sha256 in html
    assert [tag for tag, _ in tags_after(db_session, seq)] == [
        "web:collection_report:read",
        "web:collection_report:build",
        "web:collection_report:read",
    ]


def test_an_agency_user_sees_only_their_line_and_cannot_build(
    app: Flask, db_session: Session, district: District
) -> None:
    build_q3(app, db_session, district)
    client = signed_in(app, db_session, district.mkt_liaison)
    html = client.get(f"{BASE}/reporting/quarterly?quarter=2026Q3").get_data(as_text=True)
    assert "区市场监管局" in html
    assert "区税务局" not in html and "区人力社保局" not in html and '<tr class="total">' not in html
    assert "燃气安全专项整治" not in html and "重新生成" not in html
    token = csrf_of(html)
    response = client.post(f"{BASE}/reporting/quarterly/build", data={"csrf_token": token, "quarter": "2026Q3"})
    assert response.status_code == 403
    [(_, event)] = [
        e for e in tags_after(db_session, 0) if e[0] == "web:collection_report:build" and e[1]["actor"] == "mkt_liaison"
    ]
    assert event["data"]["refused"] == "forbidden"

    workbook = load_workbook(io.BytesIO(client.get(f"{BASE}/reporting/quarterly/2026Q3/export.xlsx").data))
    codes = [row[0] for row in workbook["归集情况"].iter_rows(values_only=True)]
    assert (
        "MKT" in codes
        and "TAX" not in codes
        and "全区合计" not in [row[1] for row in workbook["归集情况"].iter_rows(values_only=True)]
    )


def test_the_build_needs_the_csrf_token(app: Flask, db_session: Session, district: District) -> None:
    client = signed_in(app, db_session, district.office)
    response = client.post(f"{BASE}/reporting/quarterly/build", data={"quarter": "2026Q3"})
    assert response.status_code == 403
    assert db_session.scalars(select(CollectionReport)).first() is None


def test_a_future_or_malformed_quarter_is_explained(app: Flask, db_session: Session, district: District) -> None:
    client = signed_in(app, db_session, district.office)
    token = csrf_of(client.get(f"{BASE}/reporting/quarterly").get_data(as_text=True))
    future = str(Quarter.current().next)
    response = client.post(f"{BASE}/reporting/quarterly/build", data={"csrf_token": token, "quarter": future})
    assert response.status_code == 400 and f"{future} 尚未开始" in response.get_data(as_text=True)
    response = client.get(f"{BASE}/reporting/quarterly?quarter=2026Q9")
    assert response.status_code == 400 and "请选择季度" in response.get_data(as_text=True)
    assert client.get(f"{BASE}/reporting/quarterly/nonsense/export.xlsx").status_code == 404


def test_the_xlsx_escapes_formulas_and_keeps_numbers(app: Flask, db_session: Session, district: District) -> None:
    district.hrss.name = '=HYPERLINK("http://x","y")'
    db_session.commit()
    build_q3(app, db_session, district)
    client = signed_in(app, db_session, district.office)
    seq = head(db_session)
    response = client.get(f"{BASE}/reporting/quarterly/2026Q3/export.xlsx")

    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data))["归集情况"]
    rows = {row[0]: row for row in sheet.iter_rows(values_only=True) if row and row[0] in ("HRSS", "TAX")}
    assert rows["HRSS"][1] == '\'=HYPERLINK("http://x","y")'
    assert rows["TAX"][2:5] == (4, 2, 6)  # risk, penalty, total as numbers
    assert rows["TAX"][11] == 0.6667  # timeliness, a number shown as a percentage
    overdue = list(load_workbook(io.BytesIO(response.data))["逾期文字报告"].iter_rows(values_only=True))
    assert overdue[1][:4] == ("TAX", "区税务局", "专项研判报告", "燃气安全专项整治")
    [(tag, event)] = tags_after(db_session, seq)
    assert tag == "web:collection_report:export" and event["data"]["lines"] == 3


def test_an_export_of_a_report_not_built_is_404(app: Flask, db_session: Session, district: District) -> None:
    assert (
        signed_in(app, db_session, district.office).get(f"{BASE}/reporting/quarterly/2026Q3/export.xlsx").status_code
        == 404
    )


def test_the_scorecard_page(app: Flask, db_session: Session, district: District) -> None:
    html = (
        signed_in(app, db_session, district.tax_supervisor)
        .get(f"{BASE}/reporting/scorecard?year=2026")
        .get_data(as_text=True)
    )
    assert "tax_liaison" in html and "tax_liaison_2" in html and "mkt_liaison" not in html
    assert "18.8%" in html  # 6 of 32 rows rejected
    office = signed_in(app, db_session, district.office).get(f"{BASE}/reporting/scorecard?year=2026")
    assert "mkt_liaison" in office.get_data(as_text=True)
    assert signed_in(app, db_session, district.office).get(f"{BASE}/reporting/scorecard?year=20x6").status_code == 400
    assert [tag for tag, _ in tags_after(db_session, 0) if tag.startswith("web:scorecard")] == [
        "web:scorecard:read",
        "web:scorecard:read",
        "web:scorecard:read",
    ]


def test_the_annual_page_and_its_pdf(app: Flask, db_session: Session, cipher: PersonalDataCipher) -> None:
    year = build_year(db_session, cipher)
    client = signed_in(app, db_session, year.tax_user)
    seq = head(db_session)
    html = client.get(f"{BASE}/reporting/annual/2026").get_data(as_text=True)
    assert "2026年度综合风险评估报告" in html and "月坛街道" in html and "欠缴税费" in html
    assert html.count("<rect ") == 5  # the monthly chart: red in Jan and Mar, yellow in Feb, orange in May and Jul

    response = client.get(f"{BASE}/reporting/annual/2026/report.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "2026年度综合风险评估报告" in text and "Agency TAX" in text  # the viewer's scope under the title
    events = tags_after(db_session, seq)
    assert [tag for tag, _ in events] == ["web:annual_report:read", "web:annual_report:export"]
    assert client.get(f"{BASE}/reporting/annual/2999").status_code == 404


def test_outsiders_get_nothing(app: Flask, db_session: Session, district: District) -> None:
    auditor = signed_in(app, db_session, district.auditor)
    for path in ("/reporting/quarterly", "/reporting/scorecard", "/reporting/annual/2026"):
        assert auditor.get(f"{BASE}{path}").status_code == 403
    anonymous = app.test_client().get(f"{BASE}/reporting/quarterly")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_an_auditor_of_a_member_agency_reads_no_report(app: Flask, db_session: Session, district: District) -> None:
    """An auditor sees no record content beyond the audit log, whether or not the account has an agency."""
    build_q3(app, db_session, district)
    agency_auditor = make_user(db_session, district.tax, Role.AUDITOR, username="tax_auditor")
    client = signed_in(app, db_session, agency_auditor)
    seq = head(db_session)
    for path in ("/reporting/quarterly?quarter=2026Q3", "/reporting/annual/2026", "/reporting/scorecard?year=2026"):
        response = client.get(f"{BASE}{path}")
        assert response.status_code == 403, path
        assert "区税务局" not in response.get_data(as_text=True)
    refused = [(tag, event["data"].get("refused")) for tag, event in tags_after(db_session, seq)]
    assert refused == [
        ("web:collection_report:read", "forbidden"),
        ("web:annual_report:read", "forbidden"),
        ("web:scorecard:read", "forbidden"),
    ]
    # Another role beside the auditor's still reads its own agency's line.
    liaison_and_auditor = make_user(db_session, district.tax, Role.LIAISON, Role.AUDITOR, username="tax_both")
    html = signed_in(app, db_session, liaison_and_auditor).get(f"{BASE}/reporting/quarterly?quarter=2026Q3")
    assert html.status_code == 200 and "区税务局" in html.get_data(as_text=True)


def test_the_fingerprint_is_shown_only_to_those_who_see_every_agency(
    app: Flask, db_session: Session, district: District
) -> None:
    """The SHA-256 covers every agency's figures: with it an agency could confirm a guess at another's line."""
    build_q3(app, db_session, district)
    digest = db_session.scalars(select(CollectionReport)).one().payload_sha256

    def page_and_workbook(user: User) -> tuple[str, list[object]]:
        client = signed_in(app, db_session, user)
        html = client.get(f"{BASE}/reporting/quarterly?quarter=2026Q3").get_data(as_text=True)
        workbook = load_workbook(io.BytesIO(client.get(f"{BASE}/reporting/quarterly/2026Q3/export.xlsx").data))
        return html, [cell for row in workbook["归集情况"].iter_rows(values_only=True) for cell in row]

    office_html, office_cells = page_and_workbook(district.office)
    assert digest in office_html and "指纹" in office_html and digest in office_cells
    for user in (district.mkt_liaison, district.tax_supervisor):
        html, cells = page_and_workbook(user)
        assert digest not in html and "指纹" not in html
        assert digest not in cells and "快照 SHA-256" not in cells
        assert "统计期间" in cells  # the rest of the header is still there
