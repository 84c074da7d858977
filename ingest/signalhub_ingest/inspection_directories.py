"""Imports of the two directories (两库) of double random inspections: items and inspectors.

Same conventions as ``reference``: rows are ``(row_number, {column: text})`` from ``readers``;
every row is validated first and all problems are reported together (``ImportRejected``), so a
rejected file writes nothing; a valid one is upserted by natural key (agency code + item code;
certificate number), idempotently, with one audit event per import. Flushes, never commits.

An inspector's row is the whole truth about their qualifications: re-importing replaces them
with the file's list. Items and inspectors absent from a later file are left alone (deactivate
an inspector with ``active = false``, since past draws still name them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_ingest.reference import Cells, Counts, ImportRejected, RowError, Rows
from signalhub_platform.models import Actor, Agency, InspectionItem, Inspector, InspectorQualification
from signalhub_platform.models.types import utcnow

ITEM_COLUMNS = ("agency_code", "item_code", "name", "legal_basis", "market_supervision")
INSPECTOR_COLUMNS = ("agency_code", "name", "certificate_no", "items", "active")

BOOLEAN_WORDS: dict[str, bool] = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "是": True,
    "否": False,
}
# Operators type the Chinese semicolon as often as the ASCII one.
_ITEM_SEPARATORS = str.maketrans({"；": ";"})


@dataclass
class ItemImportReport:
    rows: int = 0
    items: Counts = field(default_factory=Counts)

    def summary(self) -> str:
        return f"{self.rows} rows; items: {self.items}"


@dataclass
class InspectorImportReport:
    rows: int = 0
    inspectors: Counts = field(default_factory=Counts)
    qualifications_added: int = 0
    qualifications_removed: int = 0

    def summary(self) -> str:
        return (
            f"{self.rows} rows; inspectors: {self.inspectors}; "
            f"qualifications: {self.qualifications_added} added, {self.qualifications_removed} removed"
        )


def _boolean(cells: Cells, column: str, *, default: bool | None = None) -> bool:
    raw = cells.text(column, required=default is None)
    if not raw:
        return bool(default)
    value = BOOLEAN_WORDS.get(raw.lower())
    if value is None:
        cells.fail(column, f"not a yes/no value: {raw!r} (use true/false, 是/否 or 1/0)")
        return False
    return value


def _agencies(session: Session) -> dict[str, Agency]:
    return {agency.code: agency for agency in session.scalars(select(Agency))}


def _agency(cells: Cells, agencies: Mapping[str, Agency]) -> tuple[str, Agency | None]:
    """The row's agency code and its agency (``None``, with the error recorded, if unknown)."""
    agency_code = cells.code("agency_code", 32)
    agency = agencies.get(agency_code)
    if agency_code and agency is None:
        cells.fail("agency_code", f"unknown agency {agency_code!r}")
    return agency_code, agency


# --- items -------------------------------------------------------------------------------------


@dataclass
class _ItemRow:
    row: int
    agency: Agency
    item_code: str
    name: str
    legal_basis: str
    is_market_supervision: bool


def import_items(session: Session, rows: Rows, *, actor: Actor, file_sha256: str = "") -> ItemImportReport:
    """Create or update inspection items, keyed by (agency code, item code).

    Raises ``ImportRejected`` listing every invalid row before writing anything.
    """
    agencies = _agencies(session)
    parsed: dict[tuple[int, str], _ItemRow] = {}
    errors: list[RowError] = []
    count = 0
    for row_number, values in rows:
        count += 1
        cells = Cells(row_number, values, ITEM_COLUMNS)
        agency_code, agency = _agency(cells, agencies)
        item_code = cells.code("item_code", 32)
        name = cells.text("name", required=True, max_length=200)
        legal_basis = cells.text("legal_basis", required=False)
        is_market = _boolean(cells, "market_supervision")
        if cells.errors or agency is None:
            errors.extend(cells.sorted_errors())
            continue
        earlier = parsed.get((agency.id, item_code))
        if earlier is not None:
            errors.append(RowError(row_number, "item_code", f"{item_code} of {agency_code} repeats row {earlier.row}"))
            continue
        parsed[(agency.id, item_code)] = _ItemRow(row_number, agency, item_code, name, legal_basis, is_market)
    if errors:
        raise ImportRejected(errors)

    report = ItemImportReport(rows=count)
    existing = {
        (item.agency_id, item.item_code): item
        for item in session.scalars(
            select(InspectionItem).where(InspectionItem.agency_id.in_({key[0] for key in parsed}))
        )
    }
    for key, row in parsed.items():
        item = existing.get(key)
        if item is None:
            session.add(
                InspectionItem(
                    agency_id=row.agency.id,
                    item_code=row.item_code,
                    name=row.name,
                    legal_basis=row.legal_basis,
                    is_market_supervision=row.is_market_supervision,
                )
            )
            report.items.created += 1
        elif (item.name, item.legal_basis, item.is_market_supervision) != (
            row.name,
            row.legal_basis,
            row.is_market_supervision,
        ):
            item.name, item.legal_basis, item.is_market_supervision = (
                row.name,
                row.legal_basis,
                row.is_market_supervision,
            )
            report.items.updated += 1
        else:
            report.items.unchanged += 1
    session.flush()
    record_event(
        session,
        AuditTag.CLI_ITEMS_IMPORT,
        actor=actor,
        data={"file_sha256": file_sha256, "rows": count, "items": report.items.as_dict()},
    )
    return report


# --- inspectors --------------------------------------------------------------------------------


@dataclass
class _InspectorRow:
    row: int
    agency: Agency
    name: str
    item_ids: frozenset[int]
    is_active: bool


def import_inspectors(
    session: Session,
    rows: Rows,
    *,
    actor: Actor,
    file_sha256: str = "",
    tag: AuditTag = AuditTag.CLI_INSPECTORS_IMPORT,
) -> InspectorImportReport:
    """Create or update inspectors by certificate number and replace their qualifications.

    ``items`` lists item codes of the inspector's own agency, separated by ``;`` (blank: none);
    ``active`` is true/false, 是/否 or 1/0 (blank: true). Raises ``ImportRejected`` listing every
    invalid row before writing anything.
    """
    agencies = _agencies(session)
    item_ids: dict[tuple[int, str], int] = {
        (agency_id, code): item_id
        for item_id, agency_id, code in session.execute(
            select(InspectionItem.id, InspectionItem.agency_id, InspectionItem.item_code)
        )
    }
    parsed: dict[str, _InspectorRow] = {}
    first_rows: dict[str, int] = {}  # certificate number -> first row, valid or not
    errors: list[RowError] = []
    count = 0
    for row_number, values in rows:
        count += 1
        cells = Cells(row_number, values, INSPECTOR_COLUMNS)
        agency_code, agency = _agency(cells, agencies)
        name = cells.text("name", required=True, max_length=100)
        certificate_no = cells.text("certificate_no", required=True, max_length=64)
        raw_items = cells.text("items", required=False).translate(_ITEM_SEPARATORS)
        is_active = _boolean(cells, "active", default=True)
        qualified: set[int] = set()
        if agency is not None:
            codes = [code.strip() for code in raw_items.split(";") if code.strip()]
            unknown = [code for code in codes if (agency.id, code) not in item_ids]
            if unknown:
                cells.fail("items", f"unknown item codes of {agency_code}: {', '.join(unknown)}")
            qualified = {item_ids[(agency.id, code)] for code in codes if code not in unknown}
        if certificate_no in first_rows:
            cells.fail("certificate_no", f"{certificate_no} repeats row {first_rows[certificate_no]}")
        elif certificate_no:
            first_rows[certificate_no] = row_number
        if cells.errors or agency is None:
            errors.extend(cells.sorted_errors())
            continue
        parsed[certificate_no] = _InspectorRow(row_number, agency, name, frozenset(qualified), is_active)
    if errors:
        raise ImportRejected(errors)

    report = InspectorImportReport(rows=count)
    existing = {
        inspector.certificate_no: inspector
        for inspector in session.scalars(
            select(Inspector)
            .where(Inspector.certificate_no.in_(list(parsed)))
            .options(selectinload(Inspector.qualifications))
        )
    }
    for certificate_no, row in parsed.items():
        inspector = existing.get(certificate_no)
        if inspector is None:
            inspector = Inspector(
                agency_id=row.agency.id,
                name=row.name,
                certificate_no=certificate_no,
                is_active=row.is_active,
                qualifications=[InspectorQualification(item_id=item_id) for item_id in sorted(row.item_ids)],
            )
            session.add(inspector)
            report.inspectors.created += 1
            report.qualifications_added += len(row.item_ids)
            continue
        held = {qualification.item_id for qualification in inspector.qualifications}
        changed = (inspector.agency_id, inspector.name, inspector.is_active) != (row.agency.id, row.name, row.is_active)
        if held != row.item_ids:
            changed = True
            inspector.qualifications = [q for q in inspector.qualifications if q.item_id in row.item_ids] + [
                InspectorQualification(item_id=item_id) for item_id in sorted(row.item_ids - held)
            ]
            report.qualifications_added += len(row.item_ids - held)
            report.qualifications_removed += len(held - row.item_ids)
        if changed:
            inspector.agency_id, inspector.name, inspector.is_active = row.agency.id, row.name, row.is_active
            # A qualification-only change must still move updated_at (onupdate needs a column change).
            inspector.updated_at = utcnow()
            report.inspectors.updated += 1
        else:
            report.inspectors.unchanged += 1
    session.flush()
    record_event(
        session,
        tag,
        actor=actor,
        data={
            "file_sha256": file_sha256,
            "rows": count,
            "inspectors": report.inspectors.as_dict(),
            "qualifications": {"added": report.qualifications_added, "removed": report.qualifications_removed},
        },
    )
    return report
