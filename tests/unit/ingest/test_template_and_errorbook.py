"""The downloadable template and the error workbook (issue 3 points 1 and 3; TESTS W16)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from signalhub_ingest.errorbook import FORMULA_PREFIXES, build_error_csv, build_error_workbook, escape_cell
from signalhub_ingest.readers import open_upload
from signalhub_ingest.rules import COLUMNS, IssueCode, map_header
from signalhub_ingest.template import (
    DATA_SHEET,
    EXAMPLE_DEPARTMENT,
    GUIDE_SHEET,
    build_template_csv,
    build_template_xlsx,
    example_row,
)
from signalhub_ingest.validator import RowValidator, validate_upload
from signalhub_platform.sharing.export import FORMULA_PREFIXES as EXPORT_PREFIXES
from signalhub_platform.sharing.export import escape_cell as export_escape_cell

from .rows import DEPARTMENTS, TODAY, ZH_HEADER, cells, good_row

# --- the template -------------------------------------------------------------------------------


def _validate_file(path: Path, departments: dict[str, int] = DEPARTMENTS) -> list[tuple[int, object, list]]:
    validator = RowValidator(departments, today=TODAY)
    with open_upload(path, prefer_sheet=DATA_SHEET) as table:
        return list(validate_upload(validator, table.header, table.rows))


def test_xlsx_template_sheets_headers_and_guide(tmp_path: Path) -> None:
    data = build_template_xlsx([("JD01", "执法一科")])
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == [DATA_SHEET, GUIDE_SHEET]
    sheet = workbook[DATA_SHEET]
    assert [cell.value for cell in sheet[1]] == ZH_HEADER
    assert all(cell.font.bold for cell in sheet[1])
    assert [cell.value for cell in sheet[2]] == example_row()
    assert sheet.column_dimensions["E"].width > 15 and sheet.freeze_panes == "A2"
    guide = [[cell.value for cell in row] for row in workbook[GUIDE_SHEET].iter_rows()]
    assert guide[0][:4] == ["列标题", "英文列名", "是否必填", "Required"]
    by_key = {row[1]: row for row in guide[1 : len(COLUMNS) + 1]}
    assert list(by_key) == [column.key for column in COLUMNS]
    assert by_key["kind"][6] == "风险、处罚" and by_key["kind"][7] == "risk, penalty"
    assert (
        by_key["openness"][6] == "暂不开放、有条件开放、完全开放" and by_key["openness"][7] == "private, shared, public"
    )
    assert by_key["risk_level"][6] == "低、中、高" and by_key["risk_level"][2] == "风险类必填，处罚类不填"
    assert "2026年3月1日" in by_key["occurred_on"][6] and "2026/3/1" in by_key["occurred_on"][7]
    assert by_key["category"][2] == "必填" and by_key["description"][2] == "选填"
    assert ["JD01", "执法一科"] in [row[:2] for row in guide]


def test_the_template_example_row_validates_clean(tmp_path: Path) -> None:
    for name, data in (("t.xlsx", build_template_xlsx()), ("t.csv", build_template_csv())):
        path = tmp_path / name
        path.write_bytes(data)
        [(row_number, row, issues)] = _validate_file(path)
        assert row_number == 2 and issues == [] and row is not None
        assert row.department_id == DEPARTMENTS[EXAMPLE_DEPARTMENT]
        assert row.person_id_number == "11010519491231002X"  # kept as text, not rounded by Excel


def test_a_forgotten_example_row_is_refused_for_a_real_agency(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    path.write_bytes(build_template_xlsx())
    [(_, row, issues)] = _validate_file(path, {"JD01": 1, "执法一科": 1})
    assert row is None and [issue.code for issue in issues] == [IssueCode.UNKNOWN_DEPARTMENT]


def test_csv_template_is_utf8_with_bom() -> None:
    data = build_template_csv()
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [ZH_HEADER, example_row()]


# --- the error workbook -------------------------------------------------------------------------

HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tabc", "\rabc"]


def _report_rows(tmp_path: Path, rows: list[dict[str, str]]) -> tuple[list[str], list]:
    path = tmp_path / "q.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(ZH_HEADER)
    for row in rows:
        writer.writerow(cells(row, ZH_HEADER))
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    validator = RowValidator(DEPARTMENTS, today=TODAY)
    with open_upload(path) as table:
        header = table.header
        read = list(table.rows)
    results = list(validate_upload(validator, header, read))
    return header, [
        (number, row_cells, issues) for (number, row_cells), (_, _, issues) in zip(read, results, strict=True)
    ]


def test_error_workbook_lists_rows_with_issues_and_escapes_formulas(tmp_path: Path) -> None:
    """TESTS W16: hostile text starts with an apostrophe; a plain number stays a number."""
    rows = [good_row(index) for index in range(len(HOSTILE) + 2)]
    for row, text in zip(rows, HOSTILE, strict=False):
        row["entity_name"] = text
    rows[0]["category"] = ""  # an error
    rows[1]["uscc"] = "91350211M0000XUF46"  # a warning
    rows[2]["description"] = "-5"
    rows[2]["occurred_on"] = "2026-02-30"
    header, report = _report_rows(tmp_path, rows)

    data = build_error_workbook(header, report)
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == ["原文件行号", "错误", "提示", *ZH_HEADER]
    assert [row[0] for row in values[1:]] == [2, 3, 4]  # only rows with issues
    by_row = {row[0]: row for row in values[1:]}
    assert by_row[2][1] == "归集内容不能为空（category is required）" and by_row[2][2] is None
    assert by_row[3][1] is None and "试点" in by_row[3][2] and "pilot-era" in by_row[3][2]
    assert "发生日期" in by_row[4][1]
    entity = 3 + ZH_HEADER.index("主体名称")
    assert [by_row[number][entity] for number in (2, 3, 4)] == ["'" + text for text in HOSTILE[:3]]
    description = 3 + ZH_HEADER.index("事项描述")
    assert by_row[4][description] == -5 and isinstance(by_row[4][description], int)
    # the offending cells are highlighted
    category_cell = sheet.cell(row=2, column=1 + 3 + ZH_HEADER.index("归集内容"))
    assert category_cell.fill.fgColor.rgb.endswith("FFC7CE")

    every = load_workbook(io.BytesIO(build_error_workbook(header, report, include_clean_rows=True))).worksheets[0]
    entities = [row[entity].value for row in every.iter_rows(min_row=2)]
    # XML stores a carriage return as a line feed; what matters is the apostrophe in front
    assert entities[: len(HOSTILE)] == ["'" + text.replace("\r", "\n") for text in HOSTILE]
    assert every.max_row == len(rows) + 1


def test_every_text_cell_is_escaped_including_headers_and_dates() -> None:
    data = build_error_workbook(
        ["=cmd", "部门"],
        [(2, ["@x", dt.date(2026, 3, 1), 12.5, "0512", "1.50", "123456789012345678", None, "x"], [])],
        include_clean_rows=True,
    )
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    header, row = ([cell.value for cell in row] for row in sheet.iter_rows())
    assert header[3] == "'=cmd"
    assert row[3:] == ["'@x", dt.datetime(2026, 3, 1), 12.5, "0512", "1.50", "123456789012345678", None, "x"]


def test_a_fixed_error_workbook_can_be_uploaded_as_it_is(tmp_path: Path) -> None:
    rows = [good_row(0), good_row(1)]
    rows[1]["category"] = ""
    header, report = _report_rows(tmp_path, rows)
    path = tmp_path / "errors.xlsx"
    path.write_bytes(build_error_workbook(header, report))
    with open_upload(path) as table:
        assert map_header(table.header).ignored == frozenset({0, 1, 2})
        [(number, row_cells)] = list(table.rows)
    assert number == 2 and row_cells[0] == "3"  # the original row number travels along
    row_cells[3 + ZH_HEADER.index("归集内容")] = "食品安全"  # the liaison's fix
    validator = RowValidator(DEPARTMENTS, today=TODAY)
    [(_, row, issues)] = list(validate_upload(validator, table.header, [(number, row_cells)]))
    assert issues == [] and row is not None and row.source_ref == rows[1]["source_ref"]


def test_error_csv() -> None:
    data = build_error_csv(
        ["部门", "主体名称"], [(2, ["JD01", "=1+1"], []), (3, ["JD01", "-5"], [])], include_clean_rows=True
    )
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1] == ["2", "", "", "JD01", "'=1+1"] and rows[2][4] == "-5"


@pytest.mark.parametrize("value", [*HOSTILE, "abc", "", -5, 3.5, None, dt.date(2026, 1, 1), "'=x", " =x"])
def test_escape_cell_matches_the_sharing_export(value: object) -> None:
    assert FORMULA_PREFIXES == EXPORT_PREFIXES
    assert escape_cell(value) == export_escape_cell(value)
