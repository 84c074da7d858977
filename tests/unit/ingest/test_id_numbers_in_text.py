"""ID numbers never travel in plaintext through free text or header messages (TESTS K7, security review).

Free-text columns (entity and person names, category, description, the agency's reference) are
shared as typed, so an ID number in them is an error of its own, masked in the report; a file
whose first row is data rather than a header must not echo that row's ID number either.
"""

from __future__ import annotations

import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from signalhub_ingest.rules import HeaderError, IssueCode, header_problem, map_header
from signalhub_ingest.schemas import RecordCorrectionSchema, RecordInputSchema, RecordWithdrawalSchema
from signalhub_ingest.validator import RowValidator, has_id_number
from signalhub_platform.identifiers.resident_id import id_check_char

from .rows import DEPARTMENTS, EN_HEADER, TODAY, good_row

ID_18 = "11010519491231002X"  # GB 11643's example (TESTS C8)
ID_15 = "110105491231002"  # its first-generation form (TESTS C12)
FREE_TEXT = ("entity_name", "person_name", "category", "description", "source_ref")
# Any 15-18 character digit run, masked or not, that a report could leak.
PLAIN_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx]|(?<![0-9])[0-9]{15}(?![0-9])")


def _validate(**changes: str) -> tuple[object, list[dict[str, object]]]:
    validator = RowValidator(DEPARTMENTS, today=TODAY, track_duplicates=False)
    row, issues = validator.validate_mapping(1, {**good_row(1), **changes})
    return row, [issue.as_dict() for issue in issues]


def _assert_masked(payload: object) -> None:
    text = json.dumps(payload, ensure_ascii=False)
    assert ID_18 not in text and ID_18.lower() not in text and ID_15 not in text
    assert not PLAIN_ID.search(text), text


@pytest.mark.parametrize("column", FREE_TEXT)
@pytest.mark.parametrize(
    "typed",
    [
        f"身份证号{ID_18}",  # Chinese text runs straight into the number
        f"张三 {ID_18.lower()}。",
        "号码：" + ID_18.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789X"}),  # full width
        f"旧证{ID_15}",
        ID_18,
    ],
)
def test_an_id_number_in_any_free_text_column_is_an_error(column: str, typed: str) -> None:
    row, issues = _validate(**{column: typed})
    assert row is None
    [issue] = [issue for issue in issues if issue["code"] == IssueCode.ID_NUMBER_IN_TEXT]
    assert issue["column"] == column
    assert "负责人身份证号" in str(issue["message_zh"]) and "person_id_number" in str(issue["message_en"])
    assert "****" in str(issue["value"])
    _assert_masked(issues)


@pytest.mark.parametrize(
    "typed",
    [
        "11010519491231001X",  # wrong check character (TESTS C9)
        "110105194912310021",  # ditto, a digit instead of X
        "1101051949123100211",  # 19 digits: no ID number ends there
        "2110105194912310021X",  # 19 characters
        "A11010519491231002X",  # part of a longer code
        f"{ID_18}B",
        "110105491331002",  # 15 digits, month 13
        "91350100M000100Y43",  # a credit code in a description is fine
        "联系电话 13800138000，传真 010-12345678",
        "抽检不合格，已责令整改。" * 40,
    ],
)
def test_text_without_a_valid_id_number_passes(typed: str) -> None:
    row, issues = _validate(description=typed)
    assert row is not None and issues == []
    assert not has_id_number(typed)


def test_an_id_number_that_passes_as_a_credit_code_is_refused_in_the_code_column() -> None:
    """One valid ID number in ~300 has both USCC check characters right: it would become an entity code."""
    number = "110108198604309913"
    assert has_id_number(number)
    row, issues = _validate(uscc=number)
    assert row is None
    [issue] = issues
    assert (issue["column"], issue["code"]) == ("uscc", IssueCode.ID_NUMBER_IN_TEXT)
    assert "统一社会信用代码中含有身份证号码" in str(issue["message_zh"])
    _assert_masked(issues)


def test_the_error_comes_with_the_other_errors_of_the_row() -> None:
    _, issues = _validate(description=f"当事人{ID_18}", entity_name=f"公司{ID_15}", occurred_on="2026-02-30")
    codes = sorted(str(issue["code"]) for issue in issues)
    assert codes == ["date_format", "id_number_in_text", "id_number_in_text"]
    _assert_masked(issues)


def test_a_long_description_is_masked_before_it_is_shortened() -> None:
    _, issues = _validate(description="说明" * 45 + ID_18 + "。" * 5000)
    assert {issue["code"] for issue in issues} == {"too_long", "id_number_in_text"}
    _assert_masked(issues)


@settings(max_examples=200, deadline=None)
@given(
    body=st.text(alphabet="0123456789", min_size=17, max_size=17),
    before=st.text(alphabet="当事人身份证号码：，。 -()（）", max_size=5),
    after=st.text(alphabet="当事人身份证号码：，。 -()（）", max_size=5),
)
def test_any_valid_number_in_prose_is_found(body: str, before: str, after: str) -> None:
    assert has_id_number(before + body + id_check_char(body) + after)


def test_the_form_and_the_api_refuse_it_with_the_same_masked_message() -> None:
    schema = RecordInputSchema(DEPARTMENTS, today=TODAY)
    with pytest.raises(ValidationError) as caught:
        schema.load({**good_row(1), "description": f"当事人{ID_18}"})
    [problem] = caught.value.messages["description"]  # type: ignore[call-overload, index]
    assert problem["code"] == "id_number_in_text"
    _assert_masked(caught.value.messages)
    # and a batch row gets the identical verdict
    validator = RowValidator(DEPARTMENTS, today=TODAY)
    validator.map_header(EN_HEADER)
    record = {**good_row(1), "description": f"当事人{ID_18}"}
    _, issues = validator.validate(2, [record[key] for key in EN_HEADER])
    assert [(i.code, i.value, i.message_zh, i.message_en) for i in issues] == [
        (problem["code"], problem["value"], problem["message_zh"], problem["message_en"])
    ]


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        (RecordCorrectionSchema, "description"),
        (RecordCorrectionSchema, "category"),
        (RecordCorrectionSchema, "reason"),
        (RecordWithdrawalSchema, "reason"),
    ],
)
def test_corrections_and_withdrawals_refuse_an_id_number_in_their_text(schema: type, field: str) -> None:
    data = {"reason": "核实后更正", field: f"张三{ID_18}"}
    with pytest.raises(ValidationError) as caught:
        schema().load(data)
    [message] = caught.value.messages[field]
    assert "负责人身份证号" in message and "person_id_number" in message
    _assert_masked(caught.value.messages)
    assert schema().load({"reason": "核实后更正", field: "核实后更正"})


# --- a file without its header row (review item 3) ------------------------------------------------


def test_a_data_row_taken_for_the_header_is_reported_masked() -> None:
    row = good_row(3, random.Random(3))
    data_row = [row[key] for key in EN_HEADER]
    data_row[EN_HEADER.index("person_id_number")] = ID_18
    data_row[EN_HEADER.index("description")] = f"当事人张三（身份证号{ID_15}）逾期未整改，经多次督促仍未整改完毕"
    with pytest.raises(HeaderError) as caught:
        map_header(data_row)
    error = caught.value
    texts = [error.message_en, error.message_zh, str(error), *(p.message_zh + p.message_en for p in error.problems)]
    _assert_masked(texts)
    assert any("110105********002X" in text for text in texts)
    assert IssueCode.HEADER_UNKNOWN in {problem.code for problem in error.problems}


def test_a_header_problem_masks_whatever_it_quotes() -> None:
    problem = header_problem(IssueCode.HEADER_UNKNOWN, position=3, name=f"x{ID_18}")
    _assert_masked([problem.message_zh, problem.message_en])
