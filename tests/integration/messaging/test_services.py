"""Internal push messages in the database: delivery to an agency's users, the about-object's
visibility, ID numbers kept out of the text, the sent box, opening and unread counts, and the audit
trail of every send, read and refusal."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.messaging import services
from signalhub_platform.messaging.services import InvalidMessage, NotFound
from signalhub_platform.models import (
    Actor,
    Agency,
    AuditEvent,
    Entity,
    Message,
    Openness,
    Record,
    RiskWarning,
    Role,
    SubjectType,
    User,
    WarningLevel,
)
from signalhub_platform.sharing.services import get_record
from signalhub_warnings import queue
from signalhub_warnings.services import visible_warnings_clause
from tests.factories import make_agency, make_entity, make_id_number, make_record, make_uscc, make_user

NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)
SEND = AuditTag.WEB_MESSAGE_SEND
READ = AuditTag.WEB_MESSAGE_READ
ID_NUMBER = "11010519491231002X"  # GB 11643's example (TESTS C8)


def actor(user: User) -> Actor:
    return Actor.for_user(user)


@dataclass
class Scene:
    tax: Agency
    mkt: Agency
    tax_sup: User
    tax_liaison: User
    tax_disabled: User
    mkt_sup: User
    mkt_admin: User
    office: User
    entity: Entity
    tax_private: Record
    tax_shared: Record
    yellow: RiskWarning
    red: RiskWarning


def _warning(session: Session, entity: Entity, level: WarningLevel, scope: Agency | None) -> RiskWarning:
    warning = RiskWarning(
        subject_type=SubjectType.ENTITY, subject_key=f"entity:{entity.id}", entity_id=entity.id,
        scope_key=str(scope.id) if scope else "platform", scope_agency_id=scope.id if scope else None, level=level,
    )  # fmt: skip
    session.add(warning)
    session.flush()
    return warning


def build_scene(db_session: Session) -> Scene:
    """TAX (two active users and a disabled one) and MKT (two users), the platform office, an entity
    with a private and a shared TAX record, TAX's yellow warning and a red one on it."""
    tax, mkt = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    entity = make_entity(db_session, name="北京消息测试有限公司")
    disabled = make_user(db_session, tax, Role.SUPERVISOR)
    disabled.is_active = False
    db_session.flush()
    return Scene(
        tax=tax, mkt=mkt, tax_sup=make_user(db_session, tax, Role.SUPERVISOR),
        tax_liaison=make_user(db_session, tax, Role.LIAISON), tax_disabled=disabled,
        mkt_sup=make_user(db_session, mkt, Role.SUPERVISOR), mkt_admin=make_user(db_session, mkt, Role.AGENCY_ADMIN),
        office=make_user(db_session, None, Role.PLATFORM_ADMIN), entity=entity,
        tax_private=make_record(db_session, tax, entity=entity, openness=Openness.PRIVATE, description="内部线索"),
        tax_shared=make_record(db_session, tax, entity=entity, openness=Openness.SHARED),
        yellow=_warning(db_session, entity, WarningLevel.YELLOW, tax),
        red=_warning(db_session, entity, WarningLevel.RED, None),
    )  # fmt: skip


@pytest.fixture
def scene(db_session: Session) -> Scene:
    return build_scene(db_session)


def send(session: Session, user: User, **fields: str) -> services.Sent:
    values = {"title": "请核查", "body": "该企业存在异常，请协助核查。", "about_type": "entity", "about_ref": "",
              **fields}  # fmt: skip
    return services.send_message(session, actor(user), warnings_visible_to=visible_warnings_clause, tag=SEND,
                                 now=NOW, **values)  # type: ignore[arg-type]  # fmt: skip


def events(session: Session, tag: AuditTag) -> list[dict[str, object]]:
    rows = session.scalars(select(AuditEvent.payload).where(AuditEvent.tag == tag).order_by(AuditEvent.seq))
    return [json.loads(payload) for payload in rows]


def inbox_titles(session: Session, user: User) -> list[str]:
    box = queue.inbox(session, actor(user), tag=AuditTag.WEB_INBOX_READ)
    return [item.message.title for item in box.messages]


# --- delivery -------------------------------------------------------------------------------------------


def test_a_message_to_an_agency_reaches_each_of_its_active_users_and_nobody_else(
    db_session: Session, scene: Scene
) -> None:
    sent = send(db_session, scene.mkt_sup, about_ref=scene.entity.uscc, recipient_agency="TAX", title="请核查该企业")
    assert sorted(m.recipient_user_id for m in sent.messages) == sorted([scene.tax_sup.id, scene.tax_liaison.id])
    assert {(m.sender_user_id, m.sender_agency_id, m.recipient_agency_id) for m in sent.messages} == {
        (scene.mkt_sup.id, scene.mkt.id, None)  # one row per user: each reader has their own unread state
    }
    assert inbox_titles(db_session, scene.tax_sup) == ["请核查该企业"]
    assert inbox_titles(db_session, scene.tax_liaison) == ["请核查该企业"]
    for other in (scene.mkt_sup, scene.mkt_admin, scene.office, scene.tax_disabled):
        assert inbox_titles(db_session, other) == []
    box = queue.inbox(db_session, actor(scene.tax_sup), tag=AuditTag.WEB_INBOX_READ)
    assert box.messages[0].sender_agency == "Agency MKT"
    assert (box.messages[0].message.about_type, box.messages[0].message.about_ref) == ("entity", scene.entity.uscc)


def test_a_message_to_ones_own_agency_skips_the_sender(db_session: Session, scene: Scene) -> None:
    sent = send(db_session, scene.tax_sup, about_ref=scene.entity.uscc, recipient_agency="TAX")
    assert [m.recipient_user_id for m in sent.messages] == [scene.tax_liaison.id]


def test_a_message_to_one_user(db_session: Session, scene: Scene) -> None:
    sent = send(db_session, scene.tax_sup, about_type="warning", about_ref=str(scene.red.id),
                recipient_user=scene.mkt_admin.username)  # fmt: skip
    assert [m.recipient_user_id for m in sent.messages] == [scene.mkt_admin.id]
    assert inbox_titles(db_session, scene.mkt_sup) == []
    assert inbox_titles(db_session, scene.mkt_admin) == ["请核查"]


@pytest.mark.parametrize(
    ("recipients", "code"),
    [
        ({}, "choose_recipient"),
        ({"recipient_agency": "TAX", "recipient_user": "x"}, "choose_recipient"),
        ({"recipient_agency": "NOPE"}, "unknown_agency"),
        ({"recipient_user": "nobody-of-that-name"}, "unknown_user"),
        ({"recipient_user": "{disabled}"}, "recipient_disabled"),
        ({"recipient_user": "{me}"}, "not_to_yourself"),
    ],
)
def test_bad_recipients_are_refused_and_audited(
    db_session: Session, scene: Scene, recipients: dict[str, str], code: str
) -> None:
    names = {"disabled": scene.tax_disabled.username, "me": scene.mkt_sup.username}
    fields = {key: value.format(**names) for key, value in recipients.items()}
    with pytest.raises(InvalidMessage) as refused:
        send(db_session, scene.mkt_sup, about_ref=scene.entity.uscc, **fields)
    assert refused.value.code == code and refused.value.status_code == 400
    assert db_session.scalar(select(func.count()).select_from(Message)) == 0
    assert events(db_session, SEND)[-1]["data"]["refused"] == code  # type: ignore[index]


def test_an_agency_without_another_active_user_is_refused(db_session: Session, scene: Scene) -> None:
    lone = make_agency(db_session, "LONE")
    sender = make_user(db_session, lone, Role.SUPERVISOR)
    with pytest.raises(InvalidMessage, match="no active user"):
        send(db_session, sender, about_ref=scene.entity.uscc, recipient_agency="LONE")


# --- the about-object ----------------------------------------------------------------------------------


def test_the_sender_must_see_what_the_message_is_about(db_session: Session, scene: Scene) -> None:
    private = str(scene.tax_private.id)
    hidden = [
        ("record", private),  # TAX's private record, seen from MKT
        ("warning", str(scene.yellow.id)),  # TAX's yellow warning
        ("record", "99999999"),
        ("entity", make_uscc()),  # no such entity
        ("warning", "x"),
        ("person", "1"),  # not something a message can be about
    ]
    for about_type, about_ref in hidden:
        with pytest.raises(NotFound):
            send(db_session, scene.mkt_sup, about_type=about_type, about_ref=about_ref, recipient_agency="TAX")
    assert db_session.scalar(select(func.count()).select_from(Message)) == 0
    refusals = events(db_session, SEND)
    assert [(e["data"]["refused"], e["data"]["about_ref"]) for e in refusals][:2] == [  # type: ignore[index]
        ("not_found", private), ("not_found", str(scene.yellow.id)),
    ]  # fmt: skip
    assert all(e["actor"] == scene.mkt_sup.username for e in refusals)
    # What the sender may see: the owner's private record, a red warning, a shared record.
    send(db_session, scene.tax_sup, about_type="record", about_ref=private, recipient_agency="MKT")
    send(db_session, scene.mkt_sup, about_type="warning", about_ref=str(scene.red.id), recipient_agency="TAX")
    send(db_session, scene.mkt_sup, about_type="record", about_ref=str(scene.tax_shared.id), recipient_agency="TAX")


def test_an_entity_only_known_from_a_private_record_is_hidden_from_other_agencies(
    db_session: Session, scene: Scene
) -> None:
    unlisted = make_entity(db_session, name="未登记主体", is_in_registry=False)
    make_record(db_session, scene.tax, entity=unlisted, openness=Openness.PRIVATE)
    with pytest.raises(NotFound):
        send(db_session, scene.mkt_sup, about_ref=unlisted.uscc, recipient_agency="TAX")
    sent = send(db_session, scene.tax_sup, about_ref=unlisted.uscc.lower(), recipient_agency="MKT")
    assert sent.messages[0].about_ref == unlisted.uscc  # normalised to the stored code


def test_a_refused_reference_that_is_an_id_number_never_reaches_the_audit_log(
    db_session: Session, scene: Scene
) -> None:
    with pytest.raises(NotFound):
        send(db_session, scene.mkt_sup, about_type="entity", about_ref=ID_NUMBER, recipient_agency="TAX")
    payload = db_session.scalars(select(AuditEvent.payload).order_by(AuditEvent.seq.desc())).first() or ""
    assert "refused" in payload and ID_NUMBER not in payload and ID_NUMBER[:14] not in payload


# --- the text ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"法定代表人身份证{ID_NUMBER}，请核实",
        ID_NUMBER.lower(),
        "身份证号：１１０１０５１９４９１２３１００２Ｘ",  # full-width, as a Chinese IME types it
        "110105 19491231 002X",
        "110105-19491231-002X",
        "11010519491231002Y"[:17] + "5",  # a mistyped check digit is still somebody's ID number
        "110105491231002",  # first-generation, 15 digits
        make_id_number(dt.date(1990, 1, 2)),
    ],
)
def test_id_numbers_are_refused_in_the_body_and_the_title(db_session: Session, scene: Scene, text: str) -> None:
    for fields in ({"body": text}, {"title": text[:200]}):
        with pytest.raises(InvalidMessage) as refused:
            send(db_session, scene.mkt_sup, about_ref=scene.entity.uscc, recipient_agency="TAX", **fields)
        assert refused.value.code == "id_number_in_text"
    assert db_session.scalar(select(func.count()).select_from(Message)) == 0
    assert all(text not in json.dumps(e, ensure_ascii=False) for e in events(db_session, SEND))


@pytest.mark.parametrize(
    "text",
    [
        "统一社会信用代码 91350100M000100Y43，请核实",
        "联系电话 010-66001234 或 13800138000",
        "订单号 202406011234567890",  # 18 digits whose "birth date" 0112-34-56 is no date
        "金额 123456789012345678901 元",  # 21 digits: no ID number is that long
        "2026-11-27 10:00 现场检查",
    ],
)
def test_other_numbers_are_fine(db_session: Session, scene: Scene, text: str) -> None:
    sent = send(db_session, scene.mkt_sup, about_ref=scene.entity.uscc, recipient_agency="TAX", body=text)
    assert sent.messages[0].body == text


def test_title_and_body_limits(db_session: Session, scene: Scene) -> None:
    base = {"about_ref": scene.entity.uscc, "recipient_agency": "TAX"}
    for fields, code in (
        ({"title": "   "}, "title_required"),
        ({"title": "题" * (services.TITLE_MAX_LENGTH + 1)}, "title_too_long"),
        ({"body": "文" * (services.BODY_MAX_LENGTH + 1)}, "body_too_long"),
    ):
        with pytest.raises(InvalidMessage) as refused:
            send(db_session, scene.mkt_sup, **base, **fields)
        assert refused.value.code == code
    sent = send(db_session, scene.mkt_sup, **base, title="题" * 200, body="文" * 2000)
    assert len(sent.messages) == 2


def test_the_audit_event_of_a_send_names_the_recipients_but_holds_no_text(db_session: Session, scene: Scene) -> None:
    sent = send(db_session, scene.mkt_sup, about_ref=scene.entity.uscc, recipient_agency="TAX",
                title="机密标题", body="机密正文")  # fmt: skip
    event = events(db_session, SEND)[-1]
    assert event["data"] == {"action": "send", "recipient_agency": "TAX", "recipients": 2, "title_length": 4,
                             "body_length": 4}  # fmt: skip
    subjects = {tuple(s) for s in event["subjects"]}  # type: ignore[attr-defined]
    assert ("entity", scene.entity.uscc) in subjects
    assert {("message", str(m.id)) for m in sent.messages} <= subjects
    assert {("user", str(scene.tax_sup.id)), ("user", str(scene.tax_liaison.id))} <= subjects
    assert "机密" not in json.dumps(event, ensure_ascii=False)


# --- reading ---------------------------------------------------------------------------------------------


def test_opening_a_message_marks_it_read_and_lowers_the_unread_count(db_session: Session, scene: Scene) -> None:
    first = send(db_session, scene.mkt_sup, about_ref=scene.entity.uscc, recipient_agency="TAX")
    send(db_session, scene.mkt_sup, about_type="warning", about_ref=str(scene.red.id),
         recipient_user=scene.tax_sup.username, title="红色预警")  # fmt: skip
    assert services.unread_count(db_session, actor(scene.tax_sup)) == 2
    assert services.unread_count(db_session, actor(scene.tax_liaison)) == 1
    assert services.unread_count(db_session, actor(scene.mkt_sup)) == 0
    mine = next(m for m in first.messages if m.recipient_user_id == scene.tax_sup.id)
    opened = services.open_message(db_session, actor(scene.tax_sup), mine.id, tag=READ, now=NOW)
    assert opened.is_recipient and opened.sent is None
    assert (opened.sender, opened.sender_agency) == ("Test User", "Agency MKT")
    assert opened.message.read_at == NOW
    assert services.unread_count(db_session, actor(scene.tax_sup)) == 1
    assert services.unread_count(db_session, actor(scene.tax_liaison)) == 1  # their own copy stays unread
    assert events(db_session, READ)[-1]["data"] == {"action": "open", "marked_read": True}


def test_the_unread_count_includes_messages_to_the_whole_agency(db_session: Session, scene: Scene) -> None:
    # Warning feedback is addressed to an agency as a whole (one row); it counts for every user of it.
    db_session.add(Message(recipient_agency_id=scene.tax.id, title="feedback:red", created_at=NOW))
    db_session.flush()
    assert services.unread_count(db_session, actor(scene.tax_liaison)) == 1
    assert services.unread_count(db_session, actor(scene.mkt_sup)) == 0
    assert services.unread_count(db_session, Actor.public()) == 0


def test_only_recipients_and_the_sender_may_open_a_message(db_session: Session, scene: Scene) -> None:
    sent = send(db_session, scene.mkt_sup, about_ref=scene.entity.uscc, recipient_user=scene.tax_sup.username)
    message_id = sent.messages[0].id
    for outsider in (scene.tax_liaison, scene.mkt_admin, scene.office):
        with pytest.raises(NotFound):
            services.open_message(db_session, actor(outsider), message_id, tag=READ)
    with pytest.raises(NotFound):
        services.open_message(db_session, actor(scene.tax_sup), 99999999, tag=READ)
    assert [e["data"]["refused"] for e in events(db_session, READ)] == ["not_found"] * 4  # type: ignore[index]
    as_sender = services.open_message(db_session, actor(scene.mkt_sup), message_id, tag=READ)
    assert not as_sender.is_recipient and as_sender.message.read_at is None  # the sender reading is no receipt
    assert as_sender.sent is not None and [a.name for a in as_sender.sent.addressees] == ["Test User"]


def test_the_sent_box_shows_one_item_per_send_with_who_read_it(db_session: Session, scene: Scene) -> None:
    to_agency = send(db_session, scene.mkt_sup, about_ref=scene.entity.uscc, recipient_agency="TAX", title="一")
    later = NOW + dt.timedelta(minutes=5)
    services.send_message(db_session, actor(scene.mkt_sup), title="二", body="", about_type="warning",
                          about_ref=str(scene.red.id), recipient_user=scene.office.username,
                          warnings_visible_to=visible_warnings_clause, tag=SEND, now=later)  # fmt: skip
    services.open_message(db_session, actor(scene.tax_liaison), to_agency.messages[-1].id, tag=READ)
    items = services.list_sent(db_session, actor(scene.mkt_sup), tag=READ)
    assert [item.message.title for item in items] == ["二", "一"]
    assert [(len(item.addressees), item.read, item.agencies) for item in items] == [
        (1, 0, []),  # the platform office belongs to no agency
        (2, 1, ["Agency TAX"]),
    ]
    assert services.list_sent(db_session, actor(scene.tax_sup), tag=READ) == []
    assert events(db_session, READ)[-2]["data"] == {"action": "sent", "sends": 2}


def test_the_recipient_gets_a_link_and_opens_it_with_their_own_rights(db_session: Session, scene: Scene) -> None:
    """TAX tells MKT about its private record: MKT gets the link, never the record."""
    sent = send(db_session, scene.tax_sup, about_type="record", about_ref=str(scene.tax_private.id),
                recipient_agency="MKT", body="请关注")  # fmt: skip
    opened = services.open_message(db_session, actor(scene.mkt_sup), sent.messages[0].id, tag=READ)
    assert (opened.message.about_type, opened.message.about_ref) == ("record", str(scene.tax_private.id))
    assert "内部线索" not in opened.message.body + opened.message.title
    as_mkt = get_record(db_session, actor(scene.mkt_sup), scene.tax_private.id, tag=AuditTag.WEB_RECORD_READ,
                        denied_tag=AuditTag.WEB_RECORD_DENIED)  # fmt: skip
    assert as_mkt is None
