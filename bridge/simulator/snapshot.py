"""Each camera's picture, once per second of its clock: a street scene, live, with its fault.

The HTTP snapshot and the RTSP stream serve the same JPEG.  Making one costs a street scene
(``pictures.scene``, ~60 ms at 1280x720), a picture fault on it (10–120 ms), sensor noise
and OSD (~5 ms) and an encode (~3 ms), so three things are kept, all bounded:

* the camera's *base* — its scene with any fault that happens before the sensor already
  applied — in an LRU bounded in bytes (``base_bytes``): a camera asked again pays only
  noise, OSD and encode;
* its JPEG of the current second in an LRU bounded in bytes (``max_bytes``): a client polling
  50 times a second, or ten streams of one camera, cost one encode per second;
* the renders in flight: requests for a picture being made wait for it, not redo it.

Rendering runs on a small thread pool, never on the event loop: OpenCV and numpy release
the GIL, so a 100 ms fault render does not hold up the other cameras' answers.  All cache
bookkeeping stays on the event loop thread; the threads only run the pure ``render``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from bridge.simulator.faults import PICTURE_KINDS, Fault
from bridge.simulator.model import SimCamera

if TYPE_CHECKING:
    import numpy as np

# OpenCV, numpy and the picture module are imported by the first render, not at start: they
# cost ~25 MiB of RSS in every simulator process (one per shard), most of which never serve
# a picture.

__all__ = ["Render", "SnapshotCache", "picture_seed", "render"]

RENDER_NICE = 10
K = TypeVar("K")
V = TypeVar("V")

# Faults in front of the sensor (a defocused lens, something on it, a bad exposure, another
# view, a lens cap, interference, night mode): applied once to the base, then every second
# gets fresh sensor noise and the OSD clock like a healthy camera.
_BEFORE_SENSOR = frozenset(PICTURE_KINDS) - {"frozen", "no_signal"}
# The encoder's own "no video" screen: one picture, no sensor behind it, no OSD.
_STATIC = frozenset({"no_signal"})


def picture_seed(camera_id: str) -> int:
    """The camera's picture seed: stable across runs and processes, different per camera."""
    return int.from_bytes(hashlib.sha256(f"picture:{camera_id}".encode()).digest()[:4], "big")


@dataclass(frozen=True, slots=True)
class Render:
    """One picture to make: which scene, which fault, which second, how big."""

    scene_seed: int
    seed: int
    width: int
    height: int
    kind: str | None  # a picture kind of faults.PICTURE_KINDS, or None for healthy
    strength: float
    second: int
    osd: str
    quality: int


def render(job: Render, base: np.ndarray | None) -> tuple[np.ndarray, bytes]:
    """Make ``job``'s picture: (its base, the JPEG).  ``base`` None makes the base too.

    Pure and thread-safe: the same job gives the same bytes (a frozen camera's picture is
    identical whenever it is made again).
    """
    import cv2
    import numpy as np

    from bridge.simulator import pictures

    kind = job.kind
    if base is None:
        if kind in _STATIC:  # the screen needs no scene behind it
            shape = (job.height, job.width, 3)
            base = pictures.apply_fault(np.zeros(shape, np.uint8), kind, seed=job.seed)
        else:
            base = pictures.scene(job.scene_seed, job.width, job.height)
            if kind == "night_ir":
                base = pictures.night_ir(base, seed=job.seed)
            elif kind in _BEFORE_SENSOR:
                base = pictures.apply_fault(base, kind, seed=job.seed, strength=job.strength)
    image = base if kind in _STATIC else pictures.live(base, job.second, seed=job.seed, osd=job.osd)
    # Standard Huffman tables and 4:2:0 are what RTP/JPEG (RFC 2435 type 1) can carry.
    params = [cv2.IMWRITE_JPEG_QUALITY, job.quality, cv2.IMWRITE_JPEG_OPTIMIZE, 0,
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]  # fmt: skip
    ok, encoded = cv2.imencode(".jpg", image, params)
    if not ok:  # pragma: no cover - OpenCV only fails on invalid input
        raise RuntimeError("JPEG encoding failed")
    return base, encoded.tobytes()


class _Lru(Generic[K, V]):
    """A least-recently-used map bounded by the sum of its values' sizes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V, size: int) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._items[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes and len(self._items) > 1:
            _, (_, dropped) = self._items.popitem(last=False)
            self.bytes -= dropped

    def __len__(self) -> int:
        return len(self._items)


# What a JPEG shows depends on nothing else: camera, picture kind (None: healthy), strength,
# second (of its clock; of the freeze for ``frozen``; 0 for the static ``no_signal`` screen).
_JpegKey = tuple[str, str | None, float, int]


class SnapshotCache:
    """Makes and caches camera pictures (see the module doc); one per simulator.

    ``scene_pool`` None gives every camera its own street; a number N makes cameras share
    N streets (``picture_seed % N``) so that a benchmark over thousands of cameras finds
    every base in the cache.  ``threads`` render at once; ``close()`` stops them.
    """

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        *,
        quality: int = 80,
        max_bytes: int = 32 << 20,
        base_bytes: int = 192 << 20,
        scene_pool: int | None = None,
        threads: int = 2,
    ) -> None:
        self.width = width
        self.height = height
        self.quality = quality
        self.scene_pool = scene_pool
        self._threads = threads
        self._jpegs: _Lru[str, tuple[_JpegKey, bytes]] = _Lru(max_bytes)
        self._bases: _Lru[tuple[object, ...], np.ndarray] = _Lru(base_bytes)
        self._inflight: dict[_JpegKey, asyncio.Future[bytes]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self.encodes = 0

    def jpeg(
        self, camera: SimCamera, fault: Fault | None, fault_since: float, now: float
    ) -> bytes | asyncio.Future[bytes]:
        """The camera's picture at ``now`` (its own clock) under ``fault`` (set at wall time
        ``fault_since``): the JPEG bytes when cached, else a future of them."""
        kind = fault.kind if fault is not None and _is_picture(fault.kind) else None
        strength = fault.params.get("strength", 1.0) if fault is not None and kind else 1.0
        seed = picture_seed(camera.id)
        # Each camera turns its second at its own phase: streams of many cameras then need
        # their next pictures spread over the second, not all at the same instant.
        phase = (seed % 1000) / 1000
        second = int(now - phase)
        if kind == "frozen":
            second = int(fault_since - phase)  # the picture of the moment it froze, ever after
        elif kind in _STATIC:
            second = 0
        key: _JpegKey = (camera.id, kind, strength, second)
        hit = self._jpegs.get(camera.id)
        if hit is not None and hit[0] == key:
            return hit[1]
        pending = self._inflight.get(key)
        if pending is not None:
            return pending
        scene_seed = seed if self.scene_pool is None else seed % self.scene_pool
        variant = kind if kind not in (None, "frozen") else None
        base_key: tuple[object, ...] = (
            ("scene", scene_seed) if variant is None else ("fault", camera.id, variant, strength)
        )
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second + 8 * 3600))
        job = Render(
            scene_seed, seed, self.width, self.height, kind, strength, second,
            f"{stamp}  {camera.id}", self.quality,
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self._threads, thread_name_prefix="picture", initializer=_lower_priority
            )
        base = self._bases.get(base_key)
        work = loop.run_in_executor(self._executor, render, job, base)
        result: asyncio.Future[bytes] = loop.create_future()
        self._inflight[key] = result
        work.add_done_callback(lambda done: self._made(done, result, key, base_key, base is None))
        return result

    def _made(
        self,
        done: asyncio.Future[tuple[np.ndarray, bytes]],
        result: asyncio.Future[bytes],
        key: _JpegKey,
        base_key: tuple[object, ...],
        new_base: bool,
    ) -> None:
        if self._inflight.get(key) is result:
            del self._inflight[key]
        if result.done():
            return
        if done.cancelled():
            result.cancel()
            return
        error = done.exception()
        if error is not None:
            result.set_exception(error)
            return
        base, data = done.result()
        if new_base:
            self._bases.put(base_key, base, base.nbytes)
        self._jpegs.put(key[0], (key, data), len(data))
        self.encodes += 1
        result.set_result(data)

    async def close(self) -> None:
        """Stop rendering: queued pictures are cancelled (their requests get 500), the one
        being made is waited for (a thread must not call back into a closed loop)."""
        for pending in self._inflight.values():
            pending.cancel()
        self._inflight.clear()
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)


def _lower_priority() -> None:
    # Render threads yield the CPU to the event loop's thread: on a busy 2-core machine two
    # render threads at equal priority made the loop ~50 ms late at p99 (Linux: a thread's
    # nice value is its own).
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RENDER_NICE)


def _is_picture(kind: str) -> bool:
    return kind in PICTURE_KINDS or kind == "night_ir"
