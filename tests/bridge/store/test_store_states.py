"""Camera state storage: transitions log and current state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.model import CameraState
from bridge.store import Store, UnknownCameraError

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


async def test_transitions_append_and_set_current_state(store: Store, make_camera, raw_sql) -> None:
    cam = make_camera(1)
    await store.apply_import([cam], {}, {})
    await store.record_transition(
        cam.id, T0, CameraState.UNKNOWN, CameraState.ONLINE, [], "first good check"
    )
    t1 = T0 + timedelta(minutes=5)
    await store.record_transition(
        cam.id,
        t1,
        CameraState.ONLINE,
        CameraState.DEGRADED,
        ["black", "frozen"],
        "picture",
        detail={"mean_grey": 3.5},
    )
    assert await store.current_states() == {cam.id: (CameraState.DEGRADED, ("black", "frozen"), t1)}
    rows = await raw_sql(
        "SELECT camera_id, from_state, to_state, reason FROM transitions ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        (cam.id, "unknown", "online", "first good check"),
        (cam.id, "online", "degraded", "picture"),
    ]
    ((detail,),) = await raw_sql("SELECT detail FROM camera_state")
    assert "mean_grey" in str(detail)


async def test_transition_for_unknown_camera_records_nothing(store: Store, raw_sql) -> None:
    with pytest.raises(UnknownCameraError):
        await store.record_transition("ghost", T0, CameraState.UNKNOWN, CameraState.ONLINE, [], "x")
    assert await raw_sql("SELECT * FROM transitions") == []


async def test_state_survives_restart(store_url: str, secret_box, make_camera) -> None:
    cam = make_camera(1)
    async with Store(store_url, secret_box) as store:
        await store.apply_import([cam], {}, {})
        await store.record_transition(
            cam.id, T0, CameraState.UNKNOWN, CameraState.OFFLINE, ["unreachable"], "3 misses"
        )
    async with Store(store_url, secret_box) as store:
        assert await store.current_states() == {cam.id: (CameraState.OFFLINE, ("unreachable",), T0)}
        # A re-import does not reset a known state.
        await store.apply_import([cam], {}, {})
        assert (await store.current_states())[cam.id][0] is CameraState.OFFLINE
