"""Read a camera inventory export (CSV or XLSX) into a ``RawTable`` of text cells.

No validation of content: that is ``bridge.inventory``.  This module only finds the sheet
and the header row, decodes text and converts spreadsheet values to strings.  Every failure
to read the file at all is an ``InventoryFileError`` naming the file and the problem.

Untrusted input: the file size is capped before reading, rows are capped while reading,
and an XLSX's declared uncompressed size is capped before it is opened (zip bombs).
openpyxl parses the XLSX's XML with defusedxml when that is installed (it is a dependency of
gridbridge): ``openpyxl.DEFUSEDXML`` says so, and it is False when defusedxml is missing or
the environment sets ``OPENPYXL_DEFUSEDXML=False``.  Then we refuse XLSX rather than parse
untrusted XML with entity expansion allowed (DESIGN §12).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl

from adapters.files import checked_size
from bridge.inventory import RawTable, is_header, known_header_words

__all__ = ["HEADER_SEARCH_ROWS", "InventoryFileError", "RawTable", "read_table"]

HEADER_SEARCH_ROWS = 20
CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
# An XLSX is a zip of XML; its text is typically 5–10× the file.  More than this many times
# max_bytes of declared content is a zip bomb, not an inventory.
_MAX_XLSX_EXPANSION = 20
_SNIFF_BYTES = 1024

HeaderTest = Callable[[Sequence[str]], bool]


class InventoryFileError(ValueError):
    """The file cannot be read as an inventory; the message names the file and the reason."""


def read_table(
    path: Path,
    *,
    max_bytes: int = 50 * 1024 * 1024,
    max_rows: int = 200_000,
    sheet: str | None = None,
    is_header: HeaderTest = is_header,
) -> RawTable:
    """Read ``path`` (.csv/.tsv/.txt or .xlsx/.xlsm) into a ``RawTable``.

    The header is the first row among the first 20 for which ``is_header`` is true (title
    rows above it are skipped); for XLSX, the first sheet holding such a row, or ``sheet``.
    A header with no data rows gives a table with no rows.  CSV text may be UTF-8 (with or
    without BOM), UTF-16 with BOM (Excel's "Unicode text") or GB18030/GBK; the delimiter is
    ',' unless the first KiB shows tabs or semicolons.

    Raises ``InventoryFileError`` for: a missing file, one over ``max_bytes``, an
    unsupported or old ``.xls`` format, undecodable text, an empty file, no header row,
    more than ``max_rows`` data rows, an unknown ``sheet``.
    """
    name = path.name
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise InventoryFileError(
            f"{name}: old binary Excel (.xls) is not supported; "
            "open it in Excel or WPS and save it as .xlsx or CSV"
        )
    if suffix not in CSV_SUFFIXES | XLSX_SUFFIXES:
        raise InventoryFileError(
            f"{name}: unsupported file type {path.suffix or '(none)'!r}; use .xlsx or .csv"
        )
    size, problem = checked_size(path, max_bytes)
    if problem:
        where = path if "allowed" not in problem else name
        hint = " (inventory.max_file_mb)" if "allowed" in problem else ""
        raise InventoryFileError(f"{where}: {problem}{hint}")
    if size == 0:
        raise InventoryFileError(f"{name}: the file is empty")
    if suffix in XLSX_SUFFIXES:
        return _read_xlsx(path, max_bytes, max_rows, sheet, is_header)
    return _read_csv(path, max_rows, is_header)


# --- CSV ------------------------------------------------------------------------------------


def _decode(name: str, data: bytes) -> str:
    encodings: tuple[str, ...]
    if data.startswith(codecs.BOM_UTF8):
        encodings = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    else:
        # GB18030 is a superset of GBK and GB2312, which Excel writes on Chinese Windows.
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InventoryFileError(
        f"{name}: the text is neither UTF-8 nor GB18030/GBK; save it as 'CSV UTF-8' in Excel"
    )


def _delimiter(text: str) -> str:
    sample = text[:_SNIFF_BYTES]
    if "\t" not in sample and ";" not in sample:
        return ","
    cut = sample.rfind("\n")
    try:
        return csv.Sniffer().sniff(sample[:cut] if cut > 0 else sample, ",\t;").delimiter
    except csv.Error:
        return max(",\t;", key=sample.count)


def _read_csv(path: Path, max_rows: int, is_header: HeaderTest) -> RawTable:
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InventoryFileError(f"{name}: cannot read: {exc.strerror}") from None
    text = _decode(name, data)
    if not text.strip():
        raise InventoryFileError(f"{name}: the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    records = (tuple(cell.strip() for cell in record) for record in reader)
    try:
        return _table(name, None, enumerate(records, start=1), max_rows, is_header)
    except csv.Error as exc:
        raise InventoryFileError(f"{name}: not readable as CSV: {exc}") from None


# --- XLSX -----------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    """A spreadsheet value as the text a person sees; IDs stored as numbers keep their digits.

    openpyxl gives ``int`` for whole numbers stored without a decimal point, so a 20-digit ID
    stored as a number survives.  A ``float`` beyond 2**53 has already lost digits; it is
    left as ``repr`` ('4.1990100011326e+19') for the validator to report, not rounded into
    a plausible but wrong ID.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def _check_zip(path: Path, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise InventoryFileError(
            f"{path.name}: not a valid .xlsx file (damaged, or another format renamed)"
        ) from None
    if declared > max_bytes * _MAX_XLSX_EXPANSION:
        raise InventoryFileError(
            f"{path.name}: unpacks to {declared / 2**20:.0f} MiB, too much for an inventory"
        )


def _read_xlsx(
    path: Path, max_bytes: int, max_rows: int, sheet: str | None, is_header: HeaderTest
) -> RawTable:
    name = path.name
    if not openpyxl.DEFUSEDXML:
        raise InventoryFileError(
            f"{name}: refusing to read .xlsx without defusedxml (install it, and do not set "
            "OPENPYXL_DEFUSEDXML=False)"
        )
    _check_zip(path, max_bytes)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise InventoryFileError(f"{name}: not a readable .xlsx file ({exc})") from None
    try:
        if sheet is not None:
            if sheet not in workbook.sheetnames:
                raise InventoryFileError(
                    f"{name}: no sheet {sheet!r}; sheets: {', '.join(workbook.sheetnames)}"
                )
            sheets = [workbook[sheet]]
        else:
            sheets = list(workbook.worksheets)
        empty = True
        for worksheet in sheets:
            rows = enumerate(_sheet_rows(worksheet), start=1)
            try:
                return _table(name, worksheet.title, rows, max_rows, is_header)
            except _NoHeaderError as exc:
                empty = empty and exc.empty
        where = f"sheet {sheet!r}" if sheet is not None else "any sheet"
        if empty:
            raise InventoryFileError(
                f"{name}: {where} is empty" if sheet is not None else f"{name}: the file is empty"
            )
        raise _no_header(name, where)
    except InventoryFileError:
        raise
    except Exception as exc:  # a damaged sheet fails while streaming, not at open
        raise InventoryFileError(f"{name}: not a readable .xlsx file ({exc})") from None
    finally:
        workbook.close()


def _sheet_rows(worksheet: Any) -> Iterator[tuple[str, ...]]:
    # The <dimension> a file declares may be wrong (some exporters write "A1"); read-only
    # mode would cut rows to it.  Reset it so every cell is read.
    worksheet.reset_dimensions()
    for values in worksheet.iter_rows(min_row=1, values_only=True):
        yield tuple(_cell_text(v) for v in values)


# --- shared ---------------------------------------------------------------------------------


class _NoHeaderError(Exception):
    """No header in the first rows of one sheet; ``empty`` if those rows were all blank."""

    def __init__(self, empty: bool) -> None:
        super().__init__("no header row")
        self.empty = empty


def _no_header(name: str, where: str) -> InventoryFileError:
    return InventoryFileError(
        f"{name}: no header row with known column names in the first {HEADER_SEARCH_ROWS} "
        f"rows of {where}; known names: {known_header_words()}; use --columns MAP.toml"
    )


def _table(
    name: str,
    sheet: str | None,
    rows: Iterable[tuple[int, tuple[str, ...]]],
    max_rows: int,
    is_header: HeaderTest,
) -> RawTable:
    """Find the header within the first rows, then collect the non-blank rows after it.

    Raises ``_NoHeaderError`` for XLSX sheets (the caller tries the next sheet); for CSV
    (``sheet`` None) it raises ``InventoryFileError`` directly.
    """
    iterator = iter(rows)
    header: tuple[str, ...] | None = None
    header_row = 0
    blank = True
    for number, cells in iterator:
        if any(cells):
            blank = False
            if is_header(cells):
                header, header_row = cells, number
                break
        if number >= HEADER_SEARCH_ROWS:
            break
    if header is None:
        if sheet is not None:
            raise _NoHeaderError(blank)
        if blank:
            raise InventoryFileError(f"{name}: the file is empty")
        raise _no_header(name, "the file")
    width = len(header)
    while width and not header[width - 1]:
        width -= 1
    headers = header[:width]
    padding = ("",) * width
    data: list[tuple[int, tuple[str, ...]]] = []
    for number, cells in iterator:
        row = cells[:width] if len(cells) >= width else (cells + padding)[:width]
        if not any(row):  # blank, or only notes in columns without a header
            continue
        if len(data) >= max_rows:
            raise InventoryFileError(
                f"{name}: more than {max_rows} data rows (inventory.max_rows); split the file"
            )
        data.append((number, row))
    return RawTable(name, sheet, header_row, headers, data)
