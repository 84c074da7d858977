"""Text report pages: the agency's list, declaring a campaign, multipart uploads with the CSRF token, downloads
as attachments, on-behalf uploads by the platform office, the overdue page, and 404 for other agencies."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_ingest import reports
from signalhub_platform.models import AuditEvent, ReportKind, Role, TextReport, User
from tests.factories import make_agency, make_user
from tests.integration.reports import files
from tests.web.test_pages import BASE, csrf_of, signed_in


@dataclass
class Scene:
    liaison: User
    supervisor: User
    mkt_liaison: User
    office: User


@pytest.fixture
def scene(db_session: Session) -> Scene:
    tax = make_agency(db_session, "TAX")
    mkt = make_agency(db_session, "MKT")
    return Scene(
        liaison=make_user(db_session, tax, Role.LIAISON),
        supervisor=make_user(db_session, tax, Role.SUPERVISOR),
        mkt_liaison=make_user(db_session, mkt, Role.LIAISON),
        office=make_user(db_session, None, Role.PLATFORM_ADMIN),
    )


def _events(session: Session, tag: AuditTag) -> list[dict]:
    rows = session.scalars(select(AuditEvent).where(AuditEvent.tag == tag.value).order_by(AuditEvent.seq))
    return [json.loads(row.payload) for row in rows]


def _declare(client: FlaskClient, name: str = "燃气安全专项整治", end_on: str = "2025-09-26") -> None:
    token = csrf_of(client.get(f"{BASE}/reports/agencies/TAX").get_data(as_text=True))
    response = client.post(
        f"{BASE}/reports/agencies/TAX/campaigns", data={"csrf_token": token, "name": name, "end_on": end_on}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def _upload(client: FlaskClient, url: str, filename: str, data: bytes, token: str | None = None) -> TestResponse:
    if token is None:
        token = csrf_of(client.get(f"{BASE}/reports/agencies/TAX").get_data(as_text=True))
    return client.post(
        f"{BASE}{url}",
        data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def _special(session: Session) -> TextReport:
    return session.scalars(select(TextReport).where(TextReport.kind == ReportKind.SPECIAL_ASSESSMENT)).one()


def test_the_nav_links_reports_for_liaisons_admins_and_the_office(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    for user, expected in ((scene.liaison, True), (scene.office, True), (scene.supervisor, False)):
        html = signed_in(app, db_session, user).get(f"{BASE}/").get_data(as_text=True)
        assert ('href="/reports/"' in html) is expected


def test_reports_index_sends_each_to_their_page(app: Flask, db_session: Session, scene: Scene) -> None:
    assert (
        signed_in(app, db_session, scene.liaison)
        .get(f"{BASE}/reports/")
        .headers["Location"]
        .endswith("/reports/agencies/TAX")
    )
    assert (
        signed_in(app, db_session, scene.office)
        .get(f"{BASE}/reports/")
        .headers["Location"]
        .endswith("/reports/overdue")
    )


def test_pages_require_login(client: FlaskClient, scene: Scene) -> None:
    response = client.get(f"{BASE}/reports/agencies/TAX")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_liaison_declares_a_campaign_and_sees_its_due_date(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.liaison)
    _declare(client)
    html = client.get(f"{BASE}/reports/agencies/TAX?done=declared").get_data(as_text=True)
    assert "燃气安全专项整治" in html and "2025-10-16" in html  # across 国庆 2025
    assert "已逾期" in html and "专项研判报告" in html  # Chinese by default
    [event] = _events(db_session, AuditTag.WEB_REPORT_DECLARE)
    assert event["actor"] == scene.liaison.username and event["data"]["due_on"] == "2025-10-16"
    assert _events(db_session, AuditTag.WEB_REPORT_LIST)  # the page read is audited


def test_declaring_without_the_csrf_token_changes_nothing(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.liaison)
    response = client.post(f"{BASE}/reports/agencies/TAX/campaigns", data={"name": "x", "end_on": "2025-09-26"})
    assert response.status_code == 403
    assert db_session.scalar(select(func.count()).select_from(TextReport)) == 0


def test_a_bad_end_date_is_explained(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.liaison)
    token = csrf_of(client.get(f"{BASE}/reports/agencies/TAX").get_data(as_text=True))
    response = client.post(
        f"{BASE}/reports/agencies/TAX/campaigns", data={"csrf_token": token, "name": "x", "end_on": "26.9.2025"}
    )
    assert response.status_code == 400
    assert "请按 YYYY-MM-DD 格式填写结束日期" in response.get_data(as_text=True)


def test_upload_then_download_as_an_attachment(
    app: Flask, db_session: Session, scene: Scene, settings: Settings
) -> None:
    client = signed_in(app, db_session, scene.liaison)
    _declare(client)
    report = _special(db_session)
    response = _upload(client, f"/reports/agencies/TAX/{report.id}/file", "燃气专项研判报告.docx", files.docx())
    assert response.status_code == 302
    db_session.refresh(report)
    sha256 = hashlib.sha256(files.docx()).hexdigest()
    assert report.file_sha256 == sha256 and report.submitted_by_id == scene.liaison.id
    assert (settings.instance_dir / "reports" / "TAX" / f"{sha256}.docx").read_bytes() == files.docx()
    html = client.get(f"{BASE}/reports/agencies/TAX?done=submitted").get_data(as_text=True)
    assert "燃气专项研判报告.docx" in html and "已上传" in html

    download = signed_in(app, db_session, scene.supervisor).get(f"{BASE}/reports/{report.id}/file")
    body = download.get_data()
    download.close()  # the streamed file
    assert download.status_code == 200 and body == files.docx()
    assert download.headers["Content-Type"] == report.content_type
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
    [event] = _events(db_session, AuditTag.WEB_REPORT_DOWNLOAD)
    assert event["actor"] == scene.supervisor.username and event["data"]["sha256"] == sha256


def test_a_renamed_exe_is_refused_with_a_clear_message(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.liaison)
    _declare(client)
    report = _special(db_session)
    response = _upload(client, f"/reports/agencies/TAX/{report.id}/file", "报告.pdf", files.EXE)
    assert response.status_code == 400
    assert "该文件的内容都不是 PDF、DOCX 或 XLSX 文档" in response.get_data(as_text=True)
    db_session.refresh(report)
    assert report.submitted_at is None
    assert _events(db_session, AuditTag.WEB_REPORT_SUBMIT)[-1]["data"] == {
        "action": "submit",
        "refused": "unknown_type",
    }


def test_messages_follow_the_chosen_language(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.liaison)
    client.set_cookie("lang", "en", domain="localhost")
    response = _upload(client, "/reports/agencies/TAX/annual/2025/file", "report.docx", files.plain_zip())
    assert response.status_code == 400
    assert "not a Word (DOCX) or Excel (XLSX) document" in response.get_data(as_text=True)


def test_an_annual_report_is_uploaded_by_year(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.liaison)
    year = reports.beijing_today().year  # the current year's report is always accepted
    response = _upload(client, f"/reports/agencies/TAX/annual/{year}/file", "年度风险评估报告.xlsx", files.xlsx())
    assert response.status_code == 302, response.get_data(as_text=True)
    report = db_session.scalars(select(TextReport).where(TextReport.kind == ReportKind.ANNUAL_RISK)).one()
    assert report.year == year and report.filename == "年度风险评估报告.xlsx"


def test_another_agency_gets_404_for_list_upload_and_download(app: Flask, db_session: Session, scene: Scene) -> None:
    owner = signed_in(app, db_session, scene.liaison)
    _declare(owner)
    report = _special(db_session)
    assert _upload(owner, f"/reports/agencies/TAX/{report.id}/file", "r.pdf", files.PDF).status_code == 302

    other = signed_in(app, db_session, scene.mkt_liaison)
    assert other.get(f"{BASE}/reports/agencies/TAX").status_code == 404
    assert other.get(f"{BASE}/reports/{report.id}/file").status_code == 404
    token = csrf_of(other.get(f"{BASE}/reports/agencies/MKT").get_data(as_text=True))
    assert _upload(other, f"/reports/agencies/TAX/{report.id}/file", "x.pdf", files.PDF, token).status_code == 404
    assert _upload(other, f"/reports/agencies/MKT/{report.id}/file", "x.pdf", files.PDF, token).status_code == 404
    assert other.get(f"{BASE}/reports/overdue").status_code == 403
    refused = [event for event in _events(db_session, AuditTag.WEB_REPORT_LIST) if "refused" in event["data"]]
    assert [event["actor"] for event in refused] == [scene.mkt_liaison.username]
    assert _events(db_session, AuditTag.WEB_REPORT_DOWNLOAD)[-1]["data"] == {
        "action": "download",
        "refused": "not_found",
    }


def test_a_supervisor_reads_but_cannot_upload(app: Flask, db_session: Session, scene: Scene) -> None:
    _declare(signed_in(app, db_session, scene.liaison))
    report = _special(db_session)
    client = signed_in(app, db_session, scene.supervisor)
    html = client.get(f"{BASE}/reports/agencies/TAX").get_data(as_text=True)
    assert "燃气安全专项整治" in html and 'enctype="multipart/form-data"' not in html
    assert _upload(client, f"/reports/agencies/TAX/{report.id}/file", "r.pdf", files.PDF).status_code == 403


def test_the_platform_office_uploads_on_behalf(app: Flask, db_session: Session, scene: Scene) -> None:
    _declare(signed_in(app, db_session, scene.liaison))
    report = _special(db_session)
    office = signed_in(app, db_session, scene.office)
    page = office.get(f"{BASE}/reports/agencies/TAX").get_data(as_text=True)
    assert "您正在代该成员单位上传报告" in page
    token = csrf_of(page)
    assert _upload(office, f"/reports/agencies/TAX/{report.id}/file", "代传.pdf", files.PDF, token).status_code == 302
    db_session.refresh(report)
    assert report.submitted_by_id == scene.office.id
    [event] = [e for e in _events(db_session, AuditTag.WEB_REPORT_SUBMIT) if "refused" not in e["data"]]
    assert event["actor"] == scene.office.username and event["data"]["on_behalf"] is True
    html = signed_in(app, db_session, scene.liaison).get(f"{BASE}/reports/agencies/TAX").get_data(as_text=True)
    assert "由联席会办公室代为上传" in html


def test_the_overdue_page_lists_agencies_for_the_office(app: Flask, db_session: Session, scene: Scene) -> None:
    _declare(signed_in(app, db_session, scene.liaison), name="逾期的专项")
    office = signed_in(app, db_session, scene.office)
    response = office.get(f"{BASE}/reports/overdue")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "各成员单位逾期报告" in html and "Agency TAX" in html and "逾期的专项" in html
    assert 'href="/reports/agencies/MKT"' in html  # among the agencies with nothing overdue
    [event] = _events(db_session, AuditTag.WEB_REPORT_OVERDUE)
    assert ["agency", "TAX"] in event["subjects"]
    assert signed_in(app, db_session, scene.liaison).get(f"{BASE}/reports/overdue").status_code == 403
