"""`gridbridge run` killed with SIGKILL while it opens work orders, then restarted: every
camera that is down ends in exactly one open order, no order is duplicated, and every
order's recorded events run 1, 2, 3 … without a gap (issue 6: durable)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
from pathlib import Path

from bridge.bootstrap import build_store
from bridge.importer import import_inventory, load_grid
from bridge.settings import load_settings
from bridge.simulator import Simulator, load_inventory
from tests.e2e.test_daemon_bus import DISTRICT, Seen, collect, inventory, statuses, until
from tests.e2e.test_daemon_kill import start_daemon
from tests.support import MosquittoProcess


def open_cover(db: Path) -> dict[str, list[str]]:
    """camera → the open orders that list it, as stored."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT c.camera_id, o.id FROM work_order_cameras c JOIN work_orders o "
            "ON o.id = c.order_id WHERE o.state != 'closed'"
        ).fetchall()
    cover: dict[str, list[str]] = {}
    for camera_id, order_id in rows:
        cover.setdefault(camera_id, []).append(order_id)
    return cover


def order_count(db: Path) -> int:
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM work_orders").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


async def test_sigkill_while_opening_orders_duplicates_and_loses_none(tmp_path: Path) -> None:
    (tmp_path / "broker").mkdir()
    broker = MosquittoProcess(tmp_path / "broker", "max_queued_messages 100000\n")
    await broker.start()
    rows = inventory(tmp_path / "cameras.csv")
    ids = [r[0] for r in rows]
    config = tmp_path / "gridbridge.toml"
    config.write_text(
        f'[store]\ndata_dir = "{tmp_path / "data"}"\n[mqtt]\nurl = "{broker.url}"\nroot = "gb"\n'
        "[probe]\ninterval_s = 1\ntimeout_s = 0.5\noffline_after = 2\nonline_after = 1\n"
        "max_backoff_s = 1\n[frames]\nenabled = false\n[workorders]\ndebounce_s = 2\n"
        f'[http]\nlisten = "127.0.0.1:{free_port()}"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, env={})
    async with build_store(settings) as store:
        await load_grid(store, settings, DISTRICT / "grid.geojson")
        await import_inventory(store, settings, tmp_path / "cameras.csv")
    db = tmp_path / "data" / "gridbridge.db"
    seen: dict[str, Seen] = {}
    listen = asyncio.create_task(collect(broker.url, seen, []))
    log = tmp_path / "daemon.log"
    daemon = None
    down = ids[:12]
    try:
        async with Simulator(load_inventory(tmp_path / "cameras.csv")) as sim:
            daemon = await start_daemon(config, log)

            def online() -> int:
                return sum(1 for _, b in statuses(seen).values() if b["state"] == "online")

            await until(lambda: online() == len(ids), 30)
            sim.set_faults({cam: "down" for cam in down})
            await until(lambda: order_count(db) >= 1, 30)  # orders are being opened
            os.kill(daemon.pid, signal.SIGKILL)
            await daemon.wait()
            daemon = await start_daemon(config, log)
            await until(lambda: log.read_text().count("gridbridge running") == 2, 30)
            await until(lambda: set(open_cover(db)) >= set(down), 30)
            await asyncio.sleep(3)  # room for a duplicate to appear, if one were coming
            daemon.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(daemon.wait(), 30) == 0, log.read_text()[-3000:]
            daemon = None
    finally:
        if daemon is not None and daemon.returncode is None:
            daemon.kill()
        listen.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listen
        await broker.stop()

    cover = open_cover(db)
    assert set(cover) == set(down), cover  # every down camera, and only those
    assert all(len(orders) == 1 for orders in cover.values()), cover  # one order each
    with contextlib.closing(sqlite3.connect(db)) as conn:
        seqs: dict[str, list[int]] = {}
        for order_id, seq in conn.execute(
            "SELECT order_id, seq FROM work_order_events ORDER BY order_id, seq"
        ):
            seqs.setdefault(order_id, []).append(seq)
        versions = dict(conn.execute("SELECT id, version FROM work_orders").fetchall())
    for order_id, got in seqs.items():
        assert got == list(range(1, len(got) + 1)), (order_id, got)  # no gap, no repeat
        assert versions[order_id] == got[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
