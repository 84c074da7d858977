"""The downloadable upload template (XLSX and CSV), generated from ``rules`` so it cannot disagree.

Sheet 1 ("监管信息") is what gets uploaded: the Chinese headers, one example row, drop-down hints
for the choice columns, and the code columns formatted as text so Excel does not turn an
18-digit ID number into 1.10105E+17. Sheet 2 ("填写说明") explains every column in Chinese and
English.

The example row names the department "示例科室", which no agency has: a liaison who forgets to
delete it gets a clear "unknown department" error on row 2 instead of a fake record committed
(the registry's example codes belong to real enterprises).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from signalhub_ingest.rules import (
    COLUMNS,
    DATE_FORMATS_EN,
    DATE_FORMATS_ZH,
    ERRORS_HEADER,
    ROW_NUMBER_HEADER,
    WARNINGS_HEADER,
    allowed_values,
)

__all__ = [
    "DATA_SHEET",
    "EXAMPLE_DEPARTMENT",
    "GUIDE_SHEET",
    "build_template_csv",
    "build_template_xlsx",
    "example_row",
]

DATA_SHEET = "监管信息"
GUIDE_SHEET = "填写说明"
EXAMPLE_DEPARTMENT = "示例科室"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

_WIDTHS = {
    "department": 14,
    "kind": 10,
    "risk_level": 10,
    "openness": 12,
    "uscc": 22,
    "entity_name": 30,
    "person_name": 12,
    "person_id_number": 22,
    "category": 16,
    "description": 40,
    "occurred_on": 13,
    "source_ref": 18,
}
# Typed codes must stay text: Excel would otherwise drop leading zeros or round 18 digits.
_TEXT_COLUMNS = frozenset({"department", "uscc", "person_id_number", "source_ref"})
# (zh, en) for "required?" where the answer is not a plain yes or no.
_CONDITIONS = {
    "risk_level": ("风险类必填，处罚类不填", "required for risk, empty for penalty"),
    "uscc": ("与身份证号至少填一项", "this or person_id_number"),
    "person_id_number": ("与信用代码至少填一项", "this or uscc"),
    "person_name": ("填写身份证号时必填", "required with person_id_number"),
}
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_EXAMPLE_FONT = Font(italic=True, color="808080")


def example_row() -> list[str]:
    """The example row in column order (its department is the placeholder ``示例科室``)."""
    return [EXAMPLE_DEPARTMENT if column.key == "department" else column.example for column in COLUMNS]


def _required_text(key: str, is_required: bool) -> tuple[str, str]:
    if key in _CONDITIONS:
        return _CONDITIONS[key]
    return ("必填", "required") if is_required else ("选填", "optional")


def build_template_xlsx(departments: Sequence[tuple[str, str]] = ()) -> bytes:
    """The XLSX template; ``departments`` ((code, name) pairs) are listed on the guide sheet."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = DATA_SHEET
    sheet.append([column.label_zh for column in COLUMNS])
    sheet.append(example_row())
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        header = sheet.cell(row=1, column=index)
        header.font = _HEADER_FONT
        header.fill = _HEADER_FILL
        sheet.cell(row=2, column=index).font = _EXAMPLE_FONT
        dimension = sheet.column_dimensions[letter]
        dimension.width = _WIDTHS.get(column.key, 14)
        if column.key in _TEXT_COLUMNS:
            dimension.number_format = "@"
            sheet.cell(row=2, column=index).number_format = "@"
        if column.key in ("kind", "risk_level", "openness"):
            choices = allowed_values(column.key)[0].split("、")
            # A hint, not a lock: English values and 风险类/处罚类 are accepted too.
            hint = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True)
            hint.showErrorMessage = False
            hint.add(f"{letter}2:{letter}1048576")
            sheet.add_data_validation(hint)
    sheet.freeze_panes = "A2"
    _write_guide(workbook.create_sheet(GUIDE_SHEET), departments)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _write_guide(sheet: Worksheet, departments: Sequence[tuple[str, str]]) -> None:
    sheet.append(
        ["列标题", "英文列名", "是否必填", "Required", "填写要求", "Requirements", "可填的值", "Allowed values", "示例"]
    )
    for cell in sheet[1]:
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
    for column in COLUMNS:
        required_zh, required_en = _required_text(column.key, column.is_required)
        if column.key in ("kind", "risk_level", "openness"):
            values_zh, values_en = allowed_values(column.key)
        elif column.key == "occurred_on":
            values_zh, values_en = DATE_FORMATS_ZH, DATE_FORMATS_EN
        else:
            values_zh = values_en = ""
        example = EXAMPLE_DEPARTMENT if column.key == "department" else column.example
        sheet.append(
            [
                column.label_zh,
                column.key,
                required_zh,
                required_en,
                column.note_zh,
                column.note_en,
                values_zh,
                values_en,
                example,
            ]
        )
    notes = [
        ("说明", "Notes"),
        (
            "列标题可用中文或英文（如“发生日期”或 occurred_on），列的顺序不限。",
            "Headers in Chinese or English, in any order.",
        ),
        (
            f"“{DATA_SHEET}”第 2 行为示例（部门为“{EXAMPLE_DEPARTMENT}”），上传前请删除。",
            f"Row 2 of '{DATA_SHEET}' is an example (department '{EXAMPLE_DEPARTMENT}'): delete it before uploading.",
        ),
        (
            "“信息类型”也可填 风险类/处罚类 或 risk/penalty；全角字母数字会自动转换为半角。",
            "kind also accepts 风险类/处罚类; full-width letters and digits are converted.",
        ),
        (
            "本单位编号在本单位内唯一：再次上传同一编号的信息将作为该信息的新版本（更正）。",
            "source_ref is unique within your agency: uploading it again makes a new version of that record.",
        ),
        (
            "统一社会信用代码校验位不符合国家标准的（早期试点代码）会提示，需确认后提交。",
            "A uscc whose check character is not the national one (pilot-era codes) is a warning you confirm.",
        ),
        (
            "可上传 .xlsx，或 UTF-8/GBK 编码的 .csv；不接受 .xls 和含宏的工作簿。",
            "Upload .xlsx, or .csv in UTF-8 or GBK; .xls and macro-enabled workbooks are refused.",
        ),
        (
            f"错误报告中的“{ROW_NUMBER_HEADER}”“{ERRORS_HEADER}”“{WARNINGS_HEADER}”列在上传时会被忽略，改正后可直接上传。",
            "The error report's row number, error and warning columns are ignored on upload: fix it and upload it.",
        ),
    ]
    sheet.append([])
    for zh, en in notes:
        sheet.append([zh, "", "", "", "", en])
    if departments:
        sheet.append([])
        sheet.append(["本单位部门", "Departments of your agency"])
        sheet.append(["代码 code", "名称 name"])
        for code, name in departments:
            sheet.append([code, name])
    for letter, width in zip("ABCDEFGHI", (16, 18, 20, 22, 36, 44, 26, 30, 22), strict=True):
        sheet.column_dimensions[letter].width = width
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def build_template_csv() -> bytes:
    """The CSV template: UTF-8 with a BOM (Excel in China opens it correctly), headers and the example row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.label_zh for column in COLUMNS])
    writer.writerow(example_row())
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")
