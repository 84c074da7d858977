"""Market entities (市场主体), responsible persons (负责人) and the roles that link them."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from signalhub_platform.db import Base
from signalhub_platform.models.types import BigId, UTCDateTime, closed_vocabulary, utcnow


class EntityType(enum.StrEnum):
    ENTERPRISE = "enterprise"  # 企业
    INDIVIDUAL_BUSINESS = "individual_business"  # 个体工商户
    FARMER_COOPERATIVE = "farmer_cooperative"  # 农民专业合作社


class EntityStatus(enum.StrEnum):
    ACTIVE = "active"  # 存续
    REVOKED = "revoked"  # 吊销
    CANCELLED = "cancelled"  # 注销


class CodeStatus(enum.StrEnum):
    VALID = "valid"
    NONSTANDARD = "nonstandard"  # legal pilot-region code that fails the national check character


class RoleKind(enum.StrEnum):
    LEGAL_REPRESENTATIVE = "legal_representative"  # 法定代表人
    RESPONSIBLE_PERSON = "responsible_person"  # 负责人


class Entity(Base):
    __tablename__ = "entities"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    uscc_status: Mapped[CodeStatus] = mapped_column(closed_vocabulary(CodeStatus, "code_status"))
    name: Mapped[str] = mapped_column(String(200), index=True)
    type: Mapped[EntityType] = mapped_column(closed_vocabulary(EntityType, "entity_type"))
    region: Mapped[str] = mapped_column(String(64), default="", index=True)  # street (街道)
    industry: Mapped[str] = mapped_column(String(8), default="", index=True)  # GB/T 4754 code
    address: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[EntityStatus] = mapped_column(closed_vocabulary(EntityStatus, "entity_status"))
    registered_on: Mapped[dt.date | None] = mapped_column(Date())
    # False for entities first seen in an agency's records rather than in the registry import.
    is_in_registry: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    roles: Mapped[list[EntityPersonRole]] = relationship(back_populates="entity", order_by="EntityPersonRole.since")


class Person(Base):
    """A natural person. The ID number exists only as AES-GCM ciphertext, a keyed blind index and a mask."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    id_ciphertext: Mapped[bytes] = mapped_column(LargeBinary())  # nonce || ciphertext || tag
    id_key_id: Mapped[str] = mapped_column(String(32))
    id_blind_index: Mapped[str] = mapped_column(String(64), unique=True)
    id_masked: Mapped[str] = mapped_column(String(18))  # 110105********002X
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    roles: Mapped[list[EntityPersonRole]] = relationship(back_populates="person")


class EntityPersonRole(Base):
    """A person's role at an entity for [since, until); until NULL means still serving."""

    __tablename__ = "entity_person_roles"
    __table_args__ = (
        UniqueConstraint("entity_id", "person_id", "role", "since"),
        Index("ix_entity_person_roles_person_id_since", "person_id", "since"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    role: Mapped[RoleKind] = mapped_column(closed_vocabulary(RoleKind, "role_kind"))
    since: Mapped[dt.date] = mapped_column(Date())
    until: Mapped[dt.date | None] = mapped_column(Date())

    entity: Mapped[Entity] = relationship(back_populates="roles")
    person: Mapped[Person] = relationship(back_populates="roles")
