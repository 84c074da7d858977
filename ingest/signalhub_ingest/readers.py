"""Pure reading of CSV and XLSX files into a header and an iterator of numbered rows.

Nothing here knows a column's meaning: every cell comes back as a stripped ``str`` (empty for a
blank cell), so validation has one input type whatever the file format. Row numbers are the ones
a user sees when opening the file in a spreadsheet (the header is row 1), so error reports point
at the right line.

CSV: UTF-8 with or without a BOM, else GB18030 (a superset of GBK, which Excel on Chinese
Windows writes). The choice is made by validating the whole file first, in chunks, because a
wrong guess would store mojibake rather than fail. XLSX: the first sheet, through
python-calamine (an order of magnitude faster than openpyxl, see PERF.md).

Hostile-file hardening (zip bombs, entity expansion, size limits) comes with the upload path;
for now a file named ``.xlsx`` that is not a zip container is refused with a clear error.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import python_calamine

CSV_SUFFIXES = frozenset({".csv", ".txt"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 1 << 20

Row = tuple[int, dict[str, str]]


class ReaderError(ValueError):
    """The file cannot be read as a table; the message is safe to show to the operator."""


@dataclass
class Table:
    """A header (normalised: stripped, lower-case) and the data rows, read lazily."""

    header: list[str]
    rows: Iterator[Row]
    encoding: str  # "utf-8", "utf-8-sig", "gb18030" or "xlsx"


@contextmanager
def open_table(path: Path) -> Iterator[Table]:
    """Open a CSV or XLSX file by its suffix; the rows are valid only inside the ``with`` block."""
    suffix = path.suffix.lower()
    if suffix in XLSX_SUFFIXES:
        with _open_xlsx(path) as table:
            yield table
    elif suffix in CSV_SUFFIXES:
        with _open_csv(path) as table:
            yield table
    else:
        raise ReaderError(f"unsupported file type {suffix or '(none)'!r}: use .csv or .xlsx")


def detect_csv_encoding(path: Path) -> str:
    """Return the codec that decodes the whole file, or raise ``ReaderError`` naming the byte offset."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ReaderError("the CSV file is UTF-16; save it as 'CSV UTF-8' (or GBK) instead")
    if head.startswith(codecs.BOM_UTF8):
        offset = _first_undecodable(path, "utf-8")
        if offset is not None:
            raise ReaderError(f"the CSV file starts with a UTF-8 BOM but is not valid UTF-8 (byte {offset})")
        return "utf-8-sig"
    if _first_undecodable(path, "utf-8") is None:
        return "utf-8"
    offset = _first_undecodable(path, "gb18030")
    if offset is None:
        return "gb18030"
    raise ReaderError(f"the CSV file is neither UTF-8 nor GBK/GB18030 (undecodable byte {offset}); save it as UTF-8")


def _first_undecodable(path: Path, encoding: str) -> int | None:
    """Byte offset of the first decoding error (approximate within a chunk), or None if it decodes."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    position = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return position + max(exc.start, 0)
            if not chunk:
                return None
            position += len(chunk)


@contextmanager
def _open_csv(path: Path) -> Iterator[Table]:
    encoding = detect_csv_encoding(path)
    with path.open("r", encoding=encoding, newline="") as handle:
        reader = csv.reader(handle)
        try:
            first = next(reader, None)
        except csv.Error as exc:
            raise ReaderError(f"row 1: malformed CSV: {exc}") from exc
        if first is None:
            raise ReaderError("the file is empty: expected a header row")
        # A GB18030 BOM decodes to U+FEFF; the utf-8-sig codec already dropped the UTF-8 one.
        if first:
            first[0] = first[0].removeprefix("\ufeff")
        header = _normalise_header(first)
        yield Table(header, _csv_rows(reader, header), encoding)


def _csv_rows(reader: Iterator[list[str]], header: list[str]) -> Iterator[Row]:
    row_number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ReaderError(f"row {row_number + 1}: malformed CSV: {exc}") from exc
        row_number += 1
        row = _to_row(row_number, [cell.strip() for cell in cells], header)
        if row is not None:
            yield row


@contextmanager
def _open_xlsx(path: Path) -> Iterator[Table]:
    with path.open("rb") as handle:
        magic = handle.read(len(ZIP_MAGIC))
    if magic != ZIP_MAGIC:
        raise ReaderError("the file is named .xlsx but is not an XLSX workbook (not a zip container)")
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several unrelated types for one cause: unreadable
        raise ReaderError(f"the XLSX workbook cannot be read: {type(exc).__name__}") from exc
    with workbook:
        if not workbook.sheet_names:
            raise ReaderError("the XLSX workbook has no sheet")
        sheet = workbook.get_sheet_by_index(0)
        # iter_rows starts at the sheet's first row, blank ones included, so enumerate gives Excel's numbers.
        numbered = enumerate(sheet.iter_rows(), start=1)
        for row_number, values in numbered:
            texts = [_cell_text(value) for value in values]
            if any(texts):  # the header is the first non-blank row
                header = _normalise_header(texts, row_number)
                yield Table(header, _xlsx_rows(numbered, header), "xlsx")
                return
        raise ReaderError("the first sheet is empty: expected a header row")


def _xlsx_rows(numbered: Iterator[tuple[int, Sequence[object]]], header: list[str]) -> Iterator[Row]:
    for row_number, values in numbered:
        row = _to_row(row_number, [_cell_text(value) for value in values], header)
        if row is not None:
            yield row


def _cell_text(value: object) -> str:
    """Spreadsheet cell -> text: whole numbers lose their ``.0``, dates become ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _normalise_header(cells: list[str], row_number: int = 1) -> list[str]:
    header = [cell.strip().lower() for cell in cells]
    while header and not header[-1]:  # Excel often leaves empty trailing columns
        header.pop()
    if not header:
        raise ReaderError(f"row {row_number}: the header row is empty")
    seen: set[str] = set()
    for name in header:
        if not name:
            raise ReaderError(f"row {row_number}: a header cell is empty")
        if name in seen:
            raise ReaderError(f"row {row_number}: column {name!r} appears twice")
        seen.add(name)
    return header


def _to_row(row_number: int, cells: list[str], header: list[str]) -> Row | None:
    """Cells -> ``(row_number, {column: value})``; None for a blank row."""
    if not any(cells):
        return None
    if len(cells) > len(header) and any(cells[len(header) :]):
        raise ReaderError(f"row {row_number}: more values than header columns ({len(header)})")
    values = dict.fromkeys(header, "")
    values.update(zip(header, cells, strict=False))
    return row_number, values


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes, streamed: identifies the exact file in the audit log."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
