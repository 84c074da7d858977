"""``signalhub users add|token|disable``, end to end through the web app that uses the accounts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_platform.accounts import sha256_hex
from signalhub_platform.cli import CliContext, main
from signalhub_platform.models import ApiToken, AuditEvent, Role, User
from signalhub_platform.web.security import api_auth_required
from tests.factories import make_agency, make_user

Run = Callable[..., Result]


@pytest.fixture
def run(settings: Settings, session_factory: sessionmaker[Session]) -> Run:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, ["users", *args], obj=CliContext(settings=settings, factory=session_factory))

    return invoke


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    # A test-only API route: 401 without a valid bearer token, the actor's name with one.
    app.add_url_rule("/api/v1/_whoami", "test_whoami", api_auth_required(lambda: {"actor": g.actor.name}))
    app.config["PREFERRED_URL_SCHEME"] = "https"
    return app.test_client()


def _login(client: FlaskClient, username: str, password: str) -> int:
    return client.post("/login", data={"username": username, "password": password}).status_code


def test_add_prints_a_one_time_password_that_must_be_replaced_at_first_login(
    run: Run, web: FlaskClient, db_session: Session
) -> None:
    make_agency(db_session, "TAX")
    db_session.commit()
    result = run(
        "add", "wang.li", "--agency", "TAX", "--role", "supervisor", "--role", "liaison", "--display-name", "王力"
    )
    assert result.exit_code == 0, result.output
    otp = result.stdout.strip()
    assert len(otp) >= 16 and "\n" not in otp
    user = db_session.scalars(select(User).where(User.username == "wang.li")).one()
    assert user.roles == {Role.SUPERVISOR, Role.LIAISON} and user.must_change_password
    assert otp not in user.password_hash

    assert _login(web, "wang.li", otp) == 302
    response = web.get("/pledge")
    assert response.status_code == 302 and response.location.startswith("/password")
    page = web.get("/password").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    changed = web.post(
        "/password",
        data={
            "csrf_token": csrf,
            "current_password": otp,
            "new_password": "violet-kettle-harbour",
            "confirm_password": "violet-kettle-harbour",
        },
    )
    assert changed.status_code == 302
    web.post("/logout", data={"csrf_token": csrf})
    assert _login(web, "wang.li", otp) == 401  # the one-time password is spent
    assert _login(web, "wang.li", "violet-kettle-harbour") == 302


def test_add_refuses_unknown_agency_and_role(run: Run, db_session: Session) -> None:
    result = run("add", "x.y", "--agency", "NOPE", "--role", "supervisor")
    assert result.exit_code == 1 and "no active agency" in result.output
    result = run("add", "x.y", "--agency", "platform", "--role", "emperor")
    assert result.exit_code == 2
    assert db_session.scalars(select(User)).all() == []


def test_token_works_as_bearer_and_is_stored_hashed(run: Run, web: FlaskClient, db_session: Session) -> None:
    make_agency(db_session, "TAX")
    db_session.commit()
    assert run("add", "erp", "--agency", "TAX", "--role", "liaison").exit_code == 0
    result = run("token", "erp", "--label", "ERP bridge")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert db_session.scalars(select(ApiToken.token_sha256)).all() == [sha256_hex(token)]
    assert token not in "".join(db_session.scalars(select(AuditEvent.payload)))

    assert web.get("/api/v1/_whoami").status_code == 401
    assert web.get("/api/v1/_whoami", headers={"Authorization": "Bearer nope"}).status_code == 401
    response = web.get("/api/v1/_whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.get_json() == {"actor": "erp"}

    assert run("disable", "erp").exit_code == 0
    assert web.get("/api/v1/_whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    tags = db_session.scalars(select(AuditEvent.tag).order_by(AuditEvent.seq)).all()
    assert tags == ["cli:user:add", "cli:user:token", "cli:user:disable"]


def test_disable_ends_the_users_web_session(run: Run, web: FlaskClient, db_session: Session) -> None:
    make_user(db_session, make_agency(db_session), username="leaver")
    db_session.commit()
    assert _login(web, "leaver", "correct horse battery staple") == 302
    assert web.get("/pledge").status_code == 200
    assert run("disable", "leaver").exit_code == 0
    response = web.get("/pledge")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_token_and_disable_for_unknown_user_fail_cleanly(run: Run) -> None:
    for command in ("token", "disable"):
        result = run(command, "ghost")
        assert result.exit_code == 1 and "no such user" in result.output
