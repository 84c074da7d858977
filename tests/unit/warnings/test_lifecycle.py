"""The warning life cycle without a database: transitions, who may take them, SLA and inputs."""

from __future__ import annotations

import datetime as dt

import pytest

from signalhub_platform.models import Actor, Measure, Role, WarningLevel, WarningStatus
from signalhub_warnings import lifecycle
from signalhub_warnings.lifecycle import (
    Action,
    InvalidInput,
    NotAllowedNow,
    NotFound,
    NotPermitted,
    WarningState,
    allowed_actions,
    check,
)

TAX, MKT = 1, 2


def supervisor(agency_id: int | None = TAX, *roles: Role) -> Actor:
    return Actor(
        name="u", user_id=10, agency_id=agency_id, agency_code="X", roles=frozenset(roles or {Role.SUPERVISOR})
    )


def platform_office(*roles: Role) -> Actor:
    return Actor(name="office", user_id=1, agency_code="platform", roles=frozenset(roles or {Role.PLATFORM_ADMIN}))


def yellow(status: WarningStatus = WarningStatus.OPEN, agency_id: int = TAX) -> WarningState:
    return WarningState(level=WarningLevel.YELLOW, status=status, scope_agency_id=agency_id)


def red(status: WarningStatus = WarningStatus.OPEN) -> WarningState:
    return WarningState(level=WarningLevel.RED, status=status, scope_agency_id=None)


def test_the_whole_life_cycle_in_order() -> None:
    actor = supervisor()
    status = WarningStatus.OPEN
    for action, expected in (
        (Action.ACKNOWLEDGE, WarningStatus.ACKNOWLEDGED),
        (Action.DISPOSE, WarningStatus.IN_DISPOSAL),
        (Action.DISPOSE, WarningStatus.IN_DISPOSAL),  # a second measure
        (Action.CLOSE, WarningStatus.CLOSED),
    ):
        target = check(actor, action, yellow(status))
        assert target == expected
        status = target


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (WarningStatus.OPEN, Action.DISPOSE),  # acknowledge first
        (WarningStatus.OPEN, Action.CLOSE),
        (WarningStatus.ACKNOWLEDGED, Action.ACKNOWLEDGE),
        (WarningStatus.ACKNOWLEDGED, Action.CLOSE),  # a measure first
        (WarningStatus.IN_DISPOSAL, Action.ACKNOWLEDGE),
        (WarningStatus.CLOSED, Action.ACKNOWLEDGE),
        (WarningStatus.CLOSED, Action.DISPOSE),
        (WarningStatus.CLOSED, Action.CLOSE),
        (WarningStatus.CLOSED, Action.ASSIGN),
        (WarningStatus.CLOSED, Action.SNOOZE),
        (WarningStatus.CLEARED, Action.ACKNOWLEDGE),
        (WarningStatus.CLEARED, Action.ASSIGN),
        (WarningStatus.CLEARED, Action.FEEDBACK),
    ],
)
def test_forbidden_transitions(status: WarningStatus, action: Action) -> None:
    with pytest.raises(NotAllowedNow) as caught:
        check(supervisor(), action, yellow(status))
    assert caught.value.status_code == 409 and caught.value.code == "bad_transition"


def test_assign_snooze_and_feedback_keep_the_status() -> None:
    for action in (Action.ASSIGN, Action.SNOOZE, Action.FEEDBACK):
        assert check(supervisor(), action, yellow(WarningStatus.ACKNOWLEDGED)) is None
    assert check(supervisor(), Action.FEEDBACK, yellow(WarningStatus.CLOSED)) is None  # after the fact


def test_yellow_is_for_the_scope_agency_only_and_looks_missing_elsewhere() -> None:
    with pytest.raises(NotFound) as caught:
        check(supervisor(MKT), Action.ACKNOWLEDGE, yellow())
    assert caught.value.status_code == 404
    office = Actor(name="office", user_id=1, roles=frozenset({Role.PLATFORM_ADMIN}))
    with pytest.raises(NotFound):
        check(office, Action.ACKNOWLEDGE, yellow())
    assert not lifecycle.can_see(office, TAX)
    assert not lifecycle.can_see(Actor.public(), None)


def test_red_is_worked_by_supervisors_of_any_member_agency_not_the_platform_office() -> None:
    assert check(supervisor(TAX), Action.ACKNOWLEDGE, red()) == WarningStatus.ACKNOWLEDGED
    assert check(supervisor(MKT), Action.ACKNOWLEDGE, red()) == WarningStatus.ACKNOWLEDGED
    office = Actor(name="office", user_id=1, roles=frozenset({Role.PLATFORM_ADMIN, Role.SUPERVISOR}))
    assert lifecycle.can_see(office, None)
    with pytest.raises(NotPermitted) as caught:
        check(office, Action.ACKNOWLEDGE, red())
    assert caught.value.status_code == 403


@pytest.mark.parametrize("action", [Action.ASSIGN, Action.SNOOZE, Action.CLOSE])
def test_red_is_assigned_snoozed_and_closed_by_the_platform_office_only(action: Action) -> None:
    """One member agency never decides a red warning for every other: no assigning it, silencing
    its rule or closing it; the platform office's admins do that."""
    state = red(WarningStatus.IN_DISPOSAL)
    for member in (supervisor(TAX), supervisor(MKT, Role.SUPERVISOR, Role.AGENCY_ADMIN)):
        with pytest.raises(NotPermitted) as caught:
            check(member, action, state)
        assert caught.value.status_code == 403 and "platform office" in str(caught.value)
        assert action not in allowed_actions(member, state)
    check(platform_office(), action, state)  # no refusal
    for not_the_office in (platform_office(Role.AUDITOR), Actor.cli(), Actor.job("evaluate_warnings")):
        with pytest.raises(NotPermitted):
            check(not_the_office, action, state)
    check(supervisor(TAX), action, yellow(WarningStatus.IN_DISPOSAL))  # yellow: the agency's own
    with pytest.raises(NotFound):
        check(platform_office(), action, yellow(WarningStatus.IN_DISPOSAL))


def test_the_supervisor_the_office_assigned_closes_the_red_warning() -> None:
    assigned = WarningState(
        level=WarningLevel.RED, status=WarningStatus.IN_DISPOSAL, scope_agency_id=None, assignee_id=7
    )
    tax_supervisor = Actor(name="tax", user_id=7, agency_id=TAX, agency_code="TAX", roles=frozenset({Role.SUPERVISOR}))
    assert check(tax_supervisor, Action.CLOSE, assigned) == WarningStatus.CLOSED
    for other in (supervisor(MKT), supervisor(TAX)):  # not the assignee
        with pytest.raises(NotPermitted):
            check(other, Action.CLOSE, assigned)
    for action in (Action.ASSIGN, Action.SNOOZE):  # still the office's
        with pytest.raises(NotPermitted):
            check(tax_supervisor, action, assigned)


def test_members_acknowledge_and_dispose_red_the_office_does_not() -> None:
    assert check(supervisor(MKT), Action.ACKNOWLEDGE, red()) == WarningStatus.ACKNOWLEDGED
    assert check(supervisor(TAX), Action.DISPOSE, red(WarningStatus.ACKNOWLEDGED)) == WarningStatus.IN_DISPOSAL
    for action in (Action.ACKNOWLEDGE, Action.DISPOSE, Action.RECEIPT, Action.FEEDBACK):
        with pytest.raises(NotPermitted):
            check(platform_office(), action, red(WarningStatus.ACKNOWLEDGED))


def test_an_inactive_warning_takes_nothing_but_feedback() -> None:
    """A row read as no longer active (an evaluation cleared it meanwhile) refuses every change."""
    stale = WarningState(level=WarningLevel.YELLOW, status=WarningStatus.OPEN, scope_agency_id=TAX, is_active=False)
    for action in (Action.ASSIGN, Action.ACKNOWLEDGE, Action.SNOOZE):
        with pytest.raises(NotAllowedNow) as caught:
            check(supervisor(), action, stale)
        assert (caught.value.code, caught.value.status_code) == ("not_active", 409)
    assert allowed_actions(supervisor(), stale) == (Action.FEEDBACK,)


def test_only_supervisors_work_warnings() -> None:
    liaison = supervisor(TAX, Role.LIAISON)
    with pytest.raises(NotPermitted):
        check(liaison, Action.ACKNOWLEDGE, yellow())
    assert allowed_actions(liaison, yellow()) == ()


def test_receipts_are_for_red_only() -> None:
    with pytest.raises(NotAllowedNow) as caught:
        check(supervisor(), Action.RECEIPT, yellow())
    assert caught.value.code == "not_red"
    assert check(supervisor(MKT), Action.RECEIPT, red(WarningStatus.IN_DISPOSAL)) is None


def test_allowed_actions_follow_the_status() -> None:
    assert allowed_actions(supervisor(), yellow()) == (
        Action.ASSIGN,
        Action.ACKNOWLEDGE,
        Action.SNOOZE,
        Action.FEEDBACK,
    )
    assert allowed_actions(supervisor(), red(WarningStatus.IN_DISPOSAL)) == (
        Action.DISPOSE,
        Action.FEEDBACK,
        Action.RECEIPT,
    )  # closing a red warning is the platform office's
    assert allowed_actions(platform_office(), red(WarningStatus.IN_DISPOSAL)) == (
        Action.ASSIGN,
        Action.CLOSE,
        Action.SNOOZE,
    )
    assert Action.RECEIPT in allowed_actions(supervisor(MKT), red())
    assert allowed_actions(supervisor(), yellow(WarningStatus.CLOSED)) == (Action.FEEDBACK,)


def test_marks_by_hand_are_for_agency_admins() -> None:
    assert lifecycle.can_mark(supervisor(TAX, Role.AGENCY_ADMIN))
    assert not lifecycle.can_mark(supervisor(TAX))
    assert not lifecycle.can_mark(Actor(name="office", user_id=1, roles=frozenset({Role.AGENCY_ADMIN})))


def test_overdue_means_not_acknowledged_after_the_due_day() -> None:
    due = dt.date(2026, 12, 1)
    open_ = WarningStatus.OPEN
    assert not lifecycle.is_overdue(open_, None, due, due)  # the due day itself is in time
    assert lifecycle.is_overdue(open_, None, due, due + dt.timedelta(days=1))
    acknowledged = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    assert not lifecycle.is_overdue(WarningStatus.ACKNOWLEDGED, acknowledged, due, due + dt.timedelta(days=5))
    assert not lifecycle.is_overdue(WarningStatus.CLEARED, None, due, due + dt.timedelta(days=5))
    assert not lifecycle.is_overdue(open_, None, None, due)


def test_inputs() -> None:
    assert lifecycle.parse_measure("penalty") == Measure.PENALTY
    with pytest.raises(InvalidInput):
        lifecycle.parse_measure("shrug")
    with pytest.raises(InvalidInput) as caught:
        lifecycle.clean_text("   ", field="note", required=True)
    assert caught.value.code == "note_required"
    with pytest.raises(InvalidInput):
        lifecycle.clean_text("x" * 2001, field="note", required=False)
    assert lifecycle.clean_text("  ok ", field="note", required=True) == "ok"


def test_snooze_checks() -> None:
    today = dt.date(2026, 11, 27)
    rules = ["yellow_departments", "manual"]
    lifecycle.check_snooze("yellow_departments", rules, today + dt.timedelta(days=30), today)
    for rule, until, code in (
        ("manual", today + dt.timedelta(days=3), "rule_not_snoozable"),
        ("red_agencies", today + dt.timedelta(days=3), "bad_rule"),
        ("yellow_departments", today, "until_not_future"),
        ("yellow_departments", today + dt.timedelta(days=lifecycle.MAX_SNOOZE_DAYS + 1), "until_too_far"),
    ):
        with pytest.raises(InvalidInput) as caught:
            lifecycle.check_snooze(rule, rules, until, today)
        assert caught.value.code == code
