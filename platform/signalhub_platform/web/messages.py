"""Internal push messages (内部信息推送): the compose page, the sent box, one message, the unread count
for the navigation, and ``POST /api/v1/messages``.

Thin adapters over ``signalhub_platform.messaging.services``, which authorises, validates and audits
(sends, reads and refusals). The warning-visibility rule lives in ``signalhub_warnings``, which the
messaging layer may not import, so it is handed over here. A refusal is committed (its audit event
survives); an object the sender may not see is a 404, exactly like a missing one. The inbox list
itself stays with the warning pages (``/inbox``), which watch-list notifications have always used.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError

from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import redact_id_numbers
from signalhub_platform.messaging import services
from signalhub_platform.messaging.schemas import MessageRequestSchema, MessageSentSchema
from signalhub_platform.messaging.services import MessagingError
from signalhub_platform.web.batch_schemas import error_document
from signalhub_platform.web.context import current_actor, db
from signalhub_platform.web.security import api_auth_required
from signalhub_platform.web.sessions import login_required
from signalhub_warnings.services import visible_warnings_clause

bp = Blueprint("messages", __name__, url_prefix="/messages")
api_bp = Blueprint("api_messages", __name__, url_prefix="/api/v1")

MESSAGES = {
    "not_permitted": _l("You are not allowed to do this."),
    "title_required": _l("Enter a title."),
    "title_too_long": _l("The title is too long: at most %(count)s characters.", count=services.TITLE_MAX_LENGTH),
    "body_too_long": _l("The message is too long: at most %(count)s characters.", count=services.BODY_MAX_LENGTH),
    "id_number_in_text": _l(
        "Messages may not contain resident ID numbers. Refer to the person through the entity, record or warning."
    ),
    "choose_recipient": _l("Choose one member agency or one user, not both."),
    "unknown_agency": _l("Choose a member agency from the list."),
    "unknown_user": _l("Choose a user from the list."),
    "no_active_users": _l("This agency has no other active user to receive the message."),
    "recipient_disabled": _l("This user's account is disabled; choose another recipient."),
    "not_to_yourself": _l("You cannot send a message to yourself."),
}
REFUSED = _l("The request was refused.")
DONE = {"sent": _l("The message was sent.")}


def _message_of(code: str) -> str:
    return str(MESSAGES.get(code, REFUSED))


# --- the unread count in the navigation -------------------------------------------------------------


def unread_messages() -> int:
    """The signed-in user's unread messages (once per request); 0 for anyone else."""
    if "unread_messages" not in g:
        signed_in = g.get("user") is not None and g.get("auth_method") == "session"
        g.unread_messages = _count_unread() if signed_in else 0
    return int(g.unread_messages)


def _count_unread() -> int:
    session = db()
    # Asked while the page renders, after the view committed, the count begins a transaction of its
    # own (on SQLite BEGIN IMMEDIATE: the write lock) that would stay open through the rest of the
    # render until teardown. When it holds nothing but this read, it ends here.
    is_read_only = not session.in_transaction() and not (session.new or session.dirty or session.deleted)
    count = services.unread_count(session, current_actor())
    if is_read_only:
        session.commit()
    return count


@bp.app_context_processor
def _navigation() -> dict[str, Any]:
    return {"unread_messages": unread_messages}


# --- compose and send ----------------------------------------------------------------------------------


def _about_args(source: Any) -> tuple[str, str]:
    return source.get("about_type", ""), source.get("about_ref", "")


@bp.get("/new")
@login_required
def new() -> ResponseReturnValue:
    about_type, about_ref = _about_args(request.args)
    return _render_compose(about_type, about_ref, form={})


def _render_compose(
    about_type: str, about_ref: str, *, form: dict[str, str], error: str = "", status: int = 200
) -> ResponseReturnValue:
    session = db()
    try:
        about = services.find_about(
            session, current_actor(), about_type, about_ref,
            warnings_visible_to=visible_warnings_clause, tag=AuditTag.WEB_MESSAGE_SEND,
        )  # fmt: skip
    except MessagingError as exc:
        session.commit()  # keep the audit event of the refusal
        abort(exc.status_code)
    agencies, users = services.recipient_choices(session)
    session.commit()
    return render_template(
        "messages/new.html",
        about=about,
        agencies=agencies,
        users=[u for u in users if u.id != current_actor().user_id],
        form=form,
        error=error,
        title_max=services.TITLE_MAX_LENGTH,
        body_max=services.BODY_MAX_LENGTH,
    ), status


def _safe_echo(text: str) -> str:
    """What the user typed, for the form shown again; never an ID number, even the user's own."""
    masked = redact_id_numbers(text)
    return "" if services.contains_id_number(masked) else masked


@bp.post("/new")
@login_required
def send() -> ResponseReturnValue:
    about_type, about_ref = _about_args(request.form)
    form = {key: request.form.get(key, "") for key in ("recipient_agency", "recipient_user", "title", "body")}
    session = db()
    try:
        services.send_message(
            session, current_actor(), title=form["title"], body=form["body"], about_type=about_type,
            about_ref=about_ref, recipient_agency=form["recipient_agency"], recipient_user=form["recipient_user"],
            warnings_visible_to=visible_warnings_clause, tag=AuditTag.WEB_MESSAGE_SEND,
        )  # fmt: skip
    except MessagingError as exc:
        session.commit()  # keep the audit event of the refusal
        if exc.status_code in (403, 404):
            abort(exc.status_code)
        form["title"], form["body"] = _safe_echo(form["title"]), _safe_echo(form["body"])
        return _render_compose(about_type, about_ref, form=form, error=_message_of(exc.code), status=exc.status_code)
    session.commit()
    return redirect(url_for("messages.sent", done="sent"))


# --- the sent box and one message -------------------------------------------------------------------


@bp.get("/sent")
@login_required
def sent() -> ResponseReturnValue:
    session = db()
    try:
        items = services.list_sent(session, current_actor(), tag=AuditTag.WEB_MESSAGE_READ)
    except MessagingError as exc:
        session.commit()
        abort(exc.status_code)
    session.commit()
    done = request.args.get("done", "")
    return render_template("messages/sent.html", items=items, done=str(DONE[done]) if done in DONE else "")


@bp.get("/<int:message_id>")
@login_required
def show(message_id: int) -> ResponseReturnValue:
    session = db()
    try:
        opened = services.open_message(session, current_actor(), message_id, tag=AuditTag.WEB_MESSAGE_READ)
    except MessagingError as exc:
        session.commit()  # a lookup of a missing or foreign message is audited too
        abort(exc.status_code)
    session.commit()
    return render_template("messages/show.html", opened=opened, m=opened.message)


# --- JSON API ---------------------------------------------------------------------------------------------


@api_bp.post("/messages")
@api_auth_required
def api_send() -> tuple[dict[str, Any], int]:
    body = request.get_json(silent=True)
    try:
        data = MessageRequestSchema().load(body if isinstance(body, dict) else {})
    except ValidationError as exc:
        return error_document(400, "invalid input", exc.messages), 400
    session = db()
    try:
        result = services.send_message(session, current_actor(), **data, warnings_visible_to=visible_warnings_clause,
                                       tag=AuditTag.API_MESSAGE_SEND)  # fmt: skip
    except MessagingError as exc:
        session.commit()  # keep the audit event of the refusal
        if exc.status_code == 404:
            return error_document(404, "Not Found"), 404
        return error_document(exc.status_code, str(exc), {"reason": exc.code}), exc.status_code
    session.commit()
    document = {
        "sent": len(result.messages),
        "message_ids": [m.id for m in result.messages],
        "about_type": result.about.type,
        "about_ref": result.about.ref,
        "recipient_agency": result.recipients.agency.code if result.recipients.agency else None,
        "recipient_users": [u.username for u in result.recipients.users],
    }
    return MessageSentSchema().dump(document), 201
