"""Candidates for warnings, found by set-based aggregation inside the database.

A *hit* is a current, active record version dated inside the window [as_of − window, as_of].
An entity's hits are the records on it. A person's hits are the records naming the person plus
the records on every entity where the person held a role on the record's date (role periods are
[since, until)); a record reaching a person both ways counts once.

Per subject type (entity | person), one statement reads the hits once and groups them twice,
identically on SQLite and PostgreSQL: by (subject, agency) — departments, high-risk count,
records, shared/public records — and then, from those groups, by subject — agencies holding
shared/public hits. Both levels are filtered by thresholds built from the rules (``rules.py``),
so only subjects that meet some threshold leave the database.

An incremental evaluation narrows the hits to the affected subjects, first written to a
temporary table (``affected_subjects``) that the joins start from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    CTE,
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
    union,
    union_all,
)
from sqlalchemy.orm import Session

from signalhub_platform.db import analyze
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

SubjectIds = Select[tuple[int]] | Sequence[int]


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


def entity_hits(as_of: dt.date, days: int, entity_ids: SubjectIds | None = None) -> Select[tuple[object, ...]]:
    query = select(_R.c.entity_id.label("subject_id"), *_hit_columns()).where(
        _hit(as_of, days), _R.c.entity_id.is_not(None)
    )
    if entity_ids is not None:
        query = query.where(_R.c.entity_id.in_(entity_ids))
    return query


def person_hits(as_of: dt.date, days: int, person_ids: SubjectIds | None = None) -> Select[tuple[object, ...]]:
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
        .select_from(_ROLES.join(_R, held_role))
        .where(_hit(as_of, days))
    )
    if person_ids is not None:
        named = named.where(_R.c.person_id.in_(person_ids))
        through_entity = through_entity.where(_ROLES.c.person_id.in_(person_ids))
    # UNION, not UNION ALL: a record reaching the person both ways is one hit.
    return union(named, through_entity)  # type: ignore[return-value]


# --- the affected subjects of an incremental evaluation --------------------------------------------

AFFECTED = "warning_affected"


def affected_subjects(session: Session, affected: Affected) -> Table:
    """The affected entities and persons, written once to a per-transaction table: the hits, the
    comparison with stored warnings and the overrides all start from it."""
    table = Table(
        AFFECTED,
        MetaData(),
        Column("subject_key", String(32), primary_key=True),
        Column("subject_type", String(16)),
        Column("subject_id", BigInteger()),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    table.create(session.connection(), checkfirst=True)
    session.execute(table.delete())
    columns = ["subject_key", "subject_type", "subject_id"]

    def keyed(subject_type: str, ids: Select[tuple[int]]) -> Select[tuple[object, ...]]:
        id_ = ids.subquery().c[0]
        return select(literal(f"{subject_type}:") + cast(id_, String), literal(subject_type), id_)

    session.execute(insert(table).from_select(columns, keyed("entity", affected_entities(affected).distinct())))
    # Persons named by the records, and persons holding (or having held) roles at their entities.
    named = select(_R.c.person_id).where(_R.c.id.in_(affected.records), _R.c.person_id.is_not(None))
    behind = select(_ROLES.c.person_id).where(_ROLES.c.entity_id.in_(subject_ids(table, "entity")))
    session.execute(insert(table).from_select(columns, keyed("person", union(named, behind))))  # type: ignore[arg-type]
    analyze(session, AFFECTED)
    return table


def subject_ids(table: Table | None, subject_type: str) -> Select[tuple[int]] | None:
    if table is None:
        return None
    return select(table.c.subject_id).where(table.c.subject_type == subject_type)


# --- the aggregation ---------------------------------------------------------------------------------


def _grouped(hits: Select[tuple[object, ...]]) -> CTE:
    """Hits grouped by (subject, agency): read once, used by both scopes."""
    h = hits.subquery("hits")
    is_high = and_(h.c.kind == RecordKind.RISK.value, h.c.risk_level == RiskLevel.HIGH.value)
    is_open = h.c.openness.in_([o.value for o in OPEN_TO_MEMBERS])
    return (
        select(
            h.c.subject_id,
            h.c.agency_id,
            func.count(distinct(h.c.department_id)).label("departments"),
            func.sum(case((is_high, 1), else_=0)).label("high_risk"),
            func.count().label("records"),
            # Red counts shared and public records only: private ones never leave their agency.
            func.sum(case((is_open, 1), else_=0)).label("open_records"),
        )
        .group_by(h.c.subject_id, h.c.agency_id)
        .cte("subject_agency")
    )


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


def candidate_select(
    subject_type: str, hits: Select[tuple[object, ...]], rules: tuple[Rule, ...]
) -> Select[tuple[object, ...]] | None:
    """Every (subject, scope) of ``hits`` that meets some rule's threshold, classified, in the
    columns of the candidate table (None when no rule is computed in SQL)."""
    g = _grouped(hits)
    prefix = literal(f"{subject_type}:")
    selects = []
    agency_metrics = {Metric.DEPARTMENTS: g.c.departments, Metric.HIGH_RISK: g.c.high_risk}
    agency_rules = tuple(r for r in rules_for(rules, Scope.AGENCY) if r.metric in agency_metrics)
    if agency_rules:
        level, codes = _verdict_columns(agency_rules, agency_metrics)  # type: ignore[arg-type]
        selects.append(
            select(
                literal(subject_type), g.c.subject_id, g.c.agency_id, prefix + cast(g.c.subject_id, String),
                cast(g.c.agency_id, String), level, codes, g.c.departments, g.c.high_risk, literal(0), g.c.records,
            ).where(or_(*(agency_metrics[r.metric] >= r.threshold for r in agency_rules)))
        )  # fmt: skip
    agencies = func.sum(case((g.c.open_records > 0, 1), else_=0))
    platform_metrics = {Metric.AGENCIES: agencies}
    platform_rules = tuple(r for r in rules_for(rules, Scope.PLATFORM) if r.metric in platform_metrics)
    if platform_rules:
        level, codes = _verdict_columns(platform_rules, platform_metrics)  # type: ignore[arg-type]
        selects.append(
            select(
                literal(subject_type), g.c.subject_id, null(), prefix + cast(g.c.subject_id, String),
                literal(PLATFORM_SCOPE), level, codes, literal(0), literal(0), agencies, func.sum(g.c.open_records),
            )
            .group_by(g.c.subject_id)
            .having(or_(*(platform_metrics[r.metric] >= r.threshold for r in platform_rules)))
        )  # fmt: skip
    if not selects:
        return None
    return selects[0] if len(selects) == 1 else union_all(*selects)  # type: ignore[return-value]


def _subject_hits(
    as_of: dt.date, window_days: int, affected: Table | None
) -> Iterator[tuple[str, Select[tuple[object, ...]]]]:
    yield "entity", entity_hits(as_of, window_days, subject_ids(affected, "entity"))
    yield "person", person_hits(as_of, window_days, subject_ids(affected, "person"))


def aggregate(
    session: Session,
    rules: tuple[Rule, ...],
    *,
    as_of: dt.date,
    window_days: int,
    affected: Table | None = None,
) -> Iterator[Aggregate]:
    """Every (subject, scope) whose metrics meet at least one rule's threshold."""
    for subject_type, hits in _subject_hits(as_of, window_days, affected):
        query = candidate_select(subject_type, hits, rules)
        if query is None:
            continue
        for row in session.execute(query):
            _, subject_id, agency_id, _, _, _, _, departments, high_risk, agencies, records = row
            metrics = (
                {Metric.AGENCIES: int(agencies)}
                if agency_id is None
                else {Metric.DEPARTMENTS: int(departments), Metric.HIGH_RISK: int(high_risk or 0)}
            )
            yield Aggregate(subject_type, int(subject_id), None if agency_id is None else int(agency_id), metrics,
                            int(records))  # fmt: skip


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


def insert_candidates(
    session: Session,
    table: Table,
    rules: tuple[Rule, ...],
    *,
    as_of: dt.date,
    window_days: int,
    affected: Table | None = None,
) -> None:
    """The aggregation, classified in SQL, written into ``table`` (nothing leaves the database)."""
    columns = [c.name for c in table.columns]
    for subject_type, hits in _subject_hits(as_of, window_days, affected):
        query = candidate_select(subject_type, hits, rules)
        if query is not None:
            session.execute(insert(table).from_select(columns, query))
    analyze(session, CANDIDATES)
