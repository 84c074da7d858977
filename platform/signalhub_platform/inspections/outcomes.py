"""What the draws found: hit rates per stratum, and an entity's inspection history.

The district wants to know whether warnings find more (以预警结果为导向): a stratified draw's
red/orange/yellow targets are warning-guided, its ``none`` targets and a uniform draw's targets
(stratum ``all``) are not. A *hit* is an inspection that found something to act on; the hit rate
counts recorded results only, so a draw still in the field does not look clean.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.drawing import STRATA, UNIFORM_STRATUM
from signalhub_platform.models import Actor, Draw, DrawStatus, DrawTarget, InspectionOutcome, InspectionResult

HIT_OUTCOMES = frozenset(
    {InspectionOutcome.PROBLEMS_FOUND, InspectionOutcome.ORDERED_TO_CORRECT, InspectionOutcome.REFERRED_FOR_PENALTY}
)
REPORT_STRATA = (*STRATA, UNIFORM_STRATUM)
TOTAL = "total"


@dataclass(frozen=True)
class OutcomeRow:
    """One line of the outcome report: ``stratum`` is red/orange/yellow/none/all, or ``total``."""

    stratum: str
    targets: int
    results: int
    hits: int

    @property
    def is_warning_guided(self) -> bool:
        return self.stratum in ("red", "orange", "yellow")

    @property
    def hit_rate(self) -> float | None:
        """Hits per recorded result; None while no result is recorded."""
        return self.hits / self.results if self.results else None


def outcome_report(
    session: Session,
    draw_ids: Sequence[int] | None = None,
    *,
    actor: Actor | None = None,
    source: str = "web",
) -> list[OutcomeRow]:
    """Targets, results and hits per stratum over ``draw_ids`` (every draw when None), then the total.

    With an ``actor`` the read is audited as a statistic of its own; without one it is part of a
    read the caller already audits (the draw page).
    """
    is_hit = case((InspectionResult.outcome.in_(sorted(HIT_OUTCOMES)), 1), else_=0)
    query = (
        select(
            DrawTarget.stratum,
            func.count(DrawTarget.id),
            func.count(InspectionResult.id),
            func.coalesce(func.sum(is_hit), 0),
        )
        .outerjoin(InspectionResult, InspectionResult.target_id == DrawTarget.id)
        .group_by(DrawTarget.stratum)
    )
    if draw_ids is not None:
        query = query.where(DrawTarget.draw_id.in_(list(draw_ids)))
    counts = {stratum: (int(t), int(r), int(h)) for stratum, t, r, h in session.execute(query)}
    rows = [OutcomeRow(stratum, *counts.get(stratum, (0, 0, 0))) for stratum in REPORT_STRATA]
    rows.append(
        OutcomeRow(
            TOTAL,
            targets=sum(row.targets for row in rows),
            results=sum(row.results for row in rows),
            hits=sum(row.hits for row in rows),
        )
    )
    if actor is not None:
        record_event(
            session,
            AuditTag(f"{source}:draw:read"),
            actor=actor,
            subjects=[("draw", draw_id) for draw_id in (draw_ids or [])[:1000]],
            data={"outcome_report": "all" if draw_ids is None else len(draw_ids), "targets": rows[-1].targets},
        )
    return rows


@dataclass(frozen=True)
class InspectionEntry:
    """One published inspection of an entity (检查记录)."""

    inspected_on: dt.date
    draw_id: int
    draw_name: str
    outcome: InspectionOutcome


def entity_inspection_history(session: Session, entity_id: int) -> list[InspectionEntry]:
    """The entity's results from published draws, newest first (the caller audits the page's read)."""
    rows = session.execute(
        select(InspectionResult.inspected_on, Draw.id, Draw.name, InspectionResult.outcome)
        .join(DrawTarget, DrawTarget.id == InspectionResult.target_id)
        .join(Draw, Draw.id == DrawTarget.draw_id)
        .where(InspectionResult.entity_id == entity_id, Draw.status == DrawStatus.PUBLISHED)
        .order_by(InspectionResult.inspected_on.desc(), Draw.id.desc())
    )
    return [InspectionEntry(*row) for row in rows]
