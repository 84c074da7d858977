"""Internal push messages in the browser's terms: the "send a message" links, the compose page, the
sent box, one message, the inbox's about-links, the unread count for the navigation, CSRF, and
``POST /api/v1/messages`` with its audit trail."""

from __future__ import annotations

import json

import pytest
from flask import Flask, g, render_template_string
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.models import Actor, AuditEvent, Message, User
from tests.factories import make_token
from tests.integration.messaging.test_services import ID_NUMBER, Scene, build_scene
from tests.web.test_pages import BASE, signed_in
from tests.web.test_warnings_queue import last_seq, page, post, tags_since


@pytest.fixture
def scene(db_session: Session) -> Scene:
    return build_scene(db_session)


def compose_path(about_type: str, about_ref: object) -> str:
    return f"/messages/new?about_type={about_type}&about_ref={about_ref}"


def message_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Message)) or 0


def last_payload(session: Session, tag: AuditTag, action: str = "") -> dict[str, object]:
    """The latest audit payload under ``tag`` (of that ``action``, if given)."""
    for payload in session.scalars(
        select(AuditEvent.payload).where(AuditEvent.tag == tag).order_by(AuditEvent.seq.desc())
    ):
        event = json.loads(payload)
        if not action or event["data"].get("action") == action:
            return event  # type: ignore[no-any-return]
    return {}


def send_form(client: FlaskClient, about_type: str, about_ref: object, **fields: str) -> object:
    return post(client, "/messages/new", compose_path(about_type, about_ref), about_type=about_type,
                about_ref=str(about_ref), **fields)  # fmt: skip


def unread_in_nav(app: Flask, user: User | None) -> str:
    """What ``{{ unread_messages() }}`` gives nav.html for a signed-in ``user`` (or nobody)."""
    with app.test_request_context("/"):
        if user is not None:
            g.user, g.actor, g.auth_method = user, Actor.for_user(user), "session"
        return render_template_string("{{ unread_messages() }}")


# --- pages ------------------------------------------------------------------------------------------------


def test_pages_require_login(client: FlaskClient, scene: Scene) -> None:
    for path in (compose_path("entity", scene.entity.uscc), "/messages/sent", "/messages/1"):
        response = client.get(f"{BASE}{path}")
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_entity_record_and_warning_pages_link_to_the_compose_page(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    client = signed_in(app, db_session, scene.mkt_sup)
    for about_type, ref, where in (
        ("entity", scene.entity.uscc, f"/entities/{scene.entity.uscc}"),
        ("record", scene.tax_shared.id, f"/records/{scene.tax_shared.id}"),
        ("warning", scene.red.id, f"/warnings/{scene.red.id}"),
    ):
        link = compose_path(about_type, ref).replace("&", "&amp;")
        assert link in page(client, where), where
        html = page(client, compose_path(about_type, ref))
        assert "发送内部消息" in html and 'name="csrf_token"' in html
        assert f'name="about_ref" value="{ref}"' in html
        assert '<option value="TAX">Agency TAX</option>' in html
        assert f'value="{scene.mkt_sup.username}"' not in html  # not to oneself
        assert f'value="{scene.tax_disabled.username}"' not in html  # not to a disabled account
    assert "北京消息测试有限公司" in page(client, compose_path("entity", scene.entity.uscc))


def test_composing_about_something_the_sender_may_not_see_is_a_404_and_audited(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    client = signed_in(app, db_session, scene.mkt_sup)
    for about_type, ref in (("record", scene.tax_private.id), ("warning", scene.yellow.id), ("record", 99999999),
                            ("planet", 1)):  # fmt: skip
        before = last_seq(db_session)
        assert client.get(f"{BASE}{compose_path(about_type, ref)}").status_code == 404
        assert tags_since(db_session, before) == [AuditTag.WEB_MESSAGE_SEND]
        assert last_payload(db_session, AuditTag.WEB_MESSAGE_SEND)["data"] == {
            "action": "compose", "refused": "not_found", "status": 404, "about_type": about_type, "about_ref": str(ref),
        }  # fmt: skip
    token_page = compose_path("entity", scene.entity.uscc)
    before = last_seq(db_session)
    response = post(client, "/messages/new", token_page, about_type="record", about_ref=str(scene.tax_private.id),
                    recipient_agency="TAX", title="试探")  # fmt: skip
    assert response.status_code == 404
    assert AuditTag.WEB_MESSAGE_SEND in tags_since(db_session, before)
    assert last_payload(db_session, AuditTag.WEB_MESSAGE_SEND)["data"]["action"] == "send"  # type: ignore[index]
    assert message_count(db_session) == 0


# --- sending and reading ----------------------------------------------------------------------------------


def test_a_message_to_an_agency_reaches_each_of_its_users_inbox(app: Flask, db_session: Session, scene: Scene) -> None:
    sender = signed_in(app, db_session, scene.mkt_sup)
    response = send_form(sender, "entity", scene.entity.uscc, recipient_agency="TAX", title="请协查该企业",
                         body="我局发现该企业地址异常。")  # fmt: skip
    assert response.status_code == 302 and response.headers["Location"].endswith("/messages/sent?done=sent")
    sent = page(sender, "/messages/sent?done=sent")
    assert "消息已发送" in sent and "请协查该企业" in sent and "Agency TAX (2 人)" in sent and "2 人中 0 人已读" in sent
    for user in (scene.tax_sup, scene.tax_liaison):
        inbox = page(signed_in(app, db_session, user), "/inbox")
        assert "请协查该企业" in inbox and "Test User · Agency MKT" in inbox
        assert f'href="/entities/{scene.entity.uscc}"' in inbox and 'class="badge red">1<' in inbox
    for user in (scene.mkt_admin, scene.office):
        assert "请协查该企业" not in page(signed_in(app, db_session, user), "/inbox")


def test_opening_a_message_marks_it_read_and_lowers_the_unread_count(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    sender = signed_in(app, db_session, scene.mkt_sup)
    send_form(sender, "entity", scene.entity.uscc, recipient_agency="TAX", title="第一条")
    send_form(sender, "warning", scene.red.id, recipient_user=scene.tax_sup.username, title="第二条")
    assert unread_in_nav(app, scene.tax_sup) == "2"
    assert unread_in_nav(app, scene.tax_liaison) == "1"
    assert unread_in_nav(app, scene.mkt_sup) == "0" and unread_in_nav(app, None) == "0"
    reader = signed_in(app, db_session, scene.tax_sup)
    mine = db_session.scalars(
        select(Message).where(Message.recipient_user_id == scene.tax_sup.id, Message.title == "第二条")
    ).one()
    before = last_seq(db_session)
    html = page(reader, f"/messages/{mine.id}")
    assert "第二条" in html and "Agency MKT" in html and f'href="/warnings/{scene.red.id}"' in html
    assert tags_since(db_session, before) == [AuditTag.WEB_MESSAGE_READ]
    assert unread_in_nav(app, scene.tax_sup) == "1"
    assert unread_in_nav(app, scene.tax_liaison) == "1"
    assert "1 条未读" in page(reader, "/inbox")
    assert "1 人中 1 人已读" in page(sender, "/messages/sent")
    assert "未读" not in page(sender, f"/messages/{mine.id}").split("接收人")[1]  # the recipient list: read


def test_a_message_is_only_for_its_recipients_and_its_sender(app: Flask, db_session: Session, scene: Scene) -> None:
    send_form(signed_in(app, db_session, scene.mkt_sup), "entity", scene.entity.uscc,
              recipient_user=scene.tax_sup.username, title="仅限一人")  # fmt: skip
    message = db_session.scalars(select(Message)).one()
    before = last_seq(db_session)
    for outsider in (scene.tax_liaison, scene.mkt_admin, scene.office):
        assert signed_in(app, db_session, outsider).get(f"{BASE}/messages/{message.id}").status_code == 404
    assert tags_since(db_session, before).count(AuditTag.WEB_MESSAGE_READ) == 3
    db_session.refresh(message)
    assert message.read_at is None


def test_the_recipient_gets_the_link_but_the_record_page_still_refuses(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    """TAX points MKT to its private record: MKT sees the link, and the record page answers 404."""
    send_form(signed_in(app, db_session, scene.tax_sup), "record", scene.tax_private.id, recipient_agency="MKT",
              title="请关注此线索")  # fmt: skip
    reader = signed_in(app, db_session, scene.mkt_sup)
    link = f'href="/records/{scene.tax_private.id}"'
    assert link in page(reader, "/inbox")
    message = db_session.scalars(select(Message).where(Message.recipient_user_id == scene.mkt_sup.id)).one()
    opened = page(reader, f"/messages/{message.id}")
    assert link in opened and "内部线索" not in opened
    assert reader.get(f"{BASE}/records/{scene.tax_private.id}").status_code == 404
    assert (
        signed_in(app, db_session, scene.tax_liaison).get(f"{BASE}/records/{scene.tax_private.id}").status_code == 200
    )


def test_an_id_number_in_the_body_is_refused_and_never_echoed(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.mkt_sup)
    response = send_form(client, "entity", scene.entity.uscc, recipient_agency="TAX", title="核实身份",
                         body=f"负责人身份证号{ID_NUMBER}，请核实")  # fmt: skip
    assert response.status_code == 400  # type: ignore[attr-defined]
    html = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "消息中不得包含居民身份证号码" in html
    assert ID_NUMBER not in html and "110105********002X" in html  # the rest of the text is kept, masked
    assert message_count(db_session) == 0
    assert last_payload(db_session, AuditTag.WEB_MESSAGE_SEND, "send")["data"]["refused"] == "id_number_in_text"  # type: ignore[index]


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"recipient_user": "{disabled}"}, "该用户账号已停用"),
        ({}, "请选择一个成员单位或一名用户"),
        ({"recipient_agency": "TAX", "title": ""}, "请填写标题"),
    ],
)
def test_refusals_are_explained_on_the_form(
    app: Flask, db_session: Session, scene: Scene, fields: dict[str, str], shown: str
) -> None:
    values = {"title": "标题", **{k: v.format(disabled=scene.tax_disabled.username) for k, v in fields.items()}}
    response = send_form(signed_in(app, db_session, scene.mkt_sup), "entity", scene.entity.uscc, **values)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert shown in response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert message_count(db_session) == 0


def test_sending_needs_the_csrf_token(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.mkt_sup)
    form = {"about_type": "entity", "about_ref": scene.entity.uscc, "recipient_agency": "TAX", "title": "无令牌"}
    before = last_seq(db_session)
    assert client.post(f"{BASE}/messages/new", data=form).status_code == 403
    assert tags_since(db_session, before) == [AuditTag.WEB_AUTH_CSRF_REJECTED]
    assert client.post(f"{BASE}/messages/new", data={**form, "csrf_token": "forged"}).status_code == 403
    assert message_count(db_session) == 0


def test_the_sent_box_is_audited(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.mkt_sup)
    before = last_seq(db_session)
    assert "您尚未发送过消息" in page(client, "/messages/sent")
    assert tags_since(db_session, before) == [AuditTag.WEB_MESSAGE_READ]


# --- the JSON API -----------------------------------------------------------------------------------------


def test_the_api_sends_and_is_audited(client: FlaskClient, db_session: Session, scene: Scene) -> None:
    auth = {"Authorization": f"Bearer {make_token(db_session, scene.mkt_sup)}"}
    url = f"{BASE}/api/v1/messages"
    body = {"recipient_agency": "TAX", "title": "接口消息", "body": "请核查", "about_type": "record",
            "about_ref": str(scene.tax_shared.id)}  # fmt: skip
    assert client.post(url, json=body).status_code == 401
    before = last_seq(db_session)
    response = client.post(url, json=body, headers=auth)
    assert response.status_code == 201
    document = response.get_json()
    assert document["sent"] == 2 and document["recipient_agency"] == "TAX"
    assert sorted(document["recipient_users"]) == sorted([scene.tax_sup.username, scene.tax_liaison.username])
    assert tags_since(db_session, before) == [AuditTag.API_MESSAGE_SEND]
    rows = db_session.scalars(select(Message).where(Message.id.in_(document["message_ids"]))).all()
    assert {m.recipient_user_id for m in rows} == {scene.tax_sup.id, scene.tax_liaison.id}

    hidden = client.post(url, json={**body, "about_ref": str(scene.tax_private.id)}, headers=auth)
    assert hidden.status_code == 404 and hidden.get_json() == {"error": {"code": 404, "message": "Not Found"}}
    assert last_payload(db_session, AuditTag.API_MESSAGE_SEND)["data"]["refused"] == "not_found"  # type: ignore[index]
    with_id = client.post(url, json={**body, "body": f"身份证{ID_NUMBER}"}, headers=auth)
    assert with_id.status_code == 400 and "body" in with_id.get_json()["error"]["details"]
    both = client.post(url, json={**body, "recipient_user": scene.tax_sup.username}, headers=auth)
    assert both.status_code == 400
    disabled = client.post(url, json={**body, "recipient_agency": "", "recipient_user": scene.tax_disabled.username},
                           headers=auth)  # fmt: skip
    assert disabled.status_code == 400 and disabled.get_json()["error"]["details"] == {"reason": "recipient_disabled"}
    assert message_count(db_session) == 2


def test_a_user_cannot_dress_a_message_up_as_a_platform_notice(app: Flask, db_session: Session, scene: Scene) -> None:
    """A title shaped like a notice ("overdue:red") is shown as typed; only the platform's own
    notices (no sender) get the level badge."""
    sender = signed_in(app, db_session, scene.mkt_sup)
    send_form(sender, "warning", scene.red.id, recipient_user=scene.tax_sup.username, title="overdue:red")
    db_session.add(Message(recipient_user_id=scene.tax_sup.id, title="acknowledged:yellow", about_type="warning",
                           about_ref=str(scene.red.id)))  # fmt: skip
    db_session.commit()
    spoof, notice = (
        db_session.scalars(select(Message).where(Message.title == title)).one()
        for title in ("overdue:red", "acknowledged:yellow")
    )
    reader = signed_in(app, db_session, scene.tax_sup)
    inbox = page(reader, "/inbox")
    spoof_row, notice_row = (inbox.split(f'href="/messages/{m.id}"')[1].split("</a>")[0] for m in (spoof, notice))
    assert "overdue:red" in spoof_row and "badge" not in spoof_row and "逾期" not in spoof_row
    assert '<span class="badge yellow">黄色</span> 已签收' in notice_row
    shown = page(reader, f"/messages/{spoof.id}")
    assert "<h1>overdue:red</h1>" in shown and '<span class="badge red">红色</span>' not in shown
    assert '<h1><span class="badge yellow">黄色</span> 已签收</h1>' in page(reader, f"/messages/{notice.id}")
