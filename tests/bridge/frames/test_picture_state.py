"""The two-look rule for picture faults, and the night window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bridge.picture_state import PictureFaults, night_window


def test_a_new_fault_waits_for_a_second_look() -> None:
    faults = PictureFaults()
    first = faults.observe("c1", ("black",))
    assert first.faults == ()
    assert first.confirm
    assert not first.changed
    second = faults.observe("c1", ("black",))
    assert second.faults == ("black",)
    assert not second.confirm
    assert second.changed
    assert faults.faults("c1") == ("black",)


def test_a_passing_obstruction_is_never_reported() -> None:
    faults = PictureFaults()
    assert faults.observe("c1", ("occluded",)).confirm
    after = faults.observe("c1", ())
    assert after.faults == ()
    assert not after.confirm
    assert not after.changed
    assert faults.faults("c1") == ()
    assert faults.pending("c1") == frozenset()


def test_a_good_picture_clears_at_once_and_a_new_fault_still_waits() -> None:
    faults = PictureFaults()
    faults.observe("c1", ("blur",))
    faults.observe("c1", ("blur",))
    v = faults.observe("c1", ("noise",))
    assert v.faults == ()
    assert v.confirm
    assert v.changed
    v = faults.observe("c1", ("blur", "noise"))
    assert v.faults == ("noise",)
    assert v.confirm


def test_without_confirmation_every_look_counts() -> None:
    faults = PictureFaults(confirm=False)
    v = faults.observe("c1", ("frozen",))
    assert v.faults == ("frozen",)
    assert not v.confirm
    assert v.changed


def test_restore_and_forget() -> None:
    faults = PictureFaults()
    faults.restore("c1", ("black",))
    assert faults.observe("c1", ("black",)).faults == ("black",)
    faults.forget("c1")
    assert faults.faults("c1") == ()


CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("local", "night"),
    [("18:59", False), ("19:00", True), ("23:30", True), ("00:00", True), ("06:59", True),
     ("07:00", False), ("12:00", False)],
)  # fmt: skip
def test_night_window_wraps_midnight_in_local_time(local: str, night: bool) -> None:
    h, m = map(int, local.split(":"))
    at = datetime(2026, 11, 27, h, m, tzinfo=CST).astimezone(UTC)
    assert night_window(at, "19:00", "07:00", 8.0) is night


def test_night_window_same_day_and_empty() -> None:
    at = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)  # 13:00 at +8
    assert night_window(at, "12:00", "14:00", 8.0)
    assert not night_window(at, "12:00", "12:00", 8.0)
    with pytest.raises(ValueError, match="aware"):
        night_window(datetime(2026, 1, 1), "19:00", "07:00", 8.0)
