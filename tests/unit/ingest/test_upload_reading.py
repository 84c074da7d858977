"""Hostile and broken uploads cost nothing and get a clear error (TESTS W12-W15, I12; issue 3 point 2)."""

from __future__ import annotations

import codecs
import io
import random
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from signalhub_ingest.readers import (
    EmptyFile,
    ReaderError,
    UnsafeFile,
    UnsupportedFile,
    XlsxLimits,
    detect_csv_encoding,
    open_table,
    open_upload,
    precheck_xlsx,
    sniff_upload,
)
from signalhub_ingest.rules import map_header

from .rows import ZH_HEADER, csv_text, good_row


def _workbook_bytes(rows: list[list[object]] | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows if rows is not None else [["部门", "本单位编号"], ["JD01", "A-1"]]:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _rezip(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """A copy of a zip with some entries replaced or added (names taken literally)."""
    replace, add = replace or {}, add or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, replace.get(info.filename, source.read(info.filename)))
        for name, content in add.items():
            target.writestr(zipfile.ZipInfo(name), content)
        for name, content in replace.items():
            if name not in source.namelist():
                target.writestr(name, content)
    return out.getvalue()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _read_upload(path: Path, filename: str | None = None) -> tuple[list[str], list[tuple[int, list[str]]], str]:
    with open_upload(path, filename) as table:
        return table.header, list(table.rows), table.encoding


# --- W12: the bytes must match the extension ----------------------------------------------------

PE_HEADER = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run"


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("quarter.xlsx", PE_HEADER, "named .xlsx but the content is a Windows program"),
        ("quarter.xlsx", b"%PDF-1.7\n...", "named .xlsx but the content is a PDF document"),
        ("quarter.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old .xls or a password-protected"),
        ("quarter.xlsx", "部门,本单位编号\n".encode(), "named .xlsx but the content is not a workbook"),
        ("quarter.csv", PE_HEADER, "named .csv but the content is a Windows program"),
        ("quarter.csv", b"PK\x03\x04" + b"\x00" * 40, "named .csv but the content is a zip archive"),
        ("quarter.csv", b"%PDF-1.4 text", "a PDF document"),
        ("quarter.csv", b"a,b\n1,\x00\x002\n", "binary, not text"),
        ("quarter.csv", codecs.BOM_UTF16_LE + "a,b".encode("utf-16-le"), "UTF-16"),
        ("quarter.xls", b"\xd0\xcf\x11\xe0", "old .xls workbooks are not accepted"),
        ("quarter.xlsm", b"PK\x03\x04", "macro-enabled workbooks are not accepted"),
        ("quarter.zip", b"PK\x03\x04", "unsupported file type '.zip'"),
        ("quarter.pdf", b"%PDF-1.7", "unsupported file type '.pdf'"),
        ("quarter.exe", PE_HEADER, "unsupported file type '.exe'"),
        ("quarter", b"a,b\n", "unsupported file type '(none)'"),
    ],
)
def test_sniff_refuses_what_the_extension_does_not_say(
    tmp_path: Path, filename: str, data: bytes, message: str
) -> None:
    for source in (data, _write(tmp_path, "upload.bin", data)):
        with pytest.raises(UnsupportedFile, match=r"unsupported file|UTF-16") as caught:
            sniff_upload(source, filename)
        assert message in str(caught.value)
        assert caught.value.message_zh and caught.value.message_zh != str(caught.value)
    with pytest.raises(UnsupportedFile):
        _read_upload(_write(tmp_path, "stored", data), filename)


def test_sniff_accepts_real_files(tmp_path: Path) -> None:
    assert sniff_upload(_workbook_bytes(), "Quarter.XLSX") == "xlsx"
    assert sniff_upload("部门,本单位编号\r\n".encode("gbk"), "一季度.csv") == "csv"
    assert sniff_upload(codecs.BOM_UTF8 + b"a,b\n", "C:\\Users\\liaison\\q1.csv") == "csv"


def test_a_zip_that_is_not_a_workbook_is_unsupported(tmp_path: Path) -> None:
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(UnsupportedFile, match="not an XLSX workbook"):
        _read_upload(_write(tmp_path, "f.xlsx", plain_zip.getvalue()))
    docx_like = _rezip(
        _workbook_bytes(),
        replace={
            "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            b'content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
            b'officedocument.wordprocessingml.document.main+xml"/></Types>'
        },
    )
    with pytest.raises(UnsupportedFile, match="not an XLSX workbook"):
        _read_upload(_write(tmp_path, "g.xlsx", docx_like))


def test_a_macro_enabled_workbook_renamed_xlsx_is_refused(tmp_path: Path) -> None:
    data = _rezip(_workbook_bytes(), add={"xl/vbaProject.bin": b"\x00" * 64})
    with pytest.raises(UnsupportedFile, match="macro-enabled"):
        _read_upload(_write(tmp_path, "m.xlsx", data))


# --- W13: zip bombs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """≈200 KB container holding a 200 MiB sheet of zeros (deflate's best ratio, ~1000:1)."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        source = zipfile.ZipFile(io.BytesIO(_workbook_bytes()))
        for info in source.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                archive.writestr(info.filename, source.read(info.filename))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            block = b"\x00" * (1 << 20)
            for _ in range(200):
                sheet.write(block)
    return data.getvalue()


def test_zip_bomb_is_rejected_from_the_directory_in_under_a_second(tmp_path: Path, zip_bomb: bytes) -> None:
    assert len(zip_bomb) < 300_000
    path = _write(tmp_path, "bomb.xlsx", zip_bomb)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(UnsafeFile, match="zip bomb") as caught:
        _read_upload(path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 5 * 1024 * 1024  # nothing was inflated
    assert "压缩炸弹" in caught.value.message_zh
    with pytest.raises(UnsafeFile), open_table(path):  # the reference-import path is guarded too
        pass


def test_total_uncompressed_size_limit_is_settable(tmp_path: Path) -> None:
    data = _workbook_bytes([["部门"], *[[f"行{index}"] for index in range(2000)]])
    precheck_xlsx(data)
    with pytest.raises(UnsafeFile, match="more than 0 MiB"):
        precheck_xlsx(data, XlsxLimits(max_total_uncompressed=10_000))


def test_a_lie_about_an_entry_size_is_caught(tmp_path: Path) -> None:
    data = bytearray(_workbook_bytes([["部门"], *[[f"第{index}行"] for index in range(500)]]))
    # Shrink the sheet's declared size in the central directory: a reader trusting it would under-allocate.
    name = b"xl/worksheets/sheet1.xml"
    entry = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    (size,) = struct.unpack_from("<I", data, entry + 24)
    struct.pack_into("<I", data, entry + 24, size // 2)
    with pytest.raises(ReaderError, match=r"sheet1.xml is damaged|cannot be read"):
        precheck_xlsx(bytes(data))


# --- W14: XML entity expansion ----------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">
<si><t>&lol9;</t></si></sst>
"""


def test_billion_laughs_in_shared_strings_is_rejected(tmp_path: Path) -> None:
    bomb = _rezip(_workbook_bytes(), replace={"xl/sharedStrings.xml": BILLION_LAUGHS})
    with pytest.raises(UnsafeFile, match=r"sharedStrings\.xml declares a DTD"):
        _read_upload(_write(tmp_path, "laughs.xlsx", bomb))


def test_a_doctype_across_the_scan_chunk_boundary_is_found() -> None:
    filler = random.Random(0).randbytes(1 << 19).hex().encode()[: (1 << 20) - 4]  # incompressible
    padded = filler + BILLION_LAUGHS.split(b"?>", 1)[1].lstrip()
    with pytest.raises(UnsafeFile, match="DTD"):
        precheck_xlsx(_rezip(_workbook_bytes(), replace={"xl/sharedStrings.xml": padded}))


def test_entities_are_found_in_utf16_parts_and_in_the_workbook_part(tmp_path: Path) -> None:
    utf16 = BILLION_LAUGHS.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")
    with pytest.raises(UnsafeFile, match="DTD"):
        precheck_xlsx(_rezip(_workbook_bytes(), replace={"xl/sharedStrings.xml": utf16}))
    workbook_xml = zipfile.ZipFile(io.BytesIO(_workbook_bytes())).read("xl/workbook.xml")
    hostile = workbook_xml.replace(b"<workbook", b'<!DOCTYPE x [<!ENTITY e "e">]><workbook', 1)
    with pytest.raises(UnsafeFile, match="entity declarations"):  # defusedxml refuses before the scan
        precheck_xlsx(_rezip(_workbook_bytes(), replace={"xl/workbook.xml": hostile}))


# --- W15: path traversal in entry names --------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "xl/../../evil.xml", "xl\\..\\evil.xml", "C:/x.xml"]
)
def test_unsafe_entry_names_are_rejected(tmp_path: Path, name: str) -> None:
    data = _rezip(_workbook_bytes(), add={name: b"root:x:0:0"})
    with pytest.raises(UnsafeFile, match="unsafe path"):
        _read_upload(_write(tmp_path, "t.xlsx", data))


def test_duplicate_entry_names_are_rejected() -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = _rezip(_workbook_bytes(), add={"xl/workbook.xml": b"<workbook/>"})
    with pytest.raises(UnsafeFile, match="appears twice"):
        precheck_xlsx(data)


def test_a_truncated_container_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="cannot be read") as caught:
        _read_upload(_write(tmp_path, "t.xlsx", _workbook_bytes()[:-200]))
    assert "损坏" in caught.value.message_zh


# --- the grid calamine allocates: one far cell must not cost 512 GiB ----------------------------

_SHEETML = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _hand_made_workbook(sheet: bytes, sheet_part: str = "xl/worksheets/sheet1.xml") -> bytes:
    """The smallest workbook calamine opens, zipped by hand around ``sheet`` (no writer tidies it up)."""
    relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{relationships}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_SHEETML}" xmlns:r="{relationships}">'
            '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{relationships}/worksheet" '
            f'Target="{sheet_part.removeprefix("xl/")}"/></Relationships>'
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
        archive.writestr(sheet_part, sheet)
    return out.getvalue()


def _sheet(cells: str, *, dimension: str = "", root: str = "") -> bytes:
    head = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'<worksheet xmlns="{_SHEETML}"{root}>{head}<sheetData>{cells}</sheetData></worksheet>'.encode()


def _cell(ref: str, text: str = "x") -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def test_a_far_cell_is_refused_by_the_precheck_before_calamine_allocates(tmp_path: Path) -> None:
    # Opened as it is, calamine allocates A1:XFD1048576, 17 billion cells (512 GiB), and aborts the process.
    data = _hand_made_workbook(_sheet(f'<row r="1">{_cell("A1")}</row><row r="1048576">{_cell("XFD1048576")}</row>'))
    assert len(data) < 5_000
    started = time.perf_counter()
    with pytest.raises(UnsafeFile, match=r"1,048,576 rows × 16,384 columns") as caught:
        precheck_xlsx(data)  # first, so that without the check this test fails rather than aborts
    assert time.perf_counter() - started < 1.0
    assert "工作表范围过大" in caught.value.message_zh and "最多 1100000 行、64 列" in caught.value.message_zh
    path = _write(tmp_path, "far.xlsx", data)
    with pytest.raises(UnsafeFile, match="the sheet spans"):
        _read_upload(path)  # the upload path
    with pytest.raises(UnsafeFile, match="the sheet spans"), open_table(path):  # the reference-import path
        pass


@pytest.mark.parametrize(
    ("sheet", "why"),
    [
        (_sheet(_cell("XFD1048576")), "a single far cell"),
        (_sheet(f'<row r="1">{_cell("A1")}{_cell("BM1")}</row>'), "65 columns"),
        (_sheet(f'<row r="1">{_cell("A1")}</row><row r="1100001">{_cell("A1100001")}</row>'), "1,100,001 rows"),
        (_sheet(f'<row r="1">{_cell("xfd1")}{_cell("a2000000")}</row>'), "lower-case references"),
        (_sheet(_cell("A1"), dimension="A1:XFD1048576"), "the dimension alone"),
        (_sheet(_cell("A123456789")), "a row number past eight digits"),
        (_sheet(_cell("ABCDEF1")), "a column past four letters"),
        # 19 columns (past max_cells // max_rows) by 1.1M rows is 20.9M cells: the exact last row is needed.
        (_sheet(f'<row r="1">{_cell("S1")}</row><row r="1100000">{_cell("A1100000")}</row>'), "rows × columns"),
        (_sheet('<x:row r="1"><x:c r="XFD1"/></x:row><x:row r="9"><x:c r="A999999"/></x:row>', root=""), "prefixed"),
    ],
)
def test_sheets_past_the_grid_limits_are_refused(sheet: bytes, why: str) -> None:
    with pytest.raises(UnsafeFile, match="the sheet spans"):
        precheck_xlsx(_hand_made_workbook(sheet))


@pytest.mark.parametrize(
    "cells",
    [
        # calamine places a cell without ``r`` after the previous one: 20,000 of them in 3 KB and a
        # later row 100,000 make a 64 GB grid without a single far reference.
        '<row r="1">'
        + '<c t="inlineStr"><is><t>x</t></is></c>' * 20_000
        + f'</row><row r="100000">{_cell("A100000")}</row>',
        f'<row r="1">{_cell("A1")}<c/><c/></row>',
        '<row r="1"><c t="inlineStr" r="B1"><is><t>x</t></is></c></row>',
        "<row r='1'><c r='A1' t='inlineStr'><is><t>x</t></is></c></row>",
        '<x:row r="1"><x:c t="inlineStr"><x:is><x:t>x</x:t></x:is></x:c></x:row>',
        # a comment is no row end to calamine: nothing is simulated, such cells are refused
        f'<row r="1">{_cell("A1")}<!-- </row> --><c t="inlineStr"><is><t>y</t></is></c></row>',
    ],
)
def test_cells_without_their_own_reference_are_refused(cells: str) -> None:
    sheet = _sheet(cells, root=f' xmlns:x="{_SHEETML}"')
    with pytest.raises(UnsafeFile, match="no position of its own") as caught:
        precheck_xlsx(_hand_made_workbook(sheet))
    assert "r 属性" in caught.value.message_zh


def test_the_limits_admit_a_million_row_template_file() -> None:
    """Corners of a 1,000,000-row, 12-column upload (header plus rows 2..1,000,001) pass; one more column fits too."""
    corners = (
        f'<row r="1">{_cell("A1")}{_cell("L1")}</row><row r="1000001">{_cell("A1000001")}{_cell("O1000001")}</row>'
    )
    info = precheck_xlsx(_hand_made_workbook(_sheet(corners, dimension="A1:O1000001")))
    assert info.sheets == 1
    wide_but_short = "".join(
        f'<row r="{row}">{_cell("A" + str(row))}{_cell("BL" + str(row))}</row>' for row in (1, 5000)
    )
    precheck_xlsx(_hand_made_workbook(_sheet(wide_but_short, dimension="A1:BL5000")))  # 64 columns
    prefixed = '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>x</x:t></x:is></x:c></x:row>'
    precheck_xlsx(_hand_made_workbook(_sheet(prefixed, root=f' xmlns:x="{_SHEETML}"')))  # the .NET SDK's spelling
    with pytest.raises(UnsafeFile, match="at most 10 rows"):
        precheck_xlsx(_hand_made_workbook(_sheet(_cell("A11"))), XlsxLimits(max_rows=10))


def test_a_far_reference_cut_by_a_scan_chunk_boundary_is_found() -> None:
    filler = random.Random(1).randbytes(1 << 19).hex()  # incompressible text in an ordinary cell
    far, slot = 'c r="XFD1048576"', "{text}"
    template = _sheet(f'<row r="1">{_cell("A1", slot)}</row><row r="2"><{far}/></row>').decode()
    for cut in range(1, len(far)):
        length = (1 << 20) - cut - template.index(far) + len(slot)
        sheet = template.replace(slot, filler[:length]).encode()
        assert sheet.index(far.encode()) == (1 << 20) - cut  # the scan reads 1 MiB chunks
        with pytest.raises(UnsafeFile, match="the sheet spans"):
            precheck_xlsx(_hand_made_workbook(sheet))
    # the same for a cell without a reference, cut between "<c" and its ">"
    template = _sheet(f'<row r="1">{_cell("A1", slot)}<c/></row>').decode()
    for cut in (1, 2, 3):
        length = (1 << 20) - cut - template.index("<c/>") + len(slot)
        with pytest.raises(UnsafeFile, match="no position of its own"):
            precheck_xlsx(_hand_made_workbook(template.replace(slot, filler[:length]).encode()))


def test_a_utf16_sheet_is_looked_at_as_text() -> None:
    sheet = _sheet(f'<row r="1">{_cell("A1")}{_cell("XFD1048576")}</row>').decode()
    encoded = ('<?xml version="1.0" encoding="UTF-16"?>' + sheet).encode("utf-16")
    with pytest.raises(UnsafeFile, match="the sheet spans"):
        precheck_xlsx(_hand_made_workbook(encoded))


def test_a_sheet_anywhere_in_the_container_is_looked_at() -> None:
    """calamine follows the workbook's relationships, so a sheet outside xl/worksheets/ counts too."""
    sheet = _sheet(f'<row r="1">{_cell("A1")}{_cell("XFD1048576")}</row>')
    with pytest.raises(UnsafeFile, match="the sheet spans"):
        precheck_xlsx(_hand_made_workbook(sheet, sheet_part="xl/media/notes.xml"))


# --- I12: encodings -----------------------------------------------------------------------------

ROWS = [good_row(0), good_row(1)]


@pytest.mark.parametrize(
    ("prefix", "encoding", "detected"),
    [
        (b"", "utf-8", "utf-8"),
        (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
        (b"", "gbk", "gb18030"),
        ("\ufeff".encode("gb18030"), "gb18030", "gb18030"),
    ],
    ids=["utf8", "utf8-bom", "gbk", "gb18030-bom"],
)
def test_csv_encodings_read_the_same(tmp_path: Path, prefix: bytes, encoding: str, detected: str) -> None:
    path = _write(tmp_path, "q.csv", prefix + csv_text(ROWS).encode(encoding))
    header, rows, found = _read_upload(path)
    assert found == detected
    assert header == ZH_HEADER  # no BOM left on the first header
    assert map_header(header).positions["department"] == 0
    assert [number for number, _ in rows] == [2, 3]
    assert rows[0][1][5] == ROWS[0]["entity_name"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"name\n\xff\xff\xff\n", "neither UTF-8 nor GBK/GB18030"),
        (codecs.BOM_UTF8 + "部门\n".encode("gbk"), "UTF-8 BOM but is not valid UTF-8"),
        ("部门,信息类型,开放类别,本单位编号\n".encode() + "执法一科\n".encode("gbk"), "mixes encodings"),
    ],
)
def test_undecodable_csv_is_a_clear_error_never_mojibake(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ReaderError, match=message) as caught:
        _read_upload(_write(tmp_path, "q.csv", data))
    assert "编码" in caught.value.message_zh or "UTF-8" in caught.value.message_zh


def test_a_nul_byte_after_the_sniffed_head_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "q.csv", b"a,b\n" + b"1,2\n" * 40_000 + b"3,\x004\n")
    with pytest.raises(ReaderError, match="neither UTF-8 nor GBK"):
        detect_csv_encoding(path)


def test_full_width_header_and_cells_survive_reading(tmp_path: Path) -> None:
    header = ["ＤＥＰＡＲＴＭＥＮＴ", *ZH_HEADER[1:]]
    path = _write(
        tmp_path,
        "q.csv",
        csv_text([{**ROWS[0], "uscc": "９１３５０１００Ｍ０００１００Ｙ４３"}], ZH_HEADER).encode("gbk"),
    )
    text = path.read_bytes().decode("gbk").replace("部门", header[0], 1)
    path.write_bytes(text.encode("gbk"))
    read_header, rows, _ = _read_upload(path)
    assert map_header(read_header).positions["department"] == 0
    assert rows[0][1][4] == "９１３５０１００Ｍ０００１００Ｙ４３"  # as read; the validator normalises


# --- empty and header-only files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("q.csv", b"", "file_empty"),
        ("q.csv", b"\r\n,,\r\n  \r\n", "file_empty"),
        ("q.csv", codecs.BOM_UTF8 + "部门,本单位编号\r\n".encode(), "header_only"),
        ("q.csv", "部门,本单位编号\r\n,\r\n\r\n".encode(), "header_only"),
        ("q.xlsx", _workbook_bytes([]), "file_empty"),
        ("q.xlsx", _workbook_bytes([["部门", "本单位编号"]]), "header_only"),
    ],
)
def test_empty_and_header_only_files(tmp_path: Path, name: str, data: bytes, code: str) -> None:
    with pytest.raises(EmptyFile) as caught:
        _read_upload(_write(tmp_path, name, data))
    assert caught.value.code == code
    assert caught.value.message_zh in ("文件为空：第一行应为列标题", "文件只有列标题，没有数据行")


# --- rows ---------------------------------------------------------------------------------------


def test_csv_rows_keep_spreadsheet_numbers(tmp_path: Path) -> None:
    content = '\r\n部门,事项描述\r\nJD01,"两行\r\n描述"\r\n\r\n  ,  \r\nJD02,x,extra\r\n'
    header, rows, _ = _read_upload(_write(tmp_path, "q.csv", content.encode()))
    assert header == ["部门", "事项描述"]
    assert rows == [(3, ["JD01", "两行\r\n描述"]), (6, ["JD02", "x", "extra"])]


def test_xlsx_rows_as_text_cells(tmp_path: Path) -> None:
    import datetime as dt

    data = _workbook_bytes([[], ["部门", "发生日期", "本单位编号", "金额"], ["JD01", dt.date(2026, 3, 1), 123, -5.5]])
    header, rows, encoding = _read_upload(_write(tmp_path, "q.xlsx", data))
    assert encoding == "xlsx" and header == ["部门", "发生日期", "本单位编号", "金额"]
    assert rows == [(3, ["JD01", "2026-03-01", "123", "-5.5"])]


def test_a_large_csv_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """Encoding detection scans in chunks and rows stream: memory does not grow with the file."""
    line = (
        ",".join(
            ["执法一科", "风险", "高", "有条件开放", "91350100M000100Y43", "某公司", "张三", "", "食品", "描述" * 20]
        )
        + "\r\n"
    )
    path = tmp_path / "big.csv"
    with path.open("wb") as handle:
        handle.write(",".join(ZH_HEADER[:10]).encode("gbk") + b"\r\n")
        block = (line * 1000).encode("gbk")
        for _ in range(120):  # ~14 MB, 120k rows
            handle.write(block)
    tracemalloc.start()
    count = 0
    with open_upload(path) as table:
        for _ in table.rows:
            count += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 120_000
    assert peak < 8 * 1024 * 1024
