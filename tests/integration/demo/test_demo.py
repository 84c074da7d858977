"""``signalhub demo`` end to end on the test database: what a newcomer gets from ``make demo``."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_platform import accounts
from signalhub_platform.cli import CliContext, main
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.demo.loader import DEFAULT_SEED, DEMO_PASSWORD, DEMO_URL, plan_demo
from signalhub_platform.identifiers.normalise import CheckStatus
from signalhub_platform.identifiers.uscc import validate_uscc
from signalhub_platform.models import (
    Agency,
    AuditEvent,
    Batch,
    Department,
    Entity,
    EntityPersonRole,
    EntityType,
    Openness,
    Person,
    Record,
    Role,
    User,
)
from tests.factories import TEST_HASHER

ENTITIES = 200
# Same shape as the audit service's guard: any 18-character resident ID number.
ID_NUMBER = re.compile(r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{9}[0-9Xx](?![0-9])")


@pytest.fixture(autouse=True)
def fast_password_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    # Production argon2 costs a tenth of a second per hash; the demo's logic does not depend on it.
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", TEST_HASHER)


def run_demo(settings: Settings, factory: sessionmaker[Session], *args: str) -> Result:
    return CliRunner().invoke(main, ["demo", *args], obj=CliContext(settings=settings, factory=factory))


@pytest.fixture
def loaded(settings: Settings, session_factory: sessionmaker[Session]) -> Result:
    result = run_demo(settings, session_factory, "--entities", str(ENTITIES))
    assert result.exit_code == 0, result.output
    return result


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_the_district_has_agencies_entities_users_and_records(loaded: Result, db_session: Session) -> None:
    assert count(db_session, Agency) == 12
    assert count(db_session, Department) == 38
    assert count(db_session, Entity) == ENTITIES
    assert count(db_session, Person) >= ENTITIES  # successions add persons, multi-company persons remove some
    assert count(db_session, Batch) > 0

    users = db_session.scalars(select(User)).all()
    assert set().union(*(user.roles for user in users)) == set(Role)
    assert all(not user.must_change_password and user.pledge_accepted_at is None for user in users)
    for code in ("TAX", "SAMR", "FDA", "HRSS"):
        roles = {role for user in users if user.agency and user.agency.code == code for role in user.roles}
        assert {Role.AGENCY_ADMIN, Role.LIAISON, Role.SUPERVISOR} <= roles

    records = db_session.scalars(select(Record).where(Record.is_current)).all()
    assert len(records) > ENTITIES // 10
    assert {record.openness for record in records} == set(Openness)
    assert len({record.agency_id for record in records}) == 12
    assert len({(record.agency_id, record.source_ref) for record in records}) == len(records)
    assert any(record.person_id is not None for record in records)
    assert DEMO_URL in loaded.output


def test_every_uscc_is_valid_and_from_xicheng(loaded: Result, db_session: Session) -> None:
    prefixes = {EntityType.ENTERPRISE: "91", EntityType.INDIVIDUAL_BUSINESS: "92", EntityType.FARMER_COOPERATIVE: "93"}
    for uscc, entity_type in db_session.execute(select(Entity.uscc, Entity.type)):
        assert validate_uscc(uscc).status == CheckStatus.VALID, uscc
        assert uscc[:2] == prefixes[entity_type]
        assert uscc[2:8] == "110102"


def test_the_warning_stories_are_in_the_data(loaded: Result, db_session: Session) -> None:
    rows = db_session.execute(
        select(Record.entity_id, Record.agency_id, Record.department_id, Record.openness).where(
            Record.is_current, Record.entity_id.is_not(None)
        )
    ).all()
    departments: dict[tuple[int, int], set[int]] = defaultdict(set)
    sharing_agencies: dict[int, set[int]] = defaultdict(set)
    for entity_id, agency_id, department_id, openness in rows:
        departments[(entity_id, agency_id)].add(department_id)
        if openness != Openness.PRIVATE:
            sharing_agencies[entity_id].add(agency_id)
    assert max(len(seen) for seen in departments.values()) >= 3  # orange
    assert sum(len(seen) >= 2 for seen in departments.values()) >= 2  # yellow
    assert sum(len(agencies) >= 2 for agencies in sharing_agencies.values()) >= 2  # red

    roles = db_session.execute(select(EntityPersonRole.person_id, EntityPersonRole.entity_id)).all()
    companies: dict[int, set[int]] = defaultdict(set)
    for person_id, entity_id in roles:
        companies[person_id].add(entity_id)
    assert max(len(held) for held in companies.values()) >= 2
    successions = db_session.scalars(select(EntityPersonRole).where(EntityPersonRole.until.is_not(None))).all()
    assert successions
    for role in successions:
        assert role.until is not None and role.since < role.until


def test_red_follows_the_person_behind_three_companies(
    loaded: Result, db_session: Session, cipher: PersonalDataCipher
) -> None:
    showcase = plan_demo(DEFAULT_SEED, ENTITIES, today=dt.date.today()).multi_company_persons[0]
    person = db_session.scalars(
        select(Person).where(Person.id_blind_index == cipher.blind_index(showcase.id_number))
    ).one()
    companies = db_session.scalars(select(EntityPersonRole.entity_id).where(EntityPersonRole.person_id == person.id))
    agencies_per_company = [
        set(
            db_session.scalars(
                select(Record.agency_id).where(
                    Record.entity_id == entity_id, Record.is_current, Record.openness != Openness.PRIVATE
                )
            )
        )
        for entity_id in companies
    ]
    assert len(agencies_per_company) == 3
    assert all(len(agencies) == 1 for agencies in agencies_per_company)  # no company is red by itself
    assert len(set().union(*agencies_per_company)) == 3  # the person is


def test_corrected_records_keep_their_history(loaded: Result, db_session: Session) -> None:
    corrected = db_session.scalars(select(Record).where(Record.version == 2)).all()
    assert len(corrected) == 2
    for record in corrected:
        previous = db_session.get(Record, record.supersedes_id)
        assert previous is not None and not previous.is_current and previous.version == 1
        assert record.is_current and record.change_reason
        assert record.source_ref == previous.source_ref


def test_no_plaintext_id_number_in_output_or_audit(
    loaded: Result, db_session: Session, cipher: PersonalDataCipher
) -> None:
    plan = plan_demo(DEFAULT_SEED, ENTITIES, today=dt.date.today())
    id_numbers = {person.id_number for person in plan.persons}
    assert len(id_numbers) == count(db_session, Person)
    payloads = db_session.scalars(select(AuditEvent.payload)).all()
    for text in [loaded.output, *payloads]:
        assert not ID_NUMBER.search(text)
        assert not any(number in text for number in id_numbers)
    # The numbers are in the database only sealed, and they are the plan's.
    person = db_session.scalars(select(Person).limit(1)).one()
    assert cipher.decrypt(person.id_ciphertext, person.id_key_id, person.id_blind_index) in id_numbers
    tags = db_session.scalars(select(AuditEvent.tag)).all()
    assert AuditTag.CLI_DEMO_LOAD in tags and AuditTag.CLI_REGISTRY_IMPORT in tags


def test_a_second_run_refuses_and_adds_nothing(
    loaded: Result, settings: Settings, session_factory: sessionmaker[Session], db_session: Session
) -> None:
    before = [count(db_session, model) for model in (Agency, Entity, Person, User, Record, Batch, AuditEvent)]
    again = run_demo(settings, session_factory, "--entities", str(ENTITIES))
    assert again.exit_code == 0, again.output
    assert "already" in again.output
    assert DEMO_PASSWORD in again.output  # the logins printed by the first run still apply
    db_session.expire_all()
    assert [count(db_session, model) for model in (Agency, Entity, Person, User, Record, Batch, AuditEvent)] == before


def test_the_printed_logins_authenticate(loaded: Result, db_session: Session, settings: Settings) -> None:
    logins = [
        line.split()[:2]
        for line in loaded.output.splitlines()
        if len(line.split()) >= 4 and line.split()[1] == DEMO_PASSWORD
    ]
    assert len(logins) == count(db_session, User) == 15
    for username, password in logins:
        user = accounts.authenticate(
            db_session, username, password, client_ip="127.0.0.1", now=dt.datetime.now(dt.UTC), settings=settings
        )
        assert user.username == username
        assert not accounts.is_pledge_current(user)


def test_the_same_seed_plans_the_same_district() -> None:
    today = dt.date(2026, 6, 30)
    first, second = plan_demo(7, 120, today=today), plan_demo(7, 120, today=today)
    assert list(first.registry_rows()) == list(second.registry_rows())
    assert [record.source_ref for record in first.records] == [record.source_ref for record in second.records]
    assert list(plan_demo(8, 120, today=today).registry_rows()) != list(first.registry_rows())
    for _, row in first.registry_rows():
        assert dt.date.fromisoformat(row["legal_rep_since"]) <= today
    for record in first.records:
        assert today - dt.timedelta(days=364) <= record.occurred_on <= today


def test_too_few_entities_is_a_usage_error(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    result = run_demo(settings, session_factory, "--entities", "10")
    assert result.exit_code == 2
    assert "entities" in result.output


def test_the_demo_has_a_published_draw_with_results_and_one_waiting_for_its_seed(
    loaded: Result, db_session: Session
) -> None:
    from signalhub_platform.inspections.services import verify_draw
    from signalhub_platform.models import Actor, Draw, DrawStatus, InspectionResult

    draws = db_session.scalars(select(Draw).order_by(Draw.id)).all()
    assert [d.status for d in draws] == [DrawStatus.PUBLISHED, DrawStatus.FROZEN]
    assert len(draws[0].targets) == 15
    assert db_session.scalar(select(func.count()).select_from(InspectionResult)) == 5
    assert verify_draw(db_session, draws[0].id, actor=Actor.cli()) == []
