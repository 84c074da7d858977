"""Exports that are safe to open in a spreadsheet.

A text cell starting with ``= + - @``, a tab or a carriage return would be run as a formula
by Excel/WPS (CSV injection); such cells get a leading apostrophe. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV text with a UTF-8 BOM so Excel in China opens it without mojibake."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if cell is None else escape_cell(cell) for cell in row])
    return buffer.getvalue()
