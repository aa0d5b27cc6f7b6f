"""Summaries: who counts where, incremental updates equal to a full recount, what changed."""

from __future__ import annotations

import random

import pytest

from bridge.bus.summaries import (
    STATES,
    Counts,
    Summaries,
    aggregate,
    changed_summaries,
    online_rate,
    summary_keys,
)
from bridge.bus.topics import UNMAPPED, GridPath

T = "419901001"
V1, V2 = "419901001002", "419901001003"
G1, G2, G3 = "419901001002003", "419901001002004", "419901001003001"
P1, P2, P3 = GridPath(T, V1, G1), GridPath(T, V1, G2), GridPath(T, V2, G3)
VIL1, VIL2, TOWN = GridPath(T, V1, "_"), GridPath(T, V2, "_"), GridPath(T, "_", "_")


def test_keys_of_one_grid() -> None:
    assert summary_keys([P1]) == {P1, VIL1, TOWN}


def test_two_grids_of_one_village_count_once_in_the_village_and_town() -> None:
    assert summary_keys([P1, P2]) == {P1, P2, VIL1, TOWN}
    counts = aggregate([([P1, P2], "online")])
    assert counts == {P1: Counts(online=1), P2: Counts(online=1), VIL1: Counts(online=1),
                      TOWN: Counts(online=1)}  # fmt: skip


def test_two_villages_count_once_in_the_town() -> None:
    assert summary_keys([P1, P3]) == {P1, P3, VIL1, VIL2, TOWN}
    assert aggregate([([P1, P3], "offline")])[TOWN] == Counts(offline=1)


def test_links_above_grid_level_and_unmapped() -> None:
    assert summary_keys([VIL1]) == {VIL1, TOWN}
    assert summary_keys([TOWN]) == {TOWN}
    assert summary_keys([UNMAPPED]) == frozenset()
    assert summary_keys([]) == frozenset()
    assert aggregate([([UNMAPPED], "online")]) == {}


def test_aggregate_counts_by_state() -> None:
    cameras = [
        ([P1], "online"),
        ([P1], "online"),
        ([P1], "degraded"),
        ([P2], "offline"),
        ([P1, P2], "unknown"),
        ([VIL1], "online"),
        ([P3], "online"),
    ]
    counts = aggregate(cameras)
    assert counts[P1] == Counts(online=2, degraded=1, unknown=1)
    assert counts[P2] == Counts(offline=1, unknown=1)
    assert counts[VIL1] == Counts(online=3, degraded=1, offline=1, unknown=1)
    assert counts[VIL2] == Counts(online=1)
    assert counts[TOWN] == Counts(online=4, degraded=1, offline=1, unknown=1)
    assert counts[TOWN].total == 7
    with pytest.raises(ValueError, match="unknown camera state"):
        aggregate([([P1], "broken")])


def test_online_rate_leaves_unknown_out() -> None:
    assert online_rate({"online": 3, "degraded": 1, "offline": 0, "unknown": 6}) == 0.75
    assert online_rate({"unknown": 5}) is None
    assert online_rate({}) is None
    assert Counts(online=1, offline=1).online_rate == 0.5
    assert Counts().online_rate is None


def test_counts_is_a_mapping() -> None:
    counts = Counts(online=4, degraded=3, offline=2, unknown=1)
    assert dict(counts) == {"online": 4, "degraded": 3, "offline": 2, "unknown": 1}
    assert list(counts) == list(STATES)
    assert counts["offline"] == 2
    with pytest.raises(KeyError):
        counts["total"]


def test_set_update_remove() -> None:
    sums = Summaries()
    assert sums.set_camera("c1", [P1, P2], "unknown") == {
        P1: Counts(unknown=1),
        P2: Counts(unknown=1),
        VIL1: Counts(unknown=1),
        TOWN: Counts(unknown=1),
    }
    assert list(sums.set_camera("c2", [P1], "unknown")) == [P1, VIL1, TOWN]
    changed = sums.update("c1", "unknown", "online")
    assert changed == {
        P1: Counts(online=1, unknown=1),
        P2: Counts(online=1),
        VIL1: Counts(online=1, unknown=1),
        TOWN: Counts(online=1, unknown=1),
    }
    assert list(changed) == sorted(changed)  # sorted by path
    assert sums.update("c1", "online", "online") == {}  # only faults changed
    assert sums.state_of("c1") == "online"
    assert sums.remove("c1") == {
        P1: Counts(unknown=1),
        P2: None,  # no camera left: clear the retained summary
        VIL1: Counts(unknown=1),
        TOWN: Counts(unknown=1),
    }
    assert sums.remove("c1") == {}
    assert sums.all() == {P1: Counts(unknown=1), VIL1: Counts(unknown=1), TOWN: Counts(unknown=1)}
    assert len(sums) == 1
    assert "c2" in sums
    assert "c1" not in sums


def test_update_refuses_a_drifted_old_state_and_changes_nothing() -> None:
    sums = Summaries()
    sums.set_camera("c1", [P1], "online")
    before = sums.all()
    with pytest.raises(ValueError, match="recorded state is 'online'"):
        sums.update("c1", "offline", "online")
    with pytest.raises(ValueError, match="unknown camera state"):
        sums.update("c1", "online", "kaput")
    with pytest.raises(KeyError):
        sums.update("nobody", "online", "offline")
    assert sums.all() == before


def test_relink_moves_the_camera() -> None:
    sums = Summaries()
    sums.set_camera("c1", [P1], "offline")
    changed = sums.set_camera("c1", [P3], "offline")
    assert changed == {
        P1: None,
        VIL1: None,
        P3: Counts(offline=1),
        VIL2: Counts(offline=1),
    }  # the township's counts did not change: not republished
    assert sums.get(TOWN) == Counts(offline=1)
    assert sums.set_camera("c1", [P3], "offline") == {}  # nothing changed


def test_kept_cells_always_have_a_summary() -> None:
    sums = Summaries(keep=[P1, VIL1, TOWN, UNMAPPED])
    assert sums.all() == {P1: Counts(), VIL1: Counts(), TOWN: Counts()}
    sums.set_camera("c1", [P2], "online")
    changed = sums.remove("c1")
    assert changed == {P2: None, VIL1: Counts(), TOWN: Counts()}
    assert sums.get(P1) == Counts()
    assert sums.get(P2) is None


def test_changed_summaries() -> None:
    before = {P1: Counts(online=1), P2: Counts(offline=1), VIL1: Counts(online=1, offline=1)}
    after = {P1: Counts(online=1), P3: Counts(online=1), VIL1: Counts(online=2)}
    assert changed_summaries(before, after) == {
        P2: None,
        P3: Counts(online=1),
        VIL1: Counts(online=2),
    }
    assert changed_summaries(after, after) == {}


def test_incremental_equals_full_recount_on_a_large_random_district() -> None:
    """20,000 cameras over 6 townships × 9 villages × 4 grids, with village-level links,
    double links, unmapped cameras, transitions, relinks and removals."""
    rng = random.Random(20_000)
    grids = [GridPath(f"t{t}", f"t{t}v{v}", f"t{t}v{v}g{g}")
             for t in range(6) for v in range(9) for g in range(4)]  # fmt: skip
    villages = sorted({GridPath(p.town, p.village, "_") for p in grids})

    def random_paths() -> list[GridPath]:
        roll = rng.random()
        if roll < 0.03:
            return [UNMAPPED]
        if roll < 0.08:
            return [rng.choice(villages)]
        if roll < 0.15:
            return rng.sample(grids, 2)
        return [rng.choice(grids)]

    truth: dict[str, tuple[list[GridPath], str]] = {}
    sums = Summaries()
    for i in range(20_000):
        cam = f"c{i}"
        truth[cam] = (random_paths(), "unknown")
        sums.set_camera(cam, *truth[cam])
    assert sums.all() == aggregate(truth.values())

    published = dict(sums.all())
    cams = list(truth)
    for step in range(30_000):
        cam = rng.choice(cams)
        paths, state = truth[cam]
        if step % 1000 == 999:
            before = sums.all()
            truth[cam] = (random_paths(), state)
            changed = sums.set_camera(cam, *truth[cam])
            assert changed == changed_summaries(before, sums.all())
        else:
            new_state = rng.choice(STATES)
            changed_counts = sums.update(cam, state, new_state)
            assert len(changed_counts) <= 6  # O(depth): never more than the camera's cells
            truth[cam] = (paths, new_state)
            changed = dict(changed_counts)
        for key, counts in changed.items():
            if counts is None:
                published.pop(key)
            else:
                published[key] = counts
    expected = aggregate(truth.values())
    assert sums.all() == expected
    assert published == expected  # publishing only the changes keeps subscribers right
    assert sum(1 for _ in expected) == len(grids) + len(villages) + 6
