"""The daily overdue text report check: one inbox message per overdue report, to its agency, once."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_ingest import reports
from signalhub_ingest.jobs import REPORT_NOTICE, remind_overdue_reports
from signalhub_platform.models import Actor, Agency, AuditEvent, Message, Role, User
from signalhub_warnings import queue
from tests.factories import make_agency, make_user
from tests.integration.reports import files


def at(day: dt.date) -> dt.datetime:
    """02:00 UTC: 10:00 in Beijing on ``day``."""
    return dt.datetime.combine(day, dt.time(2, 0, tzinfo=dt.UTC))


@dataclass
class Scene:
    tax: Agency
    mkt: Agency
    liaison: User
    mkt_liaison: User
    storage: Path


@pytest.fixture
def scene(db_session: Session, tmp_path: Path) -> Scene:
    tax, mkt = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    tax.created_at = dt.datetime(2020, 3, 1, tzinfo=dt.UTC)
    mkt.created_at = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)  # owes nothing for the years before it existed
    db_session.flush()
    scene = Scene(tax, mkt, make_user(db_session, tax, Role.LIAISON), make_user(db_session, mkt, Role.LIAISON),
                  tmp_path / "reports")  # fmt: skip
    reports.declare_campaign(
        db_session, Actor.for_user(scene.liaison), agency_code="TAX", name="食品安全专项整治",
        end_on=dt.date(2025, 9, 26), tag=AuditTag.WEB_REPORT_DECLARE,
    )  # fmt: skip  # due 16 October 2025
    return scene


def reminders(session: Session) -> list[Message]:
    session.expire_all()
    query = select(Message).where(Message.about_type == REPORT_NOTICE).order_by(Message.id)
    return list(session.scalars(query))


def job_events(session: Session) -> list[dict[str, object]]:
    rows = session.scalars(
        select(AuditEvent.payload).where(AuditEvent.tag == AuditTag.JOB_REPORT_OVERDUE).order_by(AuditEvent.seq)
    )
    return [json.loads(row)["data"] for row in rows]


def test_each_overdue_report_gets_one_message_to_its_agency_in_chinese(db_session: Session, scene: Scene) -> None:
    sent = remind_overdue_reports(db_session, now=at(dt.date(2026, 2, 1)), locale="zh")

    messages = reminders(db_session)
    assert sent == 4 == len(messages)
    assert {m.recipient_agency_id for m in messages} == {scene.tax.id}  # MKT owes nothing yet
    assert all(m.sender_user_id is None and m.recipient_user_id is None for m in messages)
    assert [m.title for m in messages] == [
        "文字报告逾期：2023 年度风险评估报告",
        "文字报告逾期：2024 年度风险评估报告",
        "文字报告逾期：“食品安全专项整治”专项研判报告",
        "文字报告逾期：2025 年度风险评估报告",
    ]
    assert messages[0].body.startswith("2023 年度风险评估报告应于 2024-01-31 前上传")
    assert "2025-10-16" in messages[2].body
    # The agency's users see them in their inbox, from "the platform" (no sender).
    inbox = queue.inbox(db_session, Actor.for_user(scene.liaison), tag=AuditTag.WEB_INBOX_READ)
    assert inbox.unread == 4 and all(item.sender == "" for item in inbox.messages)
    assert queue.inbox(db_session, Actor.for_user(scene.mkt_liaison), tag=AuditTag.WEB_INBOX_READ).unread == 0


def test_running_again_sends_nothing_new_until_another_report_falls_due(db_session: Session, scene: Scene) -> None:
    remind_overdue_reports(db_session, now=at(dt.date(2026, 2, 1)), locale="zh")
    assert remind_overdue_reports(db_session, now=at(dt.date(2026, 2, 1)), locale="zh") == 0  # twice the same day
    assert remind_overdue_reports(db_session, now=at(dt.date(2026, 6, 1)), locale="zh") == 0  # months later
    assert len(reminders(db_session)) == 4

    # A year on, the 2026 annual reports are past due: TAX's and MKT's (MKT existed in 2026), one each.
    assert remind_overdue_reports(db_session, now=at(dt.date(2027, 2, 1)), locale="zh") == 2
    new = reminders(db_session)[4:]
    assert sorted((m.recipient_agency_id, m.about_ref) for m in new) == sorted(
        [(scene.tax.id, "annual_risk:2026"), (scene.mkt.id, "annual_risk:2026")]
    )
    assert [(e["overdue"], e["reminded"]) for e in job_events(db_session)] == [(4, 4), (4, 0), (4, 0), (5, 2)]


def test_a_submitted_report_is_not_reminded_of(db_session: Session, scene: Scene) -> None:
    reports.submit_report(
        db_session, Actor.for_user(scene.liaison), agency_code="TAX", annual_year=2024, filename="2024.pdf",
        data=files.PDF, storage_dir=scene.storage, tag=AuditTag.WEB_REPORT_SUBMIT, now=at(dt.date(2025, 1, 20)),
    )  # fmt: skip

    remind_overdue_reports(db_session, now=at(dt.date(2026, 2, 1)), locale="zh")

    assert "annual_risk:2024" not in {m.about_ref for m in reminders(db_session)}
    assert len(reminders(db_session)) == 3


def test_the_run_is_audited_with_the_agencies_and_the_messages(db_session: Session, scene: Scene) -> None:
    remind_overdue_reports(db_session, now=at(dt.date(2026, 2, 1)), locale="en")

    row = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.JOB_REPORT_OVERDUE)).one()
    payload = json.loads(row.payload)
    assert payload["actor"] == "job:remind_overdue_reports"
    assert payload["data"] == {"as_of": "2026-02-01", "overdue": 4, "reminded": 4, "agencies": ["TAX"]}
    assert sorted(int(ref) for kind, ref in payload["subjects"]) == sorted(m.id for m in reminders(db_session))
    # Worded in the platform's language when sent: here English.
    assert reminders(db_session)[0].title == "Text report overdue: annual risk assessment report for 2023"
