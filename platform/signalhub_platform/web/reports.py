"""Text reports (文字报告): an agency's reports, declaring a campaign, uploads, downloads, overdue by agency.

Views authorise through the service (which audits every read, write and refusal), commit once
and render; refusals are committed too, so their audit events survive. Service reasons come back
as codes and are shown in the user's language here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, abort, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from signalhub_audit.tags import AuditTag
from signalhub_ingest import reports
from signalhub_platform.web.context import current_actor, db, state
from signalhub_platform.web.sessions import login_required

bp = Blueprint("reports", __name__, url_prefix="/reports")

MESSAGES = {
    "bad_date": _l("Enter the end date as YYYY-MM-DD."),
    "bad_year": _l("Annual reports are accepted for %(first)s to %(last)s."),
    "no_file": _l("Choose a file to upload."),
    "name_required": _l("Enter the name of the special campaign."),
    "name_too_long": _l("The campaign name is longer than %(limit)s characters."),
    "duplicate_campaign": _l("A campaign with this name ending in %(year)s has already been declared."),
    "calendar_unavailable": _l(
        "The official working-day calendar for %(year)s is not available yet, so the due date cannot be "
        "computed. Ask the platform office to update the calendar."
    ),
    "already_submitted": _l("This report has already been submitted."),
    "empty_file": _l("The file is empty."),
    "too_large": _l("The file is larger than %(megabytes)s MB."),
    "bad_extension": _l("Only PDF, DOCX and XLSX files are accepted."),
    "unknown_type": _l("The file's content is not a PDF, DOCX or XLSX document, whatever its name says."),
    "type_mismatch": _l("The file is named %(extension)s but its content is %(detected)s."),
    "unsafe_zip": _l("The file holds entries with unsafe paths and was refused."),
    "not_office": _l("The file is a zip archive but not a Word (DOCX) or Excel (XLSX) document."),
    "macro": _l("Documents with macros are not accepted: save the file as DOCX or XLSX without macros."),
}
REFUSED = _l("The request was refused.")
DONE_MESSAGES = {
    "declared": _l("The campaign was declared; its report is due on the date shown."),
    "submitted": _l("The report was submitted."),
}


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """Agency users land on their agency's reports; the platform office on the overdue list."""
    actor = current_actor()
    if actor.agency_id is not None:
        return redirect(url_for("reports.agency", code=actor.agency_code))
    return redirect(url_for("reports.overdue"))


@bp.get("/agencies/<code>")
@login_required
def agency(code: str) -> ResponseReturnValue:
    return _render_agency(code, done=request.args.get("done", ""))


@bp.post("/agencies/<code>/campaigns")
@login_required
def declare(code: str) -> ResponseReturnValue:
    try:
        end_on = dt.date.fromisoformat(request.form.get("end_on", "").strip())
    except ValueError:
        return _render_agency(code, error=("bad_date", {}), status=400)
    return _change(
        code,
        "declared",
        lambda: reports.declare_campaign(
            db(),
            current_actor(),
            agency_code=code,
            name=request.form.get("name", ""),
            end_on=end_on,
            tag=AuditTag.WEB_REPORT_DECLARE,
        ),
    )


@bp.post("/agencies/<code>/<int:report_id>/file")
@login_required
def submit_special(code: str, report_id: int) -> ResponseReturnValue:
    return _submit(code, report_id=report_id)


@bp.post("/agencies/<code>/annual/<int:year>/file")
@login_required
def submit_annual(code: str, year: int) -> ResponseReturnValue:
    return _submit(code, annual_year=year)


@bp.get("/<int:report_id>/file")
@login_required
def download(report_id: int) -> ResponseReturnValue:
    session = db()
    try:
        report, path = reports.get_report_file(
            session, current_actor(), report_id=report_id, storage_dir=_storage_dir(), tag=AuditTag.WEB_REPORT_DOWNLOAD
        )
    except reports.ReportError as exc:
        session.commit()
        abort(exc.status_code)
    session.commit()
    response = send_file(path, mimetype=report.content_type, as_attachment=True, download_name=report.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/overdue")
@login_required
def overdue() -> ResponseReturnValue:
    session = db()
    today = reports.beijing_today()
    try:
        listing = reports.list_overdue_reports(session, current_actor(), today=today, tag=AuditTag.WEB_REPORT_OVERDUE)
    except reports.ReportError as exc:
        session.commit()
        abort(exc.status_code)
    session.commit()
    return render_template(
        "reports/overdue.html",
        today=today,
        late=[entry for entry in listing if entry.items],
        up_to_date=[entry.agency for entry in listing if not entry.items],
    )


def _submit(code: str, *, report_id: int | None = None, annual_year: int | None = None) -> ResponseReturnValue:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_agency(code, error=("no_file", {}), status=400)
    return _change(
        code,
        "submitted",
        lambda: reports.submit_report(
            db(),
            current_actor(),
            agency_code=code,
            report_id=report_id,
            annual_year=annual_year,
            filename=upload.filename or "",
            data=upload.read(),
            storage_dir=_storage_dir(),
            tag=AuditTag.WEB_REPORT_SUBMIT,
        ),
    )


def _change(code: str, done: str, operation: Callable[[], object]) -> ResponseReturnValue:
    """Run one write; on refusal keep its audit event and show the reason on the agency's page."""
    session = db()
    try:
        operation()
    except reports.ReportError as exc:
        session.commit()
        if exc.status_code in (403, 404):
            abort(exc.status_code)
        return _render_agency(code, error=(exc.code, exc.params), status=exc.status_code)
    session.commit()
    return redirect(url_for("reports.agency", code=code, done=done))


def _render_agency(
    code: str, *, done: str = "", error: tuple[str, dict[str, object]] | None = None, status: int = 200
) -> ResponseReturnValue:
    session = db()
    try:
        listing = reports.list_reports(
            session, current_actor(), agency_code=code, today=reports.beijing_today(), tag=AuditTag.WEB_REPORT_LIST
        )
    except reports.ReportError as exc:
        session.commit()
        abort(exc.status_code)
    session.commit()
    message = None
    if error is not None:
        reason, params = error
        message = str(MESSAGES.get(reason, REFUSED)) % params
    return render_template("reports/agency.html", listing=listing, done=DONE_MESSAGES.get(done), error=message), status


def _storage_dir() -> Path:
    return reports.reports_dir(state().settings.instance_dir)
