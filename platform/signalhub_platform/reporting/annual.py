"""The annual comprehensive risk report (每年一份综合风险评估报告) for a calendar year in Beijing time.

- **Warnings by level** from the warnings' own events: how many warnings reached each level
  (raised at it, escalated or de-escalated to it), were cleared or closed at it, and how many were
  in force at the end of the year (each warning's last level event before then); the **trend**
  counts, per month and per quarter, the events that put a warning at a level.
- **Top categories** (归集内容) of the records that occurred in the year, and the **top regions**
  (streets) and **industries** by the entities under a warning in force at some time in the year,
  then by records. Person warnings have no street or industry and count in the level figures only.
- **Inspection outcomes by stratum** of the draws made in the year (the draws' outcome report).

Visibility: red warnings count for everyone; yellow and orange only within the viewer's own
agency, while the platform office sees every agency's as counts (as the warning queue's
counters do). Records count as far as the viewer may see them (the one visibility rule).

This package may not import the warnings or inspections packages (sibling layers), so their
rules come in as parameters: ``warnings_visible`` is
``signalhub_warnings.services.visible_warnings_clause`` and ``outcomes`` is
``signalhub_platform.inspections.outcomes.outcome_report``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import (
    Actor,
    Draw,
    Entity,
    Record,
    RecordKind,
    RecordStatus,
    RiskWarning,
    WarningEvent,
    WarningEventKind,
    WarningLevel,
)
from signalhub_platform.models.quarters import check_year, year_bounds
from signalhub_platform.models.types import BEIJING, beijing_today, utcnow
from signalhub_platform.models.visibility import record_visible_to
from signalhub_platform.reporting.access import ReportingNotFound, refusals_audited, require_reader

LEVELS = (WarningLevel.RED, WarningLevel.ORANGE, WarningLevel.YELLOW)
# Events that put a warning at a level, and those that end it.
LEVEL_EVENTS = frozenset({WarningEventKind.OPENED, WarningEventKind.ESCALATED, WarningEventKind.DE_ESCALATED})
END_EVENTS = frozenset({WarningEventKind.CLEARED, WarningEventKind.CLOSED})
TRACKED_EVENTS = sorted(LEVEL_EVENTS | END_EVENTS)
TOP = 10


class OutcomeRow(Protocol):
    """One stratum of the draws' outcome report (``inspections.outcomes.OutcomeRow``)."""

    @property
    def stratum(self) -> str: ...
    @property
    def targets(self) -> int: ...
    @property
    def results(self) -> int: ...
    @property
    def hits(self) -> int: ...
    @property
    def hit_rate(self) -> float | None: ...


WarningsVisible = Callable[[Actor], Any]
OutcomeSource = Callable[[Session, Sequence[int]], Sequence[OutcomeRow]]


@dataclass(frozen=True)
class LevelSummary:
    level: WarningLevel
    reached: int  # distinct warnings put at this level during the year
    opened: int
    escalated: int  # escalated to this level
    de_escalated: int  # de-escalated to this level
    cleared: int
    closed: int
    in_force_at_end: int


@dataclass(frozen=True)
class CategoryRow:
    category: str
    risk: int
    penalty: int

    @property
    def total(self) -> int:
        return self.risk + self.penalty


@dataclass(frozen=True)
class RankedRow:
    key: str  # a street, or a GB/T 4754 industry code; "" when the registry has none
    warned_entities: int
    records: int


@dataclass(frozen=True)
class AnnualReport:
    year: int
    as_of: dt.date  # the last day the figures cover: 31 December, or today for the current year
    is_complete: bool
    scope: str  # "all" (the platform office) or the viewer's agency code
    levels: list[LevelSummary]
    monthly: dict[str, list[int]]  # level -> 12 counts
    quarterly: dict[str, list[int]]  # level -> 4 counts
    categories: list[CategoryRow]
    regions: list[RankedRow]
    industries: list[RankedRow]
    records_total: int
    draws: int
    outcomes: list[OutcomeRow]

    @property
    def monthly_peak(self) -> int:
        """The largest month (all levels together): the scale of the trend chart, at least 1."""
        return max(1, *(sum(months[i] for months in self.monthly.values()) for i in range(12)))


def _warnings_scope(actor: Actor, warnings_visible: WarningsVisible) -> ColumnElement[bool]:
    """Counts of every agency's warnings for the platform office; red and their own for an agency user."""
    if actor.agency_id is None:
        return true()
    clause: ColumnElement[bool] = warnings_visible(actor)
    return clause


def _level_figures(
    session: Session, scope: ColumnElement[bool], start: dt.datetime, end: dt.datetime
) -> tuple[list[LevelSummary], dict[str, list[int]]]:
    events = session.execute(
        select(WarningEvent.warning_id, WarningEvent.kind, WarningEvent.to_level, WarningEvent.at)
        .join(RiskWarning, RiskWarning.id == WarningEvent.warning_id)
        .where(WarningEvent.at >= start, WarningEvent.at < end, WarningEvent.kind.in_(TRACKED_EVENTS), scope)
    ).all()
    counts: Counter[tuple[str, str]] = Counter()
    reached: dict[str, set[int]] = defaultdict(set)
    monthly = {level.value: [0] * 12 for level in LEVELS}
    for warning_id, kind, to_level, at in events:
        if to_level not in monthly:
            continue
        kind = WarningEventKind(kind)
        counts[(kind.value, to_level)] += 1
        if kind in LEVEL_EVENTS:
            reached[to_level].add(warning_id)
            monthly[to_level][at.astimezone(BEIJING).month - 1] += 1
    in_force = _in_force_at(session, scope, end)
    levels = [
        LevelSummary(
            level=level,
            reached=len(reached[level.value]),
            opened=counts[(WarningEventKind.OPENED.value, level.value)],
            escalated=counts[(WarningEventKind.ESCALATED.value, level.value)],
            de_escalated=counts[(WarningEventKind.DE_ESCALATED.value, level.value)],
            cleared=counts[(WarningEventKind.CLEARED.value, level.value)],
            closed=counts[(WarningEventKind.CLOSED.value, level.value)],
            in_force_at_end=in_force[level.value],
        )
        for level in LEVELS
    ]
    return levels, monthly


def _in_force_at(session: Session, scope: ColumnElement[bool], end: dt.datetime) -> Counter[str]:
    """Warnings at each level at ``end``: those whose last level or end event before it set a level."""
    last = (
        select(func.max(WarningEvent.id).label("event_id"))
        .where(WarningEvent.at < end, WarningEvent.kind.in_(TRACKED_EVENTS))
        .group_by(WarningEvent.warning_id)
        .subquery()
    )
    rows = session.execute(
        select(WarningEvent.to_level, func.count())
        .join(last, last.c.event_id == WarningEvent.id)
        .join(RiskWarning, RiskWarning.id == WarningEvent.warning_id)
        .where(WarningEvent.kind.in_(sorted(LEVEL_EVENTS)), scope)
        .group_by(WarningEvent.to_level)
    ).all()
    return Counter({str(level): int(count) for level, count in rows})


def _records_in_year(actor: Actor, year: int) -> ColumnElement[bool]:
    return and_(
        record_visible_to(actor),
        Record.is_current,
        Record.status == RecordStatus.ACTIVE,
        Record.occurred_on >= dt.date(year, 1, 1),
        Record.occurred_on <= dt.date(year, 12, 31),
    )


def _categories(session: Session, records: ColumnElement[bool]) -> list[CategoryRow]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for category, kind, count in session.execute(
        select(Record.category, Record.kind, func.count()).where(records).group_by(Record.category, Record.kind)
    ):
        counts[category][RecordKind(kind).value] += int(count)
    rows = [
        CategoryRow(category, c[RecordKind.RISK.value], c[RecordKind.PENALTY.value]) for category, c in counts.items()
    ]
    return sorted(rows, key=lambda row: (-row.total, row.category))[:TOP]


def _ranked(
    session: Session,
    column: Any,
    records: ColumnElement[bool],
    warned: Select[Any],
) -> list[RankedRow]:
    record_counts = dict(
        session.execute(
            select(column, func.count())
            .select_from(Record)
            .join(Entity, Entity.id == Record.entity_id)
            .where(records)
            .group_by(column)
        ).all()
    )
    warned_counts = dict(
        session.execute(
            select(column, func.count(func.distinct(Entity.id))).where(Entity.id.in_(warned)).group_by(column)
        ).all()
    )
    keys = set(record_counts) | set(warned_counts)
    rows = [RankedRow(key or "", int(warned_counts.get(key, 0)), int(record_counts.get(key, 0))) for key in keys]
    return sorted(rows, key=lambda row: (-row.warned_entities, -row.records, row.key))[:TOP]


def annual_report(
    session: Session,
    actor: Actor,
    *,
    year: int,
    warnings_visible: WarningsVisible,
    outcomes: OutcomeSource,
    tag: AuditTag,
    now: dt.datetime | None = None,
) -> AnnualReport:
    """The year's report as ``actor`` may see it (audited under ``tag``: the page or the PDF)."""
    now = now or utcnow()
    with refusals_audited(session, actor, tag, subjects=[("annual_report", year)], data={"year": year}):
        require_reader(actor)
        try:
            check_year(year)
        except ValueError:
            raise ReportingNotFound("no_such_year", f"no annual report for {year}", year=year) from None
        if year > beijing_today(now).year:
            raise ReportingNotFound("no_such_year", f"{year} has not begun", year=year)
    start, end = year_bounds(year)
    scope = _warnings_scope(actor, warnings_visible)
    levels, monthly = _level_figures(session, scope, start, end)
    quarterly = {level: [sum(months[i : i + 3]) for i in range(0, 12, 3)] for level, months in monthly.items()}

    records = _records_in_year(actor, year)
    ended_at = func.coalesce(RiskWarning.closed_at, RiskWarning.cleared_at)
    warned = select(RiskWarning.entity_id).where(
        RiskWarning.entity_id.is_not(None),
        RiskWarning.opened_at < end,
        or_(RiskWarning.is_active, ended_at >= start),
        scope,
    )
    draw_ids = list(session.scalars(select(Draw.id).where(Draw.drawn_at >= start, Draw.drawn_at < end)))
    report = AnnualReport(
        year=year,
        as_of=min(dt.date(year, 12, 31), beijing_today(now)),
        is_complete=now >= end,
        scope="all" if actor.agency_id is None else actor.agency_code,
        levels=levels,
        monthly=monthly,
        quarterly=quarterly,
        categories=_categories(session, records),
        regions=_ranked(session, Entity.region, records, warned),
        industries=_ranked(session, Entity.industry, records, warned),
        records_total=int(session.scalar(select(func.count()).select_from(Record).where(records)) or 0),
        draws=len(draw_ids),
        outcomes=list(outcomes(session, draw_ids)),
    )
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("annual_report", year)],
        data={
            "year": year,
            "scope": report.scope,
            "reached": {row.level.value: row.reached for row in levels},
            "records": report.records_total,
            "draws": report.draws,
        },
    )
    return report
