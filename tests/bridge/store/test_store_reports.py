"""What the 在线率 report reads from the store (SQLite and PostgreSQL): the inventory, each
camera's last state before the period and its transitions within; and one whole report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest

from bridge.model import CameraLink, CameraState, Level, MappingReason
from bridge.reports.areas import Area
from bridge.reports.compute import online_rate_report
from bridge.reports.export import down_note, report_json
from bridge.reports.online_rate import CameraHistory, StateChange, Tally
from bridge.runs import ALIVE_GRACE_S
from bridge.secretbox import SecretBox
from bridge.store import Store
from bridge.store.reports import FILTER_MAX_CAMERAS, HistoryReader
from bridge.workorders.webhook_format import CHINA_TZ

ADDED = datetime(2026, 10, 1, tzinfo=UTC)
START = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # 1 November, China time
END = START + timedelta(days=2)
H = 3_600_000_000
ON, DEG, OFF = CameraState.ONLINE, CameraState.DEGRADED, CameraState.OFFLINE


@pytest.fixture
async def filled(
    store_url: str, secret_box: SecretBox, make_camera, make_cell
) -> AsyncIterator[tuple[Store, list[str]]]:
    async with Store(store_url, secret_box, now=lambda: ADDED) as store:
        cells = [
            make_cell("T1", Level.TOWNSHIP, "D", name="城关镇"),
            make_cell("V1", Level.VILLAGE, "T1", name="东村"),
            make_cell("G2", Level.GRID, "V1", name="东村二网格"),
            make_cell("G1", Level.GRID, "V1", name="东村一网格"),
        ]
        await store.replace_grid(cells)
        cams = [make_camera(i) for i in range(1, 5)]
        a, b, c, d = (cam.id for cam in cams)
        links = {a: [CameraLink(a, code, MappingReason.EXPLICIT) for code in ("G1", "G2")]}
        await store.apply_import(cams, links, {})
        log = [
            (a, START - timedelta(days=2), CameraState.UNKNOWN, ON, ()),
            (a, START - timedelta(days=1), ON, OFF, ("unreachable",)),
            # Two rows at the same instant: the later one is the state.
            (a, START - timedelta(days=1), OFF, DEG, ("black",)),
            (a, START + timedelta(hours=6), DEG, ON, ()),
            (a, START + timedelta(hours=30), ON, DEG, ("clock_drift",)),
            (a, END, DEG, OFF, ("unreachable",)),  # after the period
            (b, START + timedelta(hours=12), CameraState.UNKNOWN, OFF, ("unreachable",)),
            (d, END + timedelta(hours=1), CameraState.UNKNOWN, ON, ()),
        ]
        for camera_id, at, old, new, faults in log:
            await store.record_transition(camera_id, at, old, new, faults, "test")
        yield store, [a, b, c, d]


async def test_report_data_hands_over_each_camera_once(
    filled: tuple[Store, list[str]],
) -> None:
    store, (a, b, c, d) = filled
    got: list[CameraHistory] = []
    inv, read = await store.report_data(START, END, lambda _: HistoryReader(got.append))
    assert read == 3
    assert [cell.code for cell in inv.cells] == ["T1", "V1", "G2", "G1"]  # the map's order
    assert inv.cells[0] == Area("T1", "城关镇", "township", "D")
    assert inv.links == {a: ["G1", "G2"], b: [], c: [], d: []}
    assert inv.added_at == dict.fromkeys((a, b, c, d), ADDED)
    by_id = {h.camera_id: h for h in got}
    assert len(got) == len(by_id) == 2  # c and d have no state before the end
    assert by_id[a] == CameraHistory(
        a,
        StateChange(START - timedelta(days=1), DEG, ("black",)),
        [
            StateChange(START + timedelta(hours=6), ON, ()),
            StateChange(START + timedelta(hours=30), DEG, ("clock_drift",)),
        ],
        ADDED,
    )
    assert by_id[b] == CameraHistory(
        b, None, [StateChange(START + timedelta(hours=12), OFF, ("unreachable",))], ADDED
    )


async def test_a_camera_with_only_an_earlier_state_is_handed_over(
    filled: tuple[Store, list[str]],
) -> None:
    store, (a, b, _, _) = filled
    got: list[CameraHistory] = []
    later = END + timedelta(days=5)
    reader = HistoryReader(got.append)
    _, read = await store.report_data(later, later + timedelta(days=1), lambda _: reader)
    assert read == 0
    assert {h.camera_id: (h.initial, tuple(h.changes)) for h in got} == {
        a: (StateChange(END, OFF, ("unreachable",)), ()),
        b: (StateChange(START + timedelta(hours=12), OFF, ("unreachable",)), ()),
        filled[1][3]: (StateChange(END + timedelta(hours=1), ON, ()), ()),
    }


async def test_cameras_removed_from_the_inventory_leave_the_report(
    filled: tuple[Store, list[str]], make_camera
) -> None:
    store, (a, b, c, d) = filled
    await store.apply_import([make_camera(2)], {}, {}, prune=[a, c, d])
    got: list[CameraHistory] = []
    inv, read = await store.report_data(START, END, lambda _: HistoryReader(got.append))
    assert list(inv.links) == [b]
    assert [h.camera_id for h in got] == [b]
    assert read == 1


@pytest.mark.parametrize("named", [True, False])
async def test_a_report_of_a_few_cameras_reads_theirs_only(
    filled: tuple[Store, list[str]], named: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's scope: few cameras are asked of the database by name; many are read
    whole and the others skipped.  The same histories either way."""
    store, (_, b, c, _) = filled
    if not named:
        monkeypatch.setattr("bridge.store.reports.FILTER_MAX_CAMERAS", 0)
    assert FILTER_MAX_CAMERAS >= 1000
    got: list[CameraHistory] = []
    _, read = await store.report_data(START, END, lambda _: HistoryReader(got.append, {b, c}))
    assert [h.camera_id for h in got] == [b]  # c has no state before the end
    assert got[0].changes == [StateChange(START + timedelta(hours=12), OFF, ("unreachable",))]
    assert read == (1 if named else 3)  # by name, only b's row is read


async def test_one_whole_report_from_the_store(filled: tuple[Store, list[str]]) -> None:
    store, _ = filled
    now = datetime(2026, 11, 27, tzinfo=UTC)
    report = await online_rate_report(
        store, date(2026, 11, 1), date(2026, 11, 2), Level.GRID, per="day", now=now
    )
    rows = {(r.area.code, r.bucket.label): r for r in report.rows}
    # a: black until 06:00 on the 1st, then online, clock drift (still 完好) from 06:00 on
    # the 2nd: counted in G1 and in G2.
    for grid in ("G1", "G2"):
        assert rows[grid, "2026-11-01"].tally == Tally(24 * H, 24 * H, 18 * H)
        assert rows[grid, "2026-11-02"].tally == Tally(24 * H, 24 * H, 24 * H)
        assert rows[grid, "2026-11-01"].cameras == 1
    # b, c, d are linked to no cell; b is offline from noon on the 1st (China time 20:00).
    unmapped = rows["_", "2026-11-01"]
    assert (unmapped.area.name, unmapped.cameras, unmapped.monitored_cameras) == (
        "未关联网格",
        3,
        1,
    )
    assert unmapped.tally == Tally(12 * H, 0, 0)
    assert rows["_", "2026-11-02"].tally == Tally(24 * H, 0, 0)
    assert [(r.bucket.label, r.area.code, r.rank) for r in report.rows] == [
        ("2026-11-01", "_", 1),
        ("2026-11-01", "G1", 2),  # equal rates: by code
        ("2026-11-01", "G2", 3),
        ("2026-11-02", "_", 1),
        ("2026-11-02", "G1", 2),
        ("2026-11-02", "G2", 3),
    ]
    # The total line counts a once although it is in two grids.
    assert [(t.cameras, t.tally) for t in report.totals] == [
        (4, Tally(36 * H, 24 * H, 18 * H)),
        (4, Tally(48 * H, 24 * H, 24 * H)),
    ]
    assert report.transitions == 3
    assert report.period.start.astimezone(CHINA_TZ).hour == 0


async def test_the_daemons_runs_leave_its_downtime_out_of_the_report(
    filled: tuple[Store, list[str]],
) -> None:
    """The daemon ran from before the period to 02:00 China time on 2 November (stopped in
    order), and again from 05:00 until it was killed, last alive at 10:00 on the 2nd."""
    store, _ = filled
    first = await store.start_run(START - timedelta(days=3))
    await store.run_alive(first, START + timedelta(hours=25))
    await store.end_run(first, START + timedelta(hours=26))
    second = await store.start_run(START + timedelta(hours=29))
    await store.run_alive(second, START + timedelta(hours=34))
    now = datetime(2026, 11, 27, tzinfo=UTC)
    report = await online_rate_report(
        store, date(2026, 11, 1), date(2026, 11, 2), Level.GRID, per="day", now=now
    )
    killed = START + timedelta(hours=34, seconds=ALIVE_GRACE_S)
    assert report.down == (
        (START + timedelta(hours=26), START + timedelta(hours=29)),
        (killed, END),
    )
    rows = {(r.area.code, r.bucket.label): r for r in report.rows}
    assert rows["G1", "2026-11-01"].tally == Tally(24 * H, 24 * H, 18 * H)  # as before
    watched_us = 2 * H + 5 * H + ALIVE_GRACE_S * 1_000_000  # 00:00–02:00, 05:00–10:02
    assert rows["G1", "2026-11-02"].tally == Tally(watched_us, watched_us, watched_us)
    body = report_json(report)
    assert body["daemon_down"] == [
        {"from": b.isoformat(), "to": e.isoformat()} for b, e in report.down
    ]
    assert "gridbridge 未运行" in down_note(report)
