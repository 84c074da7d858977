"""The two directories of double random inspections (双随机一公开 两库): inspection items and inspectors.

Items belong to one agency and are keyed by (agency, item code); inspectors are keyed by their
certificate number (执法证号), which is also their canonical id in the sampler. An inspector is
qualified for some items of their agency and may declare conflicts with entities (recusal).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from signalhub_platform.db import Base
from signalhub_platform.models.agencies import Agency
from signalhub_platform.models.registry import Entity
from signalhub_platform.models.types import BigId, UTCDateTime, utcnow


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
