"""The daily acknowledgement (SLA) check: a warning nobody acknowledged by its date gets one message,
to its assignee, else its agency, else (red) the platform office's admins."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.models import (
    Actor,
    Agency,
    AuditEvent,
    Entity,
    Message,
    Openness,
    RiskLevel,
    RiskWarning,
    Role,
    User,
    WarningLevel,
    WarningStatus,
)
from signalhub_platform.models.types import beijing_today
from signalhub_warnings import queue
from signalhub_warnings.jobs import remind_overdue_acknowledgements
from signalhub_warnings.rules import Thresholds
from signalhub_warnings.services import evaluate_warnings
from tests.factories import make_agency, make_entity, make_record, make_user
from tests.web.test_pages import BASE, signed_in

# Friday 27 November 2026, 10:00 in Beijing. Red is due in 2 working days (Tuesday 1 December),
# yellow in 5 (Friday 4 December).
NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)
ACKNOWLEDGE_DAYS = {"red": 2, "orange": 3, "yellow": 5}


def on(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(2, 0, tzinfo=dt.UTC))


@dataclass
class Scene:
    tax: Agency
    mkt: Agency
    fda: Agency
    tax_sup: User
    mkt_sup: User
    fda_sup: User
    office: User
    office_auditor: User
    yellow_entity: Entity  # TAX's yellow
    red_entity: Entity  # red, and MKT's yellow
    fda_entity: Entity  # FDA's yellow

    def warning(self, session: Session, entity: Entity, scope: str) -> RiskWarning:
        return session.scalars(
            select(RiskWarning).where(RiskWarning.entity_id == entity.id, RiskWarning.scope_key == scope)
        ).one()


@pytest.fixture
def scene(db_session: Session) -> Scene:
    tax, mkt, fda = (make_agency(db_session, code) for code in ("TAX", "MKT", "FDA"))
    yellow_entity, red_entity, fda_entity = (make_entity(db_session) for _ in range(3))
    for department in tax.departments[:2]:
        make_record(db_session, tax, entity=yellow_entity, department=department, occurred_on=dt.date(2026, 10, 1))
    make_record(db_session, tax, entity=red_entity, openness=Openness.SHARED, occurred_on=dt.date(2026, 10, 1))
    make_record(db_session, mkt, entity=red_entity, openness=Openness.PUBLIC, occurred_on=dt.date(2026, 10, 1))
    make_record(db_session, mkt, entity=red_entity, department=mkt.departments[1], risk_level=RiskLevel.HIGH,
                openness=Openness.PRIVATE, occurred_on=dt.date(2026, 10, 1))  # fmt: skip
    for department in fda.departments[:2]:
        make_record(db_session, fda, entity=fda_entity, department=department, occurred_on=dt.date(2026, 10, 1))
    evaluate_warnings(
        db_session, thresholds=Thresholds(), acknowledge_days=ACKNOWLEDGE_DAYS, actor=Actor.job("evaluate_warnings"),
        tag=AuditTag.JOB_WARNINGS_EVALUATE, as_of=beijing_today(NOW), now=NOW,
    )  # fmt: skip
    return Scene(
        tax=tax, mkt=mkt, fda=fda,
        tax_sup=make_user(db_session, tax, Role.SUPERVISOR),
        mkt_sup=make_user(db_session, mkt, Role.SUPERVISOR),
        fda_sup=make_user(db_session, fda, Role.SUPERVISOR),
        office=make_user(db_session, None, Role.PLATFORM_ADMIN),
        office_auditor=make_user(db_session, None, Role.AUDITOR),
        yellow_entity=yellow_entity, red_entity=red_entity, fda_entity=fda_entity,
    )  # fmt: skip


def reminders(session: Session) -> list[Message]:
    session.expire_all()
    query = select(Message).where(Message.about_type == "warning", Message.title.like("overdue:%"))
    return list(session.scalars(query.order_by(Message.id)))


def remind(session: Session, day: dt.date) -> int:
    return remind_overdue_acknowledgements(session, now=on(day), locale="zh")


def test_nothing_is_sent_up_to_and_on_the_due_date(db_session: Session, scene: Scene) -> None:
    red = scene.warning(db_session, scene.red_entity, "platform")
    assert red.acknowledge_due_on == dt.date(2026, 12, 1)
    assert remind(db_session, dt.date(2026, 12, 1)) == 0
    assert reminders(db_session) == []


def test_each_overdue_warning_reaches_its_assignee_its_agency_or_the_office_once(
    db_session: Session, scene: Scene
) -> None:
    red = scene.warning(db_session, scene.red_entity, "platform")
    tax_yellow = scene.warning(db_session, scene.yellow_entity, str(scene.tax.id))
    mkt_yellow = scene.warning(db_session, scene.red_entity, str(scene.mkt.id))
    fda_yellow = scene.warning(db_session, scene.fda_entity, str(scene.fda.id))
    tax_yellow.assignee_id = scene.tax_sup.id
    mkt_yellow.status, mkt_yellow.acknowledged_at = WarningStatus.ACKNOWLEDGED, NOW  # acknowledged in time
    db_session.flush()

    # Wednesday: only red is late (due Tuesday); nobody is assigned, so the platform office's admins hear of it.
    assert remind(db_session, dt.date(2026, 12, 2)) == 1
    [to_office] = reminders(db_session)
    assert (to_office.recipient_user_id, to_office.about_ref, to_office.title) == (scene.office.id, str(red.id),
                                                                                   "overdue:red")  # fmt: skip
    assert to_office.body == "签收期限为 2026-12-01，至今尚未签收。"

    # Saturday: the yellows are late too (due Friday): TAX's to its assignee, FDA's to the agency.
    assert remind(db_session, dt.date(2026, 12, 5)) == 2
    by_warning = {m.about_ref: m for m in reminders(db_session)[1:]}
    assert set(by_warning) == {str(tax_yellow.id), str(fda_yellow.id)}  # not MKT's: it was acknowledged
    assert (by_warning[str(tax_yellow.id)].recipient_user_id, by_warning[str(tax_yellow.id)].recipient_agency_id) == (
        scene.tax_sup.id, None)  # fmt: skip
    assert (by_warning[str(fda_yellow.id)].recipient_user_id, by_warning[str(fda_yellow.id)].recipient_agency_id) == (
        None, scene.fda.id)  # fmt: skip

    # Every later run: nothing again, though all three stay overdue.
    assert remind(db_session, dt.date(2026, 12, 5)) == 0
    assert remind(db_session, dt.date(2026, 12, 20)) == 0
    assert len(reminders(db_session)) == 3
    # Users see them in their inbox; the auditor of the platform office gets none (not an admin).
    assert queue.inbox(db_session, Actor.for_user(scene.office), tag=AuditTag.WEB_INBOX_READ).unread == 1
    assert queue.inbox(db_session, Actor.for_user(scene.office_auditor), tag=AuditTag.WEB_INBOX_READ).unread == 0
    assert queue.inbox(db_session, Actor.for_user(scene.fda_sup), tag=AuditTag.WEB_INBOX_READ).unread == 1
    assert queue.inbox(db_session, Actor.for_user(scene.mkt_sup), tag=AuditTag.WEB_INBOX_READ).unread == 0


def test_a_disabled_assignee_is_skipped_for_the_agency(db_session: Session, scene: Scene) -> None:
    tax_yellow = scene.warning(db_session, scene.yellow_entity, str(scene.tax.id))
    tax_yellow.assignee_id = scene.tax_sup.id
    scene.tax_sup.is_active = False
    db_session.flush()

    remind(db_session, dt.date(2026, 12, 5))

    [message] = [m for m in reminders(db_session) if m.about_ref == str(tax_yellow.id)]
    assert (message.recipient_user_id, message.recipient_agency_id) == (None, scene.tax.id)


def test_an_escalation_sets_a_new_date_and_missing_it_is_reported_again(db_session: Session, scene: Scene) -> None:
    fda_yellow = scene.warning(db_session, scene.fda_entity, str(scene.fda.id))
    remind(db_session, dt.date(2026, 12, 5))
    # The evaluation escalated it to orange on 7 December, due three working days later.
    fda_yellow.level, fda_yellow.acknowledge_due_on = WarningLevel.ORANGE, dt.date(2026, 12, 10)
    db_session.flush()
    assert remind(db_session, dt.date(2026, 12, 10)) == 0

    remind(db_session, dt.date(2026, 12, 11))

    assert [m.title for m in reminders(db_session) if m.about_ref == str(fda_yellow.id)] == [
        "overdue:yellow",
        "overdue:orange",
    ]


def test_the_run_is_audited_with_the_warnings(db_session: Session, scene: Scene) -> None:
    remind(db_session, dt.date(2026, 12, 2))
    remind(db_session, dt.date(2026, 12, 3))

    rows = db_session.scalars(
        select(AuditEvent.payload).where(AuditEvent.tag == AuditTag.JOB_WARNINGS_SLA).order_by(AuditEvent.seq)
    ).all()
    first, second = (json.loads(row) for row in rows)
    red = scene.warning(db_session, scene.red_entity, "platform")
    assert first["actor"] == "job:remind_overdue_acknowledgements"
    assert first["subjects"] == [["warning", str(red.id)]]
    assert first["data"] == {"as_of": "2026-12-02", "overdue": 1, "reminded": 1, "messages": 1}
    assert second["data"] == {"as_of": "2026-12-03", "overdue": 1, "reminded": 0, "messages": 0}


def test_the_inbox_page_shows_the_reminder_with_its_warning(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    red = scene.warning(db_session, scene.red_entity, "platform")
    remind(db_session, dt.date(2026, 12, 2))

    html = signed_in(app, db_session, scene.office).get(f"{BASE}/inbox").get_data(as_text=True)

    assert "已逾期" in html and "签收期限为 2026-12-01" in html
    assert f"/warnings/{red.id}" in html
