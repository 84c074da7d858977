"""Entities that exist only because of an agency's records are no oracle for private records.

The merge creates an entity (``is_in_registry`` false) for every unknown credit code in a batch,
private rows included. Such an entity is shown only to a viewer who may see one of its current
records; to anyone else it answers exactly like a code that does not exist (404, absent from
search), through the web, the API and the CLI alike. Registry entities stay visible to all.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_ingest import services as ingest
from signalhub_platform.cli import CliContext, main
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import Actor, AuditEvent, Entity, Openness, Record, Role, User
from signalhub_platform.sharing import services
from tests.factories import make_agency, make_entity, make_record, make_token, make_uscc, make_user
from tests.web.test_pages import signed_in

UNKNOWN = "91110102MA00000000"  # no entity has this code
HEADER = [
    "department", "kind", "risk_level", "openness", "uscc", "entity_name", "person_name", "person_id_number",
    "category", "description", "occurred_on", "source_ref",
]  # fmt: skip


@dataclass
class World:
    users: dict[str, User]
    tokens: dict[str, str]
    private_only: str  # provisional, one private record of TAX
    shared: str  # provisional, one shared record of TAX
    registry: str  # in the registry, no records at all
    reclassified: str  # provisional, shared once, private now


@pytest.fixture
def world(db_session: Session) -> World:
    tax, mkt = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    users = {
        "tax": make_user(db_session, tax, Role.SUPERVISOR),
        "mkt": make_user(db_session, mkt, Role.SUPERVISOR),
        "office": make_user(db_session, None, Role.PLATFORM_ADMIN),
    }
    private_only = make_entity(db_session, name="北京暗访餐饮有限公司", is_in_registry=False)
    shared = make_entity(db_session, name="北京明查餐饮有限公司", is_in_registry=False)
    registry = make_entity(db_session, name="北京登记餐饮有限公司")
    reclassified = make_entity(db_session, name="北京改判餐饮有限公司", is_in_registry=False)
    make_record(db_session, tax, entity=private_only, openness=Openness.PRIVATE)
    make_record(db_session, tax, entity=shared, openness=Openness.SHARED)
    first = make_record(db_session, tax, entity=reclassified, openness=Openness.SHARED)
    first.is_current = False
    db_session.add(
        Record(
            agency_id=tax.id, department_id=first.department_id, kind=first.kind, risk_level=first.risk_level,
            openness=Openness.PRIVATE, entity_id=reclassified.id, category=first.category,
            description=first.description, occurred_on=first.occurred_on, source_ref=first.source_ref,
            version=2, source=first.source, supersedes_id=first.id,
        )
    )  # fmt: skip
    db_session.flush()
    tokens = {name: make_token(db_session, user) for name, user in users.items()}
    db_session.commit()
    return World(users, tokens, private_only.uscc, shared.uscc, registry.uscc, reclassified.uscc)


def _actor(user: User) -> Actor:
    return Actor.for_user(user)


def _api(client: FlaskClient, path: str, token: str) -> tuple[int, dict]:
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_json(silent=True) or {}


def _found(session: Session, user: User, query: str) -> set[str]:
    tag = AuditTag.API_ENTITY_SEARCH
    return {entity.uscc for entity in services.search_entities(session, _actor(user), query, tag=tag)}


def test_a_provisional_entity_is_known_only_to_those_who_see_one_of_its_records(
    db_session: Session, world: World
) -> None:
    everything = {world.private_only, world.shared, world.registry, world.reclassified}
    assert _found(db_session, world.users["tax"], "餐饮") == everything  # the owner sees all its records
    for outsider in ("mkt", "office"):
        assert _found(db_session, world.users[outsider], "餐饮") == {world.shared, world.registry}
        # a search by the exact code, or by its prefix, does not find it either
        assert _found(db_session, world.users[outsider], world.private_only) == set()
        assert _found(db_session, world.users[outsider], world.private_only[:12]) == set()
        for code in (world.private_only, world.reclassified):
            tag = AuditTag.API_ENTITY_READ
            assert services.get_entity_profile(db_session, _actor(world.users[outsider]), code, tag=tag) is None
    owner_view = services.get_entity_profile(
        db_session, _actor(world.users["tax"]), world.private_only, tag=AuditTag.API_ENTITY_READ
    )
    assert owner_view is not None and owner_view.record_count == 1
    registry_view = services.get_entity_profile(
        db_session, _actor(world.users["mkt"]), world.registry, tag=AuditTag.API_ENTITY_READ
    )
    assert registry_view is not None and registry_view.record_count == 0  # registry data is for everyone


def test_the_api_answers_a_hidden_entity_exactly_like_a_missing_one(
    client: FlaskClient, db_session: Session, world: World
) -> None:
    token = world.tokens["mkt"]
    missing = _api(client, f"/api/v1/entities/{UNKNOWN}", token)
    hidden = _api(client, f"/api/v1/entities/{world.private_only}", token)
    assert hidden == missing and hidden[0] == 404
    assert _api(client, f"/api/v1/entities/{world.private_only}", world.tokens["office"]) == missing
    assert _api(client, f"/api/v1/entities/{world.private_only}", world.tokens["tax"])[0] == 200
    assert _api(client, f"/api/v1/entities/{world.shared}", token)[0] == 200
    status, body = _api(client, "/api/v1/entities?q=餐饮", token)
    assert status == 200 and {e["uscc"] for e in body["results"]} == {world.shared, world.registry}
    # both attempts were audited the same way: a lookup that found nothing
    reads = db_session.scalars(
        select(AuditEvent.payload).where(AuditEvent.tag == "api:entity:read").order_by(AuditEvent.seq)
    ).all()
    missing_event, hidden_event = (json.loads(payload)["data"] for payload in reads[:2])
    assert missing_event == hidden_event == {"found": False, "purpose": ""}


def test_the_entity_page_answers_a_hidden_entity_exactly_like_a_missing_one(
    app: Flask, db_session: Session, world: World
) -> None:
    client = signed_in(app, db_session, world.users["mkt"])
    missing = client.get(f"/entities/{UNKNOWN}")
    hidden = client.get(f"/entities/{world.private_only}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_data(as_text=True).replace(world.private_only, "X") == missing.get_data(as_text=True).replace(
        UNKNOWN, "X"
    )
    results = client.get("/search", query_string={"q": "餐饮"}).get_data(as_text=True)
    assert "北京明查餐饮有限公司" in results and "北京暗访餐饮有限公司" not in results
    owner = signed_in(app, db_session, world.users["tax"])
    assert owner.get(f"/entities/{world.private_only}").status_code == 200


def test_the_cli_reads_through_the_same_rule(
    settings: Settings, session_factory: sessionmaker[Session], world: World
) -> None:
    def run(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), obj=CliContext(settings=settings, factory=session_factory))

    hidden, missing = run("entities", "show", world.private_only), run("entities", "show", UNKNOWN)
    assert hidden.exit_code == missing.exit_code != 0
    assert hidden.output.replace(world.private_only, "X") == missing.output.replace(UNKNOWN, "X")
    found = json.loads(run("entities", "search", "餐饮", "--json").stdout)
    assert {e["uscc"] for e in found["results"]} == {world.shared, world.registry}


def test_a_private_row_of_a_batch_creates_no_entity_others_can_find(
    db_session: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    cipher: PersonalDataCipher,
    client: FlaskClient,
    world: World,
    tmp_path: Path,
) -> None:
    """The path the review found: an unknown code in a private row → a provisional entity → 200 vs 404."""
    tax = db_session.scalars(select(User).where(User.id == world.users["tax"].id)).one().agency
    assert tax is not None
    secret, open_ = make_uscc(424242), make_uscc(434343)
    path = tmp_path / "q3.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n, (code, openness) in enumerate(((secret, "private"), (open_, "shared")), start=1):
            writer.writerow(["D1", "risk", "high", openness, code, f"北京新设{n}有限公司", "", "", "投诉举报",
                             "日常检查发现问题", "2026-06-01", f"Q3-{n}"])  # fmt: skip
    with path.open("rb") as stream:
        outcome = ingest.store_upload(
            db_session, Actor.cli(), agency=tax, period="2026Q3", filename=path.name, stream=stream,
            instance_dir=settings.instance_dir, channel="cli",
        )  # fmt: skip
    db_session.commit()
    ingest.validate_batch(
        session_factory, outcome.batch.id, cipher=cipher, instance_dir=settings.instance_dir,
        today=dt.date(2026, 11, 27), actor=Actor.cli(),
    )  # fmt: skip
    ingest.commit_batch(session_factory, outcome.batch.id, actor=Actor.cli(), channel="cli")
    db_session.expire_all()
    created = db_session.scalars(select(Entity).where(Entity.uscc.in_([secret, open_]))).all()
    assert {(e.uscc, e.is_in_registry) for e in created} == {(secret, False), (open_, False)}

    missing = _api(client, f"/api/v1/entities/{UNKNOWN}", world.tokens["mkt"])
    assert _api(client, f"/api/v1/entities/{secret}", world.tokens["mkt"]) == missing
    assert _api(client, f"/api/v1/entities/{secret}", world.tokens["office"]) == missing
    assert _api(client, f"/api/v1/entities/{open_}", world.tokens["mkt"])[0] == 200
    _, found = _api(client, "/api/v1/entities?q=北京新设", world.tokens["mkt"])
    assert [e["uscc"] for e in found["results"]] == [open_]
    assert _api(client, f"/api/v1/entities/{secret}", world.tokens["tax"])[0] == 200


def test_a_person_known_only_from_a_private_record_is_hidden_from_other_agencies(
    db_session: Session, cipher: PersonalDataCipher
) -> None:
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.sharing.services import search_persons
    from tests.factories import make_agency, make_person, make_record, make_user

    owner, other = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    person = make_person(db_session, cipher, name="赵六")
    make_record(db_session, owner, person=person, openness=Openness.PRIVATE)
    as_owner = Actor.for_user(make_user(db_session, owner, Role.SUPERVISOR))
    as_other = Actor.for_user(make_user(db_session, other, Role.SUPERVISOR))
    tag = AuditTag.WEB_PERSON_SEARCH
    assert [hit.person.id for hit in search_persons(db_session, as_owner, "赵六", cipher=cipher, tag=tag)] == [
        person.id
    ]
    assert search_persons(db_session, as_other, "赵六", cipher=cipher, tag=tag) == []
