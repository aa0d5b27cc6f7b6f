"""The page's colours, measured: every text colour against the backgrounds it is used on
reaches 7:1 (WCAG 2.2 AAA, 1.4.6), every non-text mark (state markers on the map, borders of
inputs, the focus ring) 3:1 (1.4.11).  The figures are printed in docs/web-ui.md; a test
holds the doc to what app.css really says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.web import static_files

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "web-ui.md"

# (foreground, background, where it is used); text pairs need 7:1.
TEXT_PAIRS = [
    ("text", "page", "body text on the page"),
    ("text", "card", "text on cards"),
    ("muted", "card", "labels (故障：, 开始于：) on cards"),
    ("muted", "page", "footer and notes on the page"),
    ("muted", "map-water", "暂无画面 on an empty picture frame"),
    ("link", "card", "links on cards"),
    ("link", "page", "links on the page"),
    ("on-brand", "brand", "header: product name, user, navigation"),
    ("on-link", "link", "primary buttons"),
    ("on-online", "online", "在线 badge"),
    ("on-degraded", "degraded", "异常 badge"),
    ("on-offline", "offline", "离线 badge"),
    ("on-unknown", "unknown", "未检测 badge"),
    ("late", "card", "已超时, deadlines missed"),
    ("key", "card", "重点 mark"),
    ("text", "notice", "notices"),
    ("text", "focus", "skip link"),
    ("text", "map-land", "names on the map"),
]
# Non-text marks need 3:1 against what they sit on.
MARK_PAIRS = [
    ("online", "map-land", "在线 marker on the map"),
    ("text", "map-land", "outline of the 异常 marker (amber alone is 1.8:1)"),
    ("offline", "map-land", "离线 marker on the map"),
    ("unknown", "map-land", "未检测 marker on the map"),
    ("line", "card", "borders of inputs and cards"),
    ("focus-ring", "page", "focus ring (dark) on the page"),
    ("focus", "brand", "focus ring (yellow) in the header"),
]


def palette() -> dict[str, str]:
    css = static_files.assets()["app.css"].body.decode()
    root = css[css.index(":root") : css.index("}", css.index(":root"))]
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})\s*;", root))


def luminance(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def table() -> str:
    """The Markdown table docs/web-ui.md prints (regenerate: python -c … table())."""
    colours = palette()
    rows = ["| foreground | background | ratio | needs | used for |", "|---|---|---|---|---|"]
    for pairs, needs in ((TEXT_PAIRS, "7:1"), (MARK_PAIRS, "3:1")):
        for fg, bg, what in pairs:
            ratio = contrast(colours[fg], colours[bg])
            pair = f"`{fg}` {colours[fg]} | `{bg}` {colours[bg]}"
            rows.append(f"| {pair} | {ratio:.1f}:1 | {needs} | {what} |")
    return "\n".join(rows)


def test_contrast_formula_matches_wcag_examples() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize(("fg", "bg", "what"), TEXT_PAIRS)
def test_text_reaches_7_to_1(fg: str, bg: str, what: str) -> None:
    colours = palette()
    assert contrast(colours[fg], colours[bg]) >= 7.0, what


@pytest.mark.parametrize(("fg", "bg", "what"), MARK_PAIRS)
def test_marks_reach_3_to_1(fg: str, bg: str, what: str) -> None:
    colours = palette()
    assert contrast(colours[fg], colours[bg]) >= 3.0, what


def test_the_doc_prints_the_measured_figures() -> None:
    assert table() in DOC.read_text(encoding="utf-8"), (
        "docs/web-ui.md is out of date; paste this table:\n" + table()
    )


if __name__ == "__main__":
    print(table())
