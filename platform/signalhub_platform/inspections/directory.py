"""The target directory (检查对象名录库) and the frozen manifest of a draw.

The target directory is the registry's entities filtered by region, industry, type, status,
warning level and "not inspected in the last N days". Freezing a draw turns the directory, the
participating agencies' inspectors, their declared conflicts and each entity's last inspectors
into one manifest (see ``drawing``); these are plain set queries, so a million entities freeze
in seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from signalhub_platform.drawing import MANIFEST_FORMAT, STRATA, UNIFORM_STRATUM
from signalhub_platform.models import (
    Actor,
    Agency,
    DrawTarget,
    DrawTeamMember,
    Entity,
    EntityStatus,
    EntityType,
    InspectionItem,
    InspectionResult,
    Inspector,
    InspectorConflict,
    InspectorQualification,
    RiskWarning,
    SubjectType,
)
from signalhub_platform.models.visibility import entity_visible_to

_LEVEL_RANK = {level: rank for rank, level in enumerate(reversed(STRATA))}  # none 0 .. red 3


@dataclass(frozen=True)
class TargetFilters:
    """Which entities the draw may pick; an empty tuple means no restriction on that attribute."""

    regions: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()  # GB/T 4754 code prefixes: "C" or "C13" or "1310"
    types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = (EntityStatus.ACTIVE.value,)
    warning_levels: tuple[str, ...] = ()  # red / orange / yellow / none
    not_inspected_days: int | None = None

    def document(self) -> dict[str, Any]:
        return {
            "regions": sorted(self.regions),
            "industries": sorted(self.industries),
            "types": sorted(self.types),
            "statuses": sorted(self.statuses),
            "warning_levels": sorted(self.warning_levels),
            "not_inspected_days": self.not_inspected_days,
        }


class DirectoryError(ValueError):
    """A filter or an agency/item reference does not exist."""


def _check_filters(filters: TargetFilters) -> None:
    bad_types = sorted(set(filters.types) - {t.value for t in EntityType})
    bad_statuses = sorted(set(filters.statuses) - {s.value for s in EntityStatus})
    bad_levels = sorted(set(filters.warning_levels) - set(STRATA))
    for label, bad in (("entity types", bad_types), ("statuses", bad_statuses), ("warning levels", bad_levels)):
        if bad:
            raise DirectoryError(f"unknown {label}: {', '.join(bad)}")
    if filters.not_inspected_days is not None and filters.not_inspected_days < 1:
        raise DirectoryError("'not inspected in the last N days' needs N >= 1")


def entity_strata(session: Session) -> dict[int, str]:
    """Each entity's highest open warning level (red from the platform, yellow/orange from any agency)."""
    strata: dict[int, str] = {}
    rows = session.execute(
        select(RiskWarning.entity_id, RiskWarning.level).where(
            RiskWarning.is_active, RiskWarning.subject_type == SubjectType.ENTITY, RiskWarning.entity_id.is_not(None)
        )
    )
    for entity_id, level in rows:
        current = strata.get(entity_id, "none")
        if _LEVEL_RANK[str(level)] > _LEVEL_RANK[current]:
            strata[entity_id] = str(level)
    return strata


def recently_inspected(session: Session, since: dt.date) -> set[int]:
    return set(session.scalars(select(InspectionResult.entity_id).where(InspectionResult.inspected_on >= since)))


def target_directory(session: Session, filters: TargetFilters, *, as_of: dt.date) -> list[tuple[int, str, str]]:
    """``(entity id, uscc, stratum)`` of every entity the filters admit, sorted by USCC."""
    _check_filters(filters)
    # Targets are shown on the public site and a uniform draw's population is a public package, so
    # only entities the public may know of qualify: an entity first seen in an agency's private or
    # shared records must not be revealed by a draw.
    query = select(Entity.id, Entity.uscc).where(entity_visible_to(Actor.public()))
    if filters.regions:
        query = query.where(Entity.region.in_(filters.regions))
    if filters.industries:
        query = query.where(or_(*(Entity.industry.startswith(code) for code in filters.industries)))
    if filters.types:
        query = query.where(Entity.type.in_(filters.types))
    if filters.statuses:
        query = query.where(Entity.status.in_(filters.statuses))
    strata = entity_strata(session)
    excluded = (
        recently_inspected(session, as_of - dt.timedelta(days=filters.not_inspected_days - 1))
        if filters.not_inspected_days
        else set()
    )
    levels = set(filters.warning_levels)
    rows = []
    for entity_id, uscc in session.execute(query):
        stratum = strata.get(entity_id, "none")
        if entity_id in excluded or (levels and stratum not in levels):
            continue
        rows.append((entity_id, uscc, stratum))
    rows.sort(key=lambda row: row[1])
    return rows


@dataclass(frozen=True)
class DrawSpec:
    """What the coordinator fixes when creating a draw (抽查计划)."""

    name: str
    agencies: tuple[str, ...]
    strategy: str = "uniform"
    targets: int | None = None
    ratio: str | None = None
    strata: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: tuple[str, ...] = ()  # "AGENCY:ITEM_CODE"
    filters: TargetFilters = field(default_factory=TargetFilters)
    per_agency: int = 1
    inspector_cap: int | None = None


def resolve_agencies(session: Session, codes: Sequence[str]) -> list[Agency]:
    wanted = sorted(set(codes))
    if not wanted:
        raise DirectoryError("a draw needs at least one participating agency")
    found = {a.code: a for a in session.scalars(select(Agency).where(Agency.code.in_(wanted), Agency.is_active))}
    missing = [code for code in wanted if code not in found]
    if missing:
        raise DirectoryError(f"unknown or inactive agencies: {', '.join(missing)}")
    return [found[code] for code in wanted]


def resolve_items(session: Session, agencies: Sequence[Agency], refs: Sequence[str]) -> list[InspectionItem]:
    by_code = {a.code: a for a in agencies}
    items = []
    for ref in sorted(set(refs)):
        agency_code, _, item_code = ref.partition(":")
        agency = by_code.get(agency_code)
        if agency is None or not item_code:
            raise DirectoryError(f"item {ref!r}: write AGENCY:ITEM_CODE for a participating agency")
        item = session.scalars(
            select(InspectionItem).where(
                InspectionItem.agency_id == agency.id, InspectionItem.item_code == item_code, InspectionItem.is_active
            )
        ).first()
        if item is None:
            raise DirectoryError(f"item {ref!r} is not on {agency_code}'s inspection item list")
        items.append(item)
    return items


def inspector_pool(
    session: Session, agencies: Sequence[Agency], items: Sequence[InspectionItem]
) -> list[dict[str, Any]]:
    """Every inspector of the participating agencies with the flags the draw needs.

    An inspector is qualified when they hold a qualification for one of the draw's items of their
    agency; an agency with no item in the draw does not restrict by qualification.
    """
    agency_codes = {a.id: a.code for a in agencies}
    items_by_agency: dict[int, set[int]] = {}
    for item in items:
        items_by_agency.setdefault(item.agency_id, set()).add(item.id)
    qualified_ids = set(
        session.scalars(
            select(InspectorQualification.inspector_id).where(
                InspectorQualification.item_id.in_([item.id for item in items])
            )
        )
    )
    pool = []
    for inspector in session.scalars(select(Inspector).where(Inspector.agency_id.in_(agency_codes))):
        restricted = inspector.agency_id in items_by_agency
        pool.append(
            {
                "agency": agency_codes[inspector.agency_id],
                "certificate_no": inspector.certificate_no,
                "active": inspector.is_active,
                "qualified": (inspector.id in qualified_ids) if restricted else True,
            }
        )
    pool.sort(key=lambda i: (i["agency"], i["certificate_no"]))
    return pool


def recusals(session: Session, agencies: Sequence[Agency], usccs: set[str]) -> list[list[str]]:
    rows = session.execute(
        select(Inspector.certificate_no, Entity.uscc)
        .join(InspectorConflict, InspectorConflict.inspector_id == Inspector.id)
        .join(Entity, Entity.id == InspectorConflict.entity_id)
        .where(Inspector.agency_id.in_([a.id for a in agencies]))
    )
    return sorted([certificate_no, uscc] for certificate_no, uscc in rows if uscc in usccs)


def last_inspectors(session: Session, usccs: set[str]) -> list[list[str]]:
    """For each entity with an inspection result, the inspectors of its latest inspection."""
    latest = select(InspectionResult.entity_id, InspectionResult.target_id).order_by(
        InspectionResult.entity_id, InspectionResult.inspected_on.desc(), InspectionResult.id.desc()
    )
    latest_target: dict[int, int] = {}
    for entity_id, target_id in session.execute(latest):
        latest_target.setdefault(entity_id, target_id)
    if not latest_target:
        return []
    rows = session.execute(
        select(Entity.uscc, Inspector.certificate_no)
        .join(DrawTarget, DrawTarget.entity_id == Entity.id)
        .join(DrawTeamMember, DrawTeamMember.target_id == DrawTarget.id)
        .join(Inspector, Inspector.id == DrawTeamMember.inspector_id)
        .where(and_(DrawTarget.id.in_(list(latest_target.values()))))
    )
    return sorted([uscc, certificate_no] for uscc, certificate_no in rows if uscc in usccs)


def build_manifest(
    session: Session, draw_id: int, spec: DrawSpec, *, as_of: dt.date, frozen_at: dt.datetime
) -> tuple[dict[str, Any], list[tuple[int, str, str]]]:
    """The frozen inputs of a draw, and the directory rows behind its population."""
    agencies = resolve_agencies(session, spec.agencies)
    items = resolve_items(session, agencies, spec.items)
    directory = target_directory(session, spec.filters, as_of=as_of)
    if spec.strategy != "stratified":
        # A uniform draw does not use warning levels: the manifest (published with the draw) must
        # not carry them, since yellow and orange are visible to their own agency only.
        directory = [(entity_id, uscc, UNIFORM_STRATUM) for entity_id, uscc, _ in directory]
    usccs = {uscc for _, uscc, _ in directory}
    parameters: dict[str, Any] = {
        "strategy": spec.strategy,
        "targets": spec.targets,
        "ratio": spec.ratio,
        "strata": spec.strata if spec.strategy == "stratified" else None,
        "agencies": [a.code for a in agencies],
        "items": [f"{agency_code(agencies, item.agency_id)}:{item.item_code}" for item in items],
        "filters": spec.filters.document(),
        "team": {"per_agency": spec.per_agency},
        "inspector_cap": spec.inspector_cap,
        "as_of": as_of.isoformat(),
    }
    manifest = {
        "format": MANIFEST_FORMAT,
        "draw_id": draw_id,
        "name": spec.name,
        "frozen_at": frozen_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "parameters": parameters,
        "population": [[uscc, stratum] for _, uscc, stratum in directory],
        "inspectors": inspector_pool(session, agencies, items),
        "recusals": recusals(session, agencies, usccs),
        "last_inspectors": last_inspectors(session, usccs),
    }
    return manifest, directory


def agency_code(agencies: Sequence[Agency], agency_id: int) -> str:
    return next(a.code for a in agencies if a.id == agency_id)
