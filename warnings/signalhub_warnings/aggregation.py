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
    BigInteger,
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    distinct,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.orm import Session

from signalhub_platform.db import is_postgresql
from signalhub_platform.models import (
    PLATFORM_SCOPE,
    EntityPersonRole,
    Record,
    RecordKind,
    RecordStatus,
    RiskLevel,
    WarningLevel,
)
from signalhub_platform.models.visibility import OPEN_TO_MEMBERS
from signalhub_warnings.rules import LEVEL_ORDER, Metric, Rule, Scope, rules_for

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


# --- candidates kept inside the database (the applied evaluation) ----------------------------------

CANDIDATES = "warning_candidates"


def candidate_table(session: Session) -> Table:
    """A per-transaction table of candidates; the applied evaluation diffs it with the warnings in SQL."""
    table = Table(
        CANDIDATES,
        MetaData(),
        Column("subject_type", String(16)),
        Column("subject_id", BigInteger()),
        Column("scope_agency_id", Integer()),
        Column("subject_key", String(32)),
        Column("scope_key", String(32)),
        Column("level", String(16)),
        Column("rule_codes", String(200)),
        Column("departments", Integer()),
        Column("high_risk", Integer()),
        Column("agencies", Integer()),
        Column("records", Integer()),
        # The diff looks candidates up by key from every active warning: without this, quadratic.
        Index(f"ix_{CANDIDATES}_key", "subject_key", "scope_key"),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    table.create(session.connection(), checkfirst=True)
    session.execute(table.delete())
    return table


def _verdict_columns(rules: tuple[Rule, ...], metrics: dict[Metric, ColumnElement[int]]) -> tuple[object, object]:
    """The rules' level and rule codes as SQL, from the same Rule objects the explanation uses
    (strongest level first, in the order the rules are declared — as ``rules.classify`` orders them)."""
    usable = sorted((r for r in rules if r.metric in metrics), key=lambda r: -LEVEL_ORDER[r.level])
    holds = {r.code: metrics[r.metric] >= r.threshold for r in usable}
    levels: dict[WarningLevel, list[ColumnElement[bool]]] = {}
    for rule in usable:
        levels.setdefault(rule.level, []).append(holds[rule.code])
    level = case(*((or_(*conditions), literal(level.value)) for level, conditions in levels.items()))
    codes = literal("")
    for rule in usable:
        codes = codes + case((holds[rule.code], literal(rule.code + ",")), else_=literal(""))
    return level, codes


def insert_candidates(
    session: Session,
    table: Table,
    rules: tuple[Rule, ...],
    *,
    as_of: dt.date,
    window_days: int,
    affected: Affected | None = None,
) -> None:
    """The four aggregations, classified in SQL, written into ``table`` (nothing leaves the database)."""
    columns = [c.name for c in table.columns]
    for subject_type, hits_query in (
        ("entity", entity_hits(as_of, window_days, affected)),
        ("person", person_hits(as_of, window_days, affected)),
    ):
        prefix = literal(f"{subject_type}:")
        hits = hits_query.subquery()
        metrics = _metric_columns(hits)
        agency_rules = [r for r in rules_for(rules, Scope.AGENCY) if r.metric in metrics]
        if agency_rules:
            agency_metrics = {m: metrics[m] for m in (Metric.DEPARTMENTS, Metric.HIGH_RISK)}
            level, codes = _verdict_columns(tuple(agency_rules), agency_metrics)  # type: ignore[arg-type]
            select_ = (
                select(
                    literal(subject_type), hits.c.subject_id, hits.c.agency_id,
                    prefix + cast(hits.c.subject_id, String), cast(hits.c.agency_id, String), level, codes,
                    metrics[Metric.DEPARTMENTS], metrics[Metric.HIGH_RISK], literal(0), func.count(),
                )
                .group_by(hits.c.subject_id, hits.c.agency_id)
                .having(or_(*(metrics[r.metric] >= r.threshold for r in agency_rules)))
            )  # fmt: skip
            session.execute(insert(table).from_select(columns, select_))
        platform_rules = [r for r in rules_for(rules, Scope.PLATFORM) if r.metric in metrics]
        if platform_rules:
            open_hits = select(hits).where(hits.c.openness.in_([o.value for o in OPEN_TO_MEMBERS])).subquery()
            open_metrics = _metric_columns(open_hits)
            level, codes = _verdict_columns(tuple(platform_rules), {Metric.AGENCIES: open_metrics[Metric.AGENCIES]})
            select_ = (
                select(
                    literal(subject_type), open_hits.c.subject_id, null(),
                    prefix + cast(open_hits.c.subject_id, String), literal(PLATFORM_SCOPE), level, codes,
                    literal(0), literal(0), open_metrics[Metric.AGENCIES], func.count(),
                )
                .group_by(open_hits.c.subject_id)
                .having(or_(*(open_metrics[r.metric] >= r.threshold for r in platform_rules)))
            )  # fmt: skip
            session.execute(insert(table).from_select(columns, select_))
    if is_postgresql(session):
        session.execute(text(f"ANALYZE {CANDIDATES}"))  # temporary tables get no autovacuum statistics
