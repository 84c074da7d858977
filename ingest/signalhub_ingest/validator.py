"""The fast batch path: apply ``rules`` to every row of an upload, collecting every issue in one pass.

A quarterly file may hold a million rows, and marshmallow validates ~51k rows/s (PERF.md): 20 s
per million before anything is written. This is plain Python over precomputed lookups (no
marshmallow, no object per cell, one regex pass over long free text only), aiming at 150k+ rows/s for valid
rows including both check characters. The form and the API use the same ``RowValidator`` through
``schemas.RecordInputSchema``, so a row gets one verdict whichever way it arrives.

Never fail-fast: every column of every row is checked and all problems are reported, so a liaison
fixes a file once. A row with any error yields no ``CleanRow``; warnings (a nonstandard USCC)
travel with a clean row and wait for the uploader's confirmation.

Check characters: the USCC and ID-number verdicts belong to ``signalhub_platform.identifiers``.
Their functions cost ~3 µs each per call, which alone would halve the throughput, so the common
case (a code whose check characters are right) is confirmed here with the identifiers' own
alphabets and weights over ``map``; anything else falls back to ``validate_uscc`` /
``validate_id_number`` for the verdict and the reason. A property test holds the fast path to
their answers.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, make_dataclass
from operator import getitem, itemgetter

from signalhub_ingest.rules import (
    COLUMN_KEYS,
    COLUMNS_BY_KEY,
    EARLIEST_DATE,
    FULL_WIDTH_ALNUM,
    KIND_WORDS,
    OPENNESS_WORDS,
    RISK_LEVEL_WORDS,
    HeaderError,
    HeaderMap,
    IssueCode,
    RowIssue,
    allowed_values,
    header_problem,
    make_issue,
    map_header,
    normalise_prose,
    normalise_text,
    parse_date,
)
from signalhub_platform.identifiers import resident_id, uscc
from signalhub_platform.identifiers.normalise import INVALID_FORMAT, INVALID_LENGTH, CheckStatus
from signalhub_platform.models.records import Openness, RecordKind, RiskLevel

__all__ = ["CleanRow", "RowValidator", "has_id_number", "row_warnings", "validate_rows", "validate_upload"]


@dataclass(frozen=True, slots=True)
class CleanRow:
    """One valid, normalised row. ``person_id_number`` is plaintext: keep it in memory, seal it, drop it."""

    row_number: int
    department_id: int
    kind: RecordKind
    risk_level: RiskLevel | None
    openness: Openness
    uscc: str | None
    uscc_status: str | None  # "valid" / "nonstandard"; None without a USCC
    entity_name: str
    person_name: str
    person_id_number: str | None
    category: str
    description: str
    occurred_on: dt.date
    source_ref: str


# CleanRow's layout without ``frozen``, generated from it so the two cannot drift: see ``_clean_row``.
_CleanRowBuilder = make_dataclass(
    "_CleanRowBuilder", [(field.name, field.type) for field in fields(CleanRow)], slots=True
)


def _clean_row(*values: object) -> CleanRow:
    """Build a CleanRow at a seventh of the cost of its frozen ``__init__``.

    A frozen dataclass sets each of its 14 fields through ``object.__setattr__`` (~1 µs a row,
    a sixth of the validator's budget). The builder has the same slots and no freeze; assigning
    ``__class__`` between classes of identical layout is supported CPython, and the result is a
    genuine, frozen CleanRow.
    """
    row = _CleanRowBuilder(*values)  # type: ignore[arg-type]
    row.__class__ = CleanRow  # type: ignore[assignment]
    return row  # type: ignore[return-value]


# --- check characters: the fast confirmation of the common case ---------------------------------

# One table per position, char -> value * weight, so a weighted sum is one map(getitem) in C.
_USCC_VALUES = {char: value for value, char in enumerate(uscc.ALPHABET)}
_USCC_TABLES = tuple({char: value * weight for char, value in _USCC_VALUES.items()} for weight in uscc.WEIGHTS)
_USCC_ALPHABET = uscc.ALPHABET
_ORG_VALUES = {char: int(char, 36) for char in uscc.PILOT_ALPHABET}
_ORG_TABLES = tuple({char: value * weight for char, value in _ORG_VALUES.items()} for weight in uscc.ORG_WEIGHTS)
# GB 11714: check = 11 - sum % 11, written "X" for 10 and "0" for 11; indexed by sum % 11.
_ORG_CHECK = tuple({10: "X", 11: "0"}.get(11 - remainder, str(11 - remainder)) for remainder in range(11))
_ID_TABLES = tuple({char: int(char) * weight for char in "0123456789"} for weight in resident_id.WEIGHTS)
_ID_CHECK_CHARS = resident_id.CHECK_CHARS
_EARLIEST_BIRTH = resident_id.EARLIEST_BIRTH_DATE


def _is_standard_uscc(code: str) -> bool:
    """True when an 18-character code's national and organisation check characters are both right."""
    try:
        total = sum(map(getitem, _USCC_TABLES, code))  # the 17 tables stop the map before the check char
        org_total = sum(map(getitem, _ORG_TABLES, code[8:16]))
    except KeyError:
        return False
    return _USCC_ALPHABET[-total % 31] == code[17] and _ORG_CHECK[org_total % 11] == code[16]


def _standard_id_number(number: str, today: dt.date) -> bool:
    """True when an 18-character number has digits, the right check character and a plausible birth date."""
    try:
        total = sum(map(getitem, _ID_TABLES, number))
    except KeyError:
        return False
    if _ID_CHECK_CHARS[total % 11] != number[17]:
        return False
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return _EARLIEST_BIRTH <= born <= today


# --- ID numbers typed into free text ----------------------------------------------------------

# Free text is shared with other agencies (and public records with everyone) as typed, so an ID
# number in it would be plaintext outside its sealed column (TESTS K7). A run of 15 digits is the
# cheap test every long text gets (C code, ~6 ns a character); only its rare hits meet the exact
# pattern, a run bounded by ASCII letters and digits (Chinese text runs straight into a number),
# and then the check digit (18) or the birth date (a first-generation 15-digit number).
_digit_run = re.compile("[0-9]{15}").search
_ID_IN_TEXT = re.compile("(?<![0-9A-Za-z])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")


def has_id_number(text: str, today: dt.date | None = None) -> bool:
    """Does ``text`` (normalised: ASCII digits) hold a run that is a valid resident ID number?

    18 characters with the right check character, or 15 digits with a possible birth date.
    """
    if len(text) < 15 or _digit_run(text) is None:
        return False
    for match in _ID_IN_TEXT.finditer(text):
        number = match.group().upper()
        if len(number) == 18:
            if _ID_CHECK_CHARS[sum(map(getitem, _ID_TABLES, number)) % 11] == number[17]:
                return True
        elif resident_id.validate_id_number(number, today=today).status is CheckStatus.VALID:
            return True
    return False


# --- cell text ---------------------------------------------------------------------------------

_nfkc = unicodedata.normalize


def _text(value: object) -> str:
    """A cell as normalised text (str from the readers; anything a form or JSON may carry)."""
    if value.__class__ is str:
        return value.strip() if value.isascii() else _nfkc("NFKC", value).strip()  # type: ignore[attr-defined]
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return normalise_text(str(value))


_full_width_search = FULL_WIDTH_ALNUM.search


def _prose(value: object) -> str:
    """Free text: full-width digits and letters only (``rules.normalise_prose``, inlined for speed)."""
    if value.__class__ is str:
        if value.isascii() or _full_width_search(value) is None:  # type: ignore[attr-defined, arg-type]
            return value.strip()  # type: ignore[attr-defined]
        return normalise_prose(value)  # type: ignore[arg-type]
    return _text(value)


def _department_lookup(departments: Mapping[str, int]) -> dict[str, int]:
    """Codes and names, normalised, plus an upper-case spelling so ``jd01`` finds ``JD01``."""
    lookup: dict[str, int] = {}
    for key, department_id in departments.items():
        lookup[normalise_text(key)] = department_id
    for key, department_id in list(lookup.items()):
        lookup.setdefault(key.upper(), department_id)
    return lookup


_KIND_ALLOWED = allowed_values("kind")
_RISK_LEVEL_ALLOWED = allowed_values("risk_level")
_OPENNESS_ALLOWED = allowed_values("openness")
_USCC_STATUS = {CheckStatus.VALID: "valid", CheckStatus.NONSTANDARD: "nonstandard"}


def _max_length(column: str) -> int:
    limit = COLUMNS_BY_KEY[column].max_length
    assert limit is not None, column
    return limit


# The limits ``rules`` declares (and the template and messages state), bound once for the hot loop.
_MAX_ENTITY_NAME = _max_length("entity_name")
_MAX_PERSON_NAME = _max_length("person_name")
_MAX_CATEGORY = _max_length("category")
_MAX_DESCRIPTION = _max_length("description")
_MAX_SOURCE_REF = _max_length("source_ref")


class RowValidator:
    """Validates the rows of one file (or single records) for one agency against one day.

    ``departments`` maps each of the agency's department codes and names to the department id.
    ``today`` is fixed for the whole file so that every row is judged against the same day.
    Per-file state: the ``source_ref`` values seen so far, to name both rows of a duplicate
    (a later row naming an earlier one's ref is the one reported). Memory for that is about
    130 bytes per row. ``track_duplicates=False`` for single records (the form and the API).
    """

    def __init__(self, departments: Mapping[str, int], *, today: dt.date, track_duplicates: bool = True) -> None:
        self.today = today
        self._departments = _department_lookup(departments)
        self._track_duplicates = track_duplicates
        self._seen_refs: dict[str, int] = {}
        self.header_map: HeaderMap | None = None
        self._width = 0
        self._pad = False
        self._pick = itemgetter(*range(len(COLUMN_KEYS)))

    # -- files ---------------------------------------------------------------------------------

    def map_header(self, header: Sequence[str]) -> HeaderMap:
        """Locate the columns (``HeaderError`` listing every problem) and prepare the row getter."""
        header_map = map_header(header)
        width = header_map.width
        # An absent column reads the padding cell just past the header.
        positions = [header_map.positions.get(key, width) for key in COLUMN_KEYS]
        self.header_map = header_map
        self._width = width
        self._pad = width in positions
        self._pick = itemgetter(*positions)
        return header_map

    def validate(self, row_number: int, cells: Sequence[object]) -> tuple[CleanRow | None, list[RowIssue]]:
        """One row of the file whose header went to ``map_header``: (the clean row or None, its issues)."""
        if self.header_map is None:
            raise RuntimeError("map_header() must be called before validate()")
        width = self._width
        extra: RowIssue | None = None
        if len(cells) != width or self._pad:
            if len(cells) > width:
                extra = self._extra_cells(row_number, cells)
                cells = cells[:width]
            cells = [*cells, *([""] * (width + 1 - len(cells)))]
        row, issues = self._check(row_number, *self._pick(cells))
        if extra is not None:
            issues.append(extra)
            row = None
        return row, issues

    def _extra_cells(self, row_number: int, cells: Sequence[object]) -> RowIssue | None:
        """The first non-blank cell right of the header: data the uploader meant but no column takes."""
        for index in range(self._width, len(cells)):
            text = _text(cells[index])
            if text:
                return make_issue(row_number, "", text, IssueCode.EXTRA_CELLS, position=index + 1)
        return None

    # -- single records ------------------------------------------------------------------------

    def validate_mapping(self, row_number: int, values: Mapping[str, object]) -> tuple[CleanRow | None, list[RowIssue]]:
        """A record keyed by the English column keys (form, API); absent keys count as empty."""
        get = values.get
        return self._check(row_number, *(get(key) for key in COLUMN_KEYS))

    # -- the rules -----------------------------------------------------------------------------

    def _check(
        self,
        row_number: int,
        department: object,
        kind: object,
        risk_level: object,
        openness: object,
        uscc_code: object,
        entity_name: object,
        person_name: object,
        person_id_number: object,
        category: object,
        description: object,
        occurred_on: object,
        source_ref: object,
    ) -> tuple[CleanRow | None, list[RowIssue]]:
        """One straight pass over the twelve columns, common case first; every problem is collected."""
        issues: list[RowIssue] = []

        text = _text(department)
        department_id = self._departments.get(text) if text else None
        if department_id is None:
            if text:
                department_id = self._departments.get(text.upper())
                if department_id is None:
                    issues.append(make_issue(row_number, "department", text, IssueCode.UNKNOWN_DEPARTMENT))
            else:
                issues.append(make_issue(row_number, "department", "", IssueCode.REQUIRED))

        text = _text(kind)
        kind_value = KIND_WORDS.get(text) if text else None
        if kind_value is None:
            if text:
                kind_value = KIND_WORDS.get(text.lower())
                if kind_value is None:
                    issues.append(_choice_issue(row_number, "kind", text, _KIND_ALLOWED))
            else:
                issues.append(make_issue(row_number, "kind", "", IssueCode.REQUIRED))

        text = _text(risk_level)
        level_value: RiskLevel | None = None
        if text:
            level_value = RISK_LEVEL_WORDS.get(text) or RISK_LEVEL_WORDS.get(text.lower())
            if level_value is None:
                issues.append(_choice_issue(row_number, "risk_level", text, _RISK_LEVEL_ALLOWED))
            elif kind_value is RecordKind.PENALTY:
                issues.append(make_issue(row_number, "risk_level", text, IssueCode.RISK_LEVEL_NOT_ALLOWED))
        elif kind_value is RecordKind.RISK:
            issues.append(make_issue(row_number, "risk_level", "", IssueCode.RISK_LEVEL_REQUIRED))

        text = _text(openness)
        openness_value = OPENNESS_WORDS.get(text) if text else None
        if openness_value is None:
            if text:
                openness_value = OPENNESS_WORDS.get(text.lower())
                if openness_value is None:
                    issues.append(_choice_issue(row_number, "openness", text, _OPENNESS_ALLOWED))
            else:
                issues.append(make_issue(row_number, "openness", "", IssueCode.REQUIRED))

        code = _text(uscc_code).upper()
        uscc_value: str | None = None
        uscc_status: str | None = None
        if code:
            if len(code) == 18 and _is_standard_uscc(code):
                uscc_value, uscc_status = code, "valid"
            else:
                check = uscc.validate_uscc(code)
                if check.status is CheckStatus.INVALID:
                    issues.append(_uscc_issue(row_number, code, check))
                else:
                    uscc_value, uscc_status = check.value, _USCC_STATUS[check.status]
                    if check.status is CheckStatus.NONSTANDARD:
                        issues.append(_nonstandard_issue(row_number, code, check))
            # A person's ID number typed as the code (a sole trader's, say) passes both USCC checks
            # one time in ~300 and would become an entity code, shown to everyone: refused as such.
            if uscc_value is not None and code[:17].isdigit() and _standard_id_number(code, self.today):
                issues.append(_id_in_text(row_number, "uscc", code))

        entity = _prose(entity_name)
        if len(entity) > _MAX_ENTITY_NAME:
            issues.append(_too_long(row_number, "entity_name", entity, _MAX_ENTITY_NAME))
        if len(entity) > 14 and _digit_run(entity) is not None and has_id_number(entity, self.today):
            issues.append(_id_in_text(row_number, "entity_name", entity))

        person = _prose(person_name)
        if len(person) > _MAX_PERSON_NAME:
            issues.append(_too_long(row_number, "person_name", person, _MAX_PERSON_NAME))
        if len(person) > 14 and _digit_run(person) is not None and has_id_number(person, self.today):
            issues.append(_id_in_text(row_number, "person_name", person))

        number = _text(person_id_number).upper()
        id_value: str | None = None
        if number:
            if len(number) == 18 and _standard_id_number(number, self.today):
                id_value = number
            else:
                id_check = resident_id.validate_id_number(number, today=self.today)
                if id_check.status is CheckStatus.VALID:
                    id_value = id_check.value
                else:
                    issues.append(_id_issue(row_number, number, id_check.reason))
            if not person:
                issues.append(make_issue(row_number, "person_name", "", IssueCode.PERSON_NAME_REQUIRED))
        if not code and not number:
            issues.append(make_issue(row_number, "uscc", "", IssueCode.SUBJECT_REQUIRED))

        category_text = _prose(category)
        if not category_text:
            issues.append(make_issue(row_number, "category", "", IssueCode.REQUIRED))
        elif len(category_text) > _MAX_CATEGORY:
            issues.append(_too_long(row_number, "category", category_text, _MAX_CATEGORY))
        if (
            len(category_text) > 14
            and _digit_run(category_text) is not None
            and has_id_number(category_text, self.today)
        ):
            issues.append(_id_in_text(row_number, "category", category_text))

        description_text = _prose(description)
        if len(description_text) > _MAX_DESCRIPTION:
            issues.append(_too_long(row_number, "description", description_text, _MAX_DESCRIPTION))
        if (
            len(description_text) > 14
            and _digit_run(description_text) is not None
            and has_id_number(description_text, self.today)
        ):
            issues.append(_id_in_text(row_number, "description", description_text))

        occurred: dt.date | None = None
        # The common spelling, 2026-03-01, without the general parser.
        if (
            occurred_on.__class__ is str
            and len(occurred_on) == 10  # type: ignore[arg-type]
            and occurred_on[4] == "-"  # type: ignore[index]
            and occurred_on[7] == "-"  # type: ignore[index]
        ):
            try:
                occurred = dt.date.fromisoformat(occurred_on)  # type: ignore[arg-type]
            except ValueError:
                occurred = None
        if occurred is None:
            text = _text(occurred_on)
            if not text:
                issues.append(make_issue(row_number, "occurred_on", "", IssueCode.REQUIRED))
            else:
                occurred = parse_date(occurred_on if occurred_on.__class__ is not str else text)
                if occurred is None:
                    issues.append(make_issue(row_number, "occurred_on", text, IssueCode.DATE_FORMAT))
        if occurred is not None:
            if occurred > self.today:
                issues.append(_date_issue(row_number, IssueCode.DATE_IN_FUTURE, occurred, self.today))
                occurred = None
            elif occurred < EARLIEST_DATE:
                issues.append(_date_issue(row_number, IssueCode.DATE_TOO_EARLY, occurred, self.today))
                occurred = None

        ref = _text(source_ref)
        if not ref:
            issues.append(make_issue(row_number, "source_ref", "", IssueCode.REQUIRED))
        elif len(ref) > _MAX_SOURCE_REF:
            issues.append(_too_long(row_number, "source_ref", ref, _MAX_SOURCE_REF))
        elif len(ref) > 14 and _digit_run(ref) is not None and has_id_number(ref, self.today):
            issues.append(_id_in_text(row_number, "source_ref", ref))
        elif self._track_duplicates:
            first_row = self._seen_refs.setdefault(ref, row_number)
            if first_row != row_number:
                code_issue = IssueCode.DUPLICATE_SOURCE_REF
                issues.append(make_issue(row_number, "source_ref", ref, code_issue, first_row=first_row))

        for issue in issues:
            if not issue.is_warning:
                return None, issues
        return (
            _clean_row(
                row_number,
                department_id,  # type: ignore[arg-type]
                kind_value,  # type: ignore[arg-type]
                level_value,
                openness_value,  # type: ignore[arg-type]
                uscc_value,
                uscc_status,
                entity,
                person,
                id_value,
                category_text,
                description_text,
                occurred,  # type: ignore[arg-type]
                ref,
            ),
            issues,
        )


# --- issue builders (the rare path) -------------------------------------------------------------


def _choice_issue(row_number: int, column: str, text: str, allowed: tuple[str, str]) -> RowIssue:
    return make_issue(row_number, column, text, IssueCode.INVALID_CHOICE, allowed_zh=allowed[0], allowed_en=allowed[1])


def _too_long(row_number: int, column: str, text: str, limit: int) -> RowIssue:
    return make_issue(row_number, column, text, IssueCode.TOO_LONG, max=limit, length=len(text))


def _uscc_issue(row_number: int, code: str, check: uscc.UsccCheck) -> RowIssue:
    if check.reason == INVALID_LENGTH:
        return make_issue(row_number, "uscc", code, IssueCode.USCC_LENGTH, length=len(code))
    if check.reason == INVALID_FORMAT:
        return make_issue(row_number, "uscc", code, IssueCode.USCC_FORMAT)
    if check.computed_check is not None and code[17] != check.computed_check:
        return make_issue(row_number, "uscc", code, IssueCode.USCC_CHECK, expected=check.computed_check)
    return make_issue(row_number, "uscc", code, IssueCode.USCC_ORG_CHECK, expected=check.computed_org_check)


def _nonstandard_issue(row_number: int, code: str, check: uscc.UsccCheck) -> RowIssue:
    expected = check.computed_check if code[17] != check.computed_check else check.computed_org_check
    return make_issue(row_number, "uscc", code, IssueCode.USCC_NONSTANDARD, expected=expected)


_ID_BIRTH_REASONS = {
    resident_id.REASON_BIRTH_DATE: ("不存在的日期", "no such date"),
    resident_id.REASON_TOO_OLD: ("早于 1880 年", "before 1880"),
    resident_id.REASON_FUTURE: ("晚于今天", "in the future"),
}


def _id_issue(row_number: int, number: str, reason: str | None) -> RowIssue:
    """The issue for an invalid ID number; ``make_issue`` masks the value, no message carries it."""
    if reason == INVALID_LENGTH:
        return make_issue(row_number, "person_id_number", number, IssueCode.ID_LENGTH, length=len(number))
    if reason == INVALID_FORMAT:
        return make_issue(row_number, "person_id_number", number, IssueCode.ID_FORMAT)
    if reason in _ID_BIRTH_REASONS:
        zh, en = _ID_BIRTH_REASONS[reason]
        return make_issue(row_number, "person_id_number", number, IssueCode.ID_BIRTH_DATE, reason_zh=zh, reason_en=en)
    return make_issue(row_number, "person_id_number", number, IssueCode.ID_CHECK)


def _id_in_text(row_number: int, column: str, text: str) -> RowIssue:
    """``make_issue`` masks the ID-shaped run in the value; the messages do not quote it."""
    return make_issue(row_number, column, text, IssueCode.ID_NUMBER_IN_TEXT)


def _date_issue(row_number: int, code: IssueCode, occurred: dt.date, today: dt.date) -> RowIssue:
    shown = occurred.isoformat()
    return make_issue(row_number, "occurred_on", shown, code, date=shown, today=today.isoformat())


# --- helpers for callers ------------------------------------------------------------------------


def row_warnings(row: CleanRow) -> list[RowIssue]:
    """The warnings a clean row carries (a nonstandard USCC), recomputed from the row itself.

    Lets the form and the API show the same warning as the batch path without keeping state.
    """
    if row.uscc is None or row.uscc_status != "nonstandard":
        return []
    return [_nonstandard_issue(row.row_number, row.uscc, uscc.validate_uscc(row.uscc))]


def validate_rows(
    validator: RowValidator, rows: Iterable[tuple[int, Sequence[object]]]
) -> Iterator[tuple[int, CleanRow | None, list[RowIssue]]]:
    """``(row_number, clean row or None, issues)`` per row, lazily; ``HeaderError`` if there is no row."""
    has_rows = False
    for row_number, cells in rows:
        has_rows = True
        row, issues = validator.validate(row_number, cells)
        yield row_number, row, issues
    if not has_rows:
        raise HeaderError([header_problem(IssueCode.HEADER_ONLY)])


def validate_upload(
    validator: RowValidator, header: Sequence[str], rows: Iterable[tuple[int, Sequence[object]]]
) -> Iterator[tuple[int, CleanRow | None, list[RowIssue]]]:
    """Map the header (raising ``HeaderError`` before any row) and validate the rows lazily."""
    validator.map_header(header)
    return validate_rows(validator, rows)
