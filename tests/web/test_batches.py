"""Batch uploads through the web form and the API: upload → validation job → batch page → commit job.

TESTS.md I1, I2, I4, I5, I8, I13 (on a small scale; the million-row path is the benchmark's), W6,
W11, W12, and issue 3's points 1, 3, 4, 6, 7 and 9 on the web/API side. The queue's jobs run with
``run_until_empty`` on the test's session factory, exactly as the worker runs them.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_ingest.jobs import COMMIT_BATCH, VALIDATE_BATCH, queue_handlers
from signalhub_ingest.rules import COLUMNS
from signalhub_ingest.services import STORED_ISSUES
from signalhub_platform.app import create_app
from signalhub_platform.cli import CliContext, main
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import make_session_factory, transaction
from signalhub_platform.models import AuditEvent, Batch, BatchState, Job, JobState, Record, Role
from signalhub_platform.models.types import utcnow
from signalhub_platform.worker import WorkerThread, enqueue, run_until_empty
from tests.conftest import make_key_settings
from tests.factories import make_agency, make_token, make_uscc, make_user
from tests.web.test_pages import BASE, csrf_of, signed_in

HEADER = [column.label_zh for column in COLUMNS]
NONSTANDARD_USCC = "91350211M0000XUF46"  # a published Fujian pilot-era code: legal, not GB 32100


def record_row(n: int, **changes: str) -> dict[str, str]:
    values = {
        "department": "D1",
        "kind": "风险",
        "risk_level": "高",
        "openness": "有条件开放",
        "uscc": make_uscc(10_000 + n),
        "entity_name": f"北京测试{n}有限公司",
        "person_name": "",
        "person_id_number": "",
        "category": "食品安全",
        "description": f"抽检不合格 {n}",
        "occurred_on": "2026-03-01",
        "source_ref": f"JD-{n:05d}",
    }
    values.update(changes)
    return values


def csv_file(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row[column.key] for column in COLUMNS])
    return buffer.getvalue().encode("utf-8")


def valid_file(count: int = 3, start: int = 1) -> bytes:
    return csv_file([record_row(n) for n in range(start, start + count)])


def invalid_file() -> tuple[bytes, set[int]]:
    """Seven rows, three of them wrong (TESTS I4): bad USCC check character, bad date, missing category."""
    rows = [record_row(n) for n in range(1, 8)]
    good = rows[1]["uscc"]
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    rows[1]["uscc"] = bad_check  # spreadsheet row 3
    rows[3]["occurred_on"] = "2026-02-30"  # row 5
    rows[5]["category"] = ""  # row 7
    return csv_file(rows), {3, 5, 7}


@pytest.fixture
def scene(db_session: Session) -> dict[str, Any]:
    tax = make_agency(db_session, "TAX")
    mkt = make_agency(db_session, "MKT")
    return {
        "tax": tax,
        "mkt": mkt,
        "tax_liaison": make_user(db_session, tax, Role.LIAISON),
        "tax_supervisor": make_user(db_session, tax, Role.SUPERVISOR),
        "mkt_liaison": make_user(db_session, mkt, Role.LIAISON),
        "office": make_user(db_session, None, Role.PLATFORM_ADMIN),
    }


@pytest.fixture
def run_jobs(session_factory: sessionmaker[Session], cipher: PersonalDataCipher, settings: Settings) -> Any:
    handlers = queue_handlers(cipher=cipher, instance_dir=settings.instance_dir)
    return lambda: run_until_empty(session_factory, handlers)


def upload_form(client: FlaskClient, data: bytes, filename: str = "q1.csv", **fields: str) -> Any:
    token = csrf_of(client.get(f"{BASE}/batches/new").get_data(as_text=True))
    form = {"csrf_token": token, "period": "2026Q1", "file": (io.BytesIO(data), filename), **fields}
    return client.post(f"{BASE}/batches/new", data=form, content_type="multipart/form-data")


def batch_id_of(response: Any) -> int:
    match = re.search(r"/batches/(\d+)", response.headers["Location"])
    assert match, response.headers.get("Location")
    return int(match.group(1))


def commit_form(client: FlaskClient, batch_id: int, **fields: str) -> Any:
    token = csrf_of(client.get(f"{BASE}/batches/{batch_id}").get_data(as_text=True))
    return client.post(f"{BASE}/batches/{batch_id}/commit", data={"csrf_token": token, **fields})


def api(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_upload(client: FlaskClient, token: str, data: bytes, filename: str = "q1.csv", **fields: str) -> Any:
    form = {"period": "2026Q1", "file": (io.BytesIO(data), filename), **fields}
    return client.post(f"{BASE}/api/v1/batches", data=form, headers=api(token), content_type="multipart/form-data")


def events(session: Session, tag: str) -> list[dict[str, Any]]:
    """The audit events with ``tag``, oldest first, as their payloads ({actor, data, subjects, ...})."""
    payloads = session.scalars(select(AuditEvent.payload).where(AuditEvent.tag == tag).order_by(AuditEvent.seq))
    return [json.loads(payload) for payload in payloads]


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def live_records(session: Session, agency_id: int) -> int:
    query = select(func.count()).select_from(Record).where(Record.agency_id == agency_id, Record.is_current)
    return int(session.scalar(query) or 0)


def fresh(session: Session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id, populate_existing=True)
    assert batch is not None
    return batch


# --- the whole path through the web form ------------------------------------------------------------


def test_web_upload_validate_commit_shows_records_on_the_entity_page(
    app: Flask, db_session: Session, scene: dict, run_jobs: Any
) -> None:
    client = signed_in(app, db_session, scene["tax_liaison"])
    data = valid_file(3)
    response = upload_form(client, data)
    assert response.status_code == 302
    batch_id = batch_id_of(response)
    assert fresh(db_session, batch_id).state == BatchState.UPLOADED
    page = client.get(f"{BASE}/batches/{batch_id}").get_data(as_text=True)
    assert 'data-working="1"' in page and "js/batch-progress.js" in page and "<script>" not in page

    assert run_jobs() == 1  # the validation job
    batch = fresh(db_session, batch_id)
    assert (batch.state, batch.row_count, batch.valid_count, batch.error_count) == (BatchState.VALIDATED, 3, 3, 0)
    page = client.get(f"{BASE}/batches/{batch_id}").get_data(as_text=True)
    assert 'data-working="0"' in page
    assert f'action="/batches/{batch_id}/commit"' in page
    assert 'name="accept_valid"' not in page

    response = commit_form(client, batch_id)
    assert response.status_code == 302 and "notice=commit_queued" in response.headers["Location"]
    assert live_records(db_session, scene["tax"].id) == 0  # queued, not yet run
    assert 'data-working="1"' in client.get(f"{BASE}/batches/{batch_id}").get_data(as_text=True)
    assert run_jobs() == 1
    batch = fresh(db_session, batch_id)
    assert batch.state == BatchState.COMMITTED and batch.inserted_count == 3
    assert live_records(db_session, scene["tax"].id) == 3

    commit_event = events(db_session, "web:batch:commit")
    assert len(commit_event) == 1 and commit_event[0]["data"]["inserted"] == 3
    assert commit_event[0]["actor"] == scene["tax_liaison"].username  # the requesting user, not the worker
    assert len(events(db_session, "web:batch:upload")) == 1
    assert events(db_session, "web:batch:read")  # page views are audited

    uscc = record_row(1)["uscc"]
    entity_page = client.get(f"{BASE}/entities/{uscc}").get_data(as_text=True)
    record_id = db_session.scalar(select(Record.id).where(Record.source_ref == "JD-00001"))
    assert f"/records/{record_id}" in entity_page


def test_batch_listing_is_per_agency_and_the_office_sees_all(app: Flask, db_session: Session, scene: dict) -> None:
    upload_form(signed_in(app, db_session, scene["tax_liaison"]), valid_file(1), "tax.csv")
    upload_form(signed_in(app, db_session, scene["mkt_liaison"]), valid_file(1, start=50), "mkt.csv")
    tax_list = signed_in(app, db_session, scene["tax_liaison"]).get(f"{BASE}/batches").get_data(as_text=True)
    assert "tax.csv" in tax_list and "mkt.csv" not in tax_list
    office = signed_in(app, db_session, scene["office"])
    everything = office.get(f"{BASE}/batches").get_data(as_text=True)
    assert "tax.csv" in everything and "mkt.csv" in everything
    filtered = office.get(f"{BASE}/batches?agency=MKT").get_data(as_text=True)
    assert "mkt.csv" in filtered and "tax.csv" not in filtered
    supervisor = signed_in(app, db_session, scene["tax_supervisor"])
    assert supervisor.get(f"{BASE}/batches").status_code == 403
    assert supervisor.get(f"{BASE}/batches/new").status_code == 403


# --- the API ---------------------------------------------------------------------------------------


def test_api_upload_progress_and_commit(client: FlaskClient, db_session: Session, scene: dict, run_jobs: Any) -> None:
    token = make_token(db_session, scene["tax_liaison"])
    response = api_upload(client, token, valid_file(4))
    assert response.status_code == 202
    body = response.get_json()
    assert body["duplicate"] is False and body["state"] == "uploaded"
    assert response.headers["Location"].endswith(f"/api/v1/batches/{body['id']}")
    assert body["progress"] == {"read": 0, "validated": 0, "committed": 0, "total": None}
    batch_id = body["id"]

    run_jobs()
    status = client.get(f"{BASE}/api/v1/batches/{batch_id}", headers=api(token)).get_json()
    assert status["state"] == "validated"
    assert status["counts"]["rows"] == 4 and status["counts"]["valid"] == 4
    assert status["progress"] == {"read": 4, "validated": 4, "committed": 0, "total": 4}
    assert status["errors"] == [] and status["same_content_as"] is None

    commit = client.post(f"{BASE}/api/v1/batches/{batch_id}/commit", json={}, headers=api(token))
    assert commit.status_code == 202 and commit.get_json()["queued"] is True
    assert commit.get_json()["commit_pending"] is True
    # I8: a second commit while the first is queued is a conflict, and queues nothing.
    again = client.post(f"{BASE}/api/v1/batches/{batch_id}/commit", json={}, headers=api(token))
    assert again.status_code == 409 and again.get_json()["error"]["details"]["reason"] == "conflict"
    jobs = db_session.scalars(select(Job).where(Job.kind == COMMIT_BATCH)).all()
    assert len(jobs) == 1

    run_jobs()
    status = client.get(f"{BASE}/api/v1/batches/{batch_id}", headers=api(token)).get_json()
    assert status["state"] == "committed" and status["counts"]["inserted"] == 4
    assert status["progress"]["committed"] == 4 and status["commit_pending"] is False
    after = client.post(f"{BASE}/api/v1/batches/{batch_id}/commit", json={}, headers=api(token))
    assert after.status_code == 409
    assert live_records(db_session, scene["tax"].id) == 4
    assert len(events(db_session, "api:batch:commit")) == 1


def test_api_commit_with_wait_commits_in_the_request_once(
    client: FlaskClient, db_session: Session, scene: dict, run_jobs: Any
) -> None:
    token = make_token(db_session, scene["tax_liaison"])
    batch_id = api_upload(client, token, valid_file(2)).get_json()["id"]
    run_jobs()
    first = client.post(f"{BASE}/api/v1/batches/{batch_id}/commit?wait=1", json={}, headers=api(token))
    assert first.status_code == 200
    assert first.get_json()["state"] == "committed" and first.get_json()["queued"] is False
    second = client.post(f"{BASE}/api/v1/batches/{batch_id}/commit?wait=1", json={}, headers=api(token))
    assert second.status_code == 409 and "already committed" in second.get_json()["error"]["message"]
    assert live_records(db_session, scene["tax"].id) == 2
    assert db_session.scalar(select(func.count()).select_from(Job).where(Job.kind == COMMIT_BATCH)) == 0


def test_api_commit_rejects_bad_input(client: FlaskClient, db_session: Session, scene: dict, run_jobs: Any) -> None:
    token = make_token(db_session, scene["tax_liaison"])
    batch_id = api_upload(client, token, valid_file(1)).get_json()["id"]
    run_jobs()
    response = client.post(
        f"{BASE}/api/v1/batches/{batch_id}/commit", json={"accept_valid": "maybe"}, headers=api(token)
    )
    assert response.status_code == 400
    assert fresh(db_session, batch_id).state == BatchState.VALIDATED


# --- I2: identical bytes ----------------------------------------------------------------------------


def test_duplicate_upload_points_to_the_earlier_batch(
    app: Flask, client: FlaskClient, db_session: Session, scene: dict, run_jobs: Any
) -> None:
    web = signed_in(app, db_session, scene["tax_liaison"])
    data = valid_file(3)
    first = batch_id_of(upload_form(web, data))
    run_jobs()
    web_again = upload_form(web, data, filename="renamed.csv")
    assert web_again.status_code == 302
    assert batch_id_of(web_again) == first and "notice=duplicate" in web_again.headers["Location"]
    page = web.get(web_again.headers["Location"]).get_data(as_text=True)
    assert "这个文件以前上传过" in page  # the notice, in the default language

    token = make_token(db_session, scene["tax_liaison"])
    api_again = api_upload(client, token, data)
    assert api_again.status_code == 200
    assert api_again.get_json()["duplicate"] is True and api_again.get_json()["id"] == first
    assert count(db_session, Batch) == 1
    assert db_session.scalar(select(func.count()).select_from(Job).where(Job.kind == VALIDATE_BATCH)) == 1
    assert len(events(db_session, "web:batch:duplicate")) == 1
    assert len(events(db_session, "api:batch:duplicate")) == 1
    assert live_records(db_session, scene["tax"].id) == 0


# --- I4 / I5: errors, then "accept the valid rows" ----------------------------------------------------


def test_invalid_file_is_refused_until_the_valid_rows_are_accepted(
    app: Flask, client: FlaskClient, db_session: Session, scene: dict, run_jobs: Any
) -> None:
    web = signed_in(app, db_session, scene["tax_liaison"])
    data, bad_rows = invalid_file()
    batch_id = batch_id_of(upload_form(web, data))
    run_jobs()
    batch = fresh(db_session, batch_id)
    assert batch.state == BatchState.INVALID
    assert {issue["row"] for issue in batch.errors or []} == bad_rows
    assert (batch.row_count, batch.valid_count) == (7, 4)

    page = web.get(f"{BASE}/batches/{batch_id}").get_data(as_text=True)
    assert 'name="accept_valid"' in page
    assert "提交 4 条有效数据" in page and "3 条有错误的数据将被拒绝" in page
    assert "统一社会信用代码校验位错误" in page  # the rules' Chinese message in the errors table
    assert f"/batches/{batch_id}/errors.xlsx" in page

    token = make_token(db_session, scene["tax_liaison"])
    refused = client.post(f"{BASE}/api/v1/batches/{batch_id}/commit", json={}, headers=api(token))
    assert refused.status_code == 409
    assert refused.get_json()["error"]["details"]["reason"] == "needs_decision"
    assert "accept the valid rows" in refused.get_json()["error"]["message"]
    web_refused = commit_form(web, batch_id)
    assert web_refused.status_code == 409
    assert "文件有错误，未提交任何数据" in web_refused.get_data(as_text=True)
    assert live_records(db_session, scene["tax"].id) == 0
    assert db_session.scalar(select(func.count()).select_from(Job).where(Job.kind == COMMIT_BATCH)) == 0

    assert commit_form(web, batch_id, accept_valid="1").status_code == 302
    run_jobs()
    batch = fresh(db_session, batch_id)
    assert batch.state == BatchState.COMMITTED and batch.is_valid_only_accepted
    assert live_records(db_session, scene["tax"].id) == 4
    (event,) = events(db_session, "web:batch:commit")
    assert event["data"]["rejected_rows"] == ",".join(str(row) for row in sorted(bad_rows))
    assert event["data"]["accepted_valid_only"] is True
    assert event["actor"] == scene["tax_liaison"].username


def test_error_workbook_lists_every_error_row_not_just_the_stored_ones(
    app: Flask, client: FlaskClient, db_session: Session, scene: dict, run_jobs: Any
) -> None:
    rows = [record_row(n, category="") for n in range(1, STORED_ISSUES + 11)]
    web = signed_in(app, db_session, scene["tax_liaison"])
    batch_id = batch_id_of(upload_form(web, csv_file(rows)))
    run_jobs()
    batch = fresh(db_session, batch_id)
    assert batch.error_count == STORED_ISSUES + 10 and len(batch.errors or []) == STORED_ISSUES

    response = web.get(f"{BASE}/batches/{batch_id}/errors.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(response.data), read_only=True).worksheets[0]
    listed = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True) if row and row[0] is not None]
    assert listed == list(range(2, STORED_ISSUES + 12))  # every data row, by its spreadsheet row number
    assert len(events(db_session, "web:batch:error_report")) == 1

    token = make_token(db_session, scene["tax_liaison"])
    via_api = client.get(f"{BASE}/api/v1/batches/{batch_id}/errors.xlsx", headers=api(token))
    assert via_api.status_code == 200 and via_api.data[:2] == b"PK"
    assert len(events(db_session, "api:batch:error_report")) == 1


# --- nonstandard credit codes need a confirmation -------------------------------------------------


def test_nonstandard_credit_codes_must_be_confirmed(
    app: Flask, client: FlaskClient, db_session: Session, scene: dict, run_jobs: Any
) -> None:
    rows = [record_row(1), record_row(2, uscc=NONSTANDARD_USCC)]
    web = signed_in(app, db_session, scene["tax_liaison"])
    batch_id = batch_id_of(upload_form(web, csv_file(rows)))
    run_jobs()
    batch = fresh(db_session, batch_id)
    assert batch.state == BatchState.VALIDATED and batch.warning_count == 1
    page = web.get(f"{BASE}/batches/{batch_id}").get_data(as_text=True)
    assert 'name="confirm_nonstandard"' in page and NONSTANDARD_USCC in page

    token = make_token(db_session, scene["tax_liaison"])
    refused = client.post(f"{BASE}/api/v1/batches/{batch_id}/commit", json={}, headers=api(token))
    assert refused.status_code == 409
    assert refused.get_json()["error"]["details"]["reason"] == "needs_confirmation"
    assert commit_form(web, batch_id).status_code == 409

    assert commit_form(web, batch_id, confirm_nonstandard="1").status_code == 302
    run_jobs()
    batch = fresh(db_session, batch_id)
    assert batch.state == BatchState.COMMITTED
    assert batch.nonstandard_confirmed_by_id == scene["tax_liaison"].id
    (event,) = events(db_session, "web:batch:commit")
    assert event["data"]["confirmed_nonstandard_rows"] == [3]


# --- I13: another agency's batches -------------------------------------------------------------------


def test_another_agency_cannot_see_commit_or_upload_into_a_batch(
    app: Flask, client: FlaskClient, db_session: Session, scene: dict, run_jobs: Any, settings: Settings
) -> None:
    tax_web = signed_in(app, db_session, scene["tax_liaison"])
    batch_id = batch_id_of(upload_form(tax_web, valid_file(2)))
    run_jobs()

    mkt_web = signed_in(app, db_session, scene["mkt_liaison"])
    missing = mkt_web.get(f"{BASE}/batches/999999")
    hidden = mkt_web.get(f"{BASE}/batches/{batch_id}")
    assert hidden.status_code == missing.status_code == 404
    # Identical but for the path echoed in the language switch.
    hidden_page = hidden.get_data(as_text=True).replace(f"/batches/{batch_id}", "/batches/N")
    assert hidden_page == missing.get_data(as_text=True).replace("/batches/999999", "/batches/N")
    assert mkt_web.get(f"{BASE}/batches/{batch_id}/errors.xlsx").status_code == 404
    token = csrf_of(mkt_web.get(f"{BASE}/batches/new").get_data(as_text=True))
    assert mkt_web.post(f"{BASE}/batches/{batch_id}/commit", data={"csrf_token": token}).status_code == 404

    mkt_token = make_token(db_session, scene["mkt_liaison"])
    assert client.get(f"{BASE}/api/v1/batches/{batch_id}", headers=api(mkt_token)).status_code == 404
    commit = client.post(f"{BASE}/api/v1/batches/{batch_id}/commit?wait=1", json={}, headers=api(mkt_token))
    assert commit.status_code == 404
    assert fresh(db_session, batch_id).state == BatchState.VALIDATED

    # Uploading into agency A's period as an agency-B user: refused, nothing staged or stored.
    stored_before = sorted((settings.instance_dir / "uploads").rglob("*"))
    refused = api_upload(client, mkt_token, valid_file(2, start=500), agency="TAX")
    assert refused.status_code == 403
    assert count(db_session, Batch) == 1
    assert sorted((settings.instance_dir / "uploads").rglob("*")) == stored_before
    denied = [e for e in events(db_session, "web:batch:read") if e["data"].get("is_denied")]
    assert len(denied) == 2  # the guessed id and the missing one, both audited


def test_platform_office_uploads_on_behalf(app: Flask, db_session: Session, scene: dict, run_jobs: Any) -> None:
    office = signed_in(app, db_session, scene["office"])
    form_page = office.get(f"{BASE}/batches/new").get_data(as_text=True)
    assert 'name="agency"' in form_page
    without_agency = upload_form(office, valid_file(2))
    assert without_agency.status_code == 400
    assert count(db_session, Batch) == 0

    response = upload_form(office, valid_file(2), agency="TAX")
    batch_id = batch_id_of(response)
    batch = fresh(db_session, batch_id)
    assert batch.is_on_behalf and batch.agency_id == scene["tax"].id
    (upload,) = events(db_session, "web:batch:upload")
    assert upload["data"]["on_behalf"] is True
    run_jobs()
    assert commit_form(office, batch_id).status_code == 302
    run_jobs()
    (commit,) = events(db_session, "web:batch:commit")
    assert commit["data"]["on_behalf"] is True and commit["actor"] == scene["office"].username
    # The agency sees the batch too, marked as uploaded on its behalf.
    page = signed_in(app, db_session, scene["tax_liaison"]).get(f"{BASE}/batches/{batch_id}").get_data(as_text=True)
    assert "联席会办公室代为上传" in page


# --- W6, W11, W12: CSRF, size, file type --------------------------------------------------------------


def test_every_form_post_needs_the_csrf_token(app: Flask, db_session: Session, scene: dict, run_jobs: Any) -> None:
    web = signed_in(app, db_session, scene["tax_liaison"])
    no_token = web.post(
        f"{BASE}/batches/new",
        data={"period": "2026Q1", "file": (io.BytesIO(valid_file(1)), "q.csv")},
        content_type="multipart/form-data",
    )
    assert no_token.status_code == 403
    assert count(db_session, Batch) == 0

    batch_id = batch_id_of(upload_form(web, valid_file(1)))
    run_jobs()
    assert web.post(f"{BASE}/batches/{batch_id}/commit", data={}).status_code == 403
    assert web.post(f"{BASE}/batches/{batch_id}/commit", data={"csrf_token": "forged"}).status_code == 403
    assert db_session.scalar(select(func.count()).select_from(Job).where(Job.kind == COMMIT_BATCH)) == 0
    assert web.post(f"{BASE}/records/new", data={"source_ref": "X-1"}).status_code == 403
    foreign = web.post(
        f"{BASE}/batches/{batch_id}/commit",
        data={"csrf_token": csrf_of(web.get(f"{BASE}/batches/new").get_data(as_text=True))},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert fresh(db_session, batch_id).state == BatchState.VALIDATED
    assert len(events(db_session, "web:auth:csrf_rejected")) == 5


def test_oversize_upload_is_refused_before_parsing(
    tmp_path: Path, session_factory: sessionmaker[Session], db_session: Session, scene: dict
) -> None:
    small = create_app(
        make_key_settings(tmp_path, max_content_length=2048),
        session_factory=session_factory,
        test_config={"TESTING": True},
    )
    token = make_token(db_session, scene["tax_liaison"])
    big = valid_file(40)
    assert len(big) > 2048
    response = api_upload(small.test_client(), token, big)
    assert response.status_code == 413
    web = signed_in(small, db_session, scene["tax_liaison"])
    form_token = csrf_of(web.get(f"{BASE}/batches/new").get_data(as_text=True))
    web_response = web.post(
        f"{BASE}/batches/new",
        data={"csrf_token": form_token, "file": (io.BytesIO(big), "q.csv")},
        content_type="multipart/form-data",
    )
    assert web_response.status_code == 413
    assert count(db_session, Batch) == 0
    assert not (tmp_path / "uploads").exists()


def test_a_renamed_program_is_an_unsupported_file(
    app: Flask, client: FlaskClient, db_session: Session, scene: dict
) -> None:
    program = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200
    token = make_token(db_session, scene["tax_liaison"])
    response = api_upload(client, token, program, filename="q1.xlsx")
    assert response.status_code == 400
    body = response.get_json()["error"]
    assert body["message"] == "unsupported file"
    assert "Windows" in body["details"][0]["message_en"]
    web = signed_in(app, db_session, scene["tax_liaison"])
    page = upload_form(web, program, filename="q1.xlsx")
    assert page.status_code == 400
    assert "Windows 可执行程序" in page.get_data(as_text=True)
    assert count(db_session, Batch) == 0


def test_upload_form_needs_a_file(app: Flask, db_session: Session, scene: dict) -> None:
    web = signed_in(app, db_session, scene["tax_liaison"])
    token = csrf_of(web.get(f"{BASE}/batches/new").get_data(as_text=True))
    response = web.post(f"{BASE}/batches/new", data={"csrf_token": token, "period": "2026Q1"})
    assert response.status_code == 400
    assert "请选择要上传的 CSV 或 XLSX 文件" in response.get_data(as_text=True)


# --- templates ---------------------------------------------------------------------------------------


def test_templates_are_valid_files_with_the_chinese_headers(app: Flask, db_session: Session, scene: dict) -> None:
    web = signed_in(app, db_session, scene["tax_liaison"])
    xlsx = web.get(f"{BASE}/batches/template.xlsx")
    assert xlsx.status_code == 200 and xlsx.headers["Content-Disposition"].startswith("attachment")
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    first = workbook.worksheets[0]
    assert [cell.value for cell in first[1]] == HEADER
    guide = "\n".join(str(cell) for row in workbook.worksheets[1].iter_rows(values_only=True) for cell in row)
    assert "Department 1" in guide  # the agency's own departments are listed

    text = web.get(f"{BASE}/batches/template.csv")
    assert text.status_code == 200 and text.mimetype == "text/csv"
    assert text.data.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader(io.StringIO(text.data.decode("utf-8-sig"))))
    assert header == HEADER


def test_the_batch_page_reads_in_english_too(app: Flask, db_session: Session, scene: dict, run_jobs: Any) -> None:
    web = signed_in(app, db_session, scene["tax_liaison"])
    data, _ = invalid_file()
    batch_id = batch_id_of(upload_form(web, data))
    run_jobs()
    web.set_cookie("lang", "en", domain="localhost")
    page = web.get(f"{BASE}/batches/{batch_id}").get_data(as_text=True)
    assert "Commit only the 4 valid rows" in page
    assert "uscc check character is wrong" in page
    assert "统一社会信用代码校验位错误" not in page


def test_a_validation_job_for_another_state_leaves_the_batch_alone(
    db_session: Session, scene: dict, client: FlaskClient, run_jobs: Any
) -> None:
    """A validation job that finds its batch already validated (a retried job) fails without effect."""
    token = make_token(db_session, scene["tax_liaison"])
    batch_id = api_upload(client, token, valid_file(1)).get_json()["id"]
    run_jobs()
    enqueue(db_session, VALIDATE_BATCH, {"batch_id": batch_id})
    db_session.commit()
    run_jobs()
    job = db_session.scalars(select(Job).where(Job.kind == VALIDATE_BATCH).order_by(Job.id.desc())).first()
    assert job is not None and job.state == JobState.FAILED
    assert fresh(db_session, batch_id).state == BatchState.VALIDATED


# --- the worker: `signalhub worker` and the embedded one in `signalhub serve` ---------------------------


def test_the_worker_command_runs_the_queued_validation(
    client: FlaskClient, db_session: Session, scene: dict, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    token = make_token(db_session, scene["tax_liaison"])
    batch_id = api_upload(client, token, valid_file(2)).get_json()["id"]
    result = CliRunner().invoke(
        main, ["worker", "--until-empty"], obj=CliContext(settings=settings, factory=session_factory)
    )
    assert result.exit_code == 0, result.output
    assert "ran 1 jobs" in result.output
    assert fresh(db_session, batch_id).state == BatchState.VALIDATED


def test_serve_recovers_stuck_commits_and_starts_the_embedded_worker(
    db_session: Session,
    scene: dict,
    settings: Settings,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stuck = Batch(
        agency_id=scene["tax"].id,
        period="2026Q1",
        state=BatchState.COMMITTING,
        committing_since=utcnow(),  # just now: in embedded mode there is no grace period
        row_count=1,
        valid_count=1,
    )
    db_session.add(stuck)
    db_session.commit()
    started: list[WorkerThread] = []
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(WorkerThread, "start", lambda thread: started.append(thread))
    monkeypatch.setattr(Flask, "run", lambda _app, **kwargs: served.append(kwargs))

    result = CliRunner().invoke(
        main, ["serve", "--port", "5099"], obj=CliContext(settings=settings, factory=session_factory)
    )
    assert result.exit_code == 0, result.output
    assert f"recovered interrupted batch commits: {stuck.id}" in result.output
    assert fresh(db_session, stuck.id).state == BatchState.VALIDATED
    (worker,) = started
    assert {VALIDATE_BATCH, COMMIT_BATCH} <= set(worker.handlers)
    assert worker.stopping.is_set()  # stopped when the server returned
    assert served and served[0]["port"] == 5099


# --- I8 with real concurrency: two commits of one batch at the same moment ----------------------------


@pytest.mark.concurrency
@pytest.mark.parametrize("wait", ["1", "0"])
def test_two_simultaneous_commits_commit_once(
    scratch_database: Engine, settings: Settings, cipher: PersonalDataCipher, wait: str
) -> None:
    factory = make_session_factory(scratch_database)
    with transaction(factory) as session:
        tax = make_agency(session, "TAX")
        token = make_token(session, make_user(session, tax, Role.LIAISON))
        agency_id = tax.id
    app = create_app(settings, session_factory=factory, test_config={"TESTING": True})
    handlers = queue_handlers(cipher=cipher, instance_dir=settings.instance_dir)
    batch_id = api_upload(app.test_client(), token, valid_file(20, start=700)).get_json()["id"]
    run_until_empty(factory, handlers)

    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def commit() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(f"{BASE}/api/v1/batches/{batch_id}/commit?wait={wait}", json={}, headers=api(token))
        statuses.append(response.status_code)

    threads = [threading.Thread(target=commit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    run_until_empty(factory, handlers)

    expected = 200 if wait == "1" else 202
    assert sorted(statuses) == sorted([expected, 409])
    with transaction(factory) as session:
        assert fresh(session, batch_id).state == BatchState.COMMITTED
        assert live_records(session, agency_id) == 20
        assert len(events(session, "api:batch:commit")) == 1
