"""The warning rules and the plan of changes, without a database."""

from __future__ import annotations

import pytest

from signalhub_platform.models import WarningEventKind, WarningLevel
from signalhub_warnings.aggregation import Aggregate
from signalhub_warnings.engine import Known, candidates, plan
from signalhub_warnings.rules import Metric, Scope, Thresholds, build_rules, classify, rules_for

RULES = build_rules(Thresholds())
AGENCY = rules_for(RULES, Scope.AGENCY)
PLATFORM = rules_for(RULES, Scope.PLATFORM)


@pytest.mark.parametrize(
    ("metrics", "level", "rules"),
    [
        ({Metric.DEPARTMENTS: 1, Metric.HIGH_RISK: 1}, None, ()),
        ({Metric.DEPARTMENTS: 2}, WarningLevel.YELLOW, ("yellow_departments",)),
        ({Metric.DEPARTMENTS: 1, Metric.HIGH_RISK: 2}, WarningLevel.YELLOW, ("yellow_high_risk",)),
        ({Metric.DEPARTMENTS: 3}, WarningLevel.ORANGE, ("orange_departments", "yellow_departments")),
        (
            {Metric.DEPARTMENTS: 3, Metric.HIGH_RISK: 5},
            WarningLevel.ORANGE,
            ("orange_departments", "yellow_departments", "yellow_high_risk"),
        ),
        ({Metric.MANUAL: 1}, WarningLevel.YELLOW, ("manual",)),
    ],
)
def test_agency_rules(metrics: dict[Metric, int], level: WarningLevel | None, rules: tuple[str, ...]) -> None:
    verdict = classify(AGENCY, metrics)
    assert (verdict.level, verdict.rules) == (level, rules) if verdict else level is None


def test_red_needs_the_configured_number_of_agencies() -> None:
    assert classify(PLATFORM, {Metric.AGENCIES: 1}) is None
    assert classify(PLATFORM, {Metric.AGENCIES: 2}).level == WarningLevel.RED  # type: ignore[union-attr]
    stricter = rules_for(build_rules(Thresholds(red_min_agencies=3)), Scope.PLATFORM)
    assert classify(stricter, {Metric.AGENCIES: 2}) is None


def test_a_snoozed_rule_does_not_count_but_the_others_do() -> None:
    metrics = {Metric.DEPARTMENTS: 3, Metric.HIGH_RISK: 2}
    verdict = classify(AGENCY, metrics, silenced=frozenset({"orange_departments"}))
    assert verdict is not None and verdict.level == WarningLevel.YELLOW
    assert classify(AGENCY, {Metric.DEPARTMENTS: 2}, silenced=frozenset({"yellow_departments"})) is None


def test_explanations_name_the_numbers_in_both_languages() -> None:
    rule = next(r for r in RULES if r.code == "orange_departments")
    zh, en = rule.explain({Metric.DEPARTMENTS: 4})
    assert "4" in zh and "3" in zh and "4 of the agency's departments" in en


def _aggregate(departments: int, records: int = 2, subject: int = 7) -> Aggregate:
    return Aggregate("entity", subject, 1, {Metric.DEPARTMENTS: departments, Metric.HIGH_RISK: 0}, records)


def test_plan_opens_escalates_de_escalates_and_clears() -> None:
    found = candidates([_aggregate(3, subject=1), _aggregate(2, subject=2), _aggregate(2, subject=3)], RULES)
    known = [
        Known(10, ("entity:1", "1"), WarningLevel.YELLOW, ("yellow_departments",), 2, True),
        Known(11, ("entity:2", "1"), WarningLevel.ORANGE, ("orange_departments", "yellow_departments"), 3, True),
        Known(12, ("entity:9", "1"), WarningLevel.YELLOW, ("yellow_departments",), 2, True),
    ]
    changes = plan(found, known)
    assert [c.key for c in changes.open] == [("entity:3", "1")]
    assert {(k.id, kind) for k, _, kind in changes.change} == {
        (10, WarningEventKind.ESCALATED),
        (11, WarningEventKind.DE_ESCALATED),
    }
    assert [k.id for k in changes.clear] == [12]


def test_a_closed_warning_holds_until_the_condition_is_new() -> None:
    closed = Known(20, ("entity:7", "1"), WarningLevel.YELLOW, ("yellow_departments",), 2, False)
    assert plan(candidates([_aggregate(2)], RULES), [closed]).open == []
    assert len(plan(candidates([_aggregate(2, records=3)], RULES), [closed]).open) == 1  # more records
    assert len(plan(candidates([_aggregate(3)], RULES), [closed]).open) == 1  # a higher level


def test_a_manual_flag_alone_makes_a_yellow_candidate() -> None:
    found = candidates([], RULES, manual=[("person", 5, 2)])
    [candidate] = found.values()
    assert (candidate.key, candidate.level, candidate.rules) == (("person:5", "2"), WarningLevel.YELLOW, ("manual",))
