"""``signalhub reports overdue``: the text reports (文字报告) each agency owes past their due date.

The same audited service as the platform office's page decides, so the command and the page
cannot disagree; the read is one audit event under ``cli:<os user>``. ``--json`` prints one
object for scripts (a reminder mail, a dashboard). Exit status: 0 listed (overdue or not);
2 usage error; 3 the read failed, e.g. its audit event could not be written, and nothing is shown.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from signalhub_audit.tags import AuditTag
from signalhub_ingest import reports as report_services
from signalhub_platform.cli import CliContext, main, pass_context
from signalhub_platform.cli.reads import ReadFailedError, _table
from signalhub_platform.db import transaction
from signalhub_platform.models import Actor

Document = dict[str, Any]


@main.group()
def reports() -> None:
    """Text reports (文字报告) the agencies owe."""


@reports.command("overdue")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The day to judge by (YYYY-MM-DD); default: today in Beijing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@pass_context
def overdue(ctx: CliContext, as_of: dt.datetime | None, as_json: bool) -> None:
    """List, per agency, the special and annual reports past their due date without a file."""
    today = as_of.date() if as_of is not None else report_services.beijing_today()
    try:
        with transaction(ctx.session_factory) as session:
            listing = report_services.list_overdue_reports(
                session, Actor.cli(), today=today, tag=AuditTag.CLI_REPORT_OVERDUE
            )
            document = overdue_document(listing, today)
    except Exception as exc:  # whatever failed, the operator gets no data and a non-zero status
        raise ReadFailedError(f"the read failed and nothing is shown ({type(exc).__name__})") from None
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        click.echo(_render(document))


def overdue_document(listing: list[report_services.AgencyOverdue], today: dt.date) -> Document:
    """The JSON shape: only agencies with something overdue, each with its reports, oldest due first."""
    agencies = [
        {
            "code": entry.agency.code,
            "name": entry.agency.name,
            "overdue": [
                {
                    "kind": item.kind.value,
                    "year": item.year,
                    "campaign_name": item.campaign_name,
                    "campaign_end_on": item.campaign_end_on.isoformat() if item.campaign_end_on else None,
                    "due_on": item.due_on.isoformat(),
                    "report_id": item.report.id if item.report is not None else None,
                    # null when the official calendar of a year in between is not available
                    "working_days_overdue": item.working_days_overdue,
                }
                for item in entry.items
            ],
        }
        for entry in listing
        if entry.items
    ]
    return {
        "as_of": today.isoformat(),
        "agency_count": len(agencies),
        "report_count": sum(len(agency["overdue"]) for agency in agencies),
        "agencies": agencies,
    }


def _render(document: Document) -> str:
    if not document["agencies"]:
        return f"no report is overdue as of {document['as_of']}"
    rows = [
        (
            agency["code"],
            agency["name"],
            item["kind"],
            item["campaign_name"] or item["year"],
            item["due_on"],
            "unknown" if item["working_days_overdue"] is None else item["working_days_overdue"],
        )
        for agency in document["agencies"]
        for item in agency["overdue"]
    ]
    table = _table(("AGENCY", "NAME", "KIND", "CAMPAIGN/YEAR", "DUE ON", "WORKING DAYS OVERDUE"), rows)
    return (
        f"{table}\n\n{document['report_count']} overdue report(s) at {document['agency_count']} "
        f"agency(ies) as of {document['as_of']}"
    )
