"""Evaluating the warning rules and keeping the warnings (one per subject and scope) up to date.

``evaluate_warnings`` runs the aggregation (inside the database), turns it into candidates and a
plan (pure), and applies the plan: new warnings with their SLA, level changes and clearances
as events carrying the evidence of the moment, messages to users watching the subject (only
those who may see that warning), one evaluation-run row and one audit event. With
``apply=False`` it only computes: an as-of backtest never touches the live warnings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import false, func, or_, select
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
from signalhub_warnings.aggregation import Affected, affected_entities, affected_persons, aggregate
from signalhub_warnings.engine import Candidate, Key, Known, Plan, candidates, plan
from signalhub_warnings.rules import Rule, Thresholds, build_rules


@dataclass
class EvaluationResult:
    run_id: int | None
    as_of: dt.date
    found: dict[Key, Candidate] = field(default_factory=dict)
    opened: int = 0
    escalated: int = 0
    de_escalated: int = 0
    cleared: int = 0


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
    found = candidates(
        aggregate(session, rules, as_of=as_of, window_days=thresholds.window_days, affected=affected),
        rules,
        manual=_manual_flags(session, evaluated),
        silenced=_silenced(session, now, evaluated),
    )
    if not apply:
        return EvaluationResult(run_id=None, as_of=as_of, found=found)
    changes = plan(found, _known(session, found, evaluated))
    run = EvaluationRun(kind="full" if affected is None else "incremental", as_of=as_of, started_at=now,
                        trigger=trigger[:64])  # fmt: skip
    session.add(run)
    _apply(session, changes, rules, acknowledge_days=acknowledge_days, now=now, actor=actor)
    run.subjects = len(found)
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
    return EvaluationResult(run.id, as_of, found, run.opened, run.escalated, run.de_escalated, run.cleared)


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


def _known(session: Session, found: dict[Key, Candidate], evaluated: set[str] | None) -> list[Known]:
    """Active warnings of the evaluated subjects, plus the last closed warning of each found key."""
    query = select(RiskWarning).where(RiskWarning.is_active)
    if evaluated is not None:
        query = query.where(RiskWarning.subject_key.in_(evaluated or {""}))
    known = [_as_known(w) for w in session.scalars(query)]
    active_keys = {k.key for k in known}
    missing = {key for key in found if key not in active_keys}
    if missing:
        subjects = {subject for subject, _ in missing}
        last_closed = (
            select(RiskWarning.subject_key, RiskWarning.scope_key, func.max(RiskWarning.id).label("id"))
            .where(RiskWarning.status == WarningStatus.CLOSED, RiskWarning.subject_key.in_(subjects))
            .group_by(RiskWarning.subject_key, RiskWarning.scope_key)
            .subquery()
        )
        for warning in session.scalars(select(RiskWarning).join(last_closed, RiskWarning.id == last_closed.c.id)):
            if (warning.subject_key, warning.scope_key) in missing:
                known.append(_as_known(warning))
    return known


def _as_known(warning: RiskWarning) -> Known:
    return Known(
        id=warning.id,
        key=(warning.subject_key, warning.scope_key),
        level=warning.level,
        rules=tuple(warning.rules or ()),
        records=int((warning.evidence or {}).get("records", 0)),  # type: ignore[call-overload]
        is_active=warning.is_active,
    )


# --- applying the plan ------------------------------------------------------------------------------


def _apply(
    session: Session, changes: Plan, rules: tuple[Rule, ...], *, acknowledge_days: dict[str, int], now: dt.datetime,
    actor: Actor,
) -> None:  # fmt: skip
    today = beijing_today(now)
    touched: list[tuple[RiskWarning, WarningEventKind]] = []
    for candidate in changes.open:
        subject, scope = candidate.key
        warning = RiskWarning(
            subject_type=SubjectType(candidate.subject_type),
            subject_key=subject,
            entity_id=candidate.subject_id if candidate.subject_type == "entity" else None,
            person_id=candidate.subject_id if candidate.subject_type == "person" else None,
            scope_key=scope,
            scope_agency_id=candidate.scope_agency_id,
            level=candidate.level,
            rules=list(candidate.rules),
            evidence=candidate.evidence,
            status=WarningStatus.OPEN,
            is_active=True,
            opened_at=now,
            level_changed_at=now,
            acknowledge_due_on=_due(today, candidate.level, acknowledge_days),
        )
        session.add(warning)
        touched.append((warning, WarningEventKind.OPENED))
    session.flush()
    by_id = {w.id: w for w in session.scalars(select(RiskWarning).where(
        RiskWarning.id.in_([k.id for k, _, _ in changes.change] + [k.id for k in changes.clear] or [0])))}  # fmt: skip
    for known, candidate, kind in changes.change:
        warning = by_id[known.id]
        previous = warning.level
        warning.level = candidate.level
        warning.rules = list(candidate.rules)
        warning.evidence = candidate.evidence
        if kind != WarningEventKind.EVIDENCE_CHANGED:
            warning.level_changed_at = now
        if kind == WarningEventKind.ESCALATED:
            warning.acknowledge_due_on = _due(today, candidate.level, acknowledge_days)
        touched.append((warning, kind))
        session.add(_event(warning, kind, actor, now, from_level=previous))
    for known in changes.clear:
        warning = by_id[known.id]
        warning.status, warning.is_active, warning.cleared_at = WarningStatus.CLEARED, False, now
        touched.append((warning, WarningEventKind.CLEARED))
        session.add(_event(warning, WarningEventKind.CLEARED, actor, now, from_level=warning.level,
                           from_status=None))  # fmt: skip
    for warning, kind in touched:
        if kind == WarningEventKind.OPENED:
            session.add(_event(warning, kind, actor, now, from_level=None))
    session.flush()
    _notify_watchers(session, [(w, k) for w, k in touched if k != WarningEventKind.EVIDENCE_CHANGED], now)


def _due(today: dt.date, level: WarningLevel, acknowledge_days: dict[str, int]) -> dt.date | None:
    days = acknowledge_days.get(level.value)
    return None if days is None else working_days_after(today, days, strict=False)


def _event(
    warning: RiskWarning, kind: WarningEventKind, actor: Actor, now: dt.datetime, *, from_level: WarningLevel | None,
    from_status: WarningStatus | None = None,
) -> WarningEvent:  # fmt: skip
    return WarningEvent(
        warning_id=warning.id,
        kind=kind,
        at=now,
        actor=actor.name,
        user_id=actor.user_id,
        from_level=from_level.value if from_level else None,
        to_level=warning.level.value,
        from_status=from_status.value if from_status else None,
        to_status=warning.status.value,
        evidence=dict(warning.evidence or {}),
    )


def _notify_watchers(session: Session, touched: list[tuple[RiskWarning, WarningEventKind]], now: dt.datetime) -> None:
    """An inbox message per watcher who may see the warning (red: every member agency; else its own)."""
    if not touched:
        return
    keys = {w.subject_key for w, _ in touched}
    watchers = session.execute(
        select(Watch.subject_key, User.id, User.agency_id).join(User, User.id == Watch.user_id)
        .where(Watch.subject_key.in_(keys), User.is_active)
    ).all()  # fmt: skip
    if not watchers:
        return
    for warning, kind in touched:
        for subject, user_id, agency_id in watchers:
            if subject != warning.subject_key:
                continue
            if warning.scope_key != PLATFORM_SCOPE and agency_id != warning.scope_agency_id:
                continue
            session.add(
                Message(
                    recipient_user_id=user_id,
                    title=f"{kind.value}:{warning.level.value}",
                    body="",
                    about_type="warning",
                    about_ref=str(warning.id),
                    created_at=now,
                )
            )


def visible_warnings_clause(actor: Actor) -> object:
    """Which warnings ``actor`` may see: red to every member agency and the platform office; yellow
    and orange to their own agency only (the platform office sees those as counts, elsewhere)."""
    if actor.is_public:
        return false()
    red = RiskWarning.scope_key == PLATFORM_SCOPE
    if actor.agency_id is None:
        return red
    return or_(red, RiskWarning.scope_agency_id == actor.agency_id)
