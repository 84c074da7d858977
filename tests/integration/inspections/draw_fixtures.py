"""Agencies, items, inspectors and entities for draw tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from signalhub_platform.inspections.directory import DrawSpec
from signalhub_platform.models import (
    Agency,
    Entity,
    InspectionItem,
    Inspector,
    InspectorQualification,
)
from tests.factories import make_agency, make_entity, make_uscc

DICE = "31415926535897932384"


@dataclass
class Directory:
    samr: Agency
    tax: Agency
    items: dict[str, InspectionItem]
    inspectors: dict[str, Inspector]
    entities: list[Entity]


def make_item(session: Session, agency: Agency, code: str) -> InspectionItem:
    item = InspectionItem(agency_id=agency.id, item_code=code, name=f"抽查事项{code}", legal_basis="《条例》")
    session.add(item)
    session.flush()
    return item


def make_inspector(
    session: Session, agency: Agency, certificate_no: str, items: tuple[InspectionItem, ...] = (), active: bool = True
) -> Inspector:
    inspector = Inspector(
        agency_id=agency.id, name=f"检查员{certificate_no}", certificate_no=certificate_no, is_active=active
    )
    inspector.qualifications = [InspectorQualification(item_id=item.id) for item in items]
    session.add(inspector)
    session.flush()
    return inspector


def make_directory(session: Session, entities: int = 40) -> Directory:
    samr = make_agency(session, "SAMR")
    tax = make_agency(session, "TAX")
    items = {"SAMR:M1": make_item(session, samr, "M1"), "TAX:T1": make_item(session, tax, "T1")}
    inspectors = {}
    for agency, item in ((samr, items["SAMR:M1"]), (tax, items["TAX:T1"])):
        for n in range(1, 4):
            cert = f"{agency.code}-{n:03d}"
            inspectors[cert] = make_inspector(session, agency, cert, (item,))
    inspectors["SAMR-900"] = make_inspector(session, samr, "SAMR-900", (items["SAMR:M1"],), active=False)
    inspectors["SAMR-901"] = make_inspector(session, samr, "SAMR-901", ())
    rows = [
        make_entity(
            session, name=f"抽查对象{i}有限公司", uscc=make_uscc(), region="金融街街道" if i % 2 else "月坛街道"
        )
        for i in range(entities)
    ]
    return Directory(samr, tax, items, inspectors, rows)


def spec(**overrides: object) -> DrawSpec:
    values: dict[str, object] = {
        "name": "2026年第四季度联合抽查",
        "agencies": ("SAMR", "TAX"),
        "targets": 5,
        "items": ("SAMR:M1", "TAX:T1"),
    }
    values.update(overrides)
    return DrawSpec(**values)  # type: ignore[arg-type]
