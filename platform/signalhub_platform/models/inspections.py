"""Double random inspections (双随机一公开): the two directories, the draws and their results.

Items belong to one agency and are keyed by (agency, item code); inspectors are keyed by their
certificate number (执法证号), which is also their canonical id in the sampler. An inspector is
qualified for some items of their agency and may declare conflicts with entities (recusal).

A draw (抽查计划) is append-only: its manifest is frozen when it is created and its SHA-256
published; the seed is fixed afterwards; running stores the result; targets and team members are
rows as well, so inspection history and "who inspected this entity last" are plain queries.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from signalhub_platform.db import Base
from signalhub_platform.models.accounts import User
from signalhub_platform.models.agencies import Agency
from signalhub_platform.models.registry import Entity
from signalhub_platform.models.types import BigId, UTCDateTime, closed_vocabulary, utcnow


class InspectionItem(Base):
    """One item of an agency's random inspection list (抽查事项清单)."""

    __tablename__ = "inspection_items"
    __table_args__ = (UniqueConstraint("agency_id", "item_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(Text(), default="")
    # 市场监管领域: the item belongs to the market-supervision joint inspection list.
    is_market_supervision: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    agency: Mapped[Agency] = relationship()


class Inspector(Base):
    """One law-enforcement inspector (执法检查人员) of an agency."""

    __tablename__ = "inspectors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    certificate_no: Mapped[str] = mapped_column(String(64), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    agency: Mapped[Agency] = relationship()
    qualifications: Mapped[list[InspectorQualification]] = relationship(
        back_populates="inspector", cascade="all, delete-orphan"
    )


class InspectorQualification(Base):
    """An inspector may be drawn for targets of this item."""

    __tablename__ = "inspector_qualifications"
    __table_args__ = (UniqueConstraint("inspector_id", "item_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("inspection_items.id"), index=True)

    inspector: Mapped[Inspector] = relationship(back_populates="qualifications")
    item: Mapped[InspectionItem] = relationship()


class InspectorConflict(Base):
    """A declared conflict of interest: the inspector is never drawn for this entity (回避)."""

    __tablename__ = "inspector_conflicts"
    __table_args__ = (UniqueConstraint("inspector_id", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"), index=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    declared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    inspector: Mapped[Inspector] = relationship()
    entity: Mapped[Entity] = relationship()


class DrawStatus(enum.StrEnum):
    FROZEN = "frozen"  # population frozen and its hash published; waiting for the seed
    SEEDED = "seeded"  # seed fixed; waiting for the run
    DRAWN = "drawn"
    PUBLISHED = "published"  # results visible on the public site (一公开)


class Draw(Base):
    """One draw (抽查计划). Rows are never deleted (a trigger refuses it); the manifest never changes."""

    __tablename__ = "draws"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[DrawStatus] = mapped_column(closed_vocabulary(DrawStatus, "draw_status"), index=True)
    strategy: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Canonical JSON of the frozen inputs (drawing.canonical_json); its SHA-256 is the published hash.
    manifest: Mapped[str] = mapped_column(Text())
    population_sha256: Mapped[str] = mapped_column(String(64))
    population_count: Mapped[int] = mapped_column(default=0)
    strata_counts: Mapped[str] = mapped_column(Text(), default="{}")  # JSON {stratum: count}
    dice: Mapped[str | None] = mapped_column(String(200))  # the digits rolled in the meeting
    seed: Mapped[str | None] = mapped_column(Text())  # dice combined with revealed agency secrets
    seeded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    rounds: Mapped[str] = mapped_column(Text(), default="[]")  # JSON list of round sizes
    result: Mapped[str | None] = mapped_column(Text())  # canonical JSON of drawing.compute_draw
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    drawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    created_by: Mapped[User | None] = relationship()
    commitments: Mapped[list[DrawCommitment]] = relationship(back_populates="draw", order_by="DrawCommitment.id")
    targets: Mapped[list[DrawTarget]] = relationship(back_populates="draw", order_by="DrawTarget.position")


class DrawCommitment(Base):
    """A participating agency's secret for the seed: its hash first, the secret itself at the reveal."""

    __tablename__ = "draw_commitments"
    __table_args__ = (UniqueConstraint("draw_id", "agency_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("draws.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    commitment_sha256: Mapped[str] = mapped_column(String(64))
    committed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    secret: Mapped[str | None] = mapped_column(String(128))
    revealed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    draw: Mapped[Draw] = relationship(back_populates="commitments")
    agency: Mapped[Agency] = relationship()


class DrawTarget(Base):
    """One drawn target of a draw, in draw order."""

    __tablename__ = "draw_targets"
    __table_args__ = (
        UniqueConstraint("draw_id", "position", name="uq_draw_targets_draw_position"),
        UniqueConstraint("draw_id", "entity_id", name="uq_draw_targets_draw_entity"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("draws.id"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), index=True)
    position: Mapped[int] = mapped_column()
    round: Mapped[int] = mapped_column(default=1)
    stratum: Mapped[str] = mapped_column(String(16))
    ticket: Mapped[str] = mapped_column(String(100))

    draw: Mapped[Draw] = relationship(back_populates="targets")
    entity: Mapped[Entity] = relationship()
    team: Mapped[list[DrawTeamMember]] = relationship(back_populates="target", order_by="DrawTeamMember.id")
    result: Mapped[InspectionResult | None] = relationship(back_populates="target")


class DrawTeamMember(Base):
    """An inspector drawn into a target's team."""

    __tablename__ = "draw_team_members"
    __table_args__ = (UniqueConstraint("target_id", "inspector_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("draw_targets.id"), index=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))

    target: Mapped[DrawTarget] = relationship(back_populates="team")
    inspector: Mapped[Inspector] = relationship()
    agency: Mapped[Agency] = relationship()


class InspectionOutcome(enum.StrEnum):
    NO_PROBLEM = "no_problem"  # 未发现问题
    PROBLEMS_FOUND = "problems_found"  # 发现问题
    ORDERED_TO_CORRECT = "ordered_to_correct"  # 责令整改
    REFERRED_FOR_PENALTY = "referred_for_penalty"  # 移送立案处罚
    NOT_REACHABLE = "not_reachable"  # 通过登记的住所（经营场所）无法联系


class InspectionResult(Base):
    """What a team found at one target; published with the draw (一公开) and kept as inspection history."""

    __tablename__ = "inspection_results"
    __table_args__ = (Index("ix_inspection_results_entity_inspected", "entity_id", "inspected_on"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("draw_targets.id"), unique=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    outcome: Mapped[InspectionOutcome] = mapped_column(closed_vocabulary(InspectionOutcome, "inspection_outcome"))
    inspected_on: Mapped[dt.date] = mapped_column(Date())
    notes: Mapped[str] = mapped_column(Text(), default="")
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment_type: Mapped[str | None] = mapped_column(String(100))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary())
    attachment_sha256: Mapped[str | None] = mapped_column(String(64))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    target: Mapped[DrawTarget] = relationship(back_populates="result")
    entity: Mapped[Entity] = relationship()
