"""The API's hot reads reuse statements built once per actor (``models.statement_cache``): one
viewer's rights must never reach another viewer, nor outlive a change of the viewer's agency."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import Actor, Agency, Openness, Role, User
from signalhub_platform.sharing.services import _visible_entity_by_code
from tests.factories import make_agency, make_entity, make_person, make_record, make_role, make_token, make_user


@dataclass
class Scene:
    tax: Agency
    market: Agency
    tax_user: User
    tokens: dict[str, str]
    registry_uscc: str  # in the registry, with TAX's private and shared records
    provisional_uscc: str  # not in the registry: known only through TAX's private record
    provisional_name: str


@pytest.fixture
def scene(db_session: Session, cipher: PersonalDataCipher) -> Scene:
    tax, market = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    tax_user, market_user = make_user(db_session, tax, Role.SUPERVISOR), make_user(db_session, market, Role.SUPERVISOR)
    registry = make_entity(db_session, name="缓存测试登记公司")
    provisional = make_entity(db_session, name="缓存测试未登记公司", is_in_registry=False)
    make_record(db_session, tax, entity=registry, openness=Openness.PRIVATE)
    make_record(db_session, tax, entity=registry, openness=Openness.SHARED)
    make_record(db_session, tax, entity=provisional, openness=Openness.PRIVATE)
    person = make_person(db_session, cipher)  # links the two entities
    make_role(db_session, registry, person, since=dt.date(2020, 1, 1))
    make_role(db_session, provisional, person, since=dt.date(2020, 1, 1))
    tokens = {"tax": make_token(db_session, tax_user), "market": make_token(db_session, market_user)}
    db_session.commit()
    return Scene(tax, market, tax_user, tokens, registry.uscc, provisional.uscc, provisional.name)


def _what_is_seen(client: FlaskClient, scene: Scene, token: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"}
    profile = client.get(f"/api/v1/entities/{scene.registry_uscc}", headers=headers).get_json()
    provisional = client.get(f"/api/v1/entities/{scene.provisional_uscc}", headers=headers)
    search = client.get("/api/v1/entities?q=缓存测试", headers=headers).get_json()
    return {
        "openness": sorted(r["openness"] for rows in profile["records_by_agency"].values() for r in rows),
        "linked": [link["uscc"] for link in profile["linked_entities"]],
        "provisional": provisional.status_code,
        "search": sorted(e["uscc"] for e in search["results"]),
    }


def test_another_agency_gets_its_own_view_after_the_first_one_built_the_statements(
    client: FlaskClient, scene: Scene
) -> None:
    tax_view = {
        "openness": ["private", "shared"],
        "linked": [scene.provisional_uscc],
        "provisional": 200,
        "search": sorted([scene.registry_uscc, scene.provisional_uscc]),
    }
    market_view = {"openness": ["shared"], "linked": [], "provisional": 404, "search": [scene.registry_uscc]}
    assert _what_is_seen(client, scene, scene.tokens["tax"]) == tax_view
    assert _what_is_seen(client, scene, scene.tokens["market"]) == market_view
    assert _what_is_seen(client, scene, scene.tokens["tax"]) == tax_view  # and the other way round


def test_a_user_moved_to_another_agency_sees_with_the_new_agencys_rights_at_once(
    client: FlaskClient, db_session: Session, scene: Scene
) -> None:
    assert _what_is_seen(client, scene, scene.tokens["tax"])["provisional"] == 200
    scene.tax_user.agency_id = scene.market.id
    db_session.commit()
    seen = _what_is_seen(client, scene, scene.tokens["tax"])
    assert seen == {"openness": ["shared"], "linked": [], "provisional": 404, "search": [scene.registry_uscc]}


def test_a_statement_is_shared_only_between_equal_actors() -> None:
    tax = Actor(name="a", user_id=1, agency_id=1, agency_code="TAX", roles=frozenset({Role.SUPERVISOR}))
    same = Actor(name="a", user_id=1, agency_id=1, agency_code="TAX", roles=frozenset({Role.SUPERVISOR}))
    moved = Actor(name="a", user_id=1, agency_id=2, agency_code="MKT", roles=frozenset({Role.SUPERVISOR}))
    assert _visible_entity_by_code(tax) is _visible_entity_by_code(same)
    assert _visible_entity_by_code(tax) is not _visible_entity_by_code(moved)
    assert _visible_entity_by_code(Actor.public()) is not _visible_entity_by_code(tax)
