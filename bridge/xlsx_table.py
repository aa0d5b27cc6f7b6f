"""One XLSX table as the exports write it — the work orders (``gridbridge workorders export``)
and the 在线率 report: a bold header row, frozen, with a filter; text kept as text (openpyxl
takes a string starting with ``=`` for a formula); columns as wide as their widest text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.cli.output import width

MAX_WIDTH = 60  # characters: a long address wraps in Excel rather than hide the next columns


class XlsxTable:
    """Rows appended one at a time to ``sheet`` (an openpyxl worksheet) under ``headers``;
    `finish` when done.  Cells are reached by number: ``sheet.max_row`` and ``sheet[n]``
    scan every cell written so far (quadratic over a long export)."""

    def __init__(self, sheet: Any, headers: Sequence[str]) -> None:
        from openpyxl.styles import Font  # only the exports need openpyxl

        self.sheet = sheet
        self.widths = [width(h) for h in headers]
        self._row = 1
        sheet.append(list(headers))
        for cell in sheet[1]:
            cell.font = Font(bold=True)

    def append(self, values: Sequence[Any]) -> list[Any]:
        """Add a row; returns its cells (for number formats, fonts)."""
        self._row += 1
        self.sheet.append(list(values))
        cells = [self.sheet.cell(row=self._row, column=i) for i in range(1, len(values) + 1)]
        for i, (cell, value) in enumerate(zip(cells, values, strict=True)):
            if isinstance(value, str):
                cell.data_type = "s"
                self.widths[i] = max(self.widths[i], width(value))
        return cells

    def finish(self, min_width: int = 0) -> None:
        from openpyxl.utils import get_column_letter

        self.sheet.freeze_panes = "A2"
        self.sheet.auto_filter.ref = self.sheet.dimensions
        for i, w in enumerate(self.widths, start=1):
            column = self.sheet.column_dimensions[get_column_letter(i)]
            column.width = min(max(w, min_width), MAX_WIDTH) + 2
