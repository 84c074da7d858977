"""``signalhub reports overdue``: the text reports (文字报告) each agency owes past their due date.
``signalhub reports quarterly``: build the quarterly collection report (每季度通报) and print it.

The same audited services as the platform office's pages decide, so the commands and the pages
cannot disagree; each run is one audit event under ``cli:<os user>``. ``--json`` prints one
object for scripts (a reminder mail, a dashboard). Exit status: 0 listed or built; 2 usage error
(e.g. a quarter that has not begun); 3 the read or build failed, e.g. its audit event could not
be written, and nothing is shown or stored.
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
from signalhub_platform.models.quarters import Quarter
from signalhub_platform.reporting import quarterly as quarterly_reports

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


# --- the quarterly collection report ---------------------------------------------------------


def _quarter_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Quarter | None:
    if value is None:
        return None
    try:
        return Quarter.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@reports.command("quarterly")
@click.option(
    "--quarter",
    callback=_quarter_option,
    default=None,
    help="The quarter, e.g. 2026Q3; default: the quarter just ended (Beijing time).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@pass_context
def quarterly(ctx: CliContext, quarter: Quarter | None, as_json: bool) -> None:
    """Build (or rebuild) the quarterly collection report of every agency, store its snapshot and print it.

    Rebuilding replaces the stored snapshot; the audit log keeps the fingerprints of both.
    """
    current = Quarter.current()
    quarter = quarter or current.previous
    if quarter > current:
        raise click.BadParameter(f"{quarter} has not begun; its report cannot be built yet", param_hint="--quarter")
    try:
        with transaction(ctx.session_factory) as session:
            report = quarterly_reports.build_collection_report(
                session,
                Actor.cli(),
                quarter=quarter,
                overdue=report_services.overdue_reports,
                tag=AuditTag.CLI_COLLECTION_REPORT_BUILD,
            )
            document = {
                "quarter": report.quarter,
                "built_at": report.built_at.isoformat(),
                "built_by": report.built_by,
                "sha256": report.payload_sha256,
                "report": report.payload,
            }
    except Exception as exc:  # whatever failed, nothing was stored and the operator gets a non-zero status
        raise ReadFailedError(f"the build failed and nothing was stored ({type(exc).__name__})") from None
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        click.echo(_render_quarterly(document))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _rule(line: Document, totals: Document) -> str:
    """Per agency whether the once-a-quarter batch rule was met; on the totals line, how many met it."""
    if line["rule_met"] is None:
        return f"{totals['agencies_meeting_rule']}/{totals['agencies']}"
    return "yes" if line["rule_met"] else "NO"


def _render_quarterly(document: Document) -> str:
    payload = document["report"]
    lines = [*payload["agencies"], {**payload["totals"], "code": "TOTAL", "name": "", "rule_met": None}]
    rows = [
        (
            line["code"],
            line["name"],
            line["records_received"]["risk"],
            line["records_received"]["penalty"],
            line["corrections"],
            line["withdrawals"],
            line["batches_committed"],
            line["batches_late"],
            _rule(line, payload["totals"]),
            line["rows_uploaded"],
            line["rows_rejected"],
            _percent(line["rejection_rate"]),
            _percent(line["correction_rate"]),
            _percent(line["timeliness"]),
            line["overdue_report_count"],
        )
        for line in lines
    ]
    table = _table(
        (
            "AGENCY", "NAME", "RISK", "PENALTY", "CORRECTED", "WITHDRAWN", "BATCHES", "LATE", "RULE MET", "ROWS",
            "REJECTED", "REJECTION", "CORRECTION", "TIMELINESS", "OVERDUE REPORTS",
        ),
        rows,
    )  # fmt: skip
    status = "" if payload["is_complete"] else " (provisional: the quarter has not ended)"
    return (
        f"collection report {document['quarter']} ({payload['starts_on']} to {payload['ends_on']}){status}\n"
        f"built {document['built_at']} by {document['built_by']}, sha256 {document['sha256']}\n\n{table}"
    )
