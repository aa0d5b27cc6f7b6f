"""A picture prepared for diagnosis: decoded small, scaled to the analysis width (pure).

Decoding is the expensive part of the frame tier: a 1080p JPEG decoded at full size costs
more than every metric together.  ``decode_jpeg`` reads the size from the JPEG header first
(a 40-megapixel cap before any pixel is allocated, DESIGN §12) and lets libjpeg scale the DCT
down by 2, 4 or 8 while decoding, to the smallest size still at least the analysis width.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from bridge.jpeg_header import jpeg_size

__all__ = ["Frame", "decode_jpeg", "jpeg_size", "prepare"]

Image = npt.NDArray[np.uint8]

_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


class Frame:
    """The analysis-size picture (BGR and grey, uint8) and what is derived from it lazily.

    ``source_width``/``source_height`` are the camera's picture size.  Derived data (ORB
    features, thumbnails) is computed once and kept, so a camera's reference frame pays for
    its features only once.  Treat the arrays as read-only.
    """

    __slots__ = ("_cache", "bgr", "grey", "source_height", "source_width")

    def __init__(self, bgr: Image, grey: Image, *, source_width: int, source_height: int) -> None:
        self.bgr = bgr
        self.grey = grey
        self.source_width = source_width
        self.source_height = source_height
        self._cache: dict[str, Any] = {}

    @property
    def width(self) -> int:
        return int(self.grey.shape[1])

    @property
    def height(self) -> int:
        return int(self.grey.shape[0])

    def cached(self, key: str) -> Any:
        """A derived value stored by :meth:`keep`, or None."""
        return self._cache.get(key)

    def keep(self, key: str, value: Any) -> None:
        """Store a derived value (used by the metrics module)."""
        self._cache[key] = value


def decode_jpeg(data: bytes, *, max_pixels: int = 40_000_000, analysis_width: int = 640) -> Frame:
    """Decode a camera's JPEG into a :class:`Frame`, at the least cost that keeps the detail.

    Raises ValueError when the picture is larger than ``max_pixels`` (checked on the header,
    before decoding), is truncated, or cannot be decoded.
    """
    width, height = jpeg_size(data)
    # A reply cut short decodes "successfully" with the missing rows grey, which would look
    # like an occlusion: without its end marker (some cameras pad after it) it is refused.
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise ValueError("JPEG is truncated (no end-of-image marker)")
    if width * height > max_pixels:
        raise ValueError(f"JPEG is {width}x{height}, over the limit of {max_pixels} pixels")
    factor = 8
    while factor > 1 and width // factor < analysis_width:
        factor //= 2
    flags = _REDUCED[factor] | cv2.IMREAD_IGNORE_ORIENTATION
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if decoded is None or decoded.ndim != 3 or decoded.shape[2] != 3:
        raise ValueError("JPEG could not be decoded")
    return _prepare(np.asarray(decoded, np.uint8), width, height, analysis_width)


def prepare(image_bgr: Image, *, analysis_width: int = 640) -> Frame:
    """A :class:`Frame` from a decoded picture (uint8 BGR, or grey) such as an RTSP grab."""
    if image_bgr.dtype != np.uint8 or image_bgr.ndim not in (2, 3) or image_bgr.size == 0:
        raise ValueError("expected a non-empty uint8 picture")
    if image_bgr.ndim == 2:
        image_bgr = np.asarray(cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR), np.uint8)
    elif image_bgr.shape[2] != 3:
        raise ValueError("expected a 3-channel BGR picture")
    height, width = image_bgr.shape[:2]
    return _prepare(image_bgr, width, height, analysis_width)


def _prepare(image: Image, source_width: int, source_height: int, analysis_width: int) -> Frame:
    h, w = image.shape[:2]
    if w > analysis_width:
        size = (analysis_width, max(1, round(h * analysis_width / w)))
        # Area averaging from 2x on (its fast path); between 1x and 2x bilinear costs a fifth
        # and, after the DCT scaling of the decoder, aliases no visible detail.
        interp = cv2.INTER_AREA if w >= 2 * analysis_width else cv2.INTER_LINEAR
        image = np.asarray(cv2.resize(image, size, interpolation=interp), np.uint8)
    grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)
    return Frame(image, grey, source_width=source_width, source_height=source_height)
