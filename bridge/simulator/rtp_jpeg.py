"""RTP/JPEG (RFC 2435) packetiser and RTSP interleaved framing (RFC 2326 §10.12).

Pure: bytes in, bytes out, no I/O and no OpenCV.  ``parse_jpeg`` takes a baseline JPEG as
libjpeg writes it (what ``cv2.imencode(".jpg", …)`` returns: JFIF, two 8-bit quantisation
tables, SOF0, the standard Huffman tables, one interleaved scan) and keeps what RFC 2435
carries: size, sampling type, quantisation tables and the entropy-coded scan.  Everything
else (JFIF, Huffman tables, headers) is rebuilt by the receiver from the RTP/JPEG header,
which is why the Huffman tables must be the standard ones (libjpeg's default; not
``IMWRITE_JPEG_OPTIMIZE``) — RFC 2435 has no way to send others.

``packetise`` fragments a frame into RTP packets of payload type 26 with the tables sent
in-band (Q = 255) in the first packet, the marker bit on the last.  ``interleave`` frames one
packet for an RTSP connection: ``$``, channel, 16-bit length, packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "CLOCK_RATE",
    "MAX_DIMENSION",
    "MAX_PAYLOAD",
    "PAYLOAD_TYPE",
    "JpegError",
    "JpegScan",
    "interleave",
    "packetise",
    "parse_jpeg",
    "rtp_packet",
]

PAYLOAD_TYPE = 26  # JPEG, a static payload type (RFC 3551)
CLOCK_RATE = 90_000
MAX_PAYLOAD = 1400  # RTP payload bytes per packet: under a 1500-byte MTU with IP/TCP headers
MAX_DIMENSION = 2040  # width/8 and height/8 travel in one byte each
_Q_IN_BAND = 255  # "tables in this frame's first packet, they may change every frame"
_JPEG_HEADER = struct.Struct("!BBHBBBB")  # type-specific, offset (24 bits), type, Q, w/8, h/8
_RTP_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
_QTABLE_HEADER = struct.Struct("!BBH")  # MBZ, precision, length

_SOI, _EOI, _SOS, _DQT, _DRI = 0xD8, 0xD9, 0xDA, 0xDB, 0xDD
_SOF0 = 0xC0  # baseline; every other SOFn (progressive, arithmetic, 12-bit…) is refused
# (0xC4 DHT, 0xC8 JPG and 0xCC DAC share the range but are not frame headers)
_SOF_OTHER = frozenset(range(0xC1, 0xD0)) - {0xC4, 0xC8, 0xCC}
# RFC 2435 §4.1: type 0 is 4:2:2 (Y sampled 2x1), type 1 is 4:2:0 (Y 2x2); chroma 1x1 both.
_TYPE_OF_LUMA_SAMPLING = {0x21: 0, 0x22: 1}


class JpegError(ValueError):
    """The bytes are not a JPEG that RFC 2435 types 0/1 can carry; the message says why."""


@dataclass(frozen=True, slots=True)
class JpegScan:
    """What RFC 2435 sends of one JPEG frame."""

    width: int
    height: int
    type: int  # 0 = 4:2:2, 1 = 4:2:0
    qtables: bytes  # luma then chroma table, 64 bytes each, zig-zag order as in DQT
    scan: bytes  # entropy-coded data after the SOS header, without EOI


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "big")


def parse_jpeg(data: bytes) -> JpegScan:
    """Split a baseline YCbCr JPEG (4:2:0 or 4:2:2, 8-bit tables) into what RFC 2435 sends.

    Raises ``JpegError`` for anything else: not a JPEG, progressive or 12-bit, restart
    markers, greyscale, other sampling, sizes not a multiple of 8 or over ``MAX_DIMENSION``.
    """
    if data[:2] != b"\xff\xd8":
        raise JpegError("not a JPEG (no SOI marker)")
    tables: dict[int, bytes] = {}
    frame: tuple[int, int, int, tuple[int, int]] | None = None
    at = 2
    while True:
        if at + 4 > len(data) or data[at] != 0xFF:
            raise JpegError(f"damaged JPEG: no marker at byte {at}")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        length = _u16(data, at + 2)
        body = data[at + 4 : at + 2 + length]
        if length < 2 or len(body) != length - 2:
            raise JpegError(f"damaged JPEG: segment {marker:#04x} runs past the end")
        if marker == _DQT:
            _read_dqt(body, tables)
        elif marker == _SOF0:
            frame = _read_sof(body)
        elif marker in _SOF_OTHER:
            raise JpegError(f"only baseline JPEG is carried (found SOF marker {marker:#04x})")
        elif marker == _DRI and _u16(body, 0) != 0:
            raise JpegError("restart markers are not supported (RFC 2435 types 64+)")
        elif marker == _SOS:
            start = at + 2 + length
            break
        at += 2 + length
    if frame is None:
        raise JpegError("no SOF0 (baseline frame header) before the scan")
    width, height, kind, (luma_table, chroma_table) = frame
    if luma_table not in tables or chroma_table not in tables:
        raise JpegError("a quantisation table named by the frame header is missing")
    end = len(data) - 2 if data[-2:] == b"\xff\xd9" else len(data)
    return JpegScan(width, height, kind, tables[luma_table] + tables[chroma_table], data[start:end])


def _read_dqt(body: bytes, tables: dict[int, bytes]) -> None:
    at = 0
    while at < len(body):
        precision, table_id = body[at] >> 4, body[at] & 0x0F
        if precision != 0:
            raise JpegError("16-bit quantisation tables are not supported")
        table = body[at + 1 : at + 65]
        if len(table) != 64:
            raise JpegError("damaged JPEG: short quantisation table")
        tables[table_id] = table
        at += 65


def _read_sof(body: bytes) -> tuple[int, int, int, tuple[int, int]]:
    if len(body) < 6 or body[0] != 8:
        raise JpegError("only 8-bit samples are supported")
    height, width, components = _u16(body, 1), _u16(body, 3), body[5]
    if components != 3 or len(body) < 6 + 3 * components:
        raise JpegError("only three-component (YCbCr) JPEG is carried")
    (_, luma_sampling, luma_table), *chroma = (
        (body[i], body[i + 1], body[i + 2]) for i in range(6, 6 + 3 * components, 3)
    )
    kind = _TYPE_OF_LUMA_SAMPLING.get(luma_sampling)
    if kind is None or any(sampling != 0x11 for _, sampling, _ in chroma):
        raise JpegError("only 4:2:0 and 4:2:2 sampling are carried (RFC 2435 types 1 and 0)")
    chroma_tables = {table for _, _, table in chroma}
    if len(chroma_tables) != 1:
        raise JpegError("Cb and Cr must share one quantisation table")
    for name, value in (("width", width), ("height", height)):
        if not 8 <= value <= MAX_DIMENSION or value % 8:
            raise JpegError(f"{name} {value} must be a multiple of 8 up to {MAX_DIMENSION}")
    return width, height, kind, (luma_table, chroma_tables.pop())


def packetise(
    frame: JpegScan,
    *,
    sequence: int,
    timestamp: int,
    ssrc: int,
    max_payload: int = MAX_PAYLOAD,
) -> list[bytes]:
    """The RTP packets of one frame, sequence numbers from ``sequence`` (mod 2**16).

    Every packet's payload is at most ``max_payload`` bytes; the first carries the
    quantisation tables (Q = 255), the last has the marker bit set.
    """
    qtable = _QTABLE_HEADER.pack(0, 0, len(frame.qtables)) + frame.qtables
    first_room = max_payload - _JPEG_HEADER.size - len(qtable)
    if first_room <= 0:
        raise ValueError(f"max_payload {max_payload} cannot hold the quantisation tables")
    scan = memoryview(frame.scan)
    if len(scan) >= 1 << 24:
        raise JpegError("a frame over 16 MiB does not fit RFC 2435's 24-bit offset")
    packets: list[bytes] = []
    offset = 0
    while offset < len(scan) or not packets:
        room = first_room if offset == 0 else max_payload - _JPEG_HEADER.size
        chunk = scan[offset : offset + room]
        last = offset + len(chunk) >= len(scan)
        jpeg = _JPEG_HEADER.pack(
            0,
            offset >> 16,
            offset & 0xFFFF,
            frame.type,
            _Q_IN_BAND,
            frame.width // 8,
            frame.height // 8,
        )
        payload = jpeg + (qtable if offset == 0 else b"") + chunk
        packets.append(
            rtp_packet(PAYLOAD_TYPE, sequence + len(packets), timestamp, ssrc, payload, last)
        )
        offset += len(chunk)
    return packets


def rtp_packet(
    payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes, marker: bool
) -> bytes:
    """An RTP packet (RFC 3550): version 2, no padding, extension or CSRC; numbers wrapped."""
    second = (0x80 if marker else 0) | payload_type
    header = _RTP_HEADER.pack(
        0x80, second, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF
    )
    return header + payload


def interleave(channel: int, packet: bytes) -> bytes:
    """One packet framed for an RTSP connection: ``$``, channel, 16-bit length, packet."""
    if not 0 <= channel <= 255 or len(packet) > 0xFFFF:
        raise ValueError("channel must fit a byte and the packet 64 KiB")
    return b"$" + bytes((channel,)) + len(packet).to_bytes(2, "big") + packet
