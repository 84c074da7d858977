"""Bearer tokens: read as plain rows on every API request, with the user object loaded only if a view
asks for it, a use stamped at most once a minute, and no access for a revoked token or a disabled user."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from signalhub_platform.models import ApiToken, AuditEvent, Role, User
from signalhub_platform.models.types import utcnow
from tests.factories import make_agency, make_token, make_user


def _last_used(db_session: Session, user: User) -> dt.datetime | None:
    db_session.expire_all()
    return db_session.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == user.id))


def test_the_token_acts_as_its_user_and_agency(client: FlaskClient, db_session: Session) -> None:
    user = make_user(db_session, make_agency(db_session, "TAX"), Role.SUPERVISOR, Role.LIAISON)
    office = make_user(db_session, None, Role.PLATFORM_ADMIN)
    tokens = {user.username: make_token(db_session, user), office.username: make_token(db_session, office)}
    db_session.commit()
    for username, agency_code in ((user.username, "TAX"), (office.username, "platform")):
        response = client.get("/api/v1/warnings", headers={"Authorization": f"Bearer {tokens[username]}"})
        assert response.status_code == 200
        event = db_session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
        assert (event.tag, event.actor, event.agency_code) == ("api:warning:list", username, agency_code)


def test_a_page_opened_with_a_token_still_finds_its_user(client: FlaskClient, db_session: Session) -> None:
    user = make_user(db_session, make_agency(db_session, "TAX"), Role.SUPERVISOR)
    user.display_name = "令牌用户"
    token = make_token(db_session, user)
    db_session.commit()
    response = client.get("/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert "令牌用户" in response.get_data(as_text=True)


def test_a_use_is_stamped_at_most_once_a_minute(client: FlaskClient, db_session: Session) -> None:
    user = make_user(db_session, make_agency(db_session, "TAX"), Role.SUPERVISOR)
    token = make_token(db_session, user)
    db_session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert _last_used(db_session, user) is None
    client.get("/api/v1/warnings", headers=headers)
    first = _last_used(db_session, user)
    assert first is not None
    client.get("/api/v1/warnings", headers=headers)
    assert _last_used(db_session, user) == first
    a_while_ago = utcnow() - dt.timedelta(minutes=2)
    db_session.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(last_used_at=a_while_ago))
    db_session.commit()
    client.get("/api/v1/warnings", headers=headers)
    later = _last_used(db_session, user)
    assert later is not None and later > a_while_ago


def test_revoked_tokens_and_disabled_users_get_nothing(client: FlaskClient, db_session: Session) -> None:
    agency = make_agency(db_session, "TAX")
    revoked_user, disabled_user = make_user(db_session, agency), make_user(db_session, agency)
    revoked, disabled = make_token(db_session, revoked_user), make_token(db_session, disabled_user)
    db_session.execute(update(ApiToken).where(ApiToken.user_id == revoked_user.id).values(revoked_at=utcnow()))
    disabled_user.is_active = False
    db_session.commit()
    for token in (revoked, disabled, "not-a-token"):
        response = client.get("/api/v1/warnings", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code in (302, 401)
