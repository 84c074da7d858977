"""The life cycle of a warning, in pure Python: what may happen in which status, and who may do it.

    open ──acknowledge──▶ acknowledged ──dispose (measure)──▶ in_disposal ──close (note)──▶ closed
                                                               ▲      │
                                                               └──────┘ another measure

``cleared`` is not a supervisor's step: the evaluation sets it when the condition stops holding.
Assigning, snoozing a rule, feedback to the source agencies and (red only) a member agency's
receipt change no status. Who: supervisors of the scope agency take every step of a yellow or
orange warning. A red warning is every member agency's, so no one agency decides it for the others:
supervisors of any member agency acknowledge it, record their measures, send feedback and give
their agency's receipt; only the platform office (its admins) assigns it, snoozes one of its rules
or closes it (``RED_OFFICE_ACTIONS``), except that the supervisor the office assigned it to closes
it once their measures are recorded (the office chose them to decide it for everyone).
Marking a subject yellow by hand is for an agency's admins.
Services call ``check`` before they change anything; a refusal is an ``LifecycleError`` carrying a
code, an English message and the HTTP status the web and the API answer with.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from signalhub_platform.models import Actor, Measure, Role, WarningLevel, WarningStatus

ACTIVE_STATUSES = frozenset({WarningStatus.OPEN, WarningStatus.ACKNOWLEDGED, WarningStatus.IN_DISPOSAL})
NOTE_MAX_LENGTH = 2000
REASON_MAX_LENGTH = 500  # ManualFlag.reason, WarningSnooze.reason
# A false positive is snoozed for a while, not for ever: after a year the rule speaks again.
MAX_SNOOZE_DAYS = 366
# Marked by hand, the manual rule is lifted by hand, never snoozed.
UNSNOOZABLE_RULES = frozenset({"manual"})


class Action(enum.StrEnum):
    ASSIGN = "assign"
    ACKNOWLEDGE = "acknowledge"
    DISPOSE = "dispose"
    CLOSE = "close"
    SNOOZE = "snooze"
    FEEDBACK = "feedback"
    RECEIPT = "receipt"  # red only: one per member agency concerned


# A red warning is shared by every member agency: what would decide it for all of them is the
# platform office's (a member agency acts on red through receipts, feedback and its own measures).
RED_OFFICE_ACTIONS = frozenset({Action.ASSIGN, Action.SNOOZE, Action.CLOSE})

# action → (the statuses it may start from, the status it leads to; None: the status stays)
TRANSITIONS: dict[Action, tuple[frozenset[WarningStatus], WarningStatus | None]] = {
    Action.ACKNOWLEDGE: (frozenset({WarningStatus.OPEN}), WarningStatus.ACKNOWLEDGED),
    Action.DISPOSE: (frozenset({WarningStatus.ACKNOWLEDGED, WarningStatus.IN_DISPOSAL}), WarningStatus.IN_DISPOSAL),
    Action.CLOSE: (frozenset({WarningStatus.IN_DISPOSAL}), WarningStatus.CLOSED),
    Action.ASSIGN: (ACTIVE_STATUSES, None),
    Action.SNOOZE: (ACTIVE_STATUSES, None),
    Action.FEEDBACK: (ACTIVE_STATUSES | {WarningStatus.CLOSED}, None),
    Action.RECEIPT: (ACTIVE_STATUSES, None),
}


class LifecycleError(Exception):
    """A refused action: ``code`` for the UI's translated message, ``str(exc)`` in English for the API."""

    status_code = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidInput(LifecycleError):
    status_code = 400


class NotPermitted(LifecycleError):
    status_code = 403


class NotFound(LifecycleError):
    """Missing, or not visible to the actor: the two answer alike."""

    status_code = 404

    def __init__(self, code: str = "not_found", message: str = "Not Found") -> None:
        super().__init__(code, message)


class NotAllowedNow(LifecycleError):
    status_code = 409


@dataclass(frozen=True)
class WarningState:
    """What the rules need of a warning."""

    level: WarningLevel
    status: WarningStatus
    scope_agency_id: int | None  # None: the platform scope (red)
    is_active: bool = True  # False once closed or cleared: nothing but feedback after the fact
    assignee_id: int | None = None

    @property
    def is_red(self) -> bool:
        return self.scope_agency_id is None


def can_see(actor: Actor, scope_agency_id: int | None) -> bool:
    """Red: every member agency and the platform office; yellow/orange: their own agency only.

    The same rule as ``services.visible_warnings_clause``, for one warning in Python."""
    if actor.is_public:
        return False
    if scope_agency_id is None:
        return True
    return actor.agency_id is not None and actor.agency_id == scope_agency_id


def is_platform_office_admin(actor: Actor) -> bool:
    return actor.is_platform_office and actor.has_role(Role.PLATFORM_ADMIN)


def can_work(actor: Actor, state: WarningState, action: Action) -> bool:
    """Yellow/orange: supervisors of the scope agency. Red: the platform office's admins assign,
    snooze and close; supervisors of any member agency take the other steps."""
    if state.is_red and action in RED_OFFICE_ACTIONS:
        if action == Action.CLOSE and state.assignee_id is not None and state.assignee_id == actor.user_id:
            return actor.is_member_agency_user and actor.has_role(Role.SUPERVISOR)
        return is_platform_office_admin(actor)
    if not actor.is_member_agency_user or not actor.has_role(Role.SUPERVISOR):
        return False
    return state.is_red or actor.agency_id == state.scope_agency_id


def can_mark(actor: Actor) -> bool:
    """Marking a subject yellow by hand (and lifting the mark) is for a member agency's admins."""
    return actor.is_member_agency_user and actor.has_role(Role.AGENCY_ADMIN)


def next_status(action: Action, state: WarningState) -> WarningStatus | None:
    """The status after ``action`` (None: unchanged); ``NotAllowedNow`` when the status forbids it."""
    sources, target = TRANSITIONS[action]
    if action == Action.RECEIPT and not state.is_red:
        raise NotAllowedNow("not_red", "receipts are for red warnings only")
    if not state.is_active and action != Action.FEEDBACK:
        raise NotAllowedNow("not_active", "the warning is no longer active (closed, or cleared by an evaluation)")
    if state.status not in sources:
        raise NotAllowedNow(
            "bad_transition", f"a warning that is {state.status.value} cannot take the action {action.value}"
        )
    return target


def check(actor: Actor, action: Action, state: WarningState) -> WarningStatus | None:
    """Raise unless ``actor`` may take ``action`` now; return the status it leads to (None: unchanged)."""
    if not can_see(actor, state.scope_agency_id):
        raise NotFound()
    if not can_work(actor, state, action):
        if not state.is_red:
            message = "only supervisors of the warning's agency work it"
        elif action in RED_OFFICE_ACTIONS:
            message = f"only the platform office may {action.value} a red warning"
        else:
            message = "only supervisors of a member agency work red warnings"
        raise NotPermitted("not_permitted", message)
    return next_status(action, state)


def allowed_actions(actor: Actor, state: WarningState) -> tuple[Action, ...]:
    """Every action ``actor`` may take now, in the order of the life cycle (for pages and the API)."""
    allowed = []
    for action in Action:
        try:
            check(actor, action, state)
        except LifecycleError:
            continue
        allowed.append(action)
    return tuple(allowed)


def is_overdue(
    status: WarningStatus, acknowledged_at: dt.datetime | None, due_on: dt.date | None, today: dt.date
) -> bool:
    """Not acknowledged yet and today (Beijing) is after the acknowledgement date."""
    return status in ACTIVE_STATUSES and acknowledged_at is None and due_on is not None and today > due_on


def age_days(opened_on: dt.date, today: dt.date) -> int:
    """Calendar days since the warning opened (0 on the day it opened)."""
    return max(0, (today - opened_on).days)


# --- inputs --------------------------------------------------------------------------------------


def clean_text(value: str | None, *, field: str, required: bool, limit: int = NOTE_MAX_LENGTH) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(f"{field}_required", f"{field} is required")
    if len(text) > limit:
        raise InvalidInput(f"{field}_too_long", f"{field} is longer than {limit} characters")
    return text


def parse_measure(value: str | None) -> Measure:
    try:
        return Measure((value or "").strip())
    except ValueError:
        choices = ", ".join(m.value for m in Measure)
        raise InvalidInput("bad_measure", f"measure must be one of {choices}") from None


def check_snooze(rule: str, warning_rules: list[str], until: dt.date, today: dt.date) -> None:
    """A rule the warning holds on (not ``manual``), until a day after today and at most a year ahead."""
    if rule in UNSNOOZABLE_RULES:
        raise InvalidInput("rule_not_snoozable", "a mark by hand is lifted by an agency admin, not snoozed")
    if rule not in warning_rules:
        raise InvalidInput("bad_rule", f"the warning does not hold on the rule {rule!r}")
    if until <= today:
        raise InvalidInput("until_not_future", "the snooze must end after today")
    if (until - today).days > MAX_SNOOZE_DAYS:
        raise InvalidInput("until_too_far", f"a snooze lasts at most {MAX_SNOOZE_DAYS} days")
