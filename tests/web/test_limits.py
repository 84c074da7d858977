"""TESTS.md W11: a request body larger than MAX_CONTENT_LENGTH gets 413 before it is parsed.

Each oversized body would succeed if it were read (a valid correction, the right password), so a
413 with nothing changed shows the limit acts before parsing, not after.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_platform.app import create_app
from signalhub_platform.models import AuditEvent, Record, Role, WebSession
from tests.conftest import make_key_settings
from tests.factories import make_agency, make_entity, make_record, make_token, make_user

LIMIT = 1024
PASSWORD = "correct horse battery staple"


@pytest.fixture
def small_app(tmp_path: Path, session_factory: sessionmaker[Session]) -> Flask:
    settings = make_key_settings(tmp_path, max_content_length=LIMIT)
    return create_app(settings, session_factory=session_factory, test_config={"TESTING": True})


@pytest.fixture
def small_client(small_app: Flask) -> FlaskClient:
    return small_app.test_client()


class UnreadableBody(io.BytesIO):
    """An oversized request body (its length is measured by seeking) that fails the test if read."""

    def __init__(self) -> None:
        super().__init__(b"x" * (LIMIT + 1))

    def read(self, _size: int | None = -1) -> bytes:
        raise AssertionError("the oversized body was read")

    def readinto(self, _buffer: object) -> int:  # type: ignore[override]
        raise AssertionError("the oversized body was read")

    def readline(self, _size: int | None = -1) -> bytes:
        raise AssertionError("the oversized body was read")


def _audit_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def _padded_json(payload: dict[str, str], size: int) -> bytes:
    body = json.dumps({**payload, "description": "x" * size}).encode()
    assert len(body) > LIMIT
    return body


def test_oversized_api_body_is_refused_and_changes_nothing(small_client: FlaskClient, db_session: Session) -> None:
    agency = make_agency(db_session, "TAX")
    token = make_token(db_session, make_user(db_session, agency, Role.SUPERVISOR))
    record = make_record(db_session, agency, entity=make_entity(db_session))
    db_session.commit()
    before = _audit_count(db_session)
    headers = {"Authorization": f"Bearer {token}"}

    response = small_client.put(
        f"/api/v1/records/{record.id}",
        headers=headers,
        data=_padded_json({"reason": "typo"}, 2048),
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.get_json() == {"error": {"code": 413, "message": "Request Entity Too Large"}}

    db_session.expire_all()
    assert db_session.scalar(select(func.count()).where(Record.source_ref == record.source_ref)) == 1
    assert db_session.get(Record, record.id).description == "test record"  # type: ignore[union-attr]
    assert _audit_count(db_session) == before

    # The same correction within the limit goes through: the 413 was the size, nothing else.
    small = small_client.put(f"/api/v1/records/{record.id}", headers=headers, json={"reason": "typo"})
    assert small.status_code == 200


def test_oversized_login_form_is_refused_before_the_password_is_checked(
    small_client: FlaskClient, db_session: Session
) -> None:
    make_user(db_session, make_agency(db_session), username="li.na", password=PASSWORD)
    db_session.commit()
    before = _audit_count(db_session)

    response = small_client.post("/login", data={"username": "li.na", "password": PASSWORD, "padding": "x" * 2048})
    assert response.status_code == 413
    assert "Set-Cookie" not in response.headers
    assert _audit_count(db_session) == before  # neither a login nor a failed login was recorded
    assert db_session.scalar(select(func.count()).select_from(WebSession)) == 0

    assert small_client.post("/login", data={"username": "li.na", "password": PASSWORD}).status_code == 302


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/login", "application/x-www-form-urlencoded"), ("/api/v1/records/1", "application/json")],
)
def test_declared_length_over_the_limit_is_refused_without_reading_the_body(
    small_client: FlaskClient, db_session: Session, path: str, content_type: str
) -> None:
    agency = make_agency(db_session)
    token = make_token(db_session, make_user(db_session, agency))
    db_session.commit()
    response = small_client.open(
        path,
        method="PUT" if path.startswith("/api/") else "POST",
        headers={"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {},
        input_stream=UnreadableBody(),
        content_type=content_type,
    )
    assert response.status_code == 413
