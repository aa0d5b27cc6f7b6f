"""Snapshot store: each camera's latest full-size JPEG, its thumbnail, a bounded history and
its scene-change reference picture, as plain files under one root (layout: docs/snapshots.md).

`SnapshotStore` does blocking file I/O; the daemon calls it through ``asyncio.to_thread``.
It is safe for concurrent calls, on different cameras and on the same one.  A reader never
sees half a file: every file is written to a temporary name and renamed into place.  The
newest history entry is a hard link to ``latest.jpg`` (one write per picture).  History is
bounded by count and age per camera and by total bytes over the whole store; retention never
deletes a camera's latest picture, thumbnail or reference.

Thumbnails are made by `bridge.jpeg`.
"""

from __future__ import annotations

import errno
import hashlib
import heapq
import logging
import os
import re
import shutil
import tempfile
import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = [
    "NO_LINK_ERRNOS",
    "Saved",
    "SnapshotStore",
    "camera_dir_name",
    "fsync_dir",
    "parse_history_ref",
]

logger = logging.getLogger(__name__)

LATEST = "latest.jpg"
THUMB = "latest-thumb.jpg"
REFERENCE = "reference.jpg"
HISTORY = "history"
_FIXED = (LATEST, THUMB, REFERENCE)
_TMP_PREFIX = ".tmp-"
_DIR_MODE = 0o750
_FILE_MODE = 0o640
# Lower case only: on a case-insensitive file system "AB" and "ab" would share a directory.
# GB/T 28181 IDs are digits, so real IDs keep readable names; anything else is hashed.
_DIRECT_NAME = re.compile(r"[0-9a-z][0-9a-z_-]{0,63}")
_HASHED_NAME = re.compile(r"id\.[0-9a-f]{64}")  # "." never occurs in a direct name
_HISTORY_NAME = re.compile(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\d{6})Z\.jpg", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What os.link says on a file system without hard links (FAT, some network shares).
NO_LINK_ERRNOS = frozenset(
    (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK)
)
_LOCK_STRIPES = 64  # bounded memory whatever the number of cameras; contention stays rare


def camera_dir_name(camera_id: str) -> str:
    """The directory name of a camera: the ID itself when it is 1-64 characters of
    ``[0-9a-z_-]`` starting with a letter or digit, else ``id.`` + the SHA-256 hex of its UTF-8
    bytes.  Never a path separator, ``.`` or ``..``; two IDs never share a name.  Raises
    ``ValueError`` for an empty ID."""
    if not camera_id:
        raise ValueError("camera ID is empty")
    if _DIRECT_NAME.fullmatch(camera_id):
        return camera_id
    return "id." + hashlib.sha256(camera_id.encode("utf-8", "surrogatepass")).hexdigest()


def parse_history_ref(ref: str) -> tuple[str, str] | None:
    """The camera directory name and history file name of ``ref`` when it is exactly
    ``<camera dir>/history/<history name>`` (how `bridge.frames` names a kept picture,
    relative to the store's root), else ``None``.  Pure: no file is looked at.  What it
    accepts can be joined to the root safely: no ``..``, no absolute path, no other file of
    the store (a camera's ``latest.jpg`` names a different picture after its next look)."""
    parts = ref.split("/")
    if len(parts) != 3 or parts[1] != HISTORY:
        return None
    if not _is_camera_dir(parts[0]) or _parse_history_name(parts[2]) is None:
        return None
    return parts[0], parts[2]


@dataclass(frozen=True, slots=True)
class Saved:
    """What `SnapshotStore.save` wrote.  ``history`` is ``None`` when no history entry was kept
    (``keep_count`` 0, or the total-size budget took it at once).  ``thumb_sha256`` is the full
    64-hex SHA-256 of the thumbnail bytes (the status payload's ``thumbnail_sha256``)."""

    camera_id: str
    at: datetime
    latest: Path
    thumb: Path
    history: Path | None
    jpeg_bytes: int
    thumb_bytes: int
    thumb_sha256: str
    removed: int  # history files this save's retention deleted, any camera


class _Camera:
    """One camera in the index.  Arrays, not a dict of ints: 20,000 cameras x 20 pictures
    would otherwise cost ~4 KB per camera of the daemon's 10 KB (DESIGN §9)."""

    __slots__ = ("fixed", "linked", "sizes", "stamps")

    def __init__(self) -> None:
        self.fixed: dict[str, int] = {}  # latest/thumb/reference → bytes
        self.stamps = array("q")  # history, UTC µs since 1970, oldest first
        self.sizes = array("q")  # bytes, parallel to stamps; 0 for the entry at `linked`
        self.linked = -1  # the history entry that is a hard link to latest.jpg, if any

    def bytes(self) -> int:
        return sum(self.fixed.values()) + sum(self.sizes)

    def has(self, stamp: int) -> bool:
        i = bisect_left(self.stamps, stamp)
        return i < len(self.stamps) and self.stamps[i] == stamp


class SnapshotStore:
    """Snapshot files under ``root``, with history retention by ``keep_count`` pictures and
    ``keep_age_s`` seconds per camera and ``max_total_bytes`` over every file of the store.

    The constructor only assigns; `open` creates the root and takes the inventory of what is
    on disk, so retention and `total_bytes` are right after a restart.  File-system failures
    raise ``OSError``; bad arguments raise ``ValueError``.
    """

    def __init__(
        self,
        root: Path,
        *,
        keep_count: int = 20,
        keep_age_s: float = 7 * 86400,
        max_total_bytes: int = 2 << 30,
    ) -> None:
        if keep_count < 0 or keep_age_s < 0 or max_total_bytes < 0:
            raise ValueError("keep_count, keep_age_s and max_total_bytes must be >= 0")
        self.root = root
        self.keep_count = keep_count
        self.keep_age_s = keep_age_s
        self.max_total_bytes = max_total_bytes
        # Lock order: a camera's stripe lock, then _lock.  _lock guards the index below and
        # every history rename or delete, so a budget eviction from another camera's save can
        # never race with a history write.
        self._lock = threading.Lock()
        self._stripes = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
        self._cameras: dict[str, _Camera] = {}
        # (stamp, dir): at least one entry per camera with history, at or before its oldest
        # picture; entries left behind by deletions are skipped or re-filed when popped.
        self._heap: list[tuple[int, str]] = []
        self._total = 0
        self._over_budget = False
        self._links_fail = False
        self._opened = False

    @property
    def total_bytes(self) -> int:
        """Bytes of every file the store holds (latest, thumbnails, references, history)."""
        return self._total

    def open(self) -> None:
        """Create the root (mode 0o750) and take a fresh inventory of the files on disk; call
        it before any other method, not while they run (20,000 cameras: seconds — call it
        through ``asyncio.to_thread`` too).

        Removes temporary files a crash left behind, and empty pictures (what a power cut
        can leave of an unsynced write).  Files the store does not name are left alone and
        not counted.  Then enforces the total-size budget.
        """
        self.root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        cameras: dict[str, _Camera] = {}
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and _is_camera_dir(entry.name):
                    cameras[entry.name] = _scan_camera(Path(entry.path))
        with self._lock:
            self._cameras = cameras
            self._total = sum(cam.bytes() for cam in cameras.values())
            self._rebuild_heap()
            self._over_budget = False
            self._opened = True
            removed = self._retain_total()
        logger.info(
            "snapshot store %s: %d cameras, %d history pictures, %d bytes (%d removed over budget)",
            self.root, len(cameras), sum(len(c.stamps) for c in cameras.values()), self._total,
            removed,
        )  # fmt: skip

    def save(self, camera_id: str, jpeg: bytes, at: datetime, *, thumb: bytes) -> Saved:
        """Store ``jpeg`` as the camera's latest picture and ``thumb`` as its thumbnail, add
        ``jpeg`` to its history as taken at ``at`` (aware; the same ``at`` again replaces that
        entry), then apply retention: this camera's history older than ``keep_age_s`` before
        ``at`` or beyond the newest ``keep_count`` goes, then the oldest history of any camera
        until the store is within ``max_total_bytes``.  When two saves of one camera overlap,
        the one that finishes last is the latest picture."""
        name = camera_dir_name(camera_id)
        stamp = _stamp(at)
        _check_jpeg(jpeg, "picture")
        _check_jpeg(thumb, "thumbnail")
        self._check_open()
        camera_dir = self.root / name
        history_dir = camera_dir / HISTORY
        history_path = history_dir / _history_name(stamp)
        with self._stripe(name):
            camera_dir.mkdir(mode=_DIR_MODE, exist_ok=True)
            history_dir.mkdir(mode=_DIR_MODE, exist_ok=True)
            # No fsync: these files are replaced every frame cycle, and a few fsyncs per
            # picture for thousands of cameras would cost more disk time than the writes
            # (docs/snapshots.md).  `open` removes what a power cut leaves empty.
            _replace(_write_temp(camera_dir, thumb), camera_dir / THUMB)
            temp = _write_temp(camera_dir, jpeg)
            copy: tuple[Path, bool] | None = None
            try:
                # The history entry is a hard link to the new latest picture: one write, and
                # disk space, instead of two (docs/snapshots.md); a copy where links fail.
                if self.keep_count:
                    copy = self._history_temp(temp, history_dir, jpeg)
                _replace(temp, camera_dir / LATEST)
            except BaseException:
                temp.unlink(missing_ok=True)
                if copy is not None:
                    copy[0].unlink(missing_ok=True)
                raise
            with self._lock:
                cam = self._cameras.setdefault(name, _Camera())
                if cam.has(cam.linked):  # the old latest picture now lives in history alone
                    self._resize_history(cam, cam.linked, cam.fixed.get(LATEST, 0))
                cam.linked = -1
                self._set_fixed(cam, LATEST, len(jpeg))
                self._set_fixed(cam, THUMB, len(thumb))
                if copy is not None:
                    temp_path, linked = copy
                    _replace(temp_path, history_path)
                    self._add_history(name, cam, stamp, 0 if linked else len(jpeg))
                    cam.linked = stamp if linked else -1
                removed = self._retain_camera(name, cam, stamp) + self._retain_total()
                kept = copy is not None and cam.has(stamp)
        return Saved(
            camera_id=camera_id,
            at=at,
            latest=camera_dir / LATEST,
            thumb=camera_dir / THUMB,
            history=history_path if kept else None,
            jpeg_bytes=len(jpeg),
            thumb_bytes=len(thumb),
            thumb_sha256=hashlib.sha256(thumb).hexdigest(),
            removed=removed,
        )

    def save_reference(self, camera_id: str, jpeg: bytes) -> Path:
        """Store the camera's reference picture (scene-change detection), outside retention.

        Synced to disk, file and directory, before returning: unlike snapshots it is not
        re-taken every cycle, and losing it silently would reset the camera's baseline."""
        name = camera_dir_name(camera_id)
        _check_jpeg(jpeg, "reference picture")
        self._check_open()
        camera_dir = self.root / name
        with self._stripe(name):
            camera_dir.mkdir(mode=_DIR_MODE, exist_ok=True)
            _replace(_write_temp(camera_dir, jpeg, durable=True), camera_dir / REFERENCE)
            fsync_dir(camera_dir)
            with self._lock:
                self._set_fixed(self._cameras.setdefault(name, _Camera()), REFERENCE, len(jpeg))
                self._retain_total()
        return camera_dir / REFERENCE

    def reference(self, camera_id: str) -> bytes | None:
        """The camera's reference picture, or ``None`` when it has none."""
        try:
            return (self.root / camera_dir_name(camera_id) / REFERENCE).read_bytes()
        except FileNotFoundError:
            return None

    def forget_reference(self, camera_id: str) -> bool:
        """Delete the camera's reference picture (the next healthy look takes a new one);
        ``True`` if it had one.  Works before `open` too: the command line does this beside a
        running daemon, whose byte count then overstates by this one picture until it
        restarts."""
        name = camera_dir_name(camera_id)
        with self._stripe(name):
            try:
                (self.root / name / REFERENCE).unlink()
            except FileNotFoundError:
                return False
            with self._lock:
                cam = self._cameras.get(name)
                if cam is not None and REFERENCE in cam.fixed:
                    self._total -= cam.fixed.pop(REFERENCE)
        return True

    def latest(self, camera_id: str) -> Path | None:
        """Path of the camera's latest full-size picture, or ``None`` when it has none."""
        path = self.root / camera_dir_name(camera_id) / LATEST
        return path if path.is_file() else None

    def latest_thumb(self, camera_id: str) -> Path | None:
        """Path of the camera's latest thumbnail, or ``None`` when it has none."""
        path = self.root / camera_dir_name(camera_id) / THUMB
        return path if path.is_file() else None

    def history(self, camera_id: str) -> list[tuple[datetime, Path]]:
        """The camera's history pictures, newest first, with the UTC time each was taken."""
        name = camera_dir_name(camera_id)
        self._check_open()
        with self._lock:
            cam = self._cameras.get(name)
            stamps = list(reversed(cam.stamps)) if cam is not None else []
        base = self.root / name / HISTORY
        return [(_from_stamp(s), base / _history_name(s)) for s in stamps]

    def get(self, camera_id: str, at_name: str) -> Path | None:
        """The camera's history picture named ``at_name`` (``YYYYmmddTHHMMSSffffffZ.jpg``, as
        the paths of `history` end), or ``None`` when the name is not exactly such a name of
        a real date or the store holds no such picture.  Safe for names from HTTP requests:
        the path returned is rebuilt from the parsed time, never from ``at_name``.  Retention
        may delete the file before the caller opens it: treat that as not found."""
        name = camera_dir_name(camera_id)
        stamp = _parse_history_name(at_name)
        self._check_open()
        if stamp is None:
            return None
        with self._lock:
            cam = self._cameras.get(name)
            if cam is None or not cam.has(stamp):
                return None
        return self.root / name / HISTORY / _history_name(stamp)

    def prune(self, now: datetime) -> int:
        """Apply the age limit to every camera as of ``now`` (a camera that stopped sending
        pictures keeps its history until this runs); returns how many files went."""
        now_stamp = _stamp(now)
        self._check_open()
        removed = 0
        with self._lock:
            names = list(self._cameras)
        for name in names:  # one camera at a time: saves are not held up by a long prune
            with self._lock:
                cam = self._cameras.get(name)
                if cam is not None:
                    removed += self._retain_camera(name, cam, now_stamp)
        return removed

    def forget(self, camera_id: str) -> bool:
        """Delete everything of the camera (removed from the inventory); ``True`` if it had
        a directory."""
        self._check_open()
        return self._forget_dir(camera_dir_name(camera_id))

    def forget_all_except(self, camera_ids: Iterable[str]) -> int:
        """Delete the directory of every camera not in ``camera_ids`` (cameras removed from
        the inventory while the daemon was down); returns how many went."""
        keep = {camera_dir_name(i) for i in camera_ids}
        self._check_open()
        with os.scandir(self.root) as entries:
            names = [e.name for e in entries if _is_camera_dir(e.name) and e.name not in keep]
        return sum(self._forget_dir(name) for name in names)

    # -- internals: callers hold self._lock unless said otherwise --------------------------

    def _forget_dir(self, name: str) -> bool:
        """Caller holds no lock."""
        path = self.root / name
        with self._stripe(name):
            with self._lock:
                cam = self._cameras.pop(name, None)
                if cam is not None:
                    self._total -= cam.bytes()
            try:
                shutil.rmtree(path)  # outside _lock: a big history must not stall every save
            except FileNotFoundError:
                return cam is not None
        return True

    def _history_temp(self, latest: Path, history_dir: Path, jpeg: bytes) -> tuple[Path, bool]:
        """A temporary name in ``history_dir`` for the picture, and whether it is a link."""
        temp = history_dir / f"{_TMP_PREFIX}{os.urandom(8).hex()}"
        if not self._links_fail:
            try:
                os.link(latest, temp)
                return temp, True
            except OSError as exc:
                if exc.errno not in NO_LINK_ERRNOS:
                    raise
                self._links_fail = True
                logger.warning("snapshot store %s: hard links fail (%s); copying history "
                               "pictures instead", self.root, exc)  # fmt: skip
        return _write_temp(history_dir, jpeg), False

    def _resize_history(self, cam: _Camera, stamp: int, size: int) -> None:
        i = bisect_left(cam.stamps, stamp)
        self._total += size - cam.sizes[i]
        cam.sizes[i] = size

    def _set_fixed(self, cam: _Camera, file_name: str, size: int) -> None:
        self._total += size - cam.fixed.get(file_name, 0)
        cam.fixed[file_name] = size

    def _add_history(self, name: str, cam: _Camera, stamp: int, size: int) -> None:
        i = bisect_left(cam.stamps, stamp)
        if i < len(cam.stamps) and cam.stamps[i] == stamp:  # the same time again: replaced
            self._resize_history(cam, stamp, size)
            return
        cam.stamps.insert(i, stamp)
        cam.sizes.insert(i, size)
        self._total += size
        if i == 0:  # a new oldest picture for this camera
            heapq.heappush(self._heap, (stamp, name))

    def _drop_oldest(self, name: str, cam: _Camera, count: int) -> None:
        history_dir = self.root / name / HISTORY
        for stamp in cam.stamps[:count]:
            try:
                (history_dir / _history_name(stamp)).unlink(missing_ok=True)
            except OSError as exc:  # counted as gone; the next `open` counts it again
                logger.warning("snapshot store: cannot delete a history picture: %s", exc)
        self._total -= sum(cam.sizes[:count])
        del cam.stamps[:count]
        del cam.sizes[:count]

    def _retain_camera(self, name: str, cam: _Camera, now_stamp: int) -> int:
        too_old = bisect_left(cam.stamps, now_stamp - round(self.keep_age_s * 1_000_000))
        count = max(len(cam.stamps) - self.keep_count, too_old)
        if count > 0:
            self._drop_oldest(name, cam, count)
        return max(count, 0)

    def _retain_total(self) -> int:
        removed = 0
        while self._total > self.max_total_bytes and self._heap:
            stamp, name = heapq.heappop(self._heap)
            cam = self._cameras.get(name)
            if cam is None or not cam.stamps:
                continue  # forgotten, or its history is gone
            if cam.stamps[0] == stamp:  # no camera has an older picture: see _heap
                self._drop_oldest(name, cam, 1)
                removed += 1
            if cam.stamps:  # file the camera again at its (new) oldest picture
                heapq.heappush(self._heap, (cam.stamps[0], name))
        if len(self._heap) > 2 * len(self._cameras) + 1024:
            self._rebuild_heap()
        over = self._total > self.max_total_bytes
        if over and not self._over_budget:
            logger.warning(
                "snapshot store %s: latest pictures, thumbnails and references alone take "
                "%d bytes, over the %d-byte budget; no history is kept until they fit",
                self.root, self._total, self.max_total_bytes,
            )  # fmt: skip
        elif self._over_budget and not over:
            logger.info("snapshot store %s: back within its %d-byte budget", self.root,
                        self.max_total_bytes)  # fmt: skip
        self._over_budget = over
        return removed

    def _rebuild_heap(self) -> None:
        self._heap = [(cam.stamps[0], name) for name, cam in self._cameras.items() if cam.stamps]
        heapq.heapify(self._heap)

    def _stripe(self, name: str) -> threading.Lock:
        return self._stripes[hash(name) % _LOCK_STRIPES]

    def _check_open(self) -> None:
        if not self._opened:
            raise RuntimeError("SnapshotStore.open() has not been called")


# -- files ------------------------------------------------------------------------------------


def _is_camera_dir(name: str) -> bool:
    return bool(_DIRECT_NAME.fullmatch(name) or _HASHED_NAME.fullmatch(name))


def _scan_camera(path: Path) -> _Camera:
    cam = _Camera()
    history: list[tuple[int, int, int]] = []  # stamp, size, inode
    latest_inode = -1
    for directory in (path, path / HISTORY):
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if not entry.is_file(follow_symlinks=False):
                continue
            stamp = _parse_history_name(entry.name) if directory != path else None
            ours = entry.name in _FIXED if directory == path else stamp is not None
            size = entry.stat(follow_symlinks=False).st_size
            if entry.name.startswith(_TMP_PREFIX) or (ours and size == 0):
                os.unlink(entry.path)  # a crash's leftovers; empty: a power cut's
            elif stamp is not None:
                history.append((stamp, size, entry.inode()))
            elif ours:
                cam.fixed[entry.name] = size
                if entry.name == LATEST:
                    latest_inode = entry.inode()
    history.sort()
    for stamp, size, inode in history:
        cam.stamps.append(stamp)
        cam.sizes.append(0 if inode == latest_inode else size)  # its bytes count once
        if inode == latest_inode:
            cam.linked = stamp
    return cam


def _write_temp(directory: Path, data: bytes, *, durable: bool = False) -> Path:
    """Write ``data`` to a new temporary file in ``directory``; the caller renames it."""
    fd, temp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), _FILE_MODE)
            file.write(data)
            if durable:
                file.flush()
                os.fsync(file.fileno())
    except BaseException:
        os.unlink(temp_name)
        raise
    return Path(temp_name)


def _replace(temp: Path, path: Path) -> None:
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def fsync_dir(directory: Path) -> None:
    """Make the entries of ``directory`` durable (a rename or a new link in it)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_jpeg(data: bytes, what: str) -> None:
    # The web page serves these files as image/jpeg: refuse anything else at the door.
    if not data.startswith(b"\xff\xd8\xff"):
        raise ValueError(f"the {what} is not JPEG data")


def _stamp(at: datetime) -> int:
    if at.utcoffset() is None:
        raise ValueError("the time must be timezone-aware")
    stamp = (at - _EPOCH) // timedelta(microseconds=1)
    if stamp < 0:  # datetime itself ends at 9999, so every name has a 4-digit year
        raise ValueError("the time must not be before 1970")
    return stamp


def _from_stamp(stamp: int) -> datetime:
    return _EPOCH + timedelta(microseconds=stamp)


def _history_name(stamp: int) -> str:
    t = _from_stamp(stamp)
    return (
        f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}"
        f"{t.microsecond:06d}Z.jpg"
    )


def _parse_history_name(name: str) -> int | None:
    match = _HISTORY_NAME.fullmatch(name)
    if match is None:
        return None
    year, month, day, hour, minute, second, micro = (int(part) for part in match.groups())
    try:
        return _stamp(datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC))
    except ValueError:  # 30 February, hour 25, before 1970
        return None
