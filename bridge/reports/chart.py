"""A ranking as a horizontal bar chart in SVG, rendered on the server (pure).

One bar per area, in the order given (worst first), its rate printed beside it; colours
from a fixed palette by how good the rate is, and a word-free grey for "no data" (the
printed value says 无数据).  Labels are area names from the grid file — untrusted text:
escaped for XML, control characters dropped, long names shortened (the full name is in the
bar's ``<title>``).  No scripts, no external references, no fonts to fetch: the picture
shows the same in an intranet browser and in an ``<img>`` tag.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Bar", "bar_chart"]

PALETTE = {
    "good": "#2e7d32",  # ≥ 95 %
    "fair": "#f9a825",  # ≥ 80 %
    "poor": "#c62828",  # below
    "none": "#9e9e9e",  # no monitored time
    "text": "#212121",
    "axis": "#757575",
    "grid": "#e0e0e0",
    "background": "#ffffff",
}
GOOD, FAIR = 0.95, 0.80
FONT = "'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif"
FONT_PX = 16  # large type: the page is for older operators too
ROW_PX = 32
BAR_PX = 22
MAX_LABEL_COLUMNS = 24  # a CJK character takes two
VALUE_PX = 76
MARGIN_PX = 12
TITLE_PX = 40
AXIS_PX = 28

# Characters XML 1.0 does not allow (and the Unicode non-characters it discourages).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label and its rate as a fraction (``None``: no data)."""

    label: str
    value: float | None


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _shorten(text: str, limit: int = MAX_LABEL_COLUMNS) -> str:
    if _columns(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        used += _columns(ch)
        if used > limit - 1:
            break
        out.append(ch)
    return "".join(out) + "…"


def _x(text: str) -> str:
    return escape(text, quote=True)


def _colour(value: float | None) -> str:
    if value is None:
        return PALETTE["none"]
    if value >= GOOD:
        return PALETTE["good"]
    return PALETTE["fair"] if value >= FAIR else PALETTE["poor"]


def _percent(value: float | None) -> str:
    return "无数据" if value is None else f"{value * 100:.1f}%"


def bar_chart(bars: Sequence[Bar], *, title: str, width: int = 800) -> str:
    """The SVG document (UTF-8 text) of ``bars`` under ``title``: ``width`` pixels wide
    (at least 400), as tall as its bars need."""
    width = max(400, width)
    labels = [_shorten(_clean(bar.label)) for bar in bars]
    label_px = max([_columns(label) for label in labels] + [4]) * FONT_PX // 2 + MARGIN_PX
    plot_x = MARGIN_PX + label_px
    plot_w = max(100, width - plot_x - VALUE_PX - MARGIN_PX)
    height = TITLE_PX + max(1, len(bars)) * ROW_PX + AXIS_PX + MARGIN_PX
    clean_title = _clean(title)
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_x(clean_title)}" '
        f'font-family="{_x(FONT)}" font-size="{FONT_PX}">',
        f"<title>{_x(clean_title)}</title>",
        f'<rect width="{width}" height="{height}" fill="{PALETTE["background"]}"/>',
        f'<text x="{MARGIN_PX}" y="{TITLE_PX - 14}" font-size="{FONT_PX + 2}" '
        f'font-weight="bold" fill="{PALETTE["text"]}">{_x(clean_title)}</text>',
    ]
    axis_y = TITLE_PX + max(1, len(bars)) * ROW_PX
    for tick in (0, 25, 50, 75, 100):
        x = plot_x + plot_w * tick / 100
        out.append(
            f'<line x1="{x:.1f}" y1="{TITLE_PX}" x2="{x:.1f}" y2="{axis_y}" '
            f'stroke="{PALETTE["grid"]}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{axis_y + 20}" text-anchor="middle" '
            f'font-size="{FONT_PX - 2}" fill="{PALETTE["axis"]}">{tick}%</text>'
        )
    if not bars:
        out.append(
            f'<text x="{plot_x}" y="{TITLE_PX + ROW_PX - 10}" '
            f'fill="{PALETTE["axis"]}">无数据</text>'
        )
    for i, (bar, label) in enumerate(zip(bars, labels, strict=True)):
        y = TITLE_PX + i * ROW_PX
        value = None if bar.value is None else min(1.0, max(0.0, bar.value))
        bar_w = plot_w * (value or 0.0)
        text_y = y + ROW_PX / 2 + FONT_PX / 3
        out.append(f"<g><title>{_x(_clean(bar.label))}: {_percent(bar.value)}</title>")
        out.append(
            f'<text x="{plot_x - 8}" y="{text_y:.1f}" text-anchor="end" '
            f'fill="{PALETTE["text"]}">{_x(label)}</text>'
        )
        out.append(
            f'<rect x="{plot_x}" y="{y + (ROW_PX - BAR_PX) / 2:.1f}" width="{bar_w:.1f}" '
            f'height="{BAR_PX}" fill="{_colour(value)}"/>'
        )
        out.append(
            f'<text x="{plot_x + bar_w + 6:.1f}" y="{text_y:.1f}" '
            f'fill="{PALETTE["text"]}">{_percent(value)}</text></g>'
        )
    out.append(
        f'<line x1="{plot_x}" y1="{TITLE_PX}" x2="{plot_x}" y2="{axis_y}" '
        f'stroke="{PALETTE["axis"]}" stroke-width="1"/>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"
