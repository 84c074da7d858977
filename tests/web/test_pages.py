"""The signed-in pages: home per role, search, entity and record pages, correction by form."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import AuditEvent, Openness, Record, Role, User
from signalhub_platform.models.types import utcnow
from signalhub_platform.web.sessions import SECURE_COOKIE_NAME, start_session
from tests.factories import make_agency, make_entity, make_id_number, make_person, make_record, make_role, make_user


def signed_in(app: Flask, db_session: Session, user: User) -> FlaskClient:
    _, token = start_session(db_session, user, client_ip="127.0.0.1", now=utcnow())
    db_session.commit()
    client = app.test_client()
    client.set_cookie(SECURE_COOKIE_NAME, token, domain="localhost", secure=True)
    return client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form without a CSRF token"
    return match.group(1)


@pytest.fixture
def scene(db_session: Session, cipher: PersonalDataCipher) -> dict:
    tax = make_agency(db_session, "TAX")
    mkt = make_agency(db_session, "MKT")
    entity = make_entity(db_session, name="北京华盛餐饮有限公司")
    id_number = make_id_number()
    person = make_person(db_session, cipher, id_number, name="李四")
    import datetime as dt

    make_role(db_session, entity, person, since=dt.date(2020, 1, 1))
    private = make_record(db_session, tax, entity=entity, openness=Openness.PRIVATE, description="内部线索")
    shared = make_record(db_session, tax, entity=entity, openness=Openness.SHARED, description="共享风险")
    return {
        "tax_user": make_user(db_session, tax, Role.LIAISON, Role.SUPERVISOR),
        "mkt_user": make_user(db_session, mkt, Role.SUPERVISOR),
        "office": make_user(db_session, None, Role.PLATFORM_ADMIN),
        "entity": entity,
        "private": private,
        "shared": shared,
        "id_number": id_number,
    }


BASE = "https://localhost"


def test_pages_require_login(client: FlaskClient) -> None:
    response = client.get(f"{BASE}/search?q=x")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_home_shows_role_and_is_chinese_by_default(app: Flask, db_session: Session, scene: dict) -> None:
    client = signed_in(app, db_session, scene["tax_user"])
    html = client.get(f"{BASE}/").get_data(as_text=True)
    assert 'lang="zh-CN"' in html


def test_entity_page_hides_other_agencies_private_records(app: Flask, db_session: Session, scene: dict) -> None:
    uscc = scene["entity"].uscc
    as_tax = signed_in(app, db_session, scene["tax_user"]).get(f"{BASE}/entities/{uscc}").get_data(as_text=True)
    as_mkt = signed_in(app, db_session, scene["mkt_user"]).get(f"{BASE}/entities/{uscc}").get_data(as_text=True)
    assert "北京华盛餐饮有限公司" in as_mkt
    assert f"/records/{scene['private'].id}" in as_tax
    assert f"/records/{scene['private'].id}" not in as_mkt
    assert f"/records/{scene['shared'].id}" in as_mkt
    assert scene["id_number"] not in as_tax
    assert scene["id_number"][:6] + "********" + scene["id_number"][-4:] in as_tax


def test_record_page_of_hidden_record_is_404(app: Flask, db_session: Session, scene: dict) -> None:
    client = signed_in(app, db_session, scene["mkt_user"])
    assert client.get(f"{BASE}/records/{scene['private'].id}").status_code == 404
    assert client.get(f"{BASE}/records/99999999").status_code == 404


def test_search_by_name_and_by_id_number(app: Flask, db_session: Session, scene: dict) -> None:
    client = signed_in(app, db_session, scene["mkt_user"])
    html = client.get(f"{BASE}/search", query_string={"q": "华盛"}).get_data(as_text=True)
    assert scene["entity"].uscc in html
    before = db_session.scalar(select(func.max(AuditEvent.seq)))
    html = client.post(f"{BASE}/search", data={"q": scene["id_number"], "csrf_token": csrf_of(html)}).get_data(
        as_text=True
    )
    assert "李四" in html and scene["entity"].name in html
    assert scene["id_number"] not in html
    events = list(db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)))
    person_search = [e for e in events if e.tag == "web:person:search"]
    assert len(person_search) == 1
    assert scene["id_number"] not in person_search[0].payload
    assert "id_number_bidx" in person_search[0].payload


def test_platform_office_cannot_search_by_id_number(app: Flask, db_session: Session, scene: dict) -> None:
    client = signed_in(app, db_session, scene["office"])
    token = csrf_of(client.get(f"{BASE}/search").get_data(as_text=True))
    client.set_cookie("lang", "en", domain="localhost")
    before = db_session.scalar(select(func.max(AuditEvent.seq))) or 0
    html = client.post(f"{BASE}/search", data={"q": scene["id_number"], "csrf_token": token}).get_data(as_text=True)
    assert "李四" not in html
    assert "available to member agency users only" in html
    # The refused attempt is audited too, and neither the number nor any index of it is kept.
    events = list(db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)))
    assert [e.tag for e in events] == ["web:person:search"]
    assert scene["id_number"] not in events[0].payload and "bidx" not in events[0].payload
    assert "rejected" in events[0].payload


def test_id_number_in_a_url_is_neither_searched_nor_echoed(app: Flask, db_session: Session, scene: dict) -> None:
    client = signed_in(app, db_session, scene["mkt_user"])
    html = client.get(f"{BASE}/search", query_string={"q": scene["id_number"]}).get_data(as_text=True)
    assert "李四" not in html and scene["id_number"] not in html


def test_owner_corrects_by_form_with_csrf(app: Flask, db_session: Session, scene: dict) -> None:
    client = signed_in(app, db_session, scene["tax_user"])
    record_id = scene["shared"].id
    page = client.get(f"{BASE}/records/{record_id}").get_data(as_text=True)
    assert f"/records/{record_id}/correct" in page and f"/records/{record_id}/withdraw" in page
    response = client.post(
        f"{BASE}/records/{record_id}/correct",
        data={"csrf_token": csrf_of(page), "risk_level": "high", "openness": "shared", "reason": "复核后调整等级"},
    )
    assert response.status_code == 302
    db_session.expire_all()
    current = db_session.scalars(
        select(Record).where(Record.source_ref == scene["shared"].source_ref, Record.is_current)
    ).one()
    assert current.version == 2 and current.risk_level == "high" and current.change_reason == "复核后调整等级"


def test_correction_without_csrf_changes_nothing(app: Flask, db_session: Session, scene: dict) -> None:
    client = signed_in(app, db_session, scene["tax_user"])
    response = client.post(
        f"{BASE}/records/{scene['shared'].id}/correct", data={"risk_level": "high", "reason": "x"}
    )
    assert response.status_code == 403
    count = db_session.scalar(select(func.count()).where(Record.source_ref == scene["shared"].source_ref))
    assert count == 1


def test_other_agency_sees_no_correction_form_and_cannot_post(app: Flask, db_session: Session, scene: dict) -> None:
    client = signed_in(app, db_session, scene["mkt_user"])
    page = client.get(f"{BASE}/records/{scene['shared'].id}").get_data(as_text=True)
    assert "/correct" not in page
    # The nav's logout form carries a token we can reuse: the refusal must come from ownership.
    response = client.post(
        f"{BASE}/records/{scene['shared'].id}/withdraw", data={"csrf_token": csrf_of(page), "reason": "x"}
    )
    assert response.status_code == 403


def test_english_is_available(app: Flask, db_session: Session, scene: dict) -> None:
    client = signed_in(app, db_session, scene["tax_user"])
    client.set_cookie("lang", "en", domain="localhost")
    html = client.get(f"{BASE}/search", query_string={"q": "华盛"}).get_data(as_text=True)
    assert 'lang="en"' in html and "Entities" in html
