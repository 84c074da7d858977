"""The audit log for auditors and the platform office (``/audit``), and "who read my data" for
member agencies (``/audit/readers``).

- The viewer filters the log by actor, agency, tag, subject and time, pages by seq (keyset), exports
  the filtered events as CSV (cells formula-escaped with ``sharing.export.escape_cell``), and
  verifies the hash chain and the checkpoints with ``verify_log``, as ``signalhub audit verify``
  does. The platform office's auditors (role ``auditor``, no agency) and admins may use it; anyone
  else gets 403, and the attempt is audited under the same tag.
- "Who read my data" lists which other agencies (and the platform office) read the viewer's
  agency's records, and when: agency admins, who manage the agency's sharing settings, and
  liaisons, who set each record's openness class when they upload it.

Every page is audited (``web:audit:read``, ``web:audit:export``, ``web:audit:verify``,
``web:readers:read``). On SQLite a transaction holds the database's write lock, so a verify of a
large log delays other writers until it finishes (docs/audit.md); the export ends its transaction
after every chunk so that a slow download never does.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit import queries
from signalhub_audit.integrity import checkpoint_keys_from_settings, verify_log
from signalhub_audit.services import record_event, write_pending_events
from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import redact_id_numbers
from signalhub_platform.identifiers.free_text import join_separated_id_numbers
from signalhub_platform.models import PLATFORM_OFFICE_CODE, Actor, Agency, AuditEvent, Role
from signalhub_platform.models.types import BEIJING, beijing_today
from signalhub_platform.sharing.export import escape_cell
from signalhub_platform.web.context import current_actor, db, state
from signalhub_platform.web.sessions import login_required

bp = Blueprint("audit_viewer", __name__, url_prefix="/audit")

PAGE_SIZE = 100
READERS_PAGE_SIZE = 50
READERS_DEFAULT_DAYS = 90
PROBLEMS_SHOWN = 50
PUBLIC_AGENCY = "-"  # the agency filter's value for events of the public (stored agency code "")
# Kinds of audit subjects offered as suggestions in the filter (any kind may be typed).
SUBJECT_KINDS = (
    "record",
    "entity",
    "person",
    "warning",
    "batch",
    "draw",
    "user",
    "report",
    "message",
    "audit_checkpoint",
)
FILTER_ERRORS = {
    "actor": _l("The actor is a user name of at most 100 characters."),
    "agency": _l("Choose an agency from the list."),
    "tag": _l("Choose a tag from the list."),
    "subject_kind": _l("A subject kind is written in lower-case letters and underscores."),
    "subject_ref": _l("A subject reference has at most 64 characters."),
    "subject": _l("Give both the subject's kind and its reference."),
    "since": _l("Enter the date as YYYY-MM-DD."),
    "until": _l("Enter the date as YYYY-MM-DD."),
    "range": _l("The start date must not be after the end date."),
    "before": _l("The page link is not valid; start again from the newest events."),
    "record": _l("A record reference has at most 64 characters."),
}
CHECK_FILTERS = _l("Check the filters.")
CHANNELS = {
    AuditTag.WEB_RECORD_READ: _l("Record page"),
    AuditTag.API_RECORD_READ: _l("API: record"),
    AuditTag.CLI_RECORD_READ: _l("Command line: record"),
    AuditTag.WEB_RECORD_EXPORT: _l("Record export"),
    AuditTag.API_RECORD_EXPORT: _l("API: record export"),
    AuditTag.WEB_ENTITY_READ: _l("Entity page"),
    AuditTag.API_ENTITY_READ: _l("API: entity"),
    AuditTag.CLI_ENTITY_READ: _l("Command line: entity"),
    AuditTag.WEB_WARNING_READ: _l("Warning page"),
    AuditTag.API_WARNING_READ: _l("API: warning"),
}
EXPORT_COLUMNS = ("seq", "occurred_at", "tag", "actor", "agency", "client_ip", "subjects", "data", "prev_hash", "hash")


def can_read_audit_log(actor: Actor) -> bool:
    """The platform office's auditors and admins (who read the audit log per the SPEC). The log holds
    every agency's reads and queries, so an auditor role given to a member agency's user opens nothing."""
    return actor.is_platform_office and actor.has_role(Role.AUDITOR, Role.PLATFORM_ADMIN)


def can_read_readers(actor: Actor) -> bool:
    """A member agency's admins and liaisons: those who decide how openly its records are shared."""
    return actor.is_member_agency_user and actor.has_role(Role.AGENCY_ADMIN, Role.LIAISON)


def _refuse(session: Session, actor: Actor, tag: AuditTag) -> NoReturn:
    """403, and the attempt kept in the log: reading the log is itself under audit."""
    record_event(session, tag, actor=actor, data={"denied": "role"})
    session.commit()
    abort(403)


# --- filters --------------------------------------------------------------------------------------


def _date_start(day: dt.date) -> dt.datetime:
    """Days are Beijing days, as the pages show times."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=BEIJING)


class DateRangeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    since = fields.Date(load_default=None, metadata={"description": "first day, inclusive"})
    until = fields.Date(load_default=None, metadata={"description": "last day, inclusive"})
    before = fields.Integer(validate=validate.Range(min=1), load_default=None)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise ValidationError("since is after until", "range")


class AuditFilterSchema(DateRangeSchema):
    actor = fields.String(validate=validate.Length(max=100), load_default=None)
    agency = fields.String(validate=validate.Length(max=32), load_default=None)
    tag = fields.String(validate=validate.OneOf([tag.value for tag in AuditTag]), load_default=None)
    subject_kind = fields.String(validate=validate.Regexp(r"^[a-z_]{1,32}$"), load_default=None)
    subject_ref = fields.String(validate=validate.Length(max=64), load_default=None)

    @validates_schema
    def _subject(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if bool(data.get("subject_kind")) != bool(data.get("subject_ref")):
            raise ValidationError("give both kind and reference", "subject")


class ReadersFilterSchema(DateRangeSchema):
    record = fields.String(validate=validate.Length(max=64), load_default=None, metadata={"description": "source ref"})


def _load(schema: Schema, args: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The loaded filters, or empty ones and the translated problems (blank values count as absent)."""
    try:
        return dict(schema.load({key: value.strip() for key, value in args.items() if value.strip()})), []
    except ValidationError as exc:
        names = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        return {}, sorted({str(FILTER_ERRORS.get(name, CHECK_FILTERS)) for name in names})


@dataclass(frozen=True)
class ViewerQuery:
    filters: queries.EventFilters
    before_seq: int | None
    args: dict[str, str]  # the filters as given, for the form and the page links (no ``before``)


def _viewer_query(values: dict[str, Any]) -> ViewerQuery:
    agency = values.get("agency")
    subject = (values["subject_kind"], values["subject_ref"]) if values.get("subject_kind") else None
    filters = queries.EventFilters(
        actor=values.get("actor"),
        agency_code="" if agency == PUBLIC_AGENCY else agency,
        tag=AuditTag(values["tag"]) if values.get("tag") else None,
        subject=subject,
        since=_date_start(values["since"]) if values.get("since") else None,
        until=_date_start(values["until"] + dt.timedelta(days=1)) if values.get("until") else None,
    )
    args = {
        key: value.isoformat() if isinstance(value, dt.date) else str(value)
        for key, value in values.items()
        if value is not None and key != "before"
    }
    return ViewerQuery(filters, values.get("before"), args)


def _audit_filters(args: Mapping[str, str]) -> dict[str, str]:
    """The filters as the audit log keeps them: an ID number typed into one (an actor, a subject or a
    record reference; with spaces or hyphens too) masked, as ``record_event`` refuses it in the clear."""
    return {key: redact_id_numbers(join_separated_id_numbers(value)) for key, value in args.items()}


def _audit_data(query: ViewerQuery) -> dict[str, Any]:
    return {"filters": _audit_filters(query.args), **({"before": query.before_seq} if query.before_seq else {})}


# --- the viewer -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    seq: int
    occurred_at: dt.datetime
    tag: str
    actor: str
    agency_code: str
    client_ip: str
    subjects: list[str]
    data: str


def _event_row(event: AuditEvent) -> EventRow:
    try:
        payload = json.loads(event.payload)
        subjects = [f"{kind}:{ref}" for kind, ref in payload.get("subjects", [])]
        data = json.dumps(payload.get("data", {}), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    except (ValueError, TypeError, AttributeError):
        # A payload that is not an event is shown as stored: verify names it.
        subjects, data = [], event.payload
    return EventRow(
        event.seq, event.occurred_at, event.tag, event.actor, event.agency_code, event.client_ip, subjects, data
    )


def _checkpoint_keys() -> tuple[dict[str, Ed25519PublicKey], str]:
    """The keys verify trusts, and the configuration problem that left some out (shown on the page)."""
    try:
        return checkpoint_keys_from_settings(state().settings), ""
    except ValueError as exc:  # a malformed SIGNALHUB_TRUSTED_CHECKPOINT_KEYS
        return {}, str(exc)


def _tag_groups() -> dict[str, list[str]]:
    """The closed vocabulary grouped by source (web, api, cli, job, public, security), for the select."""
    groups: dict[str, list[str]] = {}
    for value in sorted(tag.value for tag in AuditTag):
        groups.setdefault(value.split(":", 1)[0], []).append(value)
    return groups


def _agencies(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Agency.code, Agency.name).order_by(Agency.code)).all())


def _render_index(
    session: Session, actor: Actor, query: ViewerQuery, errors: list[str], status: int
) -> tuple[str, int]:
    keys, key_problem = _checkpoint_keys()
    events = [] if errors else queries.list_events(
        session,
        actor=query.filters.actor,
        agency_code=query.filters.agency_code,
        tag=query.filters.tag,
        subject=query.filters.subject,
        since=query.filters.since,
        until=query.filters.until,
        before_seq=query.before_seq,
        limit=PAGE_SIZE + 1,
    )  # fmt: skip
    rows = [_event_row(event) for event in events[:PAGE_SIZE]]
    checkpoint = queries.last_checkpoint(session, keys)
    record_event(
        session,
        AuditTag.WEB_AUDIT_READ,
        actor=actor,
        data={**_audit_data(query), "shown": len(rows), **({"invalid": True} if errors else {})},
    )
    session.commit()
    return render_template(
        "audit_viewer/index.html",
        rows=rows,
        older=rows[-1].seq if len(events) > PAGE_SIZE else None,
        is_first_page=query.before_seq is None,
        args=query.args,
        errors=errors,
        tag_groups=_tag_groups(),
        agencies=_agencies(session),
        subject_kinds=SUBJECT_KINDS,
        public_agency=PUBLIC_AGENCY,
        platform_code=PLATFORM_OFFICE_CODE,
        checkpoint=checkpoint,
        key_problem=key_problem,
    ), status


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    if not can_read_audit_log(actor):
        _refuse(session, actor, AuditTag.WEB_AUDIT_READ)
    values, errors = _load(AuditFilterSchema(), request.args)
    return _render_index(session, actor, _viewer_query(values), errors, 400 if errors else 200)


@bp.get("/export.csv")
@login_required
def export() -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    if not can_read_audit_log(actor):
        _refuse(session, actor, AuditTag.WEB_AUDIT_EXPORT)
    values, errors = _load(AuditFilterSchema(), request.args)
    if errors:
        return _render_index(session, actor, _viewer_query({}), errors, 400)
    query = replace(_viewer_query(values), before_seq=None)
    # Audited before any row leaves, and the export stops at its own event: what was exported is
    # exactly the filtered log up to that point, however long the download takes.
    record_event(session, AuditTag.WEB_AUDIT_EXPORT, actor=actor, data=_audit_data(query))
    appended = write_pending_events(session)
    assert appended is not None
    session.commit()
    filename = f"audit-{beijing_today().isoformat()}-{appended.seq}.csv"
    return Response(
        stream_with_context(_csv_chunks(session, query.filters, before_seq=appended.seq)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_chunks(session: Session, filters: queries.EventFilters, *, before_seq: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")  # Excel in China opens UTF-8 with a BOM without mojibake
    writer.writerow(EXPORT_COLUMNS)
    for chunk in queries.iter_events(session, filters, before_seq=before_seq):
        for event in chunk:
            row = _event_row(event)
            writer.writerow(
                [
                    escape_cell(cell)
                    for cell in (
                        row.seq,
                        row.occurred_at.astimezone(BEIJING).isoformat(timespec="seconds"),
                        row.tag,
                        row.actor,
                        row.agency_code,
                        row.client_ip,
                        " ".join(row.subjects),
                        row.data,
                        event.prev_hash,
                        event.hash,
                    )
                ]
            )
        session.rollback()  # end the read transaction between chunks (SQLite: release the lock)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


@bp.post("/verify")
@login_required
def verify() -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    if not can_read_audit_log(actor):
        _refuse(session, actor, AuditTag.WEB_AUDIT_VERIFY)
    keys, key_problem = _checkpoint_keys()
    result = verify_log(session, keys)
    checkpoint = queries.last_checkpoint(session, keys)
    # Recorded after the walk, as the newest event, so it never changes what was verified.
    record_event(
        session,
        AuditTag.WEB_AUDIT_VERIFY,
        actor=actor,
        data={
            "ok": result.ok,
            "events": result.events,
            "first_bad": result.first_bad,
            "problems": len(result.problems),
            "checkpoints": result.checkpoints,
        },
    )
    session.commit()
    return render_template(
        "audit_viewer/verify.html",
        result=result,
        problems=result.problems[:PROBLEMS_SHOWN],
        checkpoint=checkpoint,
        has_keys=bool(keys),
        key_problem=key_problem,
    )


# --- who read my data -----------------------------------------------------------------------------


@bp.get("/readers")
@login_required
def readers() -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    if not can_read_readers(actor):
        _refuse(session, actor, AuditTag.WEB_READERS_READ)
    assert actor.agency_id is not None  # a member agency user (can_read_readers)
    values, errors = _load(ReadersFilterSchema(), request.args)
    if "since" not in request.args and not errors:
        values["since"] = beijing_today() - dt.timedelta(days=READERS_DEFAULT_DAYS)
    report = None
    if not errors:
        report = queries.readers_of_records(
            session,
            owner_agency_id=actor.agency_id,
            owner_agency_code=actor.agency_code,
            since=_date_start(values["since"]) if values.get("since") else None,
            until=_date_start(values["until"] + dt.timedelta(days=1)) if values.get("until") else None,
            source_ref=values.get("record"),
            before_seq=values.get("before"),
            limit=READERS_PAGE_SIZE,
        )
    args = {
        key: value.isoformat() if isinstance(value, dt.date) else str(value)
        for key, value in values.items()
        if value is not None and key != "before"
    }
    if "since" in request.args and values.get("since") is None:
        args["since"] = ""  # "from the beginning", kept in the page links instead of the default
    record_event(
        session,
        AuditTag.WEB_READERS_READ,
        actor=actor,
        data={
            "filters": _audit_filters(args),
            **({"before": values["before"]} if values.get("before") else {}),
            **({"readers": len(report.readers), "events": len(report.recent)} if report else {"invalid": True}),
        },
    )
    session.commit()
    return render_template(
        "audit_viewer/readers.html",
        report=report,
        args=args,
        errors=errors,
        is_first_page=not values.get("before"),
        agencies=_agencies(session),
        platform_code=PLATFORM_OFFICE_CODE,
        channels=CHANNELS,
    ), 400 if errors else 200
