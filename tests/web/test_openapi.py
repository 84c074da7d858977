"""The OpenAPI document: valid, complete (every ``/api/v1`` rule, with its methods), and true.

"True" is TESTS.md W17 done deterministically: every documented operation is called with an
authenticated client (valid and invalid inputs, visible and missing ids) and without one; no
answer is a 5xx, every status is documented for its operation, and every JSON body conforms to
the documented schema. (Schemathesis would generate the inputs; these hand-picked ones reach
every documented status without another test dependency.)
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_ingest.jobs import queue_handlers
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import Openness, Role
from signalhub_platform.web.openapi import OPERATIONS
from signalhub_platform.worker import run_until_empty
from tests.factories import make_agency, make_entity, make_record, make_token, make_user
from tests.web.test_batches import NONSTANDARD_USCC, csv_file, record_row, valid_file
from tests.web.test_pages import BASE
from tests.web.test_statistics import exercise_statistics_api
from tests.web.test_warnings_queue import exercise_warning_api

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def openapi_path(rule: str) -> str:
    """``/api/v1/records/<int:record_id>`` → ``/api/v1/records/{record_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_the_document_is_served_without_authentication_and_is_valid(client: FlaskClient) -> None:
    response = client.get(f"{BASE}/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on an invalid document


def test_every_api_rule_is_documented_with_its_methods(app: Flask, client: FlaskClient) -> None:
    documented = client.get(f"{BASE}/api/v1/openapi.json").get_json()["paths"]
    served: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            for method in (rule.methods or set()) - IGNORED_METHODS:
                served.add((openapi_path(rule.rule), method.lower()))
    in_document = {(path, method) for path, operations in documented.items() for method in operations}
    assert served - in_document == set(), "endpoints without documentation"
    assert in_document - served == set(), "documentation of endpoints that do not exist"
    assert len(served) >= 12


# --- W17: every operation answers as documented ----------------------------------------------------


class Conformance:
    """Checks each response against the document and remembers which operations were exercised."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.exercised: set[tuple[str, str]] = set()

    def check(self, path: str, method: str, response: Any) -> None:
        operation = self.document["paths"][path][method]
        status = str(response.status_code)
        assert response.status_code < 500, f"{method.upper()} {path} answered {status}"
        assert status in operation["responses"], f"{method.upper()} {path}: {status} is not documented"
        self.exercised.add((path, method))
        content = operation["responses"][status].get("content", {})
        if response.mimetype == "application/json":
            schema = content["application/json"]["schema"]
            validator = OAS31Validator({**schema, "components": self.document["components"]})
            errors = sorted(str(error.message) for error in validator.iter_errors(response.get_json()))
            assert errors == [], f"{method.upper()} {path} {status}: {errors}"
        else:
            assert response.mimetype in content, f"{method.upper()} {path} {status}: undocumented {response.mimetype}"


@pytest.fixture
def run_jobs(session_factory: sessionmaker[Session], cipher: PersonalDataCipher, settings: Settings) -> Any:
    handlers = queue_handlers(cipher=cipher, instance_dir=settings.instance_dir)
    return lambda: run_until_empty(session_factory, handlers)


@pytest.fixture
def conformance(client: FlaskClient) -> Iterator[Conformance]:
    checker = Conformance(client.get(f"{BASE}/api/v1/openapi.json").get_json())
    yield checker
    assert checker.exercised == set(OPERATIONS), "operations the conformance test does not call"


def test_every_operation_answers_as_documented(
    client: FlaskClient, db_session: Session, conformance: Conformance, run_jobs: Any
) -> None:
    tax = make_agency(db_session, "TAX")
    token = make_token(db_session, make_user(db_session, tax, Role.LIAISON))
    entity = make_entity(db_session, name="北京文档测试有限公司")
    record = make_record(db_session, tax, entity=entity)
    other = make_record(db_session, tax, entity=entity)
    auth = {"Authorization": f"Bearer {token}"}
    check = conformance.check

    def call(method: str, path: str, url: str, **kwargs: Any) -> Any:
        response = client.open(f"{BASE}{url}", method=method.upper(), **kwargs)
        check(path, method, response)
        return response

    # Every operation but those documented as open (security: []) refuses an anonymous caller.
    for (path, method), operation in OPERATIONS.items():
        if operation.get("security") != []:
            url = path.format(uscc=entity.uscc, record_id=record.id, batch_id=1, warning_id=1)
            assert call(method, path, url, json={}).status_code == 401

    call("get", "/api/v1/openapi.json", "/api/v1/openapi.json")
    public_search = "/api/v1/public/search"
    make_record(db_session, tax, entity=entity, openness=Openness.PUBLIC)
    assert call("get", public_search, f"{public_search}?q=北京文档").get_json()["records"]
    call("get", public_search, f"{public_search}?q=北京文档", headers=auth)  # a token changes nothing
    call("get", public_search, f"{public_search}?q=北")  # too short: 400
    call("get", public_search, f"{public_search}?q=北京&page=51")  # 400
    call("get", "/api/v1/entities", "/api/v1/entities?q=北京文档", headers=auth)
    call("get", "/api/v1/entities/{uscc}", f"/api/v1/entities/{entity.uscc}", headers=auth)
    call("get", "/api/v1/entities/{uscc}", "/api/v1/entities/911101020000000000", headers=auth)

    records = "/api/v1/records"
    call("post", records, records, json=record_row(1) | {"department": "D1"}, headers=auth)
    call("post", records, records, json={"source_ref": "X"}, headers=auth)
    call("post", records, f"{records}?confirm_nonstandard=0", json=record_row(2, uscc=NONSTANDARD_USCC), headers=auth)
    one = "/api/v1/records/{record_id}"
    call("get", one, f"{records}/{record.id}", headers=auth)
    call("get", one, f"{records}/99999999", headers=auth)
    call("get", one + "/export", f"{records}/{record.id}/export", headers=auth)
    call("get", one + "/export", f"{records}/99999999/export", headers=auth)
    call("put", one, f"{records}/{record.id}", json={"reason": "核实更正", "description": "更正后"}, headers=auth)
    call("put", one, f"{records}/{other.id}", json={"description": "无理由"}, headers=auth)
    call("delete", one, f"{records}/{other.id}", json={"reason": "重复录入"}, headers=auth)
    call("delete", one, f"{records}/99999999", json={"reason": "不存在"}, headers=auth)

    batches = "/api/v1/batches"

    def upload(data: bytes, name: str = "q.csv") -> Any:
        form = {"period": "2026Q1", "file": (io.BytesIO(data), name)}
        return call("post", batches, batches, data=form, headers=auth, content_type="multipart/form-data")

    batch_id = upload(valid_file(2, start=300)).get_json()["id"]
    upload(valid_file(2, start=300))  # identical bytes: 200
    upload(b"MZ\x90\x00" + b"\x00" * 64, "q.xlsx")  # 400
    call("post", batches, batches, data={"period": "2026Q1"}, headers=auth)  # no file: 400
    invalid_id = upload(csv_file([record_row(400, category="")])).get_json()["id"]
    run_jobs()

    batch = "/api/v1/batches/{batch_id}"
    call("get", batch, f"{batches}/{batch_id}", headers=auth)
    call("get", batch, f"{batches}/99999999", headers=auth)
    call("get", batch + "/errors.xlsx", f"{batches}/{invalid_id}/errors.xlsx", headers=auth)
    call("get", batch + "/errors.xlsx", f"{batches}/99999999/errors.xlsx", headers=auth)
    commit = batch + "/commit"
    call("post", commit, f"{batches}/{invalid_id}/commit", json={}, headers=auth)  # 409: needs a decision
    call("post", commit, f"{batches}/{invalid_id}/commit", json={"accept_valid": 3}, headers=auth)  # 400
    call("post", commit, f"{batches}/{batch_id}/commit", json={}, headers=auth)  # 202
    call("post", commit, f"{batches}/{batch_id}/commit?wait=1", json={}, headers=auth)  # 409: queued already
    run_jobs()
    call("post", commit, f"{batches}/99999999/commit", json={}, headers=auth)  # 404
    second = upload(valid_file(1, start=350)).get_json()["id"]
    run_jobs()
    assert call("post", commit, f"{batches}/{second}/commit?wait=1", json={}, headers=auth).status_code == 200

    exercise_warning_api(db_session, call)  # the warning queue, watch lists and the inbox
    exercise_statistics_api(db_session, client.application.extensions["signalhub"].cipher, call)

    # Internal messages: sent to an agency (201), an ID number in the body (400), a missing record (404).
    messages = "/api/v1/messages"
    make_user(db_session, make_agency(db_session, "MSG"), Role.SUPERVISOR)
    note = {"recipient_agency": "MSG", "title": "请核查", "about_type": "entity", "about_ref": entity.uscc}
    assert call("post", messages, messages, json=note, headers=auth).status_code == 201
    with_id_number = {**note, "body": "身份证号11010519491231002X"}
    assert call("post", messages, messages, json=with_id_number, headers=auth).status_code == 400
    missing = {**note, "about_type": "record", "about_ref": "99999999"}
    assert call("post", messages, messages, json=missing, headers=auth).status_code == 404
