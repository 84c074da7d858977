"""A small district for the text-report tests: two agencies with their users and the platform office."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub_platform.models import Actor, Agency, AuditEvent, Role, User
from tests.factories import make_agency, make_user


@dataclass
class District:
    tax: Agency
    mkt: Agency
    liaison: User  # TAX
    admin: User  # TAX agency admin
    supervisor: User  # TAX, may read but not submit
    mkt_liaison: User
    office: User  # platform office admin
    office_auditor: User  # platform office, not an admin
    storage: Path

    @staticmethod
    def actor(user: User) -> Actor:
        return Actor.for_user(user)


@pytest.fixture
def district(db_session: Session, tmp_path: Path) -> District:
    tax = make_agency(db_session, "TAX")
    mkt = make_agency(db_session, "MKT")
    for agency in (tax, mkt):
        agency.created_at = dt.datetime(2020, 3, 1, tzinfo=dt.UTC)
    db_session.flush()
    return District(
        tax=tax,
        mkt=mkt,
        liaison=make_user(db_session, tax, Role.LIAISON),
        admin=make_user(db_session, tax, Role.AGENCY_ADMIN),
        supervisor=make_user(db_session, tax, Role.SUPERVISOR),
        mkt_liaison=make_user(db_session, mkt, Role.LIAISON),
        office=make_user(db_session, None, Role.PLATFORM_ADMIN),
        office_auditor=make_user(db_session, None, Role.AUDITOR),
        storage=tmp_path / "reports",
    )


def last_seq(session: Session) -> int:
    return int(session.scalar(select(func.max(AuditEvent.seq))) or 0)


def events_after(session: Session, seq: int) -> list[tuple[str, dict]]:
    """(tag, payload) of the events written after ``seq``, in order."""
    rows = session.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq))
    return [(row.tag, json.loads(row.payload)) for row in rows]
