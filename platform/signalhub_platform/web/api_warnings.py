"""The JSON API of the warning queue, watch lists and the inbox (``/api/v1``, bearer tokens).

Thin adapters over ``signalhub_warnings.queue``: parse with a schema, call one service, commit
(refusals too, so their audit events survive), dump with a schema. The schemas here also feed the
OpenAPI document and the queue page's filter form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.models import Agency, Measure, RiskWarning, WarningLevel, WarningStatus
from signalhub_platform.sharing.schemas import RecordSchema
from signalhub_platform.web.batch_schemas import error_document
from signalhub_platform.web.context import current_actor, db, state
from signalhub_platform.web.security import api_auth_required
from signalhub_warnings import queue
from signalhub_warnings.lifecycle import LifecycleError
from signalhub_warnings.rules import Thresholds

bp = Blueprint("api_warnings", __name__, url_prefix="/api/v1")

Answer = tuple[dict[str, Any], int]
LEVELS = [level.value for level in WarningLevel]
STATUSES = [status.value for status in WarningStatus]
MEASURES = [measure.value for measure in Measure]


# --- schemas: what the queue accepts -------------------------------------------------------------


class QueueQuerySchema(Schema):
    """The queue's filters, from a query string (blank values count as absent)."""

    class Meta:
        unknown = EXCLUDE

    level = fields.String(validate=validate.OneOf(LEVELS), load_default=None)
    scope = fields.String(validate=validate.OneOf([s.value for s in queue.ScopeFilter]), load_default=None)
    region = fields.String(validate=validate.Length(max=64), load_default="", metadata={"description": "street"})
    industry = fields.String(
        validate=validate.Length(max=8), load_default="", metadata={"description": "GB/T 4754 code or prefix"}
    )
    status = fields.String(
        validate=validate.OneOf(STATUSES), load_default=None, metadata={"description": "default: the active ones"}
    )
    min_age = fields.Integer(
        validate=validate.Range(min=0, max=36500), load_default=None, metadata={"description": "days open, at least"}
    )
    max_age = fields.Integer(
        validate=validate.Range(min=0, max=36500), load_default=None, metadata={"description": "days open, at most"}
    )
    assignee = fields.String(
        validate=validate.Regexp(r"^(me|none|\d{1,12})$"),
        load_default=None,
        metadata={"description": "me, none or a user id"},
    )
    overdue = fields.Boolean(load_default=False, metadata={"description": "only those past their acknowledgement date"})
    sort = fields.String(validate=validate.OneOf([s.value for s in queue.Sort]), load_default=queue.Sort.LEVEL.value)
    page = fields.Integer(validate=validate.Range(min=1, max=100000), load_default=1)


# Built once: a schema is stateless between calls, and building this one costs more than a load.
_QUEUE_QUERY = QueueQuerySchema()


def load_queue_query(args: Any) -> tuple[queue.QueueFilters, queue.Sort, int]:
    """Filters, sort and page from a query string; raises ``ValidationError``."""
    data = _QUEUE_QUERY.load({key: value for key, value in args.items() if value != ""})
    filters = queue.QueueFilters(
        level=WarningLevel(data["level"]) if data["level"] else None,
        scope=queue.ScopeFilter(data["scope"]) if data["scope"] else None,
        region=data["region"].strip(),
        industry=data["industry"].strip(),
        status=WarningStatus(data["status"]) if data["status"] else None,
        min_age_days=data["min_age"],
        max_age_days=data["max_age"],
        assignee=data["assignee"] or "",
        is_overdue=data["overdue"],
    )
    return filters, queue.Sort(data["sort"]), data["page"]


class NoteSchema(Schema):
    note = fields.String(load_default="", validate=validate.Length(max=2000), metadata={"description": "why"})


class AssignSchema(NoteSchema):
    to = fields.String(
        required=True,
        validate=validate.Regexp(r"^(me|auto|\d{1,12})$"),
        metadata={"description": "me; auto (the least-loaded supervisor of your agency); or a colleague's user id"},
    )


class DisposeSchema(NoteSchema):
    measure = fields.String(required=True, validate=validate.OneOf(MEASURES))


class CloseSchema(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000), metadata={"description": "why"})


class SnoozeRequestSchema(Schema):
    rule = fields.String(required=True, metadata={"description": "one of the warning's rules (not manual)"})
    until = fields.Date(required=True, metadata={"description": "the last day (Beijing) the rule stays silent"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class FeedbackSchema(Schema):
    message = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    agencies = fields.List(
        fields.String(validate=validate.Length(max=32)),
        load_default=list,
        metadata={"description": "agency codes among the sources; default: every source agency"},
    )


class WatchRequestSchema(Schema):
    subject_type = fields.String(validate=validate.OneOf(["entity", "person"]), load_default=None)
    subject_id = fields.Integer(load_default=None)
    uscc = fields.String(validate=validate.Length(max=18), load_default=None, metadata={"description": "an entity"})


# --- schemas: what the queue answers ---------------------------------------------------------------


class WarningSummarySchema(Schema):
    id = fields.Integer(required=True)
    subject_type = fields.String(required=True, metadata={"enum": ["entity", "person"]})
    subject = fields.String(required=True, metadata={"description": "USCC, or the masked ID number"})
    name = fields.String(required=True)
    region = fields.String(required=True)
    industry = fields.String(required=True)
    scope = fields.String(required=True, metadata={"description": "the agency's code, or platform (red)"})
    scope_name = fields.String(required=True)
    level = fields.String(required=True, metadata={"enum": LEVELS})
    status = fields.String(required=True, metadata={"enum": STATUSES})
    rules = fields.List(fields.String(), required=True)
    record_count = fields.Integer(required=True)
    measure = fields.String(allow_none=True, required=True)
    assignee = fields.String(allow_none=True, required=True)
    opened_at = fields.DateTime(required=True)
    age_days = fields.Integer(required=True)
    acknowledge_due_on = fields.Date(allow_none=True, required=True)
    is_overdue = fields.Boolean(required=True)
    acknowledged_at = fields.DateTime(allow_none=True, required=True)
    closed_at = fields.DateTime(allow_none=True, required=True)
    cleared_at = fields.DateTime(allow_none=True, required=True)
    note = fields.String(required=True, metadata={"description": "the closing note"})


class QueuePageSchema(Schema):
    warnings = fields.List(fields.Nested(WarningSummarySchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "active warnings per level; the platform office's include every agency's"},
    )


class RuleExplanationSchema(Schema):
    code = fields.String(required=True)
    level = fields.String(required=True)
    text_zh = fields.String(required=True)
    text_en = fields.String(required=True)


class AgencyShareSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    records = fields.Integer(required=True)
    departments = fields.List(fields.String(), required=True)


class HiddenRecordsSchema(Schema):
    agency = fields.String(required=True, attribute="agency_code")
    agency_name = fields.String(required=True)
    count = fields.Integer(required=True)
    level = fields.String(required=True, metadata={"description": "the level of the warning they count toward"})


class ExplanationSchema(Schema):
    rules = fields.List(fields.Nested(RuleExplanationSchema), required=True)
    window_from = fields.Date(required=True)
    window_to = fields.Date(required=True)
    agencies = fields.List(fields.Nested(AgencyShareSchema), required=True)
    records = fields.List(fields.Nested(RecordSchema), required=True, metadata={"description": "those you may see"})
    counted_record_ids = fields.List(fields.Integer(), required=True)
    hidden = fields.List(
        fields.Nested(HiddenRecordsSchema),
        required=True,
        metadata={"description": "records you may not see: agency, count and level only"},
    )


class WarningEventSchema(Schema):
    kind = fields.String(required=True)
    at = fields.DateTime(required=True)
    actor = fields.String(required=True)
    from_level = fields.String(allow_none=True, required=True)
    to_level = fields.String(allow_none=True, required=True)
    from_status = fields.String(allow_none=True, required=True)
    to_status = fields.String(allow_none=True, required=True)
    note = fields.String(required=True)
    details = fields.Dict(required=True, attribute="evidence")


class ReceiptSchema(Schema):
    agency = fields.String(required=True)
    agency_name = fields.String(required=True)
    is_concerned = fields.Boolean(required=True)
    acknowledged_at = fields.DateTime(allow_none=True, required=True)


class SnoozeSchema(Schema):
    rule = fields.String(required=True)
    until = fields.DateTime(required=True)
    reason = fields.String(required=True)


class WarningDocumentSchema(Schema):
    warning = fields.Nested(WarningSummarySchema, required=True)
    explanation = fields.Nested(ExplanationSchema, required=True)
    events = fields.List(fields.Nested(WarningEventSchema), required=True)
    receipts = fields.List(fields.Nested(ReceiptSchema), required=True, metadata={"description": "red only"})
    pending_receipts = fields.List(fields.String(), required=True, metadata={"description": "agency codes"})
    snoozes = fields.List(fields.Nested(SnoozeSchema), required=True)
    actions = fields.List(fields.String(), required=True, metadata={"description": "what you may do now"})
    is_watching = fields.Boolean(required=True)


class ActionResultSchema(Schema):
    warning = fields.Nested(WarningSummarySchema, required=True)
    snooze = fields.Nested(SnoozeSchema)
    sent_to = fields.List(fields.String(), metadata={"description": "feedback: the agencies' codes"})
    receipts = fields.List(fields.Nested(ReceiptSchema))
    pending_receipts = fields.List(fields.String())


class WatchSchema(Schema):
    subject_type = fields.String(required=True)
    subject_id = fields.Integer(required=True)
    subject = fields.String(required=True, metadata={"description": "USCC, or the masked ID number"})
    name = fields.String(required=True)
    watched_at = fields.DateTime(required=True)
    warnings = fields.List(fields.Nested(WarningSummarySchema), required=True)


class WatchListSchema(Schema):
    watches = fields.List(fields.Nested(WatchSchema), required=True)


class WatchResultSchema(Schema):
    watch = fields.Nested(WatchSchema)
    removed = fields.Boolean()


class InboxMessageSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    about_type = fields.String(required=True)
    about_ref = fields.String(required=True)
    sender = fields.String(required=True)
    sender_agency = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    read_at = fields.DateTime(allow_none=True, required=True)


class InboxSchema(Schema):
    unread = fields.Integer(required=True)
    messages = fields.List(fields.Nested(InboxMessageSchema), required=True)


# Views build plain data and dump it once, at the top, with the response's schema.
_DOCUMENT = WarningDocumentSchema()
_QUEUE_PAGE = QueuePageSchema()


def summary_data(item: queue.QueueItem) -> dict[str, Any]:
    w, subject = item.warning, item.subject
    return {
        "id": w.id,
        "subject_type": subject.type.value,
        "subject": subject.code,
        "name": subject.name,
        "region": subject.region,
        "industry": subject.industry,
        "scope": w.scope_agency.code if w.scope_agency else w.scope_key,
        "scope_name": w.scope_agency.name if w.scope_agency else "",
        "level": w.level.value,
        "status": w.status.value,
        "rules": list(w.rules or []),
        "record_count": w.record_count,
        "measure": w.measure.value if w.measure else None,
        "assignee": w.assignee.username if w.assignee else None,
        "opened_at": w.opened_at,
        "age_days": item.age_days,
        "acknowledge_due_on": w.acknowledge_due_on,
        "is_overdue": item.is_overdue,
        "acknowledged_at": w.acknowledged_at,
        "closed_at": w.closed_at,
        "cleared_at": w.cleared_at,
        "note": w.note or "",
    }


def _receipts(lines: list[queue.ReceiptLine]) -> list[dict[str, Any]]:
    return [
        {
            "agency": line.agency.code,
            "agency_name": line.agency.name,
            "is_concerned": line.is_concerned,
            "acknowledged_at": line.receipt.at if line.receipt else None,
        }
        for line in lines
    ]


def _pending(lines: list[queue.ReceiptLine]) -> list[str]:
    return [line.agency.code for line in lines if line.is_concerned and line.receipt is None]


def warning_document(detail: queue.WarningDetail) -> dict[str, Any]:
    item = queue.QueueItem(detail.warning, detail.subject, detail.age_days, detail.is_overdue)
    return _DOCUMENT.dump(  # type: ignore[no-any-return]
        {
            "warning": summary_data(item),
            "explanation": {
                "rules": detail.rules,
                "window_from": detail.window[0],
                "window_to": detail.window[1],
                "agencies": detail.agencies,
                "records": detail.records,
                "counted_record_ids": sorted(detail.counted_ids),
                "hidden": detail.hidden,
            },
            "events": detail.events,
            "receipts": _receipts(detail.receipts),
            "pending_receipts": _pending(detail.receipts),
            "snoozes": detail.snoozes,
            "actions": [action.value for action in detail.actions],
            "is_watching": detail.is_watching,
        }
    )


def watch_data(watched: queue.WatchedSubject) -> dict[str, Any]:
    kind, _, number = watched.watch.subject_key.partition(":")
    subject = watched.subject
    return {
        "subject_type": kind,
        "subject_id": int(number),
        "subject": subject.code if subject else "",
        "name": subject.name if subject else "",
        "watched_at": watched.watch.created_at,
        "warnings": [summary_data(queue.item_of(w)) for w in watched.warnings],
    }


# --- routes -----------------------------------------------------------------------------------------


def thresholds() -> Thresholds:
    return Thresholds.from_settings(state().settings)


def _invalid(exc: ValidationError) -> Answer:
    return error_document(400, "invalid input", exc.messages), 400


def _refused(session: Session, exc: LifecycleError) -> Answer:
    session.commit()  # keep the audit event of the refusal
    if exc.status_code == 404:
        return error_document(404, "Not Found"), 404
    return error_document(exc.status_code, str(exc), {"reason": exc.code}), exc.status_code


def _body(schema: Schema) -> dict[str, Any]:
    body = request.get_json(silent=True)
    return dict(schema.load(body if isinstance(body, dict) else {}))


@bp.get("/warnings")
@api_auth_required
def list_warnings() -> Answer:
    try:
        filters, sort, page = load_queue_query(request.args)
    except ValidationError as exc:
        return _invalid(exc)
    session = db()
    try:
        result = queue.list_queue(session, current_actor(), filters, sort, tag=AuditTag.API_WARNING_LIST, page=page)
    except LifecycleError as exc:
        return _refused(session, exc)
    session.commit()
    document = {
        "warnings": [summary_data(item) for item in result.items],
        "total": result.total,
        "page": result.page,
        "pages": result.pages,
        "counts": result.counts,
    }
    return _QUEUE_PAGE.dump(document), 200


@bp.get("/warnings/<int:warning_id>")
@api_auth_required
def get_warning(warning_id: int) -> Answer:
    session = db()
    detail = queue.get_warning(
        session, current_actor(), warning_id, thresholds=thresholds(), tag=AuditTag.API_WARNING_READ
    )
    session.commit()  # a lookup of a missing or hidden warning is audited too
    if detail is None:
        return error_document(404, "Not Found"), 404
    return warning_document(detail), 200


def _act(schema: Schema, operation: Callable[[Session, dict[str, Any]], Any]) -> Answer:
    try:
        payload = _body(schema)
    except ValidationError as exc:
        return _invalid(exc)
    session = db()
    try:
        outcome = operation(session, payload)
    except LifecycleError as exc:
        return _refused(session, exc)
    session.commit()
    return ActionResultSchema().dump(outcome), 200


def _summary(warning: RiskWarning) -> dict[str, Any]:
    return summary_data(queue.item_of(warning))


def _summary_of(session: Session, warning_id: int) -> dict[str, Any]:
    """The warning's summary after a service that returns something else has acted on it."""
    warning = session.get(RiskWarning, warning_id)
    assert warning is not None  # the service has just found and changed it
    return _summary(warning)


def _act_on_warning(schema: Schema, operation: Callable[[Session, dict[str, Any]], RiskWarning]) -> Answer:
    """``_act`` for the steps whose service returns the changed warning: the answer is its summary."""
    return _act(schema, lambda session, data: {"warning": _summary(operation(session, data))})


@bp.post("/warnings/<int:warning_id>/assign")
@api_auth_required
def assign(warning_id: int) -> Answer:
    def run(session: Session, data: dict[str, Any]) -> RiskWarning:
        to: str | int = data["to"] if data["to"] in ("me", "auto") else int(data["to"])
        return queue.assign(
            session, current_actor(), warning_id, to=to, note=data["note"], tag=AuditTag.API_WARNING_ASSIGN
        )

    return _act_on_warning(AssignSchema(), run)


@bp.post("/warnings/<int:warning_id>/acknowledge")
@api_auth_required
def acknowledge(warning_id: int) -> Answer:
    return _act_on_warning(
        NoteSchema(),
        lambda session, data: queue.acknowledge(
            session, current_actor(), warning_id, note=data["note"], tag=AuditTag.API_WARNING_ACKNOWLEDGE
        ),
    )


@bp.post("/warnings/<int:warning_id>/dispose")
@api_auth_required
def dispose(warning_id: int) -> Answer:
    return _act_on_warning(
        DisposeSchema(),
        lambda session, data: queue.dispose(
            session, current_actor(), warning_id, measure=data["measure"], note=data["note"],
            tag=AuditTag.API_WARNING_DISPOSE,
        ),
    )  # fmt: skip


@bp.post("/warnings/<int:warning_id>/close")
@api_auth_required
def close(warning_id: int) -> Answer:
    return _act_on_warning(
        CloseSchema(),
        lambda session, data: queue.close(
            session, current_actor(), warning_id, note=data["note"], tag=AuditTag.API_WARNING_CLOSE
        ),
    )


@bp.post("/warnings/<int:warning_id>/snooze")
@api_auth_required
def snooze(warning_id: int) -> Answer:
    def run(session: Session, data: dict[str, Any]) -> dict[str, Any]:
        row = queue.snooze(
            session, current_actor(), warning_id, rule=data["rule"], until=data["until"], reason=data["reason"],
            tag=AuditTag.API_WARNING_SNOOZE,
        )  # fmt: skip
        return {"warning": _summary_of(session, warning_id), "snooze": row}

    return _act(SnoozeRequestSchema(), run)


@bp.post("/warnings/<int:warning_id>/feedback")
@api_auth_required
def feedback(warning_id: int) -> Answer:
    def run(session: Session, data: dict[str, Any]) -> dict[str, Any]:
        messages = queue.send_feedback(
            session, current_actor(), warning_id, message=data["message"], agencies=data["agencies"],
            thresholds=thresholds(), tag=AuditTag.API_WARNING_FEEDBACK,
        )  # fmt: skip
        sent = [agency.code for m in messages if (agency := session.get(Agency, m.recipient_agency_id)) is not None]
        return {"warning": _summary_of(session, warning_id), "sent_to": sent}

    return _act(FeedbackSchema(), run)


@bp.post("/warnings/<int:warning_id>/receipt")
@api_auth_required
def receipt(warning_id: int) -> Answer:
    def run(session: Session, data: dict[str, Any]) -> dict[str, Any]:
        listing = queue.record_receipt(
            session, current_actor(), warning_id, note=data["note"], thresholds=thresholds(),
            tag=AuditTag.API_WARNING_RECEIPT,
        )  # fmt: skip
        return {"warning": _summary_of(session, warning_id), "receipts": _receipts(listing.receipts),
                "pending_receipts": _pending(listing.receipts)}  # fmt: skip

    return _act(NoteSchema(), run)


# --- watch lists and the inbox -----------------------------------------------------------------------


@bp.get("/watches")
@api_auth_required
def list_watches() -> Answer:
    session = db()
    try:
        watched = queue.list_watches(session, current_actor(), tag=AuditTag.API_WATCH_LIST)
    except LifecycleError as exc:
        return _refused(session, exc)
    session.commit()
    return WatchListSchema().dump({"watches": [watch_data(w) for w in watched]}), 200


def _watch_subject(session: Session, tag: AuditTag, action: str) -> queue.Subject:
    """From the JSON body or, for a DELETE without one, the query string; a subject the caller may
    not know of is a 404 like a missing one, audited under ``tag``."""
    body = request.get_json(silent=True)
    source = body if isinstance(body, dict) and body else {k: v for k, v in request.args.items() if v != ""}
    data = WatchRequestSchema().load(source)
    return queue.find_subject(
        session, current_actor(), subject_type=data["subject_type"], subject_id=data["subject_id"],
        uscc=data["uscc"], tag=tag, action=action, is_watched_enough=action == "unwatch",
    )  # fmt: skip


@bp.post("/watches")
@api_auth_required
def add_watch() -> Answer:
    session = db()
    try:
        subject = _watch_subject(session, AuditTag.API_WATCH_ADD, "watch")
        row = queue.watch(session, current_actor(), subject, tag=AuditTag.API_WATCH_ADD)
        warnings = queue.list_subject_warnings(session, current_actor(), subject.key, tag=AuditTag.API_WATCH_ADD)
        watched = queue.WatchedSubject(row, subject, warnings)
    except ValidationError as exc:
        return _invalid(exc)
    except LifecycleError as exc:
        return _refused(session, exc)
    session.commit()
    return WatchResultSchema().dump({"watch": watch_data(watched)}), 201


@bp.delete("/watches")
@api_auth_required
def remove_watch() -> Answer:
    session = db()
    try:
        subject = _watch_subject(session, AuditTag.API_WATCH_REMOVE, "unwatch")
        removed = queue.unwatch(session, current_actor(), subject, tag=AuditTag.API_WATCH_REMOVE)
    except ValidationError as exc:
        return _invalid(exc)
    except LifecycleError as exc:
        return _refused(session, exc)
    session.commit()
    return WatchResultSchema().dump({"removed": removed}), 200


@bp.get("/inbox")
@api_auth_required
def inbox() -> Answer:
    session = db()
    is_unread_only = request.args.get("unread", "") in ("1", "true")
    try:
        box = queue.inbox(session, current_actor(), tag=AuditTag.API_INBOX_READ, is_unread_only=is_unread_only)
    except LifecycleError as exc:
        return _refused(session, exc)
    session.commit()
    messages = [
        {
            "id": m.message.id,
            "title": m.message.title,
            "body": m.message.body,
            "about_type": m.message.about_type,
            "about_ref": m.message.about_ref,
            "sender": m.sender,
            "sender_agency": m.sender_agency,
            "created_at": m.message.created_at,
            "read_at": m.message.read_at,
        }
        for m in box.messages
    ]
    return InboxSchema().dump({"unread": box.unread, "messages": messages}), 200
