"""The supervisors' warning pages: the queue, one warning (explanation, history, the forms that work
it), marks by hand, the watch list and the inbox.

Thin adapters over ``signalhub_warnings.queue``: every form posts with the session's CSRF token;
the service authorises and audits (reads, changes and refusals); the view commits once, then
redirects (PRG) or renders the refusal in the user's language with its status code. A warning
the user may not see is a 404, exactly like a missing one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.models import Measure, WarningLevel, WarningStatus
from signalhub_platform.models.types import beijing_today
from signalhub_platform.web.api_warnings import load_queue_query, thresholds
from signalhub_platform.web.context import current_actor, db
from signalhub_platform.web.sessions import login_required, safe_next
from signalhub_warnings import lifecycle, queue
from signalhub_warnings.lifecycle import LifecycleError

bp = Blueprint("warnings_queue", __name__)
T = TypeVar("T")

MESSAGES = {
    "not_permitted": _l("You are not allowed to do this."),
    "bad_transition": _l("This step is not possible in the warning's current status."),
    "not_red": _l("Receipts are for red warnings only."),
    "note_required": _l("Enter a note."),
    "note_too_long": _l("The note is too long."),
    "reason_required": _l("Enter a reason."),
    "reason_too_long": _l("The reason is too long."),
    "message_required": _l("Enter a message."),
    "message_too_long": _l("The message is too long."),
    "bad_measure": _l("Choose a measure."),
    "rule_not_snoozable": _l("A mark by hand is lifted by an agency admin, not snoozed."),
    "bad_rule": _l("Choose one of the warning's rules."),
    "until_not_future": _l("The snooze must end after today."),
    "until_too_far": _l("A snooze lasts at most a year."),
    "bad_date": _l("Enter the date as YYYY-MM-DD."),
    "bad_assignee": _l("Choose whom to assign the warning to."),
    "not_a_colleague": _l("The assignee must be an active supervisor of your agency."),
    "not_a_supervisor": _l("The assignee must be an active supervisor of a member agency."),
    "red_needs_assignee": _l("Choose the supervisor to whom the red warning is assigned."),
    "not_active": _l("This warning is no longer active: it was closed or cleared in the meantime."),
    "no_supervisor": _l("Your agency has no active supervisor."),
    "not_a_source": _l("Feedback goes to the agencies holding the warning's records."),
    "not_concerned": _l("Your agency holds no shared or public records on this subject."),
    "already_acknowledged": _l("Your agency has already acknowledged this warning."),
    "already_marked": _l("Your agency has already marked this subject."),
    "already_lifted": _l("The mark has already been lifted."),
    "bad_subject": _l("Choose an entity or a person."),
    "bad_filter": _l("Some filters were not understood; check them."),
}
REFUSED = _l("The request was refused.")
DONE = {
    "assigned": _l("The warning was assigned."),
    "acknowledged": _l("The warning was acknowledged."),
    "disposed": _l("The measure was recorded."),
    "closed": _l("The warning was closed."),
    "snoozed": _l("The rule was snoozed; the next evaluation takes it into account."),
    "feedback": _l("The feedback was sent."),
    "receipt": _l("Your agency's receipt was recorded."),
    "marked": _l("The subject was marked; its warning appears at the next evaluation."),
    "lifted": _l("The mark was lifted; the next evaluation clears what it alone held up."),
    "watching": _l("You are watching this subject: changes to its warnings reach your inbox."),
    "unwatched": _l("You no longer watch this subject."),
}


def message_of(code: str) -> str:
    return str(MESSAGES.get(code, REFUSED))


def done_of(code: str) -> str:
    """The notice for a ``done=`` code; an unknown one (the query string is the user's) shows none."""
    return str(DONE[code]) if code in DONE else ""


def _serve(operation: Callable[[Session], T]) -> T:
    """Run one service and commit; a refusal is committed too (its audit event survives) and
    answered with its status code (a hidden or missing thing: 404)."""
    session = db()
    try:
        result = operation(session)
    except LifecycleError as exc:
        session.commit()
        abort(exc.status_code)
    session.commit()
    return result


# --- the queue --------------------------------------------------------------------------------------


@bp.get("/warnings")
@login_required
def index() -> ResponseReturnValue:
    actor = current_actor()
    error = ""
    try:
        filters, sort, page = load_queue_query(request.args)
    except ValidationError:
        filters, sort, page, error = queue.QueueFilters(), queue.Sort.LEVEL, 1, "bad_filter"
    result = _serve(
        lambda session: queue.list_queue(session, actor, filters, sort, tag=AuditTag.WEB_WARNING_LIST, page=page)
    )
    args = {key: value for key, value in request.args.items() if value != "" and key != "page"}
    return render_template(
        "warnings_queue/index.html",
        result=result,
        args=args,
        error=message_of(error) if error else "",
        levels=list(queue.LEVELS_BY_SEVERITY),
        statuses=list(WarningStatus),
        sorts=list(queue.Sort),
        shows_rows_of_every_level=actor.agency_id is not None,
    ), 400 if error else 200


# --- one warning -------------------------------------------------------------------------------------


@bp.get("/warnings/<int:warning_id>")
@login_required
def show(warning_id: int) -> ResponseReturnValue:
    return _render_warning(warning_id, done=request.args.get("done", ""))


def _render_warning(warning_id: int, *, done: str = "", error: str = "", status: int = 200) -> ResponseReturnValue:
    session = db()
    actor = current_actor()
    detail = queue.get_warning(session, actor, warning_id, thresholds=thresholds(), tag=AuditTag.WEB_WARNING_READ)
    session.commit()  # a lookup of a missing or hidden warning is audited too
    if detail is None:
        abort(404)
    return render_template(
        "warnings_queue/show.html",
        d=detail,
        w=detail.warning,
        actions={action.value for action in detail.actions},
        measures=list(Measure),
        snoozable=[rule for rule in detail.warning.rules or [] if rule not in lifecycle.UNSNOOZABLE_RULES],
        today=beijing_today(),
        done=done_of(done),
        error=error,
        can_mark=lifecycle.can_mark(actor),
    ), status


def _work(warning_id: int, done: str, operation: Callable[[Session], object]) -> ResponseReturnValue:
    session = db()
    try:
        operation(session)
    except LifecycleError as exc:
        session.commit()  # keep the audit event of the refusal
        if exc.status_code == 404:
            abort(404)
        return _render_warning(warning_id, error=message_of(exc.code), status=exc.status_code)
    session.commit()
    return redirect(url_for("warnings_queue.show", warning_id=warning_id, done=done))


def _form(name: str) -> str:
    return request.form.get(name, "")


@bp.post("/warnings/<int:warning_id>/assign")
@login_required
def assign(warning_id: int) -> ResponseReturnValue:
    to: str | int = _form("to")
    if to not in ("me", "auto"):
        to = int(to) if str(to).isdigit() else "invalid"
    return _work(
        warning_id,
        "assigned",
        lambda session: queue.assign(
            session, current_actor(), warning_id, to=to, note=_form("note"), tag=AuditTag.WEB_WARNING_ASSIGN
        ),
    )


@bp.post("/warnings/<int:warning_id>/acknowledge")
@login_required
def acknowledge(warning_id: int) -> ResponseReturnValue:
    return _work(
        warning_id,
        "acknowledged",
        lambda session: queue.acknowledge(
            session, current_actor(), warning_id, note=_form("note"), tag=AuditTag.WEB_WARNING_ACKNOWLEDGE
        ),
    )


@bp.post("/warnings/<int:warning_id>/dispose")
@login_required
def dispose(warning_id: int) -> ResponseReturnValue:
    return _work(
        warning_id,
        "disposed",
        lambda session: queue.dispose(
            session, current_actor(), warning_id, measure=_form("measure"), note=_form("note"),
            tag=AuditTag.WEB_WARNING_DISPOSE,
        ),
    )  # fmt: skip


@bp.post("/warnings/<int:warning_id>/close")
@login_required
def close(warning_id: int) -> ResponseReturnValue:
    return _work(
        warning_id,
        "closed",
        lambda session: queue.close(
            session, current_actor(), warning_id, note=_form("note"), tag=AuditTag.WEB_WARNING_CLOSE
        ),
    )


@bp.post("/warnings/<int:warning_id>/snooze")
@login_required
def snooze(warning_id: int) -> ResponseReturnValue:
    try:
        until = dt.date.fromisoformat(_form("until").strip())
    except ValueError:
        return _render_warning(warning_id, error=message_of("bad_date"), status=400)
    return _work(
        warning_id,
        "snoozed",
        lambda session: queue.snooze(
            session, current_actor(), warning_id, rule=_form("rule"), until=until, reason=_form("reason"),
            tag=AuditTag.WEB_WARNING_SNOOZE,
        ),
    )  # fmt: skip


@bp.post("/warnings/<int:warning_id>/feedback")
@login_required
def feedback(warning_id: int) -> ResponseReturnValue:
    return _work(
        warning_id,
        "feedback",
        lambda session: queue.send_feedback(
            session, current_actor(), warning_id, message=_form("message"), agencies=request.form.getlist("agencies"),
            thresholds=thresholds(), tag=AuditTag.WEB_WARNING_FEEDBACK,
        ),
    )  # fmt: skip


@bp.post("/warnings/<int:warning_id>/receipt")
@login_required
def receipt(warning_id: int) -> ResponseReturnValue:
    return _work(
        warning_id,
        "receipt",
        lambda session: queue.record_receipt(
            session, current_actor(), warning_id, note=_form("note"), thresholds=thresholds(),
            tag=AuditTag.WEB_WARNING_RECEIPT,
        ),
    )  # fmt: skip


# --- marks by hand (agency admins) ------------------------------------------------------------------


@bp.get("/warnings/marks")
@login_required
def marks() -> ResponseReturnValue:
    return _render_marks(done=request.args.get("done", ""))


def _render_marks(*, done: str = "", error: str = "", status: int = 200) -> ResponseReturnValue:
    flags = _serve(lambda session: queue.list_marks(session, current_actor(), tag=AuditTag.WEB_WARNING_MANUAL_LIST))
    return render_template(
        "warnings_queue/marks.html",
        marks=flags,
        can_mark=lifecycle.can_mark(current_actor()),
        done=done_of(done),
        error=error,
    ), status


@bp.post("/warnings/marks")
@login_required
def mark() -> ResponseReturnValue:
    session = db()
    try:
        subject = _subject_from_form(session, AuditTag.WEB_WARNING_MANUAL, "mark")
        queue.mark_by_hand(session, current_actor(), subject, reason=_form("reason"), tag=AuditTag.WEB_WARNING_MANUAL)
    except LifecycleError as exc:
        session.commit()
        if exc.status_code in (403, 404) and exc.code != "not_found":
            abort(exc.status_code)
        return _render_marks(
            error=message_of(exc.code if exc.code != "not_found" else "bad_subject"), status=exc.status_code
        )
    session.commit()
    return _back_or(url_for("warnings_queue.marks", done="marked"), done="marked")


@bp.post("/warnings/marks/<int:flag_id>/lift")
@login_required
def lift(flag_id: int) -> ResponseReturnValue:
    session = db()
    try:
        queue.lift_mark(session, current_actor(), flag_id, tag=AuditTag.WEB_WARNING_MANUAL_LIFT)
    except LifecycleError as exc:
        session.commit()
        if exc.status_code in (403, 404):
            abort(exc.status_code)
        return _render_marks(error=message_of(exc.code), status=exc.status_code)
    session.commit()
    return redirect(url_for("warnings_queue.marks", done="lifted"))


# --- watch list ---------------------------------------------------------------------------------------


def _subject_from_form(
    session: Session, tag: AuditTag, action: str, *, is_watched_enough: bool = False
) -> queue.Subject:
    """The form's subject as the user may know of it; a missing or hidden one is a refusal audited
    under the operation's tag."""
    uscc = _form("uscc").strip()
    subject_id = _form("subject_id")
    return queue.find_subject(
        session,
        current_actor(),
        subject_type=_form("subject_type") or None,
        subject_id=int(subject_id) if subject_id.isdigit() else None,
        uscc=uscc or None,
        tag=tag,
        action=action,
        is_watched_enough=is_watched_enough,
    )


def _back_or(default: str, **params: str) -> ResponseReturnValue:
    """Back to the page the form was on (a local path only), with a done= notice."""
    target = safe_next(_form("next"))
    if target is None:
        return redirect(default)
    separator = "&" if "?" in target else "?"
    return redirect(target + separator + "&".join(f"{k}={v}" for k, v in params.items()))


@bp.get("/watches")
@login_required
def watches() -> ResponseReturnValue:
    watched = _serve(lambda session: queue.list_watches(session, current_actor(), tag=AuditTag.WEB_WATCH_LIST))
    done = request.args.get("done", "")
    return render_template("warnings_queue/watches.html", watched=watched, done=done_of(done))


@bp.post("/watches")
@login_required
def watch() -> ResponseReturnValue:
    return _watch_change(queue.watch, AuditTag.WEB_WATCH_ADD, "watching")


@bp.post("/watches/remove")
@login_required
def unwatch() -> ResponseReturnValue:
    return _watch_change(queue.unwatch, AuditTag.WEB_WATCH_REMOVE, "unwatched")


def _watch_change(operation: Callable[..., Any], tag: AuditTag, done: str) -> ResponseReturnValue:
    removing = operation is queue.unwatch

    def change(session: Session) -> None:
        subject = _subject_from_form(session, tag, "unwatch" if removing else "watch", is_watched_enough=removing)
        operation(session, current_actor(), subject, tag=tag)

    _serve(change)
    return _back_or(url_for("warnings_queue.watches", done=done), done=done)


# --- inbox -------------------------------------------------------------------------------------------


@bp.get("/inbox")
@login_required
def inbox() -> ResponseReturnValue:
    box = _serve(lambda session: queue.inbox(session, current_actor(), tag=AuditTag.WEB_INBOX_READ))
    return render_template("warnings_queue/inbox.html", box=box, levels={level.value for level in WarningLevel})


@bp.post("/inbox/<int:message_id>/read")
@login_required
def read_message(message_id: int) -> ResponseReturnValue:
    return _mark_read(message_id)


@bp.post("/inbox/read")
@login_required
def read_all() -> ResponseReturnValue:
    return _mark_read(None)


def _mark_read(message_id: int | None) -> ResponseReturnValue:
    _serve(lambda session: queue.mark_read(session, current_actor(), message_id, tag=AuditTag.WEB_INBOX_MARK_READ))
    return redirect(url_for("warnings_queue.inbox"))
