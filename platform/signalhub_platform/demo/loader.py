"""The demo district: plan it from a seed, then load it through the platform's own services.

A newcomer running ``make demo`` should land on a platform that already tells its stories: an
entity seen by three departments of one agency (orange), by two departments (yellow), by several
agencies (red), a person behind three companies each touched by a different agency (red follows
the person), a private record that does not make an entity red, a corrected record with its
history. So the plan is not uniform noise: a few deliberate *scenarios* come first, then random
records fill up to the target count on other entities, so the scenarios stay readable.

Planning (:func:`plan_demo`) is pure and deterministic in ``(seed, entity_count, today)``; only
ciphertexts (random nonces) and timestamps differ between two loads. Loading (:func:`load_demo`)
goes through the real services (``import_agencies``, ``import_registry``, ``add_user``,
``correct_record``) so that the demo exercises them; the few hundred records are inserted with
one Core statement, as a batch import would, since records have no single-row service yet.

ID numbers are generated here and exist in plaintext only in the plan: the registry import seals
them, and nothing printed or audited carries one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_ingest.corrections import correct_record
from signalhub_ingest.reference import import_agencies, import_registry
from signalhub_platform.accounts import add_user, check_password_policy, hash_password
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import analyze
from signalhub_platform.demo import data
from signalhub_platform.identifiers.resident_id import id_check_char
from signalhub_platform.identifiers.uscc import ALPHABET, organisation_check_char, uscc_check_char
from signalhub_platform.models import (
    Actor,
    Agency,
    Batch,
    BatchState,
    Department,
    Entity,
    EntityStatus,
    EntityType,
    Openness,
    Person,
    Record,
    RecordKind,
    RecordSource,
    RiskLevel,
    Role,
    User,
)
from signalhub_platform.models.types import utcnow
from signalhub_warnings.rules import Thresholds
from signalhub_warnings.services import evaluate_warnings

# 2016: the year of the district work plan the platform follows. Any seed gives a coherent district.
DEFAULT_SEED = 2016
DEFAULT_ENTITIES = 3000
# Below this the scenarios (about twenty entities, plus the multi-company persons) would not fit.
MIN_ENTITIES = 50
# One published password for every demo account: the demo is for looking around, not for protecting.
DEMO_PASSWORD = "signalhub-demo"  # noqa: S105 - documented demo login, printed by `signalhub demo`
DEMO_URL = "http://127.0.0.1:5000/"

XICHENG = "110102"
USCC_PREFIXES = {
    EntityType.ENTERPRISE: "91",
    EntityType.INDIVIDUAL_BUSINESS: "92",
    EntityType.FARMER_COOPERATIVE: "93",
}
EARLIEST_REGISTRATION = dt.date(1995, 1, 1)
LATEST_REGISTRATION = dt.date(2025, 12, 31)
EARLIEST_BIRTH = dt.date(1955, 1, 1)
LATEST_BIRTH = dt.date(1998, 12, 31)
# A legal representative is at least this old when appointed.
MIN_REPRESENTATIVE_AGE_YEARS = 20
# Records fall inside the default warning window (365 days back from today, inclusive).
RECORD_WINDOW_DAYS = 365
SUCCESSION_SHARE = 0.10
# About 400 records for the default 3,000 entities.
RECORDS_PER_ENTITY = 0.135

# Where random records come from: market regulation, tax and food safety report the most.
AGENCY_WEIGHTS = {
    "SAMR": 6,
    "TAX": 5,
    "FDA": 5,
    "HRSS": 3,
    "HOUSING": 2,
    "EPB": 2,
    "SAFETY": 2,
    "CITYMGMT": 2,
    "HEALTH": 2,
    "COMMERCE": 1,
    "CULTURE": 1,
    "FIRE": 2,
}
RISK_LEVEL_WEIGHTS = {RiskLevel.LOW: 4, RiskLevel.MEDIUM: 4, RiskLevel.HIGH: 2}
# Risk signals are mostly shared among agencies; decided penalties are often published.
OPENNESS_WEIGHTS = {
    RecordKind.RISK: {Openness.SHARED: 75, Openness.PRIVATE: 20, Openness.PUBLIC: 5},
    RecordKind.PENALTY: {Openness.SHARED: 50, Openness.PRIVATE: 10, Openness.PUBLIC: 40},
}


class DatabaseNotEmpty(RuntimeError):
    """The demo only loads into an empty database: it would clash with, or be mistaken for, real data."""

    def __init__(self, counts: Mapping[str, int]) -> None:
        found = ", ".join(f"{count} {name}" for name, count in counts.items() if count)
        super().__init__(
            f"the database already has data ({found}); signalhub demo only loads into an empty database, "
            "nothing was changed"
        )
        self.counts = dict(counts)


# --- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedPerson:
    id_number: str
    name: str


@dataclass(slots=True)
class PlannedEntity:
    uscc: str
    name: str
    type: EntityType
    region: str
    industry: str
    address: str
    status: EntityStatus
    registered_on: dt.date
    # (since, person) in order; each serves until the next one's since.
    representatives: list[tuple[dt.date, PlannedPerson]] = field(default_factory=list)

    @property
    def current_representative(self) -> tuple[dt.date, PlannedPerson]:
        return self.representatives[-1]


@dataclass(slots=True)
class PlannedRecord:
    agency: str
    department: str
    kind: RecordKind
    risk_level: RiskLevel | None
    openness: Openness
    category: str
    description: str
    occurred_on: dt.date
    source: RecordSource
    entity_uscc: str | None
    person: PlannedPerson | None
    scenario: str  # which story the record belongs to ("fill" for the random rest); not stored
    source_ref: str = ""


@dataclass(frozen=True, slots=True)
class PlannedCorrection:
    agency: str
    source_ref: str
    changes: dict[str, Any]
    reason: str


@dataclass
class DemoPlan:
    """The district as plain data. ``multi_company_persons[0]`` is the "red follows the person" showcase:
    legal representative of three companies, each with one shared record from a different agency."""

    seed: int
    today: dt.date
    entities: list[PlannedEntity]
    records: list[PlannedRecord]
    corrections: list[PlannedCorrection]
    multi_company_persons: list[PlannedPerson]

    def agency_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Rows as ``import_agencies`` reads them from a file (row 1 is the header)."""
        number = 1
        for code, name, departments in data.AGENCIES:
            for department_code, department_name in departments:
                number += 1
                yield (
                    number,
                    {
                        "agency_code": code,
                        "agency_name": name,
                        "department_code": department_code,
                        "department_name": department_name,
                    },
                )

    def registry_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Rows as ``import_registry`` reads them: one per legal representative, oldest first."""
        number = 1
        for entity in self.entities:
            for since, person in entity.representatives:
                number += 1
                yield (
                    number,
                    {
                        "uscc": entity.uscc,
                        "name": entity.name,
                        "type": entity.type.value,
                        "region": entity.region,
                        "industry": entity.industry,
                        "address": entity.address,
                        "status": entity.status.value,
                        "registered_on": entity.registered_on.isoformat(),
                        "legal_rep_name": person.name,
                        "legal_rep_id_number": person.id_number,
                        "legal_rep_since": since.isoformat(),
                    },
                )

    @property
    def persons(self) -> list[PlannedPerson]:
        unique = {person.id_number: person for e in self.entities for _, person in e.representatives}
        return list(unique.values())


def plan_demo(seed: int = DEFAULT_SEED, entity_count: int = DEFAULT_ENTITIES, *, today: dt.date) -> DemoPlan:
    """The whole demo district as plain data; the same arguments always give the same plan."""
    if entity_count < MIN_ENTITIES:
        raise ValueError(f"the demo needs at least {MIN_ENTITIES} entities")
    return _Planner(seed, today).plan(entity_count)


class _Planner:
    def __init__(self, seed: int, today: dt.date) -> None:
        # Reproducible demo data, not secrets: a seeded PRNG is the point.
        self.rng = random.Random(seed)  # noqa: S311 - deterministic demo data, nothing secret
        self.seed = seed
        self.today = today
        self.usccs: set[str] = set()
        self.id_numbers: set[str] = set()
        self.names: set[str] = set()
        self.records: list[PlannedRecord] = []
        self.departments = {code: [dept for dept, _ in departments] for code, _, departments in data.AGENCIES}
        self.latest_registration = min(LATEST_REGISTRATION, today - dt.timedelta(days=30))
        self.window_start = today - dt.timedelta(days=RECORD_WINDOW_DAYS - 1)

    # -- entities and persons --

    def plan(self, entity_count: int) -> DemoPlan:
        entities = [self._entity() for _ in range(entity_count)]
        multi = self._assign_representatives(entities)
        showcase = {company.uscc for _, companies in multi[:2] for company in companies}
        active = [e for e in entities if e.status == EntityStatus.ACTIVE and e.uscc not in showcase]
        self.rng.shuffle(active)
        self._plan_scenarios(active, multi)
        self._plan_fill(active, target=max(len(self.records) + 20, round(entity_count * RECORDS_PER_ENTITY)))
        corrections = self._number_records_and_plan_corrections()
        return DemoPlan(self.seed, self.today, entities, self.records, corrections, [person for person, _ in multi])

    def _entity(self) -> PlannedEntity:
        rng = self.rng
        entity_type = rng.choices(list(USCC_PREFIXES), weights=[70, 28, 2])[0]
        if entity_type == EntityType.FARMER_COOPERATIVE:
            industry, trade = rng.choice(data.COOPERATIVE_INDUSTRIES)
        elif entity_type == EntityType.INDIVIDUAL_BUSINESS:
            industry, trade = rng.choice(
                [item for item in data.INDUSTRIES if item[0].startswith(data.INDIVIDUAL_INDUSTRY_PREFIXES)]
            )
        else:
            industry, trade = rng.choice(data.INDUSTRIES)
        street = rng.choice(data.STREETS)
        address = f"北京市西城区{rng.choice(data.STREET_ROADS[street])}{rng.randint(1, 199)}号"
        if rng.random() < 0.4:
            address += f"{rng.randint(1, 12)}层{rng.randint(1, 30):02d}室"
        earliest = dt.date(2005, 1, 1) if entity_type == EntityType.INDIVIDUAL_BUSINESS else EARLIEST_REGISTRATION
        return PlannedEntity(
            uscc=self._uscc(entity_type),
            name=self._entity_name(entity_type, trade),
            type=entity_type,
            region=street,
            industry=industry,
            address=address,
            status=rng.choices(list(EntityStatus), weights=[92, 4, 4])[0],
            registered_on=self._date_between(earliest, self.latest_registration),
        )

    def _uscc(self, entity_type: EntityType) -> str:
        while True:
            body = "".join(self.rng.choice(ALPHABET) for _ in range(8))
            first17 = USCC_PREFIXES[entity_type] + XICHENG + body + organisation_check_char(body)
            code = first17 + uscc_check_char(first17)
            if code not in self.usccs:
                self.usccs.add(code)
                return code

    def _entity_name(self, entity_type: EntityType, trade: str) -> str:
        for attempt in range(50):
            words = "".join(self.rng.sample(data.NAME_WORDS, 2 if attempt < 20 else 3))
            if entity_type == EntityType.ENTERPRISE:
                name = f"北京{words}{trade}{self.rng.choice(data.ENTERPRISE_SUFFIXES)}"
            elif entity_type == EntityType.INDIVIDUAL_BUSINESS:
                name = f"北京市西城区{words}{trade}{self.rng.choice(data.INDIVIDUAL_SUFFIXES)}"
            else:
                name = f"北京{words}{trade}{data.COOPERATIVE_SUFFIX}"
            if name not in self.names:
                self.names.add(name)
                return name
        raise RuntimeError("ran out of distinct entity names")  # 59,280 three-word names per trade and suffix

    def _person(self, latest_birth: dt.date) -> PlannedPerson:
        rng = self.rng
        regions, weights = zip(*data.ID_REGIONS, strict=True)
        birth = self._date_between(EARLIEST_BIRTH, max(EARLIEST_BIRTH, min(LATEST_BIRTH, latest_birth)))
        while True:
            first17 = f"{rng.choices(regions, weights=weights)[0]}{birth:%Y%m%d}{rng.randint(1, 999):03d}"
            number = first17 + id_check_char(first17)
            if number not in self.id_numbers:
                self.id_numbers.add(number)
                break
        given = rng.choice(data.GIVEN_NAMES)
        if len(given) == 1 and rng.random() < 0.5:
            given += rng.choice(data.GIVEN_NAMES)[0]
        return PlannedPerson(number, rng.choice(data.SURNAMES) + given)

    def _adult_on(self, day: dt.date) -> dt.date:
        """The latest birth date of someone old enough to be appointed on ``day``."""
        return day.replace(year=day.year - MIN_REPRESENTATIVE_AGE_YEARS, day=min(day.day, 28))

    def _assign_representatives(self, entities: list[PlannedEntity]) -> list[tuple[PlannedPerson, list[PlannedEntity]]]:
        """Multi-company persons first, then successions, then one new person per remaining entity.

        Returns the multi-company persons with their companies; the first has three, for the
        "red follows the person" scenario.
        """
        rng = self.rng
        pool = [e for e in entities if e.type == EntityType.ENTERPRISE and e.status == EntityStatus.ACTIVE]
        rng.shuffle(pool)
        multi: list[tuple[PlannedPerson, list[PlannedEntity]]] = []
        for index in range(min(15, max(3, len(entities) // 50))):
            companies = [pool.pop() for _ in range(3 if index == 0 else rng.randint(2, 4))]
            person = self._person(self._adult_on(min(company.registered_on for company in companies)))
            for company in companies:
                company.representatives.append((company.registered_on, person))
            multi.append((person, companies))

        cutoff = self.today - dt.timedelta(days=3 * 365)
        candidates = [e for e in entities if not e.representatives and e.registered_on <= cutoff]
        for entity in rng.sample(candidates, min(len(candidates), round(len(entities) * SUCCESSION_SHARE))):
            since = self._date_between(
                entity.registered_on + dt.timedelta(days=365), self.today - dt.timedelta(days=30)
            )
            entity.representatives.append((entity.registered_on, self._person(self._adult_on(entity.registered_on))))
            entity.representatives.append((since, self._person(self._adult_on(since))))

        for entity in entities:
            if not entity.representatives:
                entity.representatives.append(
                    (entity.registered_on, self._person(self._adult_on(entity.registered_on)))
                )
        return multi

    # -- records --

    def _plan_scenarios(
        self, active: list[PlannedEntity], multi: list[tuple[PlannedPerson, list[PlannedEntity]]]
    ) -> None:
        rng = self.rng
        taken: list[PlannedEntity] = []

        def take() -> PlannedEntity:
            entity = active[len(taken)]
            taken.append(entity)
            return entity

        # Orange: one agency's records on one entity come from three of its departments.
        for agency in ("SAMR", "FDA", "TAX"):
            entity = take()
            for department in rng.sample(self.departments[agency], 3):
                self._record("orange", agency, entity, department=department)
        # Yellow: two departments of one agency.
        for agency in ("TAX", "SAMR", "FDA", "HRSS", "HOUSING", "EPB"):
            entity = take()
            for department in rng.sample(self.departments[agency], 2):
                self._record("yellow_departments", agency, entity, department=department)
        # Yellow: one agency graded two risk records high.
        for agency in ("SAMR", "SAFETY"):
            entity = take()
            department = rng.choice(self.departments[agency])
            for _ in range(2):
                self._record("yellow_high_risk", agency, entity, department=department, level=RiskLevel.HIGH)
        # Red: shared or public records from two or three agencies.
        for agencies in (
            ("TAX", "SAMR"),
            ("SAMR", "FDA"),
            ("FDA", "HEALTH", "CITYMGMT"),
            ("HRSS", "TAX"),
            ("FIRE", "SAFETY", "SAMR"),
        ):
            entity = take()
            for agency in agencies:
                openness = Openness.PUBLIC if rng.random() < 0.2 else Openness.SHARED
                self._record("red", agency, entity, openness=openness)
        # Not red: the second agency's record is private, and private records never count toward red.
        entity = take()
        self._record("private_not_red", "TAX", entity, openness=Openness.SHARED)
        self._record("private_not_red", "SAMR", entity, openness=Openness.PRIVATE)

        # Red follows the person: three companies of one person, each touched by a different agency.
        person, companies = multi[0]
        for agency, company in zip(("TAX", "SAMR", "FDA"), companies, strict=True):
            self._record("person_red", agency, company, openness=Openness.SHARED)
        # A record naming a person directly, plus one on a company of theirs: red through the person.
        person, companies = multi[1]
        self._record("person_named", "HRSS", None, person=person, category="拖欠工资", openness=Openness.SHARED)
        self._record("person_named", "SAMR", companies[0], openness=Openness.SHARED)
        # Records naming an entity and its current legal representative, and one private person record.
        for agency in ("CITYMGMT", "SAFETY"):
            entity = take()
            since, representative = entity.current_representative
            self._record("person_named", agency, entity, person=representative, not_before=since)
        _, representative = take().current_representative
        self._record("person_named", "TAX", None, person=representative, category="欠缴税费", openness=Openness.PRIVATE)

        # Corrected later (see _plan_corrections): a risk grade raised, an occurrence date fixed.
        self._record("corrected", "TAX", take(), level=RiskLevel.MEDIUM)
        self._record("corrected", "SAMR", take(), not_before=self.window_start + dt.timedelta(days=7))

        # The random records go to the entities no scenario uses.
        del active[: len(taken)]

    def _plan_fill(self, active: list[PlannedEntity], *, target: int) -> None:
        agencies, weights = zip(*AGENCY_WEIGHTS.items(), strict=True)
        # Every agency has records, however small the district: each agency's pages should show something.
        for agency in agencies:
            if not any(record.agency == agency for record in self.records):
                self._record("fill", agency, self.rng.choice(active))
        while len(self.records) < target:
            agency = self.rng.choices(agencies, weights=weights)[0]
            self._record("fill", agency, self.rng.choice(active))

    def _record(
        self,
        scenario: str,
        agency: str,
        entity: PlannedEntity | None,
        *,
        person: PlannedPerson | None = None,
        department: str | None = None,
        level: RiskLevel | None = None,
        openness: Openness | None = None,
        category: str | None = None,
        not_before: dt.date | None = None,
    ) -> None:
        rng = self.rng
        if level is not None or category in data.CATEGORIES["risk"]:
            kind = RecordKind.RISK
        elif category is not None:
            kind = RecordKind.PENALTY
        else:
            kind = rng.choices([RecordKind.RISK, RecordKind.PENALTY], weights=[65, 35])[0]
        if kind == RecordKind.RISK and level is None:
            level = rng.choices(list(RISK_LEVEL_WEIGHTS), weights=list(RISK_LEVEL_WEIGHTS.values()))[0]
        if category is None:
            category = self._category(agency, kind)
        if openness is None:
            options = OPENNESS_WEIGHTS[kind]
            openness = rng.choices(list(options), weights=list(options.values()))[0]
        earliest = self.window_start
        if entity is not None:
            earliest = max(earliest, entity.registered_on + dt.timedelta(days=1))
        if not_before is not None:
            earliest = max(earliest, not_before)
        subject_name = entity.name if entity is not None else person.name if person is not None else ""
        self.records.append(
            PlannedRecord(
                agency=agency,
                department=department or rng.choice(self.departments[agency]),
                kind=kind,
                risk_level=level if kind == RecordKind.RISK else None,
                openness=openness,
                category=category,
                description=data.DESCRIPTIONS[category].format(name=subject_name),
                occurred_on=self._date_between(earliest, self.today),
                source=RecordSource.BATCH if rng.random() < 0.6 else RecordSource.FORM,
                entity_uscc=entity.uscc if entity is not None else None,
                person=person,
                scenario=scenario,
            )
        )

    def _category(self, agency: str, kind: RecordKind) -> str:
        own = [cat for cat, owner in data.AGENCY_ONLY_CATEGORIES.items() if owner == agency]
        if kind == RecordKind.RISK and own and self.rng.random() < 0.5:
            return self.rng.choice(own)
        allowed = [cat for cat in data.CATEGORIES[kind.value] if cat not in data.AGENCY_ONLY_CATEGORIES]
        return self.rng.choice(allowed)

    def _number_records_and_plan_corrections(self) -> list[PlannedCorrection]:
        """Give each agency's records increasing reference numbers by date; plan the two corrections."""
        counters: dict[str, int] = defaultdict(int)
        for record in sorted(self.records, key=lambda r: (r.agency, r.occurred_on)):
            counters[record.agency] += 1
            record.source_ref = f"{record.agency}-{record.occurred_on.year}-{counters[record.agency]:06d}"
        raised, redated = (record for record in self.records if record.scenario == "corrected")
        return [
            PlannedCorrection(
                raised.agency,
                raised.source_ref,
                {"risk_level": RiskLevel.HIGH},
                data.CORRECTION_REASONS["risk_level"],
            ),
            PlannedCorrection(
                redated.agency,
                redated.source_ref,
                {"occurred_on": redated.occurred_on - dt.timedelta(days=7)},
                data.CORRECTION_REASONS["occurred_on"],
            ),
        ]

    def _date_between(self, first: dt.date, last: dt.date) -> dt.date:
        return first + dt.timedelta(days=self.rng.randint(0, max(0, (last - first).days)))


# --- loading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    agency_code: str
    agency_name: str
    role: str


@dataclass
class DemoReport:
    counts: dict[str, int]
    logins: list[DemoLogin]


def existing_data(session: Session) -> dict[str, int]:
    """What would make the database non-empty for the demo: agencies, entities and users."""
    return {
        "agencies": session.scalar(select(func.count()).select_from(Agency)) or 0,
        "entities": session.scalar(select(func.count()).select_from(Entity)) or 0,
        "users": session.scalar(select(func.count()).select_from(User)) or 0,
    }


def has_demo_logins(session: Session) -> bool:
    """Whether every demo account exists, i.e. the database most likely holds the demo district."""
    usernames = [username for username, *_ in data.USERS]
    found = session.scalar(select(func.count()).select_from(User).where(User.username.in_(usernames))) or 0
    return found == len(usernames)


def load_demo(
    session: Session,
    *,
    cipher: PersonalDataCipher,
    actor: Actor,
    today: dt.date,
    seed: int = DEFAULT_SEED,
    entity_count: int = DEFAULT_ENTITIES,
    thresholds: Thresholds | None = None,
    acknowledge_days: Mapping[str, int] | None = None,
) -> DemoReport:
    """Load the demo district into an empty database; flushes, never commits.

    Ends with a full evaluation of the warnings (default thresholds unless given), so the demo
    opens with its yellow, orange and red warnings in place.
    Raises ``DatabaseNotEmpty`` (before writing anything) if agencies, entities or users exist.
    """
    counts = existing_data(session)
    if any(counts.values()):
        raise DatabaseNotEmpty(counts)
    plan = plan_demo(seed, entity_count, today=today)

    agencies = import_agencies(session, plan.agency_rows(), actor=actor)
    registry = import_registry(session, plan.registry_rows(), actor=actor, cipher=cipher, today=today)
    users, logins = _add_users(session, actor)
    batches, records = _insert_records(session, plan, cipher, users)
    for correction in plan.corrections:
        _apply_correction(session, correction, users)

    result = {
        "agencies": agencies.agencies.created,
        "departments": agencies.departments.created,
        "entities": registry.entities.created,
        "persons": registry.persons.created,
        "legal_rep_roles": registry.roles_created,
        "users": len(users),
        "records": records,
        "corrections": len(plan.corrections),
        "batches": batches,
    }
    # A bulk load leaves the planner without statistics until autovacuum comes round (a minute or
    # more on PostgreSQL, never on SQLite): the evaluation and the first users would get plans made
    # for empty tables. The full evaluation refreshes the warnings' own.
    for table in ("entities", "persons", "entity_person_roles", "records"):
        analyze(session, table)
    # The corrections above queued incremental evaluations; this full run covers them too.
    evaluation = evaluate_warnings(
        session,
        thresholds=thresholds or Thresholds(),
        acknowledge_days=dict(acknowledge_days if acknowledge_days is not None else Settings().acknowledge_days),
        actor=actor,
        tag=AuditTag.CLI_WARNINGS_EVALUATE,
        as_of=today,
        trigger="demo",
    )
    result["warnings"] = evaluation.opened
    result.update(_add_inspections(session, actor, random.Random(seed), today))  # noqa: S311 -- reproducible demo names, not secrets
    record_event(
        session,
        AuditTag.CLI_DEMO_LOAD,
        actor=actor,
        data={"seed": seed, "today": today.isoformat(), **result},
    )
    return DemoReport(result, logins)


def _add_inspections(session: Session, actor: Actor, rng: random.Random, today: dt.date) -> dict[str, int]:
    """The two directories through their imports, then a published draw with results and a frozen one."""
    from signalhub_ingest.inspection_directories import import_inspectors, import_items
    from signalhub_platform.inspections.directory import DrawSpec
    from signalhub_platform.inspections.services import (
        create_draw,
        publish_draw,
        record_result,
        run_draw,
        set_dice,
    )

    item_rows = [
        (n, {"agency_code": a, "item_code": c, "name": name, "legal_basis": basis, "market_supervision": str(ms)})
        for n, (a, c, name, basis, ms) in enumerate(data.INSPECTION_ITEMS, start=2)
    ]
    import_items(session, item_rows, actor=actor)
    inspector_rows = []
    for agency, count, items in data.INSPECTOR_POOLS:
        for i in range(1, count + 1):
            name = rng.choice(data.SURNAMES) + rng.choice(data.GIVEN_NAMES) + rng.choice(data.GIVEN_NAMES)
            row = {"agency_code": agency, "name": name, "certificate_no": f"11010{agency}{i:04d}", "items": items}
            inspector_rows.append((len(inspector_rows) + 2, {**row, "active": "false" if i == count else "true"}))
    import_inspectors(session, inspector_rows, actor=actor)

    started = dt.datetime.combine(today - dt.timedelta(days=30), dt.time(2, 0), tzinfo=dt.UTC)
    finished = create_draw(
        session,
        DrawSpec(
            name=f"{today.year}年第三季度双随机联合抽查",
            agencies=("SAMR", "TAX"),
            strategy="stratified",
            strata={"red": {"count": 3}, "orange": {"count": 2}, "yellow": {"count": 2}, "none": {"count": 8}},
            items=("SAMR:SC-01", "TAX:SW-01"),
        ),
        actor=actor,
        source="cli",
        now=started,
    )
    set_dice(session, finished.id, data.DEMO_DRAW_DICE, actor=actor, source="cli")
    run_draw(session, finished.id, actor=actor, source="cli", now=started)
    publish_draw(session, finished.id, actor=actor, source="cli")
    for target, outcome in zip(finished.targets, data.DEMO_DRAW_OUTCOMES, strict=False):
        record_result(
            session,
            finished.id,
            target.entity.uscc,
            outcome,
            actor=actor,
            inspected_on=today - dt.timedelta(days=rng.randint(1, 20)),
            notes="检查组现场核查",
            source="cli",
        )
    create_draw(
        session,
        DrawSpec(
            name=f"{today.year}年第四季度双随机联合抽查",
            agencies=("SAMR", "TAX", "FDA"),
            targets=20,
            items=("SAMR:SC-02", "TAX:SW-02", "FDA:YJ-01"),
        ),
        actor=actor,
        source="cli",
    )
    return {"inspection_items": len(item_rows), "inspectors": len(inspector_rows), "draws": 2}


def _add_users(session: Session, actor: Actor) -> tuple[dict[str, User], list[DemoLogin]]:
    """One user per role through ``add_user``, then the published demo password instead of a one-time one.

    The pledge stays unaccepted: a newcomer should meet the confidentiality pledge at first login.
    """
    names = {code: name for code, name, _ in data.AGENCIES}
    # One hash (one salt) for the one published password: separate salts would protect nothing here
    # and cost a tenth of a second per user with the production argon2 parameters.
    demo_hash = hash_password(DEMO_PASSWORD)
    users: dict[str, User] = {}
    logins = []
    for username, agency_code, role, display_name in data.USERS:
        user, _one_time_password = add_user(
            session, username, agency_code, [role], actor=actor, display_name=display_name
        )
        check_password_policy(user, DEMO_PASSWORD)
        user.password_hash = demo_hash
        user.must_change_password = False
        users[username] = user
        logins.append(DemoLogin(username, DEMO_PASSWORD, agency_code, names.get(agency_code, "联席会办公室"), role))
    session.flush()
    return users, logins


def _insert_records(
    session: Session, plan: DemoPlan, cipher: PersonalDataCipher, users: Mapping[str, User]
) -> tuple[int, int]:
    """Committed batches per agency and quarter, then every record in one executemany; returns the counts."""
    now = utcnow()
    agency_ids = dict(session.execute(select(Agency.code, Agency.id)).all())
    department_ids = {
        (code, department_code): department_id
        for code, department_code, department_id in session.execute(
            select(Agency.code, Department.code, Department.id).join(Department, Department.agency_id == Agency.id)
        )
    }
    entity_ids = dict(session.execute(select(Entity.uscc, Entity.id)).all())
    person_ids = dict(session.execute(select(Person.id_blind_index, Person.id)).all())
    liaisons = {user.agency.code: user for user in users.values() if user.agency and Role.LIAISON in user.roles}
    office = users["office"]

    in_batches: dict[tuple[str, str], list[PlannedRecord]] = defaultdict(list)
    for record in plan.records:
        if record.source == RecordSource.BATCH:
            in_batches[(record.agency, _quarter(record.occurred_on))].append(record)
    batches: dict[tuple[str, str], Batch] = {}
    for (agency, period), members in sorted(in_batches.items()):
        uploader = liaisons.get(agency, office)
        committed_at = min(now, _at(_quarter_end(members[0].occurred_on) + dt.timedelta(days=10), hour=10))
        digest = hashlib.sha256(f"signalhub demo {plan.seed} {agency} {period}".encode()).hexdigest()
        batches[(agency, period)] = Batch(
            agency_id=agency_ids[agency],
            uploaded_by_id=uploader.id,
            is_on_behalf=uploader is office,
            period=period,
            filename=f"{agency.lower()}-{period}.xlsx",
            file_sha256=digest,
            content_sha256=digest,
            state=BatchState.COMMITTED,
            row_count=len(members),
            inserted_count=len(members),
            created_at=committed_at - dt.timedelta(minutes=3),
            committed_at=committed_at,
        )
    session.add_all(batches.values())
    session.flush()

    rows = []
    for index, record in enumerate(plan.records):
        batch = (
            batches.get((record.agency, _quarter(record.occurred_on))) if record.source == RecordSource.BATCH else None
        )
        if batch is not None:
            created_by_id, created_at = batch.uploaded_by_id, batch.committed_at
        else:
            liaison = liaisons.get(record.agency)
            created_by_id = liaison.id if liaison else None
            created_at = min(now, _at(record.occurred_on + dt.timedelta(days=index % 8), hour=9 + index % 8))
        rows.append(
            {
                "agency_id": agency_ids[record.agency],
                "department_id": department_ids[(record.agency, record.department)],
                "kind": record.kind,
                "risk_level": record.risk_level,
                "openness": record.openness,
                "entity_id": entity_ids[record.entity_uscc] if record.entity_uscc else None,
                "person_id": person_ids[cipher.blind_index(record.person.id_number)] if record.person else None,
                "category": record.category,
                "description": record.description,
                "occurred_on": record.occurred_on,
                "source_ref": record.source_ref,
                "source": record.source,
                "batch_id": batch.id if batch is not None else None,
                "created_by_id": created_by_id,
                "created_at": created_at,
            }
        )
    session.execute(insert(Record), rows)
    return len(batches), len(rows)


def _apply_correction(session: Session, correction: PlannedCorrection, users: Mapping[str, User]) -> None:
    """A second version through the real correction service, shown as made by the agency's liaison.

    Tagged ``cli:demo:load`` rather than ``web:record:correct``: the audit log says truthfully
    that the demo loader wrote it.
    """
    liaison = users[f"{correction.agency.lower()}.liaison"]
    record_id = session.scalars(
        select(Record.id).where(
            Record.agency_id == liaison.agency_id, Record.source_ref == correction.source_ref, Record.is_current
        )
    ).one()
    correct_record(
        session,
        Actor.for_user(liaison),
        record_id,
        correction.changes,
        reason=correction.reason,
        tag=AuditTag.CLI_DEMO_LOAD,
    )


def _quarter(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _quarter_end(day: dt.date) -> dt.date:
    last_month = ((day.month - 1) // 3 + 1) * 3
    next_month = dt.date(day.year + last_month // 12, last_month % 12 + 1, 1)
    return next_month - dt.timedelta(days=1)


def _at(day: dt.date, *, hour: int) -> dt.datetime:
    """Office hours in Beijing (UTC+8), as the UTC datetime the columns store."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone(dt.timedelta(hours=8))).astimezone(dt.UTC)
