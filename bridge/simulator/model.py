"""Simulated cameras: what each one is, built from an inventory export.

``load_inventory`` reads the same CSV/XLSX exports as ``gridbridge cameras import`` (same
header words, same row validation) and turns every importable row into a ``SimCamera``.  The
simulator serves only loopback addresses (127.0.0.0/8): a row naming any other host is
refused with an error naming the row, so a demo or a test can never bind or answer outside
the machine.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from adapters.inventory_file import read_table
from bridge.inventory import resolve_columns, validate_rows
from bridge.inventory_cells import grid_codes
from bridge.model import CameraRecord

__all__ = [
    "AuthMode",
    "SimCamera",
    "SimulatorError",
    "auth_mode_for_vendor",
    "check_loopback",
    "load_inventory",
    "serial_for",
]

log = logging.getLogger(__name__)

_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class SimulatorError(Exception):
    """The simulator cannot do what was asked; the message says why and what to change."""


class AuthMode(enum.StrEnum):
    """How a camera asks for credentials on RTSP and on its HTTP snapshot URL."""

    DIGEST = "digest"  # RFC 2069 style, no qop (older Hikvision firmware)
    DIGEST_QOP = "digest-qop"  # RFC 2617 qop=auth (Dahua, Uniview, newer firmware)
    BASIC = "basic"  # Basic only (cheap or old cameras configured for it)


# Vendor column text (lower case) → how that vendor's cameras challenge.
_VENDOR_AUTH = {
    "海康威视": AuthMode.DIGEST,
    "海康": AuthMode.DIGEST,
    "hikvision": AuthMode.DIGEST,
    "大华": AuthMode.DIGEST_QOP,
    "dahua": AuthMode.DIGEST_QOP,
    "宇视": AuthMode.DIGEST_QOP,
    "uniview": AuthMode.DIGEST_QOP,
}

_DEFAULT_PATHS = {
    AuthMode.DIGEST: "/Streaming/Channels/101",
    AuthMode.DIGEST_QOP: "/cam/realmonitor?channel=1&subtype=0",
    AuthMode.BASIC: "/stream1",
}


def auth_mode_for_vendor(vendor: str) -> AuthMode:
    """The challenge a vendor's cameras use; unknown vendors get Digest with qop=auth."""
    return _VENDOR_AUTH.get(vendor.strip().lower(), AuthMode.DIGEST_QOP)


def serial_for(camera_id: str, *, replaced: bool = False) -> str:
    """A stable serial number derived from the camera ID (another one when ``replaced``)."""
    salt = ":replaced" if replaced else ""
    digest = hashlib.sha256(f"{camera_id}{salt}".encode()).hexdigest().upper()
    return f"SIM{digest[:13]}"


def check_loopback(host: str) -> None:
    """Raise ``SimulatorError`` unless ``host`` is an IPv4 literal in 127.0.0.0/8."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise SimulatorError(
            f"host {host!r} is not an IP address; the simulator serves only 127.x.y.z literals"
        ) from None
    if address not in _LOOPBACK:
        raise SimulatorError(
            f"host {host} is not a loopback address; the simulator serves only 127.0.0.0/8 "
            "so that it never answers outside this machine"
        )


@dataclass(frozen=True, slots=True)
class SimCamera:
    """One simulated camera: its own loopback address, ports, credentials and identity.

    ``username``/``password`` None means the camera asks for no credentials.  ``rtsp_path``
    is the path (with query) that DESCRIBE must name.  ``serial`` is what GetDeviceInformation
    reports while the camera is not ``replaced``.
    """

    id: str
    name: str
    host: str
    rtsp_port: int = 554
    onvif_port: int = 80
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    rtsp_path: str = "/Streaming/Channels/101"
    vendor: str = ""
    model: str = ""
    serial: str = ""
    auth: AuthMode = AuthMode.DIGEST_QOP

    @classmethod
    def from_record(cls, record: CameraRecord) -> SimCamera:
        """The simulated twin of an inventory record; raises ``SimulatorError`` if not loopback."""
        if not record.host:
            raise SimulatorError("no IP address (IP地址 column empty and no RTSP address)")
        check_loopback(record.host)
        auth = auth_mode_for_vendor(record.vendor)
        path = _DEFAULT_PATHS[auth]
        if record.rtsp_url:
            parts = urlsplit(record.rtsp_url)
            if parts.path:
                path = parts.path + (f"?{parts.query}" if parts.query else "")
        return cls(
            id=record.id,
            name=record.name,
            host=record.host,
            rtsp_port=record.rtsp_port,
            onvif_port=record.onvif_port,
            username=record.username,
            password=record.password,
            rtsp_path=path,
            vendor=record.vendor,
            model=record.model,
            serial=serial_for(record.id),
            auth=auth,
        )


def check_unique_endpoints(cameras: Sequence[SimCamera]) -> None:
    """Raise ``SimulatorError`` if two cameras claim one address and port, or one ID."""
    owner: dict[tuple[str, int], str] = {}
    ids: set[str] = set()
    problems: list[str] = []
    for camera in cameras:
        if camera.id in ids:
            problems.append(f"camera {camera.id} appears twice")
        ids.add(camera.id)
        if camera.rtsp_port == camera.onvif_port:
            problems.append(f"camera {camera.id}: RTSP and ONVIF ports are both {camera.rtsp_port}")
        for port in {camera.rtsp_port, camera.onvif_port}:
            first = owner.setdefault((camera.host, port), camera.id)
            if first != camera.id:
                problems.append(f"cameras {first} and {camera.id} both use {camera.host}:{port}")
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; … {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise SimulatorError(f"cameras cannot all be served: {shown}")


def _all_grid_codes(rows: Iterable[tuple[str, ...]], columns: dict[str, int]) -> set[str]:
    indexes = [columns[f] for f in ("grid", "extra_grids") if f in columns]
    return {
        code for cells in rows for i in indexes if i < len(cells) for code in grid_codes(cells[i])
    }


def load_inventory(path: Path) -> list[SimCamera]:
    """Every importable camera of an inventory export, as ``SimCamera``s in file order.

    Rows the importer would reject are skipped (counted in one log line); every grid code
    present in the file is accepted as known.  Raises ``SimulatorError`` naming the row when a
    camera's host is missing or not loopback, or when two cameras share an address and port;
    ``InventoryFileError``/``ColumnError`` (both ``ValueError``) when the file is unreadable.
    """
    table = read_table(path)
    columns = resolve_columns(table.headers)
    known = _all_grid_codes((cells for _, cells in table.rows), columns)
    records, issues = validate_rows(table, columns, known_grids=known)
    skipped = {issue.row for issue in issues if issue.severity == "error"}
    if skipped:
        log.info("%s: %d rows skipped (the importer rejects them)", path.name, len(skipped))
    cameras: list[SimCamera] = []
    for record in records:
        try:
            cameras.append(SimCamera.from_record(record))
        except SimulatorError as exc:
            raise SimulatorError(
                f"{path.name} row {record.source_row} (camera {record.id}): {exc}"
            ) from None
    check_unique_endpoints(cameras)
    return cameras
