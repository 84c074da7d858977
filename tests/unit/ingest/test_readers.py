"""``readers``: encodings, XLSX cells, row numbers and clear errors (TESTS I12, W12 in part)."""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path

import pytest
from openpyxl import Workbook

from signalhub_ingest.readers import ReaderError, detect_csv_encoding, file_sha256, open_table

CONTENT = (
    "USCC, Name ,type\r\n"
    "91350100M000100Y43,北京华鑫商贸有限公司,企业\r\n"
    "\r\n"  # a blank line: skipped, but it still counts for the row numbers
    '91350211M0000XUF46,"厦门,某某",个体工商户\r\n'
)
EXPECTED = [
    (2, {"uscc": "91350100M000100Y43", "name": "北京华鑫商贸有限公司", "type": "企业"}),
    (4, {"uscc": "91350211M0000XUF46", "name": "厦门,某某", "type": "个体工商户"}),
]


def _read(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]], str]:
    with open_table(path) as table:
        return table.header, list(table.rows), table.encoding


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (CONTENT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + CONTENT.encode("utf-8"), "utf-8-sig"),
        (CONTENT.encode("gbk"), "gb18030"),
        ("\ufeff".encode("gb18030") + CONTENT.encode("gb18030"), "gb18030"),
    ],
    ids=["utf8", "utf8-bom", "gbk", "gb18030-bom"],
)
def test_csv_encodings_decode_to_the_same_rows(tmp_path: Path, data: bytes, encoding: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    header, rows, detected = _read(path)
    assert header == ["uscc", "name", "type"]  # stripped, lower case, no BOM
    assert rows == EXPECTED
    assert detected == encoding


def test_gbk_bytes_are_not_mistaken_for_utf8(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes("名称\n张三小吃店\n".encode("gbk"))
    assert detect_csv_encoding(path) == "gb18030"
    assert _read(path)[1] == [(2, {"名称": "张三小吃店"})]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (codecs.BOM_UTF8 + "名称\n".encode("gbk"), "UTF-8 BOM but is not valid UTF-8"),
        (codecs.BOM_UTF16_LE + "a,b\n".encode("utf-16-le"), "UTF-16"),
        (b"name\n\xff\xff\xff\n", "neither UTF-8 nor GBK/GB18030"),
    ],
)
def test_undecodable_csv_is_rejected_clearly(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with pytest.raises(ReaderError, match=message):
        _read(path)


def test_xlsx_first_sheet_cells_become_text(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["uscc", "industry", "registered_on", "amount", "note"])
    sheet.append(["91350100M000100Y43", 5212, dt.datetime(2015, 3, 1), 12.5, None])
    sheet.append([])  # a blank row keeps Excel's numbering
    sheet.append(["91350211M0000XUF46", "0512", dt.date(2016, 1, 2), 3, "  trimmed  "])
    workbook.create_sheet("second").append(["ignored"])
    path = tmp_path / "f.xlsx"
    workbook.save(path)

    header, rows, encoding = _read(path)

    assert encoding == "xlsx"
    assert header == ["uscc", "industry", "registered_on", "amount", "note"]
    assert rows == [
        (
            2,
            {
                "uscc": "91350100M000100Y43",
                "industry": "5212",
                "registered_on": "2015-03-01",
                "amount": "12.5",
                "note": "",
            },
        ),
        (
            4,
            {
                "uscc": "91350211M0000XUF46",
                "industry": "0512",
                "registered_on": "2016-01-02",
                "amount": "3",
                "note": "trimmed",
            },
        ),
    ]


def test_xlsx_row_numbers_count_empty_rows_above_the_header(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["A3"] = "uscc"
    sheet["A4"] = "91350100M000100Y43"
    path = tmp_path / "f.xlsx"
    workbook.save(path)
    assert _read(path)[1] == [(4, {"uscc": "91350100M000100Y43"})]


def test_renamed_non_zip_file_is_not_an_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "f.xlsx"
    path.write_bytes(b"MZ\x90\x00 this is an executable")
    with pytest.raises(ReaderError, match="not a zip container"):
        _read(path)


def test_broken_zip_is_reported_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "f.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(ReaderError, match="cannot be read"):
        _read(path)


@pytest.mark.parametrize("name", ["f.xls", "f.json", "f"])
def test_unsupported_suffix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"a,b\n")
    with pytest.raises(ReaderError, match="unsupported file type"):
        _read(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("a,A\n1,2\n", "column 'a' appears twice"),
        ("a,,b\n1,2,3\n", "header cell is empty"),
        ("a,b\n1,2,3\n", "row 2: more values than header columns"),
    ],
)
def test_malformed_tables(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReaderError, match=message):
        _read(path)


def test_a_csv_syntax_error_names_its_row(tmp_path: Path) -> None:
    """Rows are numbered as a spreadsheet shows them: the header is row 1, a blank line still counts."""
    path = tmp_path / "f.csv"
    path.write_text("a,b\n1,2\n\n3," + "x" * 200_000 + "\n", encoding="utf-8")  # past csv's field limit
    with pytest.raises(ReaderError, match=r"^row 4: malformed CSV"):
        _read(path)


def test_short_rows_and_trailing_empty_columns(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("a,b,,\n1\n2,3,,\n", encoding="utf-8")
    assert _read(path)[1] == [(2, {"a": "1", "b": ""}), (3, {"a": "2", "b": "3"})]


def test_file_sha256_streams_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
