"""Candidates for warnings, found by set-based aggregation inside the database.

A *hit* is a current, active record version dated inside the window [as_of − window, as_of].
An entity's hits are the records on it. A person's hits are the records naming the person plus
the records on every entity where the person held a role on the record's date (role periods are
[since, until)); a record reaching a person both ways counts once.

Four GROUP BY queries, identical on SQLite and PostgreSQL, each filtered by ``HAVING`` built
from the rules (``rules.py``), so only subjects that meet some threshold leave the database:
(entity | person) × (per agency: departments, high-risk count | platform: shared agencies).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    distinct,
    func,
    or_,
    select,
    union,
)
from sqlalchemy.orm import Session

from signalhub_platform.models import EntityPersonRole, Record, RecordKind, RecordStatus, RiskLevel
from signalhub_platform.models.visibility import OPEN_TO_MEMBERS
from signalhub_warnings.rules import Metric, Rule, Scope, rules_for

_R = Record.__table__
_ROLES = EntityPersonRole.__table__


@dataclass(frozen=True)
class Affected:
    """Which subjects an incremental evaluation looks at: those touched by some records.

    ``records`` selects record ids (e.g. a batch's rows, a corrected record's versions)."""

    records: Select[tuple[int]]


@dataclass(frozen=True)
class Aggregate:
    subject_type: str  # "entity" | "person"
    subject_id: int
    scope_agency_id: int | None  # None: the platform scope
    metrics: dict[Metric, int]
    records: int


def window(as_of: dt.date, days: int) -> tuple[dt.date, dt.date]:
    return as_of - dt.timedelta(days=days), as_of


def _hit(as_of: dt.date, days: int) -> ColumnElement[bool]:
    start, end = window(as_of, days)
    return and_(_R.c.is_current, _R.c.status == RecordStatus.ACTIVE.value, _R.c.occurred_on.between(start, end))


def _hit_columns() -> list[ColumnElement[object]]:
    return [_R.c.id, _R.c.agency_id, _R.c.department_id, _R.c.kind, _R.c.risk_level, _R.c.openness]


def affected_entities(affected: Affected) -> Select[tuple[int]]:
    return select(_R.c.entity_id).where(_R.c.id.in_(affected.records), _R.c.entity_id.is_not(None))


def affected_persons(affected: Affected) -> Select[tuple[int]]:
    """Persons named by the records, and persons holding (or having held) roles at their entities."""
    named = select(_R.c.person_id).where(_R.c.id.in_(affected.records), _R.c.person_id.is_not(None))
    behind = select(_ROLES.c.person_id).where(_ROLES.c.entity_id.in_(affected_entities(affected)))
    return union(named, behind)  # type: ignore[return-value]


def entity_hits(as_of: dt.date, days: int, affected: Affected | None) -> Select[tuple[object, ...]]:
    query = select(_R.c.entity_id.label("subject_id"), *_hit_columns()).where(
        _hit(as_of, days), _R.c.entity_id.is_not(None)
    )
    if affected is not None:
        query = query.where(_R.c.entity_id.in_(affected_entities(affected)))
    return query


def person_hits(as_of: dt.date, days: int, affected: Affected | None) -> Select[tuple[object, ...]]:
    named = select(_R.c.person_id.label("subject_id"), *_hit_columns()).where(
        _hit(as_of, days), _R.c.person_id.is_not(None)
    )
    held_role = and_(
        _ROLES.c.entity_id == _R.c.entity_id,
        _ROLES.c.since <= _R.c.occurred_on,
        or_(_ROLES.c.until.is_(None), _R.c.occurred_on < _ROLES.c.until),
    )
    through_entity = (
        select(_ROLES.c.person_id.label("subject_id"), *_hit_columns())
        .select_from(_R.join(_ROLES, held_role))
        .where(_hit(as_of, days))
    )
    if affected is not None:
        persons = affected_persons(affected)
        named = named.where(_R.c.person_id.in_(persons))
        through_entity = through_entity.where(_ROLES.c.person_id.in_(persons))
    # UNION, not UNION ALL: a record reaching the person both ways is one hit.
    return union(named, through_entity)  # type: ignore[return-value]


def _metric_columns(hits: object) -> dict[Metric, ColumnElement[int]]:
    h = hits.c  # type: ignore[attr-defined]
    is_high = and_(h.kind == RecordKind.RISK.value, h.risk_level == RiskLevel.HIGH.value)
    return {
        Metric.DEPARTMENTS: func.count(distinct(h.department_id)),
        Metric.HIGH_RISK: func.sum(case((is_high, 1), else_=0)),
        Metric.AGENCIES: func.count(distinct(h.agency_id)),
    }


def aggregate(
    session: Session,
    rules: tuple[Rule, ...],
    *,
    as_of: dt.date,
    window_days: int,
    affected: Affected | None = None,
) -> Iterator[Aggregate]:
    """Every (subject, scope) whose metrics meet at least one rule's threshold."""
    for subject_type, hits_query in (
        ("entity", entity_hits(as_of, window_days, affected)),
        ("person", person_hits(as_of, window_days, affected)),
    ):
        hits = hits_query.subquery()
        metrics = _metric_columns(hits)
        agency_rules = [r for r in rules_for(rules, Scope.AGENCY) if r.metric in metrics]
        if agency_rules:
            query = (
                select(
                    hits.c.subject_id,
                    hits.c.agency_id,
                    metrics[Metric.DEPARTMENTS],
                    metrics[Metric.HIGH_RISK],
                    func.count(),
                )
                .group_by(hits.c.subject_id, hits.c.agency_id)
                .having(or_(*(metrics[r.metric] >= r.threshold for r in agency_rules)))
            )
            for subject_id, agency_id, departments, high_risk, count in session.execute(query):
                yield Aggregate(
                    subject_type,
                    int(subject_id),
                    int(agency_id),
                    {Metric.DEPARTMENTS: int(departments), Metric.HIGH_RISK: int(high_risk or 0)},
                    int(count),
                )
        platform_rules = [r for r in rules_for(rules, Scope.PLATFORM) if r.metric in metrics]
        if platform_rules:
            # Red counts shared and public records only: private ones never leave their agency.
            open_hits = select(hits).where(hits.c.openness.in_([o.value for o in OPEN_TO_MEMBERS])).subquery()
            open_metrics = _metric_columns(open_hits)
            query = (
                select(open_hits.c.subject_id, open_metrics[Metric.AGENCIES], func.count())
                .group_by(open_hits.c.subject_id)
                .having(or_(*(open_metrics[r.metric] >= r.threshold for r in platform_rules)))
            )
            for subject_id, agencies, count in session.execute(query):
                yield Aggregate(subject_type, int(subject_id), None, {Metric.AGENCIES: int(agencies)}, int(count))
