"""Periodic reports: the quarterly collection report (每季度通报) with its XLSX, the liaison scorecard,
and the annual comprehensive risk report (综合风险评估报告) with its PDF.

Thin adapters over ``signalhub_platform.reporting``: the services authorise and audit every read,
build and export (refusals included, so those are committed too). The reporting package may not
import its sibling areas, so the rules it reuses are handed in here: the text reports' overdue
list, the warning visibility clause, the draws' outcome report, the spreadsheet escape and the
printable draw's CJK font.
"""

from __future__ import annotations

import datetime as dt
from typing import NoReturn

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from signalhub_audit.tags import AuditTag
from signalhub_ingest.reports import overdue_reports
from signalhub_platform.inspections import outcomes, printable
from signalhub_platform.models import Agency
from signalhub_platform.models.quarters import Quarter
from signalhub_platform.models.types import beijing_today
from signalhub_platform.reporting import annual, exports, pdf, quarterly, scorecard
from signalhub_platform.reporting.access import ReportingError, sees_every_agency
from signalhub_platform.sharing.export import escape_cell
from signalhub_platform.web.context import current_actor, db
from signalhub_platform.web.sessions import login_required
from signalhub_warnings.services import visible_warnings_clause

bp = Blueprint("reporting", __name__, url_prefix="/reporting")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
QUARTERS_OFFERED = 8  # the quarter picker: the current quarter and the seven before it, plus any built one
YEARS_OFFERED = 5
MESSAGES = {
    "bad_quarter": _l("Choose a quarter such as 2026Q3."),
    "future_quarter": _l("%(quarter)s has not begun; its report cannot be built yet."),
    "bad_year": _l("Choose a year such as 2026."),
}
DONE = {"built": _l("The report was built; the figures below are its stored snapshot.")}
STRATUM_LABELS = {
    "red": _l("Red"),
    "orange": _l("Orange"),
    "yellow": _l("Yellow"),
    "none": _l("No warning"),
    "all": _l("Uniform draws"),
    "total": _l("Total"),
}


def _fail(exc: ReportingError) -> NoReturn:
    """A refusal: its audit event is committed, then 403/404 like any page."""
    db().commit()
    abort(exc.status_code)


def _parse_quarter(text: str) -> Quarter | None:
    try:
        return Quarter.parse(text)
    except ValueError:
        return None


def _quarter_choices(built: list[str], today: dt.date) -> list[str]:
    recent, quarter = [], Quarter.of(today)
    for _ in range(QUARTERS_OFFERED):
        recent.append(str(quarter))
        quarter = quarter.previous
    return sorted(set(recent) | set(built), reverse=True)


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    return redirect(url_for("reporting.quarterly_report"))


# --- the quarterly collection report ------------------------------------------------------------


@bp.get("/quarterly")
@login_required
def quarterly_report() -> ResponseReturnValue:
    requested = request.args.get("quarter", "").strip()
    default = Quarter.current().previous
    quarter = _parse_quarter(requested) if requested else default
    if quarter is None:
        return _render_quarterly(default, error=str(MESSAGES["bad_quarter"]), status=400)
    return _render_quarterly(quarter, done=str(DONE.get(request.args.get("done", ""), "")))


@bp.post("/quarterly/build")
@login_required
def build_quarterly() -> ResponseReturnValue:
    quarter = _parse_quarter(request.form.get("quarter", ""))
    if quarter is None:
        return _render_quarterly(Quarter.current().previous, error=str(MESSAGES["bad_quarter"]), status=400)
    session = db()
    try:
        quarterly.build_collection_report(
            session,
            current_actor(),
            quarter=quarter,
            overdue=overdue_reports,
            tag=AuditTag.WEB_COLLECTION_REPORT_BUILD,
        )
    except ReportingError as exc:
        session.commit()
        if exc.status_code in (403, 404):
            abort(exc.status_code)
        message = str(MESSAGES.get(exc.code, MESSAGES["bad_quarter"])) % exc.params
        return _render_quarterly(quarter, error=message, status=exc.status_code)
    session.commit()
    return redirect(url_for("reporting.quarterly_report", quarter=str(quarter), done="built"))


@bp.get("/quarterly/<quarter>/export.xlsx")
@login_required
def export_quarterly(quarter: str) -> ResponseReturnValue:
    parsed = _parse_quarter(quarter)
    if parsed is None:
        abort(404)
    session = db()
    try:
        view = quarterly.read_collection_report(
            session, current_actor(), quarter=parsed, tag=AuditTag.WEB_COLLECTION_REPORT_EXPORT, action="export"
        )
    except ReportingError as exc:
        _fail(exc)
    session.commit()
    if view.report is None:
        abort(404)
    data = exports.quarterly_xlsx(view, escape=escape_cell)
    name = f"collection-report-{parsed}.xlsx"
    return Response(data, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _render_quarterly(quarter: Quarter, *, done: str = "", error: str = "", status: int = 200) -> ResponseReturnValue:
    session = db()
    try:
        view = quarterly.read_collection_report(
            session, current_actor(), quarter=quarter, tag=AuditTag.WEB_COLLECTION_REPORT_READ
        )
    except ReportingError as exc:
        _fail(exc)
    choices = _quarter_choices(quarterly.built_quarters(session), beijing_today())
    session.commit()
    return render_template("reporting/quarterly.html", view=view, choices=choices, done=done, error=error), status


# --- the liaison scorecard ----------------------------------------------------------------------


@bp.get("/scorecard")
@login_required
def scorecard_page() -> ResponseReturnValue:
    today = beijing_today()
    text = request.args.get("year", "").strip()
    year = int(text) if text.isdigit() and len(text) == 4 else None
    if text and year is None:
        return _render_scorecard(today.year, error=str(MESSAGES["bad_year"]), status=400)
    return _render_scorecard(year or today.year)


def _render_scorecard(year: int, *, error: str = "", status: int = 200) -> ResponseReturnValue:
    session = db()
    try:
        card = scorecard.liaison_scorecard(session, current_actor(), year=year, tag=AuditTag.WEB_SCORECARD_READ)
    except ReportingError as exc:
        _fail(exc)
    session.commit()
    return render_template("reporting/scorecard.html", card=card, years=_years(), error=error), status


def _years() -> list[int]:
    this_year = beijing_today().year
    return list(range(this_year, this_year - YEARS_OFFERED, -1))


# --- the annual comprehensive risk report -------------------------------------------------------


@bp.get("/annual")
@login_required
def annual_index() -> ResponseReturnValue:
    """The latest complete year by default (the report for a year is compiled after it ends)."""
    return redirect(url_for("reporting.annual_page", year=beijing_today().year - 1))


@bp.get("/annual/<int:year>")
@login_required
def annual_page(year: int) -> ResponseReturnValue:
    report = _annual(year, AuditTag.WEB_ANNUAL_REPORT_READ)
    return render_template(
        "reporting/annual.html",
        report=report,
        years=_years(),
        strata=STRATUM_LABELS,
        sees_all=sees_every_agency(current_actor()),
    )


@bp.get("/annual/<int:year>/report.pdf")
@login_required
def annual_pdf(year: int) -> ResponseReturnValue:
    report = _annual(year, AuditTag.WEB_ANNUAL_REPORT_EXPORT)
    scope = "全区（联席会办公室）" if report.scope == "all" else _agency_name(current_actor().agency_id)
    data = pdf.annual_pdf(report, font_path=printable.font_path(), printable=printable.printable, scope_name=scope)
    name = f"annual-risk-report-{year}.pdf"
    return Response(data, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _annual(year: int, tag: AuditTag) -> annual.AnnualReport:
    """The report for the page or the PDF, its read audited under ``tag`` and committed; a refusal
    is committed too, then answered 403/404."""
    session = db()
    try:
        report = annual.annual_report(
            session,
            current_actor(),
            year=year,
            warnings_visible=visible_warnings_clause,
            outcomes=outcomes.outcome_report,
            tag=tag,
        )
    except ReportingError as exc:
        _fail(exc)
    session.commit()
    return report


def _agency_name(agency_id: int | None) -> str:
    agency = db().get(Agency, agency_id) if agency_id is not None else None
    return agency.name if agency is not None else ""
