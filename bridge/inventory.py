"""Camera inventory rows → validated ``CameraRecord``s plus every problem, row by row.

Pure: no file I/O (``load_column_map`` reads one small TOML file), no asyncio, no SQL.  The
adapter ``adapters.inventory_file`` turns a CSV/XLSX export into a ``RawTable``;
``resolve_columns`` finds the fields in its header; ``validate_rows`` checks each row.
Messages never contain a password or a URL with credentials.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from bridge.coords import parse_crs, to_wgs84
from bridge.gb28181 import DeviceId, DeviceIdError, parse_device_id
from bridge.inventory_cells import (
    clip,
    grid_codes,
    in_china,
    is_host,
    parse_key_location,
    parse_number,
    parse_port,
)
from bridge.inventory_columns import (
    FIELDS,
    ColumnError,
    is_header,
    known_header_words,
    load_column_map,
    normalise_header,
    resolve_columns,
)
from bridge.model import CameraRecord, Crs, RowIssue, Severity
from bridge.url_credentials import (
    mask_url,
    mask_userinfo,
    split_rtsp_credentials,
    url_host_port,
)

__all__ = [
    "FIELDS",
    "ColumnError",
    "RawTable",
    "is_header",
    "known_header_words",
    "load_column_map",
    "mask_url",
    "normalise_header",
    "parse_key_location",
    "resolve_columns",
    "split_rtsp_credentials",
    "validate_rows",
]

ERROR, WARNING = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True, slots=True)
class RawTable:
    """An inventory export as text, before any validation.

    ``header_row`` and each row's number are 1-based spreadsheet row numbers, so people can
    find them in Excel.  Cells are stripped strings; every row has exactly ``len(headers)``
    cells (short rows padded with '', cells beyond the last header dropped).  Blank rows
    are left out; the numbers of the others stay true.
    """

    source: str
    sheet: str | None
    header_row: int
    headers: tuple[str, ...]
    rows: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)


@dataclass(slots=True)
class _Row:
    """One row being checked: its cells, its camera ID for messages, its issues so far."""

    number: int
    cells: tuple[str, ...]
    camera_id: str | None = None
    issues: list[RowIssue] = field(default_factory=list)
    failed: bool = False

    def add(self, kind: str, message: str, severity: Severity = ERROR) -> None:
        self.issues.append(RowIssue(self.number, self.camera_id, kind, message, severity))
        self.failed = self.failed or severity is ERROR


class _Validator:
    """Checks rows one by one against fixed settings; remembers IDs for duplicate checks."""

    def __init__(
        self,
        table: RawTable,
        columns: dict[str, int],
        known_grids: Collection[str],
        default_crs: Crs | None,
        default_rtsp_port: int,
        default_onvif_port: int,
    ) -> None:
        self.col = {f: columns.get(f) for f in FIELDS}
        self.header = {f: table.headers[i] for f, i in columns.items() if i < len(table.headers)}
        self.known_grids = frozenset(known_grids)
        self.default_crs = default_crs
        self.default_rtsp_port = default_rtsp_port
        self.default_onvif_port = default_onvif_port
        self.first_row_of: dict[str, int] = {}

    def get(self, row: _Row, name: str) -> str:
        index = self.col[name]
        return row.cells[index] if index is not None and index < len(row.cells) else ""

    def check(self, number: int, cells: tuple[str, ...]) -> tuple[CameraRecord | None, _Row]:
        row = _Row(number, cells)
        device = self._check_id(row)
        grids = self._check_grids(row)
        lon, lat, crs, lon_wgs, lat_wgs = self._check_location(row, bool(grids))
        url, user, password, url_host, url_port = self._check_rtsp(row)
        host = self.get(row, "host") or url_host
        if host and not is_host(host):
            row.add("bad_host", f"{self._name('host')} {clip(host)} is not an IP address or name")
        rtsp_port = self._check_port(row, "rtsp_port", url_port or self.default_rtsp_port)
        onvif_port = self._check_port(row, "onvif_port", self.default_onvif_port)
        key = parse_key_location(self.get(row, "key_location"))
        if key is None:
            row.add(
                "bad_key_location",
                f"{self._name('key_location')} {clip(self.get(row, 'key_location'))} "
                "is not 是/否; taken as 否",
                WARNING,
            )
        upstream = self._check_upstream(row)
        if device is None or row.failed:
            return None, row
        record = CameraRecord(
            id=device.text,
            name=self.get(row, "name"),
            type_code=device.type_code,
            host=host or None,
            rtsp_port=rtsp_port,
            onvif_port=onvif_port,
            username=user,
            password=password,
            rtsp_url=url,
            lon=lon,
            lat=lat,
            crs=crs,
            lon_wgs84=lon_wgs,
            lat_wgs84=lat_wgs,
            explicit_grids=grids,
            key_location=bool(key),
            upstream_id=upstream,
            address=self.get(row, "address"),
            vendor=self.get(row, "vendor"),
            model=self.get(row, "model"),
            source_row=number,
        )
        return record, row

    def _name(self, name: str) -> str:
        """The user's header text for a field, for messages."""
        return self.header.get(name, name)

    def _check_id(self, row: _Row) -> DeviceId | None:
        raw = self.get(row, "id")
        try:
            device = parse_device_id(raw)
        except DeviceIdError as exc:
            row.camera_id = raw[:64] or None
            row.add("bad_id", f"camera ID {clip(raw)} is not a GB/T 28181 ID: {exc}")
            return None
        row.camera_id = device.text
        if not device.is_camera:
            row.add(
                "not_camera_type",
                f"type code {device.type_code} ({device.type_name}) is not a camera "
                "(131/132); imported anyway",
                WARNING,
            )
        first = self.first_row_of.setdefault(device.text, row.number)
        if first != row.number:
            row.add("duplicate_id", f"same camera ID as row {first}; this row is not imported")
        return device

    def _check_grids(self, row: _Row) -> tuple[str, ...]:
        grids = grid_codes(self.get(row, "grid"), self.get(row, "extra_grids"))
        unknown = [c for c in grids if c not in self.known_grids]
        if unknown:
            row.add(
                "unknown_grid",
                f"grid code {', '.join(clip(c) for c in unknown)} is not in the grid map",
            )
        return grids

    def _check_location(
        self, row: _Row, has_grid: bool
    ) -> tuple[float | None, float | None, Crs | None, float | None, float | None]:
        none = (None, None, None, None, None)
        lon_t, lat_t = self.get(row, "lon"), self.get(row, "lat")
        lon = parse_number(lon_t) if lon_t else None
        lat = parse_number(lat_t) if lat_t else None
        if lon == 0 and lat == 0:  # 0,0 is what platforms export for "position unknown"
            lon_t = lat_t = ""
        if not lon_t and not lat_t:
            if has_grid:
                row.add("no_location", "no coordinates; placed by its grid code only", WARNING)
            else:
                row.add("no_location", "no coordinates and no grid code: cannot be placed")
            return none
        crs = self._check_crs(row)
        if not lon_t or not lat_t:
            missing = "lat" if lon_t else "lon"
            row.add("bad_location", f"{self._name(missing)} is empty: both coordinates needed")
            return none
        if lon is None or lat is None:
            row.add("bad_location", f"coordinates {clip(lon_t)}, {clip(lat_t)} are not numbers")
            return none
        if not in_china(lon, lat):
            if in_china(lat, lon):
                row.add(
                    "swapped_lat_lon",
                    f"longitude {clip(lon_t)} and latitude {clip(lat_t)} are swapped; "
                    "fix the columns and import again",
                )
            elif not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                row.add("bad_location", f"coordinates {lon_t}, {lat_t} are out of range")
            else:
                row.add(
                    "bad_location",
                    f"coordinates {lon_t}, {lat_t} lie outside China "
                    "(longitude 73–136, latitude 3–54)",
                )
            return none
        if crs is None:
            return none
        lon_wgs, lat_wgs = to_wgs84(lon, lat, crs)
        return lon, lat, crs, lon_wgs, lat_wgs

    def _check_crs(self, row: _Row) -> Crs | None:
        text = self.get(row, "crs")
        if not text:
            if self.default_crs is None:
                row.add(
                    "bad_crs",
                    f"coordinate system missing ({self._name('crs')} is empty); "
                    "write WGS84, GCJ02 or BD09",
                )
            return self.default_crs
        crs = parse_crs(text)
        if crs is None:
            row.add(
                "bad_crs",
                f"coordinate system {clip(text)} not recognised; use WGS84, GCJ02 or BD09",
            )
        return crs

    def _check_rtsp(
        self, row: _Row
    ) -> tuple[str | None, str | None, str | None, str | None, int | None]:
        """(url without credentials, username, password, host of the URL, port of the URL)."""
        user = self.get(row, "username") or None
        password = self.get(row, "password") or None
        text = self.get(row, "rtsp_url")
        if not text:
            return None, user, password, None, None
        # Never echo the URL: it may hold a password, even when malformed.
        bare, url_user, url_password = split_rtsp_credentials(text)
        parts = url_host_port(bare)
        if parts is None or parts[0] not in ("rtsp", "rtsps"):
            row.add("bad_rtsp", "RTSP address must look like rtsp://host[:port]/path")
            return None, user, password, None, None
        if mask_userinfo(bare) != bare:  # e.g. rtsp://admin:123/x@ : never store a password
            row.add("bad_rtsp", "RTSP address holds credentials that cannot be separated")
            return None, user, password, None, None
        if any(c.isspace() for c in bare):
            row.add("bad_rtsp", "RTSP address contains spaces")
            return None, user, password, None, None
        _, host, port_text = parts
        port = parse_port(port_text) if port_text else None
        if port_text and port is None:
            row.add("bad_rtsp", f"RTSP address has an invalid port {clip(port_text)}")
            return None, user, password, None, None
        conflict = (url_user is not None and user is not None and url_user != user) or (
            url_password is not None and password is not None and url_password != password
        )
        if conflict:
            row.add(
                "credentials_conflict",
                f"the RTSP address carries credentials different from the "
                f"{self._name('username')}/{self._name('password')} columns; "
                "the address's are used",
                WARNING,
            )
        return bare, url_user or user, url_password or password, host, port

    def _check_port(self, row: _Row, name: str, default: int) -> int:
        text = self.get(row, name)
        if not text:
            return default
        port = parse_port(text)
        if port is None:
            row.add("bad_port", f"{self._name(name)} {clip(text)} is not a port (1–65535)")
            return default
        return port

    def _check_upstream(self, row: _Row) -> str | None:
        text = self.get(row, "upstream")
        if not text:
            return None
        try:
            return parse_device_id(text).text
        except DeviceIdError as exc:
            row.add(
                "bad_upstream",
                f"upstream device {clip(text)} is not a GB/T 28181 ID ({exc}); left empty",
                WARNING,
            )
            return None


def validate_rows(
    table: RawTable,
    columns: dict[str, int],
    *,
    known_grids: Collection[str],
    default_crs: Crs | None = None,
    default_rtsp_port: int = 554,
    default_onvif_port: int = 80,
) -> tuple[list[CameraRecord], list[RowIssue]]:
    """Check every row; return the importable cameras and every problem found, in row order.

    Each row is checked completely, so one row can have several issues.  Only rows with an
    ERROR are left out; WARNING rows are imported.  Kinds (``RowIssue.kind``):

    errors: ``bad_id`` (not a 20-digit GB/T 28181 ID), ``duplicate_id`` (the ID of an
    earlier row, whatever that row's fate; the first row claims the ID), ``swapped_lat_lon``,
    ``no_location`` (no coordinates and no grid code), ``bad_location`` (non-numeric, one of
    the pair missing, out of range, outside China), ``bad_crs`` (coordinate system not
    recognised, or empty with no ``default_crs``), ``bad_rtsp``, ``unknown_grid`` (a grid
    or extra grid code not in ``known_grids``), ``bad_port``, ``bad_host``;
    warnings: ``not_camera_type`` (type not 131/132), ``no_location`` (grid code but no
    coordinates), ``credentials_conflict``, ``bad_key_location``, ``bad_upstream``.

    Coordinates 0,0 count as none.  Records get coordinates converted to WGS-84, RTSP URLs
    without credentials (those move to username/password, overriding the columns), the host
    of the URL when the host column is empty, and the URL's port when RTSP端口 is empty.
    """
    validator = _Validator(
        table, columns, known_grids, default_crs, default_rtsp_port, default_onvif_port
    )
    records: list[CameraRecord] = []
    issues: list[RowIssue] = []
    for number, cells in table.rows:
        record, row = validator.check(number, cells)
        if record is not None:
            records.append(record)
        issues.extend(row.issues)
    return records, issues
