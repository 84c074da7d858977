"""The public search (信息公示), with no login: fully-open records and published inspection results by
entity name or credit code, never a private or shared record, a person or an ID number; refusals
of short queries and ID numbers; pages; the per-address rate limit; the JSON as documented."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_ingest import corrections
from signalhub_platform.crypto import PersonalDataCipher, mask_id_number
from signalhub_platform.inspections import services as draws
from signalhub_platform.models import Actor, AuditEvent, Entity, Openness, Record, RecordKind, Role
from signalhub_platform.web import public
from tests.factories import make_agency, make_entity, make_id_number, make_person, make_record, make_role, make_user
from tests.web.test_draws import actor_of, build_scene, last_seq, make_draw, tags_since
from tests.web.test_openapi import Conformance
from tests.web.test_pages import BASE, signed_in

SEARCH = "/public/search"
API = "/api/v1/public/search"


@dataclass
class Scene:
    entity: Entity
    other: Entity
    public_record: Record
    id_number: str
    person_id_number: str


@pytest.fixture
def scene(db_session: Session, cipher: PersonalDataCipher) -> Scene:
    tax = make_agency(db_session, "TAX")
    mkt = make_agency(db_session, "MKT")
    entity = make_entity(db_session, name="北京华盛餐饮有限公司")
    other = make_entity(db_session, name="北京远景科技有限公司")
    id_number = make_id_number()
    manager = make_person(db_session, cipher, id_number, name="李四")
    make_role(db_session, entity, manager, since=dt.date(2020, 1, 1))
    person_id_number = make_id_number(dt.date(1975, 3, 9))
    named = make_person(db_session, cipher, person_id_number, name="王五")
    public_record = make_record(
        db_session,
        tax,
        entity=entity,
        person=named,
        openness=Openness.PUBLIC,
        kind=RecordKind.PENALTY,
        category="行政处罚公示",
        description="王五经营无照，罚款五千元",
        occurred_on=dt.date(2026, 5, 1),
    )
    make_record(db_session, mkt, entity=entity, openness=Openness.SHARED, category="共享线索类别", description="共享")
    make_record(db_session, tax, entity=entity, openness=Openness.PRIVATE, category="内部线索类别", description="内部")
    make_record(db_session, mkt, entity=other, openness=Openness.SHARED, category="远景共享类别")
    withdrawn = make_record(db_session, mkt, entity=entity, openness=Openness.PUBLIC, category="已撤回类别")
    corrections.withdraw_record(
        db_session, Actor.for_user(make_user(db_session, mkt, Role.LIAISON)), withdrawn.id, reason="录入错误",
        tag=AuditTag.WEB_RECORD_WITHDRAW,
    )  # fmt: skip
    db_session.commit()
    return Scene(entity, other, public_record, id_number, person_id_number)


def get(client: FlaskClient, path: str, ip: str = "198.51.100.7", **params: object) -> tuple[int, str]:
    response = client.get(f"{BASE}{path}", query_string=params, environ_base={"REMOTE_ADDR": ip})
    return response.status_code, response.get_data(as_text=True)


def assert_no_personal_or_restricted_data(text: str, scene: Scene) -> None:
    for secret in (
        "李四",
        "王五",  # named by the public record: no person is ever shown, nor the description naming them
        scene.id_number,
        scene.person_id_number,
        mask_id_number(scene.id_number),
        mask_id_number(scene.person_id_number),
        "共享线索类别",
        "内部线索类别",
        "远景共享类别",
        "已撤回类别",
        "罚款五千元",
    ):
        assert secret not in text, secret


def test_a_public_record_is_found_by_name_and_nothing_else_shows(
    client: FlaskClient, db_session: Session, scene: Scene
) -> None:
    before = last_seq(db_session)
    status, html = get(client, SEARCH, q="华盛")
    assert status == 200
    assert scene.entity.uscc in html and "北京华盛餐饮有限公司" in html
    assert "行政处罚公示" in html and "Agency TAX" in html and "处罚类" in html
    assert_no_personal_or_restricted_data(html, scene)
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)).one()
    assert event.tag == "public:record:search" and event.client_ip == "198.51.100.7"
    payload = json.loads(event.payload)
    assert payload["actor"] == "anonymous" and payload["subjects"] == [["entity", scene.entity.uscc]]
    assert payload["data"] == {"query": "华盛", "page": 1, "records": 1, "inspections": 0}


def test_a_public_record_is_found_by_credit_code_typed_full_width_in_lower_case(
    client: FlaskClient, scene: Scene
) -> None:
    full_width = "".join(chr(ord(char) + 0xFEE0) for char in scene.entity.uscc.lower())
    status, html = get(client, SEARCH, q=full_width)
    assert status == 200 and "行政处罚公示" in html
    assert_no_personal_or_restricted_data(html, scene)
    # The code matches exactly, not as a prefix.
    status, html = get(client, SEARCH, q=scene.entity.uscc[:17])
    assert status == 200 and "行政处罚公示" not in html


def test_an_entity_with_shared_records_only_has_no_public_hits(client: FlaskClient, scene: Scene) -> None:
    for query in ("远景科技", scene.other.uscc):
        status, html = get(client, SEARCH, q=query)
        assert status == 200
        assert "没有匹配的完全开放信息" in html and "远景共享类别" not in html


def test_the_json_matches_the_documented_schema_and_holds_no_personal_data(client: FlaskClient, scene: Scene) -> None:
    conformance = Conformance(client.get(f"{BASE}/api/v1/openapi.json").get_json())
    response = client.get(f"{BASE}{API}", query_string={"q": "华盛"})
    conformance.check(API, "get", response)
    assert_no_personal_or_restricted_data(response.get_data(as_text=True), scene)
    document = response.get_json()
    assert document["records"] == [
        {
            "uscc": scene.entity.uscc,
            "entity_name": "北京华盛餐饮有限公司",
            "agency": "Agency TAX",
            "kind": "penalty",
            "risk_level": None,
            "category": "行政处罚公示",
            "occurred_on": "2026-05-01",
        }
    ]
    assert (document["page"], document["page_size"], document["has_more_records"]) == (1, 20, False)
    refused = client.get(f"{BASE}{API}", query_string={"q": "华"})
    conformance.check(API, "get", refused)
    assert refused.status_code == 400 and refused.get_json()["error"]["details"] == {"reason": "too_short"}


def test_a_signed_in_user_searches_as_the_public(app: Flask, db_session: Session, scene: Scene) -> None:
    agency_user = make_user(db_session, make_agency(db_session), Role.SUPERVISOR)
    client = signed_in(app, db_session, agency_user)
    before = last_seq(db_session)
    html = client.get(f"{BASE}{SEARCH}", query_string={"q": "华盛"}).get_data(as_text=True)
    assert "行政处罚公示" in html
    assert_no_personal_or_restricted_data(html, scene)
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)).one()
    assert json.loads(event.payload)["actor"] == "anonymous"


def test_short_queries_and_id_numbers_are_refused_without_a_lookup(
    client: FlaskClient, db_session: Session, scene: Scene
) -> None:
    before = last_seq(db_session)
    status, html = get(client, SEARCH, q=" 华 ")
    assert status == 400 and "请至少输入2个字符" in html
    status, html = get(client, SEARCH, q=scene.id_number)
    assert status == 400 and "公示查询不支持身份证号码" in html
    assert scene.id_number not in html and "李四" not in html
    status, body = get(client, API, q=scene.id_number)
    assert status == 400 and scene.id_number not in body
    assert json.loads(body)["error"]["details"] == {"reason": "id_number"}
    status, html = get(client, SEARCH, q="华盛", page="0")
    assert status == 400 and "页码" in html
    assert last_seq(db_session) == before  # nothing was searched, so nothing was read or audited
    status, html = get(client, SEARCH)
    assert status == 200 and 'for="q"' in html and last_seq(db_session) == before


def test_results_come_a_page_at_a_time(client: FlaskClient, db_session: Session, scene: Scene) -> None:
    agency = make_agency(db_session, "PAGE")
    entity = make_entity(db_session, name="北京分页测试有限公司")
    for day in range(1, 26):
        make_record(db_session, agency, entity=entity, openness=Openness.PUBLIC, occurred_on=dt.date(2026, 1, day))
    db_session.commit()
    first = client.get(f"{BASE}{API}", query_string={"q": "分页测试"}).get_json()
    second = client.get(f"{BASE}{API}", query_string={"q": "分页测试", "page": 2}).get_json()
    assert len(first["records"]) == 20 and first["has_more_records"]
    assert len(second["records"]) == 5 and not second["has_more_records"]
    dates = [hit["occurred_on"] for hit in first["records"] + second["records"]]
    assert dates == [f"2026-01-{day:02d}" for day in range(25, 0, -1)]  # newest first, each once
    status, html = get(client, SEARCH, q="分页测试")
    assert status == 200 and "page=2" in html and "下一页" in html
    assert client.get(f"{BASE}{API}", query_string={"q": "分页测试", "page": 51}).status_code == 400


def test_a_published_result_is_found_and_an_unpublished_draw_is_not(client: FlaskClient, db_session: Session) -> None:
    scene = build_scene(db_session)
    published = make_draw(db_session, scene, publish=True, name="已公示的联合抽查")
    make_draw(db_session, scene, name="尚未公示的联合抽查")
    make_draw(db_session, scene, run=False, name="尚未抽取的联合抽查")
    target = json.loads(published.result or "{}")["targets"][0]["uscc"]
    draws.record_result(
        db_session, published.id, target, "ordered_to_correct", actor=actor_of(scene.coordinator),
        notes="内部备注：负责人不配合",
    )  # fmt: skip
    db_session.commit()
    status, html = get(client, SEARCH, q=target)
    assert status == 200
    assert "已公示的联合抽查" in html and "责令整改" in html and f"/public/draws/{published.id}" in html
    status, html = get(client, SEARCH, q="抽查对象")
    assert "已公示的联合抽查" in html
    assert "尚未公示的联合抽查" not in html and "尚未抽取的联合抽查" not in html
    assert "内部备注" not in html and "检查员" not in html
    hits = client.get(f"{BASE}{API}", query_string={"q": target}).get_json()["inspections"]
    assert [(hit["draw_name"], hit["outcome"]) for hit in hits] == [("已公示的联合抽查", "ordered_to_correct")]
    assert hits[0]["url"] == f"/public/draws/{published.id}"


def test_429_after_the_limit_with_retry_after_and_one_audit_event_per_window(
    client: FlaskClient, db_session: Session, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(public, "SEARCH_RATE_LIMIT", 3)
    before = last_seq(db_session)
    assert get(client, SEARCH, ip="203.0.113.9", q="华盛")[0] == 200
    assert get(client, API, ip="203.0.113.9", q="华盛")[0] == 200  # the page and the API count together
    assert get(client, SEARCH, ip="203.0.113.9", q="华盛", page="2")[0] == 200
    limited = client.get(f"{BASE}{SEARCH}", query_string={"q": "华盛"}, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    html = limited.get_data(as_text=True)
    assert "查询过于频繁" in html and "行政处罚公示" not in html
    api = client.get(f"{BASE}{API}", query_string={"q": "华盛"}, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert api.status_code == 429 and 1 <= int(api.headers["Retry-After"]) <= 60
    Conformance(client.get(f"{BASE}/api/v1/openapi.json").get_json()).check(API, "get", api)
    assert api.get_json()["error"]["details"]["retry_after"] == int(api.headers["Retry-After"])
    for _ in range(3):
        assert get(client, SEARCH, ip="203.0.113.9", q="华盛")[0] == 429
    assert get(client, SEARCH, ip="203.0.113.10", q="华盛")[0] == 200  # another address is not limited
    assert tags_since(db_session, before) == [
        "public:record:search",
        "public:record:api_search",
        "public:record:search",
        "public:search:rate_limited",  # once, however many refusals follow in the window
        "public:record:search",
    ]
    refusal = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "public:search:rate_limited")).one()
    assert refusal.client_ip == "203.0.113.9"
    assert json.loads(refusal.payload)["data"] == {"searches": 3, "window_seconds": 60}


def test_the_limit_counts_only_searches_inside_the_window(
    client: FlaskClient, db_session: Session, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(public, "SEARCH_RATE_LIMIT", 2)
    actor = Actor.public("203.0.113.20")
    now = dt.datetime.now(dt.UTC)
    # Two searches 61 seconds ago have left the window; one 50 seconds ago has not.
    for seconds in (61, 61, 50):
        record_event(db_session, AuditTag.PUBLIC_RECORD_SEARCH, actor=actor, at=now - dt.timedelta(seconds=seconds))
    db_session.commit()
    assert get(client, SEARCH, ip="203.0.113.20", q="华盛")[0] == 200
    limited = client.get(f"{BASE}{SEARCH}", query_string={"q": "华盛"}, environ_base={"REMOTE_ADDR": "203.0.113.20"})
    assert limited.status_code == 429
    # The search of 50 seconds ago frees its slot in about 10 seconds.
    assert 1 <= int(limited.headers["Retry-After"]) <= 11


def test_the_search_page_fits_a_phone_and_the_public_pages_link_to_it(client: FlaskClient, scene: Scene) -> None:
    status, html = get(client, SEARCH, q="华盛")
    assert 'name="viewport"' in html
    assert '<label for="q">' in html and 'id="q" name="q" type="search"' in html
    assert 'class="stack"' in html and 'data-label="统一社会信用代码"' in html
    status, listing = get(client, "/public/draws")
    assert status == 200 and 'href="/public/search"' in listing


@pytest.mark.parametrize("separator", [" ", "-", "　"])  # a space, a hyphen, an ideographic space
def test_id_numbers_typed_with_spaces_or_hyphens_are_refused_like_unbroken_ones(
    client: FlaskClient, db_session: Session, scene: Scene, separator: str
) -> None:
    number = scene.id_number
    typed = separator.join((number[:6], number[6:14], number[14:]))  # "110105 19491231 002X"
    digits = number[:17]
    before = last_seq(db_session)
    status, html = get(client, SEARCH, q=typed)
    assert status == 400 and "公示查询不支持身份证号码" in html
    assert typed not in html and number[6:14] not in html  # not echoed into the search box
    status, body = get(client, API, q=f"查 {typed}")
    assert status == 400 and json.loads(body)["error"]["details"] == {"reason": "id_number"}
    assert number[6:14] not in body
    assert last_seq(db_session) == before  # not searched, so nothing audited with the digits
    payloads = " ".join(db_session.scalars(select(AuditEvent.payload)))
    assert digits not in payloads.replace(" ", "").replace("-", "").replace("\u3000", "")
