"""The supervisors' queue in the database: life cycle, visibility, explanation, sorting and filters,
auto-assignment, SLA, snoozes, red receipts, marks by hand, watch lists and the inbox."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import make_session_factory, transaction
from signalhub_platform.models import (
    Actor,
    Agency,
    AuditEvent,
    Entity,
    Measure,
    Message,
    Openness,
    Record,
    RiskLevel,
    RiskWarning,
    Role,
    User,
    WarningEvent,
    WarningLevel,
    WarningSnooze,
    WarningStatus,
)
from signalhub_platform.models.types import beijing_today
from signalhub_warnings import queue
from signalhub_warnings.lifecycle import Action, InvalidInput, NotAllowedNow, NotFound, NotPermitted
from signalhub_warnings.queue import QueueFilters, ScopeFilter, Sort
from signalhub_warnings.rules import Thresholds
from signalhub_warnings.services import evaluate_warnings
from tests.factories import make_agency, make_entity, make_person, make_record, make_user

NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)
THRESHOLDS = Thresholds()
JOB = Actor.job("evaluate_warnings")
T = AuditTag


def evaluate(session: Session, now: dt.datetime = NOW) -> None:
    evaluate_warnings(
        session, thresholds=THRESHOLDS, acknowledge_days={"red": 2, "orange": 3, "yellow": 5}, actor=JOB,
        tag=T.JOB_WARNINGS_EVALUATE, as_of=beijing_today(now), now=now,
    )  # fmt: skip


def actor(user: User) -> Actor:
    return Actor.for_user(user)


@dataclass
class Scene:
    tax: Agency
    mkt: Agency
    fda: Agency
    tax_sup: User
    tax_sup2: User
    tax_admin: User
    mkt_sup: User
    fda_sup: User
    office: User
    yellow_entity: Entity  # TAX's two departments: TAX's yellow
    red_entity: Entity  # TAX and MKT share records: red; a private one from another MKT department: MKT's yellow

    def warning(self, session: Session, entity: Entity, scope: str) -> RiskWarning:
        return session.scalars(
            select(RiskWarning).where(RiskWarning.entity_id == entity.id, RiskWarning.scope_key == scope)
        ).one()

    def yellow(self, session: Session) -> RiskWarning:
        return self.warning(session, self.yellow_entity, str(self.tax.id))

    def red(self, session: Session) -> RiskWarning:
        return self.warning(session, self.red_entity, "platform")


@pytest.fixture
def scene(db_session: Session) -> Scene:
    tax, mkt, fda = (make_agency(db_session, code) for code in ("TAX", "MKT", "FDA"))
    yellow_entity = make_entity(db_session, name="黄色预警测试有限公司", region="金融街街道", industry="5231")
    red_entity = make_entity(db_session, name="红色预警测试有限公司", region="德胜街道", industry="6110")
    make_record(db_session, tax, entity=yellow_entity, department=tax.departments[0], openness=Openness.PRIVATE)
    make_record(db_session, tax, entity=yellow_entity, department=tax.departments[1])
    make_record(db_session, tax, entity=red_entity, openness=Openness.SHARED, description="税务共享")
    make_record(db_session, mkt, entity=red_entity, openness=Openness.PUBLIC, description="市场公开")
    make_record(db_session, mkt, entity=red_entity, openness=Openness.PRIVATE, risk_level=RiskLevel.HIGH,
                department=mkt.departments[1], description="市场内部线索")  # fmt: skip
    scene = Scene(
        tax=tax,
        mkt=mkt,
        fda=fda,
        tax_sup=make_user(db_session, tax, Role.SUPERVISOR),
        tax_sup2=make_user(db_session, tax, Role.SUPERVISOR),
        tax_admin=make_user(db_session, tax, Role.AGENCY_ADMIN),
        mkt_sup=make_user(db_session, mkt, Role.SUPERVISOR),
        fda_sup=make_user(db_session, fda, Role.SUPERVISOR),
        office=make_user(db_session, None, Role.PLATFORM_ADMIN),
        yellow_entity=yellow_entity,
        red_entity=red_entity,
    )
    evaluate(db_session)
    return scene


def audit(session: Session, tag: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(AuditEvent.payload).where(AuditEvent.tag == tag).order_by(AuditEvent.seq))
    return [json.loads(row) for row in rows]


def ids(page: queue.QueuePage) -> list[int]:
    return [item.warning.id for item in page.items]


# --- life cycle -------------------------------------------------------------------------------------


def test_the_full_life_cycle_records_who_when_and_why(db_session: Session, scene: Scene) -> None:
    warning = scene.yellow(db_session)
    who = actor(scene.tax_sup)
    steps = [NOW + dt.timedelta(hours=h) for h in range(1, 5)]
    queue.assign(db_session, who, warning.id, to="me", tag=T.WEB_WARNING_ASSIGN, now=steps[0])
    queue.acknowledge(db_session, who, warning.id, note="收到", tag=T.WEB_WARNING_ACKNOWLEDGE, now=steps[1])
    queue.dispose(db_session, who, warning.id, measure="inspection", note="安排检查", tag=T.WEB_WARNING_DISPOSE,
                  now=steps[2])  # fmt: skip
    queue.close(db_session, who, warning.id, note="检查无问题", tag=T.WEB_WARNING_CLOSE, now=steps[3])

    db_session.refresh(warning)
    assert warning.status == WarningStatus.CLOSED and not warning.is_active
    assert (warning.assignee_id, warning.measure, warning.note) == (scene.tax_sup.id, Measure.INSPECTION, "检查无问题")
    assert (warning.acknowledged_at, warning.closed_at) == (steps[1], steps[3])
    events = db_session.scalars(
        select(WarningEvent).where(WarningEvent.warning_id == warning.id).order_by(WarningEvent.id)
    ).all()
    lifecycle_events = [e for e in events if e.kind != "opened"]
    assert [(e.kind, e.from_status, e.to_status) for e in lifecycle_events] == [
        ("assigned", "open", "open"),
        ("acknowledged", "open", "acknowledged"),
        ("disposal", "acknowledged", "in_disposal"),
        ("closed", "in_disposal", "closed"),
    ]
    assert {e.user_id for e in lifecycle_events} == {scene.tax_sup.id}
    assert {e.actor for e in lifecycle_events} == {scene.tax_sup.username}
    assert [e.at for e in lifecycle_events] == steps
    assert [e.note for e in lifecycle_events] == ["", "收到", "安排检查", "检查无问题"]
    assert lifecycle_events[2].evidence == {"measure": "inspection"}
    for tag, action in ((T.WEB_WARNING_ASSIGN, "assigned"), (T.WEB_WARNING_ACKNOWLEDGE, "acknowledged"),
                        (T.WEB_WARNING_DISPOSE, "disposal"), (T.WEB_WARNING_CLOSE, "closed")):  # fmt: skip
        (event,) = audit(db_session, tag)
        assert event["actor"] == scene.tax_sup.username and event["data"]["action"] == action
        assert event["subjects"] == [["warning", str(warning.id)]]
        assert "检查" not in json.dumps(event, ensure_ascii=False)  # free text stays in the warning's history


def test_forbidden_transitions_change_nothing_and_are_audited(db_session: Session, scene: Scene) -> None:
    warning = scene.yellow(db_session)
    who = actor(scene.tax_sup)
    with pytest.raises(NotAllowedNow):
        queue.close(db_session, who, warning.id, note="想直接关闭", tag=T.WEB_WARNING_CLOSE)
    with pytest.raises(NotAllowedNow):
        queue.dispose(db_session, who, warning.id, measure="caution", tag=T.WEB_WARNING_DISPOSE)
    queue.acknowledge(db_session, who, warning.id, tag=T.WEB_WARNING_ACKNOWLEDGE)
    with pytest.raises(NotAllowedNow):
        queue.acknowledge(db_session, who, warning.id, tag=T.WEB_WARNING_ACKNOWLEDGE)
    with pytest.raises(InvalidInput):
        queue.dispose(db_session, who, warning.id, measure="shrug", tag=T.WEB_WARNING_DISPOSE)
    queue.dispose(db_session, who, warning.id, measure="caution", tag=T.WEB_WARNING_DISPOSE)
    with pytest.raises(InvalidInput):
        queue.close(db_session, who, warning.id, note="  ", tag=T.WEB_WARNING_CLOSE)  # a note is required
    assert warning.status == WarningStatus.IN_DISPOSAL
    refused = [e["data"]["refused"] for e in audit(db_session, T.WEB_WARNING_CLOSE)]
    assert refused == ["bad_transition", "note_required"]
    assert audit(db_session, T.WEB_WARNING_ACKNOWLEDGE)[-1]["data"]["refused"] == "bad_transition"
    liaison = make_user(db_session, scene.tax, Role.LIAISON)
    with pytest.raises(NotPermitted):
        queue.close(db_session, actor(liaison), warning.id, note="x", tag=T.WEB_WARNING_CLOSE)


def test_a_change_reads_the_warning_afresh_and_refuses_one_cleared_meanwhile(db_session: Session, scene: Scene) -> None:
    warning = scene.yellow(db_session)  # this session holds a copy: open, active
    table = RiskWarning.__table__
    db_session.execute(  # an evaluation clears it meanwhile, past this session's copy
        update(table).where(table.c.id == warning.id).values(status=WarningStatus.CLEARED.value, is_active=False)
    )
    assert warning.status == WarningStatus.OPEN  # stale
    who = actor(scene.tax_sup)
    for operation in (
        lambda: queue.acknowledge(db_session, who, warning.id, tag=T.WEB_WARNING_ACKNOWLEDGE),
        lambda: queue.assign(db_session, who, warning.id, to="me", tag=T.WEB_WARNING_ASSIGN),
        lambda: queue.snooze(db_session, who, warning.id, rule="yellow_departments", until=dt.date(2026, 12, 30),
                             reason="误报", tag=T.WEB_WARNING_SNOOZE, now=NOW),
    ):  # fmt: skip
        with pytest.raises(NotAllowedNow) as caught:
            operation()
        assert (caught.value.code, caught.value.status_code) == ("not_active", 409)
    assert (warning.status, warning.is_active, warning.acknowledged_at, warning.assignee_id) == (
        WarningStatus.CLEARED, False, None, None,
    )  # fmt: skip
    assert db_session.scalars(select(WarningSnooze)).all() == []
    assert audit(db_session, T.WEB_WARNING_ACKNOWLEDGE)[-1]["data"]["refused"] == "not_active"


@pytest.mark.concurrency
def test_an_action_waits_for_a_running_evaluation_and_sees_what_it_did(scratch_database: Engine) -> None:
    """PostgreSQL: the action locks the warning's row, so it waits for an evaluation clearing it to
    commit and then refuses, instead of acknowledging what is no longer there."""
    if scratch_database.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite lets one writer at a time")
    factory = make_session_factory(scratch_database)
    with transaction(factory) as session:
        tax = make_agency(session, "TAX")
        entity = make_entity(session)
        for department in tax.departments[:2]:
            make_record(session, tax, entity=entity, department=department)
        who = actor(make_user(session, tax, Role.SUPERVISOR))
        evaluate(session)
        warning_id = session.scalars(select(RiskWarning.id).where(RiskWarning.entity_id == entity.id)).one()
    evaluation = factory()  # holds the row, as an evaluation clearing the warning does until it commits
    evaluation.execute(
        update(RiskWarning)
        .where(RiskWarning.id == warning_id)
        .values(status=WarningStatus.CLEARED, is_active=False, cleared_at=NOW)
    )
    outcome: list[str] = []

    def acknowledge() -> None:
        session = factory()
        try:
            queue.acknowledge(session, who, warning_id, tag=T.WEB_WARNING_ACKNOWLEDGE)
            outcome.append("acknowledged")
        except NotAllowedNow as exc:
            outcome.append(exc.code)
        finally:
            session.commit()  # the change, or the refusal's audit event
            session.close()

    thread = threading.Thread(target=acknowledge)
    thread.start()
    deadline = time.monotonic() + 10
    with scratch_database.connect() as probe:
        while not probe.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")):
            assert time.monotonic() < deadline, "the action never waited for the evaluation"
            probe.rollback()  # statistics views are a snapshot per transaction: take a fresh one
            time.sleep(0.05)
    evaluation.commit()
    evaluation.close()
    thread.join(10)
    assert outcome == ["not_active"]
    with transaction(factory) as session:
        row = session.get(RiskWarning, warning_id)
        assert row is not None and (row.status, row.is_active, row.acknowledged_at) == (
            WarningStatus.CLEARED, False, None,
        )  # fmt: skip


# --- visibility --------------------------------------------------------------------------------------


def test_another_agency_neither_finds_nor_works_a_yellow_warning_but_sees_red(
    db_session: Session, scene: Scene
) -> None:
    yellow, red = scene.yellow(db_session), scene.red(db_session)
    mkt = actor(scene.mkt_sup)
    assert queue.get_warning(db_session, mkt, yellow.id, thresholds=THRESHOLDS, tag=T.WEB_WARNING_READ) is None
    assert audit(db_session, T.WEB_WARNING_READ)[-1]["data"] == {"found": False}
    for operation in (
        lambda: queue.acknowledge(db_session, mkt, yellow.id, tag=T.WEB_WARNING_ACKNOWLEDGE),
        lambda: queue.assign(db_session, mkt, yellow.id, to="me", tag=T.WEB_WARNING_ASSIGN),
        lambda: queue.snooze(db_session, mkt, yellow.id, rule="yellow_departments", until=dt.date(2026, 12, 30),
                             reason="x", tag=T.WEB_WARNING_SNOOZE),
    ):  # fmt: skip
        with pytest.raises(NotFound) as caught:
            operation()
        assert caught.value.status_code == 404
    mkt_yellow = scene.warning(db_session, scene.red_entity, str(scene.mkt.id))
    page = queue.list_queue(db_session, mkt, tag=T.WEB_WARNING_LIST, now=NOW)
    assert ids(page) == [red.id, mkt_yellow.id]  # its own yellow, and no trace of TAX's
    assert page.counts == {"red": 1, "orange": 0, "yellow": 1}
    assert ids(queue.list_queue(db_session, mkt, QueueFilters(level=WarningLevel.YELLOW), tag=T.WEB_WARNING_LIST)) == [
        mkt_yellow.id
    ]
    assert queue.get_warning(db_session, mkt, red.id, thresholds=THRESHOLDS, tag=T.WEB_WARNING_READ) is not None
    assert yellow.id not in {w.id for w in queue.list_subject_warnings(db_session, mkt, yellow.subject_key)}


def test_the_platform_office_sees_red_and_only_counts_of_yellow_and_orange(db_session: Session, scene: Scene) -> None:
    office = actor(scene.office)
    page = queue.list_queue(db_session, office, tag=T.WEB_WARNING_LIST, now=NOW)
    assert [item.warning.level for item in page.items] == [WarningLevel.RED]
    assert page.counts == {"red": 1, "orange": 0, "yellow": 2}  # TAX's and MKT's yellow, as figures
    assert queue.counts_by_level(db_session, office, tag=T.WEB_WARNING_LIST) == page.counts
    yellow = scene.yellow(db_session)
    assert queue.get_warning(db_session, office, yellow.id, thresholds=THRESHOLDS, tag=T.WEB_WARNING_READ) is None
    with pytest.raises(NotPermitted):  # reads red, does not work it
        queue.acknowledge(db_session, office, scene.red(db_session).id, tag=T.WEB_WARNING_ACKNOWLEDGE)
    with pytest.raises(NotPermitted):
        queue.list_queue(db_session, Actor.public(), tag=T.WEB_WARNING_LIST)


def test_the_explanation_shows_only_records_the_viewer_may_see(db_session: Session, scene: Scene) -> None:
    red = scene.red(db_session)
    as_tax = queue.get_warning(db_session, actor(scene.tax_sup), red.id, thresholds=THRESHOLDS,
                               tag=T.WEB_WARNING_READ, now=NOW)  # fmt: skip
    assert as_tax is not None
    assert sorted(r.description for r in as_tax.records) == ["市场公开", "税务共享"]
    assert as_tax.hidden == []  # MKT's private record is no part of the red warning: not even counted
    assert [(a.code, a.records) for a in as_tax.agencies] == [("MKT", 1), ("TAX", 1)]
    assert [r.code for r in as_tax.rules] == ["red_agencies"]
    assert "2 个成员单位" in as_tax.rules[0].text_zh and "2 member agencies" in as_tax.rules[0].text_en
    read = audit(db_session, T.WEB_WARNING_READ)[-1]
    assert ["record", str(as_tax.records[0].id)] in read["subjects"] and read["data"]["records_hidden"] == 0

    as_mkt = queue.get_warning(db_session, actor(scene.mkt_sup), red.id, thresholds=THRESHOLDS,
                               tag=T.WEB_WARNING_READ, now=NOW)  # fmt: skip
    assert as_mkt is not None and as_mkt.hidden == []
    private = next(r for r in as_mkt.records if r.description == "市场内部线索")
    assert private.id not in as_mkt.counted_ids  # the owner sees it, not counted toward red

    as_office = queue.get_warning(db_session, actor(scene.office), red.id, thresholds=THRESHOLDS,
                                  tag=T.WEB_WARNING_READ, now=NOW)  # fmt: skip
    assert as_office is not None and "市场内部线索" not in {r.description for r in as_office.records}

    yellow = queue.get_warning(db_session, actor(scene.tax_sup), scene.yellow(db_session).id, thresholds=THRESHOLDS,
                               tag=T.WEB_WARNING_READ, now=NOW)  # fmt: skip
    assert yellow is not None and len(yellow.records) == 2 and yellow.hidden == []
    assert [a.departments for a in yellow.agencies] == [("Department 1", "Department 2")]


def test_a_red_warning_shows_no_trace_of_another_agencys_private_records(db_session: Session, scene: Scene) -> None:
    """Private records never count toward red and never show in another agency's view of it: not as
    rows, not in the hidden summary (by agency, kind or risk level), not among its departments."""
    red = scene.red(db_session)
    private = db_session.scalars(select(Record).where(Record.description == "市场内部线索")).one()
    for viewer in (scene.tax_sup, scene.fda_sup, scene.office):
        detail = queue.get_warning(db_session, actor(viewer), red.id, thresholds=THRESHOLDS,
                                   tag=T.WEB_WARNING_READ, now=NOW)  # fmt: skip
        assert detail is not None
        assert (detail.hidden, detail.hidden_count) == ([], 0), viewer.username
        assert private.id not in {r.id for r in detail.records} | detail.counted_ids
        assert not any("Department 2" in d for d in detail.departments)  # the private record's department
        read = audit(db_session, T.WEB_WARNING_READ)[-1]
        assert ["record", str(private.id)] not in read["subjects"] and read["data"]["records_hidden"] == 0
    # What the viewer may not see is summarised as agency, count and level, nothing else.
    assert [f.name for f in dataclasses.fields(queue.HiddenRecords)] == ["agency_code", "agency_name", "count",
                                                                         "level"]  # fmt: skip
    # The owner still sees its own private record on the subject, not counted toward red.
    as_mkt = queue.get_warning(db_session, actor(scene.mkt_sup), red.id, thresholds=THRESHOLDS,
                               tag=T.WEB_WARNING_READ, now=NOW)  # fmt: skip
    assert as_mkt is not None and private.id in {r.id for r in as_mkt.records} and private.id not in as_mkt.counted_ids


# --- queue: order and filters -------------------------------------------------------------------------


def test_sorted_by_level_then_age(db_session: Session, scene: Scene) -> None:
    tax = scene.tax
    newer_orange = make_entity(db_session)
    for department in tax.departments:
        make_record(db_session, tax, entity=newer_orange, department=department)
    older_yellow = make_entity(db_session)
    make_record(db_session, tax, entity=older_yellow, department=tax.departments[0])
    make_record(db_session, tax, entity=older_yellow, department=tax.departments[2])
    evaluate(db_session)
    orange = scene.warning(db_session, newer_orange, str(tax.id))
    old = scene.warning(db_session, older_yellow, str(tax.id))
    old.opened_at = NOW - dt.timedelta(days=9)
    orange.opened_at = NOW - dt.timedelta(days=1)
    db_session.flush()
    red, yellow = scene.red(db_session), scene.yellow(db_session)
    who = actor(scene.tax_sup)
    assert ids(queue.list_queue(db_session, who, tag=T.WEB_WARNING_LIST, now=NOW)) == [
        red.id, orange.id, old.id, yellow.id,
    ]  # fmt: skip
    assert ids(queue.list_queue(db_session, who, sort=Sort.AGE, tag=T.WEB_WARNING_LIST, now=NOW)) == [
        old.id, orange.id, red.id, yellow.id,
    ]  # fmt: skip
    page = queue.list_queue(db_session, who, tag=T.WEB_WARNING_LIST, now=NOW, page=2, page_size=3)
    assert (ids(page), page.total, page.pages) == ([yellow.id], 4, 2)
    assert [item.age_days for item in queue.list_queue(db_session, who, tag=T.WEB_WARNING_LIST, now=NOW).items] == [
        0, 1, 9, 0,
    ]  # fmt: skip


def test_filters(db_session: Session, scene: Scene) -> None:
    red, yellow = scene.red(db_session), scene.yellow(db_session)
    who = actor(scene.tax_sup)

    def listed(**filters: Any) -> list[int]:
        return ids(queue.list_queue(db_session, who, QueueFilters(**filters), tag=T.WEB_WARNING_LIST, now=NOW))

    assert listed(level=WarningLevel.RED) == [red.id]
    assert listed(scope=ScopeFilter.AGENCY) == [yellow.id]
    assert listed(scope=ScopeFilter.PLATFORM) == [red.id]
    assert listed(region="金融街街道") == [yellow.id]
    assert listed(industry="61") == [red.id]  # a prefix of the GB/T 4754 code
    assert listed(industry="5231") == [yellow.id]
    assert listed(assignee="none") == [red.id, yellow.id]
    queue.assign(db_session, who, yellow.id, to="me", tag=T.WEB_WARNING_ASSIGN)
    assert listed(assignee="me") == [yellow.id]
    assert listed(assignee=str(scene.tax_sup.id)) == [yellow.id]
    assert listed(assignee="none") == [red.id]
    queue.acknowledge(db_session, who, yellow.id, tag=T.WEB_WARNING_ACKNOWLEDGE)
    assert listed(status=WarningStatus.ACKNOWLEDGED) == [yellow.id]
    assert listed(status=WarningStatus.OPEN) == [red.id]
    yellow.opened_at = NOW - dt.timedelta(days=10)
    db_session.flush()
    assert listed(min_age_days=10) == [yellow.id]
    assert listed(min_age_days=11) == []
    assert listed(max_age_days=9) == [red.id]
    assert listed(max_age_days=10) == [red.id, yellow.id]
    with pytest.raises(InvalidInput):
        listed(assignee="someone")
    (event,) = [e for e in audit(db_session, T.WEB_WARNING_LIST) if e["data"]["filters"].get("region")]
    assert event["data"]["filters"] == {"region": "金融街街道"} and event["subjects"] == [["warning", str(yellow.id)]]


def test_overdue_marks_follow_the_sla_and_today(db_session: Session, scene: Scene) -> None:
    red, yellow = scene.red(db_session), scene.yellow(db_session)
    assert red.acknowledge_due_on is not None and yellow.acknowledge_due_on is not None
    assert red.acknowledge_due_on < yellow.acknowledge_due_on  # 2 working days for red, 5 for yellow
    who = actor(scene.tax_sup)

    def overdue(now: dt.datetime) -> dict[int, bool]:
        return {
            i.warning.id: i.is_overdue for i in queue.list_queue(db_session, who, tag=T.WEB_WARNING_LIST, now=now).items
        }

    on_due_day = dt.datetime.combine(red.acknowledge_due_on, dt.time(12), dt.UTC)
    assert overdue(on_due_day) == {red.id: False, yellow.id: False}
    day_after = on_due_day + dt.timedelta(days=1)
    assert overdue(day_after) == {red.id: True, yellow.id: False}
    only_overdue = queue.list_queue(
        db_session, who, QueueFilters(is_overdue=True), tag=T.WEB_WARNING_LIST, now=day_after
    )
    assert ids(only_overdue) == [red.id]
    queue.acknowledge(db_session, who, red.id, tag=T.WEB_WARNING_ACKNOWLEDGE, now=day_after)
    assert overdue(day_after)[red.id] is False
    assert warning_event(db_session, red.id, "acknowledged").evidence == {"was_overdue": True}


def warning_event(session: Session, warning_id: int, kind: str) -> WarningEvent:
    return session.scalars(
        select(WarningEvent).where(WarningEvent.warning_id == warning_id, WarningEvent.kind == kind)
    ).one()


# --- assignment ---------------------------------------------------------------------------------------


def test_assign_to_a_colleague_or_to_the_least_loaded_supervisor(db_session: Session, scene: Scene) -> None:
    red, yellow = scene.red(db_session), scene.yellow(db_session)
    who = actor(scene.tax_sup)
    queue.assign(db_session, actor(scene.office), red.id, to=scene.tax_sup.id, tag=T.WEB_WARNING_ASSIGN)
    assert red.assignee_id == scene.tax_sup.id
    # tax_sup holds one warning, tax_sup2 none: the auto-assignment picks tax_sup2
    queue.assign(db_session, who, yellow.id, to="auto", tag=T.WEB_WARNING_ASSIGN)
    assert yellow.assignee_id == scene.tax_sup2.id
    assert warning_event(db_session, yellow.id, "assigned").evidence["how"] == "auto"
    assert queue.least_loaded_supervisor(db_session, scene.tax.id) in (scene.tax_sup, scene.tax_sup2)
    third = make_user(db_session, scene.tax, Role.SUPERVISOR)
    assert queue.least_loaded_supervisor(db_session, scene.tax.id) == third
    with pytest.raises(InvalidInput) as caught:  # not a colleague: another agency's supervisor
        queue.assign(db_session, who, yellow.id, to=scene.mkt_sup.id, tag=T.WEB_WARNING_ASSIGN)
    assert caught.value.code == "not_a_colleague"
    with pytest.raises(InvalidInput):  # an agency admin is no supervisor
        queue.assign(db_session, who, yellow.id, to=scene.tax_admin.id, tag=T.WEB_WARNING_ASSIGN)


def test_the_supervisor_the_office_assigns_a_red_warning_to_closes_it(db_session: Session, scene: Scene) -> None:
    red = scene.red(db_session)
    tax, mkt, office = actor(scene.tax_sup), actor(scene.mkt_sup), actor(scene.office)
    queue.assign(db_session, office, red.id, to=scene.tax_sup.id, tag=T.WEB_WARNING_ASSIGN)
    queue.acknowledge(db_session, tax, red.id, tag=T.WEB_WARNING_ACKNOWLEDGE)
    queue.dispose(db_session, tax, red.id, measure="inspection", tag=T.WEB_WARNING_DISPOSE)
    with pytest.raises(NotPermitted):
        queue.close(db_session, mkt, red.id, note="不是承办人", tag=T.WEB_WARNING_CLOSE)
    queue.close(db_session, tax, red.id, note="检查完毕", tag=T.WEB_WARNING_CLOSE)
    assert (red.status, red.is_active) == (WarningStatus.CLOSED, False)


def test_only_the_platform_office_assigns_snoozes_or_closes_a_red_warning(db_session: Session, scene: Scene) -> None:
    """One member agency may not silence, close or take over a warning every member agency shares."""
    red = scene.red(db_session)
    tax, mkt, office = actor(scene.tax_sup), actor(scene.mkt_sup), actor(scene.office)
    queue.acknowledge(db_session, mkt, red.id, tag=T.WEB_WARNING_ACKNOWLEDGE)  # members acknowledge
    queue.dispose(db_session, tax, red.id, measure="inspection", tag=T.WEB_WARNING_DISPOSE)  # and record measures
    for who in (tax, mkt):
        for operation in (
            lambda who: queue.snooze(db_session, who, red.id, rule="red_agencies", until=dt.date(2026, 12, 30),
                                     reason="误报", tag=T.WEB_WARNING_SNOOZE, now=NOW),
            lambda who: queue.close(db_session, who, red.id, note="本单位已处理", tag=T.WEB_WARNING_CLOSE),
            lambda who: queue.assign(db_session, who, red.id, to="me", tag=T.WEB_WARNING_ASSIGN),
        ):  # fmt: skip
            with pytest.raises(NotPermitted) as caught:
                operation(who)
            assert caught.value.status_code == 403
    assert (red.status, red.is_active, red.assignee_id) == (WarningStatus.IN_DISPOSAL, True, None)
    assert db_session.scalars(select(WarningSnooze)).all() == []
    for tag in (T.WEB_WARNING_SNOOZE, T.WEB_WARNING_CLOSE, T.WEB_WARNING_ASSIGN):
        assert [e["data"]["refused"] for e in audit(db_session, tag)] == ["not_permitted", "not_permitted"]

    with pytest.raises(InvalidInput) as refused:  # the office names the supervisor
        queue.assign(db_session, office, red.id, to="auto", tag=T.WEB_WARNING_ASSIGN)
    assert refused.value.code == "red_needs_assignee"
    with pytest.raises(InvalidInput) as refused:  # an agency admin is no supervisor
        queue.assign(db_session, office, red.id, to=scene.tax_admin.id, tag=T.WEB_WARNING_ASSIGN)
    assert refused.value.code == "not_a_supervisor"
    queue.assign(db_session, office, red.id, to=scene.mkt_sup.id, tag=T.WEB_WARNING_ASSIGN)
    assert red.assignee_id == scene.mkt_sup.id
    detail = queue.get_warning(db_session, office, red.id, thresholds=THRESHOLDS, tag=T.WEB_WARNING_READ, now=NOW)
    assert detail is not None and {u.id for u in detail.colleagues} == {
        scene.tax_sup.id, scene.tax_sup2.id, scene.mkt_sup.id, scene.fda_sup.id,
    }  # fmt: skip
    assert set(detail.actions) == {Action.ASSIGN, Action.SNOOZE, Action.CLOSE}
    as_tax = queue.get_warning(db_session, tax, red.id, thresholds=THRESHOLDS, tag=T.WEB_WARNING_READ, now=NOW)
    assert as_tax is not None and as_tax.colleagues == []
    assert not {Action.ASSIGN, Action.SNOOZE, Action.CLOSE} & set(as_tax.actions)
    queue.snooze(db_session, office, red.id, rule="red_agencies", until=dt.date(2026, 12, 30), reason="误报",
                 tag=T.WEB_WARNING_SNOOZE, now=NOW)  # fmt: skip
    queue.close(db_session, office, red.id, note="联席会办公室办结", tag=T.WEB_WARNING_CLOSE)
    assert (red.status, red.is_active) == (WarningStatus.CLOSED, False)


# --- snoozes ------------------------------------------------------------------------------------------


def test_a_snooze_silences_the_rule_at_the_next_evaluation_and_it_comes_back(db_session: Session, scene: Scene) -> None:
    warning = scene.yellow(db_session)
    who = actor(scene.tax_sup)
    until = dt.date(2026, 12, 10)
    queue.snooze(db_session, who, warning.id, rule="yellow_departments", until=until, reason="误报：同一事项",
                 tag=T.WEB_WARNING_SNOOZE, now=NOW)  # fmt: skip
    assert warning.is_active  # nothing changes before the evaluation
    evaluate(db_session, NOW + dt.timedelta(days=1))
    db_session.refresh(warning)
    assert warning.status == WarningStatus.CLEARED and not warning.is_active
    evaluate(db_session, dt.datetime(2026, 12, 10, 15, 0, tzinfo=dt.UTC))  # the 10th, 23:00 in Beijing: still silent
    assert db_session.scalars(select(RiskWarning).where(RiskWarning.subject_key == warning.subject_key,
                                                        RiskWarning.is_active)).all() == []  # fmt: skip
    evaluate(db_session, dt.datetime(2026, 12, 10, 16, 0, tzinfo=dt.UTC))  # the 11th in Beijing: expired
    back = scene.yellow_entity
    active = db_session.scalars(
        select(RiskWarning).where(RiskWarning.entity_id == back.id, RiskWarning.is_active)
    ).one()
    assert active.id != warning.id and active.level == WarningLevel.YELLOW
    assert warning_event(db_session, warning.id, "snoozed").note == "误报：同一事项"
    (event,) = audit(db_session, T.WEB_WARNING_SNOOZE)
    assert event["data"]["rule"] == "yellow_departments" and event["data"]["until"] == "2026-12-10"


def test_snooze_refusals(db_session: Session, scene: Scene) -> None:
    warning = scene.yellow(db_session)
    who = actor(scene.tax_sup)
    for rule, until, reason in (
        ("red_agencies", dt.date(2026, 12, 10), "x"),
        ("yellow_departments", dt.date(2026, 11, 27), "x"),
        ("yellow_departments", dt.date(2026, 12, 10), ""),
    ):
        with pytest.raises(InvalidInput):
            queue.snooze(db_session, who, warning.id, rule=rule, until=until, reason=reason, tag=T.WEB_WARNING_SNOOZE,
                         now=NOW)  # fmt: skip
    assert len(audit(db_session, T.WEB_WARNING_SNOOZE)) == 3


# --- red: receipts and feedback ----------------------------------------------------------------------


def test_red_receipts_list_who_has_not_acknowledged(db_session: Session, scene: Scene) -> None:
    red = scene.red(db_session)
    listing = queue.receipts_of(db_session, red, window_days=THRESHOLDS.window_days, now=NOW)
    assert [a.code for a in listing.pending] == ["MKT", "TAX"]
    listing = queue.record_receipt(db_session, actor(scene.tax_sup), red.id, note="已阅", thresholds=THRESHOLDS,
                                   tag=T.WEB_WARNING_RECEIPT, now=NOW)  # fmt: skip
    assert [a.code for a in listing.pending] == ["MKT"]
    done = next(line for line in listing.receipts if line.receipt is not None)
    assert (done.agency.code, done.receipt.user_id, done.receipt.at) == ("TAX", scene.tax_sup.id, NOW)  # type: ignore[union-attr]
    with pytest.raises(NotAllowedNow) as caught:  # once per agency
        queue.record_receipt(
            db_session, actor(scene.tax_sup2), red.id, thresholds=THRESHOLDS, tag=T.WEB_WARNING_RECEIPT
        )
    assert caught.value.code == "already_acknowledged"
    with pytest.raises(NotAllowedNow) as caught:  # FDA holds nothing on the subject
        queue.record_receipt(db_session, actor(scene.fda_sup), red.id, thresholds=THRESHOLDS, tag=T.WEB_WARNING_RECEIPT)
    assert caught.value.code == "not_concerned"
    with pytest.raises(NotAllowedNow):  # yellow has no receipts
        queue.record_receipt(db_session, actor(scene.tax_sup), scene.yellow(db_session).id, thresholds=THRESHOLDS,
                             tag=T.WEB_WARNING_RECEIPT)  # fmt: skip
    queue.record_receipt(db_session, actor(scene.mkt_sup), red.id, thresholds=THRESHOLDS, tag=T.WEB_WARNING_RECEIPT)
    detail = queue.get_warning(db_session, actor(scene.fda_sup), red.id, thresholds=THRESHOLDS, tag=T.WEB_WARNING_READ)
    assert detail is not None and detail.pending_receipts == []
    assert [e["data"].get("refused") for e in audit(db_session, T.WEB_WARNING_RECEIPT)] == [
        None, "already_acknowledged", "not_concerned", "not_red", None,
    ]  # fmt: skip


def test_feedback_reaches_the_source_agencies(db_session: Session, scene: Scene) -> None:
    red = scene.red(db_session)
    messages = queue.send_feedback(db_session, actor(scene.fda_sup), red.id, message="请核实该企业地址",
                                   thresholds=THRESHOLDS, tag=T.WEB_WARNING_FEEDBACK)  # fmt: skip
    assert sorted(m.recipient_agency_id for m in messages) == sorted([scene.tax.id, scene.mkt.id])
    only_tax = queue.send_feedback(db_session, actor(scene.fda_sup), red.id, message="只给税务", agencies=["TAX"],
                                   thresholds=THRESHOLDS, tag=T.WEB_WARNING_FEEDBACK)  # fmt: skip
    assert [m.recipient_agency_id for m in only_tax] == [scene.tax.id]
    with pytest.raises(InvalidInput):  # FDA is no source of this warning
        queue.send_feedback(db_session, actor(scene.tax_sup), red.id, message="x", agencies=["FDA"],
                            thresholds=THRESHOLDS, tag=T.WEB_WARNING_FEEDBACK)  # fmt: skip
    box = queue.inbox(db_session, actor(scene.tax_sup2), tag=T.WEB_INBOX_READ)
    assert [m.message.body for m in box.messages] == ["只给税务", "请核实该企业地址"]
    assert box.unread == 2 and {m.sender_agency for m in box.messages} == {"Agency FDA"}
    notes = db_session.scalars(
        select(WarningEvent.note).where(WarningEvent.warning_id == red.id, WarningEvent.kind == "feedback")
    ).all()
    assert sorted(notes) == sorted(["请核实该企业地址", "只给税务"])
    sent = [e["data"].get("agencies") for e in audit(db_session, T.WEB_WARNING_FEEDBACK)]
    assert sent == [["MKT", "TAX"], ["TAX"], None]  # the refusal is audited too


# --- marks by hand ------------------------------------------------------------------------------------


def test_an_agency_admin_marks_yellow_by_hand_and_lifting_clears_it(db_session: Session, scene: Scene) -> None:
    quiet = make_entity(db_session, name="无记录企业")
    subject = queue.find_subject(db_session, actor(scene.tax_admin), uscc=quiet.uscc, tag=T.WEB_WARNING_MANUAL)
    with pytest.raises(NotPermitted):
        queue.mark_by_hand(db_session, actor(scene.tax_sup), subject, reason="线索", tag=T.WEB_WARNING_MANUAL)
    admin = actor(scene.tax_admin)
    with pytest.raises(InvalidInput):
        queue.mark_by_hand(db_session, admin, subject, reason=" ", tag=T.WEB_WARNING_MANUAL)
    flag = queue.mark_by_hand(db_session, admin, subject, reason="群众举报，需关注", tag=T.WEB_WARNING_MANUAL, now=NOW)
    with pytest.raises(NotAllowedNow):
        queue.mark_by_hand(db_session, admin, subject, reason="again", tag=T.WEB_WARNING_MANUAL)
    assert db_session.scalars(select(RiskWarning).where(RiskWarning.entity_id == quiet.id)).all() == []
    evaluate(db_session, NOW + dt.timedelta(hours=1))
    warning = scene.warning(db_session, quiet, str(scene.tax.id))
    assert (warning.level, warning.rules, warning.is_active) == (WarningLevel.YELLOW, ["manual"], True)
    assert [m.flag.id for m in queue.list_marks(db_session, admin, tag=T.WEB_WARNING_MANUAL_LIST)] == [flag.id]
    with pytest.raises(NotFound):  # another agency's admin does not even find the mark
        mkt_admin = make_user(db_session, scene.mkt, Role.AGENCY_ADMIN)
        queue.lift_mark(db_session, actor(mkt_admin), flag.id, tag=T.WEB_WARNING_MANUAL_LIFT)
    queue.lift_mark(db_session, admin, flag.id, tag=T.WEB_WARNING_MANUAL_LIFT, now=NOW + dt.timedelta(hours=2))
    assert warning_event(db_session, warning.id, "manual").evidence == {"manual_flag": flag.id, "lifted": True}
    evaluate(db_session, NOW + dt.timedelta(hours=3))
    db_session.refresh(warning)
    assert warning.status == WarningStatus.CLEARED
    assert [e["data"].get("refused") for e in audit(db_session, T.WEB_WARNING_MANUAL)] == [
        "not_permitted", "reason_required", None, "already_marked",
    ]  # fmt: skip


# --- watch lists and the inbox ------------------------------------------------------------------------


def test_watchers_get_a_message_when_the_warning_changes_within_their_rights(db_session: Session, scene: Scene) -> None:
    entity = scene.yellow_entity
    subject = queue.find_subject(
        db_session, actor(scene.tax_sup2), subject_type="entity", subject_id=entity.id, tag=T.WEB_WATCH_ADD
    )
    for user in (scene.tax_sup2, scene.mkt_sup):
        queue.watch(db_session, actor(user), subject, tag=T.WEB_WATCH_ADD)
    queue.watch(db_session, actor(scene.tax_sup2), subject, tag=T.WEB_WATCH_ADD)  # idempotent
    make_record(db_session, scene.tax, entity=entity, department=scene.tax.departments[2])
    evaluate(db_session, NOW + dt.timedelta(hours=1))  # TAX's yellow escalates to orange
    warning = scene.yellow(db_session)
    assert warning.level == WarningLevel.ORANGE
    tax_box = queue.inbox(db_session, actor(scene.tax_sup2), tag=T.WEB_INBOX_READ)
    assert [(m.message.title, m.message.about_ref) for m in tax_box.messages] == [("escalated:orange", str(warning.id))]
    assert queue.inbox(db_session, actor(scene.mkt_sup), tag=T.WEB_INBOX_READ).messages == []  # yellow/orange: TAX only

    queue.acknowledge(db_session, actor(scene.tax_sup), warning.id, tag=T.WEB_WARNING_ACKNOWLEDGE)
    tax_box = queue.inbox(db_session, actor(scene.tax_sup2), tag=T.WEB_INBOX_READ)
    assert tax_box.messages[0].message.title == "acknowledged:orange"
    assert queue.inbox(db_session, actor(scene.tax_sup), tag=T.WEB_INBOX_READ).messages == []  # not to oneself
    assert queue.inbox(db_session, actor(scene.mkt_sup), tag=T.WEB_INBOX_READ).messages == []

    watched = queue.list_watches(db_session, actor(scene.mkt_sup), tag=T.WEB_WATCH_LIST)
    assert [(w.subject.name if w.subject else "", w.warnings) for w in watched] == [("黄色预警测试有限公司", [])]
    assert queue.unwatch(db_session, actor(scene.mkt_sup), subject, tag=T.WEB_WATCH_REMOVE) is True
    assert queue.unwatch(db_session, actor(scene.mkt_sup), subject, tag=T.WEB_WATCH_REMOVE) is False


def test_a_red_change_reaches_watchers_of_every_agency(db_session: Session, scene: Scene) -> None:
    subject = queue.find_subject(
        db_session, actor(scene.fda_sup), subject_type="entity", subject_id=scene.red_entity.id, tag=T.WEB_WATCH_ADD
    )
    queue.watch(db_session, actor(scene.fda_sup), subject, tag=T.WEB_WATCH_ADD)
    queue.watch(db_session, actor(scene.office), subject, tag=T.WEB_WATCH_ADD)
    queue.acknowledge(db_session, actor(scene.tax_sup), scene.red(db_session).id, tag=T.WEB_WARNING_ACKNOWLEDGE)
    for user in (scene.fda_sup, scene.office):
        assert [m.message.title for m in queue.inbox(db_session, actor(user), tag=T.WEB_INBOX_READ).messages] == [
            "acknowledged:red"
        ]


def test_a_subject_known_only_from_another_agencys_private_record_is_a_missing_one(
    db_session: Session, scene: Scene, cipher: PersonalDataCipher
) -> None:
    """TAX may not learn, by watching or marking, that MKT holds a private record on a person or on an
    entity outside the registry: the lookup answers exactly as for a subject that does not exist,
    and is audited under the operation's tag."""
    person = make_person(db_session, cipher, name="李暗访")
    entity = make_entity(db_session, name="北京暗访餐饮有限公司", is_in_registry=False)
    make_record(db_session, scene.mkt, person=person, openness=Openness.PRIVATE, description="暗访线索")
    make_record(db_session, scene.mkt, entity=entity, openness=Openness.PRIVATE, description="暗访线索")
    hidden: list[dict[str, Any]] = [
        {"subject_type": "person", "subject_id": person.id},
        {"subject_type": "entity", "subject_id": entity.id},
        {"uscc": entity.uscc.lower()},
    ]
    missing: list[dict[str, Any]] = [
        {"subject_type": "person", "subject_id": person.id + 100_000},
        {"subject_type": "entity", "subject_id": entity.id + 100_000},
        {"uscc": "911101020000000000"},
    ]
    tax, admin = actor(scene.tax_sup), actor(scene.tax_admin)
    answers = []
    for lookup in hidden + missing:
        with pytest.raises(NotFound) as caught:
            queue.find_subject(db_session, tax, tag=T.WEB_WATCH_ADD, action="watch", **lookup)
        answers.append((type(caught.value), caught.value.code, caught.value.status_code, str(caught.value)))
    assert set(answers) == {(NotFound, "not_found", 404, "Not Found")}  # hidden and missing alike
    refusals = audit(db_session, T.WEB_WATCH_ADD)
    assert [e["data"]["refused"] for e in refusals] == ["not_found"] * 6
    assert refusals[0]["actor"] == scene.tax_sup.username
    assert refusals[0]["data"] == {"refused": "not_found", "status": 404, "action": "watch",
                                   "subject": f"person:{person.id}"}  # fmt: skip
    assert refusals[2]["data"]["uscc"] == entity.uscc
    with pytest.raises(NotFound):  # an admin marking by hand: the same
        queue.find_subject(db_session, admin, uscc=entity.uscc, tag=T.WEB_WARNING_MANUAL, action="mark")
    assert audit(db_session, T.WEB_WARNING_MANUAL)[-1]["data"]["refused"] == "not_found"
    with pytest.raises(NotFound):  # the platform office sees shared and public records only
        queue.find_subject(db_session, actor(scene.office), subject_type="person", subject_id=person.id,
                           tag=T.WEB_WATCH_ADD)  # fmt: skip

    owner = actor(scene.mkt_sup)  # the owner knows its own subjects
    found = queue.find_subject(db_session, owner, subject_type="person", subject_id=person.id, tag=T.WEB_WATCH_ADD)
    assert (found.name, found.code) == ("李暗访", person.id_masked)
    assert queue.find_subject(db_session, owner, uscc=entity.uscc, tag=T.WEB_WATCH_ADD).id == entity.id
    make_record(db_session, scene.fda, person=person, openness=Openness.SHARED)  # once shared, TAX may know
    assert queue.find_subject(db_session, tax, subject_type="person", subject_id=person.id, tag=T.WEB_WATCH_ADD).id == (
        person.id
    )


def test_a_watched_subject_that_turns_hidden_is_listed_without_name_and_can_be_unwatched(
    db_session: Session, scene: Scene, cipher: PersonalDataCipher
) -> None:
    person = make_person(db_session, cipher, name="王共享")
    record = make_record(db_session, scene.mkt, person=person, openness=Openness.SHARED)
    tax = actor(scene.tax_sup)
    subject = queue.find_subject(db_session, tax, subject_type="person", subject_id=person.id, tag=T.WEB_WATCH_ADD)
    queue.watch(db_session, tax, subject, tag=T.WEB_WATCH_ADD)
    assert [w.subject.name for w in queue.list_watches(db_session, tax, tag=T.WEB_WATCH_LIST) if w.subject] == [
        "王共享"
    ]
    record.openness = Openness.PRIVATE  # MKT reclassifies its only record on the person
    db_session.flush()
    (watched,) = queue.list_watches(db_session, tax, tag=T.WEB_WATCH_LIST)
    assert watched.subject is None  # the name and the mask are gone from TAX's list
    lookup: dict[str, Any] = {"subject_type": "person", "subject_id": person.id}
    with pytest.raises(NotFound):
        queue.find_subject(db_session, tax, tag=T.WEB_WATCH_ADD, **lookup)
    with pytest.raises(NotFound):  # nobody else may "unwatch" it to probe for it
        queue.find_subject(db_session, actor(scene.fda_sup), tag=T.WEB_WATCH_REMOVE, is_watched_enough=True, **lookup)
    mine = queue.find_subject(db_session, tax, tag=T.WEB_WATCH_REMOVE, is_watched_enough=True, **lookup)
    assert queue.unwatch(db_session, tax, mine, tag=T.WEB_WATCH_REMOVE) is True
    with pytest.raises(NotFound):
        queue.find_subject(db_session, tax, tag=T.WEB_WATCH_REMOVE, is_watched_enough=True, **lookup)


def test_inbox_unread_and_mark_read(db_session: Session, scene: Scene) -> None:
    sup = actor(scene.tax_sup)
    db_session.add_all([
        Message(recipient_user_id=scene.tax_sup.id, title="a", created_at=NOW),
        Message(recipient_agency_id=scene.tax.id, title="b", created_at=NOW + dt.timedelta(minutes=1)),
        Message(recipient_agency_id=scene.mkt.id, title="not mine", created_at=NOW),
        Message(recipient_user_id=scene.tax_sup2.id, title="not mine either", created_at=NOW),
    ])  # fmt: skip
    db_session.flush()
    box = queue.inbox(db_session, sup, tag=T.WEB_INBOX_READ)
    assert ([m.message.title for m in box.messages], box.unread) == (["b", "a"], 2)
    other = db_session.scalars(select(Message).where(Message.title == "not mine")).one()
    with pytest.raises(NotFound):
        queue.mark_read(db_session, sup, other.id, tag=T.WEB_INBOX_MARK_READ)
    assert queue.mark_read(db_session, sup, box.messages[1].message.id, tag=T.WEB_INBOX_MARK_READ) == 1
    assert queue.inbox(db_session, sup, tag=T.WEB_INBOX_READ).unread == 1
    assert queue.mark_read(db_session, sup, tag=T.WEB_INBOX_MARK_READ) == 1
    assert queue.inbox(db_session, sup, tag=T.WEB_INBOX_READ, is_unread_only=True).messages == []
    assert other.read_at is None
    office_box = queue.inbox(db_session, actor(scene.office), tag=T.WEB_INBOX_READ)
    assert office_box.messages == []  # the platform office gets only what names it
    assert len(audit(db_session, T.WEB_INBOX_READ)) == 4
