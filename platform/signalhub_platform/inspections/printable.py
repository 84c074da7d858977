"""The printable draw (抽查计划) for field teams: an A4 landscape PDF with the Chinese font embedded.

The font is WenQuanYi Micro Hei (文泉驿微米黑, Apache-2.0 or GPL-3+ with the font exception), shipped
on PyPI by ``paperang-p2-fonts-cjk`` so ``make install`` brings it with no system package. It is a
TrueType (glyf) font: fpdf2 embeds the subset in use as ``/FontFile2`` with a ToUnicode map, the
path every PDF reader handles (fpdf2's CFF path for OTF fonts is young and trips some readers).

The table is laid out here rather than with ``FPDF.table``: that one measures each line character
by character, twice, and took 5 s for 1,000 targets; this wraps every cell once with cached
character widths and writes each line with ``FPDF.text``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from fpdf import FPDF
from sqlalchemy.orm import Session

from signalhub_platform.inspections.exports import draw_rows
from signalhub_platform.models import Draw
from signalhub_platform.models.types import BEIJING

FONT_PACKAGE = "paperang_p2_fonts_cjk"
FONT_FILE = "fonts/wqy-microhei.ttc"
FONT_FAMILY = "wqy"

HEADINGS = ("序号", "统一社会信用代码", "主体名称", "住所", "预警分层", "检查组", "回避及排除")
# Millimetres; they add up to the 277 mm between A4 landscape's 10 mm margins.
COLUMN_WIDTHS = (13, 38, 52, 59, 15, 56, 44)
FONT_SIZE = 8
LINE_HEIGHT = 4.2
PADDING = 1.0
# A row taller than a whole page is split, but only where at least this many lines fit.
MIN_SPLIT_LINES = 3

# Line breaking: never start a line with closing punctuation nor end one with opening punctuation.
_NO_LINE_START = set("，。、；：？！）》」』】〕”’…·,.;:?!)]}%")
_NO_LINE_END = set("（《「『【〔“‘([{")


class FontMissing(RuntimeError):
    """The CJK font file is not installed, so no PDF can be printed; the message says what to install."""


@functools.cache
def font_path() -> Path:
    try:
        path: Path | None = Path(str(resources.files(FONT_PACKAGE).joinpath(FONT_FILE)))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FontMissing(
            "the printable draw needs the WenQuanYi Micro Hei font from the PyPI package "
            f"paperang-p2-fonts-cjk ({FONT_PACKAGE}/{FONT_FILE}); run `make install`"
        )
    return path


@functools.cache
def _font_codepoints() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(font_path(), fontNumber=0, lazy=True) as font:
        return frozenset(font.getBestCmap())


def printable(text: str) -> str:
    """The text with every character the font lacks (rare 扩展 B characters, emoji) written as
    ``〔U+XXXX〕``: a printed list must not silently drop a character of a name."""
    codepoints = _font_codepoints()
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if all(ord(char) in codepoints or char == "\n" for char in text):
        return text
    return "".join(char if ord(char) in codepoints or char == "\n" else f"〔U+{ord(char):04X}〕" for char in text)


def _is_wide(char: str) -> bool:
    return ord(char) >= 0x2E80  # CJK scripts and full-width forms: a line may break around any of them


def wrap(text: str, width: float, char_width: Callable[[str], float]) -> list[str]:
    """``text`` broken into lines no wider than ``width``; ``char_width(char)`` gives a width.

    Lines break between CJK characters or after a space, and inside a word (a certificate
    number, a USCC) only when the word alone is wider than the line.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        start = 0  # the current line is paragraph[start:i]
        used = 0.0
        last_break = -1  # the line may end before this index
        for i, char in enumerate(paragraph):
            if i > start:
                previous = paragraph[i - 1]
                if (
                    (previous == " " or _is_wide(previous) or _is_wide(char))
                    and char not in _NO_LINE_START
                    and previous not in _NO_LINE_END
                ):
                    last_break = i
            used += char_width(char)
            if used > width and i > start:
                end = last_break if last_break > start else i
                lines.append(paragraph[start:end].rstrip())
                start = end
                while start < i and paragraph[start] == " ":
                    start += 1
                used = sum(char_width(c) for c in paragraph[start : i + 1])
                last_break = -1
        lines.append(paragraph[start:].rstrip())
    return lines


class _DrawDocument(FPDF):
    def __init__(self, draw: Draw) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.draw = draw
        self.in_table = False
        self.set_margins(10, 10, 10)
        self.set_auto_page_break(True, margin=14)
        self.add_font(FONT_FAMILY, fname=font_path(), collection_font_number=0)
        self.set_title(printable(draw.name))
        self.set_creator("signalhub")
        self.set_lang("zh-CN")
        self.set_line_width(0.2)
        self._widths: dict[str, float] = {}

    def char_width(self, char: str) -> float:
        width = self._widths.get(char)
        if width is None:
            width = self._widths[char] = self.get_string_width(char)
        return width

    def header(self) -> None:
        if self.in_table:
            self.set_font(FONT_FAMILY, size=FONT_SIZE)
            self.table_row(HEADINGS, heading=True)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(FONT_FAMILY, size=8)
        self.set_text_color(90)
        # Loose pages can be matched to their draw: its number and the start of the result hash.
        self.cell(0, 5, f"抽查计划编号 {self.draw.id} · 结果 SHA-256 {(self.draw.result_sha256 or '')[:16]}")
        self.set_x(self.l_margin)
        # {nb} is fpdf2's alias for the page count, filled in when the document is closed.
        self.cell(0, 5, f"第 {self.page_no()} 页 / 共 {{nb}} 页", align="C")
        self.set_text_color(0)

    def table_lines(self, cells: Sequence[str]) -> list[list[str]]:
        return [
            wrap(text, width - 2 * PADDING, self.char_width) for text, width in zip(cells, COLUMN_WIDTHS, strict=True)
        ]

    def table_row(self, cells: Sequence[str], *, heading: bool = False) -> None:
        """One row of cells (already printable). A row taller than the room left on the page goes
        to the next page; one taller than a whole page fills this page and continues, marked 续."""
        lines = self.table_lines(cells)
        if heading:
            self._row_part(lines, heading=True)
            return
        fresh_page = int((self.page_break_trigger - self.t_margin - LINE_HEIGHT - 4 * PADDING) // LINE_HEIGHT)
        while True:
            tallest = max(len(cell) for cell in lines)
            room = int((self.page_break_trigger - self.y - 2 * PADDING) // LINE_HEIGHT)
            if tallest <= room:
                self._row_part(lines, heading=False)
                return
            if tallest <= fresh_page or room < MIN_SPLIT_LINES:
                self.add_page()  # header() repeats the headings
                continue
            self._row_part([cell[:room] for cell in lines], heading=False)
            lines = [[lines[0][0], "（续）"], *(cell[room:] for cell in lines[1:])]
            self.add_page()

    def _row_part(self, lines: list[list[str]], *, heading: bool) -> None:
        height = max(1, *(len(cell) for cell in lines)) * LINE_HEIGHT + 2 * PADDING
        x, top = self.l_margin, self.y
        if heading:
            self.set_fill_color(225)
        baseline = PADDING + LINE_HEIGHT / 2 + 0.3 * self.font_size
        for width, cell in zip(COLUMN_WIDTHS, lines, strict=True):
            self.rect(x, top, width, height, style="DF" if heading else "D")
            for n, line in enumerate(cell):
                if line:
                    self.text(x + PADDING, top + baseline + n * LINE_HEIGHT, line)
            x += width
        self.set_y(top + height)


def _title_block(pdf: _DrawDocument, draw: Draw, targets: int) -> None:
    pdf.set_font(FONT_FAMILY, size=16)
    pdf.multi_cell(0, 8, printable(draw.name), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT_FAMILY, size=11)
    pdf.cell(0, 7, "抽查计划 · 检查对象及检查组名单", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    drawn_on = draw.drawn_at.astimezone(BEIJING).date().isoformat() if draw.drawn_at else ""
    pdf.set_font(FONT_FAMILY, size=9)
    for label, value in (
        ("抽查计划编号", str(draw.id)),
        ("检查对象名录 SHA-256", f"{draw.population_sha256}（名录共 {draw.population_count} 户）"),
        ("随机种子", draw.seed or ""),
        ("结果 SHA-256", draw.result_sha256 or ""),
        ("抽取日期", drawn_on),
        ("抽取检查对象", f"{targets} 户"),
    ):
        pdf.cell(42, 5, label + "：")
        pdf.multi_cell(0, 5, printable(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _cells(row: dict[str, Any]) -> list[str]:
    number = str(row["position"]) if row["round"] <= 1 else f"{row['position']}\n第{row['round']}轮"
    address = f"{row['address']}（{row['region']}）" if row["region"] else row["address"]
    team = "\n".join(f"{m['agency']}：{m['inspector']}（{m['certificate_no']}）" for m in row["team"])
    notes = "\n".join([*row["exclusions"], *row["unfilled"]])
    return [printable(text) for text in (number, row["uscc"], row["name"], address, row["stratum"], team, notes)]


def draw_pdf(session: Session, draw: Draw) -> bytes:
    """The draw's targets and teams as a printable PDF, with its hashes and seed on the first page."""
    rows = draw_rows(session, draw)
    pdf = _DrawDocument(draw)
    pdf.add_page()
    _title_block(pdf, draw, len(rows))
    pdf.set_font(FONT_FAMILY, size=FONT_SIZE)
    if not rows:
        pdf.cell(0, 6, "本次抽查没有抽取到检查对象。")
        return bytes(pdf.output())
    pdf.table_row(HEADINGS, heading=True)
    pdf.in_table = True
    for row in rows:
        pdf.table_row(_cells(row))
    return bytes(pdf.output())
