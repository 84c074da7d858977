"""Issuing accounts and tokens, disabling, password change and the pledge: all flushed and audited."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_platform import accounts
from signalhub_platform.models import Actor, ApiToken, AuditEvent, Role, User, WebSession
from tests.factories import make_agency, make_user

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def _last_event(session: Session) -> AuditEvent:
    return session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()


def _open_session(session: Session, user: User, token_hash: str) -> WebSession:
    row = WebSession(token_sha256=token_hash, user_id=user.id, csrf_token="c", created_at=NOW, last_seen_at=NOW)
    session.add(row)
    session.flush()
    return row


def test_add_user_creates_a_user_who_must_change_the_password_and_pledge(db_session: Session) -> None:
    agency = make_agency(db_session, "TAX")
    user, otp = accounts.add_user(
        db_session, "wang.li", "TAX", ["supervisor", Role.LIAISON], actor=Actor.cli(), display_name="王力"
    )
    assert (user.agency_id, user.display_name, user.is_active) == (agency.id, "王力", True)
    assert user.roles == {Role.SUPERVISOR, Role.LIAISON}
    assert user.must_change_password and user.pledge_accepted_at is None
    assert len(otp) >= 16 and otp not in user.password_hash
    assert accounts.PASSWORD_HASHER.verify(user.password_hash, otp)
    event = _last_event(db_session)
    assert event.tag == "cli:user:add" and event.actor.startswith("cli:")
    assert otp not in event.payload
    assert json.loads(event.payload)["data"]["roles"] == ["liaison", "supervisor"]


def test_add_user_for_the_platform_office(db_session: Session) -> None:
    user, _ = accounts.add_user(db_session, "office1", "platform", [Role.PLATFORM_ADMIN], actor=Actor.cli())
    assert user.agency_id is None


@pytest.mark.parametrize(
    ("username", "agency", "roles", "message"),
    [
        ("taken", "TAX", ["supervisor"], "already exists"),
        ("new1", "NOPE", ["supervisor"], "no active agency"),
        ("new1", "TAX", ["emperor"], "emperor"),
        ("new1", "TAX", [], "at least one role"),
        ("new1", "TAX", ["platform_admin"], "platform office"),
        ("new1", "platform", ["agency_admin"], "member agency"),
        ("bad name", "TAX", ["supervisor"], "user names"),
        ("x" * 65, "TAX", ["supervisor"], "user names"),
    ],
)
def test_add_user_refuses(db_session: Session, username: str, agency: str, roles: list[str], message: str) -> None:
    tax = make_agency(db_session, "TAX")
    make_user(db_session, tax, username="taken")
    with pytest.raises(accounts.AccountError, match=message):
        accounts.add_user(db_session, username, agency, roles, actor=Actor.cli())


def test_add_user_refuses_an_inactive_agency(db_session: Session) -> None:
    make_agency(db_session, "OLD").is_active = False
    with pytest.raises(accounts.AccountError, match="no active agency"):
        accounts.add_user(db_session, "new1", "OLD", ["supervisor"], actor=Actor.cli())


def test_issue_api_token_stores_only_its_sha256(db_session: Session) -> None:
    user = make_user(db_session, make_agency(db_session), username="svc")
    token = accounts.issue_api_token(db_session, "svc", actor=Actor.cli(), label="ERP bridge")
    row = db_session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert len(token) >= 43  # 256 bits, url-safe base64
    assert row.token_sha256 == accounts.sha256_hex(token) and token not in row.token_sha256
    event = _last_event(db_session)
    assert event.tag == "cli:user:token" and token not in event.payload


def test_no_token_for_a_disabled_or_unknown_user(db_session: Session) -> None:
    make_user(db_session, make_agency(db_session), username="gone").is_active = False
    with pytest.raises(accounts.AccountError, match="disabled"):
        accounts.issue_api_token(db_session, "gone", actor=Actor.cli())
    with pytest.raises(accounts.AccountError, match="no such user"):
        accounts.issue_api_token(db_session, "nobody", actor=Actor.cli())


def test_disable_user_ends_sessions_and_revokes_tokens(db_session: Session) -> None:
    agency = make_agency(db_session)
    user = make_user(db_session, agency, username="leaver")
    other = make_user(db_session, agency, username="stayer")
    accounts.issue_api_token(db_session, "leaver", actor=Actor.cli())
    own = _open_session(db_session, user, "a" * 64)
    theirs = _open_session(db_session, other, "b" * 64)
    admin = make_user(db_session, agency, Role.AGENCY_ADMIN)
    accounts.disable_user(db_session, user, actor=Actor.for_user(admin, "10.0.0.5"), now=NOW)
    assert not user.is_active
    assert own.ended_at == NOW and theirs.ended_at is None
    assert all(t.revoked_at == NOW for t in db_session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)))
    event = _last_event(db_session)
    assert (event.tag, event.actor, event.client_ip) == ("web:user:disable", admin.username, "10.0.0.5")
    assert json.loads(event.payload)["data"] == {"username": "leaver", "sessions_ended": 1, "tokens_revoked": 1}


def test_change_password_checks_current_and_policy_and_ends_other_sessions(db_session: Session) -> None:
    user = make_user(db_session, make_agency(db_session), username="alice")
    user.must_change_password = True
    keep = _open_session(db_session, user, "c" * 64)
    other = _open_session(db_session, user, "d" * 64)
    actor = Actor.for_user(user)
    for current, new, reason in [
        ("wrong", "violet-kettle-harbour", "wrong_current"),
        ("correct horse battery staple", "correct horse battery staple", "unchanged"),
        ("correct horse battery staple", "short", "too_short"),
    ]:
        with pytest.raises(accounts.PasswordChangeError) as caught:
            accounts.change_password(db_session, user, current, new, actor=actor, now=NOW, keep_session_id=keep.id)
        assert caught.value.reason == reason
    assert user.must_change_password and other.ended_at is None
    accounts.change_password(
        db_session,
        user,
        "correct horse battery staple",
        "violet-kettle-harbour",
        actor=actor,
        now=NOW,
        keep_session_id=keep.id,
    )
    assert not user.must_change_password
    assert accounts.PASSWORD_HASHER.verify(user.password_hash, "violet-kettle-harbour")
    assert keep.ended_at is None and other.ended_at == NOW
    assert _last_event(db_session).tag == "web:auth:password"


def test_accept_pledge_records_time_and_version(db_session: Session) -> None:
    user = make_user(db_session, make_agency(db_session), pledged=False)
    assert not accounts.is_pledge_current(user)
    accounts.accept_pledge(db_session, user, actor=Actor.for_user(user), now=NOW)
    assert (user.pledge_accepted_at, user.pledge_version) == (NOW, accounts.PLEDGE_VERSION)
    assert accounts.is_pledge_current(user)
    event = _last_event(db_session)
    assert event.tag == "web:auth:pledge" and json.loads(event.payload)["data"] == {"version": accounts.PLEDGE_VERSION}


def test_an_older_pledge_version_is_not_current(db_session: Session) -> None:
    user = make_user(db_session, make_agency(db_session))
    user.pledge_version = "2020-1"
    assert not accounts.is_pledge_current(user)


def test_user_list_scope_and_audit(db_session: Session) -> None:
    tax, mkt = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    admin = make_user(db_session, tax, Role.AGENCY_ADMIN, username="tax.admin")
    make_user(db_session, tax, username="tax.user")
    make_user(db_session, mkt, username="mkt.user")
    office = make_user(db_session, None, Role.PLATFORM_ADMIN, username="office")
    names = [u.username for u in accounts.list_manageable_users(db_session, Actor.for_user(admin))]
    assert names == ["tax.admin", "tax.user"]
    assert _last_event(db_session).tag == "web:user:list"
    everyone = [u.username for u in accounts.list_manageable_users(db_session, Actor.for_user(office))]
    assert everyone == ["mkt.user", "office", "tax.admin", "tax.user"]
    supervisor = make_user(db_session, tax)
    assert accounts.list_manageable_users(db_session, Actor.for_user(supervisor)) == []
