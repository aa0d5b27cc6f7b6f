"""The desk's view of the cameras after a restart (`merged_episodes`): the tracker's current
states win over the book's last write, a camera killed during its debounce still gets its
order, a recovered camera of an open order gets verified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.model import CameraState, CameraView, Mapping
from bridge.workorder_desk import merged_episodes
from bridge.workorders.engine import OrderBook
from bridge.workorders.model import Episode
from bridge.workorders.rules import WorkOrderRules

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def view(camera_id: str, state: CameraState, faults: tuple[str, ...] = (), since=T0) -> CameraView:  # type: ignore[no-untyped-def]
    return CameraView(
        id=camera_id, name=camera_id, host="127.0.0.1", grids=(), mapping=Mapping.UNMAPPED,
        state=state, faults=faults, since=since, checked_at=since, key_location=False,
        upstream_id=None, vendor="", model="", address="", lon_wgs84=None, lat_wgs84=None,
    )  # fmt: skip


def test_a_camera_killed_in_its_debounce_still_gets_its_order() -> None:
    views = [view("a", CameraState.OFFLINE, ("unreachable",), since=T0)]
    episodes = merged_episodes(views, [], [])
    assert [(e.camera_id, e.started_at) for e in episodes] == [("a", T0)]
    book = OrderBook(WorkOrderRules(debounce_s=180))
    book.restore([], episodes, T0 + timedelta(seconds=60))
    assert book.tick(T0 + timedelta(seconds=200)) != []
    assert len(book.orders()) == 1


def test_current_states_win_and_stored_starts_are_kept() -> None:
    stored = [
        Episode("b", CameraState.DEGRADED, ("rtsp_error",), False, False, None, T0, "b/old.jpg")
    ]
    later = T0 + timedelta(minutes=3)
    episodes = merged_episodes(
        [view("b", CameraState.OFFLINE, ("unreachable",), later)], stored, []
    )
    [episode] = episodes
    assert episode.state is CameraState.OFFLINE
    assert episode.faults == ("unreachable",)
    assert episode.started_at == T0  # the episode began with the first fault
    assert episode.last_good_picture == "b/old.jpg"


def test_healthy_cameras_need_no_episode_unless_an_order_waits_for_them() -> None:
    book = OrderBook(WorkOrderRules(debounce_s=0))
    book.observe("c", CameraState.OFFLINE, ("unreachable",), T0)
    book.tick(T0 + timedelta(seconds=1))
    orders = book.orders()
    views = [view("c", CameraState.ONLINE), view("d", CameraState.ONLINE),
             view("e", CameraState.UNKNOWN)]  # fmt: skip
    episodes = merged_episodes(views, [], orders)
    assert [(e.camera_id, e.started_at) for e in episodes] == [("c", None)]
