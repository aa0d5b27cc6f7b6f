"""JPEG helpers: a picture's size from its header (untrusted bytes, no decoding), and the bus
thumbnail (DESIGN §4: ≤ 320 px wide, ≤ 30 KB) from a picture or a JPEG.

Pure CPU work (OpenCV releases the GIL while it decodes, resizes and encodes): the daemon
runs it in a thread.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from bridge.jpeg_header import JpegError, jpeg_size

__all__ = ["jpeg_dimensions", "make_thumbnail", "thumbnail_from_jpeg"]

_THUMB_QUALITIES = (80, 65, 50, 40, 30)  # below 30 a thumbnail shows blocks, not the scene
_THUMB_MAX_ASPECT = 4  # a thumbnail is at most 4x as tall as wide (a hostile 100x400000 JPEG)


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's frame header without decoding, or ``None`` when there is
    no usable frame header before the first scan (`bridge.jpeg_header.jpeg_size`)."""
    try:
        return jpeg_size(data)
    except JpegError:
        return None


def make_thumbnail(
    image_bgr: npt.NDArray[np.uint8], *, max_width: int = 320, max_bytes: int = 30_000
) -> bytes:
    """A JPEG of ``image_bgr`` (uint8, BGR or grey) at most ``max_width`` pixels wide and
    ``max_bytes`` long, aspect ratio kept (at most 4x as tall as wide), never upscaled.

    Quality steps down from 80 to 30; if that is not enough (noise, a very tall picture) the
    picture shrinks until it fits.  Raises ``ValueError`` for an unusable image, or when not
    even a 1-pixel JPEG fits ``max_bytes``."""
    if (
        image_bgr.dtype != np.uint8
        or image_bgr.size == 0
        or not (image_bgr.ndim == 2 or (image_bgr.ndim == 3 and image_bgr.shape[2] == 3))
    ):
        raise ValueError("expected a non-empty uint8 BGR or grey image")
    if max_width < 1:
        raise ValueError("max_width must be positive")
    height, width = image_bgr.shape[:2]
    scale = min(1.0, max_width / width, _THUMB_MAX_ASPECT * max_width / height)
    image = image_bgr
    if scale < 1.0:
        size = (min(max_width, max(1, round(width * scale))), max(1, round(height * scale)))
        image = _resize(image, size)
    for quality in _THUMB_QUALITIES:
        data = _encode(image, quality)
        if len(data) <= max_bytes:
            return data
    while image.shape[0] > 1 or image.shape[1] > 1:
        # JPEG size grows about with the pixel count: aim a little under in one step.
        # Rounding down shrinks every side over 1 pixel, so the loop ends.
        factor = min(0.9, 0.95 * math.sqrt(max_bytes / len(data)))
        size = (max(1, int(image.shape[1] * factor)), max(1, int(image.shape[0] * factor)))
        image = _resize(image, size)
        data = _encode(image, _THUMB_QUALITIES[-1])
        if len(data) <= max_bytes:
            return data
    raise ValueError(f"no JPEG fits in {max_bytes} bytes")


def thumbnail_from_jpeg(
    jpeg: bytes, *, max_width: int = 320, max_bytes: int = 30_000, max_pixels: int = 40_000_000
) -> bytes:
    """`make_thumbnail` of a JPEG, decoded at 1/2, 1/4 or 1/8 scale — the smallest that is
    still at least ``max_width`` wide — which spares most of the inverse DCT, colour
    conversion and resizing of a full decode (1080p: ~6.6 ms instead of ~11.5).

    Raises ``ValueError`` for data that is not a decodable JPEG or whose header claims more
    than ``max_pixels`` (DESIGN §12: checked before any decoding)."""
    dimensions = jpeg_dimensions(jpeg)
    if dimensions is None:
        raise ValueError("not a JPEG picture (no frame header)")
    width, height = dimensions
    if width * height > max_pixels:
        raise ValueError(f"the picture is {width}x{height}, more than {max_pixels} pixels")
    flag = cv2.IMREAD_COLOR
    for factor, reduced in (
        (8, cv2.IMREAD_REDUCED_COLOR_8),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
    ):
        if -(-width // factor) >= max_width:  # libjpeg rounds scaled sizes up
            flag = reduced
            break
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), flag)
    if image is None:
        raise ValueError("the JPEG picture cannot be decoded")
    return make_thumbnail(np.asarray(image, np.uint8), max_width=max_width, max_bytes=max_bytes)


def _resize(image: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    # INTER_AREA averages the source pixels: no aliasing when shrinking several times.
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def _encode(image: npt.NDArray[np.uint8], quality: int) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1]
    ok, encoded = cv2.imencode(".jpg", image, params)
    if not ok:  # OpenCV fails only on input make_thumbnail already refused
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()
