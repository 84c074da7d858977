"""The form/API schema and the batch validator give the same verdict and the same messages (issue 3)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from signalhub_ingest.rules import DATE_FORMATS_EN, DATE_FORMATS_ZH, IssueCode
from signalhub_ingest.schemas import RecordInputSchema
from signalhub_ingest.validator import CleanRow, RowValidator, row_warnings

from .rows import DEPARTMENTS, EN_HEADER, TODAY, good_row, make_id_number, make_uscc

Verdict = tuple[CleanRow | None, dict[str, list[dict[str, str]]], list[str]]


def _batch_verdict(record: Mapping[str, object]) -> Verdict:
    """What a one-row upload with the English header says about the record."""
    validator = RowValidator(DEPARTMENTS, today=TODAY)
    validator.map_header(EN_HEADER)
    row, issues = validator.validate(1, ["" if record.get(key) is None else record[key] for key in EN_HEADER])
    errors: dict[str, list[dict[str, str]]] = {}
    for issue in issues:
        if not issue.is_warning:
            errors.setdefault(issue.column, []).append(
                {
                    "code": issue.code,
                    "value": issue.value,
                    "message_zh": issue.message_zh,
                    "message_en": issue.message_en,
                }
            )
    # A refused form shows its errors only; warnings matter once a row is acceptable.
    warnings = [issue.message_en for issue in issues if issue.is_warning] if row is not None else []
    return row, errors, warnings


def _form_verdict(record: Mapping[str, object]) -> Verdict:
    schema = RecordInputSchema(DEPARTMENTS, today=TODAY)
    try:
        row = schema.load(record)
    except ValidationError as exc:
        assert schema.validate(record) == exc.messages  # validate() applies the rules too
        return None, exc.messages, []  # type: ignore[return-value]
    assert isinstance(row, CleanRow)
    assert schema.validate(record) == {}
    return row, {}, [issue.message_en for issue in row_warnings(row)]


GOOD = good_row(0)
BAD_ROWS: list[dict[str, object]] = [
    {},
    {**GOOD, "uscc": GOOD["uscc"][:-1] + ("1" if GOOD["uscc"][-1] != "1" else "2")},
    {**GOOD, "occurred_on": "2026-02-30"},
    {**GOOD, "occurred_on": "2099-01-01"},
    {**GOOD, "category": ""},
    {**GOOD, "category": "类" * 65},
    {**GOOD, "kind": "处罚", "risk_level": "高"},
    {**GOOD, "kind": "风险", "risk_level": ""},
    {**GOOD, "department": "财务科", "openness": "secret"},
    {**GOOD, "uscc": "", "person_id_number": ""},
    {**GOOD, "person_id_number": "110105194912310021"},
    {**GOOD, "person_name": ""},
    {**GOOD, "source_ref": "R" * 65},
    {**GOOD, "uscc": "91350211M0000XUF46", "description": "字" * 4001},
]
GOOD_ROWS: list[dict[str, object]] = [
    GOOD,
    good_row(1),
    {**GOOD, "uscc": "91350211M0000XUF46"},  # a warning, not an error
    {**GOOD, "occurred_on": 46082},  # JSON number: an Excel serial, as a batch cell would read
    {**GOOD, "occurred_on": dt.date(2026, 3, 1)},
    {**GOOD, "person_id_number": None, "person_name": None},
    {key: value for key, value in GOOD.items() if key not in ("uscc", "entity_name")},
    {**GOOD, "kind": "PENALTY", "risk_level": None, "department": "ｊｄ０１"},
]


@pytest.mark.parametrize("record", GOOD_ROWS + BAD_ROWS)
def test_form_and_batch_agree(record: dict[str, object]) -> None:
    batch, form = _batch_verdict(record), _form_verdict(record)
    assert form == batch
    is_good = any(record is good for good in GOOD_ROWS)
    assert (form[0] is not None) == is_good


def test_the_form_returns_the_messages_of_the_batch_report() -> None:
    with pytest.raises(ValidationError) as caught:
        RecordInputSchema(DEPARTMENTS, today=TODAY).load({**GOOD, "category": "", "occurred_on": "昨天"})
    assert caught.value.messages == {
        "category": [
            {"code": "required", "value": "", "message_zh": "归集内容不能为空", "message_en": "category is required"}
        ],
        "occurred_on": [
            {
                "code": "date_format",
                "value": "昨天",
                "message_zh": f"发生日期“昨天”无法识别，请填写 {DATE_FORMATS_ZH}",
                "message_en": f"occurred_on '昨天' is not a date; use {DATE_FORMATS_EN}",
            }
        ],
    }


def test_unknown_keys_and_wrong_types_are_refused() -> None:
    schema = RecordInputSchema(DEPARTMENTS, today=TODAY)
    with pytest.raises(ValidationError) as caught:
        schema.load({**GOOD, "colour": "red"})
    assert "colour" in caught.value.messages
    with pytest.raises(ValidationError) as caught:
        schema.load({**GOOD, "category": ["a", "b"]})
    messages = caught.value.messages
    assert isinstance(messages, dict)
    assert messages["category"][0]["code"] == IssueCode.INVALID_TYPE


def test_the_schema_keeps_its_departments_and_day() -> None:
    schema = RecordInputSchema({"X1": 7}, today=dt.date(2020, 1, 1))
    assert schema.departments == {"X1": 7} and schema.today == dt.date(2020, 1, 1)
    row = schema.load({**GOOD, "department": "x1", "occurred_on": "2019-12-31"})
    assert row.department_id == 7 and row.row_number == 1


# --- generated rows ----------------------------------------------------------------------------

_values = {
    "department": st.sampled_from(["JD01", "执法一科", "jd02", "财务科", "", "  ", None]),
    "kind": st.sampled_from(["风险", "处罚", "risk", "Penalty", "风险类", "警告", "", None]),
    "risk_level": st.sampled_from(["低", "中", "高", "HIGH", "极高", "", None]),
    "openness": st.sampled_from(["暂不开放", "有条件开放", "public", "open", "", None]),
    "uscc": st.one_of(
        st.builds(lambda seed: make_uscc(random.Random(seed)), st.integers(0, 10**6)),
        st.sampled_from(["91350211M0000XUF46", "91350100M000100Y44", "123", "", None]),
        st.text(max_size=20),
    ),
    "entity_name": st.one_of(st.text(max_size=5), st.just("名" * 201), st.none()),
    "person_name": st.sampled_from(["张三", "", None, "名" * 101]),
    "person_id_number": st.one_of(
        st.builds(lambda seed: make_id_number(random.Random(seed)), st.integers(0, 10**6)),
        st.sampled_from(["110105194912310021", "110105491231002", "12", "", None]),
    ),
    "category": st.one_of(st.sampled_from(["食品安全", "", "类" * 65, None]), st.text(max_size=70)),
    "description": st.one_of(st.text(max_size=30), st.none()),
    "occurred_on": st.one_of(
        st.dates(min_value=dt.date(1940, 1, 1), max_value=dt.date(2030, 1, 1)).map(lambda day: day.isoformat()),
        st.dates(min_value=dt.date(1940, 1, 1), max_value=dt.date(2030, 1, 1)),
        st.integers(-5, 60000),
        st.sampled_from(["2026/3/1", "2026年3月1日", "2026-02-30", "明天", "", None]),
    ),
    "source_ref": st.one_of(st.text(max_size=70), st.sampled_from(["JD-1", "", None])),
}


@given(st.fixed_dictionaries({}, optional=_values))
@settings(max_examples=300, deadline=None)
def test_generated_records_get_the_same_verdict_both_ways(record: dict[str, object]) -> None:
    assert _form_verdict(record) == _batch_verdict(record)
