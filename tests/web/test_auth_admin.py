"""The user administration page: scope per admin, and disabling a signed-in user (W4)."""

from __future__ import annotations

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_platform import accounts
from signalhub_platform.models import AuditEvent, Role, User, WebSession
from signalhub_platform.web.security import api_auth_required
from signalhub_platform.web.sessions import SECURE_COOKIE_NAME
from tests.factories import TEST_HASHER, make_agency, make_token, make_user

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_password_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", TEST_HASHER)


@pytest.fixture
def prepared_app(app: Flask) -> Flask:
    app.config["PREFERRED_URL_SCHEME"] = "https"
    app.add_url_rule("/api/v1/_whoami", "test_whoami", api_auth_required(lambda: {"actor": g.actor.name}))
    return app


@pytest.fixture
def people(db_session: Session) -> dict[str, User]:
    tax, mkt = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    people = {
        "tax.admin": make_user(db_session, tax, Role.AGENCY_ADMIN, username="tax.admin"),
        "tax.user": make_user(db_session, tax, Role.SUPERVISOR, username="tax.user"),
        "mkt.user": make_user(db_session, mkt, Role.SUPERVISOR, username="mkt.user"),
        "office": make_user(db_session, None, Role.PLATFORM_ADMIN, username="office"),
    }
    db_session.commit()
    return people


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _csrf(client: FlaskClient, db_session: Session) -> str:
    cookie = client.get_cookie(SECURE_COOKIE_NAME)
    assert cookie is not None
    db_session.expire_all()
    return db_session.scalars(
        select(WebSession.csrf_token).where(WebSession.token_sha256 == accounts.sha256_hex(cookie.value))
    ).one()


def _listed(client: FlaskClient) -> set[str]:
    page = client.get("/admin/users").get_data(as_text=True)
    return {name for name in ("tax.admin", "tax.user", "mkt.user", "office") if f"<td>{name}</td>" in page}


def test_agency_admin_sees_only_their_agency(prepared_app: Flask, people: dict[str, User]) -> None:
    assert _listed(_signed_in(prepared_app, "tax.admin")) == {"tax.admin", "tax.user"}


def test_platform_admin_sees_everyone(prepared_app: Flask, people: dict[str, User]) -> None:
    assert _listed(_signed_in(prepared_app, "office")) == {"tax.admin", "tax.user", "mkt.user", "office"}


def test_non_admins_are_refused_and_anonymous_sent_to_login(prepared_app: Flask, people: dict[str, User]) -> None:
    assert _signed_in(prepared_app, "tax.user").get("/admin/users").status_code == 403
    response = prepared_app.test_client().get("/admin/users")
    assert response.status_code == 302 and response.location.startswith("/login?next=/admin/users")


def test_admin_disables_a_signed_in_user_whose_next_request_fails(
    prepared_app: Flask, people: dict[str, User], db_session: Session
) -> None:
    """W4."""
    target = people["tax.user"]
    token = make_token(db_session, target)
    db_session.commit()
    victim = _signed_in(prepared_app, "tax.user")
    assert victim.get("/pledge").status_code == 200
    admin = _signed_in(prepared_app, "tax.admin")
    assert f'action="/admin/users/{target.id}/disable"' in admin.get("/admin/users").get_data(as_text=True)

    response = admin.post(f"/admin/users/{target.id}/disable", data={"csrf_token": _csrf(admin, db_session)})
    assert response.status_code == 302 and response.location == "/admin/users?done=disabled"

    after = victim.get("/pledge")
    assert after.status_code == 302 and after.location.startswith("/login")
    assert (
        prepared_app.test_client().get("/api/v1/_whoami", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    assert victim.post("/login", data={"username": "tax.user", "password": PASSWORD}).status_code == 401
    db_session.expire_all()
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "web:user:disable")).one()
    assert (event.actor, event.agency_code) == ("tax.admin", "TAX")
    page = admin.get("/admin/users?done=disabled").get_data(as_text=True)
    assert f'action="/admin/users/{target.id}/disable"' not in page  # already disabled: no button


@pytest.mark.parametrize("target", ["mkt.user", "office", "tax.admin"])
def test_agency_admin_cannot_disable_others_or_themselves(
    prepared_app: Flask, people: dict[str, User], db_session: Session, target: str
) -> None:
    admin = _signed_in(prepared_app, "tax.admin")
    user_id = people[target].id
    response = admin.post(f"/admin/users/{user_id}/disable", data={"csrf_token": _csrf(admin, db_session)})
    assert response.status_code == 404
    assert admin.post("/admin/users/999999/disable", data={"csrf_token": _csrf(admin, db_session)}).status_code == 404
    db_session.expire_all()
    assert db_session.get(User, user_id).is_active  # type: ignore[union-attr]


def test_platform_admin_can_disable_any_agency_user(
    prepared_app: Flask, people: dict[str, User], db_session: Session
) -> None:
    office = _signed_in(prepared_app, "office")
    user_id = people["mkt.user"].id
    assert (
        office.post(f"/admin/users/{user_id}/disable", data={"csrf_token": _csrf(office, db_session)}).status_code
        == 302
    )
    db_session.expire_all()
    assert not db_session.get(User, user_id).is_active  # type: ignore[union-attr]


def test_disable_without_csrf_token_changes_nothing(
    prepared_app: Flask, people: dict[str, User], db_session: Session
) -> None:
    admin = _signed_in(prepared_app, "tax.admin")
    user_id = people["tax.user"].id
    assert admin.post(f"/admin/users/{user_id}/disable").status_code == 403
    db_session.expire_all()
    assert db_session.get(User, user_id).is_active  # type: ignore[union-attr]
