"""The JSON API, version 1 (bearer tokens). Thin adapters over the sharing and ingest services."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, request
from marshmallow import ValidationError

from signalhub_audit.tags import AuditTag
from signalhub_ingest import corrections
from signalhub_ingest.schemas import RecordCorrectionSchema, RecordWithdrawalSchema
from signalhub_platform.sharing import services
from signalhub_platform.sharing.export import to_csv
from signalhub_platform.sharing.schemas import EntitySummarySchema, entity_document, record_document, record_schema
from signalhub_platform.web.context import current_actor, db
from signalhub_platform.web.security import api_auth_required

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


@bp.get("/entities/<uscc>")
@api_auth_required
def get_entity(uscc: str) -> dict[str, Any]:
    session = db()
    actor = current_actor()
    profile = services.get_entity_profile(session, actor, uscc, tag=AuditTag.API_ENTITY_READ, purpose=_purpose())
    session.commit()  # a lookup of an unknown code is audited too
    if profile is None:
        abort(404)
    return entity_document(profile, is_public=actor.is_public)


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
        abort(Response(_json_error(400, "invalid input", exc.messages), status=400, mimetype="application/json"))


def _change(operation: Any) -> tuple[dict[str, Any], int]:
    session = db()
    try:
        new = operation(session)
    except corrections.RecordChangeError as exc:
        session.commit()  # keep the audit event of the refused attempt
        return {"error": {"code": exc.status_code, "message": str(exc)}}, exc.status_code
    session.commit()
    return {"record": record_schema(is_public=False).dump(new)}, 200


def _json_error(code: int, message: str, details: object) -> str:
    import json

    return json.dumps({"error": {"code": code, "message": message, "details": details}}, ensure_ascii=False)
