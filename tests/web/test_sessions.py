"""Server-side sessions, cookies, CSRF and the gates (TESTS.md W3, W5, W6, W7, W8)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_platform import accounts
from signalhub_platform.app import create_app
from signalhub_platform.models import AuditEvent, Role, User, WebSession
from signalhub_platform.models.types import utcnow
from signalhub_platform.web.security import api_auth_required
from signalhub_platform.web.sessions import PLAIN_COOKIE_NAME, SECURE_COOKIE_NAME, login_required
from tests.factories import TEST_HASHER, make_agency, make_token, make_user

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_password_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", TEST_HASHER)


def _prepare(app: Flask) -> Flask:
    """HTTPS URLs (Secure cookies) and two test-only routes: an HTML page and an API endpoint."""
    app.config["PREFERRED_URL_SCHEME"] = "https"
    app.add_url_rule("/_test/page", "test_page", login_required(lambda: "page ok"), methods=["GET", "POST"])
    app.add_url_rule(
        "/api/v1/_whoami", "test_whoami", api_auth_required(lambda: {"actor": g.actor.name}), methods=["GET", "POST"]
    )
    return app


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    return _prepare(app).test_client()


@pytest.fixture
def user(db_session: Session) -> User:
    user = make_user(db_session, make_agency(db_session), Role.SUPERVISOR, username="alice")
    db_session.commit()
    return user


def _login(client: FlaskClient, username: str = "alice", password: str = PASSWORD, csrf: str = "") -> str:
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf})
    assert response.status_code == 302, response.status_code
    cookie = client.get_cookie(SECURE_COOKIE_NAME)
    assert cookie is not None
    return cookie.value


def _row(db_session: Session, cookie: str) -> WebSession:
    db_session.expire_all()
    return db_session.scalars(select(WebSession).where(WebSession.token_sha256 == accounts.sha256_hex(cookie))).one()


def _is_login_redirect(response: object) -> bool:
    return response.status_code == 302 and response.location.startswith("/login")  # type: ignore[attr-defined]


def _tags(db_session: Session) -> list[str]:
    return list(db_session.scalars(select(AuditEvent.tag).order_by(AuditEvent.seq)))


# --- cookie (W8) -----------------------------------------------------------------------------


def test_session_cookie_flags(web: FlaskClient, user: User) -> None:
    """W8: __Host- prefix, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain; dies with the browser."""
    response = web.post("/login", data={"username": "alice", "password": PASSWORD})
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(SECURE_COOKIE_NAME)]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in header.split(";")[1:]}
    assert set(attributes) == {"secure", "httponly", "path", "samesite"}
    assert attributes["path"] == "Path=/"
    assert attributes["samesite"] == "SameSite=Lax"


def test_plain_http_demo_cookie_drops_secure_and_the_host_prefix(
    settings: Settings, session_factory: sessionmaker[Session], user: User
) -> None:
    app = create_app(
        settings.replace(secure_cookies=False), session_factory=session_factory, test_config={"TESTING": True}
    )
    client = app.test_client()
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    [header] = response.headers.getlist("Set-Cookie")
    assert header.startswith(f"{PLAIN_COOKIE_NAME}=")
    assert "Secure" not in header and "HttpOnly" in header and "SameSite=Lax" in header
    assert client.get("/pledge").status_code == 200


def test_cookie_is_256_random_bits_and_only_its_hash_is_stored(
    web: FlaskClient, user: User, db_session: Session
) -> None:
    cookie = _login(web)
    assert len(cookie) >= 43
    row = _row(db_session, cookie)
    assert cookie not in (row.token_sha256, row.csrf_token)
    assert row.client_ip == "127.0.0.1" and row.ended_at is None
    assert cookie != _login(web, csrf=row.csrf_token)  # a new login, a new value


# --- logout and replay (W3) ---------------------------------------------------------------


def test_replayed_cookie_after_logout_is_rejected(
    web: FlaskClient, app: Flask, user: User, db_session: Session
) -> None:
    """W3."""
    cookie = _login(web)
    assert web.get("/_test/page").get_data(as_text=True) == "page ok"
    csrf = _row(db_session, cookie).csrf_token
    response = web.post("/logout", data={"csrf_token": csrf})
    assert _is_login_redirect(response)
    assert web.get_cookie(SECURE_COOKIE_NAME) is None  # the browser is told to forget it
    assert _row(db_session, cookie).ended_at is not None

    attacker = app.test_client()
    attacker.set_cookie(SECURE_COOKIE_NAME, cookie)
    assert _is_login_redirect(attacker.get("/_test/page"))
    assert attacker.get("/api/v1/_whoami").status_code == 401
    assert "web:auth:logout" in _tags(db_session)


def test_a_new_login_ends_the_previous_session(web: FlaskClient, user: User, db_session: Session) -> None:
    first = _login(web)
    second = _login(web, csrf=_row(db_session, first).csrf_token)
    assert _row(db_session, first).ended_at is not None
    assert _row(db_session, second).ended_at is None


def test_unknown_cookie_is_anonymous_and_cleared(web: FlaskClient) -> None:
    web.set_cookie(SECURE_COOKIE_NAME, "forged-value")
    response = web.get("/_test/page")
    assert _is_login_redirect(response)
    assert web.get_cookie(SECURE_COOKIE_NAME) is None


# --- timeouts (W5) -------------------------------------------------------------------------


def test_idle_session_requires_reauthentication(
    web: FlaskClient, user: User, db_session: Session, settings: Settings
) -> None:
    """W5: idle longer than session_idle_minutes."""
    cookie = _login(web)
    row = _row(db_session, cookie)
    row.last_seen_at = utcnow() - dt.timedelta(minutes=settings.session_idle_minutes, seconds=1)
    db_session.commit()
    assert _is_login_redirect(web.get("/_test/page"))
    assert _row(db_session, cookie).ended_at is not None
    # Ended for good: freshening the timestamp does not revive it.
    _row(db_session, cookie).last_seen_at = utcnow()
    db_session.commit()
    web.set_cookie(SECURE_COOKIE_NAME, cookie)
    assert _is_login_redirect(web.get("/_test/page"))


def test_session_just_inside_the_idle_limit_lives_and_is_touched(
    web: FlaskClient, user: User, db_session: Session, settings: Settings
) -> None:
    cookie = _login(web)
    row = _row(db_session, cookie)
    row.last_seen_at = utcnow() - dt.timedelta(minutes=settings.session_idle_minutes - 1)
    db_session.commit()
    assert web.get("/_test/page").status_code == 200
    assert utcnow() - _row(db_session, cookie).last_seen_at < dt.timedelta(seconds=30)


def test_last_seen_is_written_at_most_once_a_minute(web: FlaskClient, user: User, db_session: Session) -> None:
    cookie = _login(web)
    row = _row(db_session, cookie)
    recent = utcnow() - dt.timedelta(seconds=20)
    row.last_seen_at = recent
    db_session.commit()
    assert web.get("/_test/page").status_code == 200
    assert _row(db_session, cookie).last_seen_at == recent


def test_session_older_than_the_absolute_maximum_requires_reauthentication(
    web: FlaskClient, user: User, db_session: Session, settings: Settings
) -> None:
    """W5: however active, a session ends session_max_hours after login."""
    cookie = _login(web)
    row = _row(db_session, cookie)
    row.created_at = utcnow() - dt.timedelta(hours=settings.session_max_hours, seconds=1)
    row.last_seen_at = utcnow()
    db_session.commit()
    assert _is_login_redirect(web.get("/_test/page"))
    assert _row(db_session, cookie).ended_at is not None


def test_disabled_user_loses_the_session(web: FlaskClient, user: User, db_session: Session) -> None:
    _login(web)
    db_session.get(User, user.id).is_active = False  # type: ignore[union-attr]
    db_session.commit()
    assert _is_login_redirect(web.get("/_test/page"))
    assert web.get("/api/v1/_whoami").status_code == 401


# --- CSRF (W6) -----------------------------------------------------------------------------


def _csrf_events(db_session: Session) -> list[dict[str, object]]:
    payloads = db_session.scalars(select(AuditEvent.payload).where(AuditEvent.tag == "web:auth:csrf_rejected"))
    return [json.loads(p)["data"] for p in payloads]


def test_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
    web: FlaskClient, user: User, db_session: Session
) -> None:
    """W6: logout is a state change; without the token the session survives."""
    cookie = _login(web)
    assert web.post("/logout").status_code == 403
    assert web.post("/logout", data={"csrf_token": "guess"}).status_code == 403
    assert web.post("/logout", headers={"X-CSRF-Token": ""}).status_code == 403
    assert _row(db_session, cookie).ended_at is None
    assert web.get("/_test/page").status_code == 200
    reasons = [event["reason"] for event in _csrf_events(db_session)]
    assert reasons == ["missing_token", "bad_token", "missing_token"]


def test_password_change_without_csrf_token_changes_nothing(web: FlaskClient, user: User, db_session: Session) -> None:
    _login(web)
    before = user.password_hash
    data = {
        "current_password": PASSWORD,
        "new_password": "violet-kettle-harbour",
        "confirm_password": "violet-kettle-harbour",
    }
    assert web.post("/password", data=data).status_code == 403
    db_session.expire_all()
    assert db_session.get(User, user.id).password_hash == before  # type: ignore[union-attr]


def test_csrf_token_in_form_field_or_header_is_accepted(web: FlaskClient, user: User, db_session: Session) -> None:
    cookie = _login(web)
    csrf = _row(db_session, cookie).csrf_token
    assert web.post("/_test/page", data={"csrf_token": csrf}).status_code == 200
    assert web.post("/_test/page", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert web.post("/_test/page", headers={"X-CSRF-Token": csrf, "Origin": "https://localhost"}).status_code == 200


def test_foreign_origin_is_refused_even_with_the_token(web: FlaskClient, user: User, db_session: Session) -> None:
    cookie = _login(web)
    csrf = _row(db_session, cookie).csrf_token
    for origin in ("https://evil.example", "null", "http://localhost"):
        response = web.post("/logout", data={"csrf_token": csrf}, headers={"Origin": origin})
        assert response.status_code == 403, origin
    assert _row(db_session, cookie).ended_at is None
    assert {event["reason"] for event in _csrf_events(db_session)} == {"foreign_origin"}


def test_login_from_a_foreign_origin_is_refused(web: FlaskClient, user: User, db_session: Session) -> None:
    """Login CSRF: another site must not sign a victim into an account of its choosing."""
    response = web.post(
        "/login", data={"username": "alice", "password": PASSWORD}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert web.get_cookie(SECURE_COOKIE_NAME) is None


def test_the_csrf_token_is_per_session_and_rendered_into_forms(
    web: FlaskClient, app: Flask, user: User, db_session: Session
) -> None:
    cookie = _login(web)
    page = web.get("/pledge").get_data(as_text=True)  # the nav holds the logout and language forms
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
    assert tokens == {_row(db_session, cookie).csrf_token}
    other = app.test_client()
    _login(other)
    assert (
        web.post(
            "/_test/page",
            headers={"X-CSRF-Token": _row(db_session, other.get_cookie(SECURE_COOKIE_NAME).value).csrf_token},
        ).status_code
        == 403
    )  # type: ignore[union-attr]


def test_bearer_token_requests_need_no_csrf_token(web: FlaskClient, user: User, db_session: Session) -> None:
    token = make_token(db_session, user)
    db_session.commit()
    response = web.post("/api/v1/_whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_json() == {"actor": "alice"}


# --- headers (W7) --------------------------------------------------------------------------


def _assert_security_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    hsts = headers["Strict-Transport-Security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))  # type: ignore[union-attr]
    assert max_age >= 31536000 and "includeSubDomains" in hsts
    csp = headers["Content-Security-Policy"]
    assert "object-src 'none'" in csp and "frame-ancestors" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"]


def test_every_html_response_carries_the_security_headers(web: FlaskClient, user: User) -> None:
    """W7: anonymous, error, failed-login and signed-in pages alike."""
    responses = [
        web.get("/login"),
        web.get("/no-such-page"),
        web.post("/login", data={"username": "x", "password": "y"}),
    ]
    _login(web)
    responses += [web.get("/pledge"), web.get("/password"), web.get("/_test/page")]
    for response in responses:
        assert response.mimetype == "text/html"
        _assert_security_headers(response)
    assert responses[-1].headers["Cache-Control"] == "no-store"


# --- gates and redirects -------------------------------------------------------------------


def test_login_required_redirects_with_next_and_login_returns_there(web: FlaskClient, user: User) -> None:
    response = web.get("/_test/page?x=1")
    assert response.status_code == 302
    assert response.location == "/login?next=/_test/page?x%3D1"
    login = web.post("/login", data={"username": "alice", "password": PASSWORD, "next": "/_test/page?x=1"})
    assert login.location == "/_test/page?x=1"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_next_never_leaves_the_site(web: FlaskClient, user: User, target: str) -> None:
    response = web.post("/login", data={"username": "alice", "password": PASSWORD, "next": target})
    assert response.location == "/"


def test_pledge_gate_at_first_login(web: FlaskClient, db_session: Session) -> None:
    user = make_user(db_session, make_agency(db_session), username="newbie", pledged=False)
    db_session.commit()
    cookie = _login(web, "newbie")
    response = web.get("/_test/page")
    assert response.status_code == 302 and response.location.startswith("/pledge?next=/_test/page")
    assert web.get("/api/v1/_whoami").status_code == 403  # the API through the cookie is gated too
    page = web.get("/pledge")
    assert page.status_code == 200 and "安全保密承诺书" in page.get_data(as_text=True)
    csrf = _row(db_session, cookie).csrf_token
    assert web.post("/pledge", data={"csrf_token": csrf}).status_code == 400  # the box was not ticked
    accepted = web.post("/pledge", data={"csrf_token": csrf, "accept": "yes", "next": "/_test/page"})
    assert accepted.status_code == 302 and accepted.location == "/_test/page"
    assert web.get("/_test/page").status_code == 200
    db_session.expire_all()
    refreshed = db_session.get(User, user.id)
    assert refreshed is not None and refreshed.pledge_version == accounts.PLEDGE_VERSION
    assert refreshed.pledge_accepted_at is not None
    assert "web:auth:pledge" in _tags(db_session)


def test_pledge_gate_lets_logout_and_static_through(web: FlaskClient, db_session: Session) -> None:
    make_user(db_session, make_agency(db_session), username="newbie", pledged=False)
    db_session.commit()
    cookie = _login(web, "newbie")
    with web.get("/static/css/signalhub.css") as response:
        assert response.status_code == 200
    assert _is_login_redirect(web.post("/logout", data={"csrf_token": _row(db_session, cookie).csrf_token}))


def test_must_change_password_gate_comes_first(web: FlaskClient, db_session: Session) -> None:
    user = make_user(db_session, make_agency(db_session), username="fresh", pledged=False)
    user.must_change_password = True
    db_session.commit()
    _login(web, "fresh")
    for path in ("/_test/page", "/pledge", "/admin/users"):
        response = web.get(path)
        assert response.status_code == 302 and response.location.startswith("/password"), path
    assert web.get("/password").status_code == 200
