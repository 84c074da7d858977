"""The quarterly collection report as an XLSX workbook: the lines the viewer may read, in Chinese.

Agency names and campaign names are text an agency typed, so every text cell passes through
``escape`` (``signalhub_platform.sharing.export.escape_cell``, handed in because the sharing
package is a sibling layer): a name starting with ``=`` reaches Excel/WPS as text, not as a
formula. Counts stay numbers and rates are numbers shown as percentages.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from signalhub_platform.models.types import BEIJING
from signalhub_platform.reporting.quarterly import QuarterlyView

Escape = Callable[[object], object]

# (heading, how to read the line, is a rate)
COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], object], bool], ...] = (
    ("成员单位代码", lambda line: line.get("code", ""), False),
    ("成员单位", lambda line: line.get("name", ""), False),
    ("风险类信息", lambda line: line["records_received"]["risk"], False),
    ("处罚类信息", lambda line: line["records_received"]["penalty"], False),
    ("新增信息合计", lambda line: line["records_total"], False),
    ("更正", lambda line: line["corrections"], False),
    ("撤回", lambda line: line["withdrawals"], False),
    ("更正撤回率", lambda line: line["correction_rate"], True),
    ("成批导入次数", lambda line: line["batches_committed"], False),
    ("按时导入", lambda line: line["batches_on_time"], False),
    ("逾期导入", lambda line: line["batches_late"], False),
    ("及时率", lambda line: line["timeliness"], True),
    ("每季度至少导入一次", lambda line: _yes_no(line), False),
    ("上传数据行数", lambda line: line["rows_uploaded"], False),
    ("被拒绝行数", lambda line: line["rows_rejected"], False),
    ("拒绝率", lambda line: line["rejection_rate"], True),
    ("逾期文字报告", lambda line: line["overdue_report_count"], False),
)
OVERDUE_HEADINGS = ("成员单位代码", "成员单位", "报告类型", "专项工作或年度", "应报日期", "逾期工作日")
REPORT_KINDS = {"special_assessment": "专项研判报告", "annual_risk": "年度风险评估报告"}
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_PERCENT = "0.0%"


def _yes_no(line: dict[str, Any]) -> str:
    if "rule_met" in line:
        return "是" if line["rule_met"] else "否"
    return f"{line['agencies_meeting_rule']}/{line['agencies']}"  # the totals row


def quarterly_xlsx(view: QuarterlyView, *, escape: Escape) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "归集情况"
    payload = view.payload
    built_at = view.report.built_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if view.report else ""
    sheet.append([f"{view.quarter}信息归集情况通报"])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(["统计期间", f"{payload.get('starts_on', '')} 至 {payload.get('ends_on', '')}"])
    sheet.append(["生成时间（北京时间）", built_at])
    if view.fingerprint:
        sheet.append(["快照 SHA-256", view.fingerprint])
    if not payload.get("is_complete", True):
        sheet.append(["说明", "本季度尚未结束，数据为临时数据"])
    sheet.append([])
    header_row = sheet.max_row + 1
    sheet.append([heading for heading, _, _ in COLUMNS])
    totals = [{**view.totals, "code": "", "name": "全区合计"}] if view.totals is not None else []
    for line in [*view.lines, *totals]:
        values = [read(line) for _, read, _ in COLUMNS]
        sheet.append(["" if value is None else escape(value) for value in values])
    for cell in sheet[header_row]:
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for index, (_, _, is_rate) in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = 24 if index == 2 else 12
        if is_rate:
            for row in range(header_row + 1, sheet.max_row + 1):
                sheet[f"{letter}{row}"].number_format = _PERCENT
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=3)

    overdue = workbook.create_sheet("逾期文字报告")
    overdue.append(list(OVERDUE_HEADINGS))
    for cell in overdue[1]:
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
    for line in view.lines:
        for item in line["overdue_reports"]:
            overdue.append(
                [
                    escape(line["code"]),
                    escape(line["name"]),
                    REPORT_KINDS.get(item["kind"], item["kind"]),
                    escape(item["campaign_name"]) if item["campaign_name"] else item["year"],
                    item["due_on"],
                    item["working_days_overdue"] if item["working_days_overdue"] is not None else "未知",
                ]
            )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
