"""Evidence pictures: the before/after pictures of work orders, kept for contract audits.

An order names its pictures by reference (``Order.before_evidence``/``after_evidence``): a
camera's history picture, relative to the snapshot root (``<camera dir>/history/<time>.jpg``,
`bridge.snapshots.parse_history_ref`).  Snapshot retention deletes those within hours to
days; maintenance contracts audit orders months later.  `EvidenceStore` pins each picture
an order names under its own root, where only `EvidenceStore.prune` deletes it (layout:
docs/workorders.md, "Evidence pictures"):

    <root>/wo-20261127-3f2a9c01/before-41010500001320000001-20261127T013000000000Z.jpg

A pin is a hard link to the history picture (no copy, no space: the picture outlives the
history's unlink), or a copy where the file system has no links.  A link is safe because
the snapshot store never writes into an existing file: it writes a new one and renames it.
A pinned file never changes: the name comes from the reference, and the first pin of a
reference wins.  An order reopened (返修) names new pictures, pinned beside the old ones.

Blocking file I/O: the daemon calls it through ``asyncio.to_thread``.  Safe for concurrent
calls.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal

from bridge.snapshots import NO_LINK_ERRNOS, camera_dir_name, fsync_dir, parse_history_ref
from bridge.url_credentials import mask_url

__all__ = ["WHICH", "EvidenceStore", "Which", "order_dir_name"]

log = logging.getLogger(__name__)

Which = Literal["before", "after"]
WHICH: tuple[Which, ...] = ("before", "after")

_TMP_PREFIX = ".tmp-"
_DIR_MODE = 0o750  # as the snapshot store's
_FILE_MODE = 0o640
# Order ids as `bridge.workorders.model.order_id` makes them: WO-<local date>-<8 or 16 hex>.
_ORDER_ID = re.compile(r"WO-\d{8}-(?:[0-9A-F]{8}|[0-9A-F]{16})", re.ASCII)
_ORDER_DIR = re.compile(r"wo-\d{8}-(?:[0-9a-f]{8}|[0-9a-f]{16})|id\.[0-9a-f]{64}", re.ASCII)
_PIN_NAME = re.compile(r"(?:before|after)-.+\.jpg", re.ASCII)
_SHOWN_REF = 120  # characters of a refused reference a log line shows


def order_dir_name(order_id: str) -> str:
    """The directory name of an order's pictures.  An id as the engine makes it
    (``WO-20261127-3F2A9C01``) is lower-cased (``wo-20261127-3f2a9c01``): readable, and one
    directory even on a case-insensitive file system.  Any other id is hashed as
    `camera_dir_name` hashes (``id.`` + SHA-256): the NUL put before it keeps it from ever
    being taken as it is, so two ids never share a directory.  Raises ``ValueError`` for an
    empty id."""
    if not order_id:
        raise ValueError("order id is empty")
    if _ORDER_ID.fullmatch(order_id):
        return camera_dir_name(order_id.lower())
    return camera_dir_name("\0" + order_id)


def _pin_name(which: Which, ref: str) -> str | None:
    if which not in WHICH:
        raise ValueError(f"which must be 'before' or 'after', not {which!r}")
    parts = parse_history_ref(ref)
    if parts is None:
        return None
    camera_dir, history_name = parts
    return f"{which}-{camera_dir}-{history_name}"


def _shown(ref: str) -> str:
    # A reference may be a URL with credentials in it, or anything at all: masked and cut.
    return repr(mask_url(ref[: _SHOWN_REF * 2])[:_SHOWN_REF])


class EvidenceStore:
    """Pinned evidence pictures under ``root``, of history pictures under ``snapshots_root``.

    The constructor only assigns; call `open` first.  `pin`, `get` and `live` never raise for
    a reference that is unsafe or whose picture is gone (they return ``None``); other
    file-system failures raise ``OSError``.
    """

    def __init__(self, root: Path, snapshots_root: Path) -> None:
        self.root = root
        self.snapshots_root = snapshots_root
        # Pins are rare (two per order): one lock makes "first pin wins" and a prune's
        # "delete this order's directory" simple, and costs nothing.
        self._lock = threading.Lock()

    def open(self) -> None:
        """Create the root (mode 0o750) and delete the temporary files a crash left."""
        self.root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        orders = removed = 0
        with self._lock, os.scandir(self.root) as entries:
            for entry in entries:
                if entry.name.startswith(_TMP_PREFIX):
                    removed += _remove_temp(entry)
                elif entry.is_dir(follow_symlinks=False) and _ORDER_DIR.fullmatch(entry.name):
                    orders += 1
                    with os.scandir(entry.path) as files:
                        removed += sum(_remove_temp(f) for f in files
                                       if f.name.startswith(_TMP_PREFIX))  # fmt: skip
        log.info("evidence store %s: pictures of %d orders (%d temporary files removed)",
                 self.root, orders, removed)  # fmt: skip

    def pin(self, order_id: str, which: Which, ref: str) -> Path | None:
        """Keep the picture ``ref`` names as the order's ``which`` evidence; the kept file.

        Idempotent: a reference pinned before for this order and ``which`` keeps its file
        (the first pin wins; the file never changes).  ``None``, with a warning naming the
        order and the reference, when ``ref`` is not a history picture of the snapshot store
        (absolute, ``..``, a URL, another file, a symbolic link leading out of the root) or
        the picture is gone.  Durable when it returns: file and directory are synced."""
        name = _pin_name(which, ref)
        if name is None:
            log.warning("work order %s: its %s picture %s is not a snapshot history picture; "
                        "not kept", order_id, which, _shown(ref))  # fmt: skip
            return None
        directory = self.root / order_dir_name(order_id)
        path = directory / name
        if path.is_file():
            return path
        source = self.live(ref)
        with self._lock:
            if path.is_file():  # another thread pinned it meanwhile
                return path
            if source is not None:
                directory.mkdir(mode=_DIR_MODE, exist_ok=True)
                temp = _pinned_temp(source, directory)
                if temp is not None:
                    try:
                        os.replace(temp, path)
                    except BaseException:
                        temp.unlink(missing_ok=True)
                        raise
                    fsync_dir(directory)
                    return path
        log.warning("work order %s: its %s picture %s is gone (snapshot retention); not kept",
                    order_id, which, _shown(ref))  # fmt: skip
        return None

    def get(self, order_id: str, which: Which, ref: str) -> Path | None:
        """The order's pinned ``which`` picture of reference ``ref``, or ``None``."""
        name = _pin_name(which, ref)
        if name is None:
            return None
        path = self.root / order_dir_name(order_id) / name
        return path if path.is_file() else None

    def live(self, ref: str) -> Path | None:
        """The snapshot store's file ``ref`` names (not pinned: retention will delete it),
        or ``None`` when ``ref`` is not a history picture, leads out of the snapshot root
        through a symbolic link, or the file is gone."""
        if parse_history_ref(ref) is None:
            return None
        try:
            root = self.snapshots_root.resolve(strict=True)
            path = (root / ref).resolve(strict=True)
            regular = stat.S_ISREG(path.stat().st_mode)
        except (FileNotFoundError, NotADirectoryError, RuntimeError):  # gone; a symlink loop
            return None
        return path if regular and path.is_relative_to(root) else None

    def prune(self, keep: Iterable[str], older_than: datetime) -> int:
        """Delete the pictures of every order not in ``keep`` (the open orders) whose
        pictures were all taken before ``older_than`` (their files' mtime: a pin keeps the
        picture's); returns how many order directories went.  Files the store does not name
        stay, and so does their directory."""
        kept = {order_dir_name(i) for i in keep}
        cutoff = older_than.timestamp()
        removed = 0
        with os.scandir(self.root) as entries:
            names = [e.name for e in entries if e.is_dir(follow_symlinks=False)
                     and _ORDER_DIR.fullmatch(e.name) and e.name not in kept]  # fmt: skip
        for name in names:
            with self._lock:  # not while a pin of this order is under way
                removed += _remove_if_old(self.root / name, cutoff)
        if removed:
            log.info("evidence store %s: pictures of %d orders removed (older than %s)",
                     self.root, removed, older_than.isoformat())  # fmt: skip
        return removed


def _pinned_temp(source: Path, directory: Path) -> Path | None:
    """A temporary file in ``directory`` holding the picture ``source``: a hard link, or a
    copy with the same mtime; synced.  ``None`` when ``source`` is gone."""
    temp = directory / f"{_TMP_PREFIX}{os.urandom(8).hex()}"
    try:
        os.link(source, temp)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in NO_LINK_ERRNOS:
            raise
        return _copy_temp(source, directory)
    try:
        # The snapshot store does not sync its pictures (docs/snapshots.md); evidence must
        # survive a power cut, so its data goes to disk before the name does.
        _fsync_file(temp)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _copy_temp(source: Path, directory: Path) -> Path | None:
    fd, temp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as dst, open(source, "rb") as src:
            os.fchmod(dst.fileno(), _FILE_MODE)
            shutil.copyfileobj(src, dst)
            dst.flush()
            os.fsync(dst.fileno())
            st = os.fstat(src.fileno())
        os.utime(temp_name, ns=(st.st_atime_ns, st.st_mtime_ns))  # prune ages the picture
    except FileNotFoundError:  # the source: retention deleted it just now
        os.unlink(temp_name)
        return None
    except BaseException:
        os.unlink(temp_name)
        raise
    return Path(temp_name)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_temp(entry: os.DirEntry[str]) -> int:
    if not entry.is_file(follow_symlinks=False):
        return 0
    os.unlink(entry.path)
    return 1


def _remove_if_old(directory: Path, cutoff: float) -> int:
    """Delete the order directory's pictures if none is as young as ``cutoff``, and the
    directory when nothing else is in it; 1 if it went."""
    try:
        with os.scandir(directory) as entries:
            files = list(entries)
        if any(f.stat(follow_symlinks=False).st_mtime >= cutoff for f in files):
            return 0
        others = 0
        for f in files:
            ours = _PIN_NAME.fullmatch(f.name) or f.name.startswith(_TMP_PREFIX)
            if ours and f.is_file(follow_symlinks=False):
                os.unlink(f.path)
            else:
                others += 1
        if others:  # not ours to delete: the directory stays with them
            return 0
        directory.rmdir()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning("evidence store: %s not removed: %s", directory, exc.strerror)
        return 0
    return 1
