"""The warning queue's pages and JSON API: visibility, the life cycle by form (with CSRF), snoozes,
receipts, feedback, marks, watch lists, the inbox, and the audit trail of every read and write."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import (
    Actor,
    Agency,
    AuditEvent,
    Entity,
    ManualFlag,
    Message,
    Openness,
    Person,
    Record,
    RiskLevel,
    RiskWarning,
    Role,
    User,
    WarningReceipt,
    WarningSnooze,
    WarningStatus,
    Watch,
)
from signalhub_platform.models.types import beijing_today, utcnow
from signalhub_warnings import queue
from signalhub_warnings.rules import Thresholds
from signalhub_warnings.services import evaluate_warnings
from tests.factories import make_agency, make_entity, make_person, make_record, make_token, make_user
from tests.web.test_pages import BASE, csrf_of, signed_in

RECENT = beijing_today() - dt.timedelta(days=30)  # inside the window whatever today is


def evaluate(session: Session, now: dt.datetime | None = None) -> None:
    evaluate_warnings(
        session, thresholds=Thresholds(), acknowledge_days={"red": 2, "orange": 3, "yellow": 5},
        actor=Actor.job("evaluate_warnings"), tag=AuditTag.JOB_WARNINGS_EVALUATE, now=now or utcnow(),
    )  # fmt: skip


@dataclass
class Scene:
    tax: Agency
    mkt: Agency
    tax_sup: User
    tax_sup2: User
    tax_admin: User
    mkt_sup: User
    office: User
    yellow_entity: Entity
    red_entity: Entity
    yellow: RiskWarning
    red: RiskWarning


def build_scene(session: Session, prefix: str = "") -> Scene:
    """TAX's yellow on one entity (one private record among its two); red on another (TAX + MKT share
    records); MKT also holds a private, high-risk record on the red entity."""
    tax, mkt = make_agency(session, f"{prefix}TAX"), make_agency(session, f"{prefix}MKT")
    yellow_entity = make_entity(session, name=f"{prefix}黄色页面测试有限公司", region="金融街街道")
    red_entity = make_entity(session, name=f"{prefix}红色页面测试有限公司", region="德胜街道")
    make_record(session, tax, entity=yellow_entity, department=tax.departments[0], openness=Openness.PRIVATE,
                occurred_on=RECENT, description="税务内部线索")  # fmt: skip
    make_record(session, tax, entity=yellow_entity, department=tax.departments[1], occurred_on=RECENT)
    make_record(session, tax, entity=red_entity, occurred_on=RECENT, description="税务共享信息")
    make_record(session, mkt, entity=red_entity, openness=Openness.PUBLIC, occurred_on=RECENT)
    make_record(session, mkt, entity=red_entity, openness=Openness.PRIVATE, risk_level=RiskLevel.HIGH,
                occurred_on=RECENT, description="市场内部线索")  # fmt: skip
    evaluate(session)

    def warning(entity: Entity, scope: str) -> RiskWarning:
        query = select(RiskWarning).where(RiskWarning.entity_id == entity.id, RiskWarning.scope_key == scope)
        return session.scalars(query).one()

    return Scene(
        tax=tax,
        mkt=mkt,
        tax_sup=make_user(session, tax, Role.SUPERVISOR),
        tax_sup2=make_user(session, tax, Role.SUPERVISOR),
        tax_admin=make_user(session, tax, Role.AGENCY_ADMIN),
        mkt_sup=make_user(session, mkt, Role.SUPERVISOR),
        office=make_user(session, None, Role.PLATFORM_ADMIN),
        yellow_entity=yellow_entity,
        red_entity=red_entity,
        yellow=warning(yellow_entity, str(tax.id)),
        red=warning(red_entity, "platform"),
    )


@pytest.fixture
def scene(db_session: Session) -> Scene:
    return build_scene(db_session)


def tags_since(session: Session, seq: int) -> list[str]:
    return list(session.scalars(select(AuditEvent.tag).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))


def last_seq(session: Session) -> int:
    return session.scalar(select(func.max(AuditEvent.seq))) or 0


def page(client: FlaskClient, path: str) -> str:
    response = client.get(f"{BASE}{path}")
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def post(client: FlaskClient, path: str, form_page: str, **data: Any) -> Any:
    token = csrf_of(page(client, form_page))
    return client.post(f"{BASE}{path}", data={"csrf_token": token, **data})


# --- pages: visibility ----------------------------------------------------------------------------


def test_pages_require_login(client: FlaskClient, scene: Scene) -> None:
    for path in ("/warnings", f"/warnings/{scene.yellow.id}", "/watches", "/inbox", "/warnings/marks"):
        response = client.get(f"{BASE}{path}")
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_queue_shows_levels_and_overdue_marks_in_chinese(app: Flask, db_session: Session, scene: Scene) -> None:
    scene.red.acknowledge_due_on = beijing_today() - dt.timedelta(days=1)
    db_session.commit()
    client = signed_in(app, db_session, scene.tax_sup)
    before = last_seq(db_session)
    html = page(client, "/warnings")
    assert ">预警</a>" in html  # the navigation link
    assert "黄色页面测试有限公司" in html and "红色页面测试有限公司" in html
    assert html.index("红色页面测试有限公司") < html.index("黄色页面测试有限公司")  # red first
    assert 'class="badge red">红色' in html and 'class="badge yellow">黄色' in html
    assert html.count('class="badge red">已逾期') == 1  # the red one only
    assert tags_since(db_session, before) == [AuditTag.WEB_WARNING_LIST]
    filtered = page(client, "/warnings?level=yellow&region=&assignee=none")
    assert "黄色页面测试有限公司" in filtered and "红色页面测试有限公司" not in filtered
    assert client.get(f"{BASE}/warnings?level=purple").status_code == 400


def test_another_agency_gets_404_and_no_trace_of_a_yellow_warning(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    client = signed_in(app, db_session, scene.mkt_sup)
    html = page(client, "/warnings")
    assert "黄色页面测试有限公司" not in html and "红色页面测试有限公司" in html
    assert client.get(f"{BASE}/warnings/{scene.yellow.id}").status_code == 404
    assert client.get(f"{BASE}/warnings/99999999").status_code == 404
    assert page(client, f"/warnings/{scene.red.id}")
    token = csrf_of(html)
    response = client.post(f"{BASE}/warnings/{scene.yellow.id}/acknowledge", data={"csrf_token": token})
    assert response.status_code == 404
    db_session.refresh(scene.yellow)
    assert scene.yellow.status == WarningStatus.OPEN


def test_the_platform_office_sees_counts_of_yellow_only(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.office)
    html = page(client, "/warnings")
    assert "黄色页面测试有限公司" not in html and "红色页面测试有限公司" in html
    assert re.search(r'class="badge yellow">黄色 1<', html)
    assert client.get(f"{BASE}/warnings/{scene.yellow.id}").status_code == 404
    red = page(client, f"/warnings/{scene.red.id}")
    assert f"/warnings/{scene.red.id}/acknowledge" not in red  # reads red, does not work it


def test_the_explanation_page_shows_only_visible_records(app: Flask, db_session: Session, scene: Scene) -> None:
    html = page(signed_in(app, db_session, scene.tax_sup), f"/warnings/{scene.red.id}")
    records = re.findall(r'/records/(\d+)"', html)
    assert len(records) == 2  # TAX's shared and MKT's public record
    # MKT's private record is no part of the red warning: not shown, not summarised, not counted
    assert "市场内部线索" not in html and "您无权查看的监管信息" not in html and "× 1" not in html
    assert "2 个成员单位持有该主体的有条件开放或完全开放信息" in html
    as_mkt = page(signed_in(app, db_session, scene.mkt_sup), f"/warnings/{scene.red.id}")
    assert len(re.findall(r'/records/(\d+)"', as_mkt)) == 3 and "× 1" not in as_mkt


# --- the life cycle by form --------------------------------------------------------------------------


def test_the_life_cycle_by_form_records_who_and_why(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.tax_sup)
    here = f"/warnings/{scene.yellow.id}"
    before = last_seq(db_session)
    for step, data in (
        ("assign", {"to": str(scene.tax_sup2.id), "note": "请跟进"}),
        ("acknowledge", {"note": "已签收"}),
        ("dispose", {"measure": "interview", "note": "约谈法定代表人"}),
        ("close", {"note": "整改完毕"}),
    ):
        response = post(client, f"{here}/{step}", here, **data)
        assert response.status_code == 302 and response.headers["Location"].startswith(here), step
    db_session.refresh(scene.yellow)
    w = scene.yellow
    assert (w.status, w.assignee_id, w.measure, w.note, w.is_active) == (
        WarningStatus.CLOSED, scene.tax_sup2.id, "interview", "整改完毕", False,
    )  # fmt: skip
    html = page(client, here)
    for text in ("请跟进", "已签收", "约谈法定代表人", "整改完毕", scene.tax_sup.username, "约谈"):
        assert text in html
    tags = tags_since(db_session, before)
    for tag in (AuditTag.WEB_WARNING_ASSIGN, AuditTag.WEB_WARNING_ACKNOWLEDGE, AuditTag.WEB_WARNING_DISPOSE,
                AuditTag.WEB_WARNING_CLOSE, AuditTag.WEB_WARNING_READ):  # fmt: skip
        assert tag in tags


def test_a_forbidden_transition_by_form_is_409_and_explained(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.tax_sup)
    here = f"/warnings/{scene.yellow.id}"
    response = post(client, f"{here}/close", here, note="直接关闭")
    assert response.status_code == 409
    assert "当前状态下不能进行这一步" in response.get_data(as_text=True)
    response = post(client, f"{here}/snooze", here, rule="yellow_departments", until="not a date", reason="x")
    assert response.status_code == 400
    db_session.refresh(scene.yellow)
    assert scene.yellow.status == WarningStatus.OPEN


POSTS: list[tuple[str, dict[str, str]]] = [
    ("/warnings/{yellow}/assign", {"to": "me"}),
    ("/warnings/{yellow}/acknowledge", {}),
    ("/warnings/{yellow}/dispose", {"measure": "caution"}),
    ("/warnings/{yellow}/close", {"note": "x"}),
    ("/warnings/{yellow}/snooze", {"rule": "yellow_departments", "until": "2099-01-01", "reason": "x"}),
    ("/warnings/{yellow}/feedback", {"message": "x"}),
    ("/warnings/{red}/receipt", {}),
    ("/warnings/marks", {"uscc": "{uscc}", "reason": "x"}),
    ("/warnings/marks/1/lift", {}),
    ("/watches", {"subject_type": "entity", "subject_id": "{entity}"}),
    ("/watches/remove", {"subject_type": "entity", "subject_id": "{entity}"}),
    ("/inbox/1/read", {}),
    ("/inbox/read", {}),
]


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_every_form_needs_the_csrf_token(
    app: Flask, db_session: Session, scene: Scene, path: str, data: dict[str, str]
) -> None:
    values = {"yellow": scene.yellow.id, "red": scene.red.id, "uscc": scene.yellow_entity.uscc,
              "entity": scene.yellow_entity.id}  # fmt: skip
    client = signed_in(app, db_session, scene.tax_admin if "marks" in path else scene.tax_sup)
    before = last_seq(db_session)
    counts = _state_counts(db_session)
    form = {key: value.format(**values) for key, value in data.items()}
    response = client.post(f"{BASE}{path.format(**values)}", data=form)
    assert response.status_code == 403
    assert tags_since(db_session, before) == [AuditTag.WEB_AUTH_CSRF_REJECTED]
    assert _state_counts(db_session) == counts
    assert client.post(f"{BASE}{path.format(**values)}", data={**form, "csrf_token": "forged"}).status_code == 403


def _state_counts(session: Session) -> tuple[object, ...]:
    warning = session.scalars(select(RiskWarning.status, RiskWarning.assignee_id)).all()
    return (
        tuple(warning),
        *(session.scalar(select(func.count()).select_from(model)) for model in (WarningSnooze, WarningReceipt, Watch,
                                                                                 ManualFlag, Message)),
        session.scalar(select(func.count()).where(Message.read_at.is_not(None))),
    )  # fmt: skip


def test_snooze_feedback_and_receipt_by_form(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.tax_sup)
    here = f"/warnings/{scene.yellow.id}"
    until = (beijing_today() + dt.timedelta(days=14)).isoformat()
    response = post(client, f"{here}/snooze", here, rule="yellow_departments", until=until, reason="同一事项重复报送")
    assert response.status_code == 302
    assert "同一事项重复报送" in page(client, here)
    red = f"/warnings/{scene.red.id}"
    assert "尚未签收的单位" in page(client, red)
    assert post(client, f"{red}/receipt", red).status_code == 302
    html = page(client, red)
    assert "尚未签收的单位：Agency MKT" in html
    assert post(client, f"{red}/feedback", red, message="请补充材料", agencies="MKT").status_code == 302
    mkt_inbox = page(signed_in(app, db_session, scene.mkt_sup), "/inbox")
    assert "请补充材料" in mkt_inbox and scene.tax_sup.display_name in mkt_inbox
    evaluate(db_session)
    db_session.refresh(scene.yellow)
    assert scene.yellow.status == WarningStatus.CLEARED  # the snoozed rule no longer counts


# --- marks, watches, inbox ----------------------------------------------------------------------------


def test_an_agency_admin_marks_and_lifts_by_form(app: Flask, db_session: Session, scene: Scene) -> None:
    quiet = make_entity(db_session, name="人工标记页面测试公司")
    db_session.commit()
    supervisor = signed_in(app, db_session, scene.tax_sup)
    assert post(supervisor, "/warnings/marks", "/warnings", uscc=quiet.uscc, reason="x").status_code == 403
    admin = signed_in(app, db_session, scene.tax_admin)
    response = post(admin, "/warnings/marks", "/warnings/marks", uscc=quiet.uscc, reason="举报线索")
    assert response.status_code == 302
    html = page(admin, "/warnings/marks?done=marked")
    assert "人工标记页面测试公司" in html and "举报线索" in html
    unknown = post(admin, "/warnings/marks", "/warnings/marks", uscc="911101020000000000", reason="x")
    assert unknown.status_code == 404
    evaluate(db_session)
    flag = db_session.scalars(select(ManualFlag)).one()
    warning = db_session.scalars(select(RiskWarning).where(RiskWarning.entity_id == quiet.id)).one()
    assert warning.rules == ["manual"]
    assert post(admin, f"/warnings/marks/{flag.id}/lift", "/warnings/marks").status_code == 302
    evaluate(db_session)
    db_session.refresh(warning)
    assert warning.status == WarningStatus.CLEARED


def test_watch_and_inbox_by_form(app: Flask, db_session: Session, scene: Scene) -> None:
    watcher = signed_in(app, db_session, scene.tax_sup2)
    here = f"/warnings/{scene.yellow.id}"
    response = post(watcher, "/watches", here, subject_type="entity", subject_id=str(scene.yellow_entity.id), next=here)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{here}?done=watching")
    assert "黄色页面测试有限公司" in page(watcher, "/watches")
    worker = signed_in(app, db_session, scene.tax_sup)
    assert post(worker, f"{here}/acknowledge", here).status_code == 302
    before = last_seq(db_session)
    inbox = page(watcher, "/inbox")
    assert tags_since(db_session, before) == [AuditTag.WEB_INBOX_READ]
    assert "已签收" in inbox and f"/warnings/{scene.yellow.id}" in inbox and 'class="badge red">1<' in inbox
    message = db_session.scalars(select(Message).where(Message.recipient_user_id == scene.tax_sup2.id)).one()
    assert post(watcher, f"/inbox/{message.id}/read", "/inbox").status_code == 302
    db_session.refresh(message)
    assert message.read_at is not None
    before = last_seq(db_session)
    assert post(watcher, "/inbox/99999999/read", "/inbox").status_code == 404
    refusal = db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before).order_by(AuditEvent.seq)).all()[-1]
    refused = (refusal.tag, json.loads(refusal.payload)["data"]["refused"])
    assert refused == (AuditTag.WEB_INBOX_MARK_READ, "not_found")  # the refusal is committed, audited
    assert post(watcher, "/watches/remove", "/watches", subject_type="entity",
                subject_id=str(scene.yellow_entity.id)).status_code == 302  # fmt: skip
    assert "黄色页面测试有限公司" not in page(watcher, "/watches")
    mkt = signed_in(app, db_session, scene.mkt_sup)  # watching a subject shows only what MKT may see
    post(mkt, "/watches", "/watches", uscc=scene.yellow_entity.uscc)
    assert f"/warnings/{scene.yellow.id}" not in page(mkt, "/watches")


def test_the_subject_partial_lists_visible_warnings(app: Flask, db_session: Session, scene: Scene) -> None:
    with app.test_request_context(f"{BASE}/entities/x"):
        for user, entity, expected in (
            (scene.tax_sup, scene.yellow_entity, 1),
            (scene.mkt_sup, scene.yellow_entity, 0),  # TAX's yellow: not MKT's to see
            (scene.mkt_sup, scene.red_entity, 1),
        ):
            key = f"entity:{entity.id}"
            warnings = queue.list_subject_warnings(db_session, Actor.for_user(user), key)
            html = render_template("warnings_queue/_subject_warnings.html", subject_warnings=warnings, subject_key=key)
            assert html.count('href="/warnings/') == expected and f'name="subject_id" value="{entity.id}"' in html


def test_english_is_available(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.tax_sup)
    client.set_cookie("lang", "en", domain="localhost")
    html = page(client, f"/warnings/{scene.red.id}")
    assert "Why this warning" in html and "2 member agencies hold shared or public records" in html


# --- the JSON API ----------------------------------------------------------------------------------


def api(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_api_works_the_queue_within_the_same_rules(client: FlaskClient, db_session: Session, scene: Scene) -> None:
    tax, mkt = api(make_token(db_session, scene.tax_sup)), api(make_token(db_session, scene.mkt_sup))
    office = api(make_token(db_session, scene.office))
    listed = client.get(f"{BASE}/api/v1/warnings", headers=tax).get_json()
    assert [w["id"] for w in listed["warnings"]] == [scene.red.id, scene.yellow.id]
    assert listed["warnings"][1]["subject"] == scene.yellow_entity.uscc
    as_mkt = client.get(f"{BASE}/api/v1/warnings?level=yellow", headers=mkt).get_json()["warnings"]
    assert scene.yellow.id not in [w["id"] for w in as_mkt]
    assert client.get(f"{BASE}/api/v1/warnings/{scene.yellow.id}", headers=mkt).status_code == 404
    as_office = client.get(f"{BASE}/api/v1/warnings", headers=office).get_json()
    assert [w["level"] for w in as_office["warnings"]] == ["red"] and as_office["counts"]["yellow"] == 1

    document = client.get(f"{BASE}/api/v1/warnings/{scene.red.id}", headers=tax).get_json()
    assert document["explanation"]["hidden"] == []  # MKT's private record is no part of red
    private = db_session.scalars(select(Record.id).where(Record.description == "市场内部线索")).one()
    assert "市场内部线索" not in json.dumps(document, ensure_ascii=False)
    assert private not in document["explanation"]["counted_record_ids"]
    assert document["pending_receipts"] == ["MKT", "TAX"] and "receipt" in document["actions"]

    base = f"{BASE}/api/v1/warnings/{scene.yellow.id}"
    assert client.post(f"{base}/close", json={"note": "x"}, headers=tax).get_json()["error"]["details"] == {
        "reason": "bad_transition"
    }
    assert client.post(f"{base}/assign", json={"to": "auto"}, headers=tax).get_json()["warning"]["assignee"]
    assert client.post(f"{base}/acknowledge", json={}, headers=tax).get_json()["warning"]["status"] == "acknowledged"
    assert client.post(f"{base}/dispose", json={"measure": "penalty"}, headers=tax).status_code == 200
    assert client.post(f"{base}/close", json={"note": "done"}, headers=tax).get_json()["warning"]["status"] == "closed"
    receipt = client.post(f"{BASE}/api/v1/warnings/{scene.red.id}/receipt", json={}, headers=mkt).get_json()
    assert receipt["pending_receipts"] == ["TAX"]

    watch = {"subject_type": "entity", "subject_id": scene.red_entity.id}
    answer = client.post(f"{BASE}/api/v1/watches", json=watch, headers=mkt)
    assert answer.status_code == 201 and [w["id"] for w in answer.get_json()["watch"]["warnings"]] == [scene.red.id]
    assert [w["name"] for w in client.get(f"{BASE}/api/v1/watches", headers=mkt).get_json()["watches"]] == [
        scene.red_entity.name
    ]
    client.post(f"{BASE}/api/v1/warnings/{scene.red.id}/acknowledge", json={}, headers=tax)
    inbox = client.get(f"{BASE}/api/v1/inbox", headers=mkt).get_json()
    assert inbox["unread"] == 1 and inbox["messages"][0]["title"] == "acknowledged:red"
    removed = client.delete(f"{BASE}/api/v1/watches?subject_type=entity&subject_id={scene.red_entity.id}", headers=mkt)
    assert removed.get_json() == {"removed": True}
    tags = set(db_session.scalars(select(AuditEvent.tag).where(AuditEvent.tag.like("api:%"))))
    assert {AuditTag.API_WARNING_LIST, AuditTag.API_WARNING_READ, AuditTag.API_WARNING_CLOSE, AuditTag.API_WATCH_ADD,
            AuditTag.API_WATCH_LIST, AuditTag.API_INBOX_READ, AuditTag.API_WARNING_RECEIPT} <= tags  # fmt: skip


def test_the_warnings_a_watch_answers_with_are_an_audited_read(
    client: FlaskClient, db_session: Session, scene: Scene
) -> None:
    mkt = api(make_token(db_session, scene.mkt_sup))
    before = last_seq(db_session)
    watch = {"subject_type": "entity", "subject_id": scene.red_entity.id}
    answer = client.post(f"{BASE}/api/v1/watches", json=watch, headers=mkt)
    assert answer.status_code == 201 and [w["id"] for w in answer.get_json()["watch"]["warnings"]] == [scene.red.id]
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before).order_by(AuditEvent.seq)).all()
    assert {e.tag for e in events} == {AuditTag.API_WATCH_ADD}
    payloads = [json.loads(e.payload) for e in events]
    reads = [payload for payload in payloads if ["warning", str(scene.red.id)] in payload["subjects"]]
    assert len(reads) == 1 and reads[0]["actor"] == scene.mkt_sup.username
    assert reads[0]["data"] == {"subject": f"entity:{scene.red_entity.id}"}


def _hidden_subjects(session: Session, scene: Scene, cipher: PersonalDataCipher) -> tuple[Person, Entity]:
    """A person and an entity outside the registry known only from MKT's private records."""
    person = make_person(session, cipher, name="暗访对象")
    entity = make_entity(session, name="暗访页面测试餐饮有限公司", is_in_registry=False)
    make_record(session, scene.mkt, person=person, openness=Openness.PRIVATE, occurred_on=RECENT)
    make_record(session, scene.mkt, entity=entity, openness=Openness.PRIVATE, occurred_on=RECENT)
    session.commit()
    return person, entity


def test_another_agency_cannot_watch_or_mark_a_subject_it_may_not_know_of(
    app: Flask, db_session: Session, scene: Scene, cipher: PersonalDataCipher
) -> None:
    """A subject known only from MKT's private record answers TAX exactly like a missing one (no
    name, no mask, no 201-versus-404 oracle), by form and by API, and every attempt is audited."""
    person, entity = _hidden_subjects(db_session, scene, cipher)
    web, admin = signed_in(app, db_session, scene.tax_sup), signed_in(app, db_session, scene.tax_admin)
    client = app.test_client()
    tax = api(make_token(db_session, scene.tax_sup))
    before = last_seq(db_session)
    watches = db_session.scalar(select(func.count()).select_from(Watch))

    def by_form(**subject: str) -> tuple[int, str]:
        response = post(web, "/watches", "/watches", **subject)
        return response.status_code, response.get_data(as_text=True).replace(csrf_of(page(web, "/watches")), "")

    def by_api(method: str, subject: dict[str, Any]) -> tuple[int, Any]:
        response = client.open(f"{BASE}/api/v1/watches", method=method, json=subject, headers=tax)
        return response.status_code, response.get_json()

    def by_mark(uscc: str) -> tuple[int, bool]:
        response = post(admin, "/warnings/marks", "/warnings/marks", uscc=uscc, reason="线索")
        return response.status_code, "请选择市场主体或人员" in response.get_data(as_text=True)

    hidden = [{"subject_type": "person", "subject_id": person.id}, {"subject_type": "entity", "subject_id": entity.id},
              {"uscc": entity.uscc}]  # fmt: skip
    missing = [{"subject_type": "person", "subject_id": person.id + 100_000},
               {"subject_type": "entity", "subject_id": entity.id + 100_000},
               {"uscc": "911101020000000000"}]  # fmt: skip
    not_found = (404, {"error": {"code": 404, "message": "Not Found"}})
    for secret, absent in zip(hidden, missing, strict=True):
        form_secret = by_form(**{k: str(v) for k, v in secret.items()})
        assert form_secret[0] == 404 and form_secret == by_form(**{k: str(v) for k, v in absent.items()})
        for method in ("POST", "DELETE"):
            assert by_api(method, secret) == by_api(method, absent) == not_found
    assert by_mark(entity.uscc) == by_mark("911101020000000000") == (404, True)
    assert db_session.scalar(select(func.count()).select_from(Watch)) == watches
    assert db_session.scalar(select(func.count()).select_from(ManualFlag)) == 0
    events = [(e.tag, json.loads(e.payload)["data"]) for e in db_session.scalars(
        select(AuditEvent).where(AuditEvent.seq > before).order_by(AuditEvent.seq))]  # fmt: skip
    refused = Counter(tag for tag, data in events if data.get("refused") == "not_found")
    assert refused == {AuditTag.WEB_WATCH_ADD: 6, AuditTag.API_WATCH_ADD: 6, AuditTag.API_WATCH_REMOVE: 6,
                       AuditTag.WEB_WARNING_MANUAL: 2}  # fmt: skip
    assert "暗访" not in json.dumps([data for _, data in events], ensure_ascii=False)

    mkt = signed_in(app, db_session, scene.mkt_sup)  # the owner watches its own subject
    assert post(mkt, "/watches", "/watches", subject_type="person", subject_id=str(person.id)).status_code == 302
    assert "暗访对象" in page(mkt, "/watches")


def test_a_watch_on_a_subject_turned_hidden_can_still_be_removed(
    app: Flask, db_session: Session, scene: Scene, cipher: PersonalDataCipher
) -> None:
    person = make_person(db_session, cipher, name="曾经共享的人")
    record = make_record(db_session, scene.mkt, person=person, openness=Openness.SHARED, occurred_on=RECENT)
    db_session.commit()
    web = signed_in(app, db_session, scene.tax_sup)
    assert post(web, "/watches", "/watches", subject_type="person", subject_id=str(person.id)).status_code == 302
    assert "曾经共享的人" in page(web, "/watches")
    record.openness = Openness.PRIVATE
    db_session.commit()
    html = page(web, "/watches")
    assert "曾经共享的人" not in html and person.id_masked not in html and "您已无权查看的主体" in html
    assert post(web, "/watches/remove", "/watches", subject_type="person", subject_id=str(person.id)).status_code == 302
    assert db_session.scalar(select(func.count()).select_from(Watch)) == 0


def test_only_the_platform_office_assigns_snoozes_or_closes_red_by_form_and_api(
    app: Flask, client: FlaskClient, db_session: Session, scene: Scene
) -> None:
    red = f"/warnings/{scene.red.id}"
    as_tax = page(signed_in(app, db_session, scene.tax_sup), red)
    for step in ("acknowledge", "receipt", "feedback"):
        assert f"{red}/{step}" in as_tax
    for step in ("assign", "snooze", "close"):
        assert f"{red}/{step}" not in as_tax  # no form the member agency may not use
    tax, mkt = api(make_token(db_session, scene.tax_sup)), api(make_token(db_session, scene.mkt_sup))
    office = api(make_token(db_session, scene.office))
    base = f"{BASE}/api/v1/warnings/{scene.red.id}"
    assert client.post(f"{base}/acknowledge", json={}, headers=mkt).status_code == 200
    assert client.post(f"{base}/dispose", json={"measure": "inspection"}, headers=tax).status_code == 200
    until = (beijing_today() + dt.timedelta(days=7)).isoformat()
    for who in (tax, mkt):
        for step, body in (("close", {"note": "本单位已处理"}), ("assign", {"to": "me"}),
                           ("snooze", {"rule": "red_agencies", "until": until, "reason": "误报"})):  # fmt: skip
            answer = client.post(f"{base}/{step}", json=body, headers=who)
            assert answer.status_code == 403, step
            assert answer.get_json()["error"]["details"] == {"reason": "not_permitted"}
    assert "close" not in client.get(base, headers=tax).get_json()["actions"]
    web = signed_in(app, db_session, scene.tax_sup)
    refused = post(web, f"{red}/close", red, note="本单位已处理")
    assert refused.status_code == 403 and "您无权进行此项操作" in refused.get_data(as_text=True)
    db_session.refresh(scene.red)
    assert (scene.red.status, scene.red.assignee_id) == (WarningStatus.IN_DISPOSAL, None)

    as_office = page(signed_in(app, db_session, scene.office), red)
    for step in ("assign", "snooze", "close"):
        assert f"{red}/{step}" in as_office
    assert 'value="auto"' not in as_office and f"({scene.mkt_sup.username} · Agency MKT)" in as_office
    assert f"{red}/acknowledge" not in as_office and f"{red}/dispose" not in as_office
    assigned = client.post(f"{base}/assign", json={"to": str(scene.mkt_sup.id)}, headers=office)
    assert assigned.status_code == 200 and assigned.get_json()["warning"]["assignee"] == scene.mkt_sup.username
    closed = client.post(f"{base}/close", json={"note": "联席会办公室办结"}, headers=office)
    assert closed.status_code == 200 and closed.get_json()["warning"]["status"] == "closed"


def test_acting_on_a_warning_cleared_meanwhile_is_409(
    app: Flask, client: FlaskClient, db_session: Session, scene: Scene
) -> None:
    table = RiskWarning.__table__
    db_session.execute(
        update(table).where(table.c.id == scene.yellow.id).values(status=WarningStatus.CLEARED.value, is_active=False)
    )
    db_session.commit()
    tax = api(make_token(db_session, scene.tax_sup))
    answer = client.post(f"{BASE}/api/v1/warnings/{scene.yellow.id}/acknowledge", json={}, headers=tax)
    assert answer.status_code == 409 and answer.get_json()["error"]["details"] == {"reason": "not_active"}
    web = signed_in(app, db_session, scene.tax_sup)
    here = f"/warnings/{scene.yellow.id}"
    refused = post(web, f"{here}/assign", here, to="me")
    assert refused.status_code == 409 and "该预警已不在处置中" in refused.get_data(as_text=True)


# --- for the OpenAPI conformance test (tests/web/test_openapi.py) ------------------------------------


def exercise_warning_api(session: Session, call: Callable[..., Any]) -> None:
    """Call every warning-queue operation so that each documented status is reached and checked.

    ``call(method, path, url, **kwargs)`` checks the answer against the OpenAPI document."""
    scene = build_scene(session, prefix="DOC")
    tax, mkt = api(make_token(session, scene.tax_sup)), api(make_token(session, scene.mkt_sup))
    yellow, red = scene.yellow.id, scene.red.id
    listing, one = "/api/v1/warnings", "/api/v1/warnings/{warning_id}"
    call("get", listing, f"{listing}?level=yellow&overdue=0&sort=age", headers=tax)
    call("get", listing, f"{listing}?level=purple", headers=tax)  # 400
    call("get", one, f"{listing}/{red}", headers=tax)
    call("get", one, f"{listing}/{yellow}", headers=mkt)  # 404: not MKT's
    action = one + "/{action}"

    def act(name: str, warning_id: int, body: dict[str, Any], headers: dict[str, str] = tax) -> Any:
        return call("post", action.replace("{action}", name), f"{listing}/{warning_id}/{name}", json=body,
                    headers=headers)  # fmt: skip

    act("close", yellow, {"note": "x"})  # 409
    act("assign", yellow, {"to": "nobody"})  # 400
    act("assign", yellow, {"to": "me"}, mkt)  # 404
    act("assign", yellow, {"to": str(scene.mkt_sup.id)})  # 400: not a colleague
    act("assign", yellow, {"to": "me"})
    act("acknowledge", yellow, {"note": "收到"})
    act("dispose", yellow, {"measure": "shrug"})  # 400
    act("dispose", yellow, {"measure": "inspection"})
    act("snooze", yellow, {"rule": "yellow_departments", "until": "not a date", "reason": "x"})  # 400
    act("snooze", yellow, {"rule": "yellow_departments", "until": (beijing_today() + dt.timedelta(days=7)).isoformat(),
                           "reason": "误报"})  # fmt: skip
    act("feedback", yellow, {"message": "请核实"})
    act("feedback", yellow, {})  # 400
    act("close", yellow, {"note": "整改完毕"})
    act("receipt", yellow, {})  # 409: not red
    act("receipt", red, {"note": "已阅"}, mkt)
    office = api(make_token(session, scene.office))
    act("receipt", red, {}, office)  # 403: the platform office reads red, does not work it
    watches = "/api/v1/watches"
    call("get", watches, watches, headers=mkt)
    call("post", watches, watches, json={"subject_type": "entity", "subject_id": scene.red_entity.id}, headers=mkt)
    call("post", watches, watches, json={"uscc": "911101020000000000"}, headers=mkt)  # 404
    call("post", watches, watches, json={"subject_type": "planet", "subject_id": 1}, headers=mkt)  # 400
    call("delete", watches, watches, json={"subject_type": "entity", "subject_id": scene.red_entity.id}, headers=mkt)
    call("delete", watches, f"{watches}?uscc=911101020000000000", headers=mkt)  # 404
    call("delete", watches, watches, json={"subject_id": "x"}, headers=mkt)  # 400
    call("get", "/api/v1/inbox", "/api/v1/inbox?unread=1", headers=tax)
