"""The inspector directory page (执法检查人员名录库): listing, the add-or-update form through the file
import's validation, conflicts of interest (回避), and who may post them."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub_platform.models import AuditEvent, Inspector, InspectorConflict, Openness, Role
from tests.factories import make_entity, make_record, make_user
from tests.integration.inspections.draw_fixtures import make_item
from tests.web.test_draws import Scene, build_scene, page, post
from tests.web.test_pages import signed_in

PAGE = "/draws/inspectors"


def _scene(db_session: Session) -> Scene:
    scene = build_scene(db_session)
    make_item(db_session, scene.directory.samr, "M2")
    return scene


def _inspectors(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Inspector)) or 0


def test_coordinator_adds_an_inspector_with_two_items(app: Flask, db_session: Session) -> None:
    scene = _scene(db_session)
    client = signed_in(app, db_session, scene.coordinator)
    assert "执法检查人员名录库" in page(client, "/draws/")
    form = page(client, PAGE)
    assert 'value="M1"' in form and 'value="M2"' in form and 'value="T1"' not in form
    response = post(
        client, PAGE, PAGE, {"name": "王五", "certificate_no": "SAMR-777", "items": ["M1", "M2"], "active": "true"}
    )
    assert response.status_code == 302
    html = page(client, PAGE)
    assert "检查人员已保存" in page(client, f"{PAGE}?done=saved")
    assert "王五" in html and "SAMR-777" in html and "M1, M2" in html
    inspector = db_session.scalars(select(Inspector).where(Inspector.certificate_no == "SAMR-777")).one()
    assert inspector.agency_id == scene.directory.samr.id and inspector.is_active
    assert db_session.scalars(select(AuditEvent.tag).order_by(AuditEvent.seq.desc())).first() == "web:inspectors:save"


def test_row_errors_are_shown_and_nothing_is_added(app: Flask, db_session: Session) -> None:
    scene = _scene(db_session)
    client = signed_in(app, db_session, scene.coordinator)
    before = _inspectors(db_session)
    response = post(client, PAGE, PAGE, {"name": "王五", "certificate_no": "", "items": ["M1", "X9"]})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "检查人员未保存" in html and "certificate_no" in html and "unknown item codes of SAMR: X9" in html
    assert 'value="王五"' in html  # the form keeps what was typed
    assert _inspectors(db_session) == before


def test_supervisor_may_read_but_not_post(app: Flask, db_session: Session) -> None:
    scene = _scene(db_session)
    client = signed_in(app, db_session, scene.tax_supervisor)
    html = page(client, PAGE)
    assert "SAMR-001" in html and "TAX-001" in html and "新增或更新检查人员" not in html
    data = {"name": "X", "certificate_no": "TAX-555", "items": ["T1"], "active": "true"}
    assert post(client, PAGE, PAGE, data).status_code == 403
    conflict = {"certificate_no": "TAX-001", "uscc": scene.directory.entities[0].uscc, "reason": "亲属"}
    assert post(client, f"{PAGE}/conflicts", PAGE, conflict).status_code == 403
    assert _inspectors(db_session) == len(scene.directory.inspectors)


def test_declaring_a_conflict_shows_the_count(app: Flask, db_session: Session) -> None:
    scene = _scene(db_session)
    client = signed_in(app, db_session, scene.coordinator)
    entity = scene.directory.entities[0]
    data = {"certificate_no": "SAMR-001", "uscc": entity.uscc, "reason": "近亲属任该企业股东"}
    assert post(client, f"{PAGE}/conflicts", PAGE, data).status_code == 302
    conflict = db_session.scalars(select(InspectorConflict)).one()
    assert conflict.inspector_id == scene.directory.inspectors["SAMR-001"].id and conflict.entity_id == entity.id
    html = page(client, PAGE)
    row = html[html.index("SAMR-001") :].split("</tr>")[0]
    assert "<td>1</td>" in row
    unknown = post(client, f"{PAGE}/conflicts", PAGE, {**data, "uscc": "91110000000000000X"})
    assert unknown.status_code == 409 and "没有使用此统一社会信用代码的主体" in unknown.get_data(as_text=True)


def test_a_conflict_does_not_reveal_an_entity_known_only_from_another_agencys_private_record(
    app: Flask, db_session: Session
) -> None:
    scene = _scene(db_session)
    hidden = make_entity(db_session, name="暗访对象有限公司", is_in_registry=False)
    make_record(db_session, scene.directory.tax, entity=hidden, openness=Openness.PRIVATE)
    client = signed_in(app, db_session, scene.coordinator)
    data = {"certificate_no": "SAMR-001", "uscc": hidden.uscc, "reason": "亲属"}
    response = post(client, f"{PAGE}/conflicts", PAGE, data)
    assert response.status_code == 409 and "没有使用此统一社会信用代码的主体" in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(InspectorConflict)) == 0


def test_another_agencys_coordinator_cannot_edit(app: Flask, db_session: Session) -> None:
    scene = _scene(db_session)
    tax_coordinator = make_user(db_session, scene.directory.tax, Role.COORDINATOR)
    client = signed_in(app, db_session, tax_coordinator)
    data = {"name": "改名", "certificate_no": "SAMR-001", "items": ["T1"], "active": "true"}
    assert post(client, PAGE, PAGE, data).status_code == 403
    conflict = {"certificate_no": "SAMR-001", "uscc": scene.directory.entities[0].uscc, "reason": "亲属"}
    assert post(client, f"{PAGE}/conflicts", PAGE, conflict).status_code == 403
    inspector = db_session.scalars(select(Inspector).where(Inspector.certificate_no == "SAMR-001")).one()
    db_session.refresh(inspector)
    assert inspector.agency_id == scene.directory.samr.id and inspector.name == "检查员SAMR-001"
    assert db_session.scalar(select(func.count()).select_from(InspectorConflict)) == 0


def test_admin_nav_links_to_jobs_for_platform_admins_only(app: Flask, db_session: Session) -> None:
    scene = _scene(db_session)
    admin = make_user(db_session, None, Role.PLATFORM_ADMIN)
    assert "/admin/jobs" in page(signed_in(app, db_session, admin), "/")
    assert "/admin/jobs" not in page(signed_in(app, db_session, scene.coordinator), "/")
