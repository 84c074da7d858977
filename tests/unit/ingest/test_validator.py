"""``rules`` + ``validator``: every column rule, headers in both languages, one pass (TESTS I4, I11, I12)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signalhub_ingest.readers import open_upload
from signalhub_ingest.rules import (
    COLUMNS,
    HeaderError,
    IssueCode,
    RowIssue,
    map_header,
    normalise_header,
    normalise_prose,
    parse_date,
)
from signalhub_ingest.validator import (
    CleanRow,
    RowValidator,
    _is_standard_uscc,
    _standard_id_number,
    row_warnings,
    validate_rows,
    validate_upload,
)
from signalhub_platform.identifiers.normalise import CheckStatus
from signalhub_platform.identifiers.resident_id import id_check_char, validate_id_number
from signalhub_platform.identifiers.uscc import ALPHABET, validate_uscc
from signalhub_platform.models.records import Openness, RecordKind, RiskLevel

from .rows import DEPARTMENTS, EN_HEADER, TODAY, ZH_HEADER, cells, csv_text, good_row, make_id_number, spoil_check_char

PILOT_USCC = "91350211M0000XUF46"  # a real Fujian pilot-era code: nonstandard check character


def _validator() -> RowValidator:
    validator = RowValidator(DEPARTMENTS, today=TODAY)
    validator.map_header(EN_HEADER)
    return validator


def _check(**changes: object) -> tuple[CleanRow | None, list[RowIssue]]:
    row: dict[str, object] = {**good_row(0), **changes}
    return _validator().validate(2, [row[key] for key in EN_HEADER])


def _codes(issues: list[RowIssue]) -> list[tuple[str, IssueCode]]:
    return [(issue.column, issue.code) for issue in issues]


# --- headers ---------------------------------------------------------------------------------


def test_chinese_and_english_headers_map_to_the_same_columns() -> None:
    assert map_header(ZH_HEADER).positions == map_header(EN_HEADER).positions
    mixed = [" Department ", "KIND", "风险等级", "ｏｐｅｎｎｅｓｓ", "统一社会信用代码", "Entity Name", "person-name"]
    mixed += ["person_id_number", "归集内容", "事项描述", "发生日期(必填)", "本单位编号*"]
    assert list(map_header(mixed).positions) == [column.key for column in COLUMNS]


def test_headers_in_any_order_and_optional_columns_absent() -> None:
    header = ["本单位编号", "发生日期", "归集内容", "统一社会信用代码", "开放类别", "信息类型", "部门"]
    validator = RowValidator(DEPARTMENTS, today=TODAY)
    validator.map_header(header)
    row, issues = validator.validate(2, ["X-1", "2026-01-02", "食品安全", PILOT_USCC, "shared", "penalty", "JD01"])
    assert row is not None and row.risk_level is None and row.person_id_number is None and row.entity_name == ""
    assert _codes(issues) == [("uscc", IssueCode.USCC_NONSTANDARD)]


def test_header_problems_are_all_reported_at_once() -> None:
    with pytest.raises(HeaderError) as caught:
        map_header(["部门", "department", "颜色", "", "kind", "person_id_number"])
    codes = [problem.code for problem in caught.value.problems]
    assert codes == [
        IssueCode.HEADER_DUPLICATE,
        IssueCode.HEADER_UNKNOWN,
        IssueCode.HEADER_BLANK,
        IssueCode.HEADER_MISSING,  # openness
        IssueCode.HEADER_MISSING,  # category
        IssueCode.HEADER_MISSING,  # occurred_on
        IssueCode.HEADER_MISSING,  # source_ref
        IssueCode.HEADER_PERSON_NAME_MISSING,
    ]
    assert "颜色" in caught.value.message_zh and "颜色" in str(caught.value)
    assert "columns 1 and 2 are both department" in str(caught.value)


def test_a_file_needs_a_subject_column() -> None:
    header = [name for name in EN_HEADER if name not in ("uscc", "person_id_number")]
    with pytest.raises(HeaderError, match="needs a uscc or a person_id_number column"):
        map_header(header)


def test_empty_header_and_header_only_file_raise_header_errors() -> None:
    with pytest.raises(HeaderError) as caught:
        map_header(["", " "])
    assert caught.value.problems[0].code == IssueCode.FILE_EMPTY
    validator = RowValidator(DEPARTMENTS, today=TODAY)
    with pytest.raises(HeaderError) as caught:
        list(validate_upload(validator, ZH_HEADER, []))
    assert caught.value.problems[0].code == IssueCode.HEADER_ONLY
    assert caught.value.message_zh == "文件只有列标题，没有数据行"


def test_error_workbook_columns_are_ignored_on_upload() -> None:
    header_map = map_header(["原文件行号", "错误", "提示", *ZH_HEADER])
    assert header_map.ignored == frozenset({0, 1, 2})
    assert header_map.positions["department"] == 3


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  Risk Level ", "risk_level"), ("ＵＳＣＣ", "uscc"), ("部门（必填）", "部门"), ("发生日期 *", "发生日期")],
)
def test_normalise_header(raw: str, expected: str) -> None:
    assert normalise_header(raw) == expected


# --- the valid row ----------------------------------------------------------------------------


def test_a_valid_row_comes_back_normalised() -> None:
    row, issues = _check(
        department=" 执法二科 ",
        kind="RISK",
        risk_level="High",
        openness="Public",
        uscc="９１３５０１００ｍ０００１００ｙ４３",  # full width, lower case
        person_id_number="１１０１０５１９４９１２３１００２ｘ",
        occurred_on="２０２６年３月１日",
        source_ref="ＪＤ－００１",
        entity_name="北京ＡＢＣ商贸（北京）有限公司",
        description="抽检不合格，已责令整改。",
    )
    assert issues == []
    assert row == CleanRow(
        row_number=2,
        department_id=12,
        kind=RecordKind.RISK,
        risk_level=RiskLevel.HIGH,
        openness=Openness.PUBLIC,
        uscc="91350100M000100Y43",
        uscc_status="valid",
        entity_name="北京ABC商贸（北京）有限公司",  # letters normalised, Chinese punctuation kept
        person_name="张三",
        person_id_number="11010519491231002X",
        category="食品安全",
        description="抽检不合格，已责令整改。",
        occurred_on=dt.date(2026, 3, 1),
        source_ref="JD-001",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.kind = RecordKind.PENALTY  # type: ignore[misc]


def test_fifteen_digit_id_numbers_are_converted() -> None:
    row, issues = _check(person_id_number="110105491231002")
    assert issues == [] and row is not None
    assert row.person_id_number == validate_id_number("110105491231002").value


@pytest.mark.parametrize(
    ("department", "department_id"), [("JD01", 11), ("jd01", 11), ("ｊｄ０２", 12), ("执法一科", 11)]
)
def test_department_by_code_or_name(department: str, department_id: int) -> None:
    row, _ = _check(department=department)
    assert row is not None and row.department_id == department_id


@pytest.mark.parametrize(
    ("value", "kind"),
    [("风险", "risk"), ("风险类", "risk"), ("risk", "risk"), ("处罚类", "penalty"), ("PENALTY", "penalty")],
)
def test_kind_words(value: str, kind: str) -> None:
    row, issues = _check(kind=value, risk_level="低" if kind == "risk" else "")
    assert issues == [] and row is not None and row.kind == kind


@pytest.mark.parametrize(
    ("value", "openness"),
    [("暂不开放", "private"), ("有条件开放", "shared"), ("完全开放", "public"), ("Private", "private")],
)
def test_openness_words(value: str, openness: str) -> None:
    row, _ = _check(openness=value)
    assert row is not None and row.openness == openness


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01",
        "2026/3/1",
        "2026/03/01",
        "2026-3-1",
        "2026.3.1",
        "2026年3月1日",
        "2026 年 3 月 1 日",
        "２０２６年３月１日",
        "20260301",
        "2026-03-01T00:00:00",
        "2026-03-01 14:30",
        "46082",  # an Excel date cell formatted as a number, as the reader gives it
        "46082.75",
        46082,
        46082.5,
        dt.date(2026, 3, 1),
        dt.datetime(2026, 3, 1, 9, 30),
    ],
)
def test_date_formats(value: object) -> None:
    assert parse_date(value) == dt.date(2026, 3, 1)
    row, issues = _check(occurred_on=value)
    assert issues == [] and row is not None and row.occurred_on == dt.date(2026, 3, 1)


@pytest.mark.parametrize("value", ["2026-02-30", "2026/13/1", "3/1/2026", "yesterday", "2026-3", "202603", "1e5", "-3"])
def test_dates_that_are_not_dates(value: str) -> None:
    assert _codes(_check(occurred_on=value)[1]) == [("occurred_on", IssueCode.DATE_FORMAT)]


def test_date_range() -> None:
    assert _check(occurred_on=TODAY.isoformat())[0] is not None
    assert _check(occurred_on="1949-10-01")[0] is not None
    tomorrow = _check(occurred_on=(TODAY + dt.timedelta(days=1)).isoformat())[1]
    assert _codes(tomorrow) == [("occurred_on", IssueCode.DATE_IN_FUTURE)]
    assert "2026-04-16" in tomorrow[0].message_en and "晚于今天" in tomorrow[0].message_zh
    assert _codes(_check(occurred_on="1949/9/30")[1]) == [("occurred_on", IssueCode.DATE_TOO_EARLY)]
    assert _codes(_check(occurred_on="100")[1]) == [("occurred_on", IssueCode.DATE_TOO_EARLY)]  # serial: 1900


# --- one rule at a time ----------------------------------------------------------------------


@pytest.mark.parametrize("column", ["department", "kind", "openness", "category", "occurred_on", "source_ref"])
def test_required_columns(column: str) -> None:
    row, issues = _check(**{column: "  "})
    assert row is None
    assert _codes(issues) == [(column, IssueCode.REQUIRED)]
    label = next(spec.label_zh for spec in COLUMNS if spec.key == column)
    assert issues[0].message_zh == f"{label}不能为空"
    assert issues[0].message_en == f"{column} is required"


@pytest.mark.parametrize(
    ("column", "limit"),
    [("entity_name", 200), ("person_name", 100), ("category", 64), ("description", 4000), ("source_ref", 64)],
)
def test_lengths(column: str, limit: int) -> None:
    # The limit applied is the one ``rules`` declares (and the template states).
    assert next(spec.max_length for spec in COLUMNS if spec.key == column) == limit
    assert _check(**{column: "字" * limit})[0] is not None
    row, issues = _check(**{column: "字" * (limit + 1)})
    assert row is None and _codes(issues) == [(column, IssueCode.TOO_LONG)]
    assert f"{limit}" in issues[0].message_en and len(issues[0].value) <= 100


def test_unknown_department_and_bad_choices() -> None:
    row, issues = _check(department="财务科", kind="warning", openness="open")
    assert row is None
    assert _codes(issues) == [
        ("department", IssueCode.UNKNOWN_DEPARTMENT),
        ("kind", IssueCode.INVALID_CHOICE),
        ("openness", IssueCode.INVALID_CHOICE),
    ]
    assert "风险、处罚" in issues[1].message_zh and "risk, penalty" in issues[1].message_en
    assert "暂不开放、有条件开放、完全开放" in issues[2].message_zh


def test_risk_level_is_required_for_risk_and_forbidden_for_penalty() -> None:
    assert _codes(_check(kind="风险", risk_level="")[1]) == [("risk_level", IssueCode.RISK_LEVEL_REQUIRED)]
    assert _codes(_check(kind="处罚", risk_level="高")[1]) == [("risk_level", IssueCode.RISK_LEVEL_NOT_ALLOWED)]
    assert _codes(_check(kind="风险", risk_level="很高")[1]) == [("risk_level", IssueCode.INVALID_CHOICE)]
    row, issues = _check(kind="处罚", risk_level="")
    assert issues == [] and row is not None and row.risk_level is None
    # an unknown kind: the level is judged on its own
    assert _codes(_check(kind="?", risk_level="")[1]) == [("kind", IssueCode.INVALID_CHOICE)]


def test_a_row_needs_a_uscc_or_an_id_number() -> None:
    row, issues = _check(uscc="", person_id_number="", person_name="")
    assert row is None and _codes(issues) == [("uscc", IssueCode.SUBJECT_REQUIRED)]
    only_person, issues = _check(uscc="", entity_name="")
    assert issues == [] and only_person is not None and only_person.uscc is None and only_person.uscc_status is None
    only_entity, issues = _check(person_id_number="", person_name="")
    assert issues == [] and only_entity is not None and only_entity.person_id_number is None


def test_person_name_is_required_with_an_id_number() -> None:
    assert _codes(_check(person_name="")[1]) == [("person_name", IssueCode.PERSON_NAME_REQUIRED)]


@pytest.mark.parametrize(
    ("code", "issue"),
    [
        ("91350100M000100Y4", IssueCode.USCC_LENGTH),
        ("91350100M000100Y4OO", IssueCode.USCC_LENGTH),
        ("91350100M000100YO3", IssueCode.USCC_FORMAT),
        ("91350100M000100Y44", IssueCode.USCC_CHECK),
    ],
)
def test_invalid_uscc_is_an_error(code: str, issue: IssueCode) -> None:
    row, issues = _check(uscc=code)
    assert row is None and _codes(issues) == [("uscc", issue)]
    if issue == IssueCode.USCC_CHECK:
        assert "3" in issues[0].message_en and "应为 3" in issues[0].message_zh


def test_nonstandard_uscc_is_a_warning_with_the_computed_check_character() -> None:
    row, issues = _check(uscc=PILOT_USCC)
    assert row is not None and row.uscc == PILOT_USCC and row.uscc_status == "nonstandard"
    assert len(issues) == 1 and issues[0].is_warning and issues[0].code == IssueCode.USCC_NONSTANDARD
    expected = validate_uscc(PILOT_USCC).computed_check
    assert expected and f"expected {expected}" in issues[0].message_en and f"应为 {expected}" in issues[0].message_zh
    assert row_warnings(row) == issues
    # a warning next to an error: the row is refused for the error
    refused, issues = _check(uscc=PILOT_USCC, category="")
    assert refused is None and [issue.is_warning for issue in issues] == [True, False]


@pytest.mark.parametrize(
    ("number", "issue"),
    [
        ("11010519491231002", IssueCode.ID_LENGTH),
        ("1101051949123100XX", IssueCode.ID_FORMAT),
        ("110105194912310021", IssueCode.ID_CHECK),
        ("11010519490230002" + id_check_char("11010519490230002"), IssueCode.ID_BIRTH_DATE),
    ],
)
def test_invalid_id_numbers_never_appear_in_issues(number: str, issue: IssueCode) -> None:
    row, issues = _check(person_id_number=number)
    assert row is None and _codes(issues) == [("person_id_number", issue)]
    for text in (issues[0].value, issues[0].message_zh, issues[0].message_en, str(issues[0].as_dict())):
        assert number not in text and number[:14] not in text
    assert issues[0].value.startswith("110105") and "*" in issues[0].value


def test_an_id_number_typed_in_another_column_is_masked_too() -> None:
    number = make_id_number(random.Random(3))
    _, issues = _check(uscc=number, source_ref="x" * 50 + number + "y" * 20)
    assert [issue.column for issue in issues] == ["uscc", "source_ref"]
    for issue in issues:
        assert number not in issue.value + issue.message_zh + issue.message_en


def test_future_birth_date_in_an_id_number() -> None:
    first17 = "110105" + (TODAY + dt.timedelta(days=1)).strftime("%Y%m%d") + "001"
    _, issues = _check(person_id_number=first17 + id_check_char(first17))
    assert _codes(issues) == [("person_id_number", IssueCode.ID_BIRTH_DATE)]
    assert "晚于今天" in issues[0].message_zh


def test_extra_cells_beyond_the_header_are_reported() -> None:
    validator = _validator()
    row, issues = validator.validate(2, [*cells(good_row(0)), "", "stray"])
    assert row is None and _codes(issues) == [("", IssueCode.EXTRA_CELLS)]
    assert "column 14" in issues[0].message_en
    row, issues = validator.validate(3, [*cells(good_row(1)), "", "  "])
    assert row is not None and issues == []


def test_short_rows_read_missing_cells_as_empty() -> None:
    row, issues = _validator().validate(2, ["JD01", "处罚"])
    assert row is None
    assert {issue.code for issue in issues} == {IssueCode.REQUIRED, IssueCode.SUBJECT_REQUIRED}


def test_every_problem_of_a_row_is_reported_in_column_order() -> None:
    _, issues = _check(
        department="",
        kind="",
        openness="",
        uscc="123",
        person_id_number="123",
        person_name="",
        category="",
        occurred_on="",
        source_ref="",
    )
    assert [issue.column for issue in issues] == [
        "department",
        "kind",
        "openness",
        "uscc",
        "person_id_number",
        "person_name",
        "category",
        "occurred_on",
        "source_ref",
    ]
    assert all(issue.row == 2 and not issue.is_warning for issue in issues)


# --- duplicates and one pass -------------------------------------------------------------------


def test_duplicate_source_ref_names_both_rows() -> None:
    validator = _validator()
    rows = [good_row(index) for index in range(4)]
    rows[3]["source_ref"] = "ＪＤ-0000001"  # full width: the same reference as row 3's
    results = list(validate_rows(validator, ((number, cells(row)) for number, row in enumerate(rows, start=2))))
    issues = [issue for _, _, row_issues in results for issue in row_issues]
    assert _codes(issues) == [("source_ref", IssueCode.DUPLICATE_SOURCE_REF)]
    assert issues[0].row == 5
    assert issues[0].message_zh == "本单位编号“JD-0000001”重复：第 3 行和第 5 行"
    assert issues[0].message_en == "source_ref 'JD-0000001' is used twice: rows 3 and 5"


def test_single_records_do_not_track_duplicates() -> None:
    validator = RowValidator(DEPARTMENTS, today=TODAY, track_duplicates=False)
    assert validator.validate_mapping(1, good_row(0))[1] == []
    assert validator.validate_mapping(1, good_row(0))[1] == []


def test_a_thousand_row_file_with_three_bad_rows_reports_exactly_those(tmp_path: Path) -> None:
    """TESTS I4: bad USCC check character, bad date, missing required field; one pass, every row read."""
    rows = [good_row(index) for index in range(1000)]
    rows[99]["uscc"] = spoil_check_char(rows[99]["uscc"])
    rows[499]["occurred_on"] = "2026-02-30"
    rows[899]["category"] = ""
    path = tmp_path / "quarter.csv"
    path.write_bytes(csv_text(rows).encode("gbk"))

    validator = RowValidator(DEPARTMENTS, today=TODAY)
    with open_upload(path, "一季度.csv") as table:
        results = list(validate_upload(validator, table.header, table.rows))

    assert len(results) == 1000
    bad = {number: issues for number, row, issues in results if issues}
    assert sorted(bad) == [101, 501, 901]  # file rows: the header is row 1
    assert _codes(bad[101]) == [("uscc", IssueCode.USCC_CHECK)]
    assert _codes(bad[501]) == [("occurred_on", IssueCode.DATE_FORMAT)]
    assert _codes(bad[901]) == [("category", IssueCode.REQUIRED)]
    assert sum(1 for _, row, _ in results if row is not None) == 997


# --- the fast path agrees with the identifiers ---------------------------------------------------

_USCC_CHARS = st.text(alphabet=ALPHABET + "IOSVZ", min_size=18, max_size=18)


@given(st.one_of(_USCC_CHARS, st.builds(lambda seed: good_row(0, random.Random(seed))["uscc"], st.integers())))
@settings(max_examples=400, deadline=None)
def test_fast_uscc_confirmation_agrees_with_validate_uscc(code: str) -> None:
    assert _is_standard_uscc(code) == (validate_uscc(code).status is CheckStatus.VALID)


@given(
    st.one_of(
        st.text(alphabet="0123456789X", min_size=18, max_size=18),
        st.builds(lambda seed: make_id_number(random.Random(seed)), st.integers()),
    )
)
@settings(max_examples=400, deadline=None)
def test_fast_id_confirmation_agrees_with_validate_id_number(number: str) -> None:
    expected = validate_id_number(number, today=TODAY).status is CheckStatus.VALID
    assert _standard_id_number(number, TODAY) == expected


# --- helpers -----------------------------------------------------------------------------------


def test_normalise_prose_keeps_chinese_punctuation() -> None:
    assert normalise_prose("　ＡＢＣ１２３：（北京）。 ") == "ABC123：（北京）。"


def test_content_hash_ignores_the_row_number_and_uses_the_person_key() -> None:
    from signalhub_ingest.staging import content_sha256

    def digest(row: CleanRow, person: str) -> str:
        return content_sha256(row.department_id, row.kind, row.risk_level, row.openness, row.uscc, person,
                              row.category, row.description, row.occurred_on.isoformat())  # fmt: skip

    row, _ = _check()
    assert row is not None and row.person_id_number is not None
    moved = dataclasses.replace(row, row_number=99)
    assert digest(row, "blind") == digest(moved, "blind")
    assert digest(row, "blind") != digest(row, "other")
    assert digest(row, "blind") != digest(dataclasses.replace(row, description="x"), "blind")


def test_issue_as_dict() -> None:
    _, issues = _check(category="")
    assert issues[0].as_dict() == {
        "row": 2,
        "column": "category",
        "value": "",
        "code": "required",
        "message_zh": "归集内容不能为空",
        "message_en": "category is required",
        "is_warning": False,
    }
