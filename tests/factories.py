"""Factories for test data: small functions that flush, never commit."""

from __future__ import annotations

import datetime as dt
import itertools
import random

from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from signalhub_platform.crypto import PersonalDataCipher, mask_id_number
from signalhub_platform.identifiers.uscc import ALPHABET, organisation_check_char, uscc_check_char
from signalhub_platform.models import (
    Agency,
    CodeStatus,
    Department,
    Entity,
    EntityPersonRole,
    EntityStatus,
    EntityType,
    Openness,
    Person,
    Record,
    RecordKind,
    RecordSource,
    RiskLevel,
    Role,
    RoleKind,
    User,
    UserRole,
)

# Fast argon2 parameters for tests only.
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_counter = itertools.count(1)


def make_uscc(seed: int | None = None) -> str:
    """A valid USCC (enterprise, Beijing Xicheng 110102) with both check characters right."""
    rng = random.Random(seed if seed is not None else next(_counter) * 7919)
    org8 = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    body17 = "91" + "110102" + org8 + organisation_check_char(org8)
    if any(char not in ALPHABET for char in body17):  # org check 'X' is fine; guard anyway
        return make_uscc(rng.randrange(10**9))
    return body17 + uscc_check_char(body17)


def make_id_number(birth: dt.date = dt.date(1980, 5, 17), serial: int | None = None) -> str:
    """A valid 18-digit resident ID number (Xicheng, Beijing)."""
    serial = serial if serial is not None else next(_counter) % 1000
    body = f"110102{birth:%Y%m%d}{serial:03d}"
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def make_agency(session: Session, code: str | None = None, departments: int = 3) -> Agency:
    n = next(_counter)
    agency = Agency(code=code or f"AG{n}", name=f"Agency {code or n}")
    agency.departments = [Department(code=f"D{i}", name=f"Department {i}") for i in range(1, departments + 1)]
    session.add(agency)
    session.flush()
    return agency


def make_user(
    session: Session,
    agency: Agency | None,
    *roles: Role,
    username: str | None = None,
    password: str = "correct horse battery staple",
    pledged: bool = True,
) -> User:
    user = User(
        username=username or f"user{next(_counter)}",
        display_name="Test User",
        agency_id=agency.id if agency else None,
        password_hash=TEST_HASHER.hash(password),
        must_change_password=False,
        pledge_accepted_at=dt.datetime.now(dt.UTC) if pledged else None,
        pledge_version="2026-1" if pledged else None,
    )
    user.role_rows = [UserRole(role=role) for role in roles or (Role.SUPERVISOR,)]
    session.add(user)
    session.flush()
    return user


def make_entity(session: Session, name: str | None = None, uscc: str | None = None, **fields: object) -> Entity:
    values: dict[str, object] = {
        "uscc": uscc or make_uscc(),
        "uscc_status": CodeStatus.VALID,
        "name": name or f"北京测试{next(_counter)}有限公司",
        "type": EntityType.ENTERPRISE,
        "region": "金融街街道",
        "industry": "5231",
        "address": "北京市西城区金融大街1号",
        "status": EntityStatus.ACTIVE,
        "registered_on": dt.date(2015, 3, 1),
    }
    values.update(fields)
    entity = Entity(**values)
    session.add(entity)
    session.flush()
    return entity


def make_person(
    session: Session, cipher: PersonalDataCipher, id_number: str | None = None, name: str = "张三"
) -> Person:
    id_number = id_number or make_id_number()
    bidx = cipher.blind_index(id_number)
    blob, key_id = cipher.encrypt(id_number, bidx)
    person = Person(
        name=name, id_ciphertext=blob, id_key_id=key_id, id_blind_index=bidx, id_masked=mask_id_number(id_number)
    )
    session.add(person)
    session.flush()
    return person


def make_role(
    session: Session, entity: Entity, person: Person, since: dt.date, until: dt.date | None = None
) -> EntityPersonRole:
    role = EntityPersonRole(entity=entity, person=person, role=RoleKind.LEGAL_REPRESENTATIVE, since=since, until=until)
    session.add(role)
    session.flush()
    return role


def make_record(
    session: Session,
    agency: Agency,
    *,
    entity: Entity | None = None,
    person: Person | None = None,
    openness: Openness = Openness.SHARED,
    kind: RecordKind = RecordKind.RISK,
    risk_level: RiskLevel | None = RiskLevel.MEDIUM,
    department: Department | None = None,
    occurred_on: dt.date = dt.date(2026, 6, 1),
    category: str = "complaint",
    description: str = "test record",
) -> Record:
    record = Record(
        agency_id=agency.id,
        department_id=(department or agency.departments[0]).id,
        kind=kind,
        risk_level=risk_level if kind == RecordKind.RISK else None,
        openness=openness,
        entity_id=entity.id if entity else None,
        person_id=person.id if person else None,
        category=category,
        description=description,
        occurred_on=occurred_on,
        source_ref=f"REF-{next(_counter)}",
        source=RecordSource.FORM,
    )
    session.add(record)
    session.flush()
    return record


def make_token(session: Session, user: User) -> str:
    """An API token for ``user`` (stored hashed, as the platform does)."""
    import hashlib
    import secrets

    from signalhub_platform.models import ApiToken

    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_sha256=hashlib.sha256(token.encode()).hexdigest()))
    session.flush()
    return token
