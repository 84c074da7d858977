"""The public site of the draws (一公开), with no login: only published draws, no strata, no inspectors,
no notes; the package of a uniform draw verifies; every read is audited as public:draw:read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from signalhub_platform.drawing import verify_package
from signalhub_platform.inspections import services
from signalhub_platform.inspections.directory import TargetFilters
from signalhub_platform.models import AuditEvent
from tests.web.test_draws import Scene, actor_of, build_scene, last_seq, make_draw, tags_since
from tests.web.test_pages import BASE, signed_in


@pytest.fixture
def scene(db_session: Session) -> Scene:
    return build_scene(db_session)


def public_page(client: FlaskClient, path: str) -> str:
    response = client.get(f"{BASE}{path}")
    assert response.status_code == 200, (path, response.status_code)
    assert "Cache-Control" not in response.headers or "no-store" not in response.headers["Cache-Control"]
    return response.get_data(as_text=True)


def test_a_published_draw_is_on_the_public_site_without_inspectors_or_strata(
    client: FlaskClient, db_session: Session, scene: Scene
) -> None:
    draw = make_draw(db_session, scene, publish=True)
    result = json.loads(draw.result or "{}")
    targets = result["targets"]
    services.record_result(
        db_session, draw.id, targets[0]["uscc"], "ordered_to_correct", actor=actor_of(scene.coordinator),
        notes="内部备注：负责人不配合",
    )  # fmt: skip
    db_session.commit()
    before = last_seq(db_session)
    listing = public_page(client, "/public/draws")
    assert draw.name in listing and draw.population_sha256 in listing and (draw.seed or "") in listing
    assert f"/public/draws/{draw.id}" in listing
    html = public_page(client, f"/public/draws/{draw.id}")
    for target in targets:
        assert target["uscc"] in html
    assert "责令整改" in html and "尚未检查" in html
    assert "检查员" not in html  # no inspector names
    for certificate_no in scene.directory.inspectors:
        assert certificate_no not in html  # no certificate numbers
    assert "内部备注" not in html  # no notes
    assert "预警分层" not in html  # no strata
    events = list(db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)))
    assert [e.tag for e in events] == ["public:draw:read", "public:draw:read"]
    assert all(json.loads(e.payload)["actor"] == "anonymous" for e in events)


def test_the_public_list_does_not_read_manifests_or_results(
    client: FlaskClient, db_session: Session, scene: Scene
) -> None:
    # Anyone may load the list, and a large draw's manifest runs to megabytes: only the summary
    # columns are read, and the package link is worked out on the draw's own page.
    draw = make_draw(db_session, scene, publish=True)
    statements: list[str] = []
    connection = db_session.connection()

    def listener(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", listener)
    try:
        listing = public_page(client, "/public/draws")
    finally:
        event.remove(connection, "before_cursor_execute", listener)
    assert draw.population_sha256 in listing
    draw_reads = [s for s in statements if "FROM draws" in s]
    assert draw_reads and not any("draws.manifest" in s or "draws.result," in s for s in draw_reads)


def test_unpublished_draws_are_404_on_the_public_site(client: FlaskClient, db_session: Session, scene: Scene) -> None:
    frozen = make_draw(db_session, scene, run=False, name="尚未抽取的计划")
    drawn = make_draw(db_session, scene, name="尚未公示的计划")
    listing = public_page(client, "/public/draws")
    assert "尚未抽取的计划" not in listing and "尚未公示的计划" not in listing
    before = last_seq(db_session)
    for draw in (frozen, drawn):
        assert client.get(f"{BASE}/public/draws/{draw.id}").status_code == 404
        assert client.get(f"{BASE}/public/draws/{draw.id}/package.json").status_code == 404
    assert client.get(f"{BASE}/public/draws/999999").status_code == 404
    assert tags_since(db_session, before) == ["public:draw:read"] * 5  # misses are audited too


def test_the_package_of_a_published_uniform_draw_verifies_with_the_public_script(
    client: FlaskClient, db_session: Session, scene: Scene, tmp_path: Path
) -> None:
    draw = make_draw(db_session, scene, publish=True)
    html = public_page(client, f"/public/draws/{draw.id}")
    assert f"/public/draws/{draw.id}/package.json" in html and "/public/verify_draw.py" in html
    response = client.get(f"{BASE}/public/draws/{draw.id}/package.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "检查员" not in response.get_data(as_text=True)
    package = json.loads(response.get_data())
    assert verify_package(package) == []
    script = client.get(f"{BASE}/public/verify_draw.py")
    assert script.status_code == 200
    (tmp_path / "verify_draw.py").write_bytes(script.get_data())
    (tmp_path / "draw.json").write_bytes(response.get_data())
    run = subprocess.run(
        [sys.executable, "verify_draw.py", "draw.json", "--json"], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"ok": True, "problems": []}


def test_a_stratified_draw_keeps_its_package_internal(
    app: Flask, client: FlaskClient, db_session: Session, scene: Scene
) -> None:
    stratified = {"strategy": "stratified", "targets": None, "strata": {"none": {"count": 3}}}
    draw = make_draw(db_session, scene, publish=True, **stratified)
    html = public_page(client, f"/public/draws/{draw.id}")
    assert "由参与单位代表公众进行验证" in html
    assert "无预警" not in html and ">none<" not in html  # every target is in stratum none: not shown
    assert f"/public/draws/{draw.id}/package.json" not in html
    assert client.get(f"{BASE}/public/draws/{draw.id}/package.json").status_code == 404
    agency_user = signed_in(app, db_session, scene.tax_supervisor)
    assert agency_user.get(f"{BASE}/draws/{draw.id}/export.json").status_code == 200


def test_a_uniform_draw_filtered_by_warning_level_keeps_its_package_internal(
    client: FlaskClient, db_session: Session, scene: Scene
) -> None:
    # The filter alone would tell the public that every target has a warning of that level.
    draw = make_draw(db_session, scene, publish=True, filters=TargetFilters(warning_levels=("none",)))
    assert f"/public/draws/{draw.id}/package.json" not in public_page(client, f"/public/draws/{draw.id}")
    assert client.get(f"{BASE}/public/draws/{draw.id}/package.json").status_code == 404


def test_a_signed_in_user_reads_the_public_site_as_the_public(app: Flask, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene, publish=True)
    client = signed_in(app, db_session, scene.coordinator)
    before = last_seq(db_session)
    assert client.get(f"{BASE}/public/draws/{draw.id}").status_code == 200
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)).one()
    assert event.tag == "public:draw:read" and json.loads(event.payload)["actor"] == "anonymous"


def test_the_public_pages_fit_a_phone(client: FlaskClient, db_session: Session, scene: Scene) -> None:
    draw = make_draw(db_session, scene, publish=True)
    html = public_page(client, f"/public/draws/{draw.id}")
    assert 'name="viewport"' in html and 'class="stack"' in html and 'data-label="统一社会信用代码"' in html
    with client.get(f"{BASE}/static/css/signalhub.css") as response:
        assert "table.stack td::before" in response.get_data(as_text=True)
