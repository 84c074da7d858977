"""Evaluating the warning rules and keeping the warnings (one per subject and scope) up to date.

``evaluate_warnings`` runs the aggregation (inside the database), turns it into candidates and a
plan (pure), and applies the plan: new warnings with their SLA, level changes and clearances
as events carrying the evidence of the moment, messages to users watching the subject (only
those who may see that warning), one evaluation-run row and one audit event. With
``apply=False`` it only computes: an as-of backtest never touches the live warnings.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, bindparam, false, func, insert, or_, select, true, update
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import (
    PLATFORM_SCOPE,
    Actor,
    EvaluationRun,
    ManualFlag,
    Message,
    Record,
    RiskWarning,
    SubjectType,
    User,
    WarningEvent,
    WarningEventKind,
    WarningLevel,
    WarningSnooze,
    WarningStatus,
    Watch,
)
from signalhub_platform.models.types import beijing_today, utcnow
from signalhub_platform.workdays import working_days_after
from signalhub_warnings.aggregation import (
    Affected,
    Aggregate,
    affected_entities,
    affected_persons,
    aggregate,
    candidate_table,
    insert_candidates,
)
from signalhub_warnings.engine import Candidate, Key, Known, Plan, candidates, plan
from signalhub_warnings.rules import Metric, Rule, Thresholds, build_rules


@dataclass
class EvaluationResult:
    run_id: int | None
    as_of: dt.date
    # A backtest (apply=False): every candidate. Applied: only the candidates that changed something.
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
    evaluated = _evaluated_subjects(session, affected)
    manual = _manual_flags(session, evaluated)
    silenced = _silenced(session, now, evaluated)
    if not apply:
        found = candidates(
            aggregate(session, rules, as_of=as_of, window_days=thresholds.window_days, affected=affected),
            rules,
            manual=manual,
            silenced=silenced,
        )
        return EvaluationResult(run_id=None, as_of=as_of, found=found, in_force=len(found))
    # Applied: candidates stay in the database and only what differs from the warnings comes out.
    table = candidate_table(session)
    insert_candidates(session, table, rules, as_of=as_of, window_days=thresholds.window_days, affected=affected)
    found, known, in_force = _differences(session, table, rules, manual=manual, silenced=silenced,
                                          evaluated=evaluated)  # fmt: skip
    changes = plan(found, known)
    run = EvaluationRun(kind="full" if affected is None else "incremental", as_of=as_of, started_at=now,
                        trigger=trigger[:64])  # fmt: skip
    session.add(run)
    _apply(session, changes, rules, acknowledge_days=acknowledge_days, now=now, actor=actor)
    run.subjects = in_force
    run.opened = len(changes.open)
    run.escalated = sum(kind == WarningEventKind.ESCALATED for _, _, kind in changes.change)
    run.de_escalated = sum(kind == WarningEventKind.DE_ESCALATED for _, _, kind in changes.change)
    run.cleared = len(changes.clear)
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
        run.id, as_of, found, run.opened, run.escalated, run.de_escalated, run.cleared, in_force=in_force
    )


# --- what to compare with --------------------------------------------------------------------------


def _evaluated_subjects(session: Session, affected: Affected | None) -> set[str] | None:
    """Subject keys an incremental run looks at (None: all of them)."""
    if affected is None:
        return None
    entities = {f"entity:{i}" for i in session.scalars(affected_entities(affected)) if i is not None}
    persons = {f"person:{i}" for i in session.scalars(select(affected_persons(affected).subquery().c[0])) if i}
    return entities | persons


def _manual_flags(session: Session, evaluated: set[str] | None) -> list[tuple[str, int, int]]:
    flags = session.execute(
        select(
            ManualFlag.subject_type,
            ManualFlag.entity_id,
            ManualFlag.person_id,
            ManualFlag.agency_id,
            ManualFlag.subject_key,
        ).where(ManualFlag.lifted_at.is_(None))
    )
    return [
        (subject_type.value, entity_id if subject_type == SubjectType.ENTITY else person_id, agency_id)
        for subject_type, entity_id, person_id, agency_id, key in flags
        if evaluated is None or key in evaluated
    ]


def _silenced(session: Session, now: dt.datetime, evaluated: set[str] | None) -> dict[Key, frozenset[str]]:
    result: dict[Key, set[str]] = {}
    for subject, scope, rule in session.execute(
        select(WarningSnooze.subject_key, WarningSnooze.scope_key, WarningSnooze.rule).where(WarningSnooze.until > now)
    ):
        if evaluated is None or subject in evaluated:
            result.setdefault((subject, scope), set()).add(rule)
    return {key: frozenset(rules) for key, rules in result.items()}


def _differences(
    session: Session,
    table: Table,
    rules: tuple[Rule, ...],
    *,
    manual: list[tuple[str, int, int]],
    silenced: dict[Key, frozenset[str]],
    evaluated: set[str] | None,
) -> tuple[dict[Key, Candidate], list[Known], int]:
    """Candidates that are new or differ from their active warning, the warnings they concern, the
    active warnings that no longer hold, and the number of candidates in force.

    Subjects with a manual flag or a snoozed rule (a handful) are classified in Python with the
    same rules; everything else is compared in SQL on level, rule codes and record count.
    """
    c, w = table.c, RiskWarning
    overrides = {(f"{t}:{i}", str(a)) for t, i, a in manual} | set(silenced)
    override_subjects = sorted({subject for subject, _ in overrides})
    same_key = (w.subject_key == c.subject_key) & (w.scope_key == c.scope_key)
    not_overridden = ~c.subject_key.in_(override_subjects) if override_subjects else true()
    differing = session.execute(
        select(c, w.id.label("warning_id"), w.level.label("warning_level"), w.rules.label("warning_rules"),
               w.record_count.label("warning_records"))
        .select_from(table.outerjoin(w, same_key & w.is_active))
        .where(not_overridden, (w.id.is_(None)) | (w.level != c.level) | (w.rule_codes != c.rule_codes)
               | (w.record_count != c.records))
    ).all()  # fmt: skip
    found: dict[Key, Candidate] = {}
    known: list[Known] = []
    for row in differing:
        candidate = _candidate_from_row(row)
        found[candidate.key] = candidate
        if row.warning_id is not None:
            known.append(Known(row.warning_id, candidate.key, WarningLevel(row.warning_level),
                               tuple(row.warning_rules or ()), int(row.warning_records), True))  # fmt: skip
    # Active warnings of evaluated subjects with no candidate any more: they clear.
    gone = select(w.id, w.subject_key, w.scope_key, w.level, w.rules, w.record_count).where(
        w.is_active, ~select(c.subject_key).where(same_key).exists()
    )
    if override_subjects:
        gone = gone.where(~w.subject_key.in_(override_subjects))
    scope = _evaluated_scope(session, evaluated)
    if scope is not None:
        gone = gone.where(w.subject_key.in_(scope))
    known.extend(Known(r.id, (r.subject_key, r.scope_key), WarningLevel(r.level), tuple(r.rules or ()),
                       int(r.record_count), True) for r in session.execute(gone))  # fmt: skip
    _end_closures(session, table, same_key, scope, override_subjects)
    in_force = int(session.scalar(select(func.count()).select_from(table).where(not_overridden)) or 0)
    if override_subjects:
        rows = session.execute(select(c).where(c.subject_key.in_(override_subjects))).all()
        aggregates = [_aggregate_from_row(row) for row in rows]
        overridden = candidates(aggregates, rules, manual=manual, silenced=silenced)
        _end_closures_of(session, override_subjects, set(overridden))
        found.update(overridden)
        in_force += len(overridden)
        for row in session.execute(select(w.id, w.subject_key, w.scope_key, w.level, w.rules, w.record_count)
                                   .where(w.is_active, w.subject_key.in_(override_subjects))):  # fmt: skip
            known.append(Known(row.id, (row.subject_key, row.scope_key), WarningLevel(row.level),
                               tuple(row.rules or ()), int(row.record_count), True))  # fmt: skip
    known_keys = {k.key for k in known}
    known.extend(_last_closed(session, {key for key in found if key not in known_keys}))
    return found, known, in_force


def _end_closures(
    session: Session, table: Table, same_key: Any, scope: Any, override_subjects: list[str]
) -> None:
    """A closed warning holds back a reopening only while its condition lasts: once an evaluation
    finds no candidate for its key, the closure has ended (``cleared_at``) and a later condition
    opens a new warning. Subjects with manual flags or snoozes are ended in ``_end_closures_of``."""
    w = RiskWarning
    ending = (
        update(w)
        .where(w.status == WarningStatus.CLOSED, w.cleared_at.is_(None), ~select(table.c.subject_key).where(same_key)
               .exists())
        .values(cleared_at=utcnow())
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if override_subjects:
        ending = ending.where(~w.subject_key.in_(override_subjects))
    session.execute(ending if scope is None else ending.where(w.subject_key.in_(scope)))


def _end_closures_of(session: Session, subjects: list[str], holding: set[Key]) -> None:
    w = RiskWarning
    for row in session.execute(select(w.id, w.subject_key, w.scope_key).where(
            w.status == WarningStatus.CLOSED, w.cleared_at.is_(None), w.subject_key.in_(subjects))):  # fmt: skip
        if (row.subject_key, row.scope_key) not in holding:
            session.execute(update(w).where(w.id == row.id).values(cleared_at=utcnow()))


def _evaluated_scope(session: Session, evaluated: set[str] | None) -> Any:
    """The evaluated subject keys as a subquery (None: every subject). A temporary table joined once
    beats thousands of chunked IN lists when a large batch touches tens of thousands of subjects."""
    if evaluated is None:
        return None
    keys = Table(
        "warning_evaluated", MetaData(), Column("subject_key", String(32), primary_key=True),
        prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
    )  # fmt: skip
    keys.create(session.connection(), checkfirst=True)
    session.execute(keys.delete())
    if evaluated:
        session.execute(insert(keys), [{"subject_key": key} for key in evaluated])
    return select(keys.c.subject_key)


def _candidate_from_row(row: Any) -> Candidate:
    metrics = {"departments": row.departments, "high_risk": row.high_risk} if row.scope_agency_id else {
        "agencies": row.agencies}  # fmt: skip
    return Candidate(row.subject_type, int(row.subject_id), row.scope_agency_id, WarningLevel(row.level),
                     tuple(code for code in row.rule_codes.split(",") if code), metrics, int(row.records))  # fmt: skip


def _aggregate_from_row(row: Any) -> Aggregate:
    metrics = (
        {Metric.DEPARTMENTS: int(row.departments), Metric.HIGH_RISK: int(row.high_risk)}
        if row.scope_agency_id
        else {Metric.AGENCIES: int(row.agencies)}
    )
    return Aggregate(row.subject_type, int(row.subject_id), row.scope_agency_id, metrics, int(row.records))


def _last_closed(session: Session, missing: set[Key]) -> list[Known]:
    """The last closed warning of each key about to open: closure holds until the condition is new."""
    if not missing or session.scalar(select(RiskWarning.id).where(RiskWarning.status == WarningStatus.CLOSED)
                                     .limit(1)) is None:  # fmt: skip
        return []
    columns = (RiskWarning.id, RiskWarning.subject_key, RiskWarning.scope_key, RiskWarning.level,
               RiskWarning.rules, RiskWarning.record_count)  # fmt: skip
    found: list[Known] = []
    for chunk in _chunks(sorted({subject for subject, _ in missing})):
        last_closed = (
            select(func.max(RiskWarning.id))
            .where(
                RiskWarning.status == WarningStatus.CLOSED,
                RiskWarning.cleared_at.is_(None),
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


# --- applying the plan ------------------------------------------------------------------------------


def _apply(
    session: Session, changes: Plan, rules: tuple[Rule, ...], *, acknowledge_days: dict[str, int], now: dt.datetime,
    actor: Actor,
) -> None:  # fmt: skip
    """Write the plan with bulk statements: a first run may open tens of thousands of warnings."""
    today = beijing_today(now)
    events: list[dict[str, object]] = []
    touched: list[tuple[str, str, int | None, int, WarningLevel, WarningEventKind]] = []

    def event(warning_id: int, kind: WarningEventKind, level: WarningLevel, evidence: dict[str, object], *,
              from_level: WarningLevel | None = None, status: WarningStatus = WarningStatus.OPEN,
              from_status: WarningStatus | None = None) -> None:  # fmt: skip
        events.append({"warning_id": warning_id, "kind": kind, "at": now, "actor": actor.name,
                       "user_id": actor.user_id, "from_level": from_level.value if from_level else None,
                       "to_level": level.value, "from_status": from_status.value if from_status else None,
                       "to_status": status.value, "note": "", "evidence": evidence})  # fmt: skip

    if changes.open:
        rows = [
            {
                "subject_type": SubjectType(c.subject_type), "subject_key": c.key[0],
                "entity_id": c.subject_id if c.subject_type == "entity" else None,
                "person_id": c.subject_id if c.subject_type == "person" else None,
                "scope_key": c.key[1], "scope_agency_id": c.scope_agency_id, "level": c.level,
                "rules": list(c.rules), "evidence": c.evidence, "status": WarningStatus.OPEN, "is_active": True,
                "rule_codes": _codes(c.rules), "record_count": c.records,
                "note": "", "opened_at": now, "level_changed_at": now, "updated_at": now,
                "acknowledge_due_on": _due(today, c.level, acknowledge_days),
            }
            for c in changes.open
        ]  # fmt: skip
        warnings_table = RiskWarning.__table__
        ids = session.execute(insert(warnings_table).returning(warnings_table.c.id, sort_by_parameter_order=True), rows)
        for candidate, warning_id in zip(changes.open, ids.scalars(), strict=True):
            event(warning_id, WarningEventKind.OPENED, candidate.level, candidate.evidence)
            touched.append((*candidate.key, candidate.scope_agency_id, warning_id, candidate.level,
                            WarningEventKind.OPENED))  # fmt: skip
    updates: list[dict[str, object]] = []
    for known, candidate, kind in changes.change:
        update_row: dict[str, object] = {
            "id": known.id, "level": candidate.level, "rules": list(candidate.rules), "evidence": candidate.evidence,
            "updated_at": now, "rule_codes": _codes(candidate.rules), "record_count": candidate.records,
        }  # fmt: skip
        if kind != WarningEventKind.EVIDENCE_CHANGED:
            update_row["level_changed_at"] = now
            touched.append((*known.key, candidate.scope_agency_id, known.id, candidate.level, kind))
        if kind == WarningEventKind.ESCALATED:
            update_row["acknowledge_due_on"] = _due(today, candidate.level, acknowledge_days)
        updates.append(update_row)
        event(known.id, kind, candidate.level, candidate.evidence, from_level=known.level)
    for known in changes.clear:
        updates.append({"id": known.id, "status": WarningStatus.CLEARED, "is_active": False, "cleared_at": now,
                        "updated_at": now})  # fmt: skip
        event(known.id, WarningEventKind.CLEARED, known.level, {"records": 0}, from_level=known.level,
              status=WarningStatus.CLEARED)  # fmt: skip
        scope_agency = None if known.key[1] == PLATFORM_SCOPE else int(known.key[1])
        touched.append((*known.key, scope_agency, known.id, known.level, WarningEventKind.CLEARED))
    # Rows of different shapes go in separate executemany groups. Only warnings still active are
    # written: a supervisor who closed one meanwhile (holding its row lock) keeps the last word.
    table = RiskWarning.__table__
    for shape in {tuple(sorted(row)) for row in updates}:
        columns = [name for name in shape if name != "id"]
        statement = (
            update(table)
            .where(table.c.id == bindparam("warning_id"), table.c.is_active)
            .values({name: bindparam(f"new_{name}") for name in columns})
        )
        rows = [row for row in updates if tuple(sorted(row)) == shape]
        session.execute(statement, [{"warning_id": r["id"], **{f"new_{n}": r[n] for n in columns}} for r in rows])
    if events:
        session.execute(insert(WarningEvent), events)
    _notify_watchers(session, touched, now)


def _codes(rules: tuple[str, ...]) -> str:
    """As the SQL builds them (aggregation._verdict_columns): each code followed by a comma."""
    return "".join(f"{code}," for code in rules)


@functools.lru_cache(maxsize=64)
def _due_on(today: dt.date, days: int) -> dt.date:
    return working_days_after(today, days, strict=False)


def _due(today: dt.date, level: WarningLevel, acknowledge_days: dict[str, int]) -> dt.date | None:
    days = acknowledge_days.get(level.value)
    return None if days is None else _due_on(today, days)


def _notify_watchers(
    session: Session, touched: list[tuple[str, str, int | None, int, WarningLevel, WarningEventKind]],
    now: dt.datetime,
) -> None:  # fmt: skip
    """An inbox message per watcher who may see the warning (red: every member agency; else its own)."""
    if not touched or session.scalar(select(Watch.id).limit(1)) is None:
        return
    watchers: dict[str, list[tuple[int, int | None]]] = {}
    for chunk in _chunks(sorted({subject for subject, *_ in touched})):
        for subject, user_id, agency_id in session.execute(
            select(Watch.subject_key, User.id, User.agency_id)
            .join(User, User.id == Watch.user_id)
            .where(Watch.subject_key.in_(chunk), User.is_active)
        ):
            watchers.setdefault(subject, []).append((user_id, agency_id))
    messages = [
        {"recipient_user_id": user_id, "title": f"{kind.value}:{level.value}", "body": "",
         "about_type": "warning", "about_ref": str(warning_id), "created_at": now}
        for subject, scope, scope_agency_id, warning_id, level, kind in touched
        for user_id, agency_id in watchers.get(subject, ())
        if scope == PLATFORM_SCOPE or agency_id == scope_agency_id
    ]  # fmt: skip
    if messages:
        session.execute(insert(Message), messages)


def visible_warnings_clause(actor: Actor) -> object:
    """Which warnings ``actor`` may see: red to every member agency and the platform office; yellow
    and orange to their own agency only (the platform office sees those as counts, elsewhere)."""
    if actor.is_public:
        return false()
    red = RiskWarning.scope_key == PLATFORM_SCOPE
    if actor.agency_id is None:
        return red
    return or_(red, RiskWarning.scope_agency_id == actor.agency_id)
