"""The warning rules (分级预警, "dimension first"), described once, in pure Python.

The same ``Rule`` objects build the SQL ``HAVING`` clause that finds candidates inside the
database (``aggregation.py``), decide each candidate's level and rules here, and word the
explanation a supervisor reads. Thresholds and the window come from settings.

| rule               | level  | scope    | holds when (inside the window)                                    |
|--------------------|--------|----------|-------------------------------------------------------------------|
| orange_departments | orange | agency   | the agency's hits come from ≥ 3 of its departments                |
| yellow_departments | yellow | agency   | the agency's hits come from ≥ 2 of its departments                |
| yellow_high_risk   | yellow | agency   | the agency graded ≥ 2 risk records on the subject ``high``        |
| manual             | yellow | agency   | an agency admin marked the subject by hand, with a reason          |
| red_agencies       | red    | platform | ≥ 2 agencies hold hits, counting ``shared`` and ``public`` only   |
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from signalhub_config import Settings
from signalhub_platform.models import WarningLevel

LEVEL_ORDER = {WarningLevel.YELLOW: 1, WarningLevel.ORANGE: 2, WarningLevel.RED: 3}


class Metric(enum.StrEnum):
    DEPARTMENTS = "departments"  # distinct departments of one agency with hits
    HIGH_RISK = "high_risk"  # risk records graded high by one agency
    AGENCIES = "agencies"  # distinct agencies with shared/public hits
    MANUAL = "manual"  # 1 when an agency admin's flag is in force


class Scope(enum.StrEnum):
    AGENCY = "agency"
    PLATFORM = "platform"


@dataclass(frozen=True)
class Rule:
    code: str
    level: WarningLevel
    scope: Scope
    metric: Metric
    threshold: int
    explanation_zh: str  # formatted with the metric's value as {n} and the threshold as {t}
    explanation_en: str

    def holds(self, metrics: Mapping[Metric, int]) -> bool:
        return metrics.get(self.metric, 0) >= self.threshold

    def explain(self, metrics: Mapping[Metric, int]) -> tuple[str, str]:
        n = metrics.get(self.metric, 0)
        return self.explanation_zh.format(n=n, t=self.threshold), self.explanation_en.format(n=n, t=self.threshold)


@dataclass(frozen=True)
class Thresholds:
    window_days: int = 365
    yellow_min_departments: int = 2
    yellow_min_high_risk: int = 2
    orange_min_departments: int = 3
    red_min_agencies: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            window_days=settings.warning_window_days,
            yellow_min_departments=settings.yellow_min_departments,
            yellow_min_high_risk=settings.yellow_min_high_risk,
            orange_min_departments=settings.orange_min_departments,
            red_min_agencies=settings.red_min_agencies,
        )


def build_rules(thresholds: Thresholds) -> tuple[Rule, ...]:
    return (
        Rule(
            "orange_departments", WarningLevel.ORANGE, Scope.AGENCY, Metric.DEPARTMENTS,
            thresholds.orange_min_departments,
            "本单位 {n} 个内设部门有该主体的监管信息（≥ {t} 个：橙色）",
            "{n} of the agency's departments hold records on the subject (≥ {t}: orange)",
        ),
        Rule(
            "yellow_departments", WarningLevel.YELLOW, Scope.AGENCY, Metric.DEPARTMENTS,
            thresholds.yellow_min_departments,
            "本单位 {n} 个内设部门有该主体的监管信息（≥ {t} 个：黄色）",
            "{n} of the agency's departments hold records on the subject (≥ {t}: yellow)",
        ),
        Rule(
            "yellow_high_risk", WarningLevel.YELLOW, Scope.AGENCY, Metric.HIGH_RISK,
            thresholds.yellow_min_high_risk,
            "本单位将 {n} 条风险类信息定为高风险（≥ {t} 条：黄色）",
            "the agency graded {n} risk records high (≥ {t}: yellow)",
        ),
        Rule(
            "manual", WarningLevel.YELLOW, Scope.AGENCY, Metric.MANUAL, 1,
            "成员单位管理员人工标记为黄色预警",
            "marked yellow by hand by an agency admin",
        ),
        Rule(
            "red_agencies", WarningLevel.RED, Scope.PLATFORM, Metric.AGENCIES, thresholds.red_min_agencies,
            "{n} 个成员单位持有该主体的有条件开放或完全开放信息（≥ {t} 个：红色）",
            "{n} member agencies hold shared or public records on the subject (≥ {t}: red)",
        ),
    )  # fmt: skip


def rules_for(rules: Iterable[Rule], scope: Scope) -> tuple[Rule, ...]:
    return tuple(rule for rule in rules if rule.scope == scope)


@dataclass(frozen=True)
class Verdict:
    level: WarningLevel
    rules: tuple[str, ...]  # every rule that holds, strongest first


def classify(
    rules: Sequence[Rule], metrics: Mapping[Metric, int], *, silenced: frozenset[str] = frozenset()
) -> Verdict | None:
    """The level of the strongest rule that holds (a snoozed rule does not count), or None."""
    holding = [rule for rule in rules if rule.code not in silenced and rule.holds(metrics)]
    if not holding:
        return None
    holding.sort(key=lambda rule: -LEVEL_ORDER[rule.level])
    return Verdict(level=holding[0].level, rules=tuple(rule.code for rule in holding))


def compare_levels(old: WarningLevel, new: WarningLevel) -> int:
    """> 0 when ``new`` is more severe than ``old``."""
    return LEVEL_ORDER[new] - LEVEL_ORDER[old]
