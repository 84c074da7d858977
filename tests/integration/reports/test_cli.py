"""``signalhub reports overdue [--as-of DATE] [--json]``: the platform office's overdue list for scripts, audited."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_ingest import reports
from signalhub_platform.cli import CliContext, main
from signalhub_platform.models import Actor
from tests.integration.reports import files
from tests.integration.reports.conftest import District, events_after, last_seq

Run = Callable[..., Result]


@pytest.fixture
def run(settings: Settings, session_factory: sessionmaker[Session]) -> Run:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), obj=CliContext(settings=settings, factory=session_factory))

    return invoke


@pytest.fixture
def overdue_report(db_session: Session, district: District) -> int:
    report = reports.declare_campaign(
        db_session,
        Actor.for_user(district.liaison),
        agency_code="TAX",
        name="餐饮油烟专项整治",
        end_on=dt.date(2025, 9, 26),
        tag=AuditTag.WEB_REPORT_DECLARE,
    )
    for code, user in (("TAX", district.liaison), ("MKT", district.mkt_liaison)):
        for year in (2022, 2023, 2024):
            reports.submit_report(
                db_session,
                Actor.for_user(user),
                agency_code=code,
                annual_year=year,
                filename="r.pdf",
                data=files.PDF,
                storage_dir=district.storage,
                tag=AuditTag.WEB_REPORT_SUBMIT,
                now=dt.datetime(2025, 1, 20, tzinfo=dt.UTC),
            )
    db_session.commit()
    return report.id


def test_json_lists_the_overdue_reports_per_agency(run: Run, db_session: Session, overdue_report: int) -> None:
    seq = last_seq(db_session)
    result = run("reports", "overdue", "--as-of", "2025-10-20", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "as_of": "2025-10-20",
        "agency_count": 1,
        "report_count": 1,
        "agencies": [
            {
                "code": "TAX",
                "name": "Agency TAX",
                "overdue": [
                    {
                        "kind": "special_assessment",
                        "year": 2025,
                        "campaign_name": "餐饮油烟专项整治",
                        "campaign_end_on": "2025-09-26",
                        "due_on": "2025-10-16",
                        "report_id": overdue_report,
                        "working_days_overdue": 2,
                    }
                ],
            }
        ],
    }
    [(tag, payload)] = events_after(db_session, seq)
    assert tag == AuditTag.CLI_REPORT_OVERDUE and payload["actor"] == f"cli:{getpass.getuser()}"
    assert payload["data"] == {"action": "overdue", "as_of": "2025-10-20", "reports": 1}


def test_missing_annual_reports_appear_after_31_january(run: Run, overdue_report: int) -> None:
    document = json.loads(run("reports", "overdue", "--as-of", "2026-02-01", "--json").output)
    by_agency = {agency["code"]: agency["overdue"] for agency in document["agencies"]}
    assert [(item["kind"], item["year"], item["report_id"]) for item in by_agency["MKT"]] == [
        ("annual_risk", 2025, None)
    ]
    assert [item["kind"] for item in by_agency["TAX"]] == ["special_assessment", "annual_risk"]
    assert by_agency["MKT"][0]["due_on"] == "2026-01-31" and by_agency["MKT"][0]["working_days_overdue"] == 0


def test_the_table_and_an_empty_list(run: Run, overdue_report: int) -> None:
    table = run("reports", "overdue", "--as-of", "2025-10-20")
    assert table.exit_code == 0
    assert "餐饮油烟专项整治" in table.output and "2025-10-16" in table.output
    assert "1 overdue report(s) at 1 agency(ies) as of 2025-10-20" in table.output
    quiet = run("reports", "overdue", "--as-of", "2025-10-16")  # the due day itself is still on time
    assert quiet.exit_code == 0 and quiet.output.strip() == "no report is overdue as of 2025-10-16"


def test_a_bad_date_is_a_usage_error(run: Run) -> None:
    result = run("reports", "overdue", "--as-of", "20.10.2025")
    assert result.exit_code == 2
