"""The monitor's bulk reads and writes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.model import CameraState
from bridge.secretbox import SecretBox
from bridge.store import Store
from bridge.store.monitoring import TransitionRecord

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def tr(
    cid: str, at: datetime, old: CameraState, new: CameraState, *faults: str, flapping: bool = False
) -> TransitionRecord:
    return TransitionRecord(cid, at, old, new, faults, flapping, "why", {"summary": "s"})


async def test_monitor_records_decrypt_in_bulk(store: Store, make_camera) -> None:
    cams = [make_camera(n) for n in range(1, 6)]
    await store.apply_import(cams, {}, {})
    records, bad = await store.monitor_records()
    assert bad == []
    assert {r.id: r.password for r in records} == {c.id: c.password for c in cams}


async def test_undecryptable_passwords_are_named(store_url: str, make_camera) -> None:
    async with Store(store_url, SecretBox(SecretBox.generate_key())) as one:
        await one.apply_import([make_camera(1)], {}, {})
    async with Store(store_url, SecretBox(SecretBox.generate_key())) as other:
        records, bad = await other.monitor_records()
    assert bad == [make_camera(1).id]
    assert records[0].password is None


async def test_record_transitions_in_a_batch(store: Store, make_camera, raw_sql) -> None:
    a, b = make_camera(1), make_camera(2)
    await store.apply_import([a, b], {}, {})
    t1 = T0 + timedelta(seconds=30)
    applied = await store.record_transitions(
        [
            tr(a.id, T0, CameraState.UNKNOWN, CameraState.ONLINE),
            tr(b.id, T0, CameraState.UNKNOWN, CameraState.DEGRADED, "clock_drift"),
            tr(
                b.id,
                t1,
                CameraState.DEGRADED,
                CameraState.DEGRADED,
                "clock_drift",
                "replaced",
                flapping=True,
            ),
            tr("41990100011326999999", T0, CameraState.UNKNOWN, CameraState.ONLINE),
        ]
    )
    assert applied == 3
    rows = await store.state_rows()
    assert (rows[a.id].state, rows[a.id].since, rows[a.id].flapping) == (
        CameraState.ONLINE,
        T0,
        False,
    )
    # A faults-only change keeps `since` and moves `checked_at`.
    assert rows[b.id].state is CameraState.DEGRADED
    assert rows[b.id].faults == ("clock_drift", "replaced")
    assert (rows[b.id].since, rows[b.id].checked_at, rows[b.id].flapping) == (T0, t1, True)
    logged = await raw_sql("SELECT camera_id FROM transitions ORDER BY id")
    assert len(logged) == 4  # the unknown camera's transition is logged too


async def test_touch_checked(store: Store, make_camera) -> None:
    a = make_camera(1)
    await store.apply_import([a], {}, {})
    later = T0 + timedelta(hours=1)
    await store.touch_checked([(a.id, later), ("no-such-camera", later)])
    assert (await store.state_rows())[a.id].checked_at == later
    assert (await store.state_rows())[a.id].state is CameraState.UNKNOWN


async def test_inventory_mark_moves_on_every_inventory_change(store: Store, make_camera) -> None:
    from dataclasses import replace

    empty = await store.inventory_mark()
    assert empty == (0, None, 0)
    a = make_camera(1)
    await store.apply_import([a], {}, {})
    first = await store.inventory_mark()
    assert first[0] == 1
    await store.apply_import([a], {}, {})
    assert await store.inventory_mark() == first  # nothing changed, nothing moves
    await store.apply_import([replace(a, password="new-password")], {}, {})
    assert await store.inventory_mark() != first  # a password-only change is seen too
