"""Pure reading of CSV and XLSX files into a header and an iterator of numbered rows.

Nothing here knows a column's meaning. Row numbers are the ones a user sees when opening the file
in a spreadsheet (the header is row 1, blank rows count), so error reports point at the right line.

Two entry points:

- ``open_table(path)`` (reference imports): every cell a stripped ``str`` in a dict keyed by the
  lower-cased header.
- ``open_upload(path, filename)`` (agency uploads, which are hostile until proven otherwise):
  the type is sniffed from the bytes and must match the extension, an XLSX container is checked
  before anything inflates or parses it, and rows come back as lists of cells (no dict per row:
  a million-row upload is validated at 150k+ rows/s, see PERF.md).

CSV: UTF-8 with or without a BOM, else GB18030 (a superset of GBK, which Excel on Chinese Windows
writes). The whole file is validated first, in 1 MiB chunks so memory stays flat, because a wrong
guess would store mojibake rather than fail; a file that is UTF-8 for a while and then is not is
refused as mixed rather than decoded as GB18030. XLSX: python-calamine (an order of magnitude
faster than openpyxl, see PERF.md), only after ``precheck_xlsx``:

- the central directory's declared sizes (total, and compression ratio per large entry) are
  checked without inflating anything: a zip bomb costs a directory read;
- entry names with ``..``, absolute paths, drive letters or backslashes are refused;
- the small parts that say what the file is ([Content_Types].xml, the workbook part) are parsed
  with defusedxml, and every XML part is streamed once (bounded by its declared size, which the
  CRC check at its end then proves, so a lying directory cannot smuggle a bomb past the ratio
  check) looking for ``<!DOCTYPE``, without which no entity can be declared: calamine's parser
  never sees an entity-expansion bomb;
- the same pass bounds the grid calamine will allocate, (last row) × (last column) cells whatever
  lies between: one cell at ``XFD1048576`` besides ``A1`` asks for 512 GiB. The
  ``<dimension ref>`` and the largest cell reference are held to ``XlsxLimits``' rows, columns
  and cells, and a cell without a reference of its own is refused (calamine places it after the
  previous one: 20,000 of them in 3 KB push a later row out to a 64 GB grid).

Every error is a ``ReaderError`` whose message (English, ``str(exc)``) and ``message_zh`` are safe
to show the uploader.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import hashlib
import io
import re
import struct
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Literal
from xml.etree.ElementTree import Element, ParseError

import python_calamine
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

CSV_SUFFIXES = frozenset({".csv", ".txt"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 1 << 20
MiB = 1 << 20

Row = tuple[int, dict[str, str]]
CellsRow = tuple[int, list[str]]
UploadKind = Literal["csv", "xlsx"]


class ReaderError(ValueError):
    """The file cannot be read as a table; both messages are safe to show to the uploader."""

    def __init__(self, message: str, *, zh: str = "") -> None:
        super().__init__(message)
        self.message_en = message
        self.message_zh = zh or message


class UnsupportedFile(ReaderError):
    """The bytes are not what the extension claims, or the type is not accepted (HTTP 400)."""


class UnsafeFile(ReaderError):
    """The container is hostile or broken: zip bomb, path traversal, XML entities."""


class EmptyFile(ReaderError):
    """No header, or a header and no data rows. ``code`` is ``file_empty`` or ``header_only``."""

    def __init__(self, code: str, message: str, *, zh: str) -> None:
        super().__init__(message, zh=zh)
        self.code = code


def _empty_file() -> EmptyFile:
    return EmptyFile(
        "file_empty", "the file is empty: its first row must be the header", zh="文件为空：第一行应为列标题"
    )


def _header_only() -> EmptyFile:
    return EmptyFile("header_only", "the file has a header but no data rows", zh="文件只有列标题，没有数据行")


@dataclass
class Table:
    """A header (normalised: stripped, lower-case) and the data rows, read lazily."""

    header: list[str]
    rows: Iterator[Row]
    encoding: str  # "utf-8", "utf-8-sig", "gb18030" or "xlsx"


@dataclass
class UploadTable:
    """An upload's header cells as written (stripped) and its non-blank rows as lists of cells.

    Cells are text as read (text cells unstripped: the validator normalises them anyway);
    a row may be shorter or longer than the header.
    """

    kind: UploadKind
    header: list[str]
    rows: Iterator[CellsRow]
    encoding: str  # as in Table
    header_row: int = 1


# --- sniffing ----------------------------------------------------------------------------------

_SNIFF_BYTES = 64 * 1024
# (magic, what it is in the uploader's words (en, zh)), checked against the first bytes.
_MAGICS: tuple[tuple[bytes, str, str], ...] = (
    (b"PK\x03\x04", "a zip archive (an XLSX workbook is one)", "zip 压缩包（XLSX 工作簿即为此格式）"),
    (b"PK\x05\x06", "an empty zip archive", "空的 zip 压缩包"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old .xls or a password-protected workbook", "旧版 .xls 或加密的工作簿"),
    (b"MZ", "a Windows program", "Windows 可执行程序"),
    (b"\x7fELF", "a program", "可执行程序"),
    (b"%PDF-", "a PDF document", "PDF 文档"),
    (b"\x89PNG", "a PNG image", "PNG 图片"),
    (b"\xff\xd8\xff", "a JPEG image", "JPEG 图片"),
    (b"GIF8", "a GIF image", "GIF 图片"),
    (b"Rar!", "a RAR archive", "RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "7-Zip 压缩包"),
    (b"\x1f\x8b", "a gzip archive", "gzip 压缩包"),
    (b"{\\rtf", "an RTF document", "RTF 文档"),
)
_SUFFIX_ADVICE: dict[str, tuple[str, str]] = {
    ".xls": (
        "old .xls workbooks are not accepted: open it in Excel or WPS and save it as .xlsx",
        "不支持旧版 .xls 工作簿：请用 Excel 或 WPS 另存为 .xlsx",
    ),
    ".xlsm": (
        "macro-enabled workbooks are not accepted: save it as .xlsx",
        "不支持含宏的工作簿：请另存为 .xlsx",
    ),
    ".et": ("WPS .et workbooks are not accepted: save it as .xlsx", "不支持 WPS .et 格式：请另存为 .xlsx"),
}


def _read_head(source: Path | str | bytes, size: int = _SNIFF_BYTES) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source[:size])
    with Path(source).open("rb") as handle:
        return handle.read(size)


def _looks_like(head: bytes) -> tuple[str, str] | None:
    for magic, en, zh in _MAGICS:
        if head.startswith(magic):
            return en, zh
    return None


def sniff_upload(source: Path | str | bytes, filename: str) -> UploadKind:
    """``"csv"`` or ``"xlsx"`` when the bytes match the name's extension, else ``UnsupportedFile``.

    Only ``.csv`` and ``.xlsx`` are accepted: a liaison fills in the template, and every other
    type (a renamed program, ``.xls``, ``.xlsm``, a zip, a PDF, a binary "CSV") is refused with a
    message saying what the file really looks like. Reads at most the first 64 KiB.
    """
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    head = _read_head(source)
    if not head:
        raise _empty_file()
    seen = _looks_like(head)
    if suffix == ".xlsx":
        if head.startswith(ZIP_MAGIC):
            return "xlsx"
        en, zh = seen or ("not a workbook", "不是工作簿")
        raise UnsupportedFile(
            f"unsupported file: named .xlsx but the content is {en}", zh=f"不支持的文件：文件名为 .xlsx，但内容是{zh}"
        )
    if suffix == ".csv":
        if seen is not None:
            en, zh = seen
            raise UnsupportedFile(
                f"unsupported file: named .csv but the content is {en}", zh=f"不支持的文件：文件名为 .csv，但内容是{zh}"
            )
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise UnsupportedFile(
                "the CSV file is UTF-16; save it as 'CSV UTF-8' (or GBK) instead",
                zh="CSV 文件为 UTF-16 编码，请另存为“CSV UTF-8”或 GBK 编码",
            )
        if b"\x00" in head:
            raise UnsupportedFile(
                "unsupported file: named .csv but the content is binary, not text",
                zh="不支持的文件：文件名为 .csv，但内容不是文本",
            )
        return "csv"
    if suffix in _SUFFIX_ADVICE:
        en, zh = _SUFFIX_ADVICE[suffix]
        raise UnsupportedFile(f"unsupported file: {en}", zh=f"不支持的文件：{zh}")
    raise UnsupportedFile(
        f"unsupported file type {suffix or '(none)'!r}: upload .xlsx or .csv",
        zh=f"不支持的文件类型 {suffix or '（无扩展名）'}：请上传 .xlsx 或 .csv 文件",
    )


# --- the XLSX precheck -------------------------------------------------------------------------


@dataclass(frozen=True)
class XlsxLimits:
    """What a legitimate workbook never exceeds. A 1M-row template sheet is ~250 MB of XML."""

    max_total_uncompressed: int = 512 * MiB
    # Sheets of repeated text compress up to ~100:1 in practice; zip bombs reach 1000:1 and more.
    max_ratio: float = 200.0
    ratio_min_size: int = MiB  # small parts (styles, one-cell sheets) may compress better
    max_entries: int = 10_000
    max_metadata_part: int = 16 * MiB  # [Content_Types].xml and the workbook part, parsed in memory
    # The grid calamine allocates, ~32 bytes a cell, empty ones included. The template's million
    # rows and a header fit (Excel itself stops at 1,048,576 rows), and so do its 12 columns (15
    # in an error workbook) with room for more: 1,000,001 × 12 is 12M cells, about 400 MB.
    max_rows: int = 1_100_000
    max_columns: int = 64
    max_cells: int = 20_000_000

    def __post_init__(self) -> None:
        # The grid scan reads at most eight digits and four letters of a reference (``_REFERENCE``).
        if not (0 < self.max_rows < 10**7 and 0 < self.max_columns < 18_279):
            raise ValueError("max_rows must be below 10,000,000 and max_columns below 18,279")


DEFAULT_XLSX_LIMITS = XlsxLimits()


@dataclass(frozen=True)
class XlsxInfo:
    entries: int
    total_uncompressed: int
    workbook_part: str
    sheets: int
    is_macro_enabled: bool


_CONTENT_TYPES = "[Content_Types].xml"
_MAIN_CONTENT_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": False,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": False,
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": True,
    "application/vnd.ms-excel.template.macroEnabled.main+xml": True,
}
_XML_SUFFIXES = (".xml", ".rels", ".vml")
# Entities (and so entity bombs) can only be declared inside a DOCTYPE. XML is UTF-8 unless a
# BOM (or "<" followed by a NUL) says UTF-16, so one pattern per part is searched.
_DOCTYPE = "<!DOCTYPE"
_DOCTYPE_BY_START = (
    ((codecs.BOM_UTF16_LE, b"<\x00"), _DOCTYPE.encode("utf-16-le")),
    ((codecs.BOM_UTF16_BE, b"\x00<"), _DOCTYPE.encode("utf-16-be")),
)
# The codec that turns a part starting so into text (the BOM-aware one consumes a BOM).
_UTF16_BY_START = (
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
_EOCD = b"PK\x05\x06"


def _unsafe(en: str, zh: str) -> UnsafeFile:
    return UnsafeFile(f"the workbook was refused: {en}", zh=f"工作簿被拒收：{zh}")


def _declared_entry_count(handle: IO[bytes]) -> int:
    """Entries named by the end-of-central-directory record, read before zipfile builds its index."""
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    tail_size = min(size, 22 + 65535)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    position = tail.rfind(_EOCD)
    if position < 0 or position + 22 > len(tail):
        raise ReaderError(
            "the XLSX workbook cannot be read: it is not a complete zip container",
            zh="无法读取该 XLSX 工作簿：文件不是完整的 zip 格式（可能已损坏）",
        )
    (total,) = struct.unpack_from("<H", tail, position + 10)
    return int(total)


def _check_entry_name(name: str) -> None:
    parts = name.split("/")
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in parts or "\x00" in name:
        raise _unsafe(f"an entry has an unsafe path {name[:80]!r}", f"内含不安全的路径 {name[:80]!r}")


def precheck_xlsx(source: Path | str | bytes, limits: XlsxLimits = DEFAULT_XLSX_LIMITS) -> XlsxInfo:
    """Prove an XLSX container harmless before calamine opens it; raise ``UnsafeFile``/``ReaderError``.

    Cost: one read of the central directory, two small defused parses, and one streamed pass over
    the XML parts (about 0.1 s per 100k rows), never more than the declared sizes allow.
    """
    handle: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb")  # noqa: SIM115 - closed below
    try:
        if handle.read(len(ZIP_MAGIC)) != ZIP_MAGIC:
            raise UnsupportedFile(
                "the file is named .xlsx but is not an XLSX workbook (not a zip container)",
                zh="文件名为 .xlsx，但不是 XLSX 工作簿（不是 zip 格式）",
            )
        if _declared_entry_count(handle) > limits.max_entries:
            raise _unsafe("too many entries in the container", "压缩包内文件数量过多")
        handle.seek(0, io.SEEK_END)
        archive_size = handle.tell()
        handle.seek(0)
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as exc:
            raise ReaderError(
                f"the XLSX workbook cannot be read: {type(exc).__name__}",
                zh="无法读取该 XLSX 工作簿：文件已损坏或不是有效的工作簿",
            ) from exc
        with archive:
            return _check_archive(archive, archive_size, limits)
    finally:
        handle.close()


def _check_archive(archive: zipfile.ZipFile, archive_size: int, limits: XlsxLimits) -> XlsxInfo:
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise _unsafe("too many entries in the container", "压缩包内文件数量过多")
    names: set[str] = set()
    total = compressed_total = 0
    for info in infos:
        _check_entry_name(info.filename)
        if info.filename in names:
            raise _unsafe(f"the entry {info.filename[:80]!r} appears twice", f"内含重复的条目 {info.filename[:80]!r}")
        names.add(info.filename)
        if info.flag_bits & 0x1:
            raise _unsafe("it contains encrypted entries", "内含加密内容")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _unsafe("it uses an unusual compression method", "使用了不常见的压缩方式")
        total += info.file_size
        compressed_total += info.compress_size
        if info.file_size > limits.ratio_min_size and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _unsafe(
                f"an entry expands more than {limits.max_ratio:g} times (a zip bomb)",
                f"内含压缩比超过 {limits.max_ratio:g} 倍的内容（疑似压缩炸弹）",
            )
        if total > limits.max_total_uncompressed:
            raise _unsafe(
                f"it would expand to more than {limits.max_total_uncompressed // MiB} MiB",
                f"解压后将超过 {limits.max_total_uncompressed // MiB} MiB",
            )
    if compressed_total > archive_size:  # overlapping entries: the "better zip bomb" trick
        raise _unsafe("its entries overlap", "内含相互重叠的条目")
    if _CONTENT_TYPES not in names:
        raise _not_a_workbook()
    content_types = _parse_small_part(archive, _CONTENT_TYPES, limits)
    workbook_part, is_macro_enabled = _main_part(content_types)
    if workbook_part not in names:
        raise ReaderError(
            "the XLSX workbook cannot be read: its workbook part is missing",
            zh="无法读取该 XLSX 工作簿：缺少工作簿部件",
        )
    workbook = _parse_small_part(archive, workbook_part, limits)
    sheets = sum(1 for element in workbook.iter() if element.tag.rsplit("}", 1)[-1] == "sheet")
    if not sheets:
        raise ReaderError("the XLSX workbook has no sheet", zh="该 XLSX 工作簿没有工作表")
    is_macro_enabled = is_macro_enabled or any(name.lower().endswith("vbaproject.bin") for name in names)
    for info in infos:
        if info.filename.lower().endswith(_XML_SUFFIXES):
            _scan_xml_part(archive, info, limits)
    return XlsxInfo(len(infos), total, workbook_part, sheets, is_macro_enabled)


def _parse_small_part(archive: zipfile.ZipFile, name: str, limits: XlsxLimits) -> Element:
    info = archive.getinfo(name)
    if info.file_size > limits.max_metadata_part:
        raise _unsafe(f"the part {name!r} is implausibly large", f"部件 {name!r} 大小异常")
    try:
        data = archive.read(name)
        return defused_fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise _unsafe("it contains XML entity declarations", "内含 XML 实体声明") from exc
    except (ParseError, zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ReaderError(
            f"the XLSX workbook cannot be read: {name} is damaged", zh=f"无法读取该 XLSX 工作簿：{name} 已损坏"
        ) from exc


def _main_part(content_types: Element) -> tuple[str, bool]:
    for element in content_types.iter():
        if element.tag.rsplit("}", 1)[-1] != "Override":
            continue
        content_type = element.get("ContentType", "")
        if content_type in _MAIN_CONTENT_TYPES:
            return element.get("PartName", "").lstrip("/"), _MAIN_CONTENT_TYPES[content_type]
    raise _not_a_workbook()


def _not_a_workbook() -> UnsupportedFile:
    return UnsupportedFile(
        "unsupported file: the zip container is not an XLSX workbook", zh="不支持的文件：该 zip 文件不是 XLSX 工作簿"
    )


def _scan_xml_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: XlsxLimits) -> None:
    """Stream one XML part once: no DTD, and a grid within the limits (reading to the end proves the CRC).

    Every XML part is looked at for cells, not only those named like worksheets: calamine finds
    its sheets through the workbook's relationships, which may point anywhere.
    """
    marker = _DOCTYPE.encode()
    tail = b""
    grid = _Grid(limits)
    encoding = ""
    try:
        with archive.open(info) as part:
            first = True
            while chunk := part.read(_CHUNK):
                if first:
                    first = False
                    for starts, encoded in _DOCTYPE_BY_START:
                        if chunk.startswith(starts):
                            marker = encoded
                    encoding = next((codec for start, codec in _UTF16_BY_START if chunk.startswith(start)), "")
                    grid.set_encoding(encoding)
                if marker in chunk or (tail and marker in tail + chunk[: len(marker) - 1]):
                    raise _unsafe(
                        f"{info.filename} declares a DTD or XML entities", f"{info.filename} 内含 DTD 或 XML 实体声明"
                    )
                tail = chunk[1 - len(marker) :]
                grid.scan(chunk)
        grid.scan(b"", is_last=True)
        if grid.needs_last_row:
            grid.rows = max(grid.rows, _last_row(archive, info, encoding))
        grid.check()
    except ReaderError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ReaderError(
            f"the XLSX workbook cannot be read: {info.filename} is damaged",
            zh=f"无法读取该 XLSX 工作簿：{info.filename} 已损坏",
        ) from exc


# --- the grid calamine will allocate ------------------------------------------------------------

# Every cell must carry its reference as its first attribute, ``<c r="B7"``, as Excel, WPS,
# LibreOffice, openpyxl, xlsxwriter and Apache POI write it (``<x:c r=`` with a prefix, which
# calamine ignores). Anything else (no ``r``, another attribute first, single quotes, ``<c/>``)
# is refused rather than simulated, so the references alone give the grid. The plain pattern has
# a literal prefix, so the regex engine skims to candidates; the prefixed one costs more and runs
# only on text holding ":c". No element name is 200 characters long: refusing those keeps a
# prefix from outrunning the window overlap.
_CELL_WITHOUT_REFERENCE = re.compile(rb'<c(?! r=")[\s/>]')
_PREFIXED_CELL_WITHOUT_REFERENCE = re.compile(rb'<[^\s<>/!?:]{1,200}:c(?! r=")[\s/>]')
_LONG_PREFIXED_CELL = re.compile(rb":c(?<=[^\s<>/!?:]{200}:c)[\s/>]")
_DIMENSION = re.compile(rb"""dimension\b[^>]{0,200}?\sref\s*=\s*["']([^"']{0,40})""")
# Letters then digits (calamine accepts lower case too). Four letters or eight digits are past
# any limit already, so a capture never needs the rest of a longer reference.
_REFERENCE = re.compile(rb"([A-Za-z]{1,4})([0-9]{0,8})")
_ALL_ROWS = re.compile(rb'c r="[A-Za-z]{1,3}([0-9]{1,7})')
# Windows overlap by more than the longest match, so whatever a chunk boundary cuts is seen whole in
# the next window; a match starting in the last ``_UNDECIDED`` bytes may yet be completed there.
_OVERLAP = 512
_UNDECIDED = 240


@functools.cache
def _far_reference(narrow_columns: int, row_digits: int) -> re.Pattern[bytes]:
    """Cell references that could break a limit, and only those: a template sheet has few or none.

    Columns up to ``narrow_columns`` (``max_cells // max_rows``) cannot break the cell limit
    while the rows keep theirs, and rows with fewer digits than ``max_rows`` cannot break the
    row limit; only the other references are matched and parsed, every ordinary cell costs the
    regex engine one failed lookahead.
    """
    wide = [rb"[A-Za-z]{2}", b"[A-Za-z][0-9]{%d}" % row_digits]
    if narrow_columns < 26:
        wide.append(b"[%c-Z%c-z]" % (65 + narrow_columns, 97 + narrow_columns))
    return re.compile(rb'c r="(?=' + b"|".join(wide) + rb")([A-Za-z]{1,4})([0-9]{0,8})")


def _position(letters: bytes, digits: bytes) -> tuple[int, int]:
    """(row, column), 1-based, of a reference; row 0 when it has none."""
    column = 0
    for letter in letters.upper():
        column = column * 26 + letter - 64
    return int(digits or b"0"), column


@dataclass
class _Grid:
    """The last row and column one part's XML asks for, as far as the limits care."""

    limits: XlsxLimits
    rows: int = 0
    columns: int = 0
    dimension: tuple[int, int] = (0, 0)
    needs_last_row: bool = False  # a wide column was seen: the cell limit needs the true last row
    _overlap: bytes = field(default=b"", repr=False)
    _decoder: codecs.IncrementalDecoder | None = field(default=None, repr=False)
    _is_past_dimension: bool = field(default=False, repr=False)

    def set_encoding(self, encoding: str) -> None:
        """A UTF-16 part is looked at re-encoded as UTF-8, which is what calamine decodes it to."""
        self._decoder = codecs.getincrementaldecoder(encoding)() if encoding else None

    def scan(self, chunk: bytes, *, is_last: bool = False) -> None:
        """Look at the next chunk (``is_last``: the part has ended, decide what was left undecided)."""
        limits = self.limits
        window = self._overlap + (chunk if self._decoder is None else self._decoder.decode(chunk, is_last).encode())
        self._overlap = window[-_OVERLAP:]
        decided = len(window) if is_last else len(window) - _UNDECIDED
        # Each search gives the leftmost match: one starting past ``decided`` means none before it.
        patterns = [_CELL_WITHOUT_REFERENCE]
        if b":" in window and b":c" in window:
            patterns += (_PREFIXED_CELL_WITHOUT_REFERENCE, _LONG_PREFIXED_CELL)
        if any((found := pattern.search(window)) and found.start() < decided for pattern in patterns):
            raise _unsafe(
                "a cell has no position of its own (r attribute); open the file in Excel or WPS and save it again",
                "有单元格缺少位置信息（r 属性），请用 Excel 或 WPS 打开后重新保存",
            )
        narrow = limits.max_cells // limits.max_rows
        for letters, digits in _far_reference(narrow, len(str(limits.max_rows))).findall(window):
            row, column = _position(letters, digits)
            self.rows, self.columns = max(self.rows, row), max(self.columns, column)
            self.needs_last_row = self.needs_last_row or column > narrow
        if not self._is_past_dimension and b"dimension" in window:
            # calamine reads the dimension only before the cells, as the schema places it.
            for value in _DIMENSION.findall(window):
                corners = [_REFERENCE.fullmatch(corner) for corner in value.split(b":")]
                if all(corners):
                    rows, columns = _position(*corners[-1].groups())  # type: ignore[union-attr]
                    self.dimension = (max(self.dimension[0], rows), max(self.dimension[1], columns))
        self._is_past_dimension = self._is_past_dimension or b"sheetData" in window
        self.check()  # a hostile part is refused at once, not after inflating the rest of it

    def check(self) -> None:
        limits = self.limits
        for rows, columns in ((self.rows, self.columns), self.dimension):
            if rows > limits.max_rows or columns > limits.max_columns or rows * columns > limits.max_cells:
                raise _unsafe(
                    f"the sheet spans {rows:,} rows × {columns:,} columns (at most {limits.max_rows:,} rows, "
                    f"{limits.max_columns} columns and {limits.max_cells:,} cells)",
                    f"工作表范围过大：{rows} 行 × {columns} 列（最多 {limits.max_rows} 行、{limits.max_columns} 列、"
                    f"共 {limits.max_cells} 个单元格）",
                )


def _last_row(archive: zipfile.ZipFile, info: zipfile.ZipInfo, encoding: str) -> int:
    """The largest row of any cell reference in the part: a second pass, for a part with a wide column."""
    last = 0
    overlap = b""
    decoder = codecs.getincrementaldecoder(encoding)() if encoding else None
    with archive.open(info) as part:
        while chunk := part.read(_CHUNK):
            window = overlap + (chunk if decoder is None else decoder.decode(chunk).encode())
            overlap = window[-_OVERLAP:]
            rows = _ALL_ROWS.findall(window)
            if rows:
                last = max(last, int(max(rows, key=lambda digits: (len(digits.lstrip(b"0")), digits.lstrip(b"0")))))
    return last


# --- CSV ---------------------------------------------------------------------------------------

# A file whose valid UTF-8 prefix already held this many bytes of multi-byte characters before an
# invalid sequence is UTF-8 with some GBK pasted in: decoding it all as GB18030 would be mojibake.
# GBK text forms valid UTF-8 sequences by chance for a character or two, never for eight.
_MIXED_ENCODING_BYTES = 16


def detect_csv_encoding(path: Path) -> str:
    """Return the codec that decodes the whole file, or raise ``ReaderError`` naming the byte offset.

    The file is scanned in 1 MiB chunks (at most twice), never held in memory.
    """
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head:
        raise _empty_file()
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnsupportedFile(
            "the CSV file is UTF-16; save it as 'CSV UTF-8' (or GBK) instead",
            zh="CSV 文件为 UTF-16 编码，请另存为“CSV UTF-8”或 GBK 编码",
        )
    if head.startswith(codecs.BOM_UTF8):
        offset, _ = _first_undecodable(path, "utf-8")
        if offset is not None:
            raise ReaderError(
                f"the CSV file starts with a UTF-8 BOM but is not valid UTF-8 (byte {offset})",
                zh=f"CSV 文件标记为 UTF-8 编码，但第 {offset} 字节处不是有效的 UTF-8，请重新另存为“CSV UTF-8”",
            )
        return "utf-8-sig"
    offset, multibyte = _first_undecodable(path, "utf-8")
    if offset is None:
        return "utf-8"
    if multibyte >= _MIXED_ENCODING_BYTES:
        raise ReaderError(
            f"the CSV file mixes encodings: UTF-8 up to byte {offset}, then something else; save it again as UTF-8",
            zh=f"CSV 文件编码混杂：第 {offset} 字节之前为 UTF-8，之后不是；请整体另存为“CSV UTF-8”",
        )
    offset, _ = _first_undecodable(path, "gb18030")
    if offset is None:
        return "gb18030"
    raise ReaderError(
        f"the CSV file is neither UTF-8 nor GBK/GB18030 (undecodable byte {offset}); save it as UTF-8",
        zh=f"CSV 文件既不是 UTF-8 也不是 GBK/GB18030 编码（第 {offset} 字节无法识别），请另存为“CSV UTF-8”",
    )


def _first_undecodable(path: Path, encoding: str) -> tuple[int | None, int]:
    """(byte offset of the first decoding error or NUL byte, or None; bytes of multi-byte characters before it).

    A NUL byte counts as undecodable: no text file written by a spreadsheet contains one.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    position = multibyte = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            nul = chunk.find(b"\x00")
            if nul >= 0:
                return position + nul, multibyte
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                valid = chunk[: max(exc.start, 0)]
                multibyte += len(valid) - len(valid.decode(encoding, errors="ignore"))
                return position + max(exc.start, 0), multibyte
            multibyte += len(chunk) - len(text)
            if not chunk:
                return None, multibyte
            position += len(chunk)


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
        raise UnsupportedFile(
            f"unsupported file type {suffix or '(none)'!r}: use .csv or .xlsx",
            zh=f"不支持的文件类型 {suffix or '（无扩展名）'}：请使用 .csv 或 .xlsx 文件",
        )


@contextmanager
def _open_csv(path: Path) -> Iterator[Table]:
    encoding = detect_csv_encoding(path)
    with path.open("r", encoding=encoding, newline="") as handle:
        reader = csv.reader(handle)
        try:
            first = next(reader, None)
        except csv.Error as exc:
            raise _malformed(1, exc) from exc
        if first is None:
            raise _empty_file()
        # A GB18030 BOM decodes to U+FEFF; the utf-8-sig codec already dropped the UTF-8 one.
        if first:
            first[0] = first[0].removeprefix("\ufeff")
        header = _normalise_header(first)
        yield Table(header, _csv_rows(reader, header), encoding)


def _malformed(row_number: int, exc: csv.Error) -> ReaderError:
    return ReaderError(f"row {row_number}: malformed CSV: {exc}", zh=f"第 {row_number} 行：CSV 格式错误（{exc}）")


def _csv_rows(reader: Iterator[list[str]], header: list[str]) -> Iterator[Row]:
    for row_number, cells in _csv_cells(reader, after=1):  # the header was record 1
        row = _to_row(row_number, [cell.strip() for cell in cells], header)
        if row is not None:
            yield row


@contextmanager
def _open_xlsx(path: Path) -> Iterator[Table]:
    precheck_xlsx(path)
    with _calamine_first_sheet(path) as numbered:
        for row_number, values in numbered:
            texts = [_cell_text(value) for value in values]
            if any(texts):  # the header is the first non-blank row
                header = _normalise_header(texts, row_number)
                yield Table(header, _xlsx_rows(numbered, header), "xlsx")
                return
        raise EmptyFile(
            "file_empty", "the first sheet is empty: expected a header row", zh="第一个工作表为空：应有列标题行"
        )


@contextmanager
def _calamine_first_sheet(
    path: Path, prefer_sheet: str | None = None
) -> Iterator[Iterator[tuple[int, Sequence[object]]]]:
    """Numbered rows of the preferred (else the first) sheet; only after ``precheck_xlsx``."""
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several unrelated types for one cause: unreadable
        raise ReaderError(
            f"the XLSX workbook cannot be read: {type(exc).__name__}", zh="无法读取该 XLSX 工作簿：文件已损坏"
        ) from exc
    with workbook:
        if not workbook.sheet_names:
            raise ReaderError("the XLSX workbook has no sheet", zh="该 XLSX 工作簿没有工作表")
        try:
            if prefer_sheet is not None and prefer_sheet in workbook.sheet_names:
                sheet = workbook.get_sheet_by_name(prefer_sheet)
            else:
                sheet = workbook.get_sheet_by_index(0)
        except Exception as exc:  # as above
            raise ReaderError(
                f"the XLSX workbook cannot be read: {type(exc).__name__}", zh="无法读取该 XLSX 工作簿：工作表已损坏"
            ) from exc
        # iter_rows starts at the sheet's first row, blank ones included, so enumerate gives Excel's numbers.
        yield enumerate(sheet.iter_rows(), start=1)


def _xlsx_rows(numbered: Iterator[tuple[int, Sequence[object]]], header: list[str]) -> Iterator[Row]:
    for row_number, values in numbered:
        row = _to_row(row_number, [_cell_text(value) for value in values], header)
        if row is not None:
            yield row


def _cell_text(value: object) -> str:
    """Spreadsheet cell -> text: whole numbers lose their ``.0``, dates become ISO dates."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
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
        raise ReaderError(f"row {row_number}: the header row is empty", zh=f"第 {row_number} 行：列标题行为空")
    seen: set[str] = set()
    for name in header:
        if not name:
            raise ReaderError(f"row {row_number}: a header cell is empty", zh=f"第 {row_number} 行：有列标题为空")
        if name in seen:
            raise ReaderError(
                f"row {row_number}: column {name!r} appears twice", zh=f"第 {row_number} 行：列“{name}”出现了两次"
            )
        seen.add(name)
    return header


def _to_row(row_number: int, cells: list[str], header: list[str]) -> Row | None:
    """Cells -> ``(row_number, {column: value})``; None for a blank row."""
    if not any(cells):
        return None
    if len(cells) > len(header) and any(cells[len(header) :]):
        raise ReaderError(
            f"row {row_number}: more values than header columns ({len(header)})",
            zh=f"第 {row_number} 行：数据列数多于列标题（{len(header)} 列）",
        )
    values = dict.fromkeys(header, "")
    values.update(zip(header, cells, strict=False))
    return row_number, values


# --- uploads -----------------------------------------------------------------------------------


@contextmanager
def open_upload(
    path: Path,
    filename: str | None = None,
    *,
    limits: XlsxLimits = DEFAULT_XLSX_LIMITS,
    prefer_sheet: str | None = None,
    allow_macros: bool = False,
) -> Iterator[UploadTable]:
    """Open an uploaded file safely; rows are valid only inside the ``with`` block.

    ``filename`` is the name the uploader gave (the stored path may have none). Raises
    ``UnsupportedFile``, ``UnsafeFile``, ``EmptyFile`` (no header; header but no data row) or
    ``ReaderError`` before yielding; a CSV syntax error found later (an unterminated quote) is a
    ``ReaderError`` from the row iterator. ``prefer_sheet`` picks a sheet by name when present
    (the template's data sheet), else the first sheet is read.
    """
    kind = sniff_upload(path, filename or path.name)
    if kind == "xlsx":
        info = precheck_xlsx(path, limits)
        if info.is_macro_enabled and not allow_macros:
            en, zh = _SUFFIX_ADVICE[".xlsm"]
            raise UnsupportedFile(f"unsupported file: {en}", zh=f"不支持的文件：{zh}")
        with _calamine_first_sheet(path, prefer_sheet) as numbered:
            # Text cells (most of them) pass as they are: the validator trims them anyway.
            header_row, header, rows = _split_header(
                (number, [value if value.__class__ is str else _cell_text(value) for value in values])
                for number, values in numbered
            )
            yield UploadTable("xlsx", header, _require_rows(rows), "xlsx", header_row)
        return
    encoding = detect_csv_encoding(path)
    with path.open("r", encoding=encoding, newline="") as handle:
        header_row, header, rows = _split_header(_csv_cells(csv.reader(handle)))
        if header:
            header[0] = header[0].removeprefix("\ufeff")  # a GB18030 BOM decodes to U+FEFF
        yield UploadTable("csv", header, _require_rows(rows), encoding, header_row)


def _csv_cells(reader: Iterator[list[str]], after: int = 0) -> Iterator[CellsRow]:
    """Numbered CSV records, from ``after + 1`` (a quoted cell may span lines: Excel numbers records, not lines)."""
    row_number = after
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _malformed(row_number + 1, exc) from exc
        row_number += 1
        yield row_number, cells


def _is_blank(cells: list[str]) -> bool:
    if not cells:
        return True
    # The first cell (the department) is filled in nearly every row: it decides most rows alone.
    first = cells[0]
    if first and not first.isspace():
        return False
    return not "".join(cells).strip()


def _split_header(numbered: Iterator[CellsRow]) -> tuple[int, list[str], Iterator[CellsRow]]:
    """The first non-blank row is the header; the rest are returned lazily, blank rows skipped."""
    for row_number, cells in numbered:
        if not _is_blank(cells):
            header = [cell.strip() for cell in cells]
            while header and not header[-1]:
                header.pop()
            return row_number, header, (row for row in numbered if not _is_blank(row[1]))
    raise _empty_file()


def _require_rows(rows: Iterator[CellsRow]) -> Iterator[CellsRow]:
    """Peek at the first data row now, so a header-only file fails before anything is staged."""
    first = next(rows, None)
    if first is None:
        raise _header_only()

    def chained() -> Iterator[CellsRow]:
        yield first
        yield from rows

    return chained()


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes, streamed: identifies the exact file in the audit log."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
