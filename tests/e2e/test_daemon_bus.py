"""End to end: a real Mosquitto, the simulator, and the daemon (`gridbridge run`'s Daemon).

Every camera's status arrives retained under its grid path(s); `down` injected on 10 cameras
through the simulator turns them `offline` within offline_after × interval + timeout;
cleared, they come back `online`; the broker stopped and started again gets every change
and the full retained view; no byte on the bus holds a camera password.  Each check looks at
topic, payload, retain flag and QoS together.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from bridge.app import Daemon
from bridge.bootstrap import build_store
from bridge.bus.summaries import STATES
from bridge.grid import GridIndex
from bridge.importer import import_inventory, load_grid
from bridge.settings import MqttSettings, ProbeSettings, Settings, StoreSettings
from bridge.simulator import Simulator, load_inventory
from tests.support import WORKER, MosquittoProcess

DISTRICT = Path(__file__).resolve().parents[2] / "bridge" / "demo" / "district"
EXPECTED = json.loads((DISTRICT / "expected.json").read_text(encoding="utf-8"))
N = 30
INTERVAL_S, TIMEOUT_S, OFFLINE_AFTER = 1.0, 0.5, 2
OUTAGE_S = 60.0  # the broker's outage in the acceptance test of issue 4


@dataclass
class Seen:
    payload: bytes
    retain: bool
    qos: int


def inventory(path: Path, count: int = N) -> list[list[str]]:
    """The first ``count`` (at most N) good sample cameras, moved to 127.43.{WORKER}.x and high
    ports, written to ``path``."""
    with (DISTRICT / "cameras.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    chosen = [r for r in body if EXPECTED["grid_of_camera"].get(r[col["设备编码"]])][:count]
    for n, row in enumerate(chosen):
        host = f"127.43.{WORKER}.{n + 1}"
        row[col["IP地址"]], row[col["RTSP端口"]], row[col["ONVIF端口"]] = host, "18554", "18080"
        row[col["RTSP地址"]] = f"rtsp://{host}:18554/Streaming/Channels/101"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *chosen])
    return chosen


async def collect(url: str, seen: dict[str, Seen], raw: list[bytes]) -> None:
    host, port = url.removeprefix("mqtt://").split(":")
    while True:
        with contextlib.suppress(aiomqtt.MqttError):
            async with aiomqtt.Client(host, int(port), protocol=aiomqtt.ProtocolVersion.V5) as c:
                await c.subscribe("#", options=SubscribeOptions(qos=1, retainAsPublished=True))
                async for m in c.messages:
                    payload = m.payload if isinstance(m.payload, bytes) else b""
                    seen[str(m.topic)] = Seen(payload, m.retain, m.qos)
                    raw.append(str(m.topic).encode() + payload)
        await asyncio.sleep(0.2)


async def until(condition, timeout_s: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not reached within {timeout_s} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@contextlib.asynccontextmanager
async def running(  # type: ignore[no-untyped-def]
    settings: Settings, seen: dict[str, Seen], raw: list[bytes], url: str
):
    """The daemon of ``settings`` running (ready), with every bus message of ``url`` collected
    into ``seen`` and ``raw``; stopped cleanly on the way out."""
    stop = asyncio.Event()
    daemon = Daemon(settings)
    run = asyncio.create_task(daemon.run(stop))
    listen = asyncio.create_task(collect(url, seen, raw))
    try:
        await asyncio.wait_for(daemon.ready.wait(), 20)
        yield
    finally:
        stop.set()
        await asyncio.wait_for(run, 30)
        listen.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listen


def statuses(seen: dict[str, Seen]) -> dict[str, tuple[str, dict]]:  # type: ignore[type-arg]
    out = {}
    for topic, s in seen.items():
        if topic.endswith("/status") and s.payload:
            out[topic] = (topic.split("/")[-2], json.loads(s.payload))
    return out


async def test_daemon_publishes_every_camera_and_follows_faults(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    rows = inventory(tmp_path / "cameras.csv")
    ids = [r[0] for r in rows]
    passwords = {r[6] for r in rows if r[6]}
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path / "data"),
        mqtt=MqttSettings(url=broker.url, root="gb"),
        probe=ProbeSettings(
            interval_s=INTERVAL_S,
            timeout_s=TIMEOUT_S,
            offline_after=OFFLINE_AFTER,
            online_after=1,
            max_backoff_s=1,
        ),
    )
    async with build_store(settings) as store:
        await load_grid(store, settings, DISTRICT / "grid.geojson")
        await import_inventory(store, settings, tmp_path / "cameras.csv")
        index = GridIndex(await store.load_grid())
    want_topic = {
        cam: "gb/grid/"
        + "/".join(index.ancestors(EXPECTED["grid_of_camera"][cam]))
        + f"/camera/{cam}/status"
        for cam in ids
    }
    seen: dict[str, Seen] = {}
    raw: list[bytes] = []
    async with (
        Simulator(load_inventory(tmp_path / "cameras.csv")) as sim,
        running(settings, seen, raw, broker.url),
    ):

        def all_online() -> bool:
            st = statuses(seen)
            return all(
                want_topic[c] in st and st[want_topic[c]][1]["state"] == "online" for c in ids
            )

        await until(all_online, 20)
        for cam in ids:
            s = seen[want_topic[cam]]
            assert (s.retain, s.qos) == (True, 1)
            body = json.loads(s.payload)
            assert body["schema"] == "gridbridge.status/1"
            assert (body["id"], body["grids"]) == (cam, [EXPECTED["grid_of_camera"][cam]])
        assert seen["gb/bridge/state"].payload == b"online"
        assert seen["gb/bridge/state"].retain

        down = ids[:10]
        sim.set_faults({cam: "down" for cam in down})
        took = await until(
            lambda: all(statuses(seen)[want_topic[c]][1]["state"] == "offline" for c in down),
            20,
        )
        # Detection: offline_after checks of interval_s each, each ended by its deadline,
        # plus the batch writer and the publisher (well under a second).
        assert took <= OFFLINE_AFTER * INTERVAL_S + 2 * TIMEOUT_S + INTERVAL_S + 1.5
        for cam in down:
            s = seen[want_topic[cam]]
            body = json.loads(s.payload)
            assert (s.retain, s.qos, body["faults"]) == (True, 1, ["unreachable"])
        assert all(statuses(seen)[want_topic[c]][1]["state"] == "online" for c in ids[10:])

        # The broker goes away for a minute (and forgets its retained messages) while
        # cameras change state: the down ones recover, five others start refusing our
        # login.  When it returns, the retained view is right again.
        await broker.stop()
        sim.clear_faults()
        await sim.settle()
        await asyncio.sleep(OUTAGE_S / 2)
        refusing = ids[20:25]
        sim.set_faults({cam: "auth_fail" for cam in refusing})
        await asyncio.sleep(OUTAGE_S / 2)
        seen.clear()
        await broker.start()

        def final_view() -> bool:
            st = statuses(seen)
            return all(
                want_topic[c] in st
                and st[want_topic[c]][1]["state"] == ("degraded" if c in refusing else "online")
                for c in ids
            )

        try:
            await until(final_view, 45)  # the publisher retries at most every 15 s
        except AssertionError:
            st = statuses(seen)
            got = {
                c: (st[want_topic[c]][1]["state"], st[want_topic[c]][1]["faults"])
                for c in ids
                if want_topic[c] in st
            }
            raise AssertionError(f"final view: {got}") from None
        for cam in refusing:
            assert json.loads(seen[want_topic[cam]].payload)["faults"] == ["auth_failed"]
        assert seen["gb/bridge/state"].payload == b"online"
        # And the grids' summaries, re-published after the statuses, count that view.
        want_summary: dict[str, dict[str, int]] = {}
        for cam in ids:
            path = "/".join(index.ancestors(EXPECTED["grid_of_camera"][cam]))
            counts = want_summary.setdefault(f"gb/grid/{path}/summary", dict.fromkeys(STATES, 0))
            counts["degraded" if cam in refusing else "online"] += 1

        def summaries_right() -> bool:
            return all(
                t in seen and seen[t].payload and json.loads(seen[t].payload)["counts"] == c
                for t, c in want_summary.items()
            )

        await until(summaries_right, 20)
    # Orderly shutdown said "offline".
    assert seen["gb/bridge/state"].payload == b"offline"
    everything = b"\n".join(raw)
    for password in passwords:
        assert password.encode() not in everything


async def test_reimport_moving_a_camera_clears_its_old_topic(
    tmp_path: Path, broker: MosquittoProcess
) -> None:
    rows = inventory(tmp_path / "cameras.csv")[:5]
    header = next(csv.reader((DISTRICT / "cameras.csv").open(encoding="utf-8-sig")))
    with (tmp_path / "cameras.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path / "data"),
        mqtt=MqttSettings(url=broker.url, root="gb"),
        probe=ProbeSettings(interval_s=1, timeout_s=0.5),
    )
    async with build_store(settings) as store:
        await load_grid(store, settings, DISTRICT / "grid.geojson")
        await import_inventory(store, settings, tmp_path / "cameras.csv")
        index = GridIndex(await store.load_grid())
    cam = rows[0][0]
    old_grid = EXPECTED["grid_of_camera"][cam]
    new_grid = next(code for code in index.leaf_codes if code != old_grid)
    old_topic = "gb/grid/" + "/".join(index.ancestors(old_grid)) + f"/camera/{cam}/status"
    new_topic = "gb/grid/" + "/".join(index.ancestors(new_grid)) + f"/camera/{cam}/status"
    seen: dict[str, Seen] = {}
    stop = asyncio.Event()
    async with Simulator(load_inventory(tmp_path / "cameras.csv")):
        daemon = Daemon(settings, inventory_poll_s=0.5)
        run = asyncio.create_task(daemon.run(stop))
        listen = asyncio.create_task(collect(broker.url, seen, []))
        try:
            await until(lambda: old_topic in seen and bool(seen[old_topic].payload), 20)
            rows[0][header.index("所属网格")] = new_grid  # the import now names another grid
            with (tmp_path / "cameras.csv").open("w", encoding="utf-8", newline="") as fh:
                csv.writer(fh).writerows([header, *rows])
            async with build_store(settings) as store:
                await import_inventory(store, settings, tmp_path / "cameras.csv")
            await until(lambda: new_topic in seen and seen[old_topic].payload == b"", 20)
            assert (seen[old_topic].retain, seen[old_topic].qos) == (True, 1)
            body = json.loads(seen[new_topic].payload)
            assert (body["grids"], seen[new_topic].retain) == ([new_grid], True)
        finally:
            stop.set()
            await asyncio.wait_for(run, 30)
            listen.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listen
