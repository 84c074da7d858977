"""Hand-built data for the statistics tests, with every expected figure worked out by hand below.

Agencies TAX and MKT. Entities (street, industry):
  e1 金融街街道 5231 · e2 德胜街道 6110 · e3 (no street) 5232 · hidden 什刹海街道 5239, not in the registry,
  known only from MKT's private record. Person p1 张三.

Records (agency, openness, subject, kind/level, occurred, category):
  r1 TAX shared  e1 risk high    2026-02-10 complaint
  r2 TAX private e1 risk low     2026-05-03 complaint
  r3 TAX shared  e2 penalty      2026-04-20 bad_credit
  r4 TAX public  p1 risk medium  2026-08-01 =HYPERLINK("http://x","y")   (no entity)
  r5 MKT shared  e2 risk medium  2026-03-15 licence
  r6 MKT private e1 risk high    2026-03-20 violation          hidden from TAX
  r7 MKT private hidden risk high 2026-06-01 violation         hidden from TAX
  r8 MKT shared  e3 risk low     2025-12-30 complaint
  r9 MKT shared  e1, withdrawn; r10 MKT shared e1, an old version: counted by nobody

Warnings (level, scope, subject, raised on the Beijing calendar):
  w1 red    platform e1 2026-03-01 (00:30 Beijing, still 28 February in UTC)
  w2 yellow TAX      e1 2026-03-02
  w3 orange MKT      e2 2026-05-05
  w4 yellow MKT  hidden 2026-06-02
  w5 red    platform p1 2026-07-01 (01:00 Beijing, still 30 June in UTC: quarter 3, not 2)
  w6 red    platform e2 2026-04-01, closed since (raised in the period all the same)

TAX sees records r1–r5 and r8 and warnings w1, w2, w5, w6; MKT sees r1, r3–r8 and w1, w3, w4, w5, w6;
the platform office sees r1, r3, r4, r5, r8, and every warning as a figure where rows are aggregates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import (
    PLATFORM_SCOPE,
    Agency,
    Entity,
    Openness,
    Person,
    Record,
    RecordKind,
    RecordStatus,
    RiskLevel,
    RiskWarning,
    Role,
    SubjectType,
    User,
    WarningLevel,
    WarningStatus,
)
from tests.factories import make_agency, make_entity, make_id_number, make_person, make_record, make_user

HYPERLINK = '=HYPERLINK("http://x","y")'
UTC = dt.UTC


@dataclass
class Scene:
    tax: Agency
    mkt: Agency
    e1: Entity
    e2: Entity
    e3: Entity
    hidden: Entity
    p1: Person
    p1_id_number: str  # never shown: pages and exports carry the masked form only
    tax_user: User
    mkt_user: User
    office: User
    auditor: User
    records: dict[str, Record]
    warnings: dict[str, RiskWarning]


def _warning(
    session: Session,
    level: WarningLevel,
    opened_at: dt.datetime,
    *,
    entity: Entity | None = None,
    person: Person | None = None,
    scope: Agency | None = None,
    is_active: bool = True,
) -> RiskWarning:
    subject_type, subject_id = (SubjectType.ENTITY, entity.id) if entity else (SubjectType.PERSON, person.id)  # type: ignore[union-attr]
    warning = RiskWarning(
        subject_type=subject_type,
        subject_key=f"{subject_type.value}:{subject_id}",
        entity_id=entity.id if entity else None,
        person_id=person.id if person else None,
        scope_key=str(scope.id) if scope else PLATFORM_SCOPE,
        scope_agency_id=scope.id if scope else None,
        level=level,
        opened_at=opened_at,
        level_changed_at=opened_at,
        status=WarningStatus.OPEN if is_active else WarningStatus.CLOSED,
        is_active=is_active,
    )
    session.add(warning)
    session.flush()
    return warning


def build_scene(session: Session, cipher: PersonalDataCipher, prefix: str = "") -> Scene:
    tax, mkt = make_agency(session, f"{prefix}TAX"), make_agency(session, f"{prefix}MKT")
    e1 = make_entity(session, name=f"{prefix}统计甲有限公司", region="金融街街道", industry="5231")
    e2 = make_entity(session, name=f"{prefix}统计乙有限公司", region="德胜街道", industry="6110")
    e3 = make_entity(session, name=f"{prefix}统计丙有限公司", region="", industry="5232")
    hidden = make_entity(
        session, name=f"{prefix}统计隐藏有限公司", region="什刹海街道", industry="5239", is_in_registry=False
    )
    p1_id_number = make_id_number()
    p1 = make_person(session, cipher, p1_id_number, name="张三")
    risk, penalty = RecordKind.RISK, RecordKind.PENALTY
    shared, private, public = Openness.SHARED, Openness.PRIVATE, Openness.PUBLIC
    day = dt.date
    records = {
        "r1": make_record(session, tax, entity=e1, openness=shared, risk_level=RiskLevel.HIGH,
                          occurred_on=day(2026, 2, 10), category="complaint"),
        "r2": make_record(session, tax, entity=e1, openness=private, risk_level=RiskLevel.LOW,
                          occurred_on=day(2026, 5, 3), category="complaint"),
        "r3": make_record(session, tax, entity=e2, openness=shared, kind=penalty, occurred_on=day(2026, 4, 20),
                          category="bad_credit"),
        "r4": make_record(session, tax, person=p1, openness=public, risk_level=RiskLevel.MEDIUM,
                          occurred_on=day(2026, 8, 1), category=HYPERLINK),
        "r5": make_record(session, mkt, entity=e2, openness=shared, risk_level=RiskLevel.MEDIUM,
                          occurred_on=day(2026, 3, 15), category="licence"),
        "r6": make_record(session, mkt, entity=e1, openness=private, risk_level=RiskLevel.HIGH,
                          occurred_on=day(2026, 3, 20), category="violation"),
        "r7": make_record(session, mkt, entity=hidden, openness=private, risk_level=RiskLevel.HIGH,
                          occurred_on=day(2026, 6, 1), category="violation"),
        "r8": make_record(session, mkt, entity=e3, openness=shared, risk_level=RiskLevel.LOW,
                          occurred_on=day(2025, 12, 30), category="complaint"),
        "r9": make_record(session, mkt, entity=e1, openness=shared, kind=risk, occurred_on=day(2026, 3, 1)),
        "r10": make_record(session, mkt, entity=e1, openness=shared, kind=risk, occurred_on=day(2026, 3, 1)),
    }  # fmt: skip
    records["r9"].status = RecordStatus.WITHDRAWN
    records["r10"].is_current = False
    session.flush()
    at = dt.datetime
    warnings = {
        "w1": _warning(session, WarningLevel.RED, at(2026, 2, 28, 16, 30, tzinfo=UTC), entity=e1),
        "w2": _warning(session, WarningLevel.YELLOW, at(2026, 3, 2, 4, 0, tzinfo=UTC), entity=e1, scope=tax),
        "w3": _warning(session, WarningLevel.ORANGE, at(2026, 5, 5, 4, 0, tzinfo=UTC), entity=e2, scope=mkt),
        "w4": _warning(session, WarningLevel.YELLOW, at(2026, 6, 2, 4, 0, tzinfo=UTC), entity=hidden, scope=mkt),
        "w5": _warning(session, WarningLevel.RED, at(2026, 6, 30, 17, 0, tzinfo=UTC), person=p1),
        "w6": _warning(session, WarningLevel.RED, at(2026, 4, 1, 4, 0, tzinfo=UTC), entity=e2, is_active=False),
    }
    return Scene(
        tax=tax,
        mkt=mkt,
        e1=e1,
        e2=e2,
        e3=e3,
        hidden=hidden,
        p1=p1,
        p1_id_number=p1_id_number,
        tax_user=make_user(session, tax, Role.SUPERVISOR),
        mkt_user=make_user(session, mkt, Role.LIAISON),
        office=make_user(session, None, Role.PLATFORM_ADMIN),
        auditor=make_user(session, None, Role.AUDITOR),
        records=records,
        warnings=warnings,
    )
