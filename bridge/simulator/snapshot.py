"""Generated snapshot pictures: a colour-bar test pattern with the camera ID and its clock.

Encoding a 1280x720 JPEG costs a few milliseconds, so each camera's picture is made at most
once per second of its clock and kept in a small LRU cache bounded in bytes: a client polling
one camera 50 times a second costs one encode per second.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from bridge.simulator.model import SimCamera

if TYPE_CHECKING:
    import numpy as np

# OpenCV and numpy are imported on the first picture, not at start: they cost ~25 MiB of RSS
# in every simulator process (one per shard), most of which never serve a snapshot.

__all__ = ["SnapshotCache", "test_pattern"]

_BARS = (  # BGR: white, yellow, cyan, green, magenta, red, blue
    (235, 235, 235),
    (16, 235, 235),
    (235, 235, 16),
    (16, 235, 16),
    (235, 16, 235),
    (16, 16, 235),
    (235, 16, 16),
)


def test_pattern(width: int, height: int) -> np.ndarray:
    """Colour bars over the top two thirds, a grey ramp below (uint8 BGR, height x width x 3)."""
    import numpy as np

    image = np.zeros((height, width, 3), np.uint8)
    top = height * 2 // 3
    for i, colour in enumerate(_BARS):
        x0, x1 = i * width // len(_BARS), (i + 1) * width // len(_BARS)
        image[:top, x0:x1] = colour
    ramp = np.linspace(0, 255, width, dtype=np.uint8)
    image[top:, :, :] = ramp[np.newaxis, :, np.newaxis]
    return image


class SnapshotCache:
    """Makes and caches camera pictures; ``max_bytes`` bounds the cache, not one picture."""

    def __init__(
        self, width: int = 1280, height: int = 720, *, quality: int = 80, max_bytes: int = 32 << 20
    ) -> None:
        self.width = width
        self.height = height
        self.quality = quality
        self.max_bytes = max_bytes
        self._base: np.ndarray | None = None
        self._cache: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._bytes = 0
        self.encodes = 0

    def jpeg(self, camera: SimCamera, now: float) -> bytes:
        """The camera's picture at wall time ``now`` (its own clock), as JPEG bytes."""
        second = int(now)
        hit = self._cache.get(camera.id)
        if hit is not None and hit[0] == second:
            self._cache.move_to_end(camera.id)
            return hit[1]
        data = self._encode(camera, second)
        if hit is not None:
            self._bytes -= len(hit[1])
        self._cache[camera.id] = (second, data)
        self._cache.move_to_end(camera.id)
        self._bytes += len(data)
        while self._bytes > self.max_bytes and len(self._cache) > 1:
            _, (_, old) = self._cache.popitem(last=False)
            self._bytes -= len(old)
        return data

    def _encode(self, camera: SimCamera, second: int) -> bytes:
        import cv2

        if self._base is None:
            self._base = test_pattern(self.width, self.height)
        image = self._base.copy()
        scale = self.height / 720
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second + 8 * 3600))
        lines = (camera.id, f"{stamp} CST", f"{camera.host}  {camera.model}".strip())
        for i, text in enumerate(lines):
            origin = (int(24 * scale), int((60 + 56 * i) * scale))
            for colour, thickness in (((0, 0, 0), 6), ((255, 255, 255), 2)):
                cv2.putText(
                    image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 1.4 * scale, colour,
                    max(1, int(thickness * scale)), cv2.LINE_AA,
                )  # fmt: skip
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:  # pragma: no cover - OpenCV only fails on invalid input
            raise RuntimeError("JPEG encoding failed")
        self.encodes += 1
        return encoded.tobytes()
