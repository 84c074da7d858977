"""Home page per role, search, the entity page and the record page (with correct/withdraw)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_ingest import corrections
from signalhub_ingest.schemas import RecordCorrectionSchema, RecordWithdrawalSchema
from signalhub_platform.inspections.outcomes import entity_inspection_history
from signalhub_platform.models import Openness, RecordKind, RiskLevel
from signalhub_platform.models.visibility import can_manage_record
from signalhub_platform.sharing import services
from signalhub_platform.web.context import current_actor, db, state
from signalhub_platform.web.sessions import login_required
from signalhub_warnings import graph

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def index() -> str:
    session = db()
    actor = current_actor()
    visible = services.count_visible_records(session, actor)
    record_event(session, AuditTag.WEB_HOME_READ, actor=actor, data={"visible_records": visible})
    session.commit()
    return render_template("main/index.html", actor=actor, visible_records=visible)


@bp.route("/search", methods=["GET", "POST"])
@login_required
def search() -> str:
    """Search entities and persons. The form posts, so an ID number never lands in a URL or access log."""
    session = db()
    actor = current_actor()
    query = (request.form.get("q") if request.method == "POST" else request.args.get("q", "")) or ""
    query = query.strip()[:100]
    is_id_search = services.looks_like_id_number(query)
    notice = None
    if is_id_search and request.method == "GET":
        query, notice = "", "id_in_url"  # refuse to act on (or echo) an ID number taken from a URL
    entities = (
        services.search_entities(session, actor, query, tag=AuditTag.WEB_ENTITY_SEARCH)
        if query and not is_id_search
        else []
    )
    persons: list[services.PersonHit] = []
    if query:
        try:
            persons = services.search_persons(
                session, actor, query, cipher=state().cipher, tag=AuditTag.WEB_PERSON_SEARCH
            )
        except PermissionError:
            notice = "id_search_agency_only"
    session.commit()
    return render_template(
        "main/search.html",
        query="" if is_id_search else query,
        searched=bool(query),
        entities=entities,
        persons=persons,
        notice=notice,
    )


@bp.get("/entities/<uscc>")
@login_required
def entity(uscc: str) -> str:
    session = db()
    actor = current_actor()
    profile = services.get_entity_profile(session, actor, uscc, tag=AuditTag.WEB_ENTITY_READ)
    if profile is None:
        session.commit()  # a lookup of an unknown code is audited too
        abort(404)
    # Composed here: the sharing layer may not import warnings (sibling layers).
    linked = graph.linked_entities(session, actor, profile.entity.id, tag=AuditTag.WEB_ENTITY_LINKED)
    inspections = entity_inspection_history(session, profile.entity.id)
    session.commit()
    return render_template("main/entity.html", profile=profile, linked=linked, inspections=inspections)


@bp.get("/records/<int:record_id>")
@login_required
def record(record_id: int) -> str:
    return _render_record(record_id)


@bp.post("/records/<int:record_id>/correct")
@login_required
def correct(record_id: int) -> Response | str:
    form = {key: value for key, value in request.form.items() if value != "" and key != "csrf_token"}
    try:
        payload = dict(RecordCorrectionSchema().load(form))
    except ValidationError as exc:
        return _render_record(record_id, errors=exc.messages, status=400)  # type: ignore[return-value]
    reason = payload.pop("reason")
    return _change(
        record_id,
        lambda session: corrections.correct_record(
            session, current_actor(), record_id, payload, reason=reason, tag=AuditTag.WEB_RECORD_CORRECT
        ),
    )


@bp.post("/records/<int:record_id>/withdraw")
@login_required
def withdraw(record_id: int) -> Response | str:
    try:
        payload = RecordWithdrawalSchema().load({"reason": request.form.get("reason", "")})
    except ValidationError as exc:
        return _render_record(record_id, errors=exc.messages, status=400)  # type: ignore[return-value]
    return _change(
        record_id,
        lambda session: corrections.withdraw_record(
            session, current_actor(), record_id, reason=payload["reason"], tag=AuditTag.WEB_RECORD_WITHDRAW
        ),
    )


def _change(record_id: int, operation: object) -> Response | str:
    session = db()
    try:
        new = operation(session)  # type: ignore[operator]
    except corrections.RecordChangeError as exc:
        session.commit()  # keep the audit event of the refused attempt
        if isinstance(exc, corrections.RecordNotFound):
            abort(404)
        if isinstance(exc, corrections.NotRecordOwner):
            abort(403)
        return _render_record(record_id, errors={"_": [str(exc)]}, status=exc.status_code)  # type: ignore[return-value]
    session.commit()
    return redirect(url_for("main.record", record_id=new.id))


def _render_record(record_id: int, errors: object = None, status: int = 200) -> str:
    session = db()
    actor = current_actor()
    view = services.get_record(
        session, actor, record_id, tag=AuditTag.WEB_RECORD_READ, denied_tag=AuditTag.WEB_RECORD_DENIED
    )
    session.commit()
    if view is None:
        abort(404)
    return render_template(
        "main/record.html",
        view=view,
        # The same rule the correction service enforces, so the form shows exactly when it would work.
        is_owner=can_manage_record(actor, view.record),
        errors=errors,
        kinds=list(RecordKind),
        levels=list(RiskLevel),
        opennesses=list(Openness),
    ), status  # type: ignore[return-value]
