"""The JSON API, version 1 (bearer tokens). Thin adapters over the sharing and ingest services."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, make_response, request, url_for
from marshmallow import Schema, ValidationError, fields

from signalhub_audit.tags import AuditTag
from signalhub_ingest import corrections
from signalhub_ingest import services as ingest
from signalhub_ingest.readers import ReaderError, UnsupportedFile
from signalhub_ingest.schemas import RecordCorrectionSchema, RecordInputSchema, RecordWithdrawalSchema
from signalhub_ingest.validator import row_warnings
from signalhub_platform.models import Batch, BatchState
from signalhub_platform.models.types import beijing_today
from signalhub_platform.sharing import services
from signalhub_platform.sharing.export import to_csv
from signalhub_platform.sharing.schemas import EntitySummarySchema, entity_document, record_document, record_schema
from signalhub_platform.web import batches
from signalhub_platform.web.batch_schemas import (
    BatchCommitResultSchema,
    BatchCommitSchema,
    BatchSchema,
    BatchUploadResultSchema,
    BatchUploadSchema,
    error_document,
)
from signalhub_platform.web.context import current_actor, db, state
from signalhub_platform.web.security import api_auth_required
from signalhub_warnings import graph

bp = Blueprint("api", __name__, url_prefix="/api/v1")

EXPORT_COLUMNS = (
    "id",
    "version",
    "status",
    "agency",
    "department",
    "kind",
    "risk_level",
    "openness",
    "uscc",
    "category",
    "description",
    "occurred_on",
    "source_ref",
    "change_reason",
)


def _purpose() -> str:
    """Why the caller reads (recorded in the audit event); optional, free text."""
    return (request.headers.get("X-Signalhub-Purpose") or request.args.get("purpose") or "")[:100]


@bp.get("/entities")
@api_auth_required
def search_entities() -> dict[str, Any]:
    session = db()
    entities = services.search_entities(
        session, current_actor(), request.args.get("q", ""), tag=AuditTag.API_ENTITY_SEARCH
    )
    session.commit()
    return {"results": EntitySummarySchema(many=True).dump(entities)}


class EntityWarningSchema(Schema):
    """One of the entity's own active warnings, as far as the caller may see it."""

    id = fields.Integer()
    level = fields.String(metadata={"enum": ["yellow", "orange", "red"]})
    scope = fields.String(metadata={"description": "the agency's code, or platform (red)"})
    status = fields.String()
    rules = fields.List(fields.String())
    record_count = fields.Integer(attribute="records")
    opened_at = fields.DateTime()


class EntityRefSchema(Schema):
    uscc = fields.String()
    name = fields.String()


class ConnectingPersonSchema(Schema):
    name = fields.String()
    id_number_masked = fields.String(attribute="id_masked")
    warning_levels = fields.List(fields.String(), metadata={"description": "the person's own, strongest first"})


class LinkedEntitySchema(EntityRefSchema):
    """An entity linked through shared responsible persons, with the warning levels the caller may see."""

    hops = fields.Integer(metadata={"description": "1: shares a person; 2: through one more entity"})
    is_current = fields.Boolean(metadata={"description": "false when the link is made of former roles only"})
    persons = fields.List(fields.Nested(ConnectingPersonSchema))
    via = fields.List(fields.Nested(EntityRefSchema), metadata={"description": "intermediate entities"})
    warning_levels = fields.List(fields.String(), metadata={"description": "strongest first"})


_WARNINGS_SCHEMA = EntityWarningSchema(many=True)
_LINKED_SCHEMA = LinkedEntitySchema(many=True)


@bp.get("/entities/<uscc>")
@api_auth_required
def get_entity(uscc: str) -> dict[str, Any]:
    session = db()
    actor = current_actor()
    profile = services.get_entity_profile(session, actor, uscc, tag=AuditTag.API_ENTITY_READ, purpose=_purpose())
    if profile is None:
        session.commit()  # a lookup of an unknown code is audited too
        abort(404)
    # Composed here: the sharing layer may not import warnings (sibling layers).
    linked = graph.linked_entities(session, actor, profile.entity.id, tag=AuditTag.API_ENTITY_LINKED)
    session.commit()
    return entity_document(profile, is_public=actor.is_public) | {
        "warnings": _WARNINGS_SCHEMA.dump(linked.warnings),
        "linked_entities": _LINKED_SCHEMA.dump(linked.links),
        "linked_entities_truncated": linked.is_truncated,
    }


@bp.get("/records/<int:record_id>")
@api_auth_required
def get_record(record_id: int) -> dict[str, Any]:
    view = _read_record(record_id, AuditTag.API_RECORD_READ)
    return record_document(view, is_public=current_actor().is_public)


@bp.get("/records/<int:record_id>/export")
@api_auth_required
def export_record(record_id: int) -> Response:
    view = _read_record(record_id, AuditTag.API_RECORD_EXPORT)
    rows = [
        (
            r.id,
            r.version,
            r.status,
            r.agency.code,
            r.department.name,
            r.kind,
            r.risk_level,
            r.openness,
            r.entity.uscc if r.entity else None,
            r.category,
            r.description,
            r.occurred_on.isoformat(),
            r.source_ref,
            r.change_reason,
        )
        for r in view.history
    ]
    return Response(
        to_csv(EXPORT_COLUMNS, rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="record-{record_id}.csv"'},
    )


@bp.put("/records/<int:record_id>")
@api_auth_required
def correct_record(record_id: int) -> tuple[dict[str, Any], int]:
    payload = _load(RecordCorrectionSchema())
    reason = payload.pop("reason")
    return _change(
        lambda session: corrections.correct_record(
            session, current_actor(), record_id, payload, reason=reason, tag=AuditTag.API_RECORD_CORRECT
        )
    )


@bp.delete("/records/<int:record_id>")
@api_auth_required
def withdraw_record(record_id: int) -> tuple[dict[str, Any], int]:
    payload = _load(RecordWithdrawalSchema())
    return _change(
        lambda session: corrections.withdraw_record(
            session, current_actor(), record_id, reason=payload["reason"], tag=AuditTag.API_RECORD_WITHDRAW
        )
    )


def _read_record(record_id: int, tag: AuditTag) -> services.RecordView:
    session = db()
    denied = AuditTag.API_RECORD_DENIED
    view = services.get_record(session, current_actor(), record_id, tag=tag, denied_tag=denied, purpose=_purpose())
    session.commit()  # a denied attempt is audited too
    if view is None:
        abort(404)
    return view


def _load(schema: Any) -> dict[str, Any]:
    try:
        return dict(schema.load(request.get_json(silent=True) or {}))
    except ValidationError as exc:
        abort(make_response(error_document(400, "invalid input", exc.messages), 400))


def _change(operation: Any) -> tuple[dict[str, Any], int]:
    session = db()
    try:
        new = operation(session)
    except corrections.RecordChangeError as exc:
        session.commit()  # keep the audit event of the refused attempt
        return error_document(exc.status_code, str(exc)), exc.status_code
    session.commit()
    return {"record": record_schema(is_public=False).dump(new)}, 200


# --- ingest: single records and batch uploads ------------------------------------------------------

Answer = tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]


@bp.post("/records")
@api_auth_required
def create_record() -> Answer:
    """One record, validated by the same rules as a batch row; an existing source_ref makes a new version."""
    session = db()
    actor = current_actor()
    if not batches.may_ingest(actor):
        abort(403)
    try:
        agency = batches.upload_agency(session, actor, request.args.get("agency") if actor.agency_id is None else None)
    except ingest.IngestError as exc:
        return error_document(400, str(exc)), 400
    if not ingest.can_upload_for(actor, agency):
        abort(403)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_document(400, "the body must be a JSON object"), 400
    schema = RecordInputSchema(departments=ingest.department_lookup(session, agency.id), today=beijing_today())
    try:
        row = schema.load(body)
    except ValidationError as exc:
        return error_document(400, "invalid record", batches.field_issues(exc.messages)), 400
    try:
        record_id = ingest.create_record(
            session,
            actor,
            row,
            agency=agency,
            cipher=state().cipher,
            channel="api",
            today=beijing_today(),
            confirm_nonstandard=request.args.get("confirm_nonstandard", "") in ("1", "true"),
        )
    except ingest.BatchNeedsConfirmation:
        details = [batches.issue_detail(w.column, w.message_zh, w.message_en) for w in row_warnings(row)]
        message = "nonstandard credit code: check it, then send the record again with ?confirm_nonstandard=1"
        return error_document(409, message, details), 409
    view = services.get_record(
        session, actor, record_id, tag=AuditTag.API_RECORD_READ, denied_tag=AuditTag.API_RECORD_DENIED
    )
    session.commit()
    assert view is not None  # the creator's own agency always sees its record
    return record_document(view, is_public=False), 201, {"Location": url_for("api.get_record", record_id=record_id)}


@bp.post("/batches")
@api_auth_required
def upload_batch() -> Answer:
    """Store a file and queue its validation: 202 and the new batch, or 200 and the earlier identical one."""
    session = db()
    actor = current_actor()
    if not batches.may_ingest(actor):
        abort(403)
    try:
        data = BatchUploadSchema().load(batches.upload_form())
        agency = batches.upload_agency(session, actor, data["agency"])
        outcome = batches.upload_batch(
            session, actor, agency=agency, period=data["period"], upload=data["file"], channel="api"
        )
    except ValidationError as exc:
        return error_document(400, "invalid upload", exc.messages), 400
    except ReaderError as exc:
        message = "unsupported file" if isinstance(exc, UnsupportedFile) else "unreadable file"
        return error_document(400, message, [{"message_zh": exc.message_zh, "message_en": exc.message_en}]), 400
    except ingest.IngestError as exc:
        return error_document(exc.status_code, str(exc)), exc.status_code
    session.commit()
    status = batches.batch_status(session, outcome.batch, actor, is_duplicate=outcome.is_duplicate)
    location = {"Location": url_for("api.get_batch", batch_id=outcome.batch.id)}
    return BatchUploadResultSchema().dump(status), 200 if outcome.is_duplicate else 202, location


@bp.get("/batches/<int:batch_id>")
@api_auth_required
def get_batch(batch_id: int) -> dict[str, Any]:
    session = db()
    actor = current_actor()
    batch = batches.readable_batch(session, actor, batch_id, tag=AuditTag.API_BATCH_READ)
    session.commit()
    if batch is None:
        abort(404)
    return BatchSchema().dump(batches.batch_status(session, batch, actor))  # type: ignore[no-any-return]


@bp.post("/batches/<int:batch_id>/commit")
@api_auth_required
def commit_batch(batch_id: int) -> Answer:
    """Queue the commit (202), or with ``?wait=1`` run it in the request (200) for scripts and tests.

    Either way the preconditions are checked first, so a missing decision or confirmation, or a
    second commit, is a 409 at once; the commit itself re-checks them under its compare-and-set.
    """
    session = db()
    actor = current_actor()
    choice = _load(BatchCommitSchema())
    is_waiting = request.args.get("wait", "") in ("1", "true")
    try:
        if is_waiting:
            batches.commit_now(session, actor, batch_id, channel="api", **choice)
        else:
            batches.queue_commit(session, actor, batch_id, channel="api", **choice)
    except ingest.IngestError as exc:
        session.rollback()
        code = 404 if exc.status_code in (403, 404) else exc.status_code
        return error_document(code, str(exc) if code != 404 else "Not Found", _refusal_reason(exc)), code
    session.commit()
    batch = session.get(Batch, batch_id, populate_existing=True)
    assert batch is not None
    result = BatchCommitResultSchema().dump(batches.batch_status(session, batch, actor)) | {"queued": not is_waiting}
    return result, 200 if is_waiting else 202, {"Location": url_for("api.get_batch", batch_id=batch_id)}


def _refusal_reason(exc: ingest.IngestError) -> dict[str, str]:
    if isinstance(exc, ingest.BatchNeedsDecision):
        return {"reason": "needs_decision", "hint": "send accept_valid: true to commit the valid rows only"}
    if isinstance(exc, ingest.BatchNeedsConfirmation):
        return {"reason": "needs_confirmation", "hint": "send confirm_nonstandard: true after checking the codes"}
    if isinstance(exc, ingest.BatchConflict):
        return {"reason": "conflict"}
    return {"reason": "refused"}


@bp.get("/batches/<int:batch_id>/errors.xlsx")
@api_auth_required
def batch_error_report(batch_id: int) -> Response:
    session = db()
    actor = current_actor()
    batch = batches.readable_batch(session, actor, batch_id, tag=AuditTag.API_BATCH_ERROR_REPORT, needs_values=True)
    session.commit()  # the refused attempt is audited too
    if batch is None or not batch.file_path or batch.state == BatchState.FAILED:
        abort(404)
    data = batches.error_workbook(session, batch)
    return batches.attachment(data, batches.XLSX_MIMETYPE, batches.error_filename(batch))
