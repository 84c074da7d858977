"""The warning rules in the database: every rule, the window boundary, private records, a person
behind several companies, a legal representative who changed mid-window, and the life cycle."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import (
    Actor,
    Agency,
    Entity,
    Openness,
    RecordKind,
    RiskLevel,
    RiskWarning,
    WarningEvent,
    WarningLevel,
    WarningStatus,
)
from signalhub_warnings.rules import Thresholds
from signalhub_warnings.services import EvaluationResult, affected_by_records, evaluate_warnings
from tests.factories import make_agency, make_entity, make_person, make_record, make_role

AS_OF = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)
ACTOR = Actor.job("evaluate_warnings")


def evaluate(session: Session, *, as_of: dt.date = AS_OF, apply: bool = True, **kwargs: object) -> EvaluationResult:
    return evaluate_warnings(
        session, thresholds=Thresholds(), acknowledge_days={"red": 2, "orange": 3, "yellow": 5}, actor=ACTOR,
        tag=AuditTag.JOB_WARNINGS_EVALUATE, as_of=as_of, apply=apply, now=NOW, **kwargs,
    )  # fmt: skip


def active(session: Session, entity: Entity | None = None, person_id: int | None = None) -> dict[str, WarningLevel]:
    query = select(RiskWarning).where(RiskWarning.is_active)
    if entity is not None:
        query = query.where(RiskWarning.entity_id == entity.id)
    if person_id is not None:
        query = query.where(RiskWarning.person_id == person_id)
    return {w.scope_key: w.level for w in session.scalars(query)}


def record(session: Session, agency: Agency, department: int, **kwargs: object) -> None:
    make_record(session, agency, department=agency.departments[department], **kwargs)  # type: ignore[arg-type]


def test_departments_of_one_agency_raise_yellow_then_orange(db_session: Session) -> None:
    tax = make_agency(db_session, "TAX", departments=3)
    entity = make_entity(db_session)
    record(db_session, tax, 0, entity=entity, occurred_on=dt.date(2026, 3, 1))
    evaluate(db_session)
    assert active(db_session, entity) == {}
    record(db_session, tax, 1, entity=entity, openness=Openness.PRIVATE, occurred_on=dt.date(2026, 4, 1))
    evaluate(db_session)
    assert active(db_session, entity) == {str(tax.id): WarningLevel.YELLOW}
    record(db_session, tax, 2, entity=entity, occurred_on=dt.date(2026, 5, 1))
    evaluate(db_session)
    assert active(db_session, entity) == {str(tax.id): WarningLevel.ORANGE}
    warning = db_session.scalars(select(RiskWarning).where(RiskWarning.entity_id == entity.id)).one()
    kinds = [e.kind for e in db_session.scalars(select(WarningEvent).where(WarningEvent.warning_id == warning.id))]
    assert kinds == ["opened", "escalated"]
    assert warning.rules == ["orange_departments", "yellow_departments"]


def test_two_high_risk_gradings_raise_yellow(db_session: Session) -> None:
    tax = make_agency(db_session, "TAX", departments=3)
    entity = make_entity(db_session)
    for _ in range(2):
        record(db_session, tax, 0, entity=entity, risk_level=RiskLevel.HIGH)
    evaluate(db_session)
    assert active(db_session, entity) == {str(tax.id): WarningLevel.YELLOW}
    assert db_session.scalars(select(RiskWarning)).one().rules == ["yellow_high_risk"]


def test_red_needs_two_agencies_with_shared_or_public_records(db_session: Session) -> None:
    tax, market = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    entity = make_entity(db_session)
    record(db_session, tax, 0, entity=entity, openness=Openness.SHARED)
    record(db_session, market, 0, entity=entity, openness=Openness.PRIVATE)
    evaluate(db_session)
    assert active(db_session, entity) == {}  # a private record never counts toward red
    record(db_session, market, 1, entity=entity, openness=Openness.PUBLIC, kind=RecordKind.PENALTY, risk_level=None)
    evaluate(db_session)
    assert active(db_session, entity)["platform"] == WarningLevel.RED
    # MKT's two departments (one private record among them) make MKT's own yellow too.
    assert active(db_session, entity)[str(market.id)] == WarningLevel.YELLOW


def test_the_window_is_inclusive_and_records_age_out(db_session: Session) -> None:
    tax = make_agency(db_session, "TAX", departments=3)
    entity = make_entity(db_session)
    record(db_session, tax, 0, entity=entity, occurred_on=AS_OF - dt.timedelta(days=365))  # the first day in
    record(db_session, tax, 1, entity=entity, occurred_on=AS_OF)
    evaluate(db_session)
    assert active(db_session, entity) == {str(tax.id): WarningLevel.YELLOW}
    evaluate(db_session, as_of=AS_OF + dt.timedelta(days=1))  # the older record falls out of the window
    assert active(db_session, entity) == {}
    warning = db_session.scalars(select(RiskWarning)).one()
    assert (warning.status, warning.is_active, warning.cleared_at) == (WarningStatus.CLEARED, False, NOW)


def test_red_follows_the_person_behind_three_companies(db_session: Session, cipher: PersonalDataCipher) -> None:
    agencies = [make_agency(db_session, code) for code in ("TAX", "MKT", "FDA")]
    person = make_person(db_session, cipher)
    companies = [make_entity(db_session) for _ in range(3)]
    for company, agency in zip(companies, agencies, strict=True):
        make_role(db_session, company, person, since=dt.date(2015, 1, 1))
        record(db_session, agency, 0, entity=company, openness=Openness.SHARED)
    evaluate(db_session)
    assert all(active(db_session, company) == {} for company in companies)  # no company is red...
    assert active(db_session, person_id=person.id) == {"platform": WarningLevel.RED}  # ...the person is


def test_a_legal_representative_who_changed_mid_window(db_session: Session, cipher: PersonalDataCipher) -> None:
    tax, market = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    company = make_entity(db_session)
    before, after = make_person(db_session, cipher, name="甲"), make_person(db_session, cipher, name="乙")
    make_role(db_session, company, before, since=dt.date(2010, 1, 1), until=dt.date(2026, 6, 1))
    make_role(db_session, company, after, since=dt.date(2026, 6, 1))
    record(db_session, tax, 0, entity=company, occurred_on=dt.date(2026, 3, 1))  # under 甲
    record(db_session, market, 0, entity=company, occurred_on=dt.date(2026, 6, 1))  # 乙's first day
    other = make_entity(db_session)
    make_role(db_session, other, before, since=dt.date(2010, 1, 1))
    record(db_session, market, 1, entity=other, occurred_on=dt.date(2026, 8, 1))
    evaluate(db_session)
    # 甲 holds TAX's record (before the change) and MKT's on the other company: red.
    assert active(db_session, person_id=before.id) == {"platform": WarningLevel.RED}
    # 乙 holds only MKT's record from the day of the change: nothing.
    assert active(db_session, person_id=after.id) == {}
    assert active(db_session, company)["platform"] == WarningLevel.RED


def test_a_record_naming_the_person_and_their_company_counts_once(
    db_session: Session, cipher: PersonalDataCipher
) -> None:
    tax = make_agency(db_session, "TAX", departments=3)
    person = make_person(db_session, cipher)
    company = make_entity(db_session)
    make_role(db_session, company, person, since=dt.date(2015, 1, 1))
    record(db_session, tax, 0, entity=company, person=person, risk_level=RiskLevel.HIGH)
    evaluate(db_session)
    assert active(db_session, person_id=person.id) == {}  # one high-risk record, not two


def test_as_of_backtest_does_not_touch_live_warnings(db_session: Session) -> None:
    tax = make_agency(db_session, "TAX", departments=3)
    entity = make_entity(db_session)
    record(db_session, tax, 0, entity=entity, occurred_on=dt.date(2025, 1, 10))
    record(db_session, tax, 1, entity=entity, occurred_on=dt.date(2025, 1, 20))
    result = evaluate(db_session, as_of=dt.date(2025, 2, 1), apply=False)
    assert [c.level for c in result.found.values()] == [WarningLevel.YELLOW]
    assert db_session.scalars(select(RiskWarning)).all() == []


def test_incremental_evaluation_looks_only_at_affected_subjects(db_session: Session) -> None:
    tax = make_agency(db_session, "TAX", departments=3)
    touched, untouched = make_entity(db_session), make_entity(db_session)
    record(db_session, tax, 0, entity=untouched)
    record(db_session, tax, 1, entity=untouched)
    record(db_session, tax, 0, entity=touched)
    latest = make_record(db_session, tax, entity=touched, department=tax.departments[1])
    result = evaluate(db_session, affected=affected_by_records([latest.id]))
    assert result.opened == 1
    assert active(db_session, touched) == {str(tax.id): WarningLevel.YELLOW}
    assert active(db_session, untouched) == {}  # not evaluated yet; the daily full run will


@pytest.mark.parametrize("closed_then", ["same", "worse"])
def test_closure_is_respected_until_the_condition_changes(db_session: Session, closed_then: str) -> None:
    tax = make_agency(db_session, "TAX", departments=3)
    entity = make_entity(db_session)
    record(db_session, tax, 0, entity=entity)
    record(db_session, tax, 1, entity=entity)
    evaluate(db_session)
    warning = db_session.scalars(select(RiskWarning)).one()
    warning.status, warning.is_active = WarningStatus.CLOSED, False
    db_session.flush()
    if closed_then == "worse":
        record(db_session, tax, 2, entity=entity)
    evaluate(db_session)
    expected = {} if closed_then == "same" else {str(tax.id): WarningLevel.ORANGE}
    assert active(db_session, entity) == expected


def test_a_closure_ends_with_its_condition_and_a_later_condition_opens_anew(db_session: Session) -> None:
    tax = make_agency(db_session, "TAX", departments=3)
    entity = make_entity(db_session)
    for department in range(3):
        record(db_session, tax, department, entity=entity, occurred_on=dt.date(2025, 12, 1))
    evaluate(db_session)
    warning = db_session.scalars(select(RiskWarning)).one()
    warning.status, warning.is_active = WarningStatus.CLOSED, False
    db_session.flush()
    evaluate(db_session, as_of=dt.date(2027, 1, 5))  # the records have aged out: the closure ends
    # A year later two departments raise a weaker, fresh condition: it opens a new warning.
    record(db_session, tax, 0, entity=entity, occurred_on=dt.date(2027, 6, 1))
    record(db_session, tax, 1, entity=entity, occurred_on=dt.date(2027, 6, 2))
    evaluate(db_session, as_of=dt.date(2027, 6, 10))
    assert active(db_session, entity) == {str(tax.id): WarningLevel.YELLOW}


def test_a_backtest_leaves_live_warnings_and_their_history_alone(db_session: Session) -> None:
    tax = make_agency(db_session, "TAX", departments=3)
    entity = make_entity(db_session)
    record(db_session, tax, 0, entity=entity)
    record(db_session, tax, 1, entity=entity)
    evaluate(db_session)
    before = [(w.id, w.level, w.status, w.is_active) for w in db_session.scalars(select(RiskWarning))]
    events = db_session.scalar(select(func.count()).select_from(WarningEvent))
    result = evaluate(db_session, as_of=dt.date(2024, 1, 1), apply=False)  # nothing in that window
    assert result.found == {}
    db_session.expire_all()
    assert [(w.id, w.level, w.status, w.is_active) for w in db_session.scalars(select(RiskWarning))] == before
    assert db_session.scalar(select(func.count()).select_from(WarningEvent)) == events


def test_evidence_written_in_sql_equals_the_python_candidates(db_session: Session, cipher: PersonalDataCipher) -> None:
    """The applied run builds rules and evidence as JSON in SQL; a backtest builds them in Python
    (``Candidate.evidence``). A supervisor reads the same evidence whichever path wrote it, in every
    scope and through every kind of change."""
    tax, market = make_agency(db_session, "TAX", departments=3), make_agency(db_session, "MKT", departments=2)
    entity, other = make_entity(db_session), make_entity(db_session)
    person = make_person(db_session, cipher)
    make_role(db_session, entity, person, since=dt.date(2015, 1, 1))
    make_role(db_session, other, person, since=dt.date(2015, 1, 1))
    record(db_session, tax, 0, entity=entity, risk_level=RiskLevel.HIGH)
    record(db_session, tax, 1, entity=entity, risk_level=RiskLevel.HIGH)
    record(db_session, market, 0, entity=other, openness=Openness.PUBLIC)
    record(db_session, market, 1, entity=entity, kind=RecordKind.PENALTY, risk_level=None)

    def check() -> None:
        python = {c.key: c for c in evaluate(db_session, apply=False).found.values()}
        stored = {(w.subject_key, w.scope_key): w for w in db_session.scalars(select(RiskWarning).where(
            RiskWarning.is_active))}  # fmt: skip
        assert set(stored) == set(python)
        for key, warning in stored.items():
            assert (warning.rules, warning.evidence) == (list(python[key].rules), python[key].evidence), key
        last = db_session.scalars(select(WarningEvent).order_by(WarningEvent.id.desc()).limit(1)).one()
        assert last.evidence == stored[(last.warning.subject_key, last.warning.scope_key)].evidence

    evaluate(db_session)  # opened: agency and platform scopes, an entity and a person
    check()
    record(db_session, tax, 2, entity=entity)  # escalated to orange, with a new rule and a new count
    evaluate(db_session)
    check()
    assert active(db_session, entity) == {str(tax.id): WarningLevel.ORANGE, "platform": WarningLevel.RED}
