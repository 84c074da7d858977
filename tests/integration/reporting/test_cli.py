"""``signalhub reports quarterly``: builds the snapshot through the same audited service, prints it."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.models import CollectionReport
from signalhub_platform.models.quarters import Quarter
from tests.integration.reporting.scene import District, events_after, last_seq

Run = Callable[..., Result]


@pytest.fixture
def run(settings: Settings, session_factory: sessionmaker[Session]) -> Run:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), obj=CliContext(settings=settings, factory=session_factory))

    return invoke


def test_json_holds_the_stored_snapshot_and_the_build_is_audited(
    run: Run, db_session: Session, district: District
) -> None:
    seq = last_seq(db_session)
    result = run("reports", "quarterly", "--quarter", "2026q3", "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    stored = db_session.scalars(select(CollectionReport)).one()
    assert document["quarter"] == "2026Q3" and document["sha256"] == stored.payload_sha256
    lines = {line["code"]: line for line in document["report"]["agencies"]}
    assert (lines["TAX"]["rule_met"], lines["HRSS"]["rule_met"]) == (True, False)
    [(tag, event)] = events_after(db_session, seq)
    assert tag == "cli:collection_report:build" and event["actor"] == f"cli:{getpass.getuser()}"


def test_the_table_flags_the_agencies_without_a_batch(run: Run, district: District) -> None:
    result = run("reports", "quarterly", "--quarter", "2026Q3")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.split()}
    assert " NO " in rows["HRSS"] and " yes " in rows["TAX"]
    assert "1/3" in rows["TOTAL"]
    assert "collection report 2026Q3 (2026-07-01 to 2026-09-30)" in result.output


def test_the_default_is_the_quarter_just_ended(run: Run, db_session: Session, district: District) -> None:
    assert run("reports", "quarterly").exit_code == 0
    assert db_session.scalars(select(CollectionReport.quarter)).one() == str(Quarter.current().previous)


@pytest.mark.parametrize("quarter", ["2026Q5", "Q3", str(Quarter.current().next)])
def test_a_bad_or_future_quarter_is_a_usage_error(run: Run, db_session: Session, quarter: str) -> None:
    result = run("reports", "quarterly", "--quarter", quarter)
    assert result.exit_code == 2
    assert "--quarter" in result.output
    assert db_session.scalars(select(CollectionReport)).first() is None
