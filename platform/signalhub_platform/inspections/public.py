"""The published side of the draws (一公开): what anyone may see of a draw once it is published.

Only PUBLISHED draws exist here; any other id reads as missing. The public objects carry the
target's code, name, outcome and date and nothing else: no stratum (it reveals the internal
warning level), no team, no notes or attachments. The package goes public for uniform draws only:
a stratified draw's package lists every entity's stratum, so agency users verify it on the
public's behalf (docs/draws.md). Every read is audited as ``public:draw:read``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.inspections.services import draw_package
from signalhub_platform.models import Actor, Draw, DrawStatus, DrawTarget, Entity, InspectionOutcome, InspectionResult


@dataclass(frozen=True)
class PublicDraw:
    id: int
    name: str
    published_at: dt.datetime | None
    population_count: int
    population_sha256: str
    seed: str
    result_sha256: str
    target_count: int


@dataclass(frozen=True)
class PublicDrawDetail(PublicDraw):
    """A published draw on its own page, which also offers the package when it may be public."""

    has_public_package: bool


@dataclass(frozen=True)
class PublicTarget:
    position: int
    uscc: str
    name: str
    outcome: InspectionOutcome | None
    inspected_on: dt.date | None


# The list reads only these columns: the manifest and the result of a large draw run to megabytes,
# and this page is served to anyone without a login.
_SUMMARY_COLUMNS = (
    Draw.id,
    Draw.name,
    Draw.published_at,
    Draw.population_count,
    Draw.population_sha256,
    Draw.seed,
    Draw.result_sha256,
)


def _public(draw: Draw, target_count: int) -> PublicDraw:
    return PublicDraw(
        id=draw.id,
        name=draw.name,
        published_at=draw.published_at,
        population_count=draw.population_count,
        population_sha256=draw.population_sha256,
        seed=draw.seed or "",
        result_sha256=draw.result_sha256 or "",
        target_count=target_count,
    )


def has_public_package(draw: Draw) -> bool:
    """Uniform draws not filtered by warning level: their manifest says nothing about warnings."""
    if draw.status != DrawStatus.PUBLISHED or draw.strategy != "uniform":
        return False
    return not json.loads(draw.manifest)["parameters"]["filters"]["warning_levels"]


def _published(session: Session, draw_id: int) -> Draw | None:
    return session.scalars(select(Draw).where(Draw.id == draw_id, Draw.status == DrawStatus.PUBLISHED)).first()


def _audit(session: Session, actor: Actor, draw_id: int | None, **data: Any) -> None:
    subjects = [("draw", draw_id)] if draw_id is not None else []
    record_event(session, AuditTag.PUBLIC_DRAW_READ, actor=actor, subjects=subjects, data=data)


def list_published_draws(session: Session, *, actor: Actor, limit: int = 200) -> list[PublicDraw]:
    """The published draws, newest first."""
    counts = select(DrawTarget.draw_id, func.count(DrawTarget.id).label("n")).group_by(DrawTarget.draw_id).subquery()
    rows = session.execute(
        select(Draw, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.draw_id == Draw.id)
        .where(Draw.status == DrawStatus.PUBLISHED)
        .order_by(Draw.published_at.desc(), Draw.id.desc())
        .limit(limit)
        .options(load_only(*_SUMMARY_COLUMNS))
    ).all()
    draws = [_public(draw, int(n)) for draw, n in rows]
    _audit(session, actor, None, list=len(draws))
    return draws


def get_published_draw(
    session: Session, draw_id: int, *, actor: Actor
) -> tuple[PublicDrawDetail, list[PublicTarget]] | None:
    """A published draw and its targets in draw order; None for any draw that is not published."""
    draw = _published(session, draw_id)
    _audit(session, actor, draw_id, found=draw is not None)
    if draw is None:
        return None
    rows = session.execute(
        select(DrawTarget.position, Entity.uscc, Entity.name, InspectionResult.outcome, InspectionResult.inspected_on)
        .join(Entity, Entity.id == DrawTarget.entity_id)
        .outerjoin(InspectionResult, InspectionResult.target_id == DrawTarget.id)
        .where(DrawTarget.draw_id == draw.id)
        .order_by(DrawTarget.position)
    ).all()
    summary = _public(draw, len(rows))
    detail = PublicDrawDetail(**vars(summary), has_public_package=has_public_package(draw))
    return detail, [PublicTarget(*row) for row in rows]


def published_package(session: Session, draw_id: int, *, actor: Actor) -> dict[str, Any] | None:
    """The verification package of a published uniform draw (``services.draw_package``); None otherwise."""
    draw = _published(session, draw_id)
    is_public = draw is not None and has_public_package(draw)
    _audit(session, actor, draw_id, found=draw is not None, package=is_public)
    return draw_package(draw) if draw is not None and is_public else None
