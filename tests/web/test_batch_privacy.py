"""What a batch's file holds stays with the agency and the uploader (security review of the ingest change).

The error workbook and the values quoted in a batch's issues are the agency's own cells, private
rows and ID numbers included. The platform office follows every batch, but only the office user
who uploaded one on the agency's behalf may read its file; to the rest of the office a workbook
request is a 404 like a missing batch, audited, and the issues come without their values.
A file without its header row must fail validation with masked messages instead of being left
stuck by the audit guard.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_ingest import services
from signalhub_ingest.jobs import queue_handlers
from signalhub_ingest.rules import COLUMNS
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import Actor, AuditEvent, Batch, BatchState, Role
from signalhub_platform.worker import run_until_empty
from tests.factories import make_agency, make_id_number, make_token, make_uscc, make_user
from tests.web.test_pages import BASE, csrf_of, signed_in

HEADER = [column.label_zh for column in COLUMNS]
SECRET_DEPARTMENT = "稽查三科"  # not a department of the agency: quoted by the "unknown department" message
ID_NUMBER = make_id_number(serial=417)
WRONG_ID = ID_NUMBER[:17] + ("1" if ID_NUMBER[17] != "1" else "2")  # check digit wrong: an error, masked
PLAIN_ID = re.compile(r"[0-9]{17}[0-9Xx]")


def _row(n: int, **changes: str) -> list[str]:
    values = {
        "department": "D1",
        "kind": "风险",
        "risk_level": "高",
        "openness": "暂不开放",
        "uscc": make_uscc(20_000 + n),
        "entity_name": f"北京私密{n}有限公司",
        "person_name": "",
        "person_id_number": "",
        "category": "食品安全",
        "description": f"内部线索 {n}",
        "occurred_on": "2026-03-01",
        "source_ref": f"PR-{n:05d}",
    }
    values.update(changes)
    return [values[column.key] for column in COLUMNS]


def _csv(rows: list[list[str]], *, header: bool = True) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _file_with_private_errors() -> bytes:
    return _csv(
        [
            _row(1),
            _row(2, department=SECRET_DEPARTMENT),
            _row(3, person_name="王五", person_id_number=WRONG_ID),
            _row(4, person_name="赵六", person_id_number=ID_NUMBER),
        ]
    )


@pytest.fixture
def scene(db_session: Session) -> dict[str, Any]:
    tax, mkt = make_agency(db_session, "TAX"), make_agency(db_session, "MKT")
    return {
        "tax": tax,
        "tax_liaison": make_user(db_session, tax, Role.LIAISON),
        "mkt_liaison": make_user(db_session, mkt, Role.LIAISON),
        "office": make_user(db_session, None, Role.PLATFORM_ADMIN),  # uploads on TAX's behalf
        "other_office": make_user(db_session, None, Role.PLATFORM_ADMIN),  # follows batches, uploaded none
    }


@pytest.fixture
def run_jobs(session_factory: sessionmaker[Session], cipher: PersonalDataCipher, settings: Settings) -> Any:
    handlers = queue_handlers(cipher=cipher, instance_dir=settings.instance_dir)
    return lambda: run_until_empty(session_factory, handlers)


def _upload(client: FlaskClient, data: bytes, **fields: str) -> int:
    token = csrf_of(client.get(f"{BASE}/batches/new").get_data(as_text=True))
    form = {"csrf_token": token, "period": "2026Q1", "file": (io.BytesIO(data), "q1.csv"), **fields}
    response = client.post(f"{BASE}/batches/new", data=form, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.search(r"/batches/(\d+)", response.headers["Location"])
    assert match
    return int(match.group(1))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _events(session: Session, tag: str) -> list[dict[str, Any]]:
    payloads = session.scalars(select(AuditEvent.payload).where(AuditEvent.tag == tag).order_by(AuditEvent.seq))
    return [json.loads(payload) for payload in payloads]


def _workbook_text(data: bytes) -> str:
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return "\n".join(str(cell) for row in sheet.iter_rows(values_only=True) for cell in row if cell is not None)


def _assert_no_values(body: dict[str, Any]) -> None:
    for issue in [*(body["errors"] or []), *(body["warnings"] or [])]:
        assert "value" not in issue
    text = json.dumps(body, ensure_ascii=False)
    assert SECRET_DEPARTMENT not in text and "110102" not in text and not PLAIN_ID.search(text)


def test_only_the_agency_and_the_uploader_read_the_file_of_a_batch(
    app: Flask, client: FlaskClient, db_session: Session, scene: dict[str, Any], run_jobs: Any
) -> None:
    office = signed_in(app, db_session, scene["office"])
    batch_id = _upload(office, _file_with_private_errors(), agency="TAX")
    run_jobs()
    assert db_session.get(Batch, batch_id).state == BatchState.INVALID  # type: ignore[union-attr]

    # The uploader and the agency get the workbook: the agency's own cells, to correct them.
    for user in ("office", "tax_liaison"):
        web = signed_in(app, db_session, scene[user])
        response = web.get(f"{BASE}/batches/{batch_id}/errors.xlsx")
        assert response.status_code == 200, user
        assert ID_NUMBER in _workbook_text(response.data) or WRONG_ID in _workbook_text(response.data)
        page = web.get(f"{BASE}/batches/{batch_id}").get_data(as_text=True)
        assert SECRET_DEPARTMENT in page and "errors.xlsx" in page
        body = client.get(f"{BASE}/api/v1/batches/{batch_id}", headers=_bearer(make_token(db_session, scene[user])))
        assert any(issue.get("value") == SECRET_DEPARTMENT for issue in body.get_json()["errors"])

    # The rest of the platform office: counts and messages, no values, no workbook.
    other = signed_in(app, db_session, scene["other_office"])
    page = other.get(f"{BASE}/batches/{batch_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert SECRET_DEPARTMENT not in html and "errors.xlsx" not in html
    assert "不是本单位的部门" in html and "“…”" in html  # the message, its quotation withheld
    assert "仅向该成员单位和上传人显示" in html
    missing = other.get(f"{BASE}/batches/999999/errors.xlsx")
    refused = other.get(f"{BASE}/batches/{batch_id}/errors.xlsx")
    assert refused.status_code == missing.status_code == 404
    assert refused.get_data(as_text=True).replace(f"/batches/{batch_id}/", "/batches/N/") == missing.get_data(
        as_text=True
    ).replace("/batches/999999/", "/batches/N/")

    token = make_token(db_session, scene["other_office"])
    body = client.get(f"{BASE}/api/v1/batches/{batch_id}", headers=_bearer(token)).get_json()
    assert body["counts"]["errors"] == 2 and len(body["errors"]) == 2
    assert {issue["code"] for issue in body["errors"]} == {"unknown_department", "id_check"}
    _assert_no_values(body)
    api_missing = client.get(f"{BASE}/api/v1/batches/999999/errors.xlsx", headers=_bearer(token))
    api_refused = client.get(f"{BASE}/api/v1/batches/{batch_id}/errors.xlsx", headers=_bearer(token))
    assert api_refused.status_code == api_missing.status_code == 404
    assert api_refused.data == api_missing.data

    # Every attempt is audited; the refused ones as denied.
    web_reports = _events(db_session, "web:batch:error_report")
    assert [event["data"].get("is_denied", False) for event in web_reports] == [False, False, True, True]
    assert web_reports[-1]["data"]["reason"] == "values_not_shown"
    assert web_reports[-1]["actor"] == scene["other_office"].username
    api_reports = _events(db_session, "api:batch:error_report")
    assert [event["data"].get("is_denied", False) for event in api_reports] == [True, True]


def test_a_batch_uploaded_by_the_agency_is_read_by_the_agency_only(
    app: Flask, client: FlaskClient, db_session: Session, scene: dict[str, Any], run_jobs: Any
) -> None:
    batch_id = _upload(signed_in(app, db_session, scene["tax_liaison"]), _file_with_private_errors())
    run_jobs()
    office = signed_in(app, db_session, scene["office"])
    assert office.get(f"{BASE}/batches/{batch_id}/errors.xlsx").status_code == 404
    token = make_token(db_session, scene["office"])
    assert client.get(f"{BASE}/api/v1/batches/{batch_id}/errors.xlsx", headers=_bearer(token)).status_code == 404
    _assert_no_values(client.get(f"{BASE}/api/v1/batches/{batch_id}", headers=_bearer(token)).get_json())
    # another agency still sees nothing at all
    mkt = signed_in(app, db_session, scene["mkt_liaison"])
    assert mkt.get(f"{BASE}/batches/{batch_id}").status_code == 404


def test_a_commit_answer_to_the_office_carries_no_values(
    client: FlaskClient, db_session: Session, scene: dict[str, Any], run_jobs: Any
) -> None:
    upload = client.post(
        f"{BASE}/api/v1/batches",
        data={"period": "2026Q1", "file": (io.BytesIO(_file_with_private_errors()), "q1.csv")},
        headers=_bearer(make_token(db_session, scene["tax_liaison"])),
        content_type="multipart/form-data",
    )
    batch_id = upload.get_json()["id"]
    run_jobs()
    token = make_token(db_session, scene["office"])
    answer = client.post(
        f"{BASE}/api/v1/batches/{batch_id}/commit?wait=1", json={"accept_valid": True}, headers=_bearer(token)
    )
    assert answer.status_code == 200 and answer.get_json()["state"] == "committed"
    _assert_no_values(answer.get_json())


# --- a file without its header row (review item 3) -------------------------------------------------


@pytest.mark.parametrize("leading_id", [False, True], ids=["template-row", "id-first"])
def test_a_file_without_its_header_row_fails_with_masked_messages(
    leading_id: bool,
    db_session: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    cipher: PersonalDataCipher,
    client: FlaskClient,
    scene: dict[str, Any],
    tmp_path: Path,
) -> None:
    """The data row taken for the header holds an ID number: no message, report or audit event may carry it.

    With the number near the start of the row it reaches the failure text that the validation's
    audit event carries: unmasked, the audit guard refused the event and the batch stayed
    ``uploaded`` for good.
    """
    numbers = [make_id_number(serial=n) for n in (1, 2)]
    rows = [_row(n, person_name="赵六", person_id_number=number) for n, number in enumerate(numbers, start=1)]
    if leading_id:
        rows = [[number, "赵六", "食品安全"] for number in numbers]  # a list of persons pasted instead
    path = tmp_path / "no-header.csv"
    path.write_bytes(_csv(rows, header=False))
    with path.open("rb") as stream:
        outcome = services.store_upload(
            db_session, Actor.cli(), agency=scene["tax"], period="2026Q1", filename=path.name, stream=stream,
            instance_dir=settings.instance_dir, channel="cli",
        )  # fmt: skip
    db_session.commit()
    batch = services.validate_batch(
        session_factory, outcome.batch.id, cipher=cipher, instance_dir=settings.instance_dir,
        today=services.utcnow().date(), actor=Actor.cli(),
    )  # fmt: skip
    assert batch.state == BatchState.FAILED
    db_session.expire_all()
    stored = db_session.get(Batch, outcome.batch.id)
    assert stored is not None and stored.state == BatchState.FAILED
    report = json.dumps([stored.failure, stored.errors], ensure_ascii=False)
    assert numbers[0] not in report and not PLAIN_ID.search(report)
    assert "********" in report and "header_unknown" in report
    [event] = _events(db_session, "job:batch:validate")
    assert event["data"]["state"] == "failed" and not PLAIN_ID.search(json.dumps(event, ensure_ascii=False))

    # The office that did not upload it sees why it failed, without the row's cells.
    token = make_token(db_session, scene["other_office"])
    body = client.get(f"{BASE}/api/v1/batches/{outcome.batch.id}", headers=_bearer(token)).get_json()
    assert body["state"] == "failed" and body["failure"]
    _assert_no_values(body)
    assert "北京私密" not in json.dumps(body, ensure_ascii=False)  # the entity names of the private rows
