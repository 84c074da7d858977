"""``import_items`` / ``import_inspectors`` and their CLI: idempotent upserts, all-or-nothing, by row."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_ingest.inspection_directories import (
    INSPECTOR_COLUMNS,
    ITEM_COLUMNS,
    import_inspectors,
    import_items,
)
from signalhub_ingest.readers import open_table
from signalhub_ingest.reference import ImportRejected
from signalhub_platform.cli import CliContext, main
from signalhub_platform.models import Actor, AuditEvent, InspectionItem, Inspector, InspectorQualification
from tests.factories import make_agency
from tests.integration.reference.files import snapshot, write_csv

TABLES = ("inspection_items", "inspectors", "inspector_qualifications")


def item_rows() -> list[dict[str, str]]:
    return [
        {
            "agency_code": "SAMR",
            "item_code": "M1",
            "name": "营业执照公示",
            "legal_basis": "《条例》",
            "market_supervision": "是",
        },
        {"agency_code": "SAMR", "item_code": "M2", "name": "广告发布", "legal_basis": "", "market_supervision": "true"},
        {
            "agency_code": "TAX",
            "item_code": "T1",
            "name": "发票使用",
            "legal_basis": "《发票管理办法》",
            "market_supervision": "0",
        },
    ]


def inspector_rows() -> list[dict[str, str]]:
    return [
        {"agency_code": "SAMR", "name": "张三", "certificate_no": "11010001", "items": "M1;M2", "active": "true"},
        {"agency_code": "SAMR", "name": "李四", "certificate_no": "11010002", "items": "M2", "active": "否"},
        {"agency_code": "TAX", "name": "王五", "certificate_no": "11020001", "items": "T1", "active": ""},
    ]


@pytest.fixture
def agencies(db_session: Session) -> None:
    make_agency(db_session, code="SAMR", departments=0)
    make_agency(db_session, code="TAX", departments=0)


def _import_items(session: Session, path: Path) -> str:
    with open_table(path) as table:
        return import_items(session, table.rows, actor=Actor.cli()).summary()


def _import_inspectors(session: Session, path: Path) -> str:
    with open_table(path) as table:
        return import_inspectors(session, table.rows, actor=Actor.cli()).summary()


def _qualifications(session: Session, certificate_no: str) -> set[str]:
    rows = session.scalars(
        select(InspectionItem.item_code)
        .join(InspectorQualification, InspectorQualification.item_id == InspectionItem.id)
        .join(Inspector, Inspector.id == InspectorQualification.inspector_id)
        .where(Inspector.certificate_no == certificate_no)
    )
    return set(rows)


def _cli(settings: Settings, factory: sessionmaker[Session], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), obj=CliContext(settings=settings, factory=factory))


@pytest.mark.usefixtures("agencies")
def test_import_both_then_reimport_changes_nothing(db_session: Session, tmp_path: Path) -> None:
    items = write_csv(tmp_path / "items.csv", item_rows(), columns=ITEM_COLUMNS)
    inspectors = write_csv(tmp_path / "inspectors.csv", inspector_rows(), columns=INSPECTOR_COLUMNS)

    assert _import_items(db_session, items) == "3 rows; items: 3 created, 0 updated, 0 unchanged"
    assert _import_inspectors(db_session, inspectors) == (
        "3 rows; inspectors: 3 created, 0 updated, 0 unchanged; qualifications: 4 added, 0 removed"
    )
    m1 = db_session.scalars(select(InspectionItem).where(InspectionItem.item_code == "M1")).one()
    assert (m1.agency.code, m1.legal_basis, m1.is_market_supervision) == ("SAMR", "《条例》", True)
    assert (
        db_session.scalar(select(InspectionItem.is_market_supervision).where(InspectionItem.item_code == "T1")) is False
    )
    assert _qualifications(db_session, "11010001") == {"M1", "M2"}
    assert db_session.scalar(select(Inspector.is_active).where(Inspector.certificate_no == "11010002")) is False
    assert db_session.scalar(select(Inspector.is_active).where(Inspector.certificate_no == "11020001")) is True
    before = snapshot(db_session, TABLES)

    assert _import_items(db_session, items) == "3 rows; items: 0 created, 0 updated, 3 unchanged"
    assert _import_inspectors(db_session, inspectors) == (
        "3 rows; inspectors: 0 created, 0 updated, 3 unchanged; qualifications: 0 added, 0 removed"
    )
    db_session.expire_all()
    assert snapshot(db_session, TABLES) == before
    tags = db_session.scalars(select(AuditEvent.tag)).all()
    assert tags.count(AuditTag.CLI_ITEMS_IMPORT) == 2
    assert tags.count(AuditTag.CLI_INSPECTORS_IMPORT) == 2


@pytest.mark.usefixtures("agencies")
def test_reimport_replaces_qualifications_and_updates_fields(db_session: Session, tmp_path: Path) -> None:
    _import_items(db_session, write_csv(tmp_path / "items.csv", item_rows(), columns=ITEM_COLUMNS))
    _import_inspectors(db_session, write_csv(tmp_path / "i1.csv", inspector_rows(), columns=INSPECTOR_COLUMNS))
    rows = inspector_rows()
    rows[0]["items"] = "M2；M1"  # same set, Chinese semicolon
    rows[1]["items"] = "M1"
    rows[1]["active"] = "1"
    rows[2]["items"] = ""

    summary = _import_inspectors(db_session, write_csv(tmp_path / "i2.csv", rows, columns=INSPECTOR_COLUMNS))

    assert summary == "3 rows; inspectors: 0 created, 2 updated, 1 unchanged; qualifications: 1 added, 2 removed"
    db_session.expire_all()
    assert _qualifications(db_session, "11010001") == {"M1", "M2"}
    assert _qualifications(db_session, "11010002") == {"M1"}
    assert _qualifications(db_session, "11020001") == set()
    assert db_session.scalar(select(Inspector.is_active).where(Inspector.certificate_no == "11010002")) is True


@pytest.mark.usefixtures("agencies")
def test_invalid_items_file_reports_every_row_and_writes_nothing(db_session: Session, tmp_path: Path) -> None:
    rows = item_rows()
    rows[0]["agency_code"] = "NOPE"
    rows[1]["market_supervision"] = "maybe"
    rows.append(dict(rows[2]))  # same agency and item code as row 4

    with pytest.raises(ImportRejected) as rejected:
        _import_items(db_session, write_csv(tmp_path / "items.csv", rows, columns=ITEM_COLUMNS))

    assert [(error.row, error.column) for error in rejected.value.errors] == [
        (2, "agency_code"),
        (3, "market_supervision"),
        (5, "item_code"),
    ]
    assert "repeats row 4" in str(rejected.value.errors[2])
    assert db_session.scalars(select(InspectionItem)).all() == []


@pytest.mark.usefixtures("agencies")
def test_invalid_inspectors_file_reports_every_row_and_writes_nothing(db_session: Session, tmp_path: Path) -> None:
    _import_items(db_session, write_csv(tmp_path / "items.csv", item_rows(), columns=ITEM_COLUMNS))
    rows = inspector_rows()
    rows[0]["items"] = "M1;T1"  # T1 belongs to TAX, not SAMR
    rows[1]["agency_code"] = "NOPE"
    rows[2]["active"] = "yes please"
    rows.append({**inspector_rows()[2], "name": "赵六"})  # certificate of row 4 again

    with pytest.raises(ImportRejected) as rejected:
        _import_inspectors(db_session, write_csv(tmp_path / "i.csv", rows, columns=INSPECTOR_COLUMNS))

    messages = [str(error) for error in rejected.value.errors]
    assert [(error.row, error.column) for error in rejected.value.errors] == [
        (2, "items"),
        (3, "agency_code"),
        (4, "active"),
        (5, "certificate_no"),
    ]
    assert "T1" in messages[0]
    assert "repeats row 4" in messages[3]
    assert db_session.scalars(select(Inspector)).all() == []


@pytest.mark.usefixtures("agencies")
def test_cli_exit_codes(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    items = write_csv(tmp_path / "items.csv", item_rows(), columns=ITEM_COLUMNS)
    good = write_csv(tmp_path / "inspectors.csv", inspector_rows(), columns=INSPECTOR_COLUMNS)
    bad_rows = inspector_rows()
    bad_rows[0]["items"] = "M9"
    bad = write_csv(tmp_path / "bad.csv", bad_rows, columns=INSPECTOR_COLUMNS)
    no_columns = write_csv(tmp_path / "cols.csv", [{"agency_code": "SAMR"}], columns=("agency_code",))

    first = _cli(settings, session_factory, "items", "import", str(items))
    assert first.exit_code == 0, first.output
    assert "items: 3 created" in first.output
    second = _cli(settings, session_factory, "inspectors", "import", str(good))
    assert second.exit_code == 0, second.output
    assert "inspectors: 3 created" in second.output

    rejected = _cli(settings, session_factory, "inspectors", "import", str(bad))
    assert rejected.exit_code == 1
    assert "row 2: items: unknown item codes of SAMR: M9" in rejected.output
    missing = _cli(settings, session_factory, "items", "import", str(no_columns))
    assert missing.exit_code == 1
    assert "missing columns: item_code, name, legal_basis, market_supervision" in missing.output
    assert _qualifications(db_session, "11010001") == {"M1", "M2"}
