"""Classified statistics (分类统计, the plan's 第七条(七)): counts broken down by one dimension.

One row per group of the chosen dimension — street, industry, entity, person, category (归集内容),
agency or quarter — with:

- **records**: current versions, not withdrawn, that the viewer may see (``record_visible_to``,
  the one rule): another agency's private records are no part of any figure, not even a total;
- **warnings by level** (red, orange, yellow): warnings *raised* in the period (their opening day
  on the Beijing calendar), whatever their status now; **entities with warnings** counts the
  distinct entities among them.

Which warnings count is the warnings area's rule, passed in by the caller as ``warning_rule``
(``signalhub_warnings.services.visible_warnings_clause``; this package sits beside
``signalhub_warnings`` in the layers and may not import it): red to everyone signed in, yellow and
orange to their own agency. The platform office (and the CLI) count every agency's yellow and
orange as well where the rows are aggregates (street, industry, agency, quarter, and the totals of
a category table) — the same figures the warning queue gives it. Per entity or per person a count
is the warning itself, so there the rule applies to everyone as it is, and a subject the viewer
may not know of (``entity_visible_to``/``person_visible_to``) is not a row.

Those all-agency counts are the office's in aggregate only, and a filter can narrow a row to one
entity (a street where only one lies). So for the platform office they are small-cell suppressed:
an orange or yellow figure that fewer than ``SMALL_CELL`` distinct subjects (entities or persons)
account for, none included, is withheld (``None``, the row ``is_suppressed``), and so are the row's
warning total and entities with warnings, which would give it away. Nothing is withheld from a
member agency: it counts only warnings it may see one by one.

Filters: the period (a record's occurred date; a warning's opening day), agency (the record's
owner; a warning's scope, so red warnings, which belong to the platform, drop out), street and
industry (of the entity; warnings on persons drop out), kind and risk level (records only:
warnings have neither). Warnings have no category: a category table has warning totals only.

Everything is counted by GROUP BY inside the database, the same statements on SQLite and
PostgreSQL; only the (at most ``limit`` + 1) groups of each side come back to be merged.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal_column, or_, select
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import redact_id_numbers
from signalhub_platform.identifiers.free_text import join_separated_id_numbers
from signalhub_platform.models import (
    Actor,
    Agency,
    Entity,
    Person,
    Record,
    RecordKind,
    RecordStatus,
    RiskLevel,
    RiskWarning,
    Role,
    WarningLevel,
)
from signalhub_platform.models.quarters import beijing_date, quarter_key, quarter_label
from signalhub_platform.models.types import BEIJING
from signalhub_platform.models.visibility import entity_visible_to, person_visible_to, record_visible_to

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
# Fewer distinct subjects than this behind an all-agency orange or yellow figure: the figure is withheld.
SMALL_CELL = 3

# SQL text, not a bound parameter: PostgreSQL matches a grouped expression in the select list with
# the GROUP BY one textually, and two binds of '' are two different parameters.
_EMPTY = literal_column("''")

# ``signalhub_warnings.services.visible_warnings_clause``: which warnings an actor may see, as SQL.
WarningRule = Callable[[Actor], Any]


class Dimension(enum.StrEnum):
    REGION = "region"  # the entity's street (街道)
    INDUSTRY = "industry"  # the entity's GB/T 4754 code
    ENTITY = "entity"
    PERSON = "person"
    CATEGORY = "category"  # 归集内容 (records only)
    AGENCY = "agency"  # a record's owner; a warning's scope
    QUARTER = "quarter"  # a record's occurred date; a warning's opening day


# Dimensions where each entity falls into one group: its warnings' street, industry, the entity itself,
# or (warnings on entities name no person) the "no person" group. Per agency or quarter it may be in several.
ENTITY_PARTITIONS = frozenset({Dimension.REGION, Dimension.INDUSTRY, Dimension.ENTITY, Dimension.PERSON})

# Rows naming one subject: a per-subject count of yellow warnings would be the warning itself.
SUBJECT_DIMENSIONS = frozenset({Dimension.ENTITY, Dimension.PERSON})


class StatisticsError(Exception):
    """A refusal, with a code the web layer turns into a message and an HTTP status."""

    status_code = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StatisticsForbidden(StatisticsError):
    status_code = 403


class StatisticsInvalid(StatisticsError):
    status_code = 400


@dataclass(frozen=True)
class StatisticsQuery:
    dimension: Dimension = Dimension.REGION
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    agency: str = ""  # an agency's code
    region: str = ""  # a street, exactly
    industry: str = ""  # a GB/T 4754 code or its prefix
    kind: RecordKind | None = None
    risk_level: RiskLevel | None = None
    limit: int = DEFAULT_LIMIT  # groups at most; the totals always cover everything

    def filters(self) -> dict[str, str]:
        """The filters that are set, as text (for the audit log, the JSON answer and the export)."""
        values = {
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "agency": self.agency,
            "region": self.region,
            "industry": self.industry,
            "kind": self.kind.value if self.kind else "",
            "risk_level": self.risk_level.value if self.risk_level else "",
        }
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True)
class StatisticsRow:
    # Street, industry code, USCC, person id, category, agency code or quarter; None: not recorded
    # (records without an entity or a street, warnings on a person, red warnings by agency, ...).
    key: str | None
    label: str  # street, industry code, entity/person/agency name, category or quarter
    code: str  # USCC, masked ID number or agency code; "" for the other dimensions
    records: int
    entities_with_warnings: int | None  # None: warnings have no such group (category)
    red: int | None
    orange: int | None
    yellow: int | None
    # Small-cell suppression (the platform office): the orange and/or yellow figure that fewer than
    # SMALL_CELL subjects account for is None, and so are the warning total and entities with warnings.
    is_suppressed: bool = False

    @property
    def warnings(self) -> int | None:
        if self.red is None or self.orange is None or self.yellow is None:
            return None
        return self.red + self.orange + self.yellow


@dataclass(frozen=True)
class StatisticsTable:
    query: StatisticsQuery
    rows: list[StatisticsRow]
    total: StatisticsRow  # every group, also those past ``limit``
    is_truncated: bool  # more groups exist than ``rows`` shows
    has_warning_groups: bool  # false for category: warnings are in the total only
    counts_every_agency: bool  # yellow/orange of every agency are in the warning figures

    @property
    def dimension(self) -> Dimension:
        return self.query.dimension


def can_read_statistics(actor: Actor) -> bool:
    """Member-agency users and the platform office; not the public, and not an auditor, who sees
    no record content beyond what the audit log holds (SPEC, Who uses it)."""
    if actor.is_system:
        return True
    if actor.is_public:
        return False
    return bool(actor.roles - {Role.AUDITOR})


def classified_statistics(
    session: Session,
    actor: Actor,
    query: StatisticsQuery,
    *,
    warning_rule: WarningRule,
    tag: AuditTag,
    audit_data: Mapping[str, str] | None = None,
) -> StatisticsTable:
    """The statistics table for ``query`` as ``actor`` may see it; audited (refusals too), with
    ``audit_data`` (e.g. an export's format) added to the event."""
    audit: dict[str, Any] = {
        "dimension": query.dimension.value,
        # A street typed as "110105 19491231 002X" is an ID number too: closed up, then masked.
        "filters": {name: redact_id_numbers(join_separated_id_numbers(v)) for name, v in query.filters().items()},
        "limit": query.limit,
        **(audit_data or {}),
    }
    if not can_read_statistics(actor):
        _refuse(session, actor, tag, StatisticsForbidden("not_permitted", "statistics are for agency users"), audit)
    agency_id: int | None = None
    if query.agency:
        agency_id = session.scalar(select(Agency.id).where(Agency.code == query.agency))
        if agency_id is None:
            _refuse(session, actor, tag, StatisticsInvalid("unknown_agency", f"no agency {query.agency!r}"), audit)
    counts_every_agency = (actor.is_platform_office or actor.is_system) and query.dimension not in SUBJECT_DIMENSIONS
    # The CLI and jobs may see every warning one by one; the office sees other agencies' only as counts.
    suppresses = counts_every_agency and not actor.is_system
    scope = None if counts_every_agency else warning_rule(actor)
    counting = _Counting(actor, query, agency_id, scope, suppresses_small_cells=suppresses)
    table = counting.table(session, counts_every_agency=counts_every_agency)
    record_event(session, tag, actor=actor, data={**audit, "rows": len(table.rows), "is_truncated": table.is_truncated})
    return table


def agency_choices(session: Session) -> list[tuple[str, str]]:
    """(code, name) of the active agencies, for the filter form (agencies are no secret)."""
    rows = session.execute(select(Agency.code, Agency.name).where(Agency.is_active).order_by(Agency.code)).all()
    return [(code, name) for code, name in rows]


def _refuse(session: Session, actor: Actor, tag: AuditTag, error: StatisticsError, audit: dict[str, Any]) -> None:
    record_event(session, tag, actor=actor, data={**audit, "refused": error.code, "status": error.status_code})
    raise error


def _start_of(day: dt.date) -> dt.datetime:
    """The first instant of a Beijing calendar day (warnings are stored in UTC)."""
    return dt.datetime.combine(day, dt.time(), BEIJING)


def _level_count(level: WarningLevel) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((RiskWarning.level == level, 1), else_=0)), 0)


_WARNING_FIGURES = (
    _level_count(WarningLevel.RED),
    _level_count(WarningLevel.ORANGE),
    _level_count(WarningLevel.YELLOW),
    func.count(RiskWarning.entity_id.distinct()),
)


def _level_subjects(level: WarningLevel) -> ColumnElement[int]:
    """Distinct subjects (entities or persons) with a warning of ``level``: what a figure could name."""
    return func.count(case((RiskWarning.level == level, RiskWarning.subject_key)).distinct())


# Asked for only where cells may be suppressed (the platform office's all-agency counts).
_SUBJECT_FIGURES = (_level_subjects(WarningLevel.ORANGE), _level_subjects(WarningLevel.YELLOW))


def _record_key(dimension: Dimension) -> ColumnElement[Any]:
    return {
        Dimension.REGION: func.coalesce(Entity.region, _EMPTY),
        Dimension.INDUSTRY: func.coalesce(Entity.industry, _EMPTY),
        Dimension.ENTITY: Record.entity_id,
        Dimension.PERSON: Record.person_id,
        Dimension.CATEGORY: Record.category,
        Dimension.AGENCY: Record.agency_id,
        Dimension.QUARTER: quarter_key(Record.occurred_on),
    }[dimension]


def _warning_key(dimension: Dimension) -> ColumnElement[Any] | None:
    return {
        Dimension.REGION: func.coalesce(Entity.region, _EMPTY),
        Dimension.INDUSTRY: func.coalesce(Entity.industry, _EMPTY),
        Dimension.ENTITY: RiskWarning.entity_id,
        Dimension.PERSON: RiskWarning.person_id,
        Dimension.CATEGORY: None,  # warnings have no category
        Dimension.AGENCY: RiskWarning.scope_agency_id,
        Dimension.QUARTER: quarter_key(beijing_date(RiskWarning.opened_at)),
    }[dimension]


# Groups keyed by an id get their (name, code) afterwards, for the rows shown only: grouping on the
# bare id needs no join per record (by entity, 500,000 records in bench/statistics_bench.py: 4.9 s
# grouped with the names joined, 1.4-2.5 s without, on the shared machine).
_NAMES = {
    Dimension.ENTITY: (Entity.id, Entity.name, Entity.uscc),
    Dimension.PERSON: (Person.id, Person.name, Person.id_masked),
    Dimension.AGENCY: (Agency.id, Agency.name, Agency.code),
}


@dataclass
class _Group:
    records: int = 0
    warnings: tuple[int, int, int, int] | None = None  # red, orange, yellow, entities
    subjects: tuple[int, int] = (0, 0)  # distinct subjects with orange, with yellow (suppression only)


class _Counting:
    """The two sides of one statistics request: the statements and the merge of their groups."""

    def __init__(
        self, actor: Actor, query: StatisticsQuery, agency_id: int | None, scope: Any, *, suppresses_small_cells: bool
    ) -> None:
        self.actor = actor
        self.query = query
        self.agency_id = agency_id
        self.scope = scope  # the warning rule's clause; None: every agency's (aggregates, platform office)
        self.suppresses_small_cells = suppresses_small_cells
        dimension = query.dimension
        filters_entity = bool(query.region or query.industry)
        self.records_need_entity = dimension in (Dimension.REGION, Dimension.INDUSTRY) or filters_entity
        # Per entity, the warnings side asks whether the viewer may know of each entity (entity_visible_to).
        self.warnings_need_entity = self.records_need_entity or dimension is Dimension.ENTITY

    def records(self, *columns: ColumnElement[Any]) -> Select[Any]:
        query = self.query
        statement = select(*columns).select_from(Record)
        if self.records_need_entity:
            statement = statement.outerjoin(Entity, Entity.id == Record.entity_id)
        conditions: list[ColumnElement[bool]] = [
            Record.is_current,
            Record.status == RecordStatus.ACTIVE,
            record_visible_to(self.actor),
        ]
        if query.date_from is not None:
            conditions.append(Record.occurred_on >= query.date_from)
        if query.date_to is not None:
            conditions.append(Record.occurred_on <= query.date_to)
        if self.agency_id is not None:
            conditions.append(Record.agency_id == self.agency_id)
        conditions.extend(self._entity_filters())
        if query.kind is not None:
            conditions.append(Record.kind == query.kind)
        if query.risk_level is not None:
            conditions.append(Record.risk_level == query.risk_level)
        return statement.where(*conditions)

    def warnings(self, *columns: ColumnElement[Any]) -> Select[Any]:
        query = self.query
        statement = select(*columns).select_from(RiskWarning)
        if self.warnings_need_entity:
            statement = statement.outerjoin(Entity, Entity.id == RiskWarning.entity_id)
        if query.dimension is Dimension.PERSON:
            statement = statement.outerjoin(Person, Person.id == RiskWarning.person_id)
        conditions: list[ColumnElement[bool]] = []
        if self.scope is not None:
            conditions.append(self.scope)
        if query.date_from is not None:
            conditions.append(RiskWarning.opened_at >= _start_of(query.date_from))
        if query.date_to is not None:
            conditions.append(RiskWarning.opened_at < _start_of(query.date_to + dt.timedelta(days=1)))
        if self.agency_id is not None:
            conditions.append(RiskWarning.scope_agency_id == self.agency_id)
        conditions.extend(self._entity_filters())
        if query.dimension is Dimension.ENTITY:
            conditions.append(or_(RiskWarning.entity_id.is_(None), entity_visible_to(self.actor)))
        if query.dimension is Dimension.PERSON:
            conditions.append(or_(RiskWarning.person_id.is_(None), person_visible_to(self.actor)))
        return statement.where(*conditions)

    def _entity_filters(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.query.region:
            conditions.append(Entity.region == self.query.region)
        if self.query.industry:
            conditions.append(Entity.industry.startswith(self.query.industry, autoescape=True))
        return conditions

    def _grouped(self, statement: Select[Any], key: ColumnElement[Any], size: ColumnElement[int]) -> Select[Any]:
        grouped = statement.group_by(key)
        if self.query.dimension is Dimension.QUARTER:
            grouped = grouped.order_by(key)
        else:
            grouped = grouped.order_by(size.desc(), key.asc().nulls_last())
        # One more than shown: whether there are more groups than the table lists.
        return grouped.limit(self.query.limit + 1)

    def table(self, session: Session, *, counts_every_agency: bool) -> StatisticsTable:
        dimension, limit = self.query.dimension, self.query.limit
        groups: dict[Any, _Group] = {}
        key, count = _record_key(dimension), func.count(Record.id)
        record_rows = session.execute(self._grouped(self.records(key, count), key, count)).all()
        for value, records in record_rows:
            groups[_normalised(value)] = _Group(int(records))
        is_truncated = len(record_rows) > limit
        warning_key = _warning_key(dimension)
        if warning_key is not None:
            total = func.count(RiskWarning.id)
            statement = self.warnings(warning_key, *_WARNING_FIGURES, *self._subject_figures())
            warning_rows = session.execute(self._grouped(statement, warning_key, total)).all()
            for value, red, orange, yellow, entities, *subjects in warning_rows:
                group = groups.setdefault(_normalised(value), _Group())
                group.warnings = (int(red), int(orange), int(yellow), int(entities))
                if subjects:
                    group.subjects = (int(subjects[0]), int(subjects[1]))
            is_truncated = is_truncated or len(warning_rows) > limit
        # A group that only withheld figures put in the table would say by being there that they are not 0.
        listed = [(value, group) for value, group in groups.items() if not self._only_withheld(value, group)]
        ordered = sorted(listed, key=self._order)[:limit]
        is_truncated = is_truncated or len(listed) > limit
        names = self._names(session, [value for value, _ in ordered if value is not None])
        rows = [
            self._row(value, group, names.get(value, ("", "")), has_warnings=warning_key is not None)
            for value, group in ordered
        ]
        total_row = self._total(session, groups, is_truncated=is_truncated, has_warnings=warning_key is not None)
        return StatisticsTable(
            query=self.query,
            rows=rows,
            total=total_row,
            is_truncated=is_truncated,
            has_warning_groups=warning_key is not None,
            counts_every_agency=counts_every_agency,
        )

    def _total(
        self, session: Session, groups: dict[Any, _Group], *, is_truncated: bool, has_warnings: bool
    ) -> StatisticsRow:
        """Every group's figures. With nothing cut off, the sums of the groups are the totals (each
        record and each warning falls into exactly one group), so the two scans are not repeated; an
        entity is in one group only per street, industry, entity or person, so only those sum its count."""
        if is_truncated:
            records = session.scalar(self.records(func.count(Record.id))) or 0
        else:
            records = sum(group.records for group in groups.values())
        if is_truncated or not has_warnings:
            red, orange, yellow, entities = session.execute(self.warnings(*_WARNING_FIGURES)).one()
        else:
            figures = [group.warnings for group in groups.values() if group.warnings]
            red, orange, yellow, entities = (
                (sum(column) for column in zip(*figures, strict=True)) if figures else (0, 0, 0, 0)
            )
            if self.query.dimension not in ENTITY_PARTITIONS:
                entities = session.scalar(self.warnings(func.count(RiskWarning.entity_id.distinct()))) or 0
        total = StatisticsRow(
            key=None, label="", code="", records=int(records), entities_with_warnings=int(entities),
            red=int(red), orange=int(orange), yellow=int(yellow),
        )  # fmt: skip
        if not self.suppresses_small_cells:
            return total
        # A subject can fall into several groups (by agency, by quarter): its own count, not a sum.
        orange_subjects, yellow_subjects = session.execute(self.warnings(*_SUBJECT_FIGURES)).one()
        return _suppressed(total, (orange_subjects < SMALL_CELL, yellow_subjects < SMALL_CELL))

    def _subject_figures(self) -> tuple[ColumnElement[int], ...]:
        return _SUBJECT_FIGURES if self.suppresses_small_cells else ()

    def _withheld(self, key: Any, group: _Group) -> tuple[bool, bool]:
        """Whether the group's orange and its yellow figure are withheld (small-cell suppression)."""
        # By agency, the group without one holds the platform's red warnings only: nothing to withhold.
        if not self.suppresses_small_cells or (self.query.dimension is Dimension.AGENCY and key is None):
            return (False, False)
        orange_subjects, yellow_subjects = group.subjects
        return (orange_subjects < SMALL_CELL, yellow_subjects < SMALL_CELL)

    def _only_withheld(self, key: Any, group: _Group) -> bool:
        red = group.warnings[0] if group.warnings else 0
        return group.records == 0 and red == 0 and all(self._withheld(key, group))

    def _shown_warnings(self, key: Any, group: _Group) -> int:
        if not group.warnings:
            return 0
        red, orange, yellow, _ = group.warnings
        hides_orange, hides_yellow = self._withheld(key, group)
        return red + (0 if hides_orange else orange) + (0 if hides_yellow else yellow)

    def _order(self, item: tuple[Any, _Group]) -> tuple[Any, ...]:
        key, group = item
        if self.query.dimension is Dimension.QUARTER:
            return (key,)
        # Largest first, as the database ordered each side: by records, then (groups with warnings
        # only) by the warnings shown (withheld ones must not show through the order); "not
        # recorded" last among equals.
        return (-group.records, -self._shown_warnings(key, group) if group.records == 0 else 0, key is None, key)

    def _names(self, session: Session, ids: list[Any]) -> dict[Any, tuple[str, str]]:
        """(name, code) of the groups shown, for the dimensions keyed by an id."""
        columns = _NAMES.get(self.query.dimension)
        if columns is None or not ids:
            return {}
        ident, name, code = columns
        return {row[0]: (row[1], row[2]) for row in session.execute(select(ident, name, code).where(ident.in_(ids)))}

    def _row(self, key: Any, group: _Group, names: tuple[str, str], *, has_warnings: bool) -> StatisticsRow:
        dimension = self.query.dimension
        name, code = names
        if key is None:
            shown_key, label, code = None, "", ""
        elif dimension is Dimension.QUARTER:
            shown_key = label = quarter_label(int(key))
        elif dimension in (Dimension.ENTITY, Dimension.AGENCY):
            shown_key, label = code, name
        elif dimension is Dimension.PERSON:
            shown_key, label = str(key), name
        else:
            shown_key = label = str(key)
        warnings = group.warnings or (0, 0, 0, 0)
        row = StatisticsRow(
            key=shown_key,
            label=label,
            code=code,
            records=group.records,
            entities_with_warnings=warnings[3] if has_warnings else None,
            red=warnings[0] if has_warnings else None,
            orange=warnings[1] if has_warnings else None,
            yellow=warnings[2] if has_warnings else None,
        )
        return _suppressed(row, self._withheld(key, group)) if has_warnings else row


def _suppressed(row: StatisticsRow, withheld: tuple[bool, bool]) -> StatisticsRow:
    """``row`` with its orange and/or yellow figure withheld, as ``withheld`` says. Fewer than
    SMALL_CELL subjects withholds a figure, none included: a "0" beside a withheld figure would tell
    that the figure is not 0."""
    hides_orange, hides_yellow = withheld
    if not (hides_orange or hides_yellow):
        return row
    return replace(
        row,
        orange=None if hides_orange else row.orange,
        yellow=None if hides_yellow else row.yellow,
        entities_with_warnings=None,  # with the red entities (each visible) it would tell the rest
        is_suppressed=True,
    )


def _normalised(key: Any) -> Any:
    """An empty street, industry or category is "not recorded", like a missing entity."""
    return None if key == "" else key
