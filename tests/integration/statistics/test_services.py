"""Classified statistics against hand-built data (``scene.py`` works out every figure): each dimension,
the visibility of records and warnings per viewer, the filters, the limit, refusals and the audit."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import Actor, AuditEvent, RecordKind, RiskLevel, User, WarningLevel
from signalhub_platform.statistics.services import (
    Dimension,
    StatisticsForbidden,
    StatisticsInvalid,
    StatisticsQuery,
    StatisticsTable,
    classified_statistics,
)
from signalhub_warnings.services import visible_warnings_clause
from tests.factories import make_entity
from tests.integration.statistics.scene import HYPERLINK, Scene, _warning, build_scene

TAG = AuditTag.WEB_STATISTICS_READ
Row = tuple[str | None, str, str, int, int | None, int | None, int | None, int | None]


@pytest.fixture
def scene(db_session: Session, cipher: PersonalDataCipher) -> Scene:
    return build_scene(db_session, cipher)


def stats(session: Session, user: User | Actor, **filters: object) -> StatisticsTable:
    actor = user if isinstance(user, Actor) else Actor.for_user(user)
    query = StatisticsQuery(**filters)  # type: ignore[arg-type]
    return classified_statistics(session, actor, query, warning_rule=visible_warnings_clause, tag=TAG)


def rows(table: StatisticsTable) -> list[Row]:
    """(key, label, code, records, entities with warnings, red, orange, yellow) per row."""
    return [
        (r.key, r.label, r.code, r.records, r.entities_with_warnings, r.red, r.orange, r.yellow) for r in table.rows
    ]


def total(table: StatisticsTable) -> tuple[int, int | None, int | None, int | None, int | None]:
    t = table.total
    return (t.records, t.entities_with_warnings, t.red, t.orange, t.yellow)


# --- each dimension, as a member agency sees it ------------------------------------------------------


def test_by_street_counts_what_tax_may_see(db_session: Session, scene: Scene) -> None:
    table = stats(db_session, scene.tax_user)
    assert rows(table) == [
        ("德胜街道", "德胜街道", "", 2, 1, 1, 0, 0),  # r3, r5; w6
        ("金融街街道", "金融街街道", "", 2, 1, 1, 0, 1),  # r1, r2 (TAX's own private one); w1, w2
        (None, "", "", 2, 0, 1, 0, 0),  # r8 (e3 has no street), r4 (no entity); w5 on the person
    ]
    assert total(table) == (6, 2, 3, 0, 1)
    assert not table.is_truncated and not table.counts_every_agency


def test_by_industry(db_session: Session, scene: Scene) -> None:
    assert rows(stats(db_session, scene.tax_user, dimension=Dimension.INDUSTRY)) == [
        ("5231", "5231", "", 2, 1, 1, 0, 1),
        ("6110", "6110", "", 2, 1, 1, 0, 0),
        ("5232", "5232", "", 1, 0, 0, 0, 0),
        (None, "", "", 1, 0, 1, 0, 0),
    ]


def test_by_entity(db_session: Session, scene: Scene) -> None:
    table = stats(db_session, scene.tax_user, dimension=Dimension.ENTITY)
    assert rows(table) == [
        (scene.e1.uscc, scene.e1.name, scene.e1.uscc, 2, 1, 1, 0, 1),
        (scene.e2.uscc, scene.e2.name, scene.e2.uscc, 2, 1, 1, 0, 0),
        (scene.e3.uscc, scene.e3.name, scene.e3.uscc, 1, 0, 0, 0, 0),
        (None, "", "", 1, 0, 1, 0, 0),  # r4 names a person only; w5 is on that person
    ]


def test_by_person_shows_the_name_and_the_masked_number_only(db_session: Session, scene: Scene) -> None:
    table = stats(db_session, scene.tax_user, dimension=Dimension.PERSON)
    assert rows(table) == [
        (None, "", "", 5, 2, 2, 0, 1),  # records and warnings that name no person
        (str(scene.p1.id), "张三", scene.p1.id_masked, 1, 0, 1, 0, 0),
    ]
    assert "*" in scene.p1.id_masked
    assert total(table) == (6, 2, 3, 0, 1)


def test_by_category(db_session: Session, scene: Scene) -> None:
    table = stats(db_session, scene.tax_user, dimension=Dimension.CATEGORY)
    assert rows(table) == [
        ("complaint", "complaint", "", 3, None, None, None, None),  # r1, r2, r8
        (HYPERLINK, HYPERLINK, "", 1, None, None, None, None),
        ("bad_credit", "bad_credit", "", 1, None, None, None, None),
        ("licence", "licence", "", 1, None, None, None, None),
    ]
    assert not table.has_warning_groups
    assert total(table) == (6, 2, 3, 0, 1)  # warnings have no category: the total still counts them


def test_by_agency_puts_red_warnings_under_the_platform(db_session: Session, scene: Scene) -> None:
    table = stats(db_session, scene.tax_user, dimension=Dimension.AGENCY)
    # e1 has warnings in two rows (TAX's yellow, the platform's red): the total counts it once.
    assert total(table) == (6, 2, 3, 0, 1)
    assert rows(table) == [
        (scene.tax.code, scene.tax.name, scene.tax.code, 4, 1, 0, 0, 1),  # r1–r4; w2
        (scene.mkt.code, scene.mkt.name, scene.mkt.code, 2, 0, 0, 0, 0),  # r5, r8; MKT's warnings are MKT's
        (None, "", "", 0, 2, 3, 0, 0),  # w1, w5, w6 (red, the platform's)
    ]


def test_by_quarter_in_time_order_on_the_beijing_calendar(db_session: Session, scene: Scene) -> None:
    assert rows(stats(db_session, scene.tax_user, dimension=Dimension.QUARTER)) == [
        ("2025Q4", "2025Q4", "", 1, 0, 0, 0, 0),  # r8
        ("2026Q1", "2026Q1", "", 2, 1, 1, 0, 1),  # r1, r5; w1 (1 March in Beijing), w2
        ("2026Q2", "2026Q2", "", 2, 1, 1, 0, 0),  # r2, r3; w6
        ("2026Q3", "2026Q3", "", 1, 0, 1, 0, 0),  # r4; w5 (1 July in Beijing, 30 June in UTC)
    ]


# --- visibility ------------------------------------------------------------------------------------------


def test_another_agencys_private_records_are_never_counted_but_shared_ones_are(
    db_session: Session, scene: Scene
) -> None:
    as_tax = stats(db_session, scene.tax_user, dimension=Dimension.ENTITY)
    as_mkt = stats(db_session, scene.mkt_user, dimension=Dimension.ENTITY)
    tax_records = {row.key: row.records for row in as_tax.rows}
    mkt_records = {row.key: row.records for row in as_mkt.rows}
    assert scene.hidden.uscc not in tax_records  # known to TAX only through MKT's private record
    assert tax_records[scene.e1.uscc] == 2  # r1 and r2; MKT's private r6 is not there
    assert mkt_records[scene.e1.uscc] == 2  # TAX's shared r1 and MKT's own private r6; not r2
    assert mkt_records[scene.hidden.uscc] == 1
    assert as_mkt.total.records == 7  # r1, r3, r4, r5, r6, r7, r8
    assert stats(db_session, scene.tax_user, risk_level=RiskLevel.HIGH).total.records == 1  # r1, not r6/r7


def test_yellow_and_orange_of_another_agency_are_never_counted(db_session: Session, scene: Scene) -> None:
    by_agency = {row.key: row for row in stats(db_session, scene.tax_user, dimension=Dimension.AGENCY).rows}
    assert by_agency[scene.mkt.code].orange == 0 and by_agency[scene.mkt.code].yellow == 0
    mkt = stats(db_session, scene.mkt_user)
    assert total(mkt)[2:] == (3, 1, 1)  # w1, w5, w6 red; its own w3 orange and w4 yellow; not TAX's w2


def test_the_platform_office_counts_every_agency_warning_in_aggregates(db_session: Session, scene: Scene) -> None:
    table = stats(db_session, scene.office)
    assert table.counts_every_agency
    # Every orange and yellow figure here comes from fewer than 3 subjects: withheld (small cells),
    # with the warning total and the entities with warnings, which would give them away.
    assert rows(table) == [
        ("德胜街道", "德胜街道", "", 2, None, 1, None, None),  # r3, r5; w6 red; w3 orange withheld
        (None, "", "", 2, None, 1, None, None),  # r4, r8; w5 ("not recorded" last among equals)
        ("金融街街道", "金融街街道", "", 1, None, 1, None, None),  # r1 only (r2 and r6 are private); w1; w2
    ]  # 什刹海街道, with MKT's yellow w4 only, is not listed: the row alone would tell that w4 exists
    assert all(row.is_suppressed and row.warnings is None for row in table.rows)
    assert total(table) == (5, None, 3, None, None) and table.total.is_suppressed
    # The CLI and jobs, trusted like the office but seeing every warning anyway, get the figures.
    cli = stats(db_session, Actor.cli())
    assert total(cli) == (5, 3, 3, 1, 2) and not any(row.is_suppressed for row in [*cli.rows, cli.total])


def test_office_figures_from_three_subjects_or_more_are_shown(db_session: Session, scene: Scene) -> None:
    for n, level in enumerate([WarningLevel.YELLOW] * 3 + [WarningLevel.ORANGE] * 2):
        entity = make_entity(db_session, name=f"统计德胜{n}有限公司", region="德胜街道", industry="6110")
        opened = dt.datetime(2026, 5, 6 + n, 4, 0, tzinfo=dt.UTC)
        _warning(db_session, level, opened, entity=entity, scope=scene.mkt if n % 2 else scene.tax)
    table = stats(db_session, scene.office)
    by_street = {row.key: row for row in table.rows}
    # 德胜街道: orange on e2 and two more entities, yellow on three: every figure shown.
    assert rows(table)[0] == ("德胜街道", "德胜街道", "", 2, 6, 1, 3, 3)
    assert by_street["德胜街道"].warnings == 7 and not by_street["德胜街道"].is_suppressed
    assert by_street["金融街街道"].is_suppressed  # still e1's yellow alone
    assert total(table) == (5, 8, 3, 3, 5) and not table.total.is_suppressed  # orange 3 and yellow 5 subjects
    # By agency the platform's red group has nothing to withhold; TAX's yellow (e1 and two more) is withheld.
    by_agency = {row.key: row for row in stats(db_session, scene.office, dimension=Dimension.AGENCY).rows}
    assert not by_agency[None].is_suppressed and by_agency[None].red == 3
    assert (by_agency[scene.tax.code].yellow, by_agency[scene.tax.code].orange) == (3, None)
    # A member agency counts only warnings it may see one by one: nothing is withheld from it.
    tax = stats(db_session, scene.tax_user)
    assert not any(row.is_suppressed for row in [*tax.rows, tax.total])


def test_a_street_filter_cannot_single_out_an_entity_for_the_office(db_session: Session, scene: Scene) -> None:
    """The hidden entity is the only one in 什刹海街道, known to the office only by MKT's yellow w4:
    filtered to that street, the office's table looks exactly like a street with nothing at all."""
    one_entity = stats(db_session, scene.office, region="什刹海街道")
    nothing = stats(db_session, scene.office, region="无此街道")
    for table in (one_entity, nothing):
        assert rows(table) == []
        assert total(table) == (0, None, 0, None, None) and table.total.is_suppressed
    by_quarter = stats(db_session, scene.office, dimension=Dimension.QUARTER, region="什刹海街道")
    assert rows(by_quarter) == [] and total(by_quarter) == (0, None, 0, None, None)


def test_per_entity_the_platform_office_sees_red_warnings_only(db_session: Session, scene: Scene) -> None:
    table = stats(db_session, scene.office, dimension=Dimension.ENTITY)
    assert not table.counts_every_agency
    assert rows(table) == [
        (scene.e2.uscc, scene.e2.name, scene.e2.uscc, 2, 1, 1, 0, 0),
        (scene.e1.uscc, scene.e1.name, scene.e1.uscc, 1, 1, 1, 0, 0),
        (scene.e3.uscc, scene.e3.name, scene.e3.uscc, 1, 0, 0, 0, 0),
        (None, "", "", 1, 0, 1, 0, 0),
    ]
    assert total(table) == (5, 2, 3, 0, 0)


def test_auditors_and_the_public_are_refused_and_audited(db_session: Session, scene: Scene) -> None:
    with pytest.raises(StatisticsForbidden):
        stats(db_session, scene.auditor)
    with pytest.raises(StatisticsForbidden):
        stats(db_session, Actor.public())
    payloads = audit_payloads(db_session)
    assert [p["data"]["refused"] for p in payloads] == ["not_permitted", "not_permitted"]


# --- filters ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"date_from": dt.date(2026, 1, 1), "date_to": dt.date(2026, 3, 31)}, (2, 1, 1, 0, 1)),  # r1, r5; w1, w2
        ({"date_from": dt.date(2026, 3, 1), "date_to": dt.date(2026, 3, 1)}, (0, 1, 1, 0, 0)),  # w1 by Beijing day
        ({"date_from": dt.date(2026, 7, 1)}, (1, 0, 1, 0, 0)),  # r4; w5
        ({"date_to": dt.date(2025, 12, 31)}, (1, 0, 0, 0, 0)),  # r8
        ({"agency": "MKT"}, (2, 0, 0, 0, 0)),  # r5, r8; MKT's warnings are MKT's, red ones the platform's
        ({"agency": "TAX"}, (4, 1, 0, 0, 1)),  # r1–r4; w2
        ({"region": "金融街街道"}, (2, 1, 1, 0, 1)),  # r1, r2; w1, w2
        ({"industry": "523"}, (3, 1, 1, 0, 1)),  # e1 and e3 by prefix: r1, r2, r8; w1, w2
        ({"kind": RecordKind.PENALTY}, (1, 2, 3, 0, 1)),  # r3; warnings have no kind
        ({"risk_level": RiskLevel.LOW}, (2, 2, 3, 0, 1)),  # r2, r8
    ],
)
def test_filters(db_session: Session, scene: Scene, filters: dict[str, object], expected: tuple[int, ...]) -> None:
    assert total(stats(db_session, scene.tax_user, **filters)) == expected


def test_an_unknown_agency_is_refused_with_its_reason(db_session: Session, scene: Scene) -> None:
    with pytest.raises(StatisticsInvalid) as refused:
        stats(db_session, scene.tax_user, agency="NOPE")
    assert refused.value.code == "unknown_agency"


def test_the_limit_cuts_the_rows_not_the_total(db_session: Session, scene: Scene) -> None:
    table = stats(db_session, scene.tax_user, limit=1)
    assert [row.key for row in table.rows] == ["德胜街道"]
    assert table.is_truncated
    assert total(table) == (6, 2, 3, 0, 1)


def test_every_read_is_audited_with_dimension_and_filters(db_session: Session, scene: Scene) -> None:
    stats(db_session, scene.tax_user, dimension=Dimension.QUARTER, region="金融街街道", date_from=dt.date(2026, 1, 1))
    [payload] = audit_payloads(db_session)
    assert payload["tag"] == TAG.value
    assert payload["actor"] == scene.tax_user.username
    assert payload["data"]["dimension"] == "quarter"
    assert payload["data"]["filters"] == {"date_from": "2026-01-01", "region": "金融街街道"}
    assert payload["data"]["rows"] == 2


def audit_payloads(session: Session) -> list[dict]:
    events = session.scalars(select(AuditEvent).where(AuditEvent.tag == TAG.value).order_by(AuditEvent.seq))
    return [json.loads(event.payload) for event in events]


@pytest.mark.parametrize("typed", ["11010519491231002X", "110105 19491231 002X", "110105-19491231-002X"])
def test_an_id_number_typed_into_a_filter_is_audited_masked(db_session: Session, scene: Scene, typed: str) -> None:
    """However it is typed, an ID number in a filter reaches the audit log masked (TESTS K7)."""
    stats(db_session, scene.tax_user, region=typed)
    [event] = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == TAG.value))
    assert "19491231" not in event.payload
    assert json.loads(event.payload)["data"]["filters"] == {"region": "110105********002X"}
