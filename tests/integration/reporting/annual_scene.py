"""A year of warnings, records and draws built by hand for the annual risk report tests (2026).

warnings (W) and their events, all in Beijing time:
  W1 red      on E1   raised 10 Mar 2026                               in force at the end
  W2 TAX      on E2   yellow 1 Feb 2026, escalated to orange 15 May   in force (orange)
  W3 MKT      on E3   yellow 1 Apr 2026                                in force (yellow)
  W4 red      on E2   raised 20 Jan 2026, cleared 10 Jun 2026
  W5 red      on E4   raised 20 Dec 2025                               in force (no event in 2026)
  W6 TAX      person  orange 7 Jul 2026                                in force (orange)
records that occurred in 2026: TAX shared 投诉举报 ×2 on E2, TAX private 欠缴税费 on E1,
  MKT private 拖欠工资 on E3, MKT shared penalty 罚款 on E3; one TAX record of 2025.
draws: one made on 1 June 2026 (a red target with problems found, a "none" target without),
  one made in 2025.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import (
    PLATFORM_SCOPE,
    Agency,
    Draw,
    DrawStatus,
    DrawTarget,
    Entity,
    InspectionOutcome,
    InspectionResult,
    Openness,
    RecordKind,
    RiskWarning,
    Role,
    SubjectType,
    User,
    WarningEvent,
    WarningEventKind,
    WarningLevel,
    WarningStatus,
)
from signalhub_platform.models.types import BEIJING
from tests.factories import make_agency, make_entity, make_person, make_record, make_user


def at(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime(year, month, day, 9, 0, tzinfo=BEIJING)


@dataclass
class Year:
    tax: Agency
    mkt: Agency
    tax_user: User
    mkt_user: User
    office: User
    auditor: User
    entities: list[Entity]


def _warning(
    session: Session,
    *,
    scope: Agency | None,
    level: WarningLevel,
    events: list[tuple[WarningEventKind, WarningLevel, dt.datetime]],
    entity: Entity | None = None,
    person_id: int | None = None,
) -> RiskWarning:
    ended = events[-1][0] in (WarningEventKind.CLEARED, WarningEventKind.CLOSED)
    warning = RiskWarning(
        subject_type=SubjectType.ENTITY if entity else SubjectType.PERSON,
        subject_key=f"entity:{entity.id}" if entity else f"person:{person_id}",
        entity_id=entity.id if entity else None,
        person_id=person_id,
        scope_key=PLATFORM_SCOPE if scope is None else str(scope.id),
        scope_agency_id=scope.id if scope else None,
        level=level,
        status=WarningStatus.CLEARED if ended else WarningStatus.OPEN,
        is_active=not ended,
        opened_at=events[0][2],
        cleared_at=events[-1][2] if ended else None,
    )
    session.add(warning)
    session.flush()
    for kind, to_level, moment in events:
        session.add(WarningEvent(warning_id=warning.id, kind=kind, at=moment, actor="job:test", to_level=to_level))
    session.flush()
    return warning


def build_year(session: Session, cipher: PersonalDataCipher) -> Year:
    tax, mkt = make_agency(session, "TAX"), make_agency(session, "MKT")
    e1 = make_entity(session, region="金融街街道", industry="6210")
    e2 = make_entity(session, region="月坛街道", industry="5231")
    e3 = make_entity(session, region="德胜街道", industry="5231")
    e4 = make_entity(session, region="金融街街道", industry="6210")
    person = make_person(session, cipher)
    red, orange, yellow = WarningLevel.RED, WarningLevel.ORANGE, WarningLevel.YELLOW
    opened, escalated, cleared = WarningEventKind.OPENED, WarningEventKind.ESCALATED, WarningEventKind.CLEARED
    _warning(session, scope=None, level=red, entity=e1, events=[(opened, red, at(2026, 3, 10))])
    _warning(session, scope=tax, level=orange, entity=e2,
             events=[(opened, yellow, at(2026, 2, 1)), (escalated, orange, at(2026, 5, 15))])  # fmt: skip
    _warning(session, scope=mkt, level=yellow, entity=e3, events=[(opened, yellow, at(2026, 4, 1))])
    _warning(session, scope=None, level=red, entity=e2,
             events=[(opened, red, at(2026, 1, 20)), (cleared, red, at(2026, 6, 10))])  # fmt: skip
    _warning(session, scope=None, level=red, entity=e4, events=[(opened, red, at(2025, 12, 20))])
    _warning(session, scope=tax, level=orange, person_id=person.id, events=[(opened, orange, at(2026, 7, 7))])

    for _ in range(2):
        make_record(session, tax, entity=e2, category="投诉举报", occurred_on=dt.date(2026, 3, 3))
    make_record(
        session, tax, entity=e1, category="欠缴税费", openness=Openness.PRIVATE, occurred_on=dt.date(2026, 4, 4)
    )
    make_record(
        session, mkt, entity=e3, category="拖欠工资", openness=Openness.PRIVATE, occurred_on=dt.date(2026, 5, 5)
    )
    make_record(session, mkt, entity=e3, category="罚款", kind=RecordKind.PENALTY, occurred_on=dt.date(2026, 6, 6))
    make_record(session, tax, entity=e2, category="投诉举报", occurred_on=dt.date(2025, 12, 31))

    for drawn_at, targets in (
        (at(2026, 6, 1), [(e1, "red", InspectionOutcome.PROBLEMS_FOUND), (e3, "none", InspectionOutcome.NO_PROBLEM)]),
        (at(2025, 6, 1), [(e2, "red", InspectionOutcome.ORDERED_TO_CORRECT)]),
    ):
        draw = Draw(name="联合抽查", status=DrawStatus.PUBLISHED, strategy="stratified", manifest="{}",
                    population_sha256="0" * 64, drawn_at=drawn_at)  # fmt: skip
        session.add(draw)
        session.flush()
        for position, (entity, stratum, outcome) in enumerate(targets, start=1):
            target = DrawTarget(draw_id=draw.id, entity_id=entity.id, position=position, stratum=stratum, ticket="0.1")
            session.add(target)
            session.flush()
            session.add(
                InspectionResult(target_id=target.id, entity_id=entity.id, outcome=outcome,
                                 inspected_on=drawn_at.date())
            )  # fmt: skip
    session.flush()
    return Year(
        tax=tax,
        mkt=mkt,
        tax_user=make_user(session, tax, Role.SUPERVISOR, username="tax_supervisor"),
        mkt_user=make_user(session, mkt, Role.SUPERVISOR, username="mkt_supervisor"),
        office=make_user(session, None, Role.PLATFORM_ADMIN, username="office"),
        auditor=make_user(session, None, Role.AUDITOR, username="auditor"),
        entities=[e1, e2, e3, e4],
    )
