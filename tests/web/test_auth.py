"""Login, lockout, rate limit, password change, logout and language through the web (W9, W10, K10, K11)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_config import Settings
from signalhub_platform import accounts
from signalhub_platform.models import Actor, AuditEvent, Role, User, WebSession
from signalhub_platform.models.types import utcnow
from signalhub_platform.web.sessions import SECURE_COOKIE_NAME
from tests.factories import TEST_HASHER, make_agency, make_user

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "violet-kettle-harbour"


@pytest.fixture(autouse=True)
def fast_password_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", TEST_HASHER)


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["PREFERRED_URL_SCHEME"] = "https"
    return app.test_client()


@pytest.fixture
def user(db_session: Session) -> User:
    user = make_user(db_session, make_agency(db_session), Role.SUPERVISOR, username="alice")
    db_session.commit()
    return user


def _post_login(client: FlaskClient, username: str, password: str, ip: str = "127.0.0.1") -> object:
    return client.post(
        "/login", data={"username": username, "password": password}, environ_overrides={"REMOTE_ADDR": ip}
    )


def _csrf(client: FlaskClient, db_session: Session) -> str:
    cookie = client.get_cookie(SECURE_COOKIE_NAME)
    assert cookie is not None
    db_session.expire_all()
    return db_session.scalars(
        select(WebSession.csrf_token).where(WebSession.token_sha256 == accounts.sha256_hex(cookie.value))
    ).one()


def _events(db_session: Session, tag: str) -> list[dict[str, object]]:
    payloads = db_session.scalars(select(AuditEvent.payload).where(AuditEvent.tag == tag).order_by(AuditEvent.seq))
    return [json.loads(p) for p in payloads]


def test_login_page_renders_a_form(web: FlaskClient) -> None:
    response = web.get("/login")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="username"' in page and 'name="password"' in page and 'autocomplete="current-password"' in page


def test_successful_login_redirects_and_is_audited(web: FlaskClient, user: User, db_session: Session) -> None:
    response = _post_login(web, "alice", PASSWORD, ip="10.3.0.7")
    assert response.status_code == 302 and response.location == "/"  # type: ignore[attr-defined]
    [event] = _events(db_session, "web:auth:login")
    assert (event["actor"], event["ip"]) == ("alice", "10.3.0.7")


def test_wrong_password_and_unknown_user_get_the_identical_generic_401(
    web: FlaskClient, user: User, db_session: Session
) -> None:
    """K11: no oracle for which user names exist."""
    wrong = _post_login(web, "alice", "not it")
    unknown = _post_login(web, "mallory", "not it")
    assert wrong.status_code == unknown.status_code == 401  # type: ignore[attr-defined]
    assert wrong.get_data() == unknown.get_data()  # type: ignore[attr-defined]
    assert web.get_cookie(SECURE_COOKIE_NAME) is None
    reasons = [e["data"]["reason"] for e in _events(db_session, "web:auth:login_failed")]  # type: ignore[index]
    assert reasons == ["bad_password", "unknown_user"]


def test_unknown_user_login_runs_an_argon2_verification(
    web: FlaskClient, monkeypatch: pytest.MonkeyPatch, user: User
) -> None:
    """K11: the unknown-user path hashes (verifies) a dummy, as the wrong-password path does."""
    verified: list[str] = []

    class SpyHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 (argon2's name)
            verified.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "PASSWORD_HASHER", SpyHasher(time_cost=1, memory_cost=8, parallelism=1))
    _post_login(web, "nobody", "guess")
    _post_login(web, "alice", "guess")
    assert len(verified) == 2
    assert verified[0] != user.password_hash and verified[0].startswith("$argon2id$")
    assert verified[1] == user.password_hash


def test_old_hash_is_upgraded_at_login(
    web: FlaskClient, monkeypatch: pytest.MonkeyPatch, user: User, db_session: Session
) -> None:
    """K10: the factory hash (t=1, m=8) meets a stronger configured hasher."""
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", PasswordHasher(time_cost=2, memory_cost=32, parallelism=1))
    old = user.password_hash
    assert _post_login(web, "alice", PASSWORD).status_code == 302  # type: ignore[attr-defined]
    db_session.expire_all()
    upgraded = db_session.get(User, user.id).password_hash  # type: ignore[union-attr]
    assert upgraded != old and "m=32,t=2,p=1" in upgraded


def test_twenty_wrong_passwords_from_rotating_addresses_lock_the_account(
    web: FlaskClient, user: User, db_session: Session
) -> None:
    """W9: locked; the right password during the lock gets the same generic error; the lock expires."""
    bodies = set()
    for i in range(20):
        response = _post_login(web, "alice", f"guess {i}", ip=f"10.7.{i}.1")
        assert response.status_code == 401  # type: ignore[attr-defined]
        bodies.add(response.get_data())  # type: ignore[attr-defined]
    during_lock = _post_login(web, "alice", PASSWORD, ip="10.8.0.1")
    assert during_lock.status_code == 401  # type: ignore[attr-defined]
    assert bodies == {during_lock.get_data()}  # type: ignore[attr-defined]
    assert web.get_cookie(SECURE_COOKIE_NAME) is None
    assert _events(db_session, "security:account:locked")
    assert _events(db_session, "web:auth:login_failed")[-1]["data"]["reason"] == "locked"  # type: ignore[index]

    db_session.expire_all()
    locked = db_session.get(User, user.id)
    assert locked is not None and locked.locked_until is not None and locked.locked_until > utcnow()
    locked.locked_until = utcnow() - dt.timedelta(seconds=1)  # time passes
    db_session.commit()
    assert _post_login(web, "alice", PASSWORD, ip="10.8.0.1").status_code == 302  # type: ignore[attr-defined]


def test_too_many_attempts_from_one_address_get_429(
    web: FlaskClient, user: User, db_session: Session, settings: Settings
) -> None:
    """W10: across many accounts, from one address."""
    for i in range(settings.login_rate_per_minute):
        assert _post_login(web, f"user{i}", "guess", ip="10.9.0.1").status_code == 401  # type: ignore[attr-defined]
    limited = _post_login(web, "alice", PASSWORD, ip="10.9.0.1")
    assert limited.status_code == 429  # type: ignore[attr-defined]
    assert web.get_cookie(SECURE_COOKIE_NAME) is None
    assert _post_login(web, "alice", PASSWORD, ip="10.9.0.2").status_code == 302  # type: ignore[attr-defined]
    [event] = _events(db_session, "security:login:rate_limited")
    assert event["ip"] == "10.9.0.1"


def test_first_login_with_a_one_time_password_forces_a_change_then_the_pledge(
    web: FlaskClient, app: Flask, db_session: Session
) -> None:
    make_agency(db_session, "TAX")
    _, otp = accounts.add_user(db_session, "wang.li", "TAX", ["supervisor"], actor=Actor.cli())
    db_session.commit()
    other_device = app.test_client()
    assert _post_login(other_device, "wang.li", otp).status_code == 302  # type: ignore[attr-defined]
    response = _post_login(web, "wang.li", otp)
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert web.get("/").location.startswith("/password")
    page = web.get("/password").get_data(as_text=True)
    assert "一次性密码" in page  # the UI speaks Chinese by default
    csrf = _csrf(web, db_session)

    def change(current: str, new: str, confirm: str) -> object:
        return web.post(
            "/password",
            data={"csrf_token": csrf, "current_password": current, "new_password": new, "confirm_password": confirm},
        )

    assert change(otp, NEW_PASSWORD, "something else").status_code == 400  # type: ignore[attr-defined]
    assert change("wrong", NEW_PASSWORD, NEW_PASSWORD).status_code == 400  # type: ignore[attr-defined]
    assert change(otp, "short", "short").status_code == 400  # type: ignore[attr-defined]
    done = change(otp, NEW_PASSWORD, NEW_PASSWORD)
    assert done.status_code == 302  # type: ignore[attr-defined]
    # Next comes the pledge; the other device's session ended with the password change.
    assert web.get("/").location.startswith("/pledge")
    assert other_device.get("/pledge").location.startswith("/login")
    assert _events(db_session, "web:auth:password")


def test_password_change_when_not_required(web: FlaskClient, user: User, db_session: Session) -> None:
    _post_login(web, "alice", PASSWORD)
    page = web.get("/password").get_data(as_text=True)
    assert "one-time password" not in page
    response = web.post(
        "/password",
        data={
            "csrf_token": _csrf(web, db_session),
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
            "next": "/pledge",
        },
    )
    assert response.status_code == 302 and response.location == "/pledge"
    assert web.get("/pledge").status_code == 200  # this session lives on


def test_logout_ends_the_session_and_is_audited(web: FlaskClient, user: User, db_session: Session) -> None:
    _post_login(web, "alice", PASSWORD)
    response = web.post("/logout", data={"csrf_token": _csrf(web, db_session)})
    assert response.status_code == 302 and response.location == "/login"
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    [event] = _events(db_session, "web:auth:logout")
    assert event["actor"] == "alice"


def test_logout_without_a_session_just_goes_to_login(web: FlaskClient) -> None:
    assert web.post("/logout").location == "/login"


def test_language_switch_sets_the_lang_cookie(web: FlaskClient, user: User, db_session: Session) -> None:
    assert '<html lang="zh-CN">' in web.get("/login").get_data(as_text=True)
    response = web.post("/locale", data={"lang": "en", "next": "/login"})
    assert response.status_code == 302 and response.location == "/login"
    cookie = web.get_cookie("lang")
    assert cookie is not None and cookie.value == "en" and cookie.secure
    assert '<html lang="en">' in web.get("/login").get_data(as_text=True)
    # Signed in, the switch is a state change like any other: it needs the token.
    _post_login(web, "alice", PASSWORD)
    assert web.post("/locale", data={"lang": "zh"}).status_code == 403
    assert web.post("/locale", data={"lang": "zh", "csrf_token": _csrf(web, db_session)}).status_code == 302
    assert web.get_cookie("lang").value == "zh"  # type: ignore[union-attr]


def test_unknown_language_falls_back_to_the_default(web: FlaskClient) -> None:
    web.post("/locale", data={"lang": "fr"})
    assert web.get_cookie("lang").value == "zh"  # type: ignore[union-attr]
