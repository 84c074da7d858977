"""Horizontal bar charts as inline SVG, drawn on the server: no script, no CDN, no extra request.

Why not pygal (installed): its SVG carries its colours in a ``<style>`` element and ``style``
attributes, and a script tag; inline in a page, the CSP (``style-src 'self'``, ``script-src
'self'``) blocks them and the bars come out black. These charts use presentation attributes only.
Each chart is ``role="img"`` with a ``<title>`` and a ``<desc>`` (its accessible name and
description), each bar has a ``<title>`` with its exact figures, and the page always shows the
table with the same figures next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 760
LABEL_WIDTH = 210  # the group names, right-aligned against the bars
VALUE_WIDTH = 64
BAR_HEIGHT = 18
ROW_HEIGHT = 26
LEGEND_HEIGHT = 26
FONT_SIZE = 13
TEXT_COLOUR = "#1d2433"
AXIS_COLOUR = "#b8c0cc"


@dataclass(frozen=True)
class Segment:
    name: str
    value: int
    colour: str


@dataclass(frozen=True)
class Bar:
    label: str
    segments: tuple[Segment, ...]

    @property
    def total(self) -> int:
        return sum(segment.value for segment in self.segments)


def _text_width(text: str) -> float:
    """Roughly, in pixels at ``FONT_SIZE``: CJK characters are full width, the rest about half."""
    return sum(FONT_SIZE if ord(char) >= 0x2E80 else FONT_SIZE * 0.56 for char in text)


def shortened(text: str, width: float = LABEL_WIDTH - 12) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels (the bar's title keeps the whole name)."""
    if _text_width(text) <= width:
        return text
    while text and _text_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def bar_chart(
    *, chart_id: str, title: str, description: str, bars: Sequence[Bar], legend: Sequence[tuple[str, str]] = ()
) -> Markup:
    """An SVG bar chart, one bar per entry, stacked by segment; ``legend`` is (name, colour) pairs."""
    top = LEGEND_HEIGHT if legend else 4
    height = top + ROW_HEIGHT * max(len(bars), 1) + 4
    area = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    largest = max((bar.total for bar in bars), default=0) or 1
    ident = escape(chart_id)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" role="img" aria-labelledby="{ident}-title {ident}-desc" '
        f'font-size="{FONT_SIZE}" fill="{TEXT_COLOUR}">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]
    x = LABEL_WIDTH
    for name, colour in legend:
        parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{escape(colour)}"/>')
        parts.append(f'<text x="{x + 16}" y="14">{escape(name)}</text>')
        x += 16 + int(_text_width(name)) + 20
    for index, bar in enumerate(bars):
        y = top + index * ROW_HEIGHT
        details = "; ".join(f"{segment.name} {segment.value}" for segment in bar.segments if len(bar.segments) > 1)
        tooltip = f"{bar.label}: {bar.total}" + (f" ({details})" if details else "")
        parts.append(f"<g><title>{escape(tooltip)}</title>")
        name = escape(shortened(bar.label))
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT - 4}" text-anchor="end">{name}</text>')
        offset = float(LABEL_WIDTH)
        for segment in bar.segments:
            width = area * segment.value / largest
            if width > 0:
                parts.append(
                    f'<rect x="{offset:.1f}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}" '
                    f'fill="{escape(segment.colour)}"/>'
                )
            offset += width
        parts.append(f'<text x="{offset + 6:.1f}" y="{y + BAR_HEIGHT - 4}">{bar.total}</text></g>')
    parts.append(
        f'<line x1="{LABEL_WIDTH}" y1="{top - 2}" x2="{LABEL_WIDTH}" y2="{height - 2}" stroke="{AXIS_COLOUR}"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text above went through escape(), numbers are ours)
