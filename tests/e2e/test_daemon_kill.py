"""`gridbridge run` killed with SIGKILL in the middle of state changes, then restarted:
nothing lost, nothing duplicated in the transition log, the bus ends right, and the killed
run is told apart from the stopped one (for the reports).  Also: SIGTERM ends it cleanly
(exit 0, bridge state `offline`)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sqlite3
import sys
from pathlib import Path

from bridge.app import Daemon
from bridge.bootstrap import build_store
from bridge.importer import import_inventory, load_grid
from bridge.settings import (
    HttpSettings,
    MqttSettings,
    ProbeSettings,
    Settings,
    StoreSettings,
    load_settings,
)
from bridge.simulator import Simulator, load_inventory
from tests.e2e.test_daemon_bus import DISTRICT, Seen, collect, inventory, statuses, until
from tests.support import MosquittoProcess, free_port

GRIDBRIDGE = Path(sys.executable).parent / "gridbridge"


async def start_daemon(config: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            str(GRIDBRIDGE),
            "run",
            "--config",
            str(config),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


async def test_sigkill_mid_change_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    (tmp_path / "broker").mkdir()
    broker = MosquittoProcess(tmp_path / "broker", "max_queued_messages 100000\n")
    await broker.start()
    rows = inventory(tmp_path / "cameras.csv")
    ids = [r[0] for r in rows]
    config = tmp_path / "gridbridge.toml"
    config.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n[mqtt]\nurl = "{broker.url}"\nroot = "gb"\n'
        "[probe]\ninterval_s = 1\ntimeout_s = 0.5\noffline_after = 2\nonline_after = 1\n"
        "max_backoff_s = 1\n",
        encoding="utf-8",
    )
    settings = load_settings(config, env={})
    async with build_store(settings) as store:
        await load_grid(store, settings, DISTRICT / "grid.geojson")
        await import_inventory(store, settings, tmp_path / "cameras.csv")
    seen: dict[str, Seen] = {}
    listen = asyncio.create_task(collect(broker.url, seen, []))
    log = tmp_path / "daemon.log"
    daemon = None
    try:
        async with Simulator(load_inventory(tmp_path / "cameras.csv")) as sim:
            daemon = await start_daemon(config, log)

            def count(state: str) -> int:
                return sum(1 for _, body in statuses(seen).values() if body["state"] == state)

            await until(lambda: count("online") == len(ids), 30)
            down = ids[:10]
            sim.set_faults({cam: "down" for cam in down})
            await until(lambda: count("offline") >= 1, 20)  # mid-change: some, not all
            os.kill(daemon.pid, signal.SIGKILL)
            await daemon.wait()
            daemon = await start_daemon(config, log)
            # Both daemons log to one file: wait for the second to be up before stopping it.
            await until(lambda: log.read_text().count("gridbridge running") == 2, 30)
            await until(lambda: count("offline") == 10, 30)
            daemon.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(daemon.wait(), 30) == 0, log.read_text()[-3000:]
            daemon = None
            await until(lambda: seen["gb/bridge/state"].payload == b"offline", 10)
    finally:
        if daemon is not None and daemon.returncode is None:
            daemon.kill()
        listen.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listen
        await broker.stop()

    db = sqlite3.connect(tmp_path / "data" / "gridbridge.db")
    log_rows = db.execute(
        "SELECT camera_id, from_state, to_state FROM transitions ORDER BY id"
    ).fetchall()
    current = dict(db.execute("SELECT camera_id, state FROM camera_state").fetchall())
    for cam in ids:
        chain = [(f, t) for c, f, t in log_rows if c == cam]
        assert chain[0] == ("unknown", "online"), chain
        for (_, to), (frm, _) in itertools.pairwise(chain):
            assert frm == to, f"{cam}: broken chain {chain}"  # nothing lost in between
        assert all(f != t for f, t in chain[1:]), chain  # no repeated no-op transitions
        want = "offline" if cam in ids[:10] else "online"
        assert chain[-1][1] == want == current[cam], chain
        assert len(chain) == (2 if cam in ids[:10] else 1), chain  # nothing duplicated
    final = {topic.split("/")[-2]: body["state"] for topic, (_, body) in statuses(seen).items()}
    assert final == {cam: ("offline" if cam in ids[:10] else "online") for cam in ids}
    # Its runs, for the reports (bridge.runs): the killed one never said it ended, the
    # second did when SIGTERM stopped it, after its start.
    runs = db.execute("SELECT started_at, alive_at, ended_at FROM monitor_runs ORDER BY id")
    (k_start, k_alive, k_end), (s_start, s_alive, s_end) = runs.fetchall()
    assert k_end is None
    assert k_start <= k_alive <= s_start
    assert s_end is not None
    assert s_start <= s_alive == s_end


async def test_a_daemon_stopped_as_soon_as_it_runs_still_records_its_run(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    """Asked to stop the moment it is ready — before any of its tasks took a step — the
    daemon has still recorded its run's start and end (the reports count that time)."""
    inventory(tmp_path / "cameras.csv", 3)
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path / "data"),
        mqtt=MqttSettings(url=broker.url, root="gb"),
        probe=ProbeSettings(interval_s=1, timeout_s=0.5),
        http=HttpSettings(listen=f"127.0.0.1:{free_port()}"),
    )
    async with build_store(settings) as store:
        await load_grid(store, settings, DISTRICT / "grid.geojson")
        await import_inventory(store, settings, tmp_path / "cameras.csv")
    for _ in range(2):
        stop = asyncio.Event()
        daemon = Daemon(settings)
        run = asyncio.create_task(daemon.run(stop))
        await asyncio.wait_for(daemon.ready.wait(), 20)
        stop.set()
        await asyncio.wait_for(run, 30)
    db = sqlite3.connect(tmp_path / "data" / "gridbridge.db")
    runs = db.execute("SELECT started_at, ended_at FROM monitor_runs ORDER BY id").fetchall()
    assert len(runs) == 2
    for started, ended in runs:
        assert ended is not None
        assert started <= ended
