"""From aggregates to a plan of changes, in pure Python (no database, unit-tested).

``candidates`` turns each aggregate into the verdict of the rules (with snoozed rules silenced and
manual flags added); ``plan`` compares the candidates with the active warnings of the subjects
that were evaluated and says what to open, change (escalate, de-escalate, new evidence) and
clear. A (subject, scope) whose last warning was closed by a supervisor is opened again only
when the condition is new: a higher level, more records, or another rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from signalhub_platform.models import PLATFORM_SCOPE, WarningEventKind, WarningLevel
from signalhub_warnings.aggregation import Aggregate
from signalhub_warnings.rules import Metric, Rule, Scope, classify, compare_levels, rules_for

Key = tuple[str, str]  # (subject_key, scope_key)


def subject_key(subject_type: str, subject_id: int) -> str:
    return f"{subject_type}:{subject_id}"


def scope_key(agency_id: int | None) -> str:
    return PLATFORM_SCOPE if agency_id is None else str(agency_id)


@dataclass(frozen=True)
class Candidate:
    subject_type: str
    subject_id: int
    scope_agency_id: int | None
    level: WarningLevel
    rules: tuple[str, ...]
    metrics: Mapping[str, int]
    records: int

    @property
    def key(self) -> Key:
        return subject_key(self.subject_type, self.subject_id), scope_key(self.scope_agency_id)

    @property
    def evidence(self) -> dict[str, object]:
        return {"rules": list(self.rules), "metrics": dict(self.metrics), "records": self.records}


@dataclass(frozen=True)
class Known:
    """What the plan needs of a stored warning."""

    id: int
    key: Key
    level: WarningLevel
    rules: tuple[str, ...]
    records: int
    is_active: bool  # False: the last warning of this key was closed by a supervisor


@dataclass
class Plan:
    open: list[Candidate] = field(default_factory=list)
    change: list[tuple[Known, Candidate, WarningEventKind]] = field(default_factory=list)
    clear: list[Known] = field(default_factory=list)


def candidates(
    aggregates: Iterable[Aggregate],
    rules: tuple[Rule, ...],
    *,
    manual: Iterable[tuple[str, int, int]] = (),
    silenced: Mapping[Key, frozenset[str]] | None = None,
) -> dict[Key, Candidate]:
    """Verdicts per (subject, scope). ``manual`` lists (subject_type, subject_id, agency_id) flags."""
    silenced = silenced or {}
    by_key: dict[Key, tuple[str, int, int | None, dict[Metric, int], int]] = {}
    for aggregate in aggregates:
        key = (subject_key(aggregate.subject_type, aggregate.subject_id), scope_key(aggregate.scope_agency_id))
        by_key[key] = (aggregate.subject_type, aggregate.subject_id, aggregate.scope_agency_id,
                       dict(aggregate.metrics), aggregate.records)  # fmt: skip
    for subject_type, subject_id, agency_id in manual:
        key = (subject_key(subject_type, subject_id), scope_key(agency_id))
        entry = by_key.setdefault(key, (subject_type, subject_id, agency_id, {}, 0))
        entry[3][Metric.MANUAL] = 1
    result: dict[Key, Candidate] = {}
    for key, (subject_type, subject_id, agency_id, metrics, records) in by_key.items():
        scope = Scope.PLATFORM if agency_id is None else Scope.AGENCY
        verdict = classify(rules_for(rules, scope), metrics, silenced=silenced.get(key, frozenset()))
        if verdict is not None:
            result[key] = Candidate(subject_type, subject_id, agency_id, verdict.level, verdict.rules,
                                    {m.value: n for m, n in metrics.items()}, records)  # fmt: skip
    return result


def plan(found: Mapping[Key, Candidate], known: Iterable[Known]) -> Plan:
    """``known``: the active warnings of every evaluated subject, and the last closed one per key."""
    result = Plan()
    active: dict[Key, Known] = {}
    closed: dict[Key, Known] = {}
    for warning in known:
        (active if warning.is_active else closed)[warning.key] = warning
    for key, candidate in found.items():
        current = active.get(key)
        if current is None:
            last = closed.get(key)
            if last is None or _is_new_condition(last, candidate):
                result.open.append(candidate)
            continue
        direction = compare_levels(current.level, candidate.level)
        if direction > 0:
            result.change.append((current, candidate, WarningEventKind.ESCALATED))
        elif direction < 0:
            result.change.append((current, candidate, WarningEventKind.DE_ESCALATED))
        elif current.rules != candidate.rules or current.records != candidate.records:
            result.change.append((current, candidate, WarningEventKind.EVIDENCE_CHANGED))
    result.clear = [warning for key, warning in active.items() if key not in found]
    return result


def _is_new_condition(closed: Known, candidate: Candidate) -> bool:
    return (
        compare_levels(closed.level, candidate.level) > 0
        or candidate.records > closed.records
        or not set(candidate.rules) <= set(closed.rules)
    )
