"""Reference data imports: member agencies with their departments, and the business registry.

Both imports take already-read rows (``(row_number, {column: text})`` from ``readers``) and run
in two passes: every row is validated first and *all* problems are collected (an operator fixes
a file once, not once per error); only a fully valid file is written. So a rejected file writes
nothing at all, and a written one is complete when the caller commits.

Both are idempotent upserts keyed by natural keys (agency code + department code; USCC; the ID
number's blind index): importing the same file again changes no row and reports everything as
unchanged. Rows absent from a later file are left alone: the registry export is a snapshot of
what it lists, not of the whole district.

The registry import is sized for 100k+ rows (PERF.md): validation is plain Python, existing
entities, persons and roles are preloaded with one query each per chunk of entities, and writes
are Core executemany statements by primary key, never one ORM object per row.

ID numbers are personal data: they are sealed (encrypted and blind-indexed) during validation,
and error messages carry row numbers and reasons, never the number itself.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, selectinload

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_ingest.personal_data import SealedIdNumber, seal_id_number
from signalhub_platform.crypto import PersonalDataCipher, redact_id_numbers
from signalhub_platform.identifiers.normalise import CheckStatus
from signalhub_platform.identifiers.resident_id import validate_id_number
from signalhub_platform.identifiers.uscc import validate_uscc
from signalhub_platform.models import (
    PLATFORM_OFFICE_CODE,
    Actor,
    Agency,
    CodeStatus,
    Department,
    Entity,
    EntityPersonRole,
    EntityStatus,
    EntityType,
    Person,
    RoleKind,
)
from signalhub_platform.models.types import utcnow

AGENCY_COLUMNS = ("agency_code", "agency_name", "department_code", "department_name")
REGISTRY_COLUMNS = (
    "uscc",
    "name",
    "type",
    "region",
    "industry",
    "address",
    "status",
    "registered_on",
    "legal_rep_name",
    "legal_rep_id_number",
    "legal_rep_since",
)
# region, industry, address and registered_on may be blank; every other column must be filled.
REGISTRY_REQUIRED = ("uscc", "name", "type", "status", "legal_rep_name", "legal_rep_id_number", "legal_rep_since")

ENTITY_TYPE_WORDS: dict[str, EntityType] = {
    **{member.value: member for member in EntityType},
    "企业": EntityType.ENTERPRISE,
    "个体工商户": EntityType.INDIVIDUAL_BUSINESS,
    "农民专业合作社": EntityType.FARMER_COOPERATIVE,
}
ENTITY_STATUS_WORDS: dict[str, EntityStatus] = {
    **{member.value: member for member in EntityStatus},
    "存续": EntityStatus.ACTIVE,
    "吊销": EntityStatus.REVOKED,
    "注销": EntityStatus.CANCELLED,
}

# Entities per write chunk: each chunk costs three preload queries; 1,000 keeps every IN list far
# below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
CHUNK_ENTITIES = 1000

_CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DATE_PATTERNS = (
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
)

Rows = Iterable[tuple[int, Mapping[str, str]]]


# --- reports and errors ------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.column}: {self.message}"


class ImportRejected(ValueError):
    """The file has invalid rows; nothing was written. ``errors`` lists every one, by row."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = sorted(errors, key=lambda error: error.row)  # stable: a row keeps its column order
        rows = len({error.row for error in self.errors})
        super().__init__(f"{len(self.errors)} errors in {rows} rows; nothing was imported")


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class AgencyImportReport:
    rows: int = 0
    agencies: Counts = field(default_factory=Counts)
    departments: Counts = field(default_factory=Counts)

    def summary(self) -> str:
        return f"{self.rows} rows; agencies: {self.agencies}; departments: {self.departments}"


@dataclass
class RegistryImportReport:
    rows: int = 0
    entities: Counts = field(default_factory=Counts)
    persons: Counts = field(default_factory=Counts)
    roles_created: int = 0
    roles_updated: int = 0

    def summary(self) -> str:
        return (
            f"{self.rows} rows; entities: {self.entities}; persons: {self.persons}; "
            f"legal representative roles: {self.roles_created} created, {self.roles_updated} updated"
        )


def missing_columns(header: Sequence[str], expected: Sequence[str]) -> list[str]:
    """Columns of ``expected`` absent from a file's header: checked once, before any row."""
    present = set(header)
    return [name for name in expected if name not in present]


class Cells:
    """One row's values and the errors found in it (messages are masked of anything ID-shaped).

    Shared by every row-by-row import (here and ``inspection_directories``), so all of them
    check and word required, overlong and code-shaped cells alike.
    """

    def __init__(self, row_number: int, values: Mapping[str, str], columns: Sequence[str]) -> None:
        self.row = row_number
        self.values = values
        self.columns = columns
        self.errors: list[RowError] = []

    def sorted_errors(self) -> list[RowError]:
        """This row's errors in the file's column order, however the checks ran."""
        order = {column: index for index, column in enumerate(self.columns)}
        return sorted(self.errors, key=lambda error: order.get(error.column, len(order)))

    def fail(self, column: str, message: str) -> None:
        self.errors.append(RowError(self.row, column, redact_id_numbers(message)))

    def text(self, column: str, *, required: bool, max_length: int | None = None) -> str:
        value = (self.values.get(column) or "").strip()
        if not value:
            if required:
                self.fail(column, "required")
        elif max_length is not None and len(value) > max_length:
            self.fail(column, f"longer than {max_length} characters")
        return value

    def code(self, column: str, max_length: int) -> str:
        value = self.text(column, required=True, max_length=max_length)
        if value and len(value) <= max_length and not _CODE_PATTERN.fullmatch(value):
            self.fail(column, "only letters, digits, '_', '.' and '-' are allowed")
        return value

    def date(self, column: str, today: dt.date) -> dt.date | None:
        raw = self.text(column, required=column in REGISTRY_REQUIRED)
        if not raw:
            return None
        for pattern in _DATE_PATTERNS:
            match = pattern.fullmatch(raw)
            if match:
                try:
                    value = dt.date(*(int(part) for part in match.groups()))
                except ValueError:
                    break
                if value > today:
                    self.fail(column, f"{value} is in the future")
                    return None
                return value
        self.fail(column, f"not a date: {raw!r} (use YYYY-MM-DD)")
        return None


# --- agencies ----------------------------------------------------------------------------------


@dataclass
class _AgencyRow:
    row: int
    name: str
    departments: dict[str, tuple[int, str]]  # department code -> (row, name)


def import_agencies(
    session: Session,
    rows: Rows,
    *,
    actor: Actor,
    file_sha256: str = "",
    tag: AuditTag = AuditTag.CLI_AGENCIES_IMPORT,
) -> AgencyImportReport:
    """Create or update agencies and their departments (one row per department); flushes, never commits.

    Raises ``ImportRejected`` listing every invalid row before writing anything. Departments
    missing from the file are kept: deleting one would orphan the records filed under it.
    """
    agencies, row_count, errors = _validate_agency_rows(rows)
    if errors:
        raise ImportRejected(errors)

    report = AgencyImportReport(rows=row_count)
    existing = {
        agency.code: agency
        for agency in session.scalars(
            select(Agency).where(Agency.code.in_(list(agencies))).options(selectinload(Agency.departments))
        )
    }
    for code, parsed in agencies.items():
        agency = existing.get(code)
        if agency is None:
            agency = Agency(code=code, name=parsed.name)
            session.add(agency)
            report.agencies.created += 1
        elif agency.name != parsed.name:
            agency.name = parsed.name
            report.agencies.updated += 1
        else:
            report.agencies.unchanged += 1
        departments = {department.code: department for department in agency.departments}
        for department_code, (_, department_name) in parsed.departments.items():
            department = departments.get(department_code)
            if department is None:
                agency.departments.append(Department(code=department_code, name=department_name))
                report.departments.created += 1
            elif department.name != department_name:
                department.name = department_name
                report.departments.updated += 1
            else:
                report.departments.unchanged += 1
    session.flush()
    record_event(
        session,
        tag,
        actor=actor,
        data={
            "file_sha256": file_sha256,
            "rows": row_count,
            "agencies": report.agencies.as_dict(),
            "departments": report.departments.as_dict(),
        },
    )
    return report


def _validate_agency_rows(rows: Rows) -> tuple[dict[str, _AgencyRow], int, list[RowError]]:
    agencies: dict[str, _AgencyRow] = {}
    errors: list[RowError] = []
    count = 0
    for row_number, values in rows:
        count += 1
        cells = Cells(row_number, values, AGENCY_COLUMNS)
        agency_code = cells.code("agency_code", 32)
        agency_name = cells.text("agency_name", required=True, max_length=200)
        department_code = cells.code("department_code", 32)
        department_name = cells.text("department_name", required=True, max_length=200)
        if agency_code.lower() == PLATFORM_OFFICE_CODE:
            cells.fail("agency_code", f"{agency_code!r} is reserved for the platform office")
        if cells.errors:
            errors.extend(cells.sorted_errors())
            continue

        parsed = agencies.setdefault(agency_code, _AgencyRow(row_number, agency_name, {}))
        if parsed.name != agency_name:
            errors.append(
                RowError(row_number, "agency_name", f"differs from row {parsed.row} for agency {agency_code}")
            )
            continue
        earlier = parsed.departments.get(department_code)
        if earlier is not None:
            errors.append(
                RowError(row_number, "department_code", f"{department_code} of {agency_code} repeats row {earlier[0]}")
            )
            continue
        parsed.departments[department_code] = (row_number, department_name)
    return agencies, count, errors


# --- registry ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Representative:
    row: int
    since: dt.date
    name: str
    sealed: SealedIdNumber


@dataclass(slots=True)
class _EntityRows:
    """One entity of the file and its legal representatives in file order."""

    uscc: str
    row: int
    fields: dict[str, Any]
    representatives: list[_Representative]


def import_registry(
    session: Session,
    rows: Rows,
    *,
    actor: Actor,
    cipher: PersonalDataCipher,
    today: dt.date,
    file_sha256: str = "",
    tag: AuditTag = AuditTag.CLI_REGISTRY_IMPORT,
) -> RegistryImportReport:
    """Upsert entities, their legal representatives (persons) and the succession of roles.

    Several rows with one USCC are successive legal representatives: each serves from its
    ``legal_rep_since`` until the next one's. Roles already stored for an entity are kept and
    merged with the file's by start date, so a file listing only the current representative
    closes the previous one instead of erasing the history. ``today`` bounds dates (no future
    registration, appointment or birth) and is a parameter so a whole file is judged by one day.
    Flushes, never commits; raises ``ImportRejected`` (nothing written) if any row is invalid.
    """
    entities, row_count, errors = _validate_registry_rows(rows, cipher=cipher, today=today)
    if errors:
        raise ImportRejected(errors)

    report = RegistryImportReport(rows=row_count)
    session.flush()
    batch = list(entities.values())
    counted_persons: set[str] = set()
    for start in range(0, len(batch), CHUNK_ENTITIES):
        _write_registry_chunk(session, batch[start : start + CHUNK_ENTITIES], report, counted_persons)
    _expire_registry_objects(session)
    record_event(
        session,
        tag,
        actor=actor,
        data={
            "file_sha256": file_sha256,
            "rows": row_count,
            "entities": report.entities.as_dict(),
            "persons": report.persons.as_dict(),
            "roles": {"created": report.roles_created, "updated": report.roles_updated},
        },
    )
    return report


def _validate_registry_rows(
    rows: Rows, *, cipher: PersonalDataCipher, today: dt.date
) -> tuple[dict[str, _EntityRows], int, list[RowError]]:
    entities: dict[str, _EntityRows] = {}
    person_names: dict[str, tuple[int, str]] = {}  # blind index -> (first row, name)
    errors: list[RowError] = []
    count = 0
    for row_number, values in rows:
        count += 1
        cells = Cells(row_number, values, REGISTRY_COLUMNS)
        raw_uscc = cells.text("uscc", required=True)
        name = cells.text("name", required=True, max_length=200)
        raw_type = cells.text("type", required=True)
        region = cells.text("region", required=False, max_length=64)
        industry = cells.text("industry", required=False, max_length=8)
        address = cells.text("address", required=False, max_length=300)
        raw_status = cells.text("status", required=True)
        registered_on = cells.date("registered_on", today)
        rep_name = cells.text("legal_rep_name", required=True, max_length=100)
        raw_id_number = cells.text("legal_rep_id_number", required=True)
        since = cells.date("legal_rep_since", today)

        uscc, uscc_status = "", CodeStatus.VALID
        if raw_uscc:
            code = validate_uscc(raw_uscc)
            if code.status == CheckStatus.INVALID or code.value is None:
                cells.fail("uscc", f"invalid unified social credit code ({code.reason})")
            else:
                uscc, uscc_status = code.value, CodeStatus(code.status.value)
        entity_type = ENTITY_TYPE_WORDS.get(raw_type.lower())
        if raw_type and entity_type is None:
            cells.fail("type", f"unknown type {raw_type!r}: use one of {', '.join(ENTITY_TYPE_WORDS)}")
        entity_status = ENTITY_STATUS_WORDS.get(raw_status.lower())
        if raw_status and entity_status is None:
            cells.fail("status", f"unknown status {raw_status!r}: use one of {', '.join(ENTITY_STATUS_WORDS)}")
        normalised_id: str | None = None
        if raw_id_number:
            checked = validate_id_number(raw_id_number, today=today)
            if checked.status != CheckStatus.VALID or checked.value is None:
                cells.fail("legal_rep_id_number", f"invalid resident ID number ({checked.reason})")
            else:
                normalised_id = checked.value
        if cells.errors or entity_type is None or entity_status is None or since is None or normalised_id is None:
            errors.extend(cells.sorted_errors())
            continue

        fields = {
            "uscc_status": uscc_status,
            "name": name,
            "type": entity_type,
            "region": region,
            "industry": industry,
            "address": address,
            "status": entity_status,
            "registered_on": registered_on,
        }
        sealed = seal_id_number(cipher, normalised_id)
        blind_index = sealed["id_blind_index"]
        first = person_names.setdefault(blind_index, (row_number, rep_name))
        if first[1] != rep_name:
            errors.append(RowError(row_number, "legal_rep_name", f"differs from row {first[0]} for the same ID number"))
            continue
        entity = entities.get(uscc)
        if entity is None:
            entities[uscc] = _EntityRows(
                uscc, row_number, fields, [_Representative(row_number, since, rep_name, sealed)]
            )
            continue
        differing = [column for column, value in fields.items() if entity.fields[column] != value]
        if differing:
            errors.append(
                RowError(row_number, differing[0], f"differs from row {entity.row} for {uscc} ({', '.join(differing)})")
            )
            continue
        repeated = next((rep.row for rep in entity.representatives if rep.since == since), None)
        if repeated is not None:
            errors.append(RowError(row_number, "legal_rep_since", f"{since} for {uscc} repeats row {repeated}"))
            continue
        entity.representatives.append(_Representative(row_number, since, rep_name, sealed))
    return entities, count, errors


def _write_registry_chunk(
    session: Session, chunk: list[_EntityRows], report: RegistryImportReport, counted_persons: set[str]
) -> None:
    """Write one chunk with a fixed number of statements, whatever its size."""
    now = utcnow()
    person_ids = _upsert_persons(session, chunk, report, counted_persons)

    usccs = [parsed.uscc for parsed in chunk]
    existing = {row.uscc: row for row in session.execute(select(*_ENTITY_COLUMNS).where(Entity.uscc.in_(usccs)))}
    new_entities, changed_entities, unchanged = [], [], []
    for uscc, parsed in zip(usccs, chunk, strict=True):
        row = existing.get(uscc)
        if row is None:
            new_entities.append(
                {"uscc": uscc, **parsed.fields, "is_in_registry": True, "created_at": now, "updated_at": now}
            )
        elif any(getattr(row, column) != value for column, value in parsed.fields.items()) or not row.is_in_registry:
            changed_entities.append({"id": row.id, **parsed.fields, "is_in_registry": True, "updated_at": now})
        else:
            unchanged.append(row.id)
    if new_entities:
        session.execute(insert(Entity), new_entities)
        created = [entity["uscc"] for entity in new_entities]
        existing.update(
            (row.uscc, row) for row in session.execute(select(*_ENTITY_COLUMNS).where(Entity.uscc.in_(created)))
        )
    if changed_entities:
        session.execute(update(Entity), changed_entities)

    entity_ids = {uscc: existing[uscc].id for uscc in usccs}
    stored_roles: dict[int, dict[dt.date, Any]] = {}
    for stored_role in session.execute(
        select(
            EntityPersonRole.id,
            EntityPersonRole.entity_id,
            EntityPersonRole.person_id,
            EntityPersonRole.since,
            EntityPersonRole.until,
        ).where(
            EntityPersonRole.entity_id.in_(list(entity_ids.values())),
            EntityPersonRole.role == RoleKind.LEGAL_REPRESENTATIVE,
        )
    ):
        stored_roles.setdefault(stored_role.entity_id, {})[stored_role.since] = stored_role

    new_roles: list[dict[str, Any]] = []
    changed_roles: list[dict[str, Any]] = []
    roles_changed_entities: set[int] = set()
    for uscc, parsed in zip(usccs, chunk, strict=True):
        entity_id = entity_ids[uscc]
        stored = stored_roles.get(entity_id, {})
        holders = {since: role.person_id for since, role in stored.items()}
        holders.update((rep.since, person_ids[rep.sealed["id_blind_index"]]) for rep in parsed.representatives)
        starts = sorted(holders)
        for since, until in zip(starts, [*starts[1:], None], strict=True):
            role = stored.get(since)
            if role is None:
                new_roles.append(
                    {
                        "entity_id": entity_id,
                        "person_id": holders[since],
                        "role": RoleKind.LEGAL_REPRESENTATIVE,
                        "since": since,
                        "until": until,
                    }
                )
                roles_changed_entities.add(entity_id)
            elif role.person_id != holders[since] or role.until != until:
                changed_roles.append({"id": role.id, "person_id": holders[since], "until": until})
                roles_changed_entities.add(entity_id)
    if new_roles:
        session.execute(insert(EntityPersonRole), new_roles)
    if changed_roles:
        session.execute(update(EntityPersonRole), changed_roles)
    report.roles_created += len(new_roles)
    report.roles_updated += len(changed_roles)

    touched_unchanged = roles_changed_entities.intersection(unchanged)
    if touched_unchanged:
        # The entity's own columns did not change but its representatives did: that is an update too.
        session.execute(update(Entity), [{"id": entity_id, "updated_at": now} for entity_id in touched_unchanged])
    report.entities.created += len(new_entities)
    report.entities.updated += len(changed_entities) + len(touched_unchanged)
    report.entities.unchanged += len(unchanged) - len(touched_unchanged)


_ENTITY_COLUMNS = (
    Entity.id,
    Entity.uscc,
    Entity.uscc_status,
    Entity.name,
    Entity.type,
    Entity.region,
    Entity.industry,
    Entity.address,
    Entity.status,
    Entity.registered_on,
    Entity.is_in_registry,
)


def _upsert_persons(
    session: Session, chunk: list[_EntityRows], report: RegistryImportReport, counted_persons: set[str]
) -> dict[str, int]:
    """Create the chunk's new persons and rename changed ones; return blind index -> person id.

    ``counted_persons`` holds the blind indexes already counted in earlier chunks, so a person
    behind entities of several chunks counts once in the report.
    """
    wanted: dict[str, _Representative] = {}
    for parsed in chunk:
        for rep in parsed.representatives:
            wanted.setdefault(rep.sealed["id_blind_index"], rep)
    existing = {
        row.id_blind_index: row
        for row in session.execute(
            select(Person.id, Person.id_blind_index, Person.name).where(Person.id_blind_index.in_(list(wanted)))
        )
    }
    new_persons = [{"name": rep.name, **rep.sealed} for bidx, rep in wanted.items() if bidx not in existing]
    renamed = [
        {"id": row.id, "name": wanted[bidx].name} for bidx, row in existing.items() if row.name != wanted[bidx].name
    ]
    if new_persons:
        session.execute(insert(Person), new_persons)
        created = [person["id_blind_index"] for person in new_persons]
        existing.update(
            (row.id_blind_index, row)
            for row in session.execute(
                select(Person.id, Person.id_blind_index, Person.name).where(Person.id_blind_index.in_(created))
            )
        )
    if renamed:
        session.execute(update(Person), renamed)
    report.persons.created += len(new_persons)
    report.persons.updated += len(renamed)
    report.persons.unchanged += len(wanted.keys() - counted_persons) - len(new_persons) - len(renamed)
    counted_persons.update(wanted)
    return {bidx: row.id for bidx, row in existing.items()}


def _expire_registry_objects(session: Session) -> None:
    """Bulk statements bypass the identity map; loaded entities, persons and roles must reload."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Entity | Person | EntityPersonRole):
            session.expire(obj)


# --- single persons ----------------------------------------------------------------------------


def find_or_create_person(session: Session, cipher: PersonalDataCipher, id_number: str, name: str) -> Person:
    """The person with this ID number (matched by blind index), created if new; flushes.

    Raises ``ValueError`` (without the number) if the ID number is invalid. An existing person's
    name is kept: the registry import is the authority on names.
    """
    checked = validate_id_number(id_number)
    if checked.status != CheckStatus.VALID or checked.value is None:
        raise ValueError(f"invalid resident ID number ({checked.reason})")
    blind_index = cipher.blind_index(checked.value)
    person = session.scalars(select(Person).where(Person.id_blind_index == blind_index)).one_or_none()
    if person is None:
        person = Person(name=name, **seal_id_number(cipher, checked.value))
        session.add(person)
        session.flush()
    return person
