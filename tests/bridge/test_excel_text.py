"""The one CSV guard of the exports (bridge.excel_text)."""

from bridge.excel_text import excel_text


def test_formulas_are_defused_and_long_codes_kept_as_text() -> None:
    assert excel_text('=HYPERLINK("http://x")', digits_over=15).startswith("'=")
    assert excel_text("-1+1", digits_over=15) == "'-1+1"
    assert excel_text("41990100011326000001", digits_over=15) == "41990100011326000001\t"
    assert excel_text("419901001002", digits_over=11) == "419901001002\t"
    assert excel_text("419901001002", digits_over=15) == "419901001002"
    assert excel_text("陈桥社区东门", digits_over=11) == "陈桥社区东门"
