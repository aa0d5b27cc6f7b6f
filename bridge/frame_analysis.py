"""One look's CPU work: decode, diagnose, learn, make the thumbnail (blocking; run it in a
thread — OpenCV releases the GIL while it decodes and filters).

Pure apart from CPU: pictures in, conclusions and bytes out; the caller writes files and
records.  A baseline that cannot be read (a newer format, a damaged row) is dropped and
learnt again rather than failing every look of that camera.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from adapters.rtsp_grab import jpeg_encode
from bridge.frame_sources import Pictures
from bridge.jpeg import make_thumbnail
from health.vqd import (
    Baseline,
    Diagnosis,
    VqdRules,
    decode_jpeg,
    diagnose,
    is_healthy_for_learning,
    learn,
    prepare,
)

log = logging.getLogger(__name__)

FULL_JPEG_QUALITY = 85  # an RTSP grab stored for people: close to what cameras send
REFERENCE_JPEG_QUALITY = 90  # the reference is compared with every later look


@dataclass(frozen=True, slots=True)
class ThumbRules:
    max_width: int = 320
    max_bytes: int = 30_000
    max_pixels: int = 40_000_000


@dataclass(frozen=True, slots=True)
class Analysis:
    """What one look concluded, and the bytes to keep."""

    diagnosis: Diagnosis
    full_jpeg: bytes
    thumbnail: bytes
    thumbnail_sha256: str
    baseline: dict[str, Any] | None  # to store (None: none yet)
    new_reference: bytes | None  # a first healthy picture becomes the reference


def analyse(
    pictures: Pictures,
    *,
    reference_jpeg: bytes | None,
    baseline_json: dict[str, Any] | None,
    night_window: bool,
    rules: VqdRules,
    thumbs: ThumbRules,
) -> Analysis:
    """Diagnose the newest picture of ``pictures`` against the one before it (frozen), the
    camera's reference (scene changed) and its baseline.  Raises ValueError for a picture
    that cannot be decoded (the caller reports it as a bad snapshot)."""
    if pictures.jpegs:
        width = rules.analysis_width
        frames = [
            decode_jpeg(j, max_pixels=thumbs.max_pixels, analysis_width=width)
            for j in pictures.jpegs
        ]
        full = pictures.jpegs[-1]
    elif pictures.images:
        frames = [prepare(i, analysis_width=rules.analysis_width) for i in pictures.images]
        full = jpeg_encode(pictures.images[-1], quality=FULL_JPEG_QUALITY)
    else:
        raise ValueError("a look without pictures")
    current = frames[-1]
    # From the analysis picture (640 px wide by default): already decoded, and twice the
    # thumbnail's width, so nothing is lost by not decoding the JPEG a second time.
    thumb = make_thumbnail(current.bgr, max_width=thumbs.max_width, max_bytes=thumbs.max_bytes)
    previous = frames[-2] if len(frames) > 1 else None
    reference = None
    if reference_jpeg is not None:
        try:
            reference = decode_jpeg(
                reference_jpeg, max_pixels=thumbs.max_pixels, analysis_width=rules.analysis_width
            )
        except ValueError:
            log.warning("reference picture unreadable; a new one will be taken")
    baseline = None
    if baseline_json is not None:
        try:
            baseline = Baseline.from_json(baseline_json)
        except ValueError:
            log.warning("stored picture baseline unreadable; learning it again")
    diagnosis = diagnose(
        current,
        previous=previous,
        reference=reference,
        baseline=baseline,
        night_window=night_window,
        rules=rules,
    )
    healthy = is_healthy_for_learning(diagnosis)
    if healthy:
        baseline = learn(baseline, diagnosis.metrics, rules)
    new_reference = None
    if healthy and reference is None:
        new_reference = jpeg_encode(current.bgr, quality=REFERENCE_JPEG_QUALITY)
    return Analysis(
        diagnosis=diagnosis,
        full_jpeg=full,
        thumbnail=thumb,
        thumbnail_sha256=hashlib.sha256(thumb).hexdigest(),
        baseline=baseline.to_json() if baseline is not None else None,
        new_reference=new_reference,
    )
