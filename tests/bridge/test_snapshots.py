"""Snapshot store on real files under tmp_path, and thumbnails from real OpenCV encodes."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import stat
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from bridge.jpeg import jpeg_dimensions, make_thumbnail, thumbnail_from_jpeg
from bridge.snapshots import Saved, SnapshotStore, camera_dir_name

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CAM = "41010500001320000001"  # GB/T 28181: a camera (132) under centre 41010500
THUMB = b"\xff\xd8\xff" + b"t" * 97  # 100 bytes: the store checks the JPEG magic, not more


def pic(size: int, fill: bytes = b"p") -> bytes:
    """A picture of exactly ``size`` bytes, so size arithmetic in the tests is exact."""
    return b"\xff\xd8\xff" + fill * (size - 3)


def opened(root: Path, **limits: int | float) -> SnapshotStore:
    store = SnapshotStore(root, **limits)  # type: ignore[arg-type]
    store.open()
    return store


def disk_bytes(root: Path) -> int:
    """Bytes of the files under ``root``, each hard-linked file once (as ``du`` counts)."""
    files = {(st.st_dev, st.st_ino): st.st_size for p in root.rglob("*") if p.is_file()
             for st in [p.stat()]}  # fmt: skip
    return sum(files.values())


def names(store: SnapshotStore, camera_id: str) -> list[str]:
    return [path.name for _, path in store.history(camera_id)]


# -- camera directory names ------------------------------------------------------------------


def test_plain_ids_name_their_directory() -> None:
    assert camera_dir_name(CAM) == CAM
    assert camera_dir_name("cam_01-a") == "cam_01-a"


@pytest.mark.parametrize(
    "camera_id",
    ["../etc", "a/b", "..", ".", "x" * 65, "摄像头1", "Cam01", "-rf", "a\x00b", "a\\b", " 1"],
)
def test_hostile_ids_get_a_hashed_name(camera_id: str) -> None:
    name = camera_dir_name(camera_id)
    assert name.startswith("id.")
    assert len(name) == 67
    assert "/" not in name
    assert name not in (".", "..")


def test_two_ids_never_share_a_directory() -> None:
    ids = ["ab", "AB", "Ab", "ab ", "id." + "0" * 64, "../ab", "x" * 64, "x" * 65]
    hashed_lookalike = "id." + hashlib.sha256(b"ab").hexdigest()
    ids.append(hashed_lookalike)
    assert len({camera_dir_name(i) for i in ids}) == len(ids)


def test_empty_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        camera_dir_name("")
    store = opened(tmp_path)
    with pytest.raises(ValueError, match="empty"):
        store.save("", pic(10), T0, thumb=THUMB)


def test_hostile_id_stays_under_the_root(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    store = opened(root)
    for camera_id in ("../etc", "a/b", "/abs", "摄像头", "x" * 500):
        saved = store.save(camera_id, pic(10), T0, thumb=THUMB)
        assert saved.latest.resolve().parent.parent == root.resolve()
        assert store.latest(camera_id) == saved.latest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshots"]


# -- layout and writes -----------------------------------------------------------------------


def test_save_writes_the_layout(tmp_path: Path) -> None:
    store = opened(tmp_path)
    at = datetime(
        2025, 3, 1, 16, 30, 5, 123456, tzinfo=timezone(timedelta(hours=8))
    )  # Beijing time
    saved = store.save(CAM, pic(1000), at.astimezone(UTC), thumb=THUMB)
    camera_dir = tmp_path / CAM
    assert saved == Saved(
        camera_id=CAM,
        at=at.astimezone(UTC),
        latest=camera_dir / "latest.jpg",
        thumb=camera_dir / "latest-thumb.jpg",
        history=camera_dir / "history" / "20250301T083005123456Z.jpg",
        jpeg_bytes=1000,
        thumb_bytes=100,
        thumb_sha256=hashlib.sha256(THUMB).hexdigest(),
        removed=0,
    )
    assert len(saved.thumb_sha256) == 64
    assert saved.latest.read_bytes() == pic(1000)
    assert saved.thumb.read_bytes() == THUMB
    assert saved.history is not None
    assert saved.history.read_bytes() == pic(1000)
    assert store.latest(CAM) == saved.latest
    assert store.latest_thumb(CAM) == saved.thumb
    assert store.history(CAM) == [
        (datetime(2025, 3, 1, 8, 30, 5, 123456, tzinfo=UTC), saved.history)
    ]
    assert saved.history.samefile(saved.latest)  # one file, two names: written once
    assert store.total_bytes == 1100 == disk_bytes(tmp_path)
    assert stat.S_IMODE(saved.latest.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / CAM / "history").stat().st_mode) & 0o027 == 0


def test_unknown_camera_has_nothing(tmp_path: Path) -> None:
    store = opened(tmp_path)
    assert store.latest(CAM) is None
    assert store.latest_thumb(CAM) is None
    assert store.history(CAM) == []
    assert store.reference(CAM) is None
    assert store.get(CAM, "20250301T080000000000Z.jpg") is None


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    store = opened(tmp_path, keep_count=3)
    for n in range(10):
        store.save(CAM, pic(100 + n), T0 + timedelta(seconds=n), thumb=THUMB)
    store.save_reference(CAM, pic(50))
    assert [p for p in tmp_path.rglob("*") if p.name.startswith(".")] == []
    assert sorted(p.name for p in (tmp_path / CAM).iterdir()) == [
        "history",
        "latest-thumb.jpg",
        "latest.jpg",
        "reference.jpg",
    ]


def test_refuses_what_is_not_jpeg_or_not_aware(tmp_path: Path) -> None:
    store = opened(tmp_path)
    with pytest.raises(ValueError, match="not JPEG"):
        store.save(CAM, b"<html>", T0, thumb=THUMB)
    with pytest.raises(ValueError, match="thumbnail"):
        store.save(CAM, pic(10), T0, thumb=b"")
    with pytest.raises(ValueError, match="aware"):
        store.save(CAM, pic(10), datetime(2025, 3, 1), thumb=THUMB)
    with pytest.raises(ValueError, match="not JPEG"):
        store.save_reference(CAM, b"GIF89a")
    assert store.total_bytes == 0


def test_methods_need_open(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "never")
    with pytest.raises(RuntimeError, match="open"):
        store.save(CAM, pic(10), T0, thumb=THUMB)
    assert not (tmp_path / "never").exists()  # the constructor does no I/O


def test_readers_never_see_half_a_picture(tmp_path: Path) -> None:
    store = opened(tmp_path, keep_count=2)
    big, small = pic(400_000, b"a"), pic(1_000, b"b")
    store.save(CAM, big, T0, thumb=THUMB)
    stop = threading.Event()
    seen: set[bytes] = set()

    def read() -> None:
        path = tmp_path / CAM / "latest.jpg"
        while not stop.is_set():
            seen.add(path.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(200):
            store.save(CAM, small if n % 2 else big, T0 + timedelta(seconds=n), thumb=THUMB)
    finally:
        stop.set()
        reader.join()
    assert seen <= {big, small}


# -- retention -------------------------------------------------------------------------------


def test_history_keeps_the_newest_count(tmp_path: Path) -> None:
    store = opened(tmp_path, keep_count=3)
    removed = [
        store.save(CAM, pic(100), T0 + timedelta(minutes=n), thumb=THUMB).removed for n in range(5)
    ]
    assert removed == [0, 0, 0, 1, 1]
    assert names(store, CAM) == [
        "20250301T080400000000Z.jpg",
        "20250301T080300000000Z.jpg",
        "20250301T080200000000Z.jpg",
    ]
    assert store.total_bytes == 100 + 100 + 2 * 100 == disk_bytes(tmp_path)  # newest = latest


def test_history_drops_what_is_older_than_keep_age(tmp_path: Path) -> None:
    store = opened(tmp_path, keep_count=100, keep_age_s=3600)
    for minutes in (0, 30, 59):
        store.save(CAM, pic(100), T0 + timedelta(minutes=minutes), thumb=THUMB)
    assert len(store.history(CAM)) == 3
    saved = store.save(CAM, pic(100), T0 + timedelta(minutes=61), thumb=THUMB)
    assert saved.removed == 1
    assert [at for at, _ in store.history(CAM)] == [
        T0 + timedelta(minutes=61),
        T0 + timedelta(minutes=59),
        T0 + timedelta(minutes=30),
    ]
    store.save(CAM, pic(100), T0 + timedelta(minutes=90), thumb=THUMB)
    assert store.history(CAM)[-1][0] == T0 + timedelta(minutes=30)  # exactly keep_age: kept
    assert store.total_bytes == disk_bytes(tmp_path)


def test_prune_ages_out_cameras_that_stopped_sending(tmp_path: Path) -> None:
    store = opened(tmp_path, keep_count=100, keep_age_s=3600)
    store.save("quiet", pic(100), T0, thumb=THUMB)
    store.save("busy", pic(100), T0 + timedelta(minutes=50), thumb=THUMB)
    assert store.prune(T0 + timedelta(minutes=90)) == 1
    assert store.history("quiet") == []
    assert store.latest("quiet") is not None  # never the latest picture
    assert len(store.history("busy")) == 1
    assert store.total_bytes == disk_bytes(tmp_path)


def test_the_same_time_again_replaces_the_entry(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.save(CAM, pic(100), T0, thumb=THUMB)
    store.save(CAM, pic(300), T0, thumb=THUMB)
    assert len(store.history(CAM)) == 1
    assert store.total_bytes == 300 + 100 == disk_bytes(tmp_path)


def test_no_history_when_keep_count_is_zero(tmp_path: Path) -> None:
    store = opened(tmp_path, keep_count=0)
    saved = store.save(CAM, pic(100), T0, thumb=THUMB)
    assert saved.history is None
    assert store.history(CAM) == []
    assert store.total_bytes == 200 == disk_bytes(tmp_path)


def test_history_keeps_its_picture_when_latest_moves_on(tmp_path: Path) -> None:
    store = opened(tmp_path)
    first = store.save(CAM, pic(100, b"1"), T0, thumb=THUMB)
    second = store.save(CAM, pic(200, b"2"), T0 + timedelta(minutes=1), thumb=THUMB)
    assert first.history is not None
    assert second.history is not None
    assert first.history.read_bytes() == pic(100, b"1")
    assert second.latest.read_bytes() == pic(200, b"2")
    assert not first.history.samefile(second.latest)
    assert store.total_bytes == 100 + 200 + 100 == disk_bytes(tmp_path)
    assert opened(tmp_path).total_bytes == store.total_bytes  # the link is found again


def test_history_is_copied_where_hard_links_fail(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store._links_fail = True  # as after os.link failed once with EPERM (FAT, some shares)
    saved = store.save(CAM, pic(100), T0, thumb=THUMB)
    assert saved.history is not None
    assert not saved.history.samefile(saved.latest)
    assert saved.history.read_bytes() == pic(100)
    store.save(CAM, pic(200), T0 + timedelta(minutes=1), thumb=THUMB)
    assert store.total_bytes == 200 + 100 + 200 + 100 == disk_bytes(tmp_path)
    assert opened(tmp_path).total_bytes == store.total_bytes


def test_total_budget_takes_the_oldest_history_of_any_camera(tmp_path: Path) -> None:
    # Three cameras: latest 1000 + thumb 100 each = 3300; their newest history entry is the
    # latest picture itself, so each older entry adds 1000.
    store = opened(tmp_path, keep_count=10, max_total_bytes=3300 + 3 * 1000)
    for minutes in (0, 3):
        for n, camera in enumerate(["a", "b", "c"]):
            store.save(camera, pic(1000), T0 + timedelta(minutes=minutes + n), thumb=THUMB)
    assert store.total_bytes == 6300
    saved = store.save("b", pic(1000), T0 + timedelta(minutes=10), thumb=THUMB)
    assert saved.removed == 1
    assert [at for at, _ in store.history("a")] == [T0 + timedelta(minutes=3)]  # the oldest
    assert len(store.history("b")) == 3
    assert len(store.history("c")) == 2
    assert store.latest("a") is not None
    assert store.total_bytes == 6300 == disk_bytes(tmp_path)


def test_budget_never_takes_latest_or_reference_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = opened(tmp_path, max_total_bytes=2000)
    caplog.set_level(logging.INFO, logger="bridge.snapshots")
    store.save_reference("a", pic(500))
    for n in range(5):
        saved = store.save(f"cam{n}", pic(1000), T0 + timedelta(seconds=n), thumb=THUMB)
        assert saved.history is None or n == 0
    assert store.reference("a") == pic(500)
    assert all(store.latest(f"cam{n}") is not None for n in range(5))
    assert all(store.history(f"cam{n}") == [] for n in range(5))
    assert store.total_bytes == 500 + 5 * 1100 == disk_bytes(tmp_path)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "over the 2000-byte budget" in warnings[0].getMessage()
    for n in range(5):
        store.forget(f"cam{n}")
    store.save("x", pic(100), T0, thumb=THUMB)
    assert [r.levelno for r in caplog.records].count(logging.WARNING) == 1
    assert "back within" in caplog.records[-1].getMessage()


def test_reference_is_outside_retention(tmp_path: Path) -> None:
    store = opened(tmp_path, keep_count=1, keep_age_s=1)
    path = store.save_reference(CAM, pic(700))
    for n in range(3):
        store.save(CAM, pic(100), T0 + timedelta(days=n), thumb=THUMB)
    assert store.prune(T0 + timedelta(days=30)) == 1
    assert path == tmp_path / CAM / "reference.jpg"
    assert store.reference(CAM) == pic(700)
    store.save_reference(CAM, pic(800))
    assert store.reference(CAM) == pic(800)
    assert store.total_bytes == 800 + 100 + 100 == disk_bytes(tmp_path)


# -- restart ---------------------------------------------------------------------------------


def test_a_new_store_on_the_same_root_sees_everything(tmp_path: Path) -> None:
    first = opened(tmp_path, keep_count=3)
    for n in range(3):
        first.save(CAM, pic(100 + n), T0 + timedelta(minutes=n), thumb=THUMB)
        first.save(f"other{n}", pic(500), T0, thumb=THUMB)
    first.save_reference(CAM, pic(40))
    second = opened(tmp_path, keep_count=3)
    assert second.total_bytes == first.total_bytes == disk_bytes(tmp_path)
    assert second.history(CAM) == first.history(CAM)
    saved = second.save(CAM, pic(100), T0 + timedelta(minutes=9), thumb=THUMB)
    assert saved.removed == 1  # the count counts the pictures of before the restart
    assert names(second, CAM)[-1] == "20250301T080100000000Z.jpg"


def test_open_enforces_a_smaller_budget_and_cleans_crash_leftovers(tmp_path: Path) -> None:
    first = opened(tmp_path)
    for n in range(4):
        first.save(CAM, pic(1000), T0 + timedelta(minutes=n), thumb=THUMB)
    (tmp_path / CAM / ".tmp-crashed").write_bytes(b"half")
    (tmp_path / CAM / "history" / ".tmp-crashed").write_bytes(b"half")
    (tmp_path / CAM / "history" / "20250301T090000000000Z.jpg").write_bytes(b"")  # power cut
    (tmp_path / CAM / "history" / "notes.txt").write_text("an operator's file")
    (tmp_path / "..hidden").mkdir()
    assert first.total_bytes == 1100 + 3 * 1000  # the newest entry is latest.jpg
    second = opened(tmp_path, max_total_bytes=1100 + 1000)
    assert names(second, CAM) == ["20250301T080300000000Z.jpg", "20250301T080200000000Z.jpg"]
    assert not list(tmp_path.rglob(".tmp-*"))
    assert not (tmp_path / CAM / "history" / "20250301T090000000000Z.jpg").exists()
    assert (tmp_path / CAM / "history" / "notes.txt").exists()  # not ours: left alone
    assert second.total_bytes == 2100


# -- lookups by name, forgetting -------------------------------------------------------------


def test_get_finds_a_history_entry_by_its_name(tmp_path: Path) -> None:
    store = opened(tmp_path)
    saved = store.save(CAM, pic(100), T0, thumb=THUMB)
    assert store.get(CAM, "20250301T080000000000Z.jpg") == saved.history
    assert store.get(CAM, "20250301T080000000001Z.jpg") is None
    assert store.get("other", "20250301T080000000000Z.jpg") is None


@pytest.mark.parametrize(
    "name",
    [
        "../latest.jpg",
        "../../../etc/passwd",
        "/etc/passwd",
        "20250301T080000000000Z.jpg/../../latest.jpg",
        "..%2Flatest.jpg",
        "20250301T080000000000Z.jpg\x00",
        "20250301T080000000000Z.JPG",
        "20250230T080000000000Z.jpg",  # 30 February
        "20250301T250000000000Z.jpg",
        "19690101T000000000000Z.jpg",
        "２０２５0301T080000000000Z.jpg",  # full-width digits: \d without re.ASCII
        "",
        "latest.jpg",
        "reference.jpg",
    ],
)
def test_get_refuses_anything_but_a_plain_history_name(tmp_path: Path, name: str) -> None:
    store = opened(tmp_path)
    store.save(CAM, pic(100), T0, thumb=THUMB)
    assert store.get(CAM, name) is None


def test_forget_deletes_the_camera(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.save(CAM, pic(100), T0, thumb=THUMB)
    store.save_reference(CAM, pic(100))
    store.save("keep", pic(100), T0, thumb=THUMB)
    assert store.forget(CAM) is True
    assert store.forget(CAM) is False
    assert not (tmp_path / CAM).exists()
    assert store.latest(CAM) is None
    assert store.total_bytes == 200 == disk_bytes(tmp_path)


def test_forget_all_except_clears_cameras_gone_from_the_inventory(tmp_path: Path) -> None:
    store = opened(tmp_path)
    for camera_id in ("a", "b", "../c", "摄像头"):
        store.save(camera_id, pic(100), T0, thumb=THUMB)
    (tmp_path / "unrelated.txt").write_text("x")
    restarted = opened(tmp_path)
    assert restarted.forget_all_except(["a", "摄像头"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a", camera_dir_name("摄像头"), "unrelated.txt"]
    )
    assert restarted.total_bytes == 2 * 200


def test_budget_takes_the_oldest_picture_even_when_saved_late(tmp_path: Path) -> None:
    store = opened(tmp_path, max_total_bytes=2 * 200 + 2 * 100)  # 2 cameras + 2 old pictures
    store.save("a", pic(100), T0 + timedelta(minutes=10), thumb=THUMB)
    store.save("b", pic(100), T0 + timedelta(minutes=5), thumb=THUMB)
    store.save("a", pic(100), T0, thumb=THUMB)  # late: an older picture arrives last
    store.save("b", pic(100), T0 + timedelta(minutes=20), thumb=THUMB)
    assert store.total_bytes == 600
    assert store.save("a", pic(100), T0 + timedelta(minutes=20), thumb=THUMB).removed == 1
    assert [at for at, _ in store.history("a")] == [T0 + timedelta(minutes=m) for m in (20, 10)]
    assert [at for at, _ in store.history("b")] == [T0 + timedelta(minutes=m) for m in (20, 5)]


class Model:
    """The retention rules written the slow, obvious way, to check the store against.  Each
    picture has an identity; a file counts once however many names it has (latest and the
    newest history entry are one file)."""

    def __init__(self, keep_count: int, keep_age_s: int, max_total_bytes: int) -> None:
        self.limits = (keep_count, keep_age_s * 1_000_000, max_total_bytes)
        self.fixed: dict[str, dict[str, tuple[int, int]]] = {}  # camera → name → (id, size)
        self.history: dict[str, dict[int, tuple[int, int]]] = {}  # camera → stamp → (id, size)
        self.pictures = 0

    def total(self) -> int:
        files = {p for f in self.fixed.values() for p in f.values()}
        files |= {p for h in self.history.values() for p in h.values()}
        return sum(size for _, size in files)

    def new(self, size: int) -> tuple[int, int]:
        self.pictures += 1
        return (self.pictures, size)

    def save(self, camera: str, size: int, stamp: int) -> None:
        picture = self.new(size)
        self.fixed.setdefault(camera, {}).update(latest=picture, thumb=self.new(len(THUMB)))
        self.history.setdefault(camera, {})[stamp] = picture
        self.age(camera, stamp)
        self.budget()

    def age(self, camera: str, now: int) -> None:
        keep_count, keep_age_us, _ = self.limits
        history = self.history.get(camera, {})
        stamps = sorted(history)
        for i, stamp in enumerate(stamps):
            if i < len(stamps) - keep_count or stamp < now - keep_age_us:
                del history[stamp]

    def budget(self) -> None:
        while self.total() > self.limits[2]:
            entries = [(s, c) for c, h in self.history.items() for s in h]
            if not entries:
                return
            stamp, camera = min(entries)
            del self.history[camera][stamp]


@pytest.mark.parametrize("seed", range(4))
def test_retention_matches_the_rules_over_random_operations(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    limits = {"keep_count": 4, "keep_age_s": 600, "max_total_bytes": 2500}
    store = opened(tmp_path, **limits)
    model = Model(4, 600, 2500)
    cameras = [f"c{n}" for n in range(6)]
    for step in range(400):
        camera = cameras[int(rng.integers(len(cameras)))]
        stamp = int(rng.integers(0, 3600)) * 1_000_000 + step  # out of order, now and then
        at = EPOCH + timedelta(microseconds=stamp)
        action = rng.random()
        if action < 0.8:
            size = int(rng.integers(10, 120))
            store.save(camera, pic(size), at, thumb=THUMB)
            model.save(camera, size, stamp)
        elif action < 0.88:
            size = int(rng.integers(10, 60))
            store.save_reference(camera, pic(size))
            model.fixed.setdefault(camera, {})["reference"] = model.new(size)
            model.budget()
        elif action < 0.95:
            store.prune(at)
            for name in model.history:
                model.age(name, stamp)
        else:
            store.forget(camera)
            model.fixed.pop(camera, None)
            model.history.pop(camera, None)
        assert store.total_bytes == model.total()
        for name in cameras:
            got = [(at - EPOCH) // timedelta(microseconds=1) for at, _ in store.history(name)]
            assert got == sorted(model.history.get(name, {}), reverse=True), (step, name)
    assert store.total_bytes == disk_bytes(tmp_path)
    assert opened(tmp_path, **limits).total_bytes == store.total_bytes


# -- concurrency -----------------------------------------------------------------------------


def test_threads_saving_many_cameras_keep_the_total_right(tmp_path: Path) -> None:
    store = opened(tmp_path, keep_count=4, max_total_bytes=90_000)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(60):
                camera = f"cam{(worker * 7 + n) % 40}"  # workers overlap on cameras
                at = T0 + timedelta(seconds=n, microseconds=worker)
                store.save(camera, pic(500 + worker * 10 + n), at, thumb=THUMB)
                if n % 20 == 0:
                    store.save_reference(camera, pic(200))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.total_bytes == disk_bytes(tmp_path) <= 90_000
    kept = [len(store.history(f"cam{c}")) for c in range(40)]
    assert max(kept) <= 4
    assert 0 < sum(kept) < 4 * 40  # the budget took some, across cameras
    assert opened(tmp_path).total_bytes == store.total_bytes


# -- thumbnails ------------------------------------------------------------------------------


def noise(height: int, width: int, seed: int = 1) -> npt.NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@functools.cache
def street(height: int, width: int, seed: int = 2) -> npt.NDArray[np.uint8]:
    """Photo-like: a lit gradient, buildings, windows, a road, text and sensor noise."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    image = 60 + 120 * y * np.array([0.9, 1.0, 1.1]) + 40 * x
    image = np.broadcast_to(image, (height, width, 3)).astype(np.uint8).copy()
    for _ in range(40):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height // 2))
        colour = tuple(int(c) for c in rng.integers(40, 220, 3))
        cv2.rectangle(image, (x0, y0), (x0 + width // 12, height * 3 // 4), colour, -1)
        for wy in range(y0 + 10, height * 3 // 4 - 10, max(8, height // 40)):
            cv2.rectangle(image, (x0 + 6, wy), (x0 + 14, wy + 5), (200, 220, 240), -1)
    cv2.rectangle(image, (0, height * 3 // 4), (width, height), (70, 70, 75), -1)
    cv2.putText(image, "2025-03-01 16:00:00", (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 2, (255,) * 3, 3)
    grain = rng.normal(0, 4, image.shape).astype(np.float32)
    return np.asarray(np.clip(image + grain, 0, 255), np.uint8)


def decoded(jpeg: bytes) -> npt.NDArray[np.uint8]:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return np.asarray(image, np.uint8)


@pytest.mark.parametrize(
    ("kind", "height", "width", "expected"),
    [
        ("noise", 1080, 1920, (180, 320)),
        ("noise", 2160, 3840, (180, 320)),
        ("noise", 240, 320, (240, 320)),  # worst case: full-range noise at native size
        ("noise", 480, 320, None),  # too big even at quality 30: shrinks
        ("noise", 3000, 320, None),  # taller than 4:1: shrinks into the box
        ("street", 1080, 1920, (180, 320)),
        ("street", 2160, 3840, (180, 320)),
        ("street", 1536, 2048, (240, 320)),
    ],
)
def test_thumbnail_fits_width_and_bytes(
    kind: str, height: int, width: int, expected: tuple[int, int] | None
) -> None:
    jpeg = make_thumbnail(noise(height, width) if kind == "noise" else street(height, width))
    assert jpeg.startswith(b"\xff\xd8\xff")
    assert len(jpeg) <= 30_000
    thumb = decoded(jpeg)
    assert thumb.shape[1] <= 320
    assert thumb.shape[0] <= 4 * 320
    if expected is not None:
        assert thumb.shape[:2] == expected
    assert thumb.shape[1] / thumb.shape[0] == pytest.approx(width / height, rel=0.02)


def test_worst_case_noise_still_fits_a_tight_budget() -> None:
    for budget in (30_000, 8_000, 2_000):
        jpeg = make_thumbnail(noise(1280, 320, seed=budget), max_bytes=budget)
        assert len(jpeg) <= budget


def test_small_pictures_are_not_upscaled() -> None:
    image = street(120, 200)
    assert decoded(make_thumbnail(image)).shape == (120, 200, 3)
    grey = cv2.cvtColor(street(90, 160), cv2.COLOR_BGR2GRAY)
    assert decoded(make_thumbnail(np.asarray(grey, np.uint8))).shape == (90, 160)


def test_thumbnail_refuses_unusable_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        make_thumbnail(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        make_thumbnail(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        make_thumbnail(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="fits"):
        make_thumbnail(noise(10, 10), max_bytes=50)  # less than any JPEG's headers


def encode(image: npt.NDArray[np.uint8], quality: int = 85) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(("height", "width"), [(1080, 1920), (2160, 3840), (480, 640), (240, 320)])
def test_thumbnail_from_jpeg_decodes_reduced_and_fits(height: int, width: int) -> None:
    source = encode(street(height, width))
    assert jpeg_dimensions(source) == (width, height)
    jpeg = thumbnail_from_jpeg(source)
    assert len(jpeg) <= 30_000
    assert decoded(jpeg).shape == (240 if height * 4 == width * 3 else 180, 320, 3)


def test_thumbnail_from_jpeg_refuses_bad_data() -> None:
    source = encode(street(64, 96))
    with pytest.raises(ValueError, match="frame header"):
        thumbnail_from_jpeg(b"GIF89a" + source)
    with pytest.raises(ValueError, match="frame header"):
        thumbnail_from_jpeg(source[:20])
    with pytest.raises(ValueError, match="decoded"):
        thumbnail_from_jpeg(_with_size(source, 96, 64)[:-600] + b"\x00" * 10)


def test_header_over_the_pixel_cap_is_refused_before_decoding() -> None:
    bomb = _with_size(encode(street(64, 96)), 60_000, 60_000)  # 3.6 gigapixels claimed
    assert jpeg_dimensions(bomb) == (60_000, 60_000)
    with pytest.raises(ValueError, match="more than 40000000 pixels"):
        thumbnail_from_jpeg(bomb)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8",
        b"\xff\xd8" + b"\xff" * 10_000,
        b"\xff\xd8\xff\xe0\x00",
        b"\xff\xd8\xff\xda",
    ],
)
def test_jpeg_dimensions_gives_up_on_hostile_headers(data: bytes) -> None:
    assert jpeg_dimensions(data) is None


def _with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The JPEG with its baseline frame header (SOF0) claiming another size."""
    at = jpeg.index(b"\xff\xc0")
    return jpeg[: at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + jpeg[at + 9 :]


def test_files_are_private_to_the_group(tmp_path: Path) -> None:
    store = opened(tmp_path)
    saved = store.save(CAM, pic(10), T0, thumb=THUMB)
    assert saved.history is not None
    for path in (saved.latest, saved.thumb, saved.history):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
