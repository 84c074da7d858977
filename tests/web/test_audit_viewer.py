"""The audit viewer (/audit) for auditors and the platform office: each filter narrows the list, pages
by seq, the CSV export is formula-escaped, verify shows an intact chain and then a broken one after a
tampered row, with the last signed checkpoint; everyone else gets 403. "Who read my data"
(/audit/readers): agency A sees agency B's read of its shared record, B and C do not, and A's own
reads are not counted."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from signalhub_audit.integrity import create_checkpoint, key_id, public_key_bytes
from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_platform.app import create_app
from signalhub_platform.models import Actor, Agency, AuditEvent, Openness, Record, Role, User
from signalhub_platform.models.types import utcnow
from signalhub_platform.web import audit_viewer
from tests.factories import make_agency, make_entity, make_record, make_user
from tests.integration.audit.conftest import drop_append_only_triggers, tamper
from tests.web.test_draws import last_seq, tags_since
from tests.web.test_pages import BASE, csrf_of, signed_in


@dataclass
class Scene:
    tax: Agency
    mkt: Agency
    hou: Agency
    auditor: User
    office: User
    tax_liaison: User
    tax_admin: User
    mkt_admin: User
    mkt_supervisor: User
    hou_admin: User


@pytest.fixture
def scene(db_session: Session) -> Scene:
    tax, mkt, hou = (make_agency(db_session, code) for code in ("TAX", "MKT", "HOU"))
    return Scene(
        tax=tax,
        mkt=mkt,
        hou=hou,
        auditor=make_user(db_session, None, Role.AUDITOR, username="auditor1"),
        office=make_user(db_session, None, Role.PLATFORM_ADMIN, username="office1"),
        tax_liaison=make_user(db_session, tax, Role.LIAISON, username="tax_liaison"),
        tax_admin=make_user(db_session, tax, Role.AGENCY_ADMIN, username="tax_admin"),
        mkt_admin=make_user(db_session, mkt, Role.AGENCY_ADMIN, username="mkt_admin"),
        mkt_supervisor=make_user(db_session, mkt, Role.SUPERVISOR, username="mkt_supervisor"),
        hou_admin=make_user(db_session, hou, Role.AGENCY_ADMIN, username="hou_admin"),
    )


def page(client: FlaskClient, path: str, **params: object) -> str:
    response = client.get(f"{BASE}{path}", query_string=params)
    assert response.status_code == 200, (path, params, response.status_code)
    return response.get_data(as_text=True)


BOB = Actor(name="bob", agency_code="MKT", client_ip="10.0.0.2")
CAROL = Actor(name="carol", agency_code="HOU", client_ip="10.0.0.3")
DAY = dt.datetime(2026, 3, 10, 4, 0, tzinfo=dt.UTC)  # 12:00 in Beijing


def seed_events(session: Session) -> None:
    """Five events, each carrying a marker in its data, that the filters tell apart."""
    for marker, tag, actor, subjects, at in (
        ("mark-alpha", AuditTag.WEB_RECORD_READ, BOB, [("record", 101)], DAY),
        ("mark-bravo", AuditTag.WEB_ENTITY_READ, BOB, [("entity", "91110102MA01ABCD1X")], DAY + dt.timedelta(days=1)),
        ("mark-charlie", AuditTag.WEB_RECORD_READ, CAROL, [("record", 102)], DAY + dt.timedelta(days=2)),
        ("mark-delta", AuditTag.API_RECORD_READ, CAROL, [("record", 101)], DAY + dt.timedelta(days=3)),
        ("mark-echo", AuditTag.PUBLIC_DRAW_READ, Actor.public("10.0.0.9"), [("draw", 5)], DAY + dt.timedelta(days=4)),
    ):
        record_event(session, tag, actor=actor, subjects=subjects, data={"marker": marker}, at=at)
    session.commit()


MARKERS = ("mark-alpha", "mark-bravo", "mark-charlie", "mark-delta", "mark-echo")


def shown(html: str) -> list[str]:
    return [marker for marker in MARKERS if marker in html]


def test_each_filter_narrows_the_list(app: Flask, db_session: Session, scene: Scene) -> None:
    seed_events(db_session)
    client = signed_in(app, db_session, scene.auditor)
    assert shown(page(client, "/audit/")) == list(MARKERS)
    assert shown(page(client, "/audit/", actor="bob")) == ["mark-alpha", "mark-bravo"]
    assert shown(page(client, "/audit/", agency="HOU")) == ["mark-charlie", "mark-delta"]
    assert shown(page(client, "/audit/", agency="-")) == ["mark-echo"]  # the public
    assert shown(page(client, "/audit/", tag="web:record:read")) == ["mark-alpha", "mark-charlie"]
    assert shown(page(client, "/audit/", subject_kind="record", subject_ref="101")) == ["mark-alpha", "mark-delta"]
    # Days are Beijing days, both ends inclusive.
    assert shown(page(client, "/audit/", since="2026-03-11", until="2026-03-12")) == ["mark-bravo", "mark-charlie"]
    assert shown(page(client, "/audit/", actor="carol", tag="api:record:read")) == ["mark-delta"]
    html = page(client, "/audit/", tag="web:record:read")
    assert '<option value="web:record:read" selected>' in html  # the closed vocabulary, as a select
    assert '<label for="subject_kind">' in html and '<label for="since">' in html


def test_bad_filters_are_explained(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.auditor)
    for params, message in (
        ({"tag": "web:nothing:read"}, "请从列表中选择事件类型"),
        ({"subject_kind": "record"}, "请同时填写对象类型和对象标识"),
        ({"since": "2026-02-30"}, "YYYY-MM-DD"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "起始日期不能晚于截止日期"),
    ):
        response = client.get(f"{BASE}/audit/", query_string=params)
        assert response.status_code == 400 and message in response.get_data(as_text=True), params


def test_pages_by_seq_keeping_the_filters(
    app: Flask, db_session: Session, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_events(db_session)
    monkeypatch.setattr(audit_viewer, "PAGE_SIZE", 2)
    client = signed_in(app, db_session, scene.auditor)
    seen = []
    params: dict[str, object] = {"until": "2026-03-31"}  # the seeded events, not the viewer's own reads
    for expected in (["mark-delta", "mark-echo"], ["mark-bravo", "mark-charlie"], ["mark-alpha"]):
        html = page(client, "/audit/", **params)
        assert shown(html) == expected
        seen += expected
        if "更早的事件" not in html:
            break
        link = html.split(">最新事件</a>")[-1] if "最新事件" in html else html
        before = link.split("before=")[1].split("&")[0].split('"')[0]
        assert "until=2026-03-31" in link
        params = {"until": "2026-03-31", "before": before}
    assert sorted(seen) == sorted(MARKERS)
    assert "最新事件" in html and "更早的事件" not in html


def test_every_viewer_page_is_audited(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.office)  # the platform office reads the log as well
    before = last_seq(db_session)
    page(client, "/audit/", actor="bob")
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)).one()
    assert event.tag == "web:audit:read" and event.actor == "office1"
    assert json.loads(event.payload)["data"] == {"filters": {"actor": "bob"}, "shown": 0}


def test_the_export_holds_the_filtered_events_with_formula_cells_escaped(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    seed_events(db_session)
    attacker = Actor(name='=HYPERLINK("http://x","y")', agency_code="MKT", client_ip="10.0.0.4")
    record_event(db_session, AuditTag.WEB_RECORD_READ, actor=attacker, subjects=[("record", 7)], data={"n": -5})
    db_session.commit()
    client = signed_in(app, db_session, scene.auditor)
    before = last_seq(db_session)
    response = client.get(f"{BASE}/audit/export.csv", query_string={"agency": "MKT"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == list(audit_viewer.EXPORT_COLUMNS)
    actors = [row[3] for row in rows[1:]]
    assert actors == ['\'=HYPERLINK("http://x","y")', "bob", "bob"]  # newest first, MKT only
    assert all(row[0].isdigit() for row in rows[1:])  # seq stays a number
    assert rows[1][6] == "record:7" and json.loads(rows[1][7]) == {"n": -5}
    assert [json.loads(row[7])["marker"] for row in rows[2:]] == ["mark-bravo", "mark-alpha"]
    # Audited before the download, and the download stops at that event.
    assert tags_since(db_session, before) == ["web:audit:export"]
    export_event = db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)).one()
    assert json.loads(export_event.payload)["data"] == {"filters": {"agency": "MKT"}}


def test_the_export_streams_in_chunks(
    app: Flask, db_session: Session, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        record_event(db_session, AuditTag.WEB_RECORD_READ, actor=BOB, subjects=[("record", n)])
    db_session.commit()
    from signalhub_audit import queries

    original = queries.iter_events
    monkeypatch.setattr(queries, "iter_events", lambda *a, **kw: original(*a, **{**kw, "chunk_size": 2}))
    client = signed_in(app, db_session, scene.auditor)
    rows = list(csv.reader(io.StringIO(client.get(f"{BASE}/audit/export.csv?actor=bob").get_data(as_text=True))))
    assert [row[6] for row in rows[1:]] == [f"record:{n}" for n in (4, 3, 2, 1, 0)]


def test_verify_shows_an_intact_chain_then_a_broken_one_and_the_last_checkpoint(
    app: Flask, db_session: Session, scene: Scene, settings: Settings
) -> None:
    seed_events(db_session)
    signing_key = settings.load_keys().signing_key
    create_checkpoint(db_session, signing_key, actor=Actor.cli(), tag=AuditTag.CLI_AUDIT_CHECKPOINT, now=utcnow())
    db_session.commit()
    client = signed_in(app, db_session, scene.auditor)
    form = page(client, "/audit/")
    assert key_id(public_key_bytes(signing_key)) in form and "签名有效" in form  # the checkpoint, before verify
    token = csrf_of(form)
    before = last_seq(db_session)
    ok = client.post(f"{BASE}/audit/verify", data={"csrf_token": token})
    assert ok.status_code == 200
    html = ok.get_data(as_text=True)
    assert "哈希链完整" in html and "已破坏" not in html
    assert f'<th scope="row">已校验事件</th><td>{before}</td>' in html
    assert '<th scope="row">已校验检查点</th><td>1</td>' in html
    assert key_id(public_key_bytes(signing_key)) in html and "签名有效" in html
    assert tags_since(db_session, before) == ["web:audit:verify"]
    verify_event = db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)).one()
    assert json.loads(verify_event.payload)["data"]["ok"] is True

    drop_append_only_triggers(db_session)
    tamper(
        db_session,
        "UPDATE audit_events SET payload = replace(payload, :old, :new) WHERE seq = 3",
        old="mark-charlie",
        new="mark-charly",
    )
    tamper(db_session, "UPDATE audit_checkpoints SET note = replace(note, 'signalhub-audit', 'signalhub-audiT')")
    db_session.commit()
    broken = client.post(f"{BASE}/audit/verify", data={"csrf_token": token}).get_data(as_text=True)
    assert "哈希链已被破坏" in broken
    assert '<th scope="row">首个问题序号</th><td><a href="/audit/?before=4">3</a></td>' in broken
    assert "content hash mismatch at 3" in broken
    assert "无效" in broken and "no valid known signature" in broken  # the edited checkpoint note
    last = db_session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert last.tag == "web:audit:verify" and json.loads(last.payload)["data"]["first_bad"] == 3


def test_misconfigured_trusted_keys_are_explained_not_a_500(
    db_session: Session, scene: Scene, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    broken = settings.replace(trusted_checkpoint_keys="not-base64!")
    app = create_app(broken, session_factory=session_factory, test_config={"TESTING": True})
    client = signed_in(app, db_session, scene.auditor)
    assert "受信任的检查点公钥配置有误" in page(client, "/audit/")
    response = client.post(f"{BASE}/audit/verify", data={"csrf_token": csrf_of(page(client, "/audit/"))})
    assert response.status_code == 200 and "受信任的检查点公钥配置有误" in response.get_data(as_text=True)


def test_verify_needs_the_csrf_token(app: Flask, db_session: Session, scene: Scene) -> None:
    client = signed_in(app, db_session, scene.auditor)
    before = last_seq(db_session)
    assert client.post(f"{BASE}/audit/verify").status_code == 403
    assert tags_since(db_session, before) == ["web:auth:csrf_rejected"]


@pytest.mark.parametrize("who", ["tax_liaison", "tax_admin", "mkt_supervisor"])
def test_the_viewer_is_forbidden_to_agency_users(app: Flask, db_session: Session, scene: Scene, who: str) -> None:
    seed_events(db_session)
    user = getattr(scene, who)
    client = signed_in(app, db_session, user)
    token = csrf_of(page(client, "/"))
    before = last_seq(db_session)
    for response in (
        client.get(f"{BASE}/audit/"),
        client.get(f"{BASE}/audit/export.csv"),
        client.post(f"{BASE}/audit/verify", data={"csrf_token": token}),
    ):
        assert response.status_code == 403
        assert "mark-alpha" not in response.get_data(as_text=True)
    # Each refused attempt is itself in the log.
    assert tags_since(db_session, before) == ["web:audit:read", "web:audit:export", "web:audit:verify"]


def test_the_viewer_asks_for_a_login(client: FlaskClient) -> None:
    response = client.get(f"{BASE}/audit/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- who read my data -----------------------------------------------------------------------------


@dataclass
class Reads:
    tax_record: Record
    hou_record: Record


@pytest.fixture
def reads(app: Flask, db_session: Session, scene: Scene) -> Reads:
    """MKT reads a shared TAX record and a shared HOU record; TAX reads its own record."""
    entity = make_entity(db_session)
    tax_record = make_record(db_session, scene.tax, entity=entity, openness=Openness.SHARED)
    hou_record = make_record(db_session, scene.hou, entity=entity, openness=Openness.SHARED)
    db_session.commit()
    reader = signed_in(app, db_session, scene.mkt_supervisor)
    assert reader.get(f"{BASE}/records/{tax_record.id}").status_code == 200
    assert reader.get(f"{BASE}/records/{hou_record.id}").status_code == 200
    owner = signed_in(app, db_session, scene.tax_liaison)
    assert owner.get(f"{BASE}/records/{tax_record.id}").status_code == 200
    return Reads(tax_record, hou_record)


def readers_table(html: str) -> str:
    return html.split("<h2>查阅单位</h2>")[1].split("<h2>最近查阅记录</h2>")[0]


def test_the_owner_sees_which_other_agency_read_its_record(
    app: Flask, db_session: Session, scene: Scene, reads: Reads
) -> None:
    html = page(signed_in(app, db_session, scene.tax_admin), "/audit/readers")
    table = readers_table(html)
    assert "Agency MKT" in table and "Agency TAX" not in table  # its own read is not counted
    assert '<td class="code">1</td>' in table  # one read, one record
    assert reads.tax_record.source_ref in html and f"/records/{reads.tax_record.id}" in html
    assert "信息详情页" in html  # the channel
    assert reads.hou_record.source_ref not in html and "Agency HOU" not in html
    # A liaison of the owner agency sees the same.
    liaison_html = page(signed_in(app, db_session, scene.tax_liaison), "/audit/readers")
    assert "Agency MKT" in readers_table(liaison_html)


def test_other_agencies_see_only_reads_of_their_own_records(
    app: Flask, db_session: Session, scene: Scene, reads: Reads
) -> None:
    mkt_html = page(signed_in(app, db_session, scene.mkt_admin), "/audit/readers")
    assert "此期间没有其他单位查阅本单位信息" in mkt_html
    assert reads.tax_record.source_ref not in mkt_html and reads.hou_record.source_ref not in mkt_html
    hou_html = page(signed_in(app, db_session, scene.hou_admin), "/audit/readers")
    assert "Agency MKT" in readers_table(hou_html) and reads.hou_record.source_ref in hou_html
    assert reads.tax_record.source_ref not in hou_html and f"/records/{reads.tax_record.id}" not in hou_html


def test_the_readers_page_is_audited_and_only_for_agency_admins_and_liaisons(
    app: Flask, db_session: Session, scene: Scene, reads: Reads
) -> None:
    before = last_seq(db_session)
    page(signed_in(app, db_session, scene.tax_admin), "/audit/readers", record=reads.tax_record.source_ref)
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.seq > before)).one()
    assert event.tag == "web:readers:read"
    assert json.loads(event.payload)["data"]["readers"] == 1
    for user in (scene.mkt_supervisor, scene.office, scene.auditor):
        assert signed_in(app, db_session, user).get(f"{BASE}/audit/readers").status_code == 403


def test_the_readers_period_and_record_filters(app: Flask, db_session: Session, scene: Scene, reads: Reads) -> None:
    client = signed_in(app, db_session, scene.tax_admin)
    html = page(client, "/audit/readers")
    default_since = (utcnow() + dt.timedelta(hours=8)).date() - dt.timedelta(days=audit_viewer.READERS_DEFAULT_DAYS)
    assert f'value="{default_since.isoformat()}"' in html  # the last 90 days unless asked otherwise
    future = page(client, "/audit/readers", since="2099-01-01")
    assert "此期间没有其他单位查阅本单位信息" in future
    other_record = page(client, "/audit/readers", since="", record="NO-SUCH-REF")
    assert "此期间没有其他单位查阅本单位信息" in other_record
    response = client.get(f"{BASE}/audit/readers", query_string={"since": "2026-13-01"})
    assert response.status_code == 400 and "YYYY-MM-DD" in response.get_data(as_text=True)


def test_an_auditor_of_a_member_agency_may_not_read_the_districts_log(
    app: Flask, db_session: Session, scene: Scene
) -> None:
    """The log holds every agency's reads and queries: the auditor role is the platform office's."""
    seed_events(db_session)
    agency_auditor = make_user(db_session, scene.tax, Role.AUDITOR, username="tax_auditor")
    client = signed_in(app, db_session, agency_auditor)
    before = last_seq(db_session)
    for path in ("/audit/", "/audit/export.csv"):
        response = client.get(f"{BASE}{path}")
        assert response.status_code == 403, path
        assert "mark-alpha" not in response.get_data(as_text=True)
    assert tags_since(db_session, before) == ["web:audit:read", "web:audit:export"]
    # The platform office's auditor still reads it.
    assert shown(page(signed_in(app, db_session, scene.auditor), "/audit/")) == list(MARKERS)


ID_NUMBER = "11010519491231002X"  # GB 11643's example (TESTS C8)


def audited_filters(session: Session, seq: int) -> tuple[str, dict[str, str]]:
    event = session.scalars(select(AuditEvent).where(AuditEvent.seq > seq)).one()
    assert "19491231" not in event.payload, event.payload
    return event.tag, json.loads(event.payload)["data"]["filters"]


@pytest.mark.parametrize("typed", [ID_NUMBER, "110105 19491231 002X", "110105-19491231-002X"])
def test_an_id_number_typed_into_a_filter_is_audited_masked(
    app: Flask, db_session: Session, scene: Scene, typed: str
) -> None:
    """The log refuses an ID number in the clear: the viewer masks what was typed, not a 500."""
    seed_events(db_session)
    client = signed_in(app, db_session, scene.auditor)
    admin = signed_in(app, db_session, scene.tax_admin)
    masked = "110105********002X"

    before = last_seq(db_session)
    html = page(client, "/audit/", subject_kind="person", subject_ref=typed)
    assert shown(html) == []  # the log holds no such reference
    assert audited_filters(db_session, before) == ("web:audit:read", {"subject_kind": "person", "subject_ref": masked})

    before = last_seq(db_session)
    page(admin, "/audit/readers", record=typed, since="")
    tag, filters = audited_filters(db_session, before)
    assert tag == "web:readers:read" and filters == {"record": masked, "since": ""}

    before = last_seq(db_session)
    response = client.get(f"{BASE}/audit/export.csv", query_string={"actor": typed})
    assert response.status_code == 200 and response.get_data(as_text=True).count("\r\n") == 1  # the header only
    assert audited_filters(db_session, before) == ("web:audit:export", {"actor": masked})
