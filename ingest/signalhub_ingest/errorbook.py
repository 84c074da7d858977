"""The downloadable error workbook: the rows of an upload as read, with their errors and warnings.

Choice: by default only the rows that have issues. A quarter's file may hold a million rows and
three mistakes; a liaison wants those three, each with its row number in the original file, not
a copy of everything to search through. The annotation columns come first (row number, errors,
warnings; the errors also highlight the offending cells), then the original columns in their
original order, and the sheet has the template's name and headers: after fixing the rows, the
workbook can be uploaded as it is (``rules`` ignores the three annotation columns), e.g. after
accepting the valid rows of the first upload. ``include_clean_rows=True`` writes every row (the
clean ones with empty annotation cells) for a liaison who prefers to fix and re-upload the whole
file.

Every text cell is escaped against formula injection (a leading apostrophe before ``= + - @``,
tab or carriage return), so opening the report in Excel or WPS never runs what an uploader typed
(TESTS W16). Text that is a plain number (``-5``) is written as a number: it cannot be a formula,
and it was a number in the uploaded sheet.

Row cells are the agency's own uploaded data (ID numbers included, so the liaison can correct
them); the report is generated on demand for the owning agency, or for the platform-office user
who uploaded the batch on its behalf, and never stored (the web layer's ``may_see_values``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from signalhub_ingest.rules import ERRORS_HEADER, ROW_NUMBER_HEADER, WARNINGS_HEADER, RowIssue, header_key

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

__all__ = ["FORMULA_PREFIXES", "build_error_csv", "build_error_workbook", "escape_cell"]

# The same rule as ``signalhub_platform.sharing.export.escape_cell`` (a test keeps them equal):
# ingest and sharing are independent layers, so neither imports the other.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A plain decimal number: "0512" is a code, not a number; 16+ digits would lose precision in Excel.
_PLAIN_NUMBER = re.compile(r"-?(0|[1-9]\d{0,14})(\.\d+)?", re.ASCII)
_ANNOTATIONS = (ROW_NUMBER_HEADER, ERRORS_HEADER, WARNINGS_HEADER)
_ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")
_WARNING_FILL = PatternFill("solid", fgColor="FFEB9C")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")

RowWithIssues = tuple[int, Sequence[object], Sequence[RowIssue]]


def escape_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _safe_value(value: object) -> object:
    """A cell as written to the report: plain numbers as numbers, other text escaped, dates as dates."""
    if value is None:
        return None
    if isinstance(value, str):
        if _PLAIN_NUMBER.fullmatch(value):
            number: int | float = float(value) if "." in value else int(value)
            if repr(number) == value:  # only when the number reads back exactly as typed ("1.50" stays text)
                return number
        return escape_cell(value)
    if isinstance(value, bool | int | float | dt.date):
        return value
    return escape_cell(str(value))


def _issue_text(issues: Iterable[RowIssue]) -> str:
    """All issues of a row, one per line, Chinese first."""
    return "\n".join(f"{issue.message_zh}（{issue.message_en}）" for issue in issues)


def _split(issues: Sequence[RowIssue]) -> tuple[list[RowIssue], list[RowIssue]]:
    errors = [issue for issue in issues if not issue.is_warning]
    warnings = [issue for issue in issues if issue.is_warning]
    return errors, warnings


def _column_positions(header: Sequence[str]) -> dict[str, int]:
    """Template column key -> position in the uploaded header (unrecognised cells are skipped)."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        key = header_key(str(name)) if name is not None else None
        if key is not None and key not in positions:
            positions[key] = index
    return positions


def build_error_workbook(
    header: Sequence[str],
    rows_with_issues: Iterable[RowWithIssues],
    *,
    include_clean_rows: bool = False,
    sheet_name: str = "监管信息",
) -> bytes:
    """XLSX bytes: ``(row_number, cells as read, issues)`` per row, in the order given.

    Written in openpyxl's write-only mode, so memory stays flat however many rows are passed.
    """
    workbook = Workbook(write_only=True)
    sheet: WriteOnlyWorksheet = workbook.create_sheet(sheet_name)
    positions = _column_positions(header)
    width = len(header)
    for index, size in enumerate((10, 50, 40), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = size
    for index in range(width):
        sheet.column_dimensions[get_column_letter(index + 4)].width = 16
    sheet.freeze_panes = "D2"
    sheet.append([_styled(sheet, name, font=_BOLD, fill=_HEADER_FILL) for name in (*_ANNOTATIONS, *header)])
    for row_number, cells, issues in rows_with_issues:
        if not issues and not include_clean_rows:
            continue
        errors, warnings = _split(issues)
        fills: dict[int, PatternFill] = {}
        for issue in warnings:
            if issue.column in positions:
                fills[positions[issue.column]] = _WARNING_FILL
        for issue in errors:
            if issue.column in positions:
                fills[positions[issue.column]] = _ERROR_FILL
        row: list[object] = [
            row_number,
            _styled(sheet, _issue_text(errors), alignment=_WRAP) if errors else None,
            _styled(sheet, _issue_text(warnings), alignment=_WRAP) if warnings else None,
        ]
        for index, value in enumerate(cells):
            fill = fills.get(index)
            row.append(_styled(sheet, value, fill=fill) if fill is not None else _safe_value(value))
        sheet.append(row)
    _write_notes(workbook.create_sheet("说明"), include_clean_rows)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _styled(
    sheet: WriteOnlyWorksheet,
    value: object,
    *,
    font: Font | None = None,
    fill: PatternFill | None = None,
    alignment: Alignment | None = None,
) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, _safe_value(value))
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    if alignment is not None:
        cell.alignment = alignment
    if isinstance(value, dt.date):
        cell.number_format = "yyyy-mm-dd"
    return cell


def _write_notes(sheet: WriteOnlyWorksheet, include_clean_rows: bool) -> None:
    scope = ("本表包含上传文件的全部行。", "This sheet has every row of the upload.")
    if not include_clean_rows:
        scope = ("本表只列出有错误或提示的行。", "This sheet lists only the rows with errors or warnings.")
    for zh, en in (
        scope,
        (
            f"“{ROW_NUMBER_HEADER}”是该行在原文件中的行号；红色单元格有错误，黄色单元格有提示。",
            "The row number is the row's number in the uploaded file; red cells have errors, yellow ones warnings.",
        ),
        (
            "改正后可直接上传本表：前三列会被忽略。",
            "Once fixed, this workbook can be uploaded as it is: the first three columns are ignored.",
        ),
    ):
        sheet.append([zh, en])


def build_error_csv(
    header: Sequence[str], rows_with_issues: Iterable[RowWithIssues], *, include_clean_rows: bool = False
) -> bytes:
    """The same report as CSV (UTF-8 with a BOM, for Excel in China), escaped the same way."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_value(name) for name in (*_ANNOTATIONS, *header)])
    for row_number, cells, issues in rows_with_issues:
        if not issues and not include_clean_rows:
            continue
        errors, warnings = _split(issues)
        annotations = [row_number, _issue_text(errors), _issue_text(warnings)]
        writer.writerow([*(_csv_value(value) for value in annotations), *(_csv_value(value) for value in cells)])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def _csv_value(value: object) -> object:
    value = _safe_value(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else value
