"""The draw pages (双随机抽查): the form, the ceremony step by step, refusals, downloads, results and the
outcome report, as a coordinator, an agency admin and a supervisor see them."""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from signalhub_platform.drawing import verify_package
from signalhub_platform.inspections import services
from signalhub_platform.inspections.directory import DrawSpec
from signalhub_platform.inspections.outcomes import entity_inspection_history, outcome_report
from signalhub_platform.models import (
    Actor,
    AuditEvent,
    Draw,
    DrawStatus,
    InspectionOutcome,
    InspectionResult,
    Role,
    User,
)
from tests.factories import make_user
from tests.integration.inspections.draw_fixtures import DICE, Directory, make_directory, spec
from tests.web.test_pages import BASE, csrf_of, signed_in


@dataclass
class Scene:
    directory: Directory
    coordinator: User
    tax_admin: User
    tax_supervisor: User


def build_scene(db_session: Session) -> Scene:
    directory = make_directory(db_session, entities=12)
    return Scene(
        directory=directory,
        coordinator=make_user(db_session, directory.samr, Role.COORDINATOR),
        tax_admin=make_user(db_session, directory.tax, Role.AGENCY_ADMIN),
        tax_supervisor=make_user(db_session, directory.tax, Role.SUPERVISOR),
    )


@pytest.fixture
def scene(db_session: Session) -> Scene:
    return build_scene(db_session)


def actor_of(user: User) -> Actor:
    return Actor.for_user(user, "127.0.0.1")


def make_draw(session: Session, scene: Scene, *, run: bool = True, publish: bool = False, **overrides: Any) -> Draw:
    """A draw created (and seeded, run, published) through the services, committed."""
    coordinator = actor_of(scene.coordinator)
    draw_spec: DrawSpec = spec(**overrides)
    draw = services.create_draw(session, draw_spec, actor=coordinator)
    if run:
        services.set_dice(session, draw.id, DICE, actor=coordinator)
        services.run_draw(session, draw.id, actor=coordinator)
    if publish:
        services.publish_draw(session, draw.id, actor=coordinator)
    session.commit()
    return draw


def page(client: FlaskClient, path: str) -> str:
    response = client.get(f"{BASE}{path}")
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def post(client: FlaskClient, path: str, form_page: str, data: dict[str, Any] | None = None, **kw: Any) -> TestResponse:
    token = csrf_of(page(client, form_page))
    return client.post(f"{BASE}{path}", data={"csrf_token": token, **(data or {})}, **kw)


def tags_since(session: Session, seq: int) -> list[str]:
    return list(session.scalars(select(AuditEvent.tag).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))


def last_seq(session: Session) -> int:
    return session.scalar(select(func.max(AuditEvent.seq))) or 0


def grouped(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


# --- the list and the form ------------------------------------------------------------------------


def test_pages_require_login(client: FlaskClient, scene: Scene) -> None:
    for path in ("/draws/", "/draws/new", "/draws/1", "/draws/outcomes", "/draws/1/export.json"):
        response = client.get(f"{BASE}{path}")
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_a_coordinator_creates_a_draw_by_form_and_sees_the_hash(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.coordinator)
    listing = page(client, "/draws/")
    assert ">双随机抽查</a>" in listing  # the navigation link
    assert "新建抽查计划" in listing
    form = page(client, "/draws/new")
    assert "参与单位" in form and 'value="SAMR:M1"' in form and 'value="TAX:T1"' in form
    before = last_seq(db_session)
    response = client.post(
        f"{BASE}/draws/",
        data={
            "csrf_token": csrf_of(form),
            "name": "2026年第四季度联合抽查",
            "agencies": ["SAMR", "TAX"],
            "items": ["SAMR:M1", "TAX:T1"],
            "strategy": "uniform",
            "targets": "5",
            "statuses": "active",
            "regions": "金融街街道",
            "per_agency": "1",
        },
    )
    assert response.status_code == 302
    draw = db_session.scalars(select(Draw).order_by(Draw.id.desc())).first()
    assert draw is not None and draw.status == DrawStatus.FROZEN
    assert response.headers["Location"].endswith(f"/draws/{draw.id}?done=created")
    assert draw.population_count == 6  # every other entity is on 金融街街道
    assert tags_since(db_session, before) == ["web:draw:create"]
    html = page(client, f"/draws/{draw.id}?done=created")
    assert "抽查计划已创建" in html
    assert f'<p class="hash" lang="en">{grouped(draw.population_sha256)}</p>' in html
    assert "第一步：锁定检查对象名录" in html and "录入骰子数字" in html
    assert "2026年第四季度联合抽查" in page(client, "/draws/")


def test_a_form_that_does_not_parse_is_shown_again_with_the_reason(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    client = signed_in(app, db_session, scene.coordinator)
    token = csrf_of(page(client, "/draws/new"))
    base = {"csrf_token": token, "name": "X", "agencies": ["SAMR"], "statuses": "active"}
    no_size = client.post(f"{BASE}/draws/", data=base)
    assert no_size.status_code == 400 and "请填写检查对象数量" in no_size.get_data(as_text=True)
    assert 'value="X"' in no_size.get_data(as_text=True)  # the form keeps what was typed
    bad_ratio = client.post(f"{BASE}/draws/", data={**base, "ratio": "5%"})
    assert bad_ratio.status_code == 400 and "抽取比例为 (0, 1] 之间的小数" in bad_ratio.get_data(as_text=True)
    foreign_item = client.post(f"{BASE}/draws/", data={**base, "targets": "3", "items": ["TAX:T1"]})
    assert foreign_item.status_code == 409 and "只能选择参与单位的抽查事项" in foreign_item.get_data(as_text=True)
    stratified = client.post(
        f"{BASE}/draws/", data={**base, "strategy": "stratified", "stratum_red": "2", "stratum_none": "0.5"}
    )
    assert stratified.status_code == 302
    draw = db_session.scalars(select(Draw).order_by(Draw.id.desc())).one()
    assert json.loads(draw.manifest)["parameters"]["strata"] == {"none": {"ratio": "0.5"}, "red": {"count": 2}}


def test_a_supervisor_reads_draws_but_cannot_create_or_run_them(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene, run=False)
    client = signed_in(app, db_session, scene.tax_supervisor)
    listing = page(client, "/draws/")
    assert "新建抽查计划" not in listing and draw.name in listing
    assert client.get(f"{BASE}/draws/new").status_code == 403
    token = csrf_of(listing)
    response = client.post(
        f"{BASE}/draws/", data={"csrf_token": token, "name": "越权", "agencies": ["TAX"], "targets": "1"}
    )
    assert response.status_code == 403
    assert db_session.scalar(select(func.count()).select_from(Draw)) == 1
    html = page(client, f"/draws/{draw.id}")
    assert grouped(draw.population_sha256) in html
    assert f"/draws/{draw.id}/dice" not in html and f"/draws/{draw.id}/run" not in html  # no manage forms
    assert client.post(f"{BASE}/draws/{draw.id}/dice", data={"csrf_token": token, "dice": DICE}).status_code == 403
    db_session.refresh(draw)
    assert draw.dice is None


def test_a_post_without_the_csrf_token_is_refused(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene, run=False)
    client = signed_in(app, db_session, scene.coordinator)
    assert client.post(f"{BASE}/draws/{draw.id}/dice", data={"dice": DICE}).status_code == 403
    db_session.refresh(draw)
    assert draw.dice is None


# --- the ceremony ---------------------------------------------------------------------------------


def test_a_19_digit_seed_is_refused_with_the_reason(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene, run=False)
    client = signed_in(app, db_session, scene.coordinator)
    response = post(client, f"/draws/{draw.id}/dice", f"/draws/{draw.id}", {"dice": "1234567890123456789"})
    assert response.status_code == 400
    assert "请只输入数字0-9，至少20位。" in response.get_data(as_text=True)
    db_session.refresh(draw)
    assert draw.dice is None and draw.status == DrawStatus.FROZEN


def test_the_ceremony_by_form_commitment_dice_reveal_run_publish(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene, run=False)
    here = f"/draws/{draw.id}"
    secret = "TaxSecret2026"
    admin = signed_in(app, db_session, scene.tax_admin)
    assert 'name="agency" value="TAX"' in page(admin, here)
    assert 'name="agency" value="SAMR"' not in page(admin, here)  # only its own agency's form
    response = post(admin, f"{here}/commitments", here, {"agency": "TAX", "commitment": "not-a-hash"})
    assert response.status_code == 400 and "64位十六进制" in response.get_data(as_text=True)
    commitment = hashlib.sha256(secret.encode()).hexdigest()
    assert post(admin, f"{here}/commitments", here, {"agency": "TAX", "commitment": commitment}).status_code == 302
    again = post(admin, f"{here}/commitments", here, {"agency": "TAX", "commitment": commitment})
    assert again.status_code == 409 and "该单位已提交过承诺值" in again.get_data(as_text=True)

    coordinator = signed_in(app, db_session, scene.coordinator)
    early_run = post(coordinator, f"{here}/run", here)
    assert early_run.status_code == 409
    assert "抽查计划当前状态下无法进行此步骤。" in early_run.get_data(as_text=True)
    assert post(coordinator, f"{here}/dice", here, {"dice": DICE}).status_code == 302
    html = page(coordinator, here)
    assert commitment in html and f'<p class="hash" lang="en">{DICE}</p>' in html
    db_session.refresh(draw)
    assert draw.status == DrawStatus.FROZEN  # waiting for TAX's reveal

    wrong = post(admin, f"{here}/reveals", here, {"agency": "TAX", "secret": "WrongSecret1"})
    assert wrong.status_code == 409 and "密钥与该单位的承诺值不一致" in wrong.get_data(as_text=True)
    assert post(admin, f"{here}/reveals", here, {"agency": "TAX", "secret": secret}).status_code == 302
    db_session.refresh(draw)
    assert draw.status == DrawStatus.SEEDED and draw.seed == f"{DICE}|TAX={secret}"

    before = last_seq(db_session)
    assert post(coordinator, f"{here}/run", here).status_code == 302
    assert tags_since(db_session, before)[-1] == "web:draw:run"
    html = page(coordinator, f"{here}?done=run")
    assert "已完成抽取" in html
    db_session.refresh(draw)
    result = json.loads(draw.result or "{}")
    assert len(result["targets"]) == 5
    for target in result["targets"]:
        assert target["uscc"] in html
        for member in target["team"]:
            assert member["inspector"] in html  # certificate number
            assert f"检查员{member['inspector']}" in html  # and name, for the teams
    assert "抽查计划当前状态下无法进行此步骤" in post(coordinator, f"{here}/run", here).get_data(as_text=True)

    assert post(coordinator, f"{here}/publish", here).status_code == 302
    db_session.refresh(draw)
    assert draw.status == DrawStatus.PUBLISHED
    assert "/public/draws/" in page(coordinator, here)


def test_extend_draws_more_targets_and_keeps_the_first(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene)
    first = json.loads(draw.result or "{}")["targets"]
    client = signed_in(app, db_session, scene.coordinator)
    here = f"/draws/{draw.id}"
    assert post(client, f"{here}/extend", here, {"more_all": "0"}).status_code == 400
    assert post(client, f"{here}/extend", here, {"more_all": "2"}).status_code == 302
    db_session.refresh(draw)
    targets = json.loads(draw.result or "{}")["targets"]
    assert len(targets) == 7 and targets[:5] == first
    assert "第 2 轮" in page(client, here)


def test_verify_shows_ok(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene)
    client = signed_in(app, db_session, scene.tax_supervisor)  # any reader may verify
    before = last_seq(db_session)
    response = post(client, f"/draws/{draw.id}/verify", f"/draws/{draw.id}")
    assert response.status_code == 200
    assert "验证通过" in response.get_data(as_text=True)
    assert "web:draw:verify" in tags_since(db_session, before)
    assert post(client, "/draws/999999/verify", f"/draws/{draw.id}").status_code == 404


def test_a_missing_draw_is_404(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.coordinator)
    assert client.get(f"{BASE}/draws/999999").status_code == 404
    assert post(client, "/draws/999999/run", "/draws/").status_code == 404
    assert client.get(f"{BASE}/draws/999999/export.json").status_code == 404


# --- downloads -----------------------------------------------------------------------------------


def test_json_and_xlsx_downloads_and_the_package_verifies(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene)
    client = signed_in(app, db_session, scene.tax_supervisor)
    html = page(client, f"/draws/{draw.id}")
    for fmt in ("json", "xlsx", "pdf"):
        assert f"/draws/{draw.id}/export.{fmt}" in html
    before = last_seq(db_session)
    package = client.get(f"{BASE}/draws/{draw.id}/export.json")
    assert package.status_code == 200 and package.mimetype == "application/json"
    assert f'filename="draw-{draw.id}.json"' in package.headers["Content-Disposition"]
    document = json.loads(package.get_data())
    assert verify_package(document) == []
    assert "检查员" not in package.get_data(as_text=True)  # certificate numbers, no names
    sheet = client.get(f"{BASE}/draws/{draw.id}/export.xlsx")
    assert sheet.status_code == 200 and sheet.get_data()[:2] == b"PK"
    workbook = load_workbook(io.BytesIO(sheet.get_data()), read_only=True)
    rows = list(workbook["抽查结果"].iter_rows(values_only=True))
    assert len(rows) == 6 and rows[1][2] == document["result"]["targets"][0]["uscc"]
    assert tags_since(db_session, before).count("web:draw:export") == 2
    script = client.get(f"{BASE}/draws/verify_draw.py")
    assert script.status_code == 200 and "def verify_package" in script.get_data(as_text=True)
    assert client.get(f"{BASE}/draws/{draw.id}/export.exe").status_code == 404


def test_a_draw_not_run_has_no_package(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene, run=False)
    client = signed_in(app, db_session, scene.coordinator)
    assert f"/draws/{draw.id}/export.json" not in page(client, f"/draws/{draw.id}")
    response = client.get(f"{BASE}/draws/{draw.id}/export.json")
    assert response.status_code == 409 and "尚未抽取" in response.get_data(as_text=True)


# --- results and the outcome report --------------------------------------------------------------


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_recording_a_result_shows_it_and_the_report_counts_a_hit(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene, publish=True)
    targets = json.loads(draw.result or "{}")["targets"]
    uscc = targets[0]["uscc"]
    here = f"/draws/{draw.id}"
    client = signed_in(app, db_session, scene.tax_supervisor)  # a participating agency's supervisor
    response = post(
        client,
        f"{here}/results",
        here,
        {
            "uscc": uscc,
            "outcome": "problems_found",
            "notes": "台账不全",
            "attachment": (io.BytesIO(PNG), "现场照片.png", "image/png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    html = page(client, f"{here}?done=result")
    assert "已录入检查结果" in html and "<strong>发现问题</strong>" in html and "台账不全" in html
    assert "现场照片.png" in html
    stored = db_session.scalars(select(InspectionResult)).one()
    assert stored.attachment_type == "image/png" and stored.outcome == InspectionOutcome.PROBLEMS_FOUND
    second = {"uscc": targets[1]["uscc"], "outcome": "no_problem"}
    assert post(client, f"{here}/results", here, second).status_code == 302

    report = {row.stratum: row for row in outcome_report(db_session, [draw.id])}
    assert (report["all"].targets, report["all"].results, report["all"].hits) == (5, 2, 1)
    assert report["all"].hit_rate == 0.5 and report["red"].hit_rate is None
    assert report["total"].hits == 1
    outcomes_page = page(client, "/draws/outcomes")
    assert "不分层抽查" in outcomes_page and "50.0%" in outcomes_page
    assert "50.0%" in page(client, here)  # the draw's own report

    entity_page = page(client, f"/entities/{uscc}")
    assert "检查记录" in entity_page and draw.name in entity_page and "发现问题" in entity_page
    assert [entry.outcome for entry in entity_inspection_history(db_session, stored.entity_id)] == [
        InspectionOutcome.PROBLEMS_FOUND
    ]


def test_result_refusals_are_shown_not_raised(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene)
    uscc = json.loads(draw.result or "{}")["targets"][0]["uscc"]
    here = f"/draws/{draw.id}"
    client = signed_in(app, db_session, scene.coordinator)
    bad_outcome = post(client, f"{here}/results", here, {"uscc": uscc, "outcome": "fine"})
    assert bad_outcome.status_code == 400 and "请选择检查结果" in bad_outcome.get_data(as_text=True)
    not_a_picture = post(
        client,
        f"{here}/results",
        here,
        {"uscc": uscc, "outcome": "no_problem", "attachment": (io.BytesIO(b"MZ\x90\x00"), "x.png", "image/png")},
        content_type="multipart/form-data",
    )
    assert not_a_picture.status_code == 400 and "附件须为" in not_a_picture.get_data(as_text=True)
    in_the_future = {"uscc": uscc, "outcome": "no_problem", "inspected_on": "2999-01-01"}
    future = post(client, f"{here}/results", here, in_the_future)
    assert future.status_code == 409 and "检查日期须在" in future.get_data(as_text=True)
    stranger = post(client, f"{here}/results", here, {"uscc": "91110102000000000X", "outcome": "no_problem"})
    assert stranger.status_code == 409 and "不是本次抽查的检查对象" in stranger.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(InspectionResult)) == 0


def test_only_results_of_published_draws_are_inspection_history(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene)
    uscc = json.loads(draw.result or "{}")["targets"][0]["uscc"]
    services.record_result(db_session, draw.id, uscc, "referred_for_penalty", actor=actor_of(scene.coordinator))
    db_session.commit()
    client = signed_in(app, db_session, scene.coordinator)
    assert "暂无已公示的检查结果" in page(client, f"/entities/{uscc}")
    assert re.search(r"移送立案处罚", page(client, f"/draws/{draw.id}"))
