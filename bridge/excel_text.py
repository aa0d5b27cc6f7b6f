"""Text cells that Excel opens as written (pure): the one guard of every CSV export.

A value from the inventory or the grid file that starts like a formula (``=``, ``+``, ``-``,
``@``, tab, CR) must not run as one when Excel opens the file: it gets a leading ``'``.  A
long digit string (a camera ID, a grid code) would be shown as ``4.19901E+11`` or cut to
15 digits: a trailing tab keeps it text (the usual remedy in Chinese CSV exports).
"""

from __future__ import annotations

__all__ = ["FORMULA_START", "excel_text"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def excel_text(text: str, *, digits_over: int) -> str:
    """``text`` safe for a CSV cell: formulas defused, digit strings longer than
    ``digits_over`` kept as text."""
    if text.startswith(FORMULA_START):
        return "'" + text
    if text.isdigit() and len(text) > digits_over:
        return text + "\t"
    return text
