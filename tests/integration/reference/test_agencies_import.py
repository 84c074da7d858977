"""``import_agencies`` and ``signalhub agencies import``: upsert by code, idempotent, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_ingest.readers import open_table
from signalhub_ingest.reference import AGENCY_COLUMNS, ImportRejected, import_agencies
from signalhub_platform.cli import CliContext, main
from signalhub_platform.models import Actor, Agency, AuditEvent, Department
from tests.factories import make_agency
from tests.integration.reference.files import agency_rows, snapshot, write_agencies_csv, write_xlsx

AGENCY_TABLES = ("agencies", "departments")


def _cli(settings: Settings, factory: sessionmaker[Session], path: Path) -> Result:
    return CliRunner().invoke(
        main, ["agencies", "import", str(path)], obj=CliContext(settings=settings, factory=factory)
    )


def _departments(session: Session, code: str) -> dict[str, str]:
    rows = session.execute(
        select(Department.code, Department.name).join(Department.agency).where(Agency.code == code)
    ).all()
    return {code: name for code, name in rows}


def test_import_creates_agencies_and_departments_and_reimport_changes_nothing(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    path = write_agencies_csv(tmp_path / "agencies.csv", agency_rows())

    first = _cli(settings, session_factory, path)

    assert first.exit_code == 0, first.output
    assert "agencies: 2 created, 0 updated, 0 unchanged; departments: 3 created, 0 updated, 0 unchanged" in first.output
    assert db_session.scalar(select(Agency.name).where(Agency.code == "SAMR")) == "区市场监督管理局"
    assert _departments(db_session, "TAX") == {"T01": "征收管理科", "T02": "稽查局"}
    before = snapshot(db_session, AGENCY_TABLES)

    second = _cli(settings, session_factory, path)

    assert second.exit_code == 0, second.output
    assert (
        "agencies: 0 created, 0 updated, 2 unchanged; departments: 0 created, 0 updated, 3 unchanged" in second.output
    )
    db_session.expire_all()
    assert snapshot(db_session, AGENCY_TABLES) == before
    payloads = db_session.scalars(
        select(AuditEvent.payload).where(AuditEvent.tag == AuditTag.CLI_AGENCIES_IMPORT)
    ).all()
    assert len(payloads) == 2
    assert all('"file_sha256":"' in payload and '"rows":3' in payload for payload in payloads)


def test_changed_names_update_and_departments_missing_from_the_file_stay(db_session: Session, tmp_path: Path) -> None:
    agency = make_agency(db_session, code="TAX", departments=0)
    agency.departments.append(Department(code="T09", name="老科室"))
    db_session.flush()
    rows = agency_rows()
    rows[0]["agency_name"] = rows[1]["agency_name"] = "国家税务总局北京市西城区税务局"

    with open_table(write_agencies_csv(tmp_path / "a.csv", rows)) as table:
        report = import_agencies(db_session, table.rows, actor=Actor.cli())

    assert str(report.agencies) == "1 created, 1 updated, 0 unchanged"
    assert str(report.departments) == "3 created, 0 updated, 0 unchanged"
    db_session.expire_all()
    assert db_session.scalar(select(Agency.name).where(Agency.code == "TAX")) == "国家税务总局北京市西城区税务局"
    assert _departments(db_session, "TAX") == {"T01": "征收管理科", "T02": "稽查局", "T09": "老科室"}

    rows[1]["department_name"] = "第一稽查局"
    with open_table(write_agencies_csv(tmp_path / "b.csv", rows)) as table:
        report = import_agencies(db_session, table.rows, actor=Actor.cli())
    assert str(report.departments) == "0 created, 1 updated, 2 unchanged"
    assert _departments(db_session, "TAX")["T02"] == "第一稽查局"


def test_invalid_rows_are_all_reported_and_nothing_is_imported(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    rows = [
        *agency_rows(),  # rows 2-4: fine
        {"agency_code": "TAX", "agency_name": "税务局", "department_code": "T03", "department_name": "x"},  # 5
        {"agency_code": "TAX", "agency_name": "区税务局", "department_code": "T01", "department_name": "y"},  # 6
        {"agency_code": "platform", "agency_name": "联席办", "department_code": "P1", "department_name": "z"},  # 7
        {"agency_code": "税务", "agency_name": "", "department_code": "D1", "department_name": "z"},  # 8
    ]

    result = _cli(settings, session_factory, write_agencies_csv(tmp_path / "bad.csv", rows))

    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("row ")]
    assert lines == [
        "row 5: agency_name: differs from row 2 for agency TAX",
        "row 6: department_code: T01 of TAX repeats row 2",
        "row 7: agency_code: 'platform' is reserved for the platform office",
        "row 8: agency_code: only letters, digits, '_', '.' and '-' are allowed",
        "row 8: agency_name: required",
    ]
    assert db_session.scalar(select(func.count()).select_from(Agency)) == 0
    rejection = db_session.scalars(select(AuditEvent)).one()  # only the audited rejection
    assert rejection.tag == "cli:agencies:import" and '"rejected":true' in rejection.payload


def test_service_raises_before_writing(db_session: Session) -> None:
    rows = [(2, {"agency_code": "TAX", "agency_name": "区税务局", "department_code": "", "department_name": "x"})]
    with pytest.raises(ImportRejected, match="1 errors in 1 rows"):
        import_agencies(db_session, rows, actor=Actor.cli())
    assert db_session.scalar(select(func.count()).select_from(Agency)) == 0


def test_xlsx_and_gbk_files(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    result = _cli(settings, session_factory, write_xlsx(tmp_path / "a.xlsx", agency_rows(), columns=AGENCY_COLUMNS))
    assert result.exit_code == 0, result.output
    result = _cli(settings, session_factory, write_agencies_csv(tmp_path / "a.csv", agency_rows(), encoding="gbk"))
    assert result.exit_code == 0, result.output
    assert "agencies: 0 created, 0 updated, 2 unchanged" in result.output
    assert _departments(db_session, "TAX") == {"T01": "征收管理科", "T02": "稽查局"}
