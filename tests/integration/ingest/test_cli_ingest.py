"""``signalhub ingest``: the JSON outcome and the exit codes of issue 3 point 10."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.models import Record
from tests.factories import make_agency
from tests.integration.ingest.conftest import record_rows, write_csv


def _ingest(settings: Settings, factory: sessionmaker[Session], path: Path, *options: str) -> Result:
    return CliRunner().invoke(
        main,
        ["ingest", str(path), "--agency", "TAX", "--period", "2026Q4", "--json", *options],
        obj=CliContext(settings=settings, factory=factory),
    )


def _json(result: Result) -> dict[str, Any]:
    return json.loads(result.output.strip().splitlines()[-1])


def test_commit_then_duplicate(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    make_agency(db_session, "TAX", departments=2)
    db_session.commit()
    path = write_csv(tmp_path / "q4.csv", record_rows(40))
    first = _ingest(settings, session_factory, path)
    assert first.exit_code == 0, first.output
    outcome = _json(first)
    assert outcome["status"] == "committed"
    assert (outcome["rows"], outcome["inserted"], outcome["versioned"], outcome["unchanged"]) == (40, 40, 0, 0)
    assert outcome["errors"] == [] and outcome["warnings"] == []
    again = _ingest(settings, session_factory, path)
    assert again.exit_code == 0 and _json(again)["status"] == "duplicate"
    assert _json(again)["batch_id"] == outcome["batch_id"]
    assert db_session.scalar(select(func.count()).select_from(Record)) == 40


def test_invalid_rows_reject_unless_accepted(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    make_agency(db_session, "TAX", departments=2)
    db_session.commit()
    rows = record_rows(10)
    rows[3]["occurred_on"] = "not a date"
    path = write_csv(tmp_path / "bad.csv", rows)
    rejected = _ingest(settings, session_factory, path)
    assert rejected.exit_code == 1
    outcome = _json(rejected)
    assert outcome["status"] == "rejected"
    assert outcome["errors"] == [{"row": 5, "column": "occurred_on", "message": outcome["errors"][0]["message"]}]
    assert db_session.scalar(select(func.count()).select_from(Record)) == 0
    accepted = _ingest(settings, session_factory, path, "--accept-valid")  # same bytes: the same batch
    assert accepted.exit_code == 0, accepted.output
    assert _json(accepted)["inserted"] == 9


def test_dry_run_validates_and_commits_nothing(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    make_agency(db_session, "TAX", departments=2)
    db_session.commit()
    result = _ingest(settings, session_factory, write_csv(tmp_path / "q4.csv", record_rows(5)), "--dry-run")
    assert result.exit_code == 0 and _json(result)["status"] == "validated"
    assert db_session.scalar(select(func.count()).select_from(Record)) == 0


def test_unknown_agency_is_a_usage_error(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    result = _ingest(settings, session_factory, write_csv(tmp_path / "q4.csv", record_rows(1)))
    assert result.exit_code == 2


def test_unsupported_file_is_rejected(
    settings: Settings, session_factory: sessionmaker[Session], db_session: Session, tmp_path: Path
) -> None:
    make_agency(db_session, "TAX", departments=2)
    db_session.commit()
    fake = tmp_path / "q4.xlsx"
    fake.write_bytes(b"MZ\x90\x00" + b"\x00" * 200)
    result = _ingest(settings, session_factory, fake)
    assert result.exit_code == 1 and _json(result)["status"] == "rejected"
