"""The statistics page, its CSV and XLSX exports and ``GET /api/v1/statistics``: who may read them, the
language, the chart, formula escaping, refusals of bad input, and the audit trail of each read.

The figures themselves are checked against hand-built data in ``tests/integration/statistics``; here
the same scene shows that the page, the exports and the API carry those figures and nothing more.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import AuditEvent
from tests.factories import make_token
from tests.integration.statistics.scene import HYPERLINK, Scene, build_scene
from tests.web.test_pages import BASE, signed_in


@pytest.fixture
def scene(db_session: Session, cipher: PersonalDataCipher) -> Scene:
    return build_scene(db_session, cipher)


def events(session: Session, tag: AuditTag) -> list[dict[str, Any]]:
    rows = session.scalars(select(AuditEvent).where(AuditEvent.tag == tag.value).order_by(AuditEvent.seq))
    return [json.loads(row.payload) for row in rows]


def svg_parts(html: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", html, re.S)


# --- the page ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/statistics", "/statistics/export.csv", "/statistics/export.xlsx"])
def test_anonymous_visitors_are_sent_to_login(client: FlaskClient, path: str) -> None:
    response = client.get(f"{BASE}{path}?dimension=agency")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_the_page_is_chinese_by_default_with_table_and_chart(app: Flask, db_session: Session, scene: Scene) -> None:
    response = signed_in(app, db_session, scene.tax_user).get(f"{BASE}/statistics")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'lang="zh-CN"' in html and "<h1>分类统计</h1>" in html
    assert '<label for="dimension">统计维度</label>' in html and '<label for="quarter_from">起始季度</label>' in html
    table = html[html.index("<table>") : html.index("</table>")]
    assert re.search(r"<th scope=\"row\">德胜街道</th>\s*<td>2</td>", table)
    assert "未登记所属街道" in table  # r4 and r8 have no street
    assert re.search(
        r"<th scope=\"row\">合计</th>.*?<td>6</td><td>2</td><td>3</td><td>0</td><td>1</td><td>4</td>", table, re.S
    )
    records_chart, warnings_chart = svg_parts(html)
    assert 'role="img"' in records_chart and 'aria-labelledby="chart-records-title chart-records-desc"' in records_chart
    assert '<title id="chart-records-title">按所属街道统计的记录数</title>' in records_chart
    assert "<title>德胜街道: 2</title>" in records_chart  # each bar's exact figure
    assert "<title>金融街街道: 2 (红色 1; 橙色 0; 黄色 1)</title>" in warnings_chart
    # The page's CSP allows no inline style or script: the charts must not need them.
    assert all("style" not in svg and "<script" not in svg for svg in (records_chart, warnings_chart))
    [event] = events(db_session, AuditTag.WEB_STATISTICS_READ)
    assert event["data"]["dimension"] == "region" and event["actor"] == scene.tax_user.username


def test_the_page_in_english(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.tax_user)
    client.set_cookie("lang", "en", domain="localhost")
    html = client.get(f"{BASE}/statistics?dimension=quarter&quarter_from=2026Q1").get_data(as_text=True)
    assert 'lang="en"' in html and "<h1>Classified statistics</h1>" in html
    assert '<title id="chart-records-title">Records by Quarter</title>' in html
    assert "2026Q3" in html and "2025Q4" not in html  # before the first quarter asked for
    [xlsx_link] = re.findall(r'href="(/statistics/export\.xlsx\?[^"]*)"', html)
    assert "dimension=quarter" in xlsx_link and "quarter_from=2026Q1" in xlsx_link  # the same table


def test_per_entity_and_per_person_nothing_hidden_and_no_id_number(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    client = signed_in(app, db_session, scene.tax_user)
    by_entity = client.get(f"{BASE}/statistics?dimension=entity").get_data(as_text=True)
    assert f'<a href="/entities/{scene.e1.uscc}">{scene.e1.name}</a>' in by_entity
    assert scene.hidden.name not in by_entity and scene.hidden.uscc not in by_entity  # MKT's private record only
    by_person = client.get(f"{BASE}/statistics?dimension=person").get_data(as_text=True)
    assert "张三" in by_person and scene.p1.id_masked in by_person
    assert scene.p1_id_number not in by_person


def test_the_platform_office_is_told_whose_warnings_it_counts(app: Flask, db_session: Session, scene: Scene) -> None:
    html = signed_in(app, db_session, scene.office).get(f"{BASE}/statistics").get_data(as_text=True)
    assert "预警数包含各成员单位的黄色、橙色预警（仅为数量）。" in html
    # Small cells: each street's orange and yellow come from fewer than 3 entities, so they are
    # withheld, and so are the figures that would give them away; the page says what the marks mean.
    table = html[html.index("<table>") : html.index("</table>")]
    withheld = r"<td>…</td><td>1</td><td>&lt;3</td><td>&lt;3</td><td>…</td>"  # entities, red, orange, yellow, all
    assert re.search(r"<th scope=\"row\">德胜街道</th>\s*<td>2</td>\s*" + withheld, table)
    total_withheld = withheld.replace("<td>1</td>", "<td>3</td>")
    assert re.search(r"<th scope=\"row\">合计</th>.*?<td>5</td>" + total_withheld, table, re.S)
    assert "什刹海街道" not in html  # only MKT's yellow warning there: its row alone would tell
    assert "“&lt;3”：该分组中有此级别预警的市场主体或人员少于 3 个（可能为 0 个）。" in html
    assert "“…”表示据此可推算出被隐藏的数字" in html
    _records_chart, warnings_chart = svg_parts(html)
    assert "德胜街道" not in warnings_chart  # no bar drawn from withheld figures
    client = signed_in(app, db_session, scene.tax_user)  # a member agency: nothing withheld, no note
    tax_html = client.get(f"{BASE}/statistics").get_data(as_text=True)
    assert "&lt;3" not in tax_html and "少于 3 个" not in tax_html


def test_the_office_exports_and_api_carry_the_withheld_figures_as_such(
    client: FlaskClient, app: Flask, db_session: Session, scene: Scene
) -> None:
    office = signed_in(app, db_session, scene.office)
    response = office.get(f"{BASE}/statistics/export.csv")
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[1] == ["德胜街道", "2", "…", "1", "<3", "<3", "…"]
    assert lines[-1] == ["合计", "5", "…", "3", "<3", "<3", "…"]
    workbook = load_workbook(io.BytesIO(office.get(f"{BASE}/statistics/export.xlsx").get_data()))
    sheet, filters = workbook.worksheets
    assert [cell.value for cell in sheet[2]] == ["德胜街道", 2, "…", 1, "<3", "<3", "…"]
    assert [row[0].value for row in filters.iter_rows()] == ["统计维度", "说明"]  # the marks explained
    document = client.get(f"{BASE}/api/v1/statistics", headers=api(make_token(db_session, scene.office))).get_json()
    first = document["rows"][0]
    assert (first["key"], first["red"], first["orange"], first["yellow"]) == ("德胜街道", 1, None, None)
    assert first["warnings"] is None and first["entities_with_warnings"] is None and first["is_suppressed"] is True
    assert document["total"]["is_suppressed"] is True and document["total"]["red"] == 3
    assert "什刹海街道" not in [row["key"] for row in document["rows"]]
    member = client.get(f"{BASE}/api/v1/statistics", headers=api(make_token(db_session, scene.tax_user))).get_json()
    assert not any(row["is_suppressed"] for row in [*member["rows"], member["total"]])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("quarter_from=2026Q5", "请按 2026Q3 的格式填写季度。"),
        ("quarter_from=2026Q1&date_to=2026-05-01", "请填写日期范围或季度范围，不要同时填写。"),
        ("date_from=2026-05-01&date_to=2026-04-01", "起始日期晚于截止日期。"),
        ("dimension=colour", "请选择统计维度。"),
        ("kind=penalty&risk_level=high", "处罚类记录没有风险等级。"),
        ("limit=0", "最多行数须为 1 至 10000 之间的数字。"),
        ("regoin=x", "无法识别的筛选条件：regoin。"),
        ("agency=NOPE", "没有该代码的成员单位。"),
    ],
)
def test_bad_filters_are_refused_with_a_clear_message(
    app: Flask, db_session: Session, scene: Scene, query: str, message: str
) -> None:
    response = signed_in(app, db_session, scene.tax_user).get(f"{BASE}/statistics?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html and "<table>" not in html


def test_an_auditor_may_not_read_statistics(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.auditor)
    assert client.get(f"{BASE}/statistics").status_code == 403
    assert client.get(f"{BASE}/statistics/export.csv").status_code == 403
    assert [e["data"]["refused"] for e in events(db_session, AuditTag.WEB_STATISTICS_READ)] == ["not_permitted"]


# --- exports -------------------------------------------------------------------------------------------


def test_the_csv_export_is_the_table_with_formulas_escaped_and_is_audited(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    response = signed_in(app, db_session, scene.tax_user).get(f"{BASE}/statistics/export.csv?dimension=category")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="statistics-category-' in response.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0] == ["归集内容", "记录数", "有预警的市场主体数", "红色", "橙色", "黄色", "预警合计"]
    assert lines[1:] == [
        ["complaint", "3", "", "", "", "", ""],
        ["'" + HYPERLINK, "1", "", "", "", "", ""],  # text, not a formula, in a spreadsheet
        ["bad_credit", "1", "", "", "", "", ""],
        ["licence", "1", "", "", "", "", ""],
        ["合计", "6", "2", "3", "0", "1", "4"],
    ]
    [event] = events(db_session, AuditTag.WEB_STATISTICS_EXPORT)
    assert event["data"]["format"] == "csv" and event["data"]["dimension"] == "category"


def test_the_xlsx_export_keeps_numbers_and_escapes_text(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.tax_user)
    response = client.get(f"{BASE}/statistics/export.xlsx?dimension=person&region=&date_to=2026-12-31")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.get_data()))
    sheet, filters = workbook.worksheets
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == [
        "涉及人员",
        "身份证号码（已脱敏）",
        "记录数",
        "有预警的市场主体数",
        "红色",
        "橙色",
        "黄色",
        "预警合计",
    ]
    assert values[1] == ["未涉及人员", None, 5, 2, 2, 0, 1, 3]
    assert values[2] == ["张三", scene.p1.id_masked, 1, 0, 1, 0, 0, 1]
    assert values[3] == ["合计", None, 6, 2, 3, 0, 1, 4]
    assert scene.p1_id_number not in [cell for row in values for cell in row]
    assert [[cell.value for cell in row] for row in filters.iter_rows()] == [
        ["统计维度", "涉及人员"],
        ["截止日期", "2026-12-31"],
    ]
    by_category = client.get(f"{BASE}/statistics/export.xlsx?dimension=category")
    cells = [cell.value for row in load_workbook(io.BytesIO(by_category.get_data())).worksheets[0].iter_rows()
             for cell in row]  # fmt: skip
    assert "'" + HYPERLINK in cells and HYPERLINK not in cells
    assert [e["data"]["format"] for e in events(db_session, AuditTag.WEB_STATISTICS_EXPORT)] == ["xlsx", "xlsx"]


def test_an_export_with_bad_filters_is_refused(app: Flask, db_session: Session, scene: Scene) -> None:
    response = signed_in(app, db_session, scene.tax_user).get(f"{BASE}/statistics/export.csv?quarter_to=2026")
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert events(db_session, AuditTag.WEB_STATISTICS_EXPORT) == []


# --- the JSON API --------------------------------------------------------------------------------------


def api(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_api_answers_the_same_figures_and_is_audited(
    client: FlaskClient, db_session: Session, scene: Scene
) -> None:
    headers = api(make_token(db_session, scene.tax_user))
    response = client.get(f"{BASE}/api/v1/statistics?dimension=agency&quarter_to=2026Q2", headers=headers)
    assert response.status_code == 200
    document = response.get_json()
    assert document["dimension"] == "agency"
    assert document["filters"] == {"date_to": "2026-06-30"}
    assert [(r["key"], r["records"], r["red"], r["yellow"]) for r in document["rows"]] == [
        (scene.tax.code, 3, 0, 1),  # r1, r2, r3; w2
        (scene.mkt.code, 2, 0, 0),  # r5, r8
        (None, 0, 2, 0),  # w1, w6 (w5 was raised on 1 July)
    ]
    assert document["total"]["warnings"] == 3 and document["is_truncated"] is False
    last_quarter = client.get(f"{BASE}/api/v1/statistics?quarter_from=2025Q4&quarter_to=2025Q4", headers=headers)
    assert last_quarter.get_json()["filters"] == {"date_from": "2025-10-01", "date_to": "2025-12-31"}
    assert last_quarter.get_json()["total"]["records"] == 1  # r8, on 30 December
    event = events(db_session, AuditTag.API_STATISTICS_READ)[0]
    assert event["data"]["filters"] == {"date_to": "2026-06-30"} and event["data"]["dimension"] == "agency"


def test_the_api_refuses_bad_input_with_the_reason(client: FlaskClient, db_session: Session, scene: Scene) -> None:
    headers = api(make_token(db_session, scene.tax_user))
    bad = client.get(f"{BASE}/api/v1/statistics?dimension=colour&limit=x", headers=headers)
    assert bad.status_code == 400
    assert bad.get_json()["error"]["details"] == {
        "dimension": ["Must be one of: region, industry, entity, person, category, agency, quarter."],
        "limit": ["Not a valid integer."],
    }
    unknown = client.get(f"{BASE}/api/v1/statistics?agency=NOPE", headers=headers)
    assert unknown.status_code == 400 and unknown.get_json()["error"]["details"] == {"reason": "unknown_agency"}
    auditor = client.get(f"{BASE}/api/v1/statistics", headers=api(make_token(db_session, scene.auditor)))
    assert auditor.status_code == 403
    assert client.get(f"{BASE}/api/v1/statistics").status_code == 401


def exercise_statistics_api(session: Session, cipher: PersonalDataCipher, call: Callable[..., Any]) -> None:
    """Reach each documented status of ``GET /api/v1/statistics`` (for the OpenAPI conformance test)."""
    scene = build_scene(session, cipher, prefix="STAT")
    path = "/api/v1/statistics"
    member, auditor = api(make_token(session, scene.tax_user)), api(make_token(session, scene.auditor))
    for dimension in ("region", "entity", "person", "category", "agency", "quarter"):
        call("get", path, f"{path}?dimension={dimension}&quarter_from=2026Q1", headers=member)
    office = api(make_token(session, scene.office))
    for dimension in ("region", "category", "agency"):  # small cells withheld: null and is_suppressed
        call("get", path, f"{path}?dimension={dimension}", headers=office)
    call("get", path, f"{path}?date_from=2026-13-01", headers=member)  # 400
    call("get", path, f"{path}?agency=NOPE", headers=member)  # 400
    call("get", path, path, headers=auditor)  # 403
