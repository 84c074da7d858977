"""The one declaration of a record row: its columns, headers, allowed values, limits and messages.

Everything that decides whether an uploaded row, a form submission or an API record is acceptable
is declared here once; ``validator`` applies it fast to batch files and ``schemas`` wraps the same
validator for the form and the API, so the two paths cannot drift apart (a test holds them to the
same verdict and the same messages).

Normalisation: codes, choices, dates and references go through NFKC (``ＪＤ０１`` is ``JD01``);
free text (names, category, description) only has full-width digits and letters made ASCII, so
Chinese punctuation stays as written (see ``normalise_prose``).

Messages come from a closed set of codes with a Chinese and an English template each. They are
formatted here rather than through Flask-Babel because validation also runs in the CLI and in
background jobs, and a batch's stored report must read the same wherever it is shown. A message
never contains an ID number: the ID column's value is masked, and so is anything ID-shaped
typed elsewhere (a description, the USCC cell).

Nothing here touches a database or Flask.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from signalhub_ingest.readers import ReaderError
from signalhub_platform.crypto import mask_id_number, redact_id_numbers
from signalhub_platform.models.records import Openness, RecordKind, RiskLevel

__all__ = [
    "ANNOTATION_HEADERS",
    "COLUMNS",
    "COLUMN_KEYS",
    "EARLIEST_DATE",
    "KIND_WORDS",
    "MESSAGES",
    "OPENNESS_WORDS",
    "RISK_LEVEL_WORDS",
    "ColumnSpec",
    "HeaderError",
    "HeaderMap",
    "HeaderProblem",
    "IssueCode",
    "RowIssue",
    "header_problem",
    "make_issue",
    "map_header",
    "normalise_header",
    "normalise_prose",
    "normalise_text",
    "parse_date",
    "without_value",
]

# The founding of the People's Republic: older "occurred on" dates are typing errors.
EARLIEST_DATE = dt.date(1949, 10, 1)
# An issue's ``value`` is what the user typed, shortened: a 4,000-character description does not
# need to travel into the batch report in full.
MAX_ISSUE_VALUE = 100
_MAX_MESSAGE_VALUE = 50


# --- columns -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One template column.

    ``key`` is the English header and the field name everywhere (form, API, CleanRow);
    ``is_required`` means every row needs a value; ``is_header_required`` means a file without
    the column is refused outright (its absence would make every row fail the same way).
    """

    key: str
    label_zh: str
    is_required: bool
    is_header_required: bool
    max_length: int | None
    example: str
    note_zh: str
    note_en: str


COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec(
        key="department",
        label_zh="部门",
        is_required=True,
        is_header_required=True,
        max_length=None,
        example="执法一科",
        note_zh="本单位的部门代码或名称",
        note_en="a department of your agency, by code or name",
    ),
    ColumnSpec(
        key="kind",
        label_zh="信息类型",
        is_required=True,
        is_header_required=True,
        max_length=None,
        example="风险",
        note_zh="风险 或 处罚",
        note_en="risk or penalty",
    ),
    ColumnSpec(
        key="risk_level",
        label_zh="风险等级",
        is_required=False,
        is_header_required=False,
        max_length=None,
        example="高",
        note_zh="风险类必填：低、中、高；处罚类不填",
        note_en="required for risk: low, medium, high; empty for penalty",
    ),
    ColumnSpec(
        key="openness",
        label_zh="开放类别",
        is_required=True,
        is_header_required=True,
        max_length=None,
        example="有条件开放",
        note_zh="暂不开放、有条件开放、完全开放",
        note_en="private, shared or public",
    ),
    ColumnSpec(
        key="uscc",
        label_zh="统一社会信用代码",
        is_required=False,
        is_header_required=False,
        max_length=None,
        example="91350100M000100Y43",
        note_zh="18 位；与负责人身份证号至少填一项",
        note_en="18 characters; uscc or person_id_number (or both) is required",
    ),
    ColumnSpec(
        key="entity_name",
        label_zh="主体名称",
        is_required=False,
        is_header_required=False,
        max_length=200,
        example="北京华鑫商贸有限公司",
        note_zh="不超过 200 字",
        note_en="up to 200 characters",
    ),
    ColumnSpec(
        key="person_name",
        label_zh="负责人姓名",
        is_required=False,
        is_header_required=False,
        max_length=100,
        example="张三",
        note_zh="填写身份证号时必填，不超过 100 字",
        note_en="required with person_id_number; up to 100 characters",
    ),
    ColumnSpec(
        key="person_id_number",
        label_zh="负责人身份证号",
        is_required=False,
        is_header_required=False,
        max_length=None,
        example="11010519491231002X",
        note_zh="18 位（15 位旧号亦可）",
        note_en="18 digits (or 15 for an old card)",
    ),
    ColumnSpec(
        key="category",
        label_zh="归集内容",
        is_required=True,
        is_header_required=True,
        max_length=64,
        example="食品安全",
        note_zh="必填，不超过 64 字",
        note_en="required; up to 64 characters",
    ),
    ColumnSpec(
        key="description",
        label_zh="事项描述",
        is_required=False,
        is_header_required=False,
        max_length=4000,
        example="抽检不合格，已责令整改",
        note_zh="不超过 4000 字",
        note_en="up to 4,000 characters",
    ),
    ColumnSpec(
        key="occurred_on",
        label_zh="发生日期",
        is_required=True,
        is_header_required=True,
        max_length=None,
        example="2026-03-01",
        note_zh="如 2026-03-01、2026/3/1、2026年3月1日；不晚于今天",
        note_en="e.g. 2026-03-01, 2026/3/1, 2026年3月1日; not in the future",
    ),
    ColumnSpec(
        key="source_ref",
        label_zh="本单位编号",
        is_required=True,
        is_header_required=True,
        max_length=64,
        example="JD-2026-0001",
        note_zh="必填，在本单位内唯一，不超过 64 字",
        note_en="required; unique within your agency; up to 64 characters",
    ),
)
COLUMN_KEYS: tuple[str, ...] = tuple(column.key for column in COLUMNS)
COLUMNS_BY_KEY: dict[str, ColumnSpec] = {column.key: column for column in COLUMNS}

# Columns the error workbook adds; a liaison may fix that workbook and upload it as it is.
ROW_NUMBER_HEADER = "原文件行号"
ERRORS_HEADER = "错误"
WARNINGS_HEADER = "提示"
ANNOTATION_HEADERS = frozenset({ROW_NUMBER_HEADER, ERRORS_HEADER, WARNINGS_HEADER, "source_row", "errors", "warnings"})


# --- allowed values ----------------------------------------------------------------------------

# Keys are normalised (NFKC, English lower case); lookups try the text as typed, then lower case.
KIND_WORDS: dict[str, RecordKind] = {
    "risk": RecordKind.RISK,
    "风险": RecordKind.RISK,
    "风险类": RecordKind.RISK,
    "penalty": RecordKind.PENALTY,
    "处罚": RecordKind.PENALTY,
    "处罚类": RecordKind.PENALTY,
}
RISK_LEVEL_WORDS: dict[str, RiskLevel] = {
    "low": RiskLevel.LOW,
    "低": RiskLevel.LOW,
    "低风险": RiskLevel.LOW,
    "medium": RiskLevel.MEDIUM,
    "中": RiskLevel.MEDIUM,
    "中风险": RiskLevel.MEDIUM,
    "high": RiskLevel.HIGH,
    "高": RiskLevel.HIGH,
    "高风险": RiskLevel.HIGH,
}
OPENNESS_WORDS: dict[str, Openness] = {
    "private": Openness.PRIVATE,
    "暂不开放": Openness.PRIVATE,
    "shared": Openness.SHARED,
    "有条件开放": Openness.SHARED,
    "public": Openness.PUBLIC,
    "完全开放": Openness.PUBLIC,
}
# How each value is written in the template and in "allowed values" messages.
KIND_LABELS: dict[RecordKind, tuple[str, str]] = {
    RecordKind.RISK: ("风险", "risk"),
    RecordKind.PENALTY: ("处罚", "penalty"),
}
RISK_LEVEL_LABELS: dict[RiskLevel, tuple[str, str]] = {
    RiskLevel.LOW: ("低", "low"),
    RiskLevel.MEDIUM: ("中", "medium"),
    RiskLevel.HIGH: ("高", "high"),
}
OPENNESS_LABELS: dict[Openness, tuple[str, str]] = {
    Openness.PRIVATE: ("暂不开放", "private"),
    Openness.SHARED: ("有条件开放", "shared"),
    Openness.PUBLIC: ("完全开放", "public"),
}
CHOICE_LABELS: dict[str, Mapping[Any, tuple[str, str]]] = {
    "kind": KIND_LABELS,
    "risk_level": RISK_LEVEL_LABELS,
    "openness": OPENNESS_LABELS,
}
DATE_FORMATS_ZH = "2026-03-01、2026/3/1、2026年3月1日 或 Excel 日期单元格"
DATE_FORMATS_EN = "2026-03-01, 2026/3/1, 2026年3月1日 or an Excel date cell"


def normalise_text(value: str) -> str:
    """NFKC (full-width digits, letters, spaces and punctuation → ASCII), surrounding spaces removed.

    For codes, choices, dates and references, where ``ＪＤ０１`` and ``JD01`` must be one value.
    NFKC is skipped for ASCII text, which it cannot change: a million-row file calls this a
    million times per column.
    """
    if value.isascii():
        return value.strip()
    return unicodedata.normalize("NFKC", value).strip()


# Full-width digits and Latin letters (U+FF10-FF19, FF21-FF3A, FF41-FF5A) and their ASCII forms.
FULL_WIDTH_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_FULL_WIDTH_CODES = (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))
FULL_WIDTH_TABLE = {code: code - 0xFEE0 for code in _FULL_WIDTH_CODES}


def normalise_prose(value: str) -> str:
    """Free text (names, category, description): full-width digits and letters → ASCII, spaces trimmed.

    Not NFKC: Chinese prose is written with full-width punctuation (，（）：), which NFKC would
    turn into ASCII, changing how a company name or a description reads; and NFKC costs ~80 ns per
    character once a string holds one such character (24 µs for a 300-character description).
    """
    if not value.isascii() and FULL_WIDTH_ALNUM.search(value):
        value = value.translate(FULL_WIDTH_TABLE)
    return value.strip()


# --- dates -------------------------------------------------------------------------------------

# re.ASCII: after NFKC the digits are ASCII; other scripts' digits are not dates here. A time of
# day after the date (database exports, calamine's text for a dated time cell) is ignored.
_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_DATE_SEPARATED = re.compile(r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})" + _TIME, re.ASCII)
_DATE_CHINESE = re.compile(r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日?", re.ASCII)
_DATE_COMPACT = re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})", re.ASCII)
# An Excel serial day number: what a date cell formatted as a number reads as.
_EXCEL_SERIAL = re.compile(r"\d{1,5}(?:\.\d+)?", re.ASCII)
_EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01, counting Excel's phantom 1900-02-29


def excel_serial_to_date(serial: float) -> dt.date | None:
    """Excel's 1900 date system (what calamine reports for a number-formatted date cell)."""
    if not 1 <= serial < 2958466:  # 9999-12-31
        return None
    days = int(serial)
    if days < 61:  # before Excel's non-existent 1900-02-29
        days += 1
    return _EXCEL_EPOCH + dt.timedelta(days=days)


def parse_date(value: object) -> dt.date | None:
    """A date cell or text in any accepted format → date; None when it is not one.

    Accepts ``2026-03-01``, ``2026/3/1``, ``2026.3.1``, ``2026年3月1日``, ``20260301``, an ISO
    date-time, ``date``/``datetime`` objects and Excel serial numbers (int, float or their text).
    The range (not in the future, not before 1949-10-01) is the validator's business.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return excel_serial_to_date(value)
    if not isinstance(value, str):
        return None
    text = normalise_text(value)
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return None
    for pattern in (_DATE_SEPARATED, _DATE_CHINESE, _DATE_COMPACT):
        match = pattern.fullmatch(text)
        if match:
            try:
                return dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                return None
    if _EXCEL_SERIAL.fullmatch(text):
        return excel_serial_to_date(float(text))
    return None


# --- issues and their messages -----------------------------------------------------------------


class IssueCode(enum.StrEnum):
    """The closed set of problems; stored in batch reports, so values never change."""

    # rows
    REQUIRED = "required"
    TOO_LONG = "too_long"
    INVALID_CHOICE = "invalid_choice"
    INVALID_TYPE = "invalid_type"
    UNKNOWN_DEPARTMENT = "unknown_department"
    RISK_LEVEL_REQUIRED = "risk_level_required"
    RISK_LEVEL_NOT_ALLOWED = "risk_level_not_allowed"
    SUBJECT_REQUIRED = "subject_required"
    PERSON_NAME_REQUIRED = "person_name_required"
    USCC_LENGTH = "uscc_length"
    USCC_FORMAT = "uscc_format"
    USCC_CHECK = "uscc_check"
    USCC_ORG_CHECK = "uscc_org_check"
    USCC_NONSTANDARD = "uscc_nonstandard"  # a warning, not an error
    ID_LENGTH = "id_length"
    ID_FORMAT = "id_format"
    ID_CHECK = "id_check"
    ID_BIRTH_DATE = "id_birth_date"
    ID_NUMBER_IN_TEXT = "id_number_in_text"  # a resident ID number typed into a free-text column
    DATE_FORMAT = "date_format"
    DATE_IN_FUTURE = "date_in_future"
    DATE_TOO_EARLY = "date_too_early"
    DUPLICATE_SOURCE_REF = "duplicate_source_ref"
    EXTRA_CELLS = "extra_cells"
    # the header and the file as a whole
    FILE_EMPTY = "file_empty"
    HEADER_ONLY = "header_only"
    HEADER_UNKNOWN = "header_unknown"
    HEADER_MISSING = "header_missing"
    HEADER_DUPLICATE = "header_duplicate"
    HEADER_BLANK = "header_blank"
    HEADER_SUBJECT_MISSING = "header_subject_missing"
    HEADER_PERSON_NAME_MISSING = "header_person_name_missing"


WARNING_CODES = frozenset({IssueCode.USCC_NONSTANDARD})

# (Chinese, English) templates. Placeholders: col_zh / col_en (the column), value (shortened,
# masked for ID numbers) and the code-specific ones named in each template.
MESSAGES: dict[IssueCode, tuple[str, str]] = {
    IssueCode.REQUIRED: ("{col_zh}不能为空", "{col_en} is required"),
    IssueCode.TOO_LONG: (
        "{col_zh}超过 {max} 个字符（现有 {length} 个）",
        "{col_en} is longer than {max} characters ({length})",
    ),
    IssueCode.INVALID_CHOICE: (
        "{col_zh}“{value}”无效，可填：{allowed_zh}",
        "{col_en} '{value}' is not allowed; use one of: {allowed_en}",
    ),
    IssueCode.INVALID_TYPE: ("{col_zh}应为文字、数字或日期", "{col_en} must be text, a number or a date"),
    IssueCode.UNKNOWN_DEPARTMENT: (
        "部门“{value}”不是本单位的部门，请填写本单位部门的代码或名称",
        "department '{value}' is not one of your agency's departments; use a department code or name",
    ),
    IssueCode.RISK_LEVEL_REQUIRED: (
        "风险类信息必须填写风险等级（低、中、高）",
        "risk_level is required for a risk record (low, medium, high)",
    ),
    IssueCode.RISK_LEVEL_NOT_ALLOWED: (
        "处罚类信息不填写风险等级（现为“{value}”）",
        "risk_level must be empty for a penalty record (it is '{value}')",
    ),
    IssueCode.SUBJECT_REQUIRED: (
        "统一社会信用代码与负责人身份证号至少填写一项",
        "uscc or person_id_number (or both) is required",
    ),
    IssueCode.PERSON_NAME_REQUIRED: (
        "填写了负责人身份证号，负责人姓名不能为空",
        "person_name is required when person_id_number is given",
    ),
    IssueCode.USCC_LENGTH: (
        "统一社会信用代码应为 18 位（现有 {length} 位）",
        "uscc must have 18 characters ({length})",
    ),
    IssueCode.USCC_FORMAT: (
        "统一社会信用代码含有不允许的字符（只用数字和除 I、O、S、V、Z 以外的大写字母）",
        "uscc has characters that are not allowed (digits and capital letters except I, O, S, V, Z)",
    ),
    IssueCode.USCC_CHECK: (
        "统一社会信用代码校验位错误：按前 17 位计算，第 18 位应为 {expected}，请核对",
        "uscc check character is wrong: the first 17 characters give {expected}",
    ),
    IssueCode.USCC_ORG_CHECK: (
        "统一社会信用代码中的组织机构代码校验位错误：第 17 位应为 {expected}，请核对",
        "the organisation code inside the uscc fails its check: character 17 should be {expected}",
    ),
    IssueCode.USCC_NONSTANDARD: (
        "统一社会信用代码校验位不符合国家标准（按标准应为 {expected}），可能是早期试点代码；请核实后确认提交",
        "uscc check character does not follow the national standard (expected {expected}); "
        "it may be a pilot-era code: confirm it to commit",
    ),
    IssueCode.ID_LENGTH: (
        "负责人身份证号应为 18 位（或 15 位旧号），现有 {length} 位",
        "person_id_number must have 18 digits (or 15 for an old card), not {length}",
    ),
    IssueCode.ID_FORMAT: (
        "负责人身份证号只能由数字组成（第 18 位可为 X）",
        "person_id_number may contain only digits (and X as the 18th character)",
    ),
    IssueCode.ID_CHECK: ("负责人身份证号校验位错误，请核对", "person_id_number check digit is wrong"),
    IssueCode.ID_BIRTH_DATE: (
        "负责人身份证号中的出生日期无效（{reason_zh}）",
        "person_id_number has an impossible birth date ({reason_en})",
    ),
    IssueCode.ID_NUMBER_IN_TEXT: (
        "{col_zh}中含有身份证号码：身份证号只能填写在“负责人身份证号”列，请从{col_zh}中删除",
        "{col_en} contains a resident ID number: put ID numbers only in the person_id_number "
        "(负责人身份证号) column and remove it from {col_en}",
    ),
    IssueCode.DATE_FORMAT: (
        "{col_zh}“{value}”无法识别，请填写 " + DATE_FORMATS_ZH,
        "{col_en} '{value}' is not a date; use " + DATE_FORMATS_EN,
    ),
    IssueCode.DATE_IN_FUTURE: (
        "{col_zh} {date} 晚于今天（{today}）",
        "{col_en} {date} is in the future (today is {today})",
    ),
    IssueCode.DATE_TOO_EARLY: ("{col_zh} {date} 早于 1949-10-01", "{col_en} {date} is before 1949-10-01"),
    IssueCode.DUPLICATE_SOURCE_REF: (
        "本单位编号“{value}”重复：第 {first_row} 行和第 {row} 行",
        "source_ref '{value}' is used twice: rows {first_row} and {row}",
    ),
    IssueCode.EXTRA_CELLS: (
        "第 {position} 列有内容，但该列没有列标题",
        "column {position} has a value but no header",
    ),
    IssueCode.FILE_EMPTY: ("文件为空：第一行应为列标题", "the file is empty: its first row must be the header"),
    IssueCode.HEADER_ONLY: ("文件只有列标题，没有数据行", "the file has a header but no data rows"),
    IssueCode.HEADER_UNKNOWN: (
        "第 {position} 列的列标题“{name}”无法识别，请使用模板中的列标题",
        "column {position}: unknown header '{name}'; use the template's headers",
    ),
    IssueCode.HEADER_MISSING: ("缺少“{col_zh}”列", "the {col_en} column ({col_zh}) is missing"),
    IssueCode.HEADER_DUPLICATE: (
        "第 {first} 列与第 {position} 列都是“{col_zh}”",
        "columns {first} and {position} are both {col_en}",
    ),
    IssueCode.HEADER_BLANK: (
        "第 {position} 列的列标题为空",
        "column {position} has an empty header",
    ),
    IssueCode.HEADER_SUBJECT_MISSING: (
        "至少需要“统一社会信用代码”或“负责人身份证号”列",
        "the file needs a uscc or a person_id_number column",
    ),
    IssueCode.HEADER_PERSON_NAME_MISSING: (
        "有“负责人身份证号”列时必须有“负责人姓名”列",
        "a person_id_number column needs a person_name column",
    ),
}


def _shorten(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _safe_value(column: str, value: str) -> str:
    """The value as it may be shown: the ID column masked whatever its shape, ID-shaped runs elsewhere."""
    if column == "person_id_number" and value:
        return mask_id_number(value)
    return redact_id_numbers(value)  # ID-shaped runs wherever typed (a USCC cell, a description)


@dataclass(frozen=True, slots=True)
class RowIssue:
    """One problem in one row. ``column`` is the English key ("" for the row as a whole)."""

    row: int
    column: str
    value: str
    code: IssueCode
    message_zh: str
    message_en: str
    is_warning: bool = False

    def as_dict(self) -> dict[str, object]:
        """JSON form, as stored in a batch report and returned by the API."""
        return {
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "code": str(self.code),
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "is_warning": self.is_warning,
        }


def make_issue(row: int, column: str, value: str, code: IssueCode, **params: object) -> RowIssue:
    """Format a code's two templates; the value is masked (ID numbers) and shortened first."""
    shown = _safe_value(column, value)
    spec = COLUMNS_BY_KEY.get(column)
    zh, en = MESSAGES[code]
    params.setdefault("value", _shorten(shown, _MAX_MESSAGE_VALUE))
    params.setdefault("row", row)
    params.setdefault("col_zh", spec.label_zh if spec else "")
    params.setdefault("col_en", column)
    return RowIssue(
        row,
        column,
        _shorten(shown, MAX_ISSUE_VALUE),
        code,
        zh.format(**params),
        en.format(**params),
        code in WARNING_CODES,
    )


# --- issues without the file's contents --------------------------------------------------------

# The placeholders through which a message quotes the file itself; the rest name columns, limits
# and row numbers. Shown in a value's place to whoever may see the report but not the file.
_QUOTED = frozenset({"value", "name", "date"})
_WITHHELD = "…"
_PLACEHOLDER = re.compile(r"(\{\w+\})")


def _quote_pattern(template: str) -> re.Pattern[str] | None:
    """A message made from ``template``, with the quoted part as group 1 (None: it quotes nothing)."""
    pieces = _PLACEHOLDER.split(template)
    if not any(piece[1:-1] in _QUOTED for piece in pieces):
        return None
    regex = "".join(
        ("(.*)" if piece[1:-1] in _QUOTED else ".*?") if _PLACEHOLDER.fullmatch(piece) else re.escape(piece)
        for piece in pieces
    )
    return re.compile(regex, re.DOTALL)


_QUOTE_PATTERNS = {code: tuple(_quote_pattern(template) for template in MESSAGES[code]) for code in IssueCode}


def without_value(issue: Mapping[str, Any]) -> dict[str, Any]:
    """A stored issue (``RowIssue.as_dict`` or a header problem) minus whatever it quotes from the file.

    For the platform office looking at an agency's batch it did not upload: the row, the column,
    the code and the message stay; the value goes, and so does its quotation in the messages
    (``部门“…”不是本单位的部门``). A message that does not match its code's template (an older
    wording) becomes the template with every placeholder withheld but the column. A problem
    stored under a code of its own (``file``: a header problem or the reader's error) is
    matched against every template that quotes; the reader's own messages quote no cell.
    """
    shown = {key: value for key, value in issue.items() if key != "value"}
    try:
        codes: tuple[IssueCode, ...] = (IssueCode(str(issue.get("code", ""))),)
    except ValueError:
        codes = _QUOTING_CODES
    for index, key in enumerate(("message_zh", "message_en")):
        if key not in shown:
            continue
        message = str(shown[key])
        for code in codes:
            pattern = _QUOTE_PATTERNS[code][index]
            match = pattern.fullmatch(message) if pattern is not None else None
            if match:
                shown[key] = message[: match.start(1)] + _WITHHELD + message[match.end(1) :]
                break
        else:
            if len(codes) == 1 and _QUOTE_PATTERNS[codes[0]][index] is not None:
                shown[key] = _withheld_template(codes[0], index, str(issue.get("column") or ""))
    return shown


_QUOTING_CODES = tuple(code for code in IssueCode if any(_QUOTE_PATTERNS[code]))


def _withheld_template(code: IssueCode, index: int, column: str) -> str:
    template = MESSAGES[code][index]
    spec = COLUMNS_BY_KEY.get(column)
    params = dict.fromkeys((name[1:-1] for name in _PLACEHOLDER.findall(template)), _WITHHELD)
    return template.format(**params | {"col_zh": spec.label_zh if spec else "", "col_en": column})


# --- the header --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderProblem:
    code: IssueCode
    message_zh: str
    message_en: str

    def as_dict(self) -> dict[str, str]:
        return {"code": str(self.code), "message_zh": self.message_zh, "message_en": self.message_en}


def header_problem(code: IssueCode, **params: object) -> HeaderProblem:
    """A problem with the file's columns; no text of the file reaches a message unmasked.

    The messages travel into the batch report and the validation's audit event, where the
    audit guard refuses an ID number (a refused event would leave the batch stuck).
    """
    zh, en = MESSAGES[code]
    safe = {key: _safe_value("", value) if isinstance(value, str) else value for key, value in params.items()}
    return HeaderProblem(code, zh.format(**safe), en.format(**safe))


class HeaderError(ReaderError):
    """The file's columns are unusable; ``problems`` lists every one (checked before any row)."""

    def __init__(self, problems: Sequence[HeaderProblem]) -> None:
        self.problems = list(problems)
        super().__init__(
            "; ".join(problem.message_en for problem in self.problems),
            zh="；".join(problem.message_zh for problem in self.problems),
        )


@dataclass(frozen=True, slots=True)
class HeaderMap:
    """Where each template column sits in a file's header row (0-based; absent columns missing)."""

    header: tuple[str, ...]  # the header cells as read
    positions: Mapping[str, int]
    ignored: frozenset[int] = field(default_factory=frozenset)  # the error workbook's own columns

    @property
    def width(self) -> int:
        return len(self.header)

    def position(self, key: str) -> int | None:
        return self.positions.get(key)


# Header spellings → key: the Chinese label and the English key, both normalised.
_HEADER_WORDS: dict[str, str] = {}
for _column in COLUMNS:
    _HEADER_WORDS[_column.key] = _column.key
    _HEADER_WORDS[_column.label_zh] = _column.key
_ANNOTATIONS = frozenset(name.lower() for name in ANNOTATION_HEADERS)
_HEADER_NOTE = re.compile(r"\s*(\([^()]*\)|\*)\s*$")  # "风险等级(风险类必填)", "部门*"
_HEADER_SPACES = re.compile(r"[\s\-]+")


def normalise_header(name: str) -> str:
    """A header cell → its comparable spelling: NFKC, lower case, no note in brackets or ``*``, ``_`` for spaces."""
    text = unicodedata.normalize("NFKC", str(name)).strip().lower()
    while True:
        shorter = _HEADER_NOTE.sub("", text)
        if shorter == text:
            break
        text = shorter
    return _HEADER_SPACES.sub("_", text)


def header_key(name: str) -> str | None:
    """The template column a header cell names, or None."""
    return _HEADER_WORDS.get(normalise_header(name))


def map_header(header: Sequence[str]) -> HeaderMap:
    """Locate the template columns in a header row, or raise ``HeaderError`` listing every problem."""
    cells = [str(cell) if cell is not None else "" for cell in header]
    while cells and not cells[-1].strip():  # spreadsheets keep empty trailing columns
        cells.pop()
    if not cells:
        raise HeaderError([header_problem(IssueCode.FILE_EMPTY)])
    problems: list[HeaderProblem] = []
    positions: dict[str, int] = {}
    ignored: set[int] = set()
    for index, cell in enumerate(cells):
        position = index + 1
        if not cell.strip():
            problems.append(header_problem(IssueCode.HEADER_BLANK, position=position))
            continue
        normalised = normalise_header(cell)
        if normalised in _ANNOTATIONS:
            ignored.add(index)
            continue
        key = _HEADER_WORDS.get(normalised)
        if key is None:
            # A file without its header row offers a data row here: ID numbers are masked like values.
            name = _shorten(_safe_value("", cell.strip()), 40)
            problems.append(header_problem(IssueCode.HEADER_UNKNOWN, position=position, name=name))
        elif key in positions:
            spec = COLUMNS_BY_KEY[key]
            first = positions[key] + 1
            duplicate = header_problem(
                IssueCode.HEADER_DUPLICATE, first=first, position=position, col_zh=spec.label_zh, col_en=key
            )
            problems.append(duplicate)
        else:
            positions[key] = index
    for column in COLUMNS:
        if column.is_header_required and column.key not in positions:
            problems.append(header_problem(IssueCode.HEADER_MISSING, col_zh=column.label_zh, col_en=column.key))
    if "uscc" not in positions and "person_id_number" not in positions:
        problems.append(header_problem(IssueCode.HEADER_SUBJECT_MISSING))
    if "person_id_number" in positions and "person_name" not in positions:
        problems.append(header_problem(IssueCode.HEADER_PERSON_NAME_MISSING))
    if problems:
        raise HeaderError(problems)
    return HeaderMap(tuple(cells), positions, frozenset(ignored))


def allowed_values(column: str) -> tuple[str, str]:
    """The allowed values of a choice column, as listed in messages and in the template (zh, en)."""
    labels = CHOICE_LABELS[column].values()
    return "、".join(zh for zh, _ in labels), ", ".join(en for _, en in labels)
