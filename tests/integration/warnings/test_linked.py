"""Linked entities in the database: two hops through shared responsible persons, the warning levels
each viewer may see (another agency's yellow stays hidden, red shows to every member agency), masked
persons only, one audit event; and the same on the entity page and in the entity API."""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import Actor, Agency, AuditEvent, Entity, Openness, Person, Role, User, WarningLevel
from signalhub_warnings.graph import LinkedEntities, fetch_neighbourhood, linked_entities, walk_neighbourhood
from signalhub_warnings.rules import Thresholds
from signalhub_warnings.services import evaluate_warnings
from tests.factories import (
    make_agency,
    make_entity,
    make_id_number,
    make_person,
    make_record,
    make_role,
    make_token,
    make_user,
)
from tests.web.test_pages import BASE, signed_in

AS_OF = dt.date(2026, 11, 27)
NOW = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 27)


@dataclass
class Network:
    """origin —甲— yellow_co —乙— red_co —丙— far_co (three hops); origin —丁 (former)— old_co."""

    tax: Agency
    market: Agency
    origin: Entity
    yellow_co: Entity  # one hop: TAX's yellow
    red_co: Entity  # two hops: red
    far_co: Entity  # three hops: never listed
    old_co: Entity  # one hop through a former legal representative
    persons: dict[str, Person]
    id_numbers: dict[str, str]
    tax_user: User
    market_user: User


@pytest.fixture
def network(db_session: Session, cipher: PersonalDataCipher) -> Network:
    tax, market = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    origin, yellow_co, red_co, far_co, old_co = (
        make_entity(db_session, name=name) for name in ("起点公司", "黄色公司", "红色公司", "远方公司", "旧任公司")
    )
    id_numbers = {name: make_id_number() for name in ("甲", "乙", "丙", "丁")}
    persons = {name: make_person(db_session, cipher, id_numbers[name], name=name) for name in id_numbers}
    since = dt.date(2015, 1, 1)
    make_role(db_session, origin, persons["甲"], since=since)
    make_role(db_session, yellow_co, persons["甲"], since=since)
    make_role(db_session, yellow_co, persons["乙"], since=since)
    make_role(db_session, red_co, persons["乙"], since=since)
    make_role(db_session, red_co, persons["丙"], since=since)
    make_role(db_session, far_co, persons["丙"], since=since)
    make_role(db_session, origin, persons["丁"], since=since, until=dt.date(2020, 1, 1))
    make_role(db_session, old_co, persons["丁"], since=since)
    # TAX: two departments on yellow_co (private, so red ignores them): TAX's yellow.
    for department in tax.departments[:2]:
        make_record(db_session, tax, entity=yellow_co, department=department, openness=Openness.PRIVATE)
    # Two agencies with shared records on red_co: red (and nothing at agency level).
    make_record(db_session, tax, entity=red_co, openness=Openness.SHARED)
    make_record(db_session, market, entity=red_co, openness=Openness.PUBLIC)
    evaluate_warnings(
        db_session, thresholds=Thresholds(), acknowledge_days={"red": 2, "orange": 3, "yellow": 5},
        actor=Actor.job("evaluate_warnings"), tag=AuditTag.JOB_WARNINGS_EVALUATE, as_of=AS_OF, now=NOW,
    )  # fmt: skip
    tax_user = make_user(db_session, tax, Role.SUPERVISOR)
    market_user = make_user(db_session, market, Role.SUPERVISOR)
    return Network(tax, market, origin, yellow_co, red_co, far_co, old_co, persons, id_numbers, tax_user, market_user)


def linked_as(db_session: Session, actor: Actor, entity: Entity, **kwargs: object) -> LinkedEntities:
    return linked_entities(db_session, actor, entity.id, tag=AuditTag.WEB_ENTITY_LINKED, today=TODAY, **kwargs)  # type: ignore[arg-type]


def test_two_hops_through_shared_persons(db_session: Session, network: Network) -> None:
    found = linked_as(db_session, Actor.for_user(network.market_user), network.origin)
    links = {link.uscc: link for link in found.links}
    assert set(links) == {network.yellow_co.uscc, network.red_co.uscc, network.old_co.uscc}  # not far_co
    assert links[network.yellow_co.uscc].hops == 1
    assert [p.name for p in links[network.yellow_co.uscc].persons] == ["甲"]
    red = links[network.red_co.uscc]
    assert red.hops == 2
    assert [p.name for p in red.persons] == ["甲", "乙"]
    assert [v.uscc for v in red.via] == [network.yellow_co.uscc]
    old = links[network.old_co.uscc]
    assert (old.hops, old.is_current, [p.name for p in old.persons]) == (1, False, ["丁"])
    assert [link.hops for link in found.links] == sorted(link.hops for link in found.links)
    assert not found.is_truncated


def test_another_agency_sees_red_but_not_the_yellow_of_a_linked_entity(db_session: Session, network: Network) -> None:
    as_market = {
        link.uscc: link.warning_levels
        for link in linked_as(db_session, Actor.for_user(network.market_user), network.origin).links
    }
    assert as_market[network.yellow_co.uscc] == ()
    assert as_market[network.red_co.uscc] == (WarningLevel.RED,)
    as_tax = {
        link.uscc: link.warning_levels
        for link in linked_as(db_session, Actor.for_user(network.tax_user), network.origin).links
    }
    assert as_tax[network.yellow_co.uscc] == (WarningLevel.YELLOW,)
    assert as_tax[network.red_co.uscc] == (WarningLevel.RED,)


def test_persons_appear_masked_and_the_entitys_own_warnings_follow_visibility(
    db_session: Session, network: Network
) -> None:
    found = linked_as(db_session, Actor.for_user(network.tax_user), network.yellow_co)
    persons = {p.name: p for link in found.links for p in link.persons}
    for name, person in persons.items():
        assert person.id_masked == network.persons[name].id_masked
        assert "*" in person.id_masked and person.id_masked != network.id_numbers[name]
    assert [(w.level, w.scope) for w in found.warnings] == [(WarningLevel.YELLOW, "TAX")]
    assert found.warnings[0].rules == ("yellow_departments",) and found.warnings[0].records == 2
    hidden = linked_as(db_session, Actor.for_user(network.market_user), network.yellow_co)
    assert hidden.warnings == []


def test_the_read_is_audited_once_with_what_it_showed(db_session: Session, network: Network) -> None:
    before = db_session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0
    found = linked_as(db_session, Actor.for_user(network.market_user), network.origin)
    events = list(db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)))
    assert [event.tag for event in events] == [AuditTag.WEB_ENTITY_LINKED.value]
    payload = json.loads(events[0].payload)
    assert ["entity", network.origin.uscc] in payload["subjects"]
    assert all(["entity", link.uscc] in payload["subjects"] for link in found.links)
    assert ["person", str(network.persons["乙"].id)] in payload["subjects"]
    assert payload["data"]["linked"] == 3
    assert not any(number in events[0].payload for number in network.id_numbers.values())


def test_a_large_neighbourhood_is_cut_short_and_says_so(db_session: Session, network: Network) -> None:
    found = linked_as(db_session, Actor.for_user(network.tax_user), network.origin, max_edges=3)
    assert found.is_truncated
    assert len(found.links) < 3


def test_the_public_gets_no_graph(db_session: Session, network: Network) -> None:
    found = linked_as(db_session, Actor.public(), network.origin)
    assert found.links == [] and found.warnings == []


def test_the_entity_api_lists_linked_entities_within_the_callers_rights(
    app: Flask, db_session: Session, network: Network
) -> None:
    token = make_token(db_session, network.market_user)
    db_session.commit()
    response = app.test_client().get(
        f"{BASE}/api/v1/entities/{network.origin.uscc}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    document = response.get_json()
    links = {link["uscc"]: link for link in document["linked_entities"]}
    assert links[network.yellow_co.uscc]["warning_levels"] == []
    assert links[network.red_co.uscc]["warning_levels"] == ["red"]
    assert links[network.red_co.uscc]["hops"] == 2
    assert links[network.red_co.uscc]["via"] == [{"uscc": network.yellow_co.uscc, "name": "黄色公司"}]
    # 乙 runs red_co, so the red follows 乙 too (a person's hits include their companies').
    assert links[network.red_co.uscc]["persons"][1] == {
        "name": "乙", "id_number_masked": network.persons["乙"].id_masked, "warning_levels": ["red"],
    }  # fmt: skip
    assert document["warnings"] == [] and document["linked_entities_truncated"] is False
    assert not any(number in response.get_data(as_text=True) for number in network.id_numbers.values())

    red = app.test_client().get(
        f"{BASE}/api/v1/entities/{network.red_co.uscc}", headers={"Authorization": f"Bearer {token}"}
    )
    [warning] = red.get_json()["warnings"]
    assert (warning["level"], warning["scope"], warning["record_count"]) == ("red", "platform", 2)


def test_the_entity_page_shows_linked_entities_and_warnings(app: Flask, db_session: Session, network: Network) -> None:
    html = signed_in(app, db_session, network.tax_user).get(f"{BASE}/entities/{network.yellow_co.uscc}")
    assert html.status_code == 200
    text = html.get_data(as_text=True)
    assert "关联主体" in text and "起点公司" in text and "红色公司" in text
    assert network.persons["乙"].id_masked in text
    assert 'class="badge yellow"' in text and 'class="badge red"' in text
    assert not any(number in text for number in network.id_numbers.values())
    as_market = signed_in(app, db_session, network.market_user).get(f"{BASE}/entities/{network.yellow_co.uscc}")
    assert 'class="badge yellow"' not in as_market.get_data(as_text=True)


def test_the_one_query_neighbourhood_is_the_hop_by_hop_walk(db_session: Session, cipher: PersonalDataCipher) -> None:
    """fetch_neighbourhood reads a small neighbourhood in one query and walks a large one hop by hop:
    on a random graph (repeated and former roles included) both give the same edges and the same cut."""
    rng = random.Random(7)
    entities = [make_entity(db_session) for _ in range(24)]
    persons = [make_person(db_session, cipher, make_id_number(serial=n)) for n in range(18)]
    for _ in range(40):
        until = rng.choice([None, dt.date(2020, 1, 1), dt.date(2030, 1, 1)])
        since = dt.date(2010 + rng.randrange(10), 1, 1)
        make_role(db_session, rng.choice(entities), rng.choice(persons), since=since, until=until)
    for entity in entities[:8]:
        for max_hops in (0, 1, 2, 3):
            for max_edges in (0, 3, 8, 20, 5000):
                options = {"max_hops": max_hops, "today": TODAY, "max_edges": max_edges}
                fetched = fetch_neighbourhood(db_session, entity.id, **options)  # type: ignore[arg-type]
                walked = walk_neighbourhood(db_session, entity.id, **options)  # type: ignore[arg-type]
                assert (fetched.edges, fetched.is_truncated) == (walked.edges, walked.is_truncated)
