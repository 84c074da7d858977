"""Evaluating the warning rules and keeping the warnings (one per subject and scope) up to date.

``evaluate_warnings`` runs the aggregation inside the database (``aggregation.py``), compares the
candidates with the stored warnings and writes the changes (``changes.py``, mostly in SQL, the
rest decided by the pure plan of ``engine.py``): new warnings with their SLA, level changes and
clearances as events carrying the evidence of the moment, messages to users watching the subject
(only those who may see that warning), one evaluation-run row and one audit event. With
``apply=False`` it only computes: an as-of backtest never touches the live warnings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, false, func, or_, select, text, update
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.db import analyze, is_postgresql
from signalhub_platform.models import (
    PLATFORM_SCOPE,
    Actor,
    EvaluationRun,
    ManualFlag,
    Record,
    RiskWarning,
    SubjectType,
    WarningEventKind,
    WarningLevel,
    WarningSnooze,
)
from signalhub_platform.models.risk_warnings import closure_holds
from signalhub_platform.models.types import beijing_today, utcnow
from signalhub_warnings.aggregation import (
    Affected,
    Aggregate,
    affected_subjects,
    aggregate,
    candidate_table,
    insert_candidates,
)
from signalhub_warnings.changes import add_planned, changes_table, classify, due_dates, held_back_keys, write_changes
from signalhub_warnings.engine import Candidate, Key, Known, candidates, plan
from signalhub_warnings.rules import Metric, Rule, Thresholds, build_rules


@dataclass
class EvaluationResult:
    run_id: int | None
    as_of: dt.date
    # A backtest (apply=False): every candidate. Applied: empty (the changes are counted below).
    found: dict[Key, Candidate] = field(default_factory=dict)
    opened: int = 0
    escalated: int = 0
    de_escalated: int = 0
    cleared: int = 0
    in_force: int = 0  # warnings that hold after the evaluation (of the evaluated subjects)


def affected_by_records(record_ids: Iterable[int]) -> Affected:
    """A form record, a correction or a withdrawal: the subjects of those record versions."""
    return Affected(select(Record.id).where(Record.id.in_(list(record_ids))))


def affected_by_batch(batch_id: int) -> Affected:
    return Affected(select(Record.id).where(Record.batch_id == batch_id))


def evaluate_warnings(
    session: Session,
    *,
    thresholds: Thresholds,
    acknowledge_days: dict[str, int],
    actor: Actor,
    tag: AuditTag,
    as_of: dt.date | None = None,
    affected: Affected | None = None,
    trigger: str = "",
    apply: bool = True,
    now: dt.datetime | None = None,
) -> EvaluationResult:
    """Evaluate every subject (``affected`` None: the daily full run) or only the affected ones."""
    now = now or utcnow()
    as_of = as_of or beijing_today(now)
    rules = build_rules(thresholds)
    if affected is not None and is_postgresql(session):
        _without_jit(session)
    scope = None if affected is None else affected_subjects(session, affected)
    manual = _manual_flags(session, scope)
    silenced = _silenced(session, now, scope)
    if not apply:
        found = candidates(
            aggregate(session, rules, as_of=as_of, window_days=thresholds.window_days, affected=scope),
            rules,
            manual=manual,
            silenced=silenced,
        )
        return EvaluationResult(run_id=None, as_of=as_of, found=found, in_force=len(found))
    # Applied: candidates stay in the database and only the changes are written, mostly in SQL.
    table = candidate_table(session)
    insert_candidates(session, table, rules, as_of=as_of, window_days=thresholds.window_days, affected=scope)
    if is_postgresql(session):
        _without_jit(session)
    excluded = sorted({f"{t}:{i}" for t, i, _ in manual} | {subject for subject, _ in silenced})
    due = due_dates(beijing_today(now), acknowledge_days)
    changes = changes_table(session)
    classify(session, table, changes, scope=scope, excluded=excluded, due=due)
    found, known, in_force = _planned_in_python(session, table, rules, manual=manual, silenced=silenced,
                                                excluded=excluded)  # fmt: skip
    add_planned(session, changes, plan(found, known), due)
    _end_closures(session, table, None if scope is None else select(scope.c.subject_key), excluded)
    run = EvaluationRun(kind="full" if affected is None else "incremental", as_of=as_of, started_at=now,
                        trigger=trigger[:64])  # fmt: skip
    session.add(run)
    counts = write_changes(session, changes, now=now, actor=actor)
    if affected is None:
        analyze(session, RiskWarning.__tablename__)  # a full run may have changed most of the table
    run.subjects = in_force
    run.opened = counts.get(WarningEventKind.OPENED.value, 0)
    run.escalated = counts.get(WarningEventKind.ESCALATED.value, 0)
    run.de_escalated = counts.get(WarningEventKind.DE_ESCALATED.value, 0)
    run.cleared = counts.get(WarningEventKind.CLEARED.value, 0)
    run.finished_at = utcnow()
    session.flush()
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("evaluation", run.id)],
        data={"kind": run.kind, "as_of": as_of.isoformat(), "trigger": run.trigger, "candidates": run.subjects,
              "opened": run.opened, "escalated": run.escalated, "de_escalated": run.de_escalated,
              "cleared": run.cleared},
    )  # fmt: skip
    return EvaluationResult(
        run.id, as_of, {}, run.opened, run.escalated, run.de_escalated, run.cleared, in_force=in_force
    )


def _without_jit(session: Session) -> None:
    """The comparison and the writes (and all of an incremental run) join along indexes: compiling
    them (JIT, chosen for their cost over a large warnings table) takes longer than running them."""
    session.execute(text("SET LOCAL jit = off"))


# --- what to compare with --------------------------------------------------------------------------


def _manual_flags(session: Session, scope: Table | None) -> list[tuple[str, int, int]]:
    flags = select(ManualFlag.subject_type, ManualFlag.entity_id, ManualFlag.person_id, ManualFlag.agency_id).where(
        ManualFlag.lifted_at.is_(None)
    )
    if scope is not None:
        flags = flags.where(ManualFlag.subject_key.in_(select(scope.c.subject_key)))
    return [
        (subject_type.value, entity_id if subject_type == SubjectType.ENTITY else person_id, agency_id)
        for subject_type, entity_id, person_id, agency_id in session.execute(flags)
    ]


def _silenced(session: Session, now: dt.datetime, scope: Table | None) -> dict[Key, frozenset[str]]:
    snoozes = select(WarningSnooze.subject_key, WarningSnooze.scope_key, WarningSnooze.rule).where(
        WarningSnooze.until > now
    )
    if scope is not None:
        snoozes = snoozes.where(WarningSnooze.subject_key.in_(select(scope.c.subject_key)))
    result: dict[Key, set[str]] = {}
    for subject, scope_key, rule in session.execute(snoozes):
        result.setdefault((subject, scope_key), set()).add(rule)
    return {key: frozenset(rules) for key, rules in result.items()}


def _planned_in_python(
    session: Session,
    table: Table,
    rules: tuple[Rule, ...],
    *,
    manual: list[tuple[str, int, int]],
    silenced: dict[Key, frozenset[str]],
    excluded: list[str],
) -> tuple[dict[Key, Candidate], list[Known], int]:
    """What ``classify`` leaves to ``engine.plan``, and the number of candidates in force.

    Subjects with a manual flag or a snoozed rule (a handful) are classified in Python with the
    same rules and compared with all their active warnings; candidates a closed warning may hold
    back are compared with it.
    """
    c, w = table.c, RiskWarning
    in_force = int(session.scalar(select(func.count()).select_from(table)) or 0)
    held_back = map(_candidate_from_row, session.execute(held_back_keys(table, excluded)))
    found = {candidate.key: candidate for candidate in held_back}
    known: list[Known] = []
    if excluded:
        rows = session.execute(select(c).where(c.subject_key.in_(excluded))).all()
        in_force -= len(rows)
        overridden = candidates([_aggregate_from_row(row) for row in rows], rules, manual=manual, silenced=silenced)
        _end_closures_of(session, excluded, set(overridden))
        found.update(overridden)
        in_force += len(overridden)
        for row in session.execute(select(w.id, w.subject_key, w.scope_key, w.level, w.rules, w.record_count)
                                   .where(w.is_active, w.subject_key.in_(excluded))):  # fmt: skip
            known.append(Known(row.id, (row.subject_key, row.scope_key), WarningLevel(row.level),
                               tuple(row.rules or ()), int(row.record_count), True))  # fmt: skip
    known_keys = {k.key for k in known}
    known.extend(_last_closed(session, {key for key in found if key not in known_keys}))
    return found, known, in_force


def _end_closures(session: Session, table: Table, evaluated: Any, excluded: list[str]) -> None:
    """A closed warning holds back a reopening only while its condition lasts: once an evaluation
    finds no candidate for its key, the closure has ended (``cleared_at``) and a later condition
    opens a new warning. Subjects with manual flags or snoozes are ended in ``_end_closures_of``."""
    w, c = RiskWarning, table.c
    same_key = (w.subject_key == c.subject_key) & (w.scope_key == c.scope_key)
    ending = (
        update(w)
        .where(closure_holds(w.__table__), ~select(c.subject_key).where(same_key).exists())
        .values(cleared_at=utcnow())
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if excluded:
        ending = ending.where(~w.subject_key.in_(excluded))
    session.execute(ending if evaluated is None else ending.where(w.subject_key.in_(evaluated)))


def _end_closures_of(session: Session, subjects: list[str], holding: set[Key]) -> None:
    w = RiskWarning
    for row in session.execute(select(w.id, w.subject_key, w.scope_key).where(
            closure_holds(w.__table__), w.subject_key.in_(subjects))):  # fmt: skip
        if (row.subject_key, row.scope_key) not in holding:
            session.execute(update(w).where(w.id == row.id).values(cleared_at=utcnow()))


def _candidate_from_row(row: Any) -> Candidate:
    metrics = {"departments": row.departments, "high_risk": row.high_risk} if row.scope_agency_id else {
        "agencies": row.agencies}  # fmt: skip
    return Candidate(row.subject_type, int(row.subject_id), row.scope_agency_id, WarningLevel(row.level),
                     _split_codes(row.rule_codes), metrics, int(row.records))  # fmt: skip


def _split_codes(codes: str) -> tuple[str, ...]:
    """Rule codes as the SQL builds them (each followed by a comma) back into a tuple."""
    return tuple(code for code in codes.split(",") if code)


def _aggregate_from_row(row: Any) -> Aggregate:
    metrics = (
        {Metric.DEPARTMENTS: int(row.departments), Metric.HIGH_RISK: int(row.high_risk)}
        if row.scope_agency_id
        else {Metric.AGENCIES: int(row.agencies)}
    )
    return Aggregate(row.subject_type, int(row.subject_id), row.scope_agency_id, metrics, int(row.records))


def _last_closed(session: Session, missing: set[Key]) -> list[Known]:
    """The last closed warning of each key about to open: closure holds until the condition is new."""
    if not missing or session.scalar(select(RiskWarning.id).where(closure_holds(RiskWarning.__table__))
                                     .limit(1)) is None:  # fmt: skip
        return []
    columns = (RiskWarning.id, RiskWarning.subject_key, RiskWarning.scope_key, RiskWarning.level,
               RiskWarning.rules, RiskWarning.record_count)  # fmt: skip
    found: list[Known] = []
    for chunk in _chunks(sorted({subject for subject, _ in missing})):
        last_closed = (
            select(func.max(RiskWarning.id))
            .where(
                closure_holds(RiskWarning.__table__),
                RiskWarning.subject_key.in_(chunk),
            )
            .group_by(RiskWarning.subject_key, RiskWarning.scope_key)
        )
        for row in session.execute(select(*columns).where(RiskWarning.id.in_(last_closed))):
            if (row.subject_key, row.scope_key) in missing:
                found.append(Known(row.id, (row.subject_key, row.scope_key), WarningLevel(row.level),
                                   tuple(row.rules or ()), int(row.record_count), False))  # fmt: skip
    return found


def _chunks(items: list[str], size: int = 1000) -> Iterable[list[str]]:
    """IN lists stay far below SQLite's and PostgreSQL's bound-parameter limits."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def visible_warnings_clause(actor: Actor) -> object:
    """Which warnings ``actor`` may see: red to every member agency and the platform office; yellow
    and orange to their own agency only (the platform office sees those as counts, elsewhere)."""
    if actor.is_public:
        return false()
    red = RiskWarning.scope_key == PLATFORM_SCOPE
    if actor.agency_id is None:
        return red
    return or_(red, RiskWarning.scope_agency_id == actor.agency_id)
