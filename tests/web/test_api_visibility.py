"""The one visibility rule, proven through the API (TESTS.md W1, W2, A15, A16)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import AuditEvent, Openness, Record, Role
from tests.factories import make_agency, make_entity, make_id_number, make_person, make_record, make_token, make_user


@dataclass
class World:
    tokens: dict[str, str | None]
    records: dict[Openness, Record]
    uscc: str
    id_number: str


@pytest.fixture
def world(db_session: Session, cipher: PersonalDataCipher) -> World:
    agency_a = make_agency(db_session, "TAX")
    agency_b = make_agency(db_session, "MKT")
    user_a = make_user(db_session, agency_a, Role.SUPERVISOR)
    user_b = make_user(db_session, agency_b, Role.SUPERVISOR)
    entity = make_entity(db_session)
    id_number = make_id_number()
    person = make_person(db_session, cipher, id_number)
    records = {
        openness: make_record(db_session, agency_a, entity=entity, person=person, openness=openness)
        for openness in Openness
    }
    tokens = {"A": make_token(db_session, user_a), "B": make_token(db_session, user_b), "public": None}
    db_session.commit()
    return World(tokens=tokens, records=records, uscc=entity.uscc, id_number=id_number)


def _get(client: FlaskClient, path: str, token: str | None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get(path, headers=headers)
    return response.status_code, response.get_json(silent=True) or {}


def _audit_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


ALLOWED_READS = {
    ("A", Openness.PRIVATE): 200,
    ("A", Openness.SHARED): 200,
    ("A", Openness.PUBLIC): 200,
    ("B", Openness.PRIVATE): 404,
    ("B", Openness.SHARED): 200,
    ("B", Openness.PUBLIC): 200,
}


@pytest.mark.parametrize(("viewer", "openness"), list(ALLOWED_READS))
def test_record_read_matrix(
    client: FlaskClient, db_session: Session, world: World, viewer: str, openness: Openness
) -> None:
    before = _audit_count(db_session)
    status, body = _get(client, f"/api/v1/records/{world.records[openness].id}", world.tokens[viewer])
    assert status == ALLOWED_READS[(viewer, openness)]
    assert _audit_count(db_session) == before + 1  # allowed or not, the attempt is audited
    if status == 200:
        assert body["record"]["openness"] == openness.value


def test_anonymous_api_reads_are_refused(client: FlaskClient, world: World) -> None:
    for record in world.records.values():
        status, _ = _get(client, f"/api/v1/records/{record.id}", None)
        assert status == 401


def test_hidden_record_answers_exactly_like_a_missing_one(client: FlaskClient, world: World) -> None:
    hidden = client.get(
        f"/api/v1/records/{world.records[Openness.PRIVATE].id}",
        headers={"Authorization": f"Bearer {world.tokens['B']}"},
    )
    missing = client.get("/api/v1/records/987654321", headers={"Authorization": f"Bearer {world.tokens['B']}"})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_data() == missing.get_data()
    assert dict(hidden.headers).keys() == dict(missing.headers).keys()


def test_entity_profile_shows_only_visible_records(client: FlaskClient, world: World) -> None:
    _, as_a = _get(client, f"/api/v1/entities/{world.uscc}", world.tokens["A"])
    _, as_b = _get(client, f"/api/v1/entities/{world.uscc}", world.tokens["B"])
    openness_a = sorted(r["openness"] for records in as_a["records_by_agency"].values() for r in records)
    openness_b = sorted(r["openness"] for records in as_b["records_by_agency"].values() for r in records)
    assert openness_a == ["private", "public", "shared"]
    assert openness_b == ["public", "shared"]
    assert as_b["record_count"] == 2


def test_entity_profile_masks_person_ids(client: FlaskClient, world: World) -> None:
    response = client.get(f"/api/v1/entities/{world.uscc}", headers={"Authorization": f"Bearer {world.tokens['A']}"})
    text = response.get_data(as_text=True)
    assert world.id_number not in text
    assert world.id_number[:6] + "********" + world.id_number[-4:] in text


def test_entity_search_by_name_and_code(client: FlaskClient, world: World) -> None:
    status, body = _get(client, f"/api/v1/entities?q={world.uscc[:10]}", world.tokens["B"])
    assert status == 200
    assert world.uscc in [e["uscc"] for e in body["results"]]
    _, empty = _get(client, "/api/v1/entities?q=%25", world.tokens["B"])
    assert empty["results"] == []  # '%' is matched literally, not as a wildcard


def test_audit_failure_returns_no_data(client: FlaskClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A15: a restricted read whose audit event cannot be written returns 500 and nothing else."""
    from signalhub_platform.sharing import services

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(services, "record_event", broken)
    response = client.get(
        f"/api/v1/records/{world.records[Openness.PRIVATE].id}",
        headers={"Authorization": f"Bearer {world.tokens['A']}"},
    )
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "test record" not in text and world.records[Openness.PRIVATE].source_ref not in text


def test_person_read_is_audited_once_without_plaintext(client: FlaskClient, db_session: Session, world: World) -> None:
    """A16: reading a record naming a person writes exactly one event with actor, agency, objects, purpose."""
    before = db_session.scalar(select(func.max(AuditEvent.seq))) or 0
    _get(client, f"/api/v1/records/{world.records[Openness.SHARED].id}", world.tokens["B"])
    events = list(db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)))
    assert len(events) == 1
    payload = json.loads(events[0].payload)
    assert payload["actor"] and payload["agency"] == "MKT"
    assert payload["tag"] == "api:record:read"
    assert ["person", str(world.records[Openness.SHARED].person_id)] in payload["subjects"]
    assert world.id_number not in events[0].payload


def _expected(viewer: str, openness: Openness, method: str) -> int:
    if viewer == "public":
        return 401
    readable = viewer == "A" or openness != Openness.PRIVATE
    if method in ("GET", "EXPORT"):
        return 200 if readable else 404
    return 200 if viewer == "A" else (403 if readable else 404)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "EXPORT"])
@pytest.mark.parametrize("openness", list(Openness))
@pytest.mark.parametrize("viewer", ["A", "B", "public"])
def test_w1_matrix(
    client: FlaskClient, db_session: Session, world: World, viewer: str, openness: Openness, method: str
) -> None:
    """W1: {A, B, anonymous} x {private, shared, public} x {GET, PUT, DELETE, export}."""
    record = world.records[openness]
    token = world.tokens[viewer]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    before = _audit_count(db_session)
    if method == "GET":
        response = client.get(f"/api/v1/records/{record.id}", headers=headers)
    elif method == "EXPORT":
        response = client.get(f"/api/v1/records/{record.id}/export", headers=headers)
    elif method == "PUT":
        response = client.put(
            f"/api/v1/records/{record.id}", headers=headers, json={"reason": "typo", "description": "corrected"}
        )
    else:
        response = client.delete(f"/api/v1/records/{record.id}", headers=headers, json={"reason": "entered in error"})
    assert response.status_code == _expected(viewer, openness, method)
    if viewer != "public":
        assert _audit_count(db_session) == before + 1
    db_session.expire_all()
    versions = db_session.scalar(select(func.count()).where(Record.source_ref == record.source_ref))
    assert versions == (2 if response.status_code == 200 and method in ("PUT", "DELETE") else 1)


def test_correction_keeps_history_and_withdrawal_is_a_version(client: FlaskClient, world: World) -> None:
    record = world.records[Openness.SHARED]
    auth_a = {"Authorization": f"Bearer {world.tokens['A']}"}
    corrected = client.put(
        f"/api/v1/records/{record.id}", headers=auth_a, json={"reason": "wrong level", "risk_level": "high"}
    ).get_json()["record"]
    assert corrected["version"] == 2 and corrected["supersedes_id"] == record.id and corrected["risk_level"] == "high"
    stale = client.put(f"/api/v1/records/{record.id}", headers=auth_a, json={"reason": "again"})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == 409  # the API's one error document
    withdrawn = client.delete(f"/api/v1/records/{corrected['id']}", headers=auth_a, json={"reason": "duplicate"})
    assert withdrawn.get_json()["record"]["status"] == "withdrawn"
    history = client.get(f"/api/v1/records/{record.id}", headers={"Authorization": f"Bearer {world.tokens['B']}"})
    body = history.get_json()
    assert [v["version"] for v in body["history"]] == [1, 2, 3]
    assert body["record"]["is_current"] is False


def test_reclassified_private_hides_old_shared_versions_from_others(client: FlaskClient, world: World) -> None:
    record = world.records[Openness.SHARED]
    client.put(
        f"/api/v1/records/{record.id}",
        headers={"Authorization": f"Bearer {world.tokens['A']}"},
        json={"reason": "shared by mistake", "openness": "private"},
    )
    as_b = client.get(f"/api/v1/records/{record.id}", headers={"Authorization": f"Bearer {world.tokens['B']}"})
    assert as_b.status_code == 404


def test_correction_without_reason_is_rejected(client: FlaskClient, world: World) -> None:
    record = world.records[Openness.SHARED]
    response = client.put(
        f"/api/v1/records/{record.id}",
        headers={"Authorization": f"Bearer {world.tokens['A']}"},
        json={"description": "x"},
    )
    assert response.status_code == 400
    assert "reason" in response.get_json()["error"]["details"]


def test_export_escapes_formulas(client: FlaskClient, db_session: Session, world: World) -> None:
    record = world.records[Openness.SHARED]
    client.put(
        f"/api/v1/records/{record.id}",
        headers={"Authorization": f"Bearer {world.tokens['A']}"},
        json={"reason": "r", "description": '=HYPERLINK("http://x","y")'},
    )
    text = client.get(
        f"/api/v1/records/{record.id}/export", headers={"Authorization": f"Bearer {world.tokens['A']}"}
    ).get_data(as_text=True)
    assert "'=HYPERLINK" in text
    assert ",=HYPERLINK" not in text
