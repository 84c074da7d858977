"""Batch uploads (成批导入) and single records for agency liaisons: pages, and the helpers the API shares.

A batch's life runs in the background queue (validation and commit can take a minute for a
million rows); the pages here store the upload, queue the work, and show its progress. Who may
do what is one rule, ``services.can_upload_for``: the agency's liaisons and admins, and the
platform office on an agency's behalf. Anyone else gets a batch of another agency answered
exactly like a missing one (404), and every read is audited.

What the file holds (the error workbook, and the values quoted in the issues) is the agency's
own data, private rows and ID numbers included: only the agency's users and the platform-office
user who uploaded the batch see it (``may_see_values``). The rest of the platform office follows
the batch through its counts and messages, and a workbook request from it is a 404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from werkzeug.datastructures import FileStorage

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_ingest import errorbook, services, template
from signalhub_ingest.jobs import COMMIT_BATCH, VALIDATE_BATCH
from signalhub_ingest.readers import ReaderError, open_upload
from signalhub_ingest.rules import COLUMNS, COLUMNS_BY_KEY, KIND_LABELS, OPENNESS_LABELS, RISK_LEVEL_LABELS
from signalhub_ingest.schemas import RecordInputSchema
from signalhub_ingest.validator import RowValidator, row_warnings
from signalhub_platform.models import Actor, Agency, Batch, BatchState, Department, Job, JobState, RecordSource, Role
from signalhub_platform.models.types import beijing_today
from signalhub_platform.web.batch_schemas import BatchStatus, BatchUploadSchema
from signalhub_platform.web.context import client_ip, current_actor, db, state
from signalhub_platform.web.sessions import login_required
from signalhub_platform.worker import enqueue

bp = Blueprint("batches", __name__)

INGEST_ROLES = (Role.LIAISON, Role.AGENCY_ADMIN, Role.PLATFORM_ADMIN)
LIST_LIMIT = 200  # newest first; a quarter brings a handful of batches per agency
RECENT_QUARTERS = 5  # the upload form offers the current quarter and the four before it
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

NOTICES = {
    "duplicate": _l(
        "This file was uploaded before (identical contents): this is the earlier batch. Nothing new was created."
    ),
    "uploaded": _l("The file was uploaded. It is being checked; this page shows the progress."),
    "commit_queued": _l("The commit was queued; this page shows when it is done."),
}
UPLOAD_ERRORS = {
    "file": _l("Choose a CSV or XLSX file to upload."),
    "period": _l("Choose a quarter such as 2026Q3."),
    "agency": _l("Choose the agency you upload for."),
}
# Why a commit was refused, most specific first (the service's messages are English, for logs and the API).
REFUSALS: tuple[tuple[type[services.IngestError], Any], ...] = (
    (
        services.BatchNeedsDecision,
        _l(
            "The file has errors, so nothing was committed. Fix the file and upload it again, or choose "
            '"accept the valid rows only" and confirm it.'
        ),
    ),
    (
        services.BatchNeedsConfirmation,
        _l(
            "Some credit codes have a nonstandard check character. Check them and tick the confirmation box "
            "before committing."
        ),
    ),
    (
        services.IngestError,
        _l("The batch cannot be committed now: it is already committed, being committed or not yet checked."),
    ),
)
# English names of the template's columns (the Chinese ones are the template's own headers).
COLUMN_LABELS_EN = {
    "department": "Department",
    "kind": "Kind",
    "risk_level": "Risk level",
    "openness": "Openness",
    "uscc": "Unified social credit code",
    "entity_name": "Entity name",
    "person_name": "Responsible person",
    "person_id_number": "Responsible person's ID number",
    "category": "Category",
    "description": "Description",
    "occurred_on": "Date occurred",
    "source_ref": "Your reference number",
}


# --- helpers shared with the API -----------------------------------------------------------------


def in_ui_language(message_zh: object, message_en: object) -> str:
    """Issue messages come in both languages from the rules (they also serve the CLI and the API)."""
    return str(message_zh if str(get_locale()) == "zh" else message_en)


def may_ingest(actor: Actor) -> bool:
    """Batches are for the agency's liaisons and admins and the platform office: others see none."""
    return not actor.is_public and actor.has_role(*INGEST_ROLES)


def may_see_values(actor: Actor, batch: Batch) -> bool:
    """The uploaded cells: for the batch's agency, and for the platform-office user who uploaded it."""
    if actor.is_public:
        return False
    return actor.agency_id == batch.agency_id or (actor.user_id is not None and actor.user_id == batch.uploaded_by_id)


def readable_batch(
    session: Session, actor: Actor, batch_id: int, *, tag: AuditTag, needs_values: bool = False
) -> Batch | None:
    """The batch if the actor may see it, else None (another agency's batch looks like a missing one).

    ``needs_values``: the read returns the file's contents (the error workbook), so it also
    needs ``may_see_values``; without it the batch is answered as missing too. The attempt is
    audited either way; the caller commits.
    """
    batch = session.scalars(
        select(Batch).where(Batch.id == batch_id).options(joinedload(Batch.agency), joinedload(Batch.uploaded_by))
    ).first()
    is_visible = batch is not None and may_ingest(actor) and services.can_upload_for(actor, batch.agency)
    data: dict[str, Any] = {"is_denied": True}
    if is_visible and batch is not None:
        if needs_values and not may_see_values(actor, batch):
            is_visible = False
            data["reason"] = "values_not_shown"  # the office may follow the batch, not read the agency's file
        else:
            data = {"state": batch.state.value}
    record_event(session, tag, actor=actor, subjects=[("batch", batch_id)], data=data)
    return batch if is_visible else None


def list_batches(session: Session, actor: Actor, *, agency_code: str | None, tag: AuditTag) -> list[Batch]:
    """An agency's uploads, newest first; the platform office sees every agency's and may filter."""
    query = (
        select(Batch)
        .where(Batch.source == RecordSource.BATCH)
        .options(joinedload(Batch.agency), joinedload(Batch.uploaded_by))
        .order_by(Batch.id.desc())
        .limit(LIST_LIMIT)
    )
    if actor.agency_id is not None:
        query = query.where(Batch.agency_id == actor.agency_id)
    elif agency_code:
        query = query.join(Agency, Agency.id == Batch.agency_id).where(Agency.code == agency_code)
    batches = list(session.scalars(query))
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("batch", batch.id) for batch in batches],
        data={"list": True, "agency": agency_code or actor.agency_code, "count": len(batches)},
    )
    return batches


def is_commit_pending(session: Session, batch_id: int) -> bool:
    """A commit job for the batch is queued or running (a handful at most: read them all)."""
    payloads = session.scalars(
        select(Job.payload).where(Job.kind == COMMIT_BATCH, Job.state.in_((JobState.QUEUED, JobState.RUNNING)))
    )
    return any(int(payload.get("batch_id", 0)) == batch_id for payload in payloads)  # type: ignore[call-overload]


def batch_status(session: Session, batch: Batch, actor: Actor, *, is_duplicate: bool = False) -> BatchStatus:
    """The batch as ``actor`` is shown it (with or without the values, ``may_see_values``)."""
    return BatchStatus(
        batch,
        is_commit_pending=is_commit_pending(session, batch.id),
        is_duplicate=is_duplicate,
        shows_values=may_see_values(actor, batch),
    )


class AgencyChoiceError(services.IngestError):
    """The platform office named no agency, or one that does not exist (400)."""


def upload_agency(session: Session, actor: Actor, agency_code: str | None) -> Agency:
    """Agency users upload for their agency; the platform office names the agency it acts for.

    Raises ``AgencyChoiceError`` when the agency is missing or unknown; ``store_upload`` and
    ``create_record`` decide whether the actor may act for it (403).
    """
    code = agency_code or (actor.agency_code if actor.agency_id is not None else "")
    if not code:
        raise AgencyChoiceError("agency: the platform office must name the agency it acts for")
    agency = session.scalars(select(Agency).where(Agency.code == code, Agency.is_active)).first()
    if agency is None:
        raise AgencyChoiceError(f"agency: there is no agency with the code {code[:32]!r}")
    return agency


def upload_form() -> dict[str, Any]:
    """The multipart upload's fields for ``BatchUploadSchema``, from the page's form and the API alike."""
    upload = request.files.get("file")
    return {
        "file": upload if upload is not None and upload.filename else None,
        "period": request.form.get("period") or None,
        "agency": request.form.get("agency") or None,
    }


def upload_batch(
    session: Session, actor: Actor, *, agency: Agency, period: str | None, upload: FileStorage, channel: str
) -> services.UploadOutcome:
    """Store the file and queue its validation; identical bytes answer with the earlier batch."""
    outcome = services.store_upload(
        session,
        actor,
        agency=agency,
        period=period or services.quarter_of(beijing_today()),
        filename=upload.filename or "",
        stream=upload.stream,
        instance_dir=state().settings.instance_dir,
        channel=channel,
    )
    if not outcome.is_duplicate:
        enqueue(session, VALIDATE_BATCH, _job_payload(actor, outcome.batch.id, channel))
    return outcome


def check_commit_request(
    session: Session, actor: Actor, batch_id: int, *, accept_valid: bool, confirm_nonstandard: bool
) -> Batch:
    """Check now what the commit will check again under its compare-and-set.

    Answering here means the user learns at once that a decision or a confirmation is missing,
    and a second click finds the queued job and gets a conflict instead of queueing a second one
    (two requests serialise on the database's write lock: SQLite's BEGIN IMMEDIATE, PostgreSQL's
    row lock taken by ``check_commit``).
    """
    batch = services.check_commit(
        session, actor, batch_id, accept_valid=accept_valid, confirm_nonstandard=confirm_nonstandard, lock=True
    )
    if is_commit_pending(session, batch_id):
        raise services.BatchConflict(f"batch {batch_id} is already queued for commit")
    return batch


def queue_commit(
    session: Session, actor: Actor, batch_id: int, *, accept_valid: bool, confirm_nonstandard: bool, channel: str
) -> Batch:
    """Check, then leave the commit to the worker (a million rows take longer than a request should)."""
    batch = check_commit_request(
        session, actor, batch_id, accept_valid=accept_valid, confirm_nonstandard=confirm_nonstandard
    )
    payload = _job_payload(actor, batch_id, channel)
    payload.update(accept_valid=accept_valid, confirm_nonstandard=confirm_nonstandard)
    enqueue(session, COMMIT_BATCH, payload)
    return batch


def commit_now(
    session: Session, actor: Actor, batch_id: int, *, accept_valid: bool, confirm_nonstandard: bool, channel: str
) -> None:
    """Check, then commit in this request (the API's ``?wait=1``, for scripts that want the outcome).

    The request's own transaction ends first: the commit runs in transactions of its own, and on
    SQLite an open request transaction would hold the write lock the commit needs.
    """
    check_commit_request(session, actor, batch_id, accept_valid=accept_valid, confirm_nonstandard=confirm_nonstandard)
    session.commit()
    services.commit_batch(
        state().session_factory,
        batch_id,
        actor=actor,
        channel=channel,
        accept_valid=accept_valid,
        confirm_nonstandard=confirm_nonstandard,
    )


def error_workbook(session: Session, batch: Batch) -> bytes:
    """Re-read the stored file and re-validate every row, so the workbook lists every error.

    The batch row keeps only the first 1,000 issues. Validation is re-run "as of" the day the
    batch was validated, so a date that was in the future then is reported the same way now.
    Raises ``ReaderError`` for a file that cannot be read (a failed batch has no rows to report).
    The caller has audited the read (``*_BATCH_ERROR_REPORT``).
    """
    departments = services.department_lookup(session, batch.agency_id)
    validator = RowValidator(departments, today=beijing_today(batch.validated_at))
    with open_upload(state().settings.instance_dir / batch.file_path, batch.filename) as table:
        validator.map_header(table.header)
        rows = ((number, cells, validator.validate(number, cells)[1]) for number, cells in table.rows)
        return errorbook.build_error_workbook(table.header, rows)


def error_filename(batch: Batch) -> str:
    return f"batch-{batch.id}-errors.xlsx"


def attachment(data: bytes, mimetype: str, filename: str) -> Response:
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _job_payload(actor: Actor, batch_id: int, channel: str) -> dict[str, Any]:
    return {
        "batch_id": batch_id,
        "user_id": actor.user_id,
        "client_ip": actor.client_ip or client_ip(),
        "channel": channel,
    }


def recent_quarters(today: dt.date, count: int = RECENT_QUARTERS) -> list[str]:
    quarters = []
    year, quarter = today.year, (today.month - 1) // 3 + 1
    for _ in range(count):
        quarters.append(f"{year}Q{quarter}")
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return quarters


def _departments(session: Session, agency_id: int) -> list[Department]:
    query = select(Department).where(Department.agency_id == agency_id, Department.is_active)
    return list(session.scalars(query.order_by(Department.code)))


def _active_agencies(session: Session) -> list[Agency]:
    return list(session.scalars(select(Agency).where(Agency.is_active).order_by(Agency.code)))


@bp.app_template_global()
def issue_message(issue: Mapping[str, object]) -> str:
    return in_ui_language(issue.get("message_zh", ""), issue.get("message_en", ""))


# --- pages -----------------------------------------------------------------------------------------


@bp.get("/batches")
@login_required
def index() -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    if not may_ingest(actor):
        abort(403)
    agency_code = (request.args.get("agency") or "").strip()[:32] or None if actor.agency_id is None else None
    batches = list_batches(session, actor, agency_code=agency_code, tag=AuditTag.WEB_BATCH_READ)
    agencies = _active_agencies(session) if actor.agency_id is None else []
    session.commit()
    return render_template("batches/index.html", batches=batches, agencies=agencies, selected=agency_code or "")


@bp.route("/batches/new", methods=["GET", "POST"])
@login_required
def new() -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    if not may_ingest(actor):
        abort(403)
    if request.method == "GET":
        return _render_new(session, actor)
    try:
        data = BatchUploadSchema().load(upload_form())
    except ValidationError as exc:
        errors = [str(UPLOAD_ERRORS[field]) for field in UPLOAD_ERRORS if field in exc.messages]  # type: ignore[operator]
        return _render_new(session, actor, errors=errors, status=400)
    try:
        agency = upload_agency(session, actor, data["agency"])
        outcome = upload_batch(session, actor, agency=agency, period=data["period"], upload=data["file"], channel="web")
    except ReaderError as exc:  # unsupported or unsafe file: refused before anything was stored
        return _render_new(session, actor, errors=[in_ui_language(exc.message_zh, exc.message_en)], status=400)
    except AgencyChoiceError:
        return _render_new(session, actor, errors=[str(UPLOAD_ERRORS["agency"])], status=400)
    except services.IngestError as exc:
        if exc.status_code in (403, 404):
            abort(exc.status_code)
        return _render_new(session, actor, errors=[str(UPLOAD_ERRORS["period"])], status=400)
    session.commit()
    notice = "duplicate" if outcome.is_duplicate else "uploaded"
    return redirect(url_for("batches.show", batch_id=outcome.batch.id, notice=notice))


def _render_new(
    session: Session, actor: Actor, *, errors: list[str] | None = None, status: int = 200
) -> ResponseReturnValue:
    today = beijing_today()
    agencies = _active_agencies(session) if actor.agency_id is None else []
    session.commit()  # nothing to keep, but the request's transaction ends here
    return render_template(
        "batches/new.html",
        quarters=recent_quarters(today),
        current=services.quarter_of(today),
        agencies=agencies,
        selected_period=request.form.get("period", ""),
        selected_agency=request.form.get("agency", request.args.get("agency", "")),
        errors=errors or [],
    ), status


@bp.get("/batches/<int:batch_id>")
@login_required
def show(batch_id: int) -> ResponseReturnValue:
    return _render_batch(batch_id, notice=request.args.get("notice", ""))


@bp.post("/batches/<int:batch_id>/commit")
@login_required
def commit(batch_id: int) -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    accept_valid = request.form.get("accept_valid") == "1"
    confirm_nonstandard = request.form.get("confirm_nonstandard") == "1"
    try:
        queue_commit(
            session, actor, batch_id, accept_valid=accept_valid, confirm_nonstandard=confirm_nonstandard, channel="web"
        )
    except services.IngestError as exc:
        session.rollback()
        if exc.status_code in (403, 404):
            abort(404)
        return _render_batch(batch_id, refusal=exc, status=exc.status_code)
    session.commit()
    return redirect(url_for("batches.show", batch_id=batch_id, notice="commit_queued"))


def _render_batch(
    batch_id: int, *, notice: str = "", refusal: services.IngestError | None = None, status: int = 200
) -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    batch = readable_batch(session, actor, batch_id, tag=AuditTag.WEB_BATCH_READ)
    status_now = batch_status(session, batch, actor) if batch is not None else None
    session.commit()  # the read (or the refused attempt) is audited
    if batch is None:
        abort(404)
    return render_template(
        "batches/show.html",
        status=status_now,
        batch=batch,
        notice=NOTICES.get(notice),
        refusal=_refusal_message(refusal) if refusal else None,
    ), status


def _refusal_message(exc: services.IngestError) -> str:
    for kind, message in REFUSALS:
        if isinstance(exc, kind):
            return str(message)
    return str(REFUSALS[-1][1])


@bp.get("/batches/<int:batch_id>/errors.xlsx")
@login_required
def error_report(batch_id: int) -> ResponseReturnValue:
    session = db()
    batch = readable_batch(session, current_actor(), batch_id, tag=AuditTag.WEB_BATCH_ERROR_REPORT, needs_values=True)
    session.commit()  # the refused attempt is audited too
    if batch is None or not batch.file_path or batch.state == BatchState.FAILED:
        abort(404)
    return attachment(error_workbook(session, batch), XLSX_MIMETYPE, error_filename(batch))


@bp.get("/batches/template.xlsx")
@login_required
def template_xlsx() -> ResponseReturnValue:
    """The template; for an agency user its guide sheet lists the agency's departments."""
    actor = current_actor()
    departments = [(d.code, d.name) for d in _departments(db(), actor.agency_id)] if actor.agency_id else []
    return attachment(template.build_template_xlsx(departments), XLSX_MIMETYPE, "signalhub-template.xlsx")


@bp.get("/batches/template.csv")
@login_required
def template_csv() -> ResponseReturnValue:
    return attachment(template.build_template_csv(), "text/csv; charset=utf-8", "signalhub-template.csv")


# --- the single-record form ------------------------------------------------------------------------


@bp.route("/records/new", methods=["GET", "POST"])
@login_required
def new_record() -> ResponseReturnValue:
    """One record by hand, through the same rules (and the same merge) as a batch row."""
    session = db()
    actor = current_actor()
    if not may_ingest(actor):
        abort(403)
    agency = _record_agency(session, actor)
    if request.method == "GET" or agency is None:
        return _render_record_form(session, actor, agency)
    values = {column.key: request.form.get(column.key, "") for column in COLUMNS}
    today = beijing_today()
    try:
        row = RecordInputSchema(departments=services.department_lookup(session, agency.id), today=today).load(values)
    except ValidationError as exc:
        errors = _in_ui_language(field_issues(exc.messages))
        return _render_record_form(session, actor, agency, values=values, errors=errors, status=400)
    try:
        record_id = services.create_record(
            session,
            actor,
            row,
            agency=agency,
            cipher=state().cipher,
            channel="web",
            today=today,
            confirm_nonstandard=request.form.get("confirm_nonstandard") == "1",
        )
    except services.BatchNeedsConfirmation:
        shown = _in_ui_language([issue_detail(w.column, w.message_zh, w.message_en) for w in row_warnings(row)])
        return _render_record_form(session, actor, agency, values=values, warnings=shown, status=409)
    session.commit()
    return redirect(url_for("main.record", record_id=record_id))


def _record_agency(session: Session, actor: Actor) -> Agency | None:
    """The actor's agency; for the platform office the one named by ``agency`` (None until it chooses)."""
    code = (request.values.get("agency") or None) if actor.agency_id is None else None
    if actor.agency_id is None and code is None:
        return None
    try:
        agency = upload_agency(session, actor, code)
    except AgencyChoiceError:
        abort(404)
    if not services.can_upload_for(actor, agency):
        abort(403)
    return agency


def issue_detail(column: str, message_zh: object, message_en: object) -> dict[str, str]:
    return {"column": column, "message_zh": str(message_zh), "message_en": str(message_en)}


def field_issues(messages: object) -> list[dict[str, str]]:
    """``RecordInputSchema``'s error messages as ``{column, message_zh, message_en}``.

    The rules' messages come in both languages; what marshmallow says itself (an unknown key, a
    body that is not an object) is English only and gets a Chinese equivalent here.
    """
    if not isinstance(messages, dict):
        return [issue_detail("", "请求内容应为一个 JSON 对象", "the body must be a JSON object")]
    details = []
    for column, problems in messages.items():
        for problem in problems if isinstance(problems, list) else [problems]:
            if isinstance(problem, dict) and "message_en" in problem:
                details.append(issue_detail(str(column), problem["message_zh"], problem["message_en"]))
            elif column in COLUMNS_BY_KEY:
                details.append(issue_detail(str(column), f"{COLUMNS_BY_KEY[column].label_zh}无效", str(problem)))
            else:
                details.append(issue_detail(str(column), f"未知字段“{str(column)[:40]}”", str(problem)))
    return details


def _in_ui_language(details: list[dict[str, str]]) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = {}
    for detail in details:
        shown.setdefault(detail["column"], []).append(in_ui_language(detail["message_zh"], detail["message_en"]))
    return shown


def _render_record_form(
    session: Session,
    actor: Actor,
    agency: Agency | None,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, list[str]] | None = None,
    warnings: Mapping[str, list[str]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    departments = _departments(session, agency.id) if agency else []
    agencies = _active_agencies(session) if actor.agency_id is None else []
    session.commit()
    return render_template(
        "records/new.html",
        agency=agency,
        agencies=agencies,
        departments=departments,
        columns=COLUMNS_BY_KEY,
        choices=_choices(),
        values=values or {},
        errors=errors or {},
        warnings=warnings or {},
        is_on_behalf=agency is not None and actor.agency_id != agency.id,
    ), status


def _choices() -> dict[str, list[tuple[str, str]]]:
    """(value sent, label shown) for the select boxes: English values, labels as the template writes them."""
    is_zh = str(get_locale()) == "zh"
    return {
        key: [(en, zh if is_zh else en) for zh, en in labels.values()]
        for key, labels in (("kind", KIND_LABELS), ("risk_level", RISK_LEVEL_LABELS), ("openness", OPENNESS_LABELS))
    }


@bp.app_template_global()
def column_label(key: str) -> str:
    """A template column's name in the UI language: the template's Chinese header, or its English one."""
    column = COLUMNS_BY_KEY.get(key)
    if column is None:
        return key
    return in_ui_language(column.label_zh, COLUMN_LABELS_EN.get(key, key))


@bp.app_template_global()
def column_note(key: str) -> str:
    column = COLUMNS_BY_KEY[key]
    return in_ui_language(column.note_zh, column.note_en)
