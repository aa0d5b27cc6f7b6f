"""Printing data for people (aligned tables, CJK-aware) and scripts (JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Literal

Format = Literal["table", "json", "csv"]
FORMATS: tuple[Format, ...] = ("table", "json", "csv")


def jsonable(value: Any) -> Any:
    """Plain JSON values for enums, datetimes (ISO 8601, UTC) and tuples."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, indent=2)


def width(text: str) -> int:
    """Columns the text takes on a terminal: CJK characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value: Any) -> str:
    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned plain-text table."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [width(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], width(text))

    def line(items: Sequence[str]) -> str:
        return "  ".join(t + " " * (w - width(t)) for t, w in zip(items, widths, strict=True))

    out = [line(headers).rstrip(), "  ".join("-" * w for w in widths)]
    out.extend(line(row).rstrip() for row in cells)
    return "\n".join(out)


def csv_text(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV with a header row; lists joined by ';'. UTF-8 (callers add a BOM for Excel)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(
            [";".join(map(str, v)) if isinstance(v, (list, tuple)) else _cell(v) for v in row]
        )
    return buf.getvalue()
