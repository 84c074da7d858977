"""Single records through ``POST /api/v1/records`` and the form at ``/records/new`` (issue 3, point 6).

Both go through ``RecordInputSchema`` (the batch rules) and the same merge as a batch row, so a
second record with a used ``source_ref`` and other content becomes version 2.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_platform.models import AuditEvent, Batch, Record, Role
from tests.factories import make_agency, make_id_number, make_token, make_uscc, make_user
from tests.web.test_pages import BASE, csrf_of, signed_in

NONSTANDARD_USCC = "91350211M0000XUF46"


def body(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "department": "D1",
        "kind": "risk",
        "risk_level": "high",
        "openness": "shared",
        "uscc": make_uscc(777),
        "entity_name": "北京华鑫商贸有限公司",
        "category": "食品安全",
        "description": "抽检不合格",
        "occurred_on": "2026-03-01",
        "source_ref": "API-0001",
    }
    values.update(changes)
    return values


@pytest.fixture
def scene(db_session: Session) -> dict[str, Any]:
    tax = make_agency(db_session, "TAX")
    liaison = make_user(db_session, tax, Role.LIAISON)
    return {
        "tax": tax,
        "liaison": liaison,
        "token": make_token(db_session, liaison),
        "supervisor_token": make_token(db_session, make_user(db_session, tax, Role.SUPERVISOR)),
        "office": make_user(db_session, None, Role.PLATFORM_ADMIN),
    }


def post(client: FlaskClient, token: str, payload: object, query: str = "") -> Any:
    return client.post(f"{BASE}/api/v1/records{query}", json=payload, headers={"Authorization": f"Bearer {token}"})


def events(session: Session, tag: str) -> list[dict[str, Any]]:
    payloads = session.scalars(select(AuditEvent.payload).where(AuditEvent.tag == tag).order_by(AuditEvent.seq))
    return [json.loads(payload) for payload in payloads]


# --- the API -----------------------------------------------------------------------------------------


def test_api_creates_a_record_and_a_new_version(client: FlaskClient, db_session: Session, scene: dict) -> None:
    first = post(client, scene["token"], body())
    assert first.status_code == 201
    document = first.get_json()
    record = document["record"]
    assert (record["version"], record["source"], record["kind"], record["risk_level"]) == (1, "api", "risk", "high")
    assert record["uscc"] == make_uscc(777) and record["agency"] == "TAX"
    assert first.headers["Location"].endswith(f"/api/v1/records/{record['id']}")
    assert len(events(db_session, "api:record:create")) == 1

    second = post(client, scene["token"], body(description="复查仍不合格"))
    assert second.status_code == 201
    newer = second.get_json()
    assert newer["record"]["version"] == 2 and newer["record"]["supersedes_id"] == record["id"]
    assert [v["version"] for v in newer["history"]] == [1, 2]
    current = db_session.scalars(select(Record).where(Record.source_ref == "API-0001", Record.is_current)).all()
    assert len(current) == 1 and current[0].description == "复查仍不合格"


def test_api_refuses_an_invalid_record_in_both_languages(client: FlaskClient, db_session: Session, scene: dict) -> None:
    bad_uscc = make_uscc(777)[:17] + ("0" if make_uscc(777)[17] != "0" else "1")
    response = post(client, scene["token"], body(uscc=bad_uscc, category="", risk_level=None, department="X9"))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == 400
    by_column = {detail["column"]: detail for detail in error["details"]}
    assert set(by_column) == {"uscc", "category", "risk_level", "department"}
    assert "校验位" in by_column["uscc"]["message_zh"] and "check character" in by_column["uscc"]["message_en"]
    assert by_column["category"]["message_zh"] == "归集内容不能为空"
    assert db_session.scalar(select(Record.id)) is None


def test_api_refuses_unknown_keys_and_non_objects(client: FlaskClient, scene: dict) -> None:
    unknown = post(client, scene["token"], body(colour="red"))
    assert unknown.status_code == 400
    (detail,) = unknown.get_json()["error"]["details"]
    assert detail["column"] == "colour" and "未知字段" in detail["message_zh"]
    assert post(client, scene["token"], ["not", "an", "object"]).status_code == 400


def test_api_nonstandard_credit_code_needs_confirmation(client: FlaskClient, db_session: Session, scene: dict) -> None:
    unconfirmed = post(client, scene["token"], body(uscc=NONSTANDARD_USCC))
    assert unconfirmed.status_code == 409
    assert unconfirmed.get_json()["error"]["details"][0]["column"] == "uscc"
    assert db_session.scalar(select(Record.id)) is None
    confirmed = post(client, scene["token"], body(uscc=NONSTANDARD_USCC), "?confirm_nonstandard=1")
    assert confirmed.status_code == 201
    (event,) = events(db_session, "api:record:create")
    assert event["data"]["confirmed_nonstandard"] is True
    record = db_session.get(Record, confirmed.get_json()["record"]["id"])
    assert record is not None
    envelope = db_session.get(Batch, record.batch_id)
    assert envelope is not None and envelope.nonstandard_confirmed_by_id == scene["liaison"].id


def test_api_records_need_an_ingest_role_and_the_own_agency(
    client: FlaskClient, db_session: Session, scene: dict
) -> None:
    assert post(client, scene["supervisor_token"], body()).status_code == 403
    other = make_agency(db_session, "MKT")
    mkt_token = make_token(db_session, make_user(db_session, other, Role.LIAISON))
    # An agency user's ?agency= is ignored: the record goes to the user's own agency (or nowhere).
    response = post(client, mkt_token, body(), "?agency=TAX")
    assert response.status_code == 201 and response.get_json()["record"]["agency"] == "MKT"
    assert client.post(f"{BASE}/api/v1/records", json=body()).status_code == 401


def test_the_platform_office_creates_a_record_on_behalf(client: FlaskClient, db_session: Session, scene: dict) -> None:
    token = make_token(db_session, scene["office"])
    assert post(client, token, body()).status_code == 400  # which agency?
    response = post(client, token, body(), "?agency=TAX")
    assert response.status_code == 201
    record = db_session.get(Record, response.get_json()["record"]["id"])
    assert record is not None and record.agency_id == scene["tax"].id
    batch = db_session.get(Batch, record.batch_id)
    assert batch is not None and batch.is_on_behalf
    assert events(db_session, "api:record:create")[0]["data"]["on_behalf"] is True


def test_a_person_record_never_shows_the_id_number(client: FlaskClient, db_session: Session, scene: dict) -> None:
    id_number = make_id_number()
    response = post(client, scene["token"], body(uscc=None, person_name="张三", person_id_number=id_number))
    assert response.status_code == 201
    text = response.get_data(as_text=True)
    assert id_number not in text
    assert response.get_json()["record"]["person"]["name"] == "张三"


# --- the form ---------------------------------------------------------------------------------------


def form_fields(**changes: str) -> dict[str, str]:
    values = {key: "" if value is None else str(value) for key, value in body().items()}
    values.update(changes)
    return values


def test_form_shows_the_template_fields_with_the_seed_terms(app: Flask, db_session: Session, scene: dict) -> None:
    web = signed_in(app, db_session, scene["liaison"])
    page = web.get(f"{BASE}/records/new").get_data(as_text=True)
    for label in (
        "部门",
        "信息类型",
        "风险等级",
        "开放类别",
        "统一社会信用代码",
        "负责人身份证号",
        "归集内容",
        "本单位编号",
    ):
        assert label in page
    assert '<select id="kind" name="kind"' in page and '<option value="shared"' in page and "有条件开放" in page
    assert '<option value="D1"' in page and "Department 1" in page


def test_form_creates_a_record_and_redirects_to_it(app: Flask, db_session: Session, scene: dict) -> None:
    web = signed_in(app, db_session, scene["liaison"])
    token = csrf_of(web.get(f"{BASE}/records/new").get_data(as_text=True))
    response = web.post(f"{BASE}/records/new", data={"csrf_token": token, **form_fields()})
    assert response.status_code == 302
    record_id = db_session.scalar(select(Record.id).where(Record.source_ref == "API-0001"))
    assert response.headers["Location"].endswith(f"/records/{record_id}")
    assert len(events(db_session, "web:record:create")) == 1
    again = web.post(f"{BASE}/records/new", data={"csrf_token": token, **form_fields(description="第二版")})
    assert again.status_code == 302
    versions = db_session.scalars(select(Record.version).where(Record.source_ref == "API-0001")).all()
    assert sorted(versions) == [1, 2]


def test_form_errors_appear_next_to_the_fields_in_the_ui_language(app: Flask, db_session: Session, scene: dict) -> None:
    web = signed_in(app, db_session, scene["liaison"])
    token = csrf_of(web.get(f"{BASE}/records/new").get_data(as_text=True))
    bad = form_fields(category="", occurred_on="2026-02-30")
    page = web.post(f"{BASE}/records/new", data={"csrf_token": token, **bad})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert '<p class="error" id="category-error">归集内容不能为空</p>' in html
    assert 'id="occurred_on-error"' in html and "无法识别" in html
    assert "Missing data" not in html and "is required" not in html
    assert 'value="API-0001"' in html  # what was typed is kept

    web.set_cookie("lang", "en", domain="localhost")
    english = web.post(f"{BASE}/records/new", data={"csrf_token": token, **bad}).get_data(as_text=True)
    assert '<p class="error" id="category-error">category is required</p>' in english
    assert db_session.scalar(select(Record.id)) is None


def test_form_asks_to_confirm_a_nonstandard_credit_code(app: Flask, db_session: Session, scene: dict) -> None:
    web = signed_in(app, db_session, scene["liaison"])
    token = csrf_of(web.get(f"{BASE}/records/new").get_data(as_text=True))
    fields = form_fields(uscc=NONSTANDARD_USCC)
    first = web.post(f"{BASE}/records/new", data={"csrf_token": token, **fields})
    assert first.status_code == 409
    assert 'name="confirm_nonstandard"' in first.get_data(as_text=True)
    assert db_session.scalar(select(Record.id)) is None
    confirmed = web.post(f"{BASE}/records/new", data={"csrf_token": token, "confirm_nonstandard": "1", **fields})
    assert confirmed.status_code == 302
    (event,) = events(db_session, "web:record:create")
    assert event["data"]["confirmed_nonstandard"] is True and event["actor"] == scene["liaison"].username


def test_the_office_chooses_the_agency_first(app: Flask, db_session: Session, scene: dict) -> None:
    web = signed_in(app, db_session, scene["office"])
    chooser = web.get(f"{BASE}/records/new").get_data(as_text=True)
    assert '<select id="agency" name="agency"' in chooser and 'name="department"' not in chooser
    page = web.get(f"{BASE}/records/new?agency=TAX").get_data(as_text=True)
    assert 'name="department"' in page and 'type="hidden" name="agency" value="TAX"' in page
    token = csrf_of(page)
    response = web.post(f"{BASE}/records/new", data={"csrf_token": token, "agency": "TAX", **form_fields()})
    assert response.status_code == 302
    (event,) = events(db_session, "web:record:create")
    assert event["data"]["on_behalf"] is True and event["actor"] == scene["office"].username
    assert web.get(f"{BASE}/records/new?agency=NOPE").status_code == 404
