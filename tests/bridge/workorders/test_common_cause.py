"""Upstream groups and mass failure — with a fake clock, no sleeps, no mocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.model import CameraRecord
from bridge.workorders.common_cause import (
    Alarm,
    CommonCause,
    CommonCauseRules,
    upstream_keys,
)
from bridge.workorders.model import CommonCauseView

NVR_A = "41990100011180000001"
NVR_B = "41990100011180000002"
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def cams(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(n)]


def detector(fleet: dict[str, str | None], rules: CommonCauseRules | None = None) -> CommonCause:
    cc = CommonCause(rules or CommonCauseRules())
    assert cc.set_fleet(fleet, T0) is None
    return cc


def nvr_fleet(**nvrs: int) -> dict[str, str | None]:
    """NVR key → number of cameras (named after the key), plus 100 lone cameras."""
    fleet: dict[str, str | None] = {cam: None for cam in cams("lone", 100)}
    for key, n in nvrs.items():
        fleet.update(dict.fromkeys(cams(key, n), key))
    return fleet


def big_fleet(n: int = 1000) -> dict[str, str | None]:
    """``n`` cameras, ten behind each NVR: a fleet large enough for the mass rule."""
    return {f"c{i:04d}": f"nvr{i // 10:03d}" for i in range(n)}


def alarms(results: list[Alarm | None]) -> list[Alarm]:
    return [a for a in results if a is not None]


def test_satisfies_the_view_protocol() -> None:
    view: CommonCauseView = CommonCause(CommonCauseRules())
    assert view.mass_failure(T0) is False


# -- groups behind one upstream ---------------------------------------------------------------


def test_nvr_with_twelve_down_within_seconds_is_one_group_of_twelve() -> None:
    cc = detector(nvr_fleet(A=12))
    for i, cam in enumerate(cams("A", 12)):
        assert cc.failed(cam, at(i * 10 / 12)) is None
    expected = ("A", frozenset(cams("A", 12)))
    assert all(cc.group_of(cam, at(10)) == expected for cam in cams("A", 12))
    assert cc.mass_failure(at(10)) is False  # 12 of 112 is an NVR, not the bridge


def test_one_of_twelve_down_is_that_cameras_own_fault() -> None:
    cc = detector(nvr_fleet(A=12))
    cc.failed("A00", at(0))
    assert cc.group_of("A00", at(600)) is None


def test_two_of_twelve_are_not_yet_a_group() -> None:
    cc = detector(nvr_fleet(A=12))
    cc.failed("A00", at(0))
    cc.failed("A01", at(5))
    assert cc.group_of("A00", at(5)) is None


def test_twelve_failing_over_ten_minutes_chain_into_one_group() -> None:
    # One every ~55 s: each within the 120 s window of the previous one.  The group forms at
    # the third; it includes the first two (its chain) and the later nine join it.
    cc = detector(nvr_fleet(A=12))
    group_sizes = []
    for i, cam in enumerate(cams("A", 12)):
        cc.failed(cam, at(i * 600 / 11))
        found = cc.group_of(cam, at(i * 600 / 11))
        group_sizes.append(0 if found is None else len(found[1]))
    assert group_sizes == [0, 0, *range(3, 13)]
    assert cc.group_of("A00", at(600)) == ("A", frozenset(cams("A", 12)))


def test_failures_further_apart_than_the_window_are_independent() -> None:
    cc = detector(nvr_fleet(A=12))
    for i, cam in enumerate(cams("A", 4)):
        cc.failed(cam, at(i * 300))
    assert all(cc.group_of(cam, at(900)) is None for cam in cams("A", 4))


def test_a_camera_down_before_the_chain_keeps_its_own_fault() -> None:
    cc = detector(nvr_fleet(A=12))
    cc.failed("A00", at(0))  # its own order is open by now
    for i, cam in enumerate(cams("A", 12)[1:]):
        cc.failed(cam, at(3600 + i))
    assert cc.group_of("A00", at(3700)) is None
    assert cc.group_of("A01", at(3700)) == ("A", frozenset(cams("A", 12)[1:]))


def test_recovered_chain_members_do_not_count() -> None:
    cc = detector(nvr_fleet(A=12))
    cc.failed("A00", at(0))
    cc.recovered("A00", at(30))
    cc.failed("A01", at(60))
    cc.failed("A02", at(90))
    assert cc.group_of("A02", at(90)) is None


def test_group_is_stable_until_all_its_cameras_recovered() -> None:
    cc = detector(nvr_fleet(A=12))
    for cam in cams("A", 3):
        cc.failed(cam, at(0))
    cc.failed("A03", at(3600))  # long after: still joins the open group
    assert cc.group_of("A03", at(3600)) == ("A", frozenset(cams("A", 4)))
    cc.recovered("A00", at(3700))
    assert cc.group_of("A00", at(3700)) is None
    assert cc.group_of("A01", at(3700)) == ("A", frozenset(cams("A", 4)[1:]))
    cc.failed("A00", at(3800))  # re-failing within the episode rejoins
    assert cc.group_of("A00", at(3800)) == ("A", frozenset(cams("A", 4)))
    for cam in cams("A", 4):
        cc.recovered(cam, at(4000))
    cc.failed("A05", at(5000))  # a new episode starts from one camera
    assert cc.group_of("A05", at(5000)) is None


def test_two_nvrs_failing_together_are_two_groups() -> None:
    cc = detector(nvr_fleet(A=12, B=8))
    for i in range(12):
        cc.failed(f"A{i:02d}", at(i))
        if i < 8:
            cc.failed(f"B{i:02d}", at(i))
    assert cc.group_of("A00", at(20)) == ("A", frozenset(cams("A", 12)))
    assert cc.group_of("B07", at(20)) == ("B", frozenset(cams("B", 8)))


def test_a_small_upstream_groups_by_share() -> None:
    cc = detector(nvr_fleet(E=2, F=2))
    cc.failed("E00", at(0))
    cc.failed("E01", at(1))
    cc.failed("F00", at(1))
    assert cc.group_of("E01", at(1)) == ("E", frozenset({"E00", "E01"}))
    assert cc.group_of("F00", at(1)) is None


def test_needed_cameras_per_upstream_size() -> None:
    rules = CommonCauseRules()
    assert [rules.needed(n) for n in (1, 2, 3, 4, 5, 12, 256)] == [2, 2, 2, 2, 3, 3, 3]


def test_picture_faults_are_not_an_upstream_failure() -> None:
    cc = detector(nvr_fleet(A=12))
    for cam in cams("A", 12):
        cc.observe(cam, ("black", "blur"), at(0))
    assert cc.group_of("A00", at(0)) is None
    for cam, fault in zip(cams("A", 3), ("unreachable", "rtsp_error", "no_signal"), strict=True):
        cc.observe(cam, (fault,), at(10))
    assert cc.group_of("A00", at(10)) == ("A", frozenset(cams("A", 3)))
    cc.observe("A00", ("black",), at(20))  # reachable again, only a picture fault now
    assert cc.group_of("A00", at(20)) is None


# -- upstream keys ----------------------------------------------------------------------------


def record(cam: str, host: str | None, upstream: str | None = None) -> CameraRecord:
    return CameraRecord(id=cam, name=cam, type_code="132", host=host, upstream_id=upstream)


def test_upstream_keys_prefer_the_upstream_device_over_the_host() -> None:
    keys = upstream_keys(
        [
            record("c1", "10.0.0.5", NVR_A),
            record("c2", "10.0.0.5"),
            record("c3", "CAM-3.local"),
            record("c4", None),
        ]
    )
    assert keys == {"c1": NVR_A, "c2": "10.0.0.5", "c3": "cam-3.local", "c4": None}


def test_cameras_sharing_a_host_group_by_host_and_a_unique_host_never_groups() -> None:
    records = [record(f"h{i}", "10.0.0.9") for i in range(4)]
    records += [record(f"u{i}", f"10.0.1.{i}") for i in range(4)]
    records += [record(f"x{i}", "10.0.0.9", NVR_B) for i in range(3)]
    cc = detector(upstream_keys(records))
    for i in range(4):
        cc.failed(f"h{i}", at(i))
        cc.failed(f"u{i}", at(i))
    assert cc.group_of("h0", at(5)) == ("10.0.0.9", frozenset(f"h{i}" for i in range(4)))
    assert cc.group_of("u0", at(5)) is None
    for i in range(3):  # same host, but the inventory names their NVR: grouped by it
        cc.failed(f"x{i}", at(10))
    assert cc.group_of("x0", at(10)) == (NVR_B, frozenset(f"x{i}" for i in range(3)))


# -- fleet changes ----------------------------------------------------------------------------


def test_a_fleet_change_removes_cameras_and_moves_them() -> None:
    fleet = nvr_fleet(A=12, B=8)
    cc = detector(fleet)
    for cam in cams("A", 5):
        cc.failed(cam, at(0))
    fleet.pop("A00")
    fleet["A01"] = "B"  # corrected in a new import
    assert cc.set_fleet(fleet, at(60)) is None
    assert cc.group_of("A02", at(60)) == ("A", frozenset(cams("A", 5)[2:]))
    assert cc.group_of("A01", at(60)) is None  # still failing, but old news behind B
    assert cc.failed("A00", at(70)) is None  # not in the fleet any more: ignored
    assert cc.group_of("A00", at(70)) is None
    cc.failed("A05", at(80))
    assert cc.group_of("A05", at(80)) == ("A", frozenset([*cams("A", 6)[2:]]))


def test_an_upstream_left_with_one_camera_forms_no_group() -> None:
    fleet = nvr_fleet(A=3)
    cc = detector(fleet)
    fleet.pop("A01")
    fleet.pop("A02")
    cc.set_fleet(fleet, at(0))
    cc.failed("A00", at(1))
    assert cc.group_of("A00", at(1)) is None


# -- mass failure -----------------------------------------------------------------------------


def test_forty_percent_down_at_once_raises_one_alarm_and_clears_once() -> None:
    cc = detector(big_fleet())
    down = [f"c{i:04d}" for i in range(400)]
    raised = alarms([cc.failed(cam, at(i * 50 / 400)) for i, cam in enumerate(down)])
    assert raised == [Alarm("bridge_network", True, at(299 * 50 / 400), 300, 1000, 0.3)]
    assert cc.mass_failure(at(50)) is True
    cleared = alarms([cc.recovered(cam, at(600)) for cam in down])
    assert cleared == [Alarm("bridge_network", False, at(600), 99, 1000, 0.099)]
    assert cc.mass_failure(at(600)) is False


def test_the_alarm_clears_with_hysteresis() -> None:
    cc = detector(big_fleet())
    down = [f"c{i:04d}" for i in range(400)]
    for cam in down:
        cc.failed(cam, at(0))
    assert alarms([cc.recovered(cam, at(600)) for cam in down[:250]]) == []
    assert cc.mass_failure(at(600)) is True  # 15 %: below the raise share, still raised
    (cleared,) = alarms([cc.recovered(cam, at(700)) for cam in down[250:]])
    assert (cleared.raised, cleared.failing) == (False, 99)


def test_cameras_broken_before_the_episode_do_not_hold_the_alarm_up() -> None:
    cc = detector(big_fleet())
    broken = [f"c{i:04d}" for i in range(900, 1000)]  # 10 % broken for days
    for cam in broken:
        cc.failed(cam, at(-86400))
    down = [f"c{i:04d}" for i in range(300)]
    assert len(alarms([cc.failed(cam, at(0)) for cam in down])) == 1
    (cleared,) = alarms([cc.recovered(cam, at(600)) for cam in down])
    assert (cleared.raised, cleared.failing) == (False, 99)


def test_forty_percent_failing_over_an_hour_raises_nothing() -> None:
    cc = detector(big_fleet())
    results = [cc.failed(f"c{i:04d}", at(i * 9)) for i in range(400)]  # one per 9 s
    assert alarms(results) == []
    assert cc.mass_failure(at(3600)) is False


def test_flapping_cameras_do_not_raise_the_alarm_again() -> None:
    cc = detector(big_fleet())
    down = [f"c{i:04d}" for i in range(400)]
    assert len(alarms([cc.failed(cam, at(0)) for cam in down])) == 1
    results: list[Alarm | None] = []
    for cycle in range(5):
        for cam in down[:50]:
            results.append(cc.recovered(cam, at(100 + cycle * 60)))
            results.append(cc.failed(cam, at(130 + cycle * 60)))
    assert alarms(results) == []
    assert cc.mass_failure(at(500)) is True


def test_a_new_episode_after_clearing_raises_again() -> None:
    cc = detector(big_fleet())
    down = [f"c{i:04d}" for i in range(400)]
    for round_start in (0, 3600):
        raised = alarms([cc.failed(cam, at(round_start)) for cam in down])
        cleared = alarms([cc.recovered(cam, at(round_start + 600)) for cam in down])
        assert [a.raised for a in raised + cleared] == [True, False]


def test_a_small_fleet_has_no_mass_rule() -> None:
    cc = detector({f"demo{i}": None for i in range(5)})
    assert alarms([cc.failed(f"demo{i}", at(0)) for i in range(3)]) == []
    assert cc.mass_failure(at(0)) is False


def test_groups_still_form_during_a_mass_failure() -> None:
    cc = detector(big_fleet())
    for i in range(400):
        cc.failed(f"c{i:04d}", at(0))
    assert cc.mass_failure(at(0)) is True
    assert cc.group_of("c0000", at(0)) == ("nvr000", frozenset(f"c{i:04d}" for i in range(10)))


def test_a_fleet_change_that_removes_the_failing_cameras_clears_the_alarm() -> None:
    fleet = big_fleet()
    cc = detector(fleet)
    for i in range(400):
        cc.failed(f"c{i:04d}", at(0))
    for i in range(350):
        fleet.pop(f"c{i:04d}")
    cleared = cc.set_fleet(fleet, at(60))
    assert cleared == Alarm("bridge_network", False, at(60), 50, 650, 50 / 650)


# -- rules and inputs -------------------------------------------------------------------------


def test_rules_without_hysteresis_are_refused() -> None:
    with pytest.raises(ValueError, match="hysteresis"):
        CommonCauseRules(mass_share=0.3, mass_clear_share=0.3)
    with pytest.raises(ValueError, match="own fault"):
        CommonCauseRules(group_min_cameras=1)


def test_naive_times_are_refused() -> None:
    cc = detector(nvr_fleet(A=3))
    with pytest.raises(ValueError, match="aware"):
        cc.failed("A00", datetime(2026, 11, 27, 8, 0))
