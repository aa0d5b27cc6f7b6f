"""在线率/完好率, the pure core: exact seconds from hand-built timelines (China-time days)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bridge.model import CameraState, Level
from bridge.reports.areas import (
    UNMAPPED,
    Area,
    Bucket,
    ReportRow,
    aggregate,
    group_cameras,
    lineage,
    overall_group,
    rank,
)
from bridge.reports.online_rate import (
    CameraHistory,
    PeriodError,
    StateChange,
    Tally,
    Watched,
    camera_days,
    classify,
    period,
)
from bridge.workorders.webhook_format import CHINA_TZ

ON, DEG, OFF, UNK = (
    CameraState.ONLINE,
    CameraState.DEGRADED,
    CameraState.OFFLINE,
    CameraState.UNKNOWN,
)
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
H = 3_600_000_000  # one hour in microseconds
NOV1, NOV2 = date(2026, 11, 1), date(2026, 11, 2)


def cn(day: int, hour: int = 0, minute: int = 0, month: int = 11) -> datetime:
    """A China-time instant of 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=CHINA_TZ)


def change(at: datetime, state: CameraState, *faults: str) -> StateChange:
    return StateChange(at, state, tuple(faults))


TWO_DAYS = period(NOV1, NOV2, NOW)
# docs/reports.md: online all day on 1 November but offline 02:00–04:00 and black 10:00–11:00.
WORKED_EXAMPLE = CameraHistory(
    "cam",
    change(cn(20, month=10), ON),
    [
        change(cn(1, 2), OFF, "unreachable"),
        change(cn(1, 4), ON),
        change(cn(1, 10), DEG, "black"),
        change(cn(1, 11), ON),
    ],
)


def test_the_worked_example_of_the_docs() -> None:
    history = WORKED_EXAMPLE
    days = camera_days(history, period(NOV1, NOV1, NOW))
    assert days == {NOV1: Tally(24 * H, 22 * H, 21 * H)}
    t = days[NOV1]
    assert (t.monitored_s, t.online_s, t.intact_s) == (86_400.0, 79_200.0, 75_600.0)
    assert t.online_rate == 22 / 24
    assert t.intact_rate == 0.875


def test_days_end_at_16_00_utc() -> None:
    assert TWO_DAYS.start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert TWO_DAYS.end == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
    # Offline from 15:00 to 17:00 UTC on 1 November: 23:00 to 01:00 China time.
    history = CameraHistory(
        "cam",
        change(datetime(2026, 10, 1, tzinfo=UTC), ON),
        [
            change(datetime(2026, 11, 1, 15, 0, tzinfo=UTC), OFF, "unreachable"),
            change(datetime(2026, 11, 1, 17, 0, tzinfo=UTC), ON),
        ],
    )
    assert camera_days(history, TWO_DAYS) == {
        NOV1: Tally(24 * H, 23 * H, 23 * H),
        NOV2: Tally(24 * H, 23 * H, 23 * H),
    }


def test_no_time_counts_while_the_daemon_was_not_running() -> None:
    # The worked example, with gridbridge stopped from 05:00 to 08:00 and from 22:00 on
    # 1 November to 03:00 on the 2nd.
    history = WORKED_EXAMPLE
    watched = Watched([(TWO_DAYS.start, cn(1, 5)), (cn(1, 8), cn(1, 22)), (cn(2, 3), cn(3))])
    assert camera_days(history, TWO_DAYS, watched) == {
        NOV1: Tally(19 * H, 17 * H, 16 * H),
        NOV2: Tally(21 * H, 21 * H, 21 * H),
    }
    # A fault that began while nobody watched counts from when somebody did.
    down_early = CameraHistory("cam", change(cn(20, month=10), OFF, "unreachable"))
    assert camera_days(down_early, period(NOV1, NOV1, NOW), Watched([(cn(1, 6), cn(1, 9))])) == {
        NOV1: Tally(3 * H, 0, 0)
    }
    assert camera_days(history, TWO_DAYS, Watched([])) == {}  # never running: nothing
    throughout = Watched([(TWO_DAYS.start - timedelta(days=9), TWO_DAYS.end)])
    assert camera_days(history, TWO_DAYS, throughout) == camera_days(history, TWO_DAYS)


def test_microseconds_are_kept_exactly() -> None:
    tick = cn(1, 12) + timedelta(microseconds=1)
    history = CameraHistory("cam", change(cn(1, month=10), ON), [change(tick, OFF, "unreachable")])
    [t] = camera_days(history, period(NOV1, NOV1, NOW)).values()
    assert (t.monitored_us, t.online_us) == (24 * H, 12 * H + 1)
    assert t.online_s == 43_200.000001


def test_unknown_time_is_not_monitored() -> None:
    # Never checked before noon on 1 November: the morning is not monitored time.
    history = CameraHistory(
        "cam", None, [change(cn(1, 12), UNK, "x"), change(cn(1, 12), DEG, "blur")]
    )
    assert camera_days(history, TWO_DAYS) == {
        NOV1: Tally(12 * H, 12 * H, 0),
        NOV2: Tally(24 * H, 24 * H, 0),
    }
    # No state at all: no days.
    assert camera_days(CameraHistory("cam", None, []), TWO_DAYS) == {}
    # A logged `unknown` stops monitored time.
    history = CameraHistory("cam", change(cn(1, month=10), ON), [change(cn(1, 6), UNK)])
    assert camera_days(history, period(NOV1, NOV1, NOW)) == {NOV1: Tally(6 * H, 6 * H, 6 * H)}


def test_a_camera_added_mid_day_counts_from_its_first_state() -> None:
    # The log holds an older camera of the same id (removed, imported again at 08:00): its
    # states before the import are not this camera's.
    history = CameraHistory(
        "cam",
        change(cn(30, month=10), OFF, "unreachable"),
        [change(cn(1, 7), OFF, "unreachable"), change(cn(1, 9), ON)],
        added_at=cn(1, 8),
    )
    assert camera_days(history, TWO_DAYS) == {
        NOV1: Tally(15 * H, 15 * H, 15 * H),
        NOV2: Tally(24 * H, 24 * H, 24 * H),
    }
    # Added before the period: its state from before counts from the start.
    history = CameraHistory("cam", change(cn(30, month=10), ON), [], added_at=cn(29, month=10))
    assert camera_days(history, period(NOV1, NOV1, NOW)) == {NOV1: Tally(24 * H, 24 * H, 24 * H)}


def test_a_period_ending_in_the_future_ends_now() -> None:
    now = cn(27, 10, 30)
    within = period(date(2026, 11, 27), date(2026, 11, 30), now)
    assert within.end == now
    assert within.days == [date(2026, 11, 27)]
    history = CameraHistory(
        "cam", change(cn(1), ON), [change(cn(27, 10), OFF, "unreachable"), change(cn(28, 1), ON)]
    )
    assert camera_days(history, within) == {
        date(2026, 11, 27): Tally(10 * H + H // 2, 10 * H, 10 * H)
    }


def test_periods_that_cannot_be_reported() -> None:
    with pytest.raises(PeriodError, match="before it begins"):
        period(NOV2, NOV1, NOW)
    with pytest.raises(PeriodError, match="367 days; at most 366"):
        period(date(2025, 1, 1), date(2026, 1, 2), NOW)
    assert len(period(date(2024, 1, 1), date(2024, 12, 31), NOW).days) == 366
    with pytest.raises(PeriodError, match="has not begun yet"):
        period(date(2026, 11, 28), date(2026, 11, 28), NOW)
    # 00:00 China time on the 28th is 16:00 UTC on the 27th: one minute before, not yet.
    with pytest.raises(PeriodError):
        period(date(2026, 11, 28), date(2026, 11, 28), datetime(2026, 11, 27, 16, 0, tzinfo=UTC))
    assert period(date(2026, 11, 28), date(2026, 11, 28), datetime(2026, 11, 27, 16, 1, tzinfo=UTC))


def test_what_counts_as_online_and_intact() -> None:
    assert classify(UNK, ()) is None
    assert classify(ON, ()) == (True, True)
    assert classify(OFF, ("unreachable",)) == (False, False)
    # Reachable but the picture is wrong, or no picture to be had: online, not intact.
    for fault in (
        "black",
        "frozen",
        "blur",
        "no_signal",
        "scene_changed",
        "rtsp_error",
        "auth_failed",
    ):
        assert classify(DEG, (fault,)) == (True, False), fault
    # Faults that leave the picture alone.
    assert classify(DEG, ("clock_drift", "onvif_error", "replaced")) == (True, True)


# --- areas, aggregation, ranking --------------------------------------------------------

CELLS = [
    Area("T1", "城关镇", "township", "D"),
    Area("V1", "东村", "village", "T1"),
    Area("G1", "东村一网格", "grid", "V1"),
    Area("G2", "东村二网格", "grid", "V1"),
    Area("V2", "西村", "village", "T1"),
    Area("G3", "西村一网格", "grid", "V2"),
    Area("T2", "新区街道", "township", "D"),
    Area("V3", "南社区", "village", "T2"),
    Area("G9", "空网格", "grid", "V3"),
]
LINKS = {"A": ["G1", "G2"], "B": ["G3"], "C": [], "D": ["999"], "E": ["V3"]}


def test_lineage_follows_parents_one_level_up() -> None:
    cells = {c.code: c for c in CELLS}
    assert lineage(cells, "G1") == ["T1", "V1", "G1"]
    assert lineage(cells, "T2") == ["T2"]
    assert lineage(cells, "nope") == []


def test_cameras_count_in_every_area_of_their_cells_and_unmapped_ones_apart() -> None:
    def members(by: Level) -> dict[str, set[str]]:
        return {code: set(cams) for code, (_, cams) in group_cameras(CELLS, LINKS, by).items()}

    # A camera in two grids counts in each; a stale link is no link; an area without cameras
    # has no row; a camera linked to a village only is in no grid row.
    assert members(Level.GRID) == {"G1": {"A"}, "G2": {"A"}, "G3": {"B"}, "_": {"C", "D"}}
    assert members(Level.VILLAGE) == {"V1": {"A"}, "V2": {"B"}, "V3": {"E"}, "_": {"C", "D"}}
    assert members(Level.TOWNSHIP) == {"T1": {"A", "B"}, "T2": {"E"}, "_": {"C", "D"}}
    assert group_cameras(CELLS, LINKS, Level.GRID)["_"][0] == UNMAPPED
    assert list(group_cameras(CELLS, {"A": ["G1"]}, Level.GRID)) == ["G1"]


def test_rows_per_area_and_day_with_multi_grid_cameras() -> None:
    per_camera = {
        "A": {NOV1: Tally(24 * H, 12 * H, 6 * H), NOV2: Tally(24 * H, 24 * H, 24 * H)},
        "B": {NOV2: Tally(12 * H, 6 * H, 6 * H)},
        "E": {NOV1: Tally(24 * H, 24 * H, 24 * H)},
    }
    groups = group_cameras(CELLS, LINKS, Level.TOWNSHIP)
    rows = aggregate(groups, per_camera, TWO_DAYS, "day")
    got = [(r.area.code, r.bucket.label, r.cameras, r.monitored_cameras, r.tally) for r in rows]
    assert got == [
        ("T1", "2026-11-01", 2, 1, Tally(24 * H, 12 * H, 6 * H)),
        ("T1", "2026-11-02", 2, 2, Tally(36 * H, 30 * H, 30 * H)),
        ("T2", "2026-11-01", 1, 1, Tally(24 * H, 24 * H, 24 * H)),
        ("T2", "2026-11-02", 1, 0, Tally()),
        ("_", "2026-11-01", 2, 0, Tally()),
        ("_", "2026-11-02", 2, 0, Tally()),
    ]
    # By grid, A's time is in G1 and in G2; the total line counts it once.
    grid_groups = group_cameras(CELLS, LINKS, Level.GRID)
    total = aggregate(grid_groups, per_camera, TWO_DAYS, "total")
    assert [(r.area.code, r.tally) for r in total] == [
        ("G1", Tally(48 * H, 36 * H, 30 * H)),
        ("G2", Tally(48 * H, 36 * H, 30 * H)),
        ("G3", Tally(12 * H, 6 * H, 6 * H)),
        ("_", Tally()),
    ]
    everyone = overall_group(grid_groups, Area("", "合计", "total"))
    [line] = aggregate(everyone, per_camera, TWO_DAYS, "total")
    assert (line.cameras, line.monitored_cameras) == (4, 2)
    assert line.tally == Tally(60 * H, 42 * H, 36 * H)
    assert line.bucket == Bucket("2026-11-01~2026-11-02", NOV1, NOV2)


def test_month_buckets_split_the_period_at_month_ends() -> None:
    within = period(date(2026, 10, 30), date(2026, 11, 2), NOW)
    up = CameraHistory("up", change(cn(1, month=10), ON), [])
    down = CameraHistory(
        "down", change(cn(1, month=10), ON), [change(cn(31, 12, month=10), OFF, "unreachable")]
    )
    per_camera = {h.camera_id: camera_days(h, within) for h in (up, down)}
    groups = {"G1": (CELLS[2], frozenset({"up", "down"}))}
    rows = aggregate(groups, per_camera, within, "month")
    assert [(r.bucket, r.monitored_cameras, r.tally) for r in rows] == [
        (
            Bucket("2026-10", date(2026, 10, 30), date(2026, 10, 31)),
            2,
            Tally(96 * H, 48 * H + 36 * H, 84 * H),
        ),
        (Bucket("2026-11", NOV1, NOV2), 2, Tally(96 * H, 48 * H, 48 * H)),
    ]
    assert rows[0].tally.online_rate == 0.875
    assert rows[1].tally.online_rate == 0.5


def _row(code: str, bucket: Bucket, online: int, intact: int, monitored: int = 10) -> ReportRow:
    return ReportRow(Area(code, code, "grid"), bucket, 1, 1, Tally(monitored, online, intact))


def test_ranking_is_worst_first_per_bucket_and_no_data_last() -> None:
    d1 = Bucket("2026-11-01", NOV1, NOV1)
    d2 = Bucket("2026-11-02", NOV2, NOV2)
    rows = [
        _row("a", d2, 10, 10),
        _row("b", d1, 9, 9),
        _row("c", d1, 0, 0, monitored=0),
        _row("d", d1, 5, 5),
        _row("e", d1, 9, 1),
        _row("f", d1, 9, 1),
    ]
    ranked = rank(rows)
    assert [(r.bucket.label, r.area.code, r.rank) for r in ranked] == [
        ("2026-11-01", "d", 1),
        ("2026-11-01", "e", 2),  # same 在线率 as f and b: 完好率, then the code decide
        ("2026-11-01", "f", 3),
        ("2026-11-01", "b", 4),
        ("2026-11-01", "c", None),
        ("2026-11-02", "a", 1),
    ]
    by_intact = rank(rows, "intact")
    assert [r.area.code for r in by_intact][:4] == ["e", "f", "d", "b"]
