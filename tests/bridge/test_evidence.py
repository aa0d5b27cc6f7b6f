"""Evidence pictures on real files under tmp_path: history pictures made by the real
`SnapshotStore`, pinned by the real `EvidenceStore`, then deleted by the snapshot store's
own retention."""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.evidence import EvidenceStore, order_dir_name
from bridge.snapshots import SnapshotStore, parse_history_ref

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
CAM = "41010500001320000001"
ORDER = "WO-20261127-3F2A9C01"
THUMB = b"\xff\xd8\xff" + b"t" * 97


def pic(fill: bytes, size: int = 1000) -> bytes:
    return b"\xff\xd8\xff" + fill * (size - 3)


@pytest.fixture
def snapshots(tmp_path: Path) -> SnapshotStore:
    store = SnapshotStore(tmp_path / "snapshots", keep_count=2)
    store.open()
    return store


@pytest.fixture
def evidence(tmp_path: Path, snapshots: SnapshotStore) -> EvidenceStore:
    store = EvidenceStore(tmp_path / "evidence", snapshots.root)
    store.open()
    return store


def take(snapshots: SnapshotStore, at: datetime, jpeg: bytes, camera_id: str = CAM) -> str:
    """Save a picture and return its reference as the frame tier makes it."""
    saved = snapshots.save(camera_id, jpeg, at, thumb=THUMB)
    assert saved.history is not None
    return str(saved.history.relative_to(snapshots.root))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- pinning ---------------------------------------------------------------------------------


def test_a_pinned_picture_outlives_the_history(
    snapshots: SnapshotStore, evidence: EvidenceStore
) -> None:
    ref = take(snapshots, T0, pic(b"a"))
    history_file = snapshots.root / ref
    pinned = evidence.pin(ORDER, "before", ref)
    assert pinned is not None
    assert pinned.parent == evidence.root / "wo-20261127-3f2a9c01"  # readable, lower case
    assert pinned.name == f"before-{CAM}-20261127T010000000000Z.jpg"
    assert pinned.stat().st_ino == history_file.stat().st_ino  # a hard link: no copy
    assert (mode(pinned), mode(pinned.parent), mode(evidence.root)) == (0o640, 0o750, 0o750)
    # Two more pictures: keep_count 2 deletes the first one from the history.
    take(snapshots, T0 + timedelta(minutes=15), pic(b"b"))
    take(snapshots, T0 + timedelta(minutes=30), pic(b"c"))
    assert not history_file.exists()
    assert pinned.read_bytes() == pic(b"a")
    assert evidence.get(ORDER, "before", ref) == pinned
    assert evidence.live(ref) is None  # the snapshot itself is gone
    assert evidence.get(ORDER, "after", ref) is None


def test_a_copy_where_hard_links_fail(
    snapshots: SnapshotStore, evidence: EvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = take(snapshots, T0, pic(b"a"))
    os.utime(snapshots.root / ref, (1_700_000_000, 1_700_000_000))

    def no_links(src: object, dst: object, **_: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)  # another file system, FAT, a share
    pinned = evidence.pin(ORDER, "after", ref)
    assert pinned is not None
    assert pinned.stat().st_ino != (snapshots.root / ref).stat().st_ino
    assert pinned.read_bytes() == pic(b"a")
    assert mode(pinned) == 0o640
    assert pinned.stat().st_mtime == 1_700_000_000  # the picture's age, for prune
    assert [p.name for p in pinned.parent.iterdir()] == [pinned.name]  # no temporary left


def test_other_link_errors_are_raised(
    snapshots: SnapshotStore, evidence: EvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = take(snapshots, T0, pic(b"a"))

    def disk_full(src: object, dst: object, **_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", disk_full)
    with pytest.raises(OSError, match="No space"):
        evidence.pin(ORDER, "after", ref)


def test_the_first_pin_wins(snapshots: SnapshotStore, evidence: EvidenceStore) -> None:
    ref = take(snapshots, T0, pic(b"a"))
    first = evidence.pin(ORDER, "after", ref)
    # The same time again replaces the history picture: the pinned one stays as it was.
    take(snapshots, T0, pic(b"z"))
    assert (snapshots.root / ref).read_bytes() == pic(b"z")
    assert evidence.pin(ORDER, "after", ref) == first
    assert first is not None
    assert first.read_bytes() == pic(b"a")
    # Reopened (返修): a new after picture is pinned beside the first, which stays.
    ref2 = take(snapshots, T0 + timedelta(days=1), pic(b"n"))
    second = evidence.pin(ORDER, "after", ref2)
    assert second is not None
    assert second != first
    assert (first.read_bytes(), second.read_bytes()) == (pic(b"a"), pic(b"n"))


def test_concurrent_pins_leave_one_good_file(
    snapshots: SnapshotStore, evidence: EvidenceStore
) -> None:
    ref = take(snapshots, T0, pic(b"a", 200_000))
    barrier = threading.Barrier(8)
    results: list[Path | None] = []

    def pin() -> None:
        barrier.wait()
        results.append(evidence.pin(ORDER, "before", ref))

    threads = [threading.Thread(target=pin) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    [path] = (evidence.root / order_dir_name(ORDER)).iterdir()
    assert path == results[0]
    assert path.read_bytes() == pic(b"a", 200_000)


def test_a_picture_already_gone_is_not_kept_and_not_an_error(
    snapshots: SnapshotStore, evidence: EvidenceStore, caplog: pytest.LogCaptureFixture
) -> None:
    ref = f"{CAM}/history/20261101T000000000000Z.jpg"  # a real name, long deleted
    with caplog.at_level(logging.WARNING, "bridge.evidence"):
        assert evidence.pin(ORDER, "before", ref) is None
    assert ORDER in caplog.text
    assert ref in caplog.text
    assert "gone" in caplog.text
    assert list(evidence.root.iterdir()) == []


@pytest.mark.parametrize(
    "ref",
    [
        "../x.jpg",
        "/etc/passwd",
        f"/{CAM}/history/20261127T010000000000Z.jpg",
        f"{CAM}/history/../latest.jpg",
        f"{CAM}/latest.jpg",  # names the next picture after the next look
        f"{CAM}/reference.jpg",
        f"{CAM}/history/20261127T010000000000Z.png",
        f"{CAM}/history/20261131T010000000000Z.jpg",  # 31 November
        f"{CAM}//history/20261127T010000000000Z.jpg",
        "Cam1/history/20261127T010000000000Z.jpg",  # not a directory name the store makes
        "http://admin:s3cret@10.0.0.9/snap.jpg?pwd=s3cret",
        "",
    ],
)
def test_unsafe_references_are_refused(
    snapshots: SnapshotStore,
    evidence: EvidenceStore,
    caplog: pytest.LogCaptureFixture,
    ref: str,
) -> None:
    take(snapshots, T0, pic(b"a"))
    with caplog.at_level(logging.WARNING, "bridge.evidence"):
        assert evidence.pin(ORDER, "before", ref) is None
    assert evidence.get(ORDER, "before", ref) is None
    assert evidence.live(ref) is None
    assert list(evidence.root.iterdir()) == []
    assert ORDER in caplog.text
    assert "s3cret" not in caplog.text


def test_a_symbolic_link_out_of_the_snapshots_is_refused(
    tmp_path: Path, snapshots: SnapshotStore, evidence: EvidenceStore
) -> None:
    outside = tmp_path / "outside" / "history"
    outside.mkdir(parents=True)
    (outside / "20261127T010000000000Z.jpg").write_bytes(pic(b"s"))
    (snapshots.root / "41010500001320000002").symlink_to(outside.parent)
    ref = "41010500001320000002/history/20261127T010000000000Z.jpg"
    assert parse_history_ref(ref) is not None  # the name alone looks right
    assert evidence.live(ref) is None
    assert evidence.pin(ORDER, "before", ref) is None
    # A picture linked to a file outside, in a real camera directory, too.
    take(snapshots, T0, pic(b"a"))
    (snapshots.root / CAM / "history" / "20261127T020000000000Z.jpg").symlink_to(
        outside / "20261127T010000000000Z.jpg"
    )
    assert evidence.pin(ORDER, "after", f"{CAM}/history/20261127T020000000000Z.jpg") is None
    assert list(evidence.root.iterdir()) == []


def test_order_directory_names() -> None:
    assert order_dir_name(ORDER) == "wo-20261127-3f2a9c01"
    assert order_dir_name("WO-20261127-3F2A9C0155667788") == "wo-20261127-3f2a9c0155667788"
    # Anything else is hashed, even an id that looks like a directory name already.
    for other in ("wo-20261127-3f2a9c01", "../x", "WO-1", "工单1", "a/b"):
        name = order_dir_name(other)
        assert name.startswith("id.")
        assert len(name) == 67
        assert name != order_dir_name(ORDER)
    with pytest.raises(ValueError, match="empty"):
        order_dir_name("")


# -- housekeeping ----------------------------------------------------------------------------


def age(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_prune_keeps_open_orders_and_young_pictures(
    snapshots: SnapshotStore, evidence: EvidenceStore
) -> None:
    orders = {
        "open": "WO-20250101-00000001",  # open: kept however old
        "old": "WO-20250101-00000002",  # closed long ago: goes
        "young": "WO-20250101-00000003",  # closed, one picture still young: kept
        "foreign": "WO-20250101-00000004",  # closed long ago, holds a file not ours
    }
    long_ago, cutoff = T0 - timedelta(days=500), T0 - timedelta(days=400)
    for i, order_id in enumerate(orders.values()):
        before = evidence.pin(
            order_id, "before", take(snapshots, T0 + timedelta(hours=i), pic(b"b"))
        )
        after = evidence.pin(
            order_id, "after", take(snapshots, T0 + timedelta(hours=i, minutes=5), pic(b"a"))
        )
        assert before is not None
        assert after is not None
        # Copies, so that each file has its own mtime (links share the picture's inode).
        for path in (before, after):
            data = path.read_bytes()
            path.unlink()
            path.write_bytes(data)
            age(path, long_ago)
    young_dir = evidence.root / order_dir_name(orders["young"])
    age(next(young_dir.glob("after-*")), T0)
    foreign_dir = evidence.root / order_dir_name(orders["foreign"])
    (foreign_dir / "notes.txt").write_text("contract 2025/17")
    age(foreign_dir / "notes.txt", long_ago)
    old_dir = evidence.root / order_dir_name(orders["old"])
    (old_dir / ".tmp-crashed").write_bytes(b"x")
    age(old_dir / ".tmp-crashed", long_ago)
    (evidence.root / "README").write_text("not ours")

    assert evidence.prune([orders["open"]], cutoff) == 1
    assert not old_dir.exists()
    assert len(list((evidence.root / order_dir_name(orders["open"])).iterdir())) == 2
    assert len(list(young_dir.iterdir())) == 2
    assert [p.name for p in foreign_dir.iterdir()] == ["notes.txt"]  # ours went, not theirs
    assert (evidence.root / "README").exists()
    assert evidence.prune([orders["open"]], cutoff) == 0


def test_open_removes_what_a_crash_left(tmp_path: Path, snapshots: SnapshotStore) -> None:
    root = tmp_path / "evidence"
    order_dir = root / order_dir_name(ORDER)
    order_dir.mkdir(parents=True)
    (order_dir / ".tmp-1a2b").write_bytes(b"half")
    (root / ".tmp-3c4d").write_bytes(b"half")
    kept = order_dir / f"before-{CAM}-20261127T010000000000Z.jpg"
    kept.write_bytes(pic(b"a"))
    (root / "notes.txt").write_text("not ours")
    EvidenceStore(root, snapshots.root).open()
    assert sorted(p.name for p in root.rglob("*")) == sorted(
        [order_dir.name, kept.name, "notes.txt"]
    )
