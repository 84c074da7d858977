"""The annual comprehensive risk report as an A4 PDF, in Chinese, with the font embedded.

The same approach and font as the printable draw: fpdf2 with WenQuanYi Micro Hei from
``paperang-p2-fonts-cjk``, embedded as a TrueType subset with a ToUnicode map, so the text can be
searched and copied in any reader. The font is loaded by ``inspections.printable.font_path``, and
characters it lacks are written as ``〔U+XXXX〕`` by ``inspections.printable.printable``; both come
in as parameters because the inspections package is a sibling layer of this one. The tables are
a few dozen rows, so fpdf2's own ``table`` lays them out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from signalhub_platform.models.types import BEIJING, utcnow
from signalhub_platform.reporting.annual import LEVELS, AnnualReport

FONT_FAMILY = "wqy"
LEVEL_NAMES = {"red": "红色预警", "orange": "橙色预警", "yellow": "黄色预警"}
STRATUM_NAMES = {
    "red": "红色预警",
    "orange": "橙色预警",
    "yellow": "黄色预警",
    "none": "无预警",
    "all": "不分层抽查",
    "total": "合计",
}
_HEADING = FontFace(emphasis="BOLD", fill_color=(225, 225, 225))


def title_of(year: int) -> str:
    return f"{year}年度综合风险评估报告"


class _AnnualDocument(FPDF):
    def __init__(self, title: str, generated: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.generated = generated
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(True, margin=16)
        self.set_title(title)
        self.set_creator("signalhub")
        self.set_lang("zh-CN")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT_FAMILY, size=8)
        self.set_text_color(90)
        self.cell(0, 5, f"生成时间 {self.generated}（北京时间）")
        self.set_x(self.l_margin)
        # {nb} is fpdf2's alias for the page count, filled in when the document is closed.
        self.cell(0, 5, f"第 {self.page_no()} 页 / 共 {{nb}} 页", align="R")
        self.set_text_color(0)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def annual_pdf(
    report: AnnualReport,
    *,
    font_path: Path,
    printable: Callable[[str], str],
    scope_name: str,
    generated_at: dt.datetime | None = None,
) -> bytes:
    """``scope_name``: whose view this is, e.g. 全区 or the agency's name (printed under the title)."""
    generated = (generated_at or utcnow()).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    title = title_of(report.year)
    pdf = _AnnualDocument(title, generated)
    pdf.add_font(FONT_FAMILY, fname=str(font_path), collection_font_number=0)
    # fpdf2 asks for a bold face for table headings; the same face serves, shaded instead of bold.
    pdf.add_font(FONT_FAMILY, style="B", fname=str(font_path), collection_font_number=0)
    pdf.add_page()
    pdf.set_font(FONT_FAMILY, size=18)
    pdf.cell(0, 11, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT_FAMILY, size=10)
    period = f"统计期间：{report.year}-01-01 至 {report.as_of.isoformat()}"
    if not report.is_complete:
        period += "（年度尚未结束，数据为临时数据）"
    for line in (period, f"统计范围：{printable(scope_name)}"):
        pdf.cell(0, 6, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    _section(pdf, "一、预警等级情况")
    _table(
        pdf,
        ("预警等级", "年内达到该等级", "新发", "升级至", "降级至", "解除", "办结", "年末在办"),
        [
            (
                LEVEL_NAMES[row.level.value],
                row.reached,
                row.opened,
                row.escalated,
                row.de_escalated,
                row.cleared,
                row.closed,
                row.in_force_at_end,
            )
            for row in report.levels
        ],
    )
    _note(pdf, "黄色、橙色预警仅统计查看者本单位范围；联席会办公室统计全区数量。")

    _section(pdf, "二、预警趋势（按季度）")
    _table(
        pdf,
        ("预警等级", "第一季度", "第二季度", "第三季度", "第四季度", "全年"),
        [
            (LEVEL_NAMES[level.value], *report.quarterly[level.value], sum(report.quarterly[level.value]))
            for level in LEVELS
        ],
    )
    _section(pdf, "三、预警趋势（按月）")
    _table(
        pdf,
        ("月份", *(LEVEL_NAMES[level.value] for level in LEVELS)),
        [(f"{month}月", *(report.monthly[level.value][month - 1] for level in LEVELS)) for month in range(1, 13)],
    )
    _note(pdf, "按月统计预警新发、升级或降级至该等级的次数。")

    _section(pdf, "四、归集内容排名")
    _table(
        pdf,
        ("归集内容", "风险类", "处罚类", "合计"),
        [(printable(row.category), row.risk, row.penalty, row.total) for row in report.categories],
        empty="本年度没有可统计的监管信息。",
    )
    for heading, key_heading, ranking, empty in (
        ("五、街道排名", "街道", report.regions, "本年度没有可统计的街道。"),
        ("六、行业排名", "行业代码（GB/T 4754）", report.industries, "本年度没有可统计的行业。"),
    ):
        _section(pdf, heading)
        _table(
            pdf,
            (key_heading, "预警主体数", "监管信息数"),
            [(printable(row.key) or "未登记", row.warned_entities, row.records) for row in ranking],
            empty=empty,
        )
    _section(pdf, "七、双随机抽查结果（按预警分层）")
    _table(
        pdf,
        ("分层", "检查对象", "已录入结果", "发现问题", "问题发现率"),
        [
            (STRATUM_NAMES.get(row.stratum, row.stratum), row.targets, row.results, row.hits, _percent(row.hit_rate))
            for row in report.outcomes
        ],
    )
    _note(pdf, f"本年度共实施抽查 {report.draws} 次。“发现问题”包括发现问题、责令整改和移送立案处罚。")
    return bytes(pdf.output())


def _section(pdf: FPDF, heading: str) -> None:
    pdf.ln(2)
    pdf.set_font(FONT_FAMILY, size=13)
    pdf.cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT_FAMILY, size=9)


def _note(pdf: FPDF, text: str) -> None:
    pdf.set_font(FONT_FAMILY, size=8)
    pdf.set_text_color(90)
    pdf.multi_cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.set_font(FONT_FAMILY, size=9)


def _table(pdf: FPDF, headings: Sequence[str], rows: Sequence[Sequence[object]], *, empty: str = "") -> None:
    if not rows and empty:
        _note(pdf, empty)
        return
    with pdf.table(headings_style=_HEADING, line_height=5.5, text_align="CENTER") as table:
        table.row([str(heading) for heading in headings])
        for row in rows:
            table.row([str(value) for value in row])
    pdf.ln(1)
