"""From candidates to changes, and writing them, with set-based statements.

An evaluation's changes (open, escalate, de-escalate, new evidence, clear) are gathered in a
per-transaction table, then warnings are opened, changed and cleared, their events written and
their watchers messaged by a handful of INSERT … SELECT and UPDATE … FROM statements, the same on
SQLite and PostgreSQL: a batch can change tens of thousands of warnings, and a statement (or a
Python object) per warning would cost seconds.

Most changes are classified in SQL (``classify``), deciding as ``engine.plan`` does: a candidate
without an active warning opens one, one whose level, rules or record count differ changes it,
an active warning without a candidate clears. The keys SQL leaves alone go through ``engine.plan``
in Python and join the same table (``add_planned``): subjects with manual flags or snoozed rules,
and keys whose last warning a supervisor closed (a closure holds until the condition is new).

Only warnings still active are changed or cleared: a supervisor who closed one meanwhile
(holding its row lock) keeps the last word. Events and messages follow what was written: every
row this evaluation wrote carries its ``updated_at``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from signalhub_platform.db import analyze, is_postgresql
from signalhub_platform.models import (
    PLATFORM_SCOPE,
    Actor,
    Message,
    RiskWarning,
    User,
    WarningEvent,
    WarningEventKind,
    WarningLevel,
    WarningStatus,
    Watch,
)
from signalhub_platform.models.risk_warnings import closure_holds
from signalhub_platform.models.types import UTCDateTime
from signalhub_platform.workdays import working_days_after
from signalhub_warnings.engine import Candidate, Known, Plan
from signalhub_warnings.rules import LEVEL_ORDER

CHANGES = "warning_changes"
_LEVEL_CHANGES = (WarningEventKind.ESCALATED.value, WarningEventKind.DE_ESCALATED.value)
_SLA_RESTARTS = (WarningEventKind.OPENED, WarningEventKind.ESCALATED)


def changes_table(session: Session) -> Table:
    # JSON travels as text here; ``_json`` types it on the way out.
    types = {"warning_id": BigInteger(), "entity_id": BigInteger(), "person_id": BigInteger(),
             "scope_agency_id": Integer(), "record_count": Integer(), "due_on": Date(), "rules": Text(),
             "evidence": Text()}  # fmt: skip
    table = Table(
        CHANGES,
        MetaData(),
        *(Column(name, types.get(name, String(200))) for name in _COLUMNS),
        Index(f"ix_{CHANGES}_warning_id", "warning_id"),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    table.create(session.connection(), checkfirst=True)
    session.execute(table.delete())
    return table


def due_dates(today: dt.date, acknowledge_days: dict[str, int]) -> dict[WarningLevel, dt.date | None]:
    """When a warning opened or escalated today to each level must be acknowledged (SLA)."""
    return {level: _due(today, level, acknowledge_days) for level in WarningLevel}


def classify(
    session: Session, candidates: Table, ch: Table, *, scope: Table | None, excluded: list[str],
    due: dict[WarningLevel, dt.date | None],
) -> None:  # fmt: skip
    """Write the changes SQL can decide into ``ch``: everything but the ``excluded`` subjects and the
    keys a closed warning holds back (both left to ``engine.plan``)."""
    c, w = candidates.c, RiskWarning.__table__
    same_key = and_(w.c.subject_key == c.subject_key, w.c.scope_key == c.scope_key)
    kept = c.subject_key.not_in(excluded) if excluded else true()
    due_on = case(*((c.level == level.value, literal(day, Date())) for level, day in due.items() if day),
                  else_=null())  # fmt: skip
    common = {
        "subject_type": c.subject_type, "subject_key": c.subject_key,
        "entity_id": case((c.subject_type == "entity", c.subject_id), else_=null()),
        "person_id": case((c.subject_type == "person", c.subject_id), else_=null()),
        "scope_key": c.scope_key, "scope_agency_id": c.scope_agency_id, "level": c.level,
        "rules": _rules_json(c.rule_codes), "evidence": _evidence_json(c), "rule_codes": c.rule_codes,
        "record_count": c.records,
    }  # fmt: skip
    held_back = _held_back(candidates, w.alias("closed"))
    kind = case(
        (w.c.id.is_(None), WarningEventKind.OPENED.value),
        (_rank(c.level) > _rank(w.c.level), WarningEventKind.ESCALATED.value),
        (_rank(c.level) < _rank(w.c.level), WarningEventKind.DE_ESCALATED.value),
        else_=WarningEventKind.EVIDENCE_CHANGED.value,
    )
    # One pass over the candidates, each looked up once among the active warnings.
    new_or_changed = (
        select(*common.values(), kind, w.c.id, w.c.level, due_on)
        .select_from(candidates.outerjoin(w, and_(same_key, w.c.is_active)))
        .where(
            kept,
            or_(
                and_(w.c.id.is_(None), ~held_back),
                w.c.level != c.level, w.c.rule_codes != c.rule_codes, w.c.record_count != c.records,
            ),
        )
    )  # fmt: skip
    columns = [*common, "kind", "warning_id", "from_level", "due_on"]
    session.execute(insert(ch).from_select(columns, new_or_changed))
    # Active warnings of the evaluated subjects with no candidate any more: they clear.
    no_candidate = ~exists().where(c.subject_key == w.c.subject_key, c.scope_key == w.c.scope_key)
    cleared = select(
        w.c.subject_type, w.c.subject_key, w.c.entity_id, w.c.person_id, w.c.scope_key, w.c.scope_agency_id,
        w.c.level, literal("[]"), literal(json.dumps(_CLEARED_EVIDENCE)), literal(""), literal(0),
        literal(WarningEventKind.CLEARED.value), w.c.id, w.c.level, null(),
    ).where(w.c.is_active, no_candidate)  # fmt: skip
    if scope is not None:
        cleared = cleared.where(w.c.subject_key.in_(select(scope.c.subject_key)))
    if excluded:
        cleared = cleared.where(w.c.subject_key.not_in(excluded))
    session.execute(insert(ch).from_select(columns, cleared))


def held_back_keys(candidates: Table, excluded: list[str]) -> Any:
    """Candidates without an active warning whose key a supervisor's closure may hold back."""
    c, w = candidates.c, RiskWarning.__table__
    same_key = and_(w.c.subject_key == c.subject_key, w.c.scope_key == c.scope_key)
    query = select(candidates).where(~exists().where(same_key, w.c.is_active), _held_back(candidates, w))
    return query.where(c.subject_key.not_in(excluded)) if excluded else query


def _held_back(candidates: Table, warnings: Any) -> ColumnElement[bool]:
    """A closed warning of the candidate's key still holds (its own alias: the caller may join
    the warnings table already)."""
    c = candidates.c
    same_key = and_(warnings.c.subject_key == c.subject_key, warnings.c.scope_key == c.scope_key)
    return exists().where(same_key, closure_holds(warnings))


def add_planned(session: Session, ch: Table, changes: Plan, due: dict[WarningLevel, dt.date | None]) -> None:
    """The changes ``engine.plan`` decided in Python, into the same table."""
    rows = _change_rows(changes, due, is_postgresql(session))
    if rows:
        _insert_changes(session, ch, rows)


def write_changes(session: Session, ch: Table, *, now: dt.datetime, actor: Actor) -> dict[str, int]:
    """Apply the changes; the number of each kind, as decided."""
    analyze(session, CHANGES)
    counts = {kind: int(n) for kind, n in session.execute(select(ch.c.kind, func.count()).group_by(ch.c.kind))}
    if not counts:
        return counts
    at = literal(now, UTCDateTime())
    _open(session, ch, at)
    _change(session, ch, at)
    _clear(session, ch, at)
    _write_events(session, ch, at, actor)
    _notify_watchers(session, ch, at)
    return counts


_CLEARED_EVIDENCE = {"records": 0}


def _rank(level: ColumnElement[str]) -> ColumnElement[int]:
    return case(*((level == name.value, order) for name, order in LEVEL_ORDER.items()), else_=0)


def _text(value: ColumnElement[Any]) -> ColumnElement[str]:
    return cast(value, String)


def _rules_json(codes: ColumnElement[str]) -> ColumnElement[str]:
    """'a,b,' (as ``aggregation._verdict_columns`` builds codes) as the JSON list '["a", "b"]'."""
    listed = func.substr(codes, 1, func.length(codes) - 1, type_=String)
    return literal('["') + func.replace(listed, ",", '", "', type_=String) + literal('"]')


def _evidence_json(c: Any) -> ColumnElement[str]:
    """``Candidate.evidence`` as JSON text, built in SQL (a test holds the two equal)."""
    metrics = case(
        (c.scope_agency_id.is_(None), literal('"agencies": ') + _text(c.agencies)),
        else_=literal('"departments": ') + _text(c.departments) + literal(', "high_risk": ') + _text(c.high_risk),
    )
    return (
        literal('{"rules": ') + _rules_json(c.rule_codes) + literal(', "metrics": {') + metrics
        + literal('}, "records": ') + _text(c.records) + literal("}")
    )  # fmt: skip


_COLUMNS = (
    "kind", "warning_id", "subject_type", "subject_key", "entity_id", "person_id", "scope_key", "scope_agency_id",
    "level", "from_level", "rules", "evidence", "rule_codes", "record_count", "due_on",
)  # fmt: skip


def _insert_changes(session: Session, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """One executemany through the driver: SQLAlchemy's per-row parameter processing would cost
    more than the statements that follow (the rows are already in the driver's types)."""
    connection = session.connection()
    statement = insert(table).compile(dialect=connection.dialect)
    if statement.positiontup is None:  # named parameters (psycopg)
        connection.exec_driver_sql(str(statement), [dict(zip(_COLUMNS, row, strict=True)) for row in rows])
    else:
        assert tuple(statement.positiontup) == _COLUMNS
        connection.exec_driver_sql(str(statement), rows)


def _json(session: Session, column: Any) -> Any:
    return cast(column, JSON()) if is_postgresql(session) else column


def _change_rows(changes: Plan, due: dict[WarningLevel, dt.date | None], native_dates: bool) -> list[tuple[Any, ...]]:
    """The plan as rows of ``_COLUMNS``, in the driver's types."""
    dumps = json.dumps

    def row(kind: WarningEventKind, known: Known | None, candidate: Candidate | None) -> tuple[Any, ...]:
        subject_key, scope_key = candidate.key if candidate else known.key  # type: ignore[union-attr]
        subject_type, subject_id = subject_key.split(":")
        level = candidate.level if candidate else known.level  # type: ignore[union-attr]
        due_on = due[level] if kind in _SLA_RESTARTS else None
        return (
            kind.value, known.id if known else None, subject_type, subject_key,
            int(subject_id) if subject_type == "entity" else None,
            int(subject_id) if subject_type == "person" else None,
            scope_key, None if scope_key == PLATFORM_SCOPE else int(scope_key),
            level.value, known.level.value if known else None,
            dumps(list(candidate.rules) if candidate else []),
            dumps(candidate.evidence if candidate else _CLEARED_EVIDENCE),
            _codes(candidate.rules) if candidate else "", candidate.records if candidate else 0,
            due_on if native_dates or due_on is None else due_on.isoformat(),
        )  # fmt: skip

    return [
        *(row(WarningEventKind.OPENED, None, candidate) for candidate in changes.open),
        *(row(kind, known, candidate) for known, candidate, kind in changes.change),
        *(row(WarningEventKind.CLEARED, known, None) for known in changes.clear),
    ]


def _open(session: Session, ch: Table, at: Any) -> None:
    """New warnings, then their ids back into the changes (the events and messages need them)."""
    w = RiskWarning.__table__
    opened = ch.c.kind == WarningEventKind.OPENED.value
    columns = {
        "subject_type": ch.c.subject_type, "subject_key": ch.c.subject_key, "entity_id": ch.c.entity_id,
        "person_id": ch.c.person_id, "scope_key": ch.c.scope_key, "scope_agency_id": ch.c.scope_agency_id,
        "level": ch.c.level, "rules": _json(session, ch.c.rules), "evidence": _json(session, ch.c.evidence),
        "rule_codes": ch.c.rule_codes,
        "record_count": ch.c.record_count, "status": literal(WarningStatus.OPEN.value), "is_active": true(),
        "note": literal(""), "opened_at": at, "level_changed_at": at, "updated_at": at,
        "acknowledge_due_on": ch.c.due_on,
    }  # fmt: skip
    session.execute(insert(w).from_select(list(columns), select(*columns.values()).where(opened)))
    new_id = (
        select(w.c.id)
        .where(w.c.subject_key == ch.c.subject_key, w.c.scope_key == ch.c.scope_key, w.c.is_active)
        .scalar_subquery()
    )
    session.execute(update(ch).where(opened).values(warning_id=new_id))


def _change(session: Session, ch: Table, at: Any) -> None:
    """Level changes restart the SLA clock on escalation; new evidence leaves the indexed columns
    (level, status) alone, so the many rows a batch adds records to cost no index maintenance."""
    w = RiskWarning.__table__
    new_evidence = {"rules": _json(session, ch.c.rules), "evidence": _json(session, ch.c.evidence),
                    "rule_codes": ch.c.rule_codes, "record_count": ch.c.record_count, "updated_at": at}  # fmt: skip
    session.execute(
        update(w)
        .where(w.c.id == ch.c.warning_id, ch.c.kind.in_(_LEVEL_CHANGES), w.c.is_active)
        .values(
            level=ch.c.level, level_changed_at=at, **new_evidence,
            acknowledge_due_on=case((ch.c.kind == WarningEventKind.ESCALATED.value, ch.c.due_on),
                                    else_=w.c.acknowledge_due_on),
        )
    )  # fmt: skip
    session.execute(
        update(w)
        .where(w.c.id == ch.c.warning_id, ch.c.kind == WarningEventKind.EVIDENCE_CHANGED.value, w.c.is_active)
        .values(**new_evidence)
    )


def _clear(session: Session, ch: Table, at: Any) -> None:
    w = RiskWarning.__table__
    session.execute(
        update(w)
        .where(w.c.id == ch.c.warning_id, ch.c.kind == WarningEventKind.CLEARED.value, w.c.is_active)
        .values(status=WarningStatus.CLEARED.value, is_active=False, cleared_at=at, updated_at=at)
    )


def _written(ch: Table, at: Any) -> Any:
    """The changes this evaluation wrote, joined to their warnings."""
    w = RiskWarning.__table__
    return ch.join(w, and_(w.c.id == ch.c.warning_id, w.c.updated_at == at))


def _write_events(session: Session, ch: Table, at: Any, actor: Actor) -> None:
    w = RiskWarning.__table__
    columns = {
        "warning_id": ch.c.warning_id, "kind": ch.c.kind, "at": at, "actor": literal(actor.name),
        "user_id": literal(actor.user_id, Integer()), "from_level": ch.c.from_level, "to_level": ch.c.level,
        "to_status": w.c.status, "note": literal(""), "evidence": _json(session, ch.c.evidence),
    }  # fmt: skip
    events = select(*columns.values()).select_from(_written(ch, at))
    session.execute(insert(WarningEvent.__table__).from_select(list(columns), events))


def _notify_watchers(session: Session, ch: Table, at: Any) -> None:
    """An inbox message per watcher who may see the warning (red: every member agency; else its own)
    when a warning opens, changes level or clears."""
    if session.scalar(select(Watch.id).limit(1)) is None:
        return
    watch, user = Watch.__table__, User.__table__
    columns = {
        "recipient_user_id": watch.c.user_id, "title": ch.c.kind + literal(":") + ch.c.level, "body": literal(""),
        "about_type": literal("warning"), "about_ref": cast(ch.c.warning_id, String), "created_at": at,
    }  # fmt: skip
    messages = (
        select(*columns.values())
        .select_from(
            _written(ch, at)
            .join(watch, watch.c.subject_key == ch.c.subject_key)
            .join(user, and_(user.c.id == watch.c.user_id, user.c.is_active))
        )
        .where(
            ch.c.kind != WarningEventKind.EVIDENCE_CHANGED.value,
            or_(ch.c.scope_key == PLATFORM_SCOPE, user.c.agency_id == ch.c.scope_agency_id),
        )
    )
    session.execute(insert(Message.__table__).from_select(list(columns), messages))


def _codes(rules: tuple[str, ...]) -> str:
    """As the SQL builds them (aggregation._verdict_columns): each code followed by a comma."""
    return "".join(f"{code}," for code in rules)


@functools.lru_cache(maxsize=64)
def _due_on(today: dt.date, days: int) -> dt.date:
    return working_days_after(today, days, strict=False)


def _due(today: dt.date, level: WarningLevel, acknowledge_days: dict[str, int]) -> dt.date | None:
    days = acknowledge_days.get(level.value)
    return None if days is None else _due_on(today, days)
