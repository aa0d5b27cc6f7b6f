"""The ranking's SVG bar chart: well-formed, escaped, fixed colours, values printed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bridge.reports.chart import PALETTE, Bar, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_bars_with_their_values_and_colours() -> None:
    svg = bar_chart(
        [Bar("东村一网格", 0.5), Bar("西村", 0.85), Bar("南社区", 0.99), Bar("新网格", None)],
        title="在线率排名",
        width=600,
    )
    root = parse(svg)
    assert (root.get("width"), root.get("height")) == ("600", str(40 + 4 * 32 + 28 + 12))
    assert root.get("viewBox") == f"0 0 600 {root.get('height')}"
    shown = texts(root)
    assert shown[0] == "在线率排名"
    for label, value in (("东村一网格", "50.0%"), ("西村", "85.0%"), ("南社区", "99.0%")):
        assert label in shown
        assert value in shown
    assert "无数据" in shown
    fills = [r.get("fill") for r in root.iter(f"{SVG}rect")][1:]  # after the background
    assert fills == [PALETTE["poor"], PALETTE["fair"], PALETTE["good"], PALETTE["none"]]
    widths = [float(r.get("width") or 0) for r in root.iter(f"{SVG}rect")][1:]
    assert widths[0] / 0.5 == pytest.approx(widths[2] / 0.99, abs=0.2)  # proportional
    assert widths[3] == 0.0


def test_untrusted_names_are_escaped_and_cleaned() -> None:
    evil = '</text><script>alert(1)</script><a href="javascript:x">&amp;\x00\x1b'
    svg = bar_chart([Bar(evil, 0.5)], title='报表 <b>"x"</b> & \x07')
    assert "<script" not in svg
    assert 'javascript:x"' not in svg
    assert "\x00" not in svg
    assert "\x1b" not in svg
    assert "\x07" not in svg
    root = parse(svg)  # well-formed XML
    assert root.find(f"{SVG}title") is not None
    assert "".join(root.find(f"{SVG}title").itertext()) == '报表 <b>"x"</b> & '  # type: ignore[union-attr]
    # The full name is in the bar's tooltip; the label is shortened.
    tips = ["".join(t.itertext()) for t in root.iter(f"{SVG}title")][1:]
    assert tips == ['</text><script>alert(1)</script><a href="javascript:x">&amp;: 50.0%']
    assert any(t.endswith("…") for t in texts(root))
    assert not list(root.iter(f"{SVG}script"))
    assert not list(root.iter(f"{SVG}a"))


def test_no_bars_and_clamped_values() -> None:
    root = parse(bar_chart([], title="空"))
    assert "无数据" in texts(root)
    assert root.get("width") == "800"
    root = parse(bar_chart([Bar("x", 1.5), Bar("y", -1.0)], title="t", width=10))
    assert root.get("width") == "400"  # at least 400
    assert "100.0%" in texts(root)
    assert "0.0%" in texts(root)


def test_long_chinese_labels_are_shortened_by_display_width() -> None:
    name = "城关镇东关街道陈桥社区第一网格工作站点位"  # 20 characters, 40 columns
    root = parse(bar_chart([Bar(name, 0.9)], title="t"))
    label = texts(root)[-2]
    assert label.endswith("…")
    assert len(label) == 12  # 11 characters (22 columns) and the ellipsis
