"""A JPEG's picture size from its frame header, without decoding: the one reader of that
header (snapshots, the diagnosis, thumbnails).  Pure; reads untrusted bytes in one bounded
forward walk.
"""

from __future__ import annotations

from typing import Final

__all__ = ["JpegError", "jpeg_size"]

# Start-of-frame markers: SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0..RST7, a repeated SOI.
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD9)})


class JpegError(ValueError):
    """The bytes are not a JPEG whose size can be read (no magic, truncated, no SOF...)."""


def jpeg_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` of a baseline, progressive or lossless JPEG, from its first SOF.

    Walks the marker segments from SOI without decoding anything: each step moves forward,
    so the walk is bounded by ``len(data)`` whatever the bytes are.  Fill bytes (``FF FF``)
    are skipped; stray bytes between segments are skipped up to the next ``FF`` (as libjpeg
    does).  Raises :class:`JpegError` when there is no JPEG magic, the data ends before a
    SOF, scan data or EOI comes first, or the SOF is malformed or declares a zero size
    (a height defined later by DNL is not supported).
    """
    end = len(data)
    if end < 4 or data[0] != 0xFF or data[1] != 0xD8:
        raise JpegError("not a JPEG (no FF D8 magic)")
    pos = 2
    while pos < end:
        if data[pos] != 0xFF:
            nxt = data.find(b"\xff", pos)
            if nxt < 0:
                break
            pos = nxt
        while pos < end and data[pos] == 0xFF:  # fill bytes before the marker
            pos += 1
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE or marker == 0x00:
            continue  # 0x00: a stuffed FF 00 outside any scan; junk, skipped
        if marker in (0xD9, 0xDA):
            raise JpegError("JPEG has no frame header (SOF) before its scan data")
        if pos + 2 > end:
            break
        length = (data[pos] << 8) | data[pos + 1]
        if length < 2:
            raise JpegError("JPEG segment with an impossible length")
        if marker in _SOF_MARKERS:
            if length < 8 or pos + 7 > end:
                raise JpegError("JPEG frame header (SOF) truncated")
            height = (data[pos + 3] << 8) | data[pos + 4]
            width = (data[pos + 5] << 8) | data[pos + 6]
            if width == 0 or height == 0:
                raise JpegError(f"JPEG declares a {width}x{height} picture")
            return width, height
        pos += length
    raise JpegError("JPEG truncated before its frame header (SOF)")
