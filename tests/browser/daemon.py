"""The daemon the browser tests look at: the real `Daemon` with a real Mosquitto, the
simulator serving 30 cameras of the sample district over two villages of 青石镇 (15 of 张湾村,
15 of 何店村, on 127.46.{WORKER}.x), the district's grid map, SQLite, and three users (an admin, an
operator of grid A, a crew).

Faults go through the simulator: in grid A one camera is down (for the whole session) and
one shows a black picture; in grid B one camera is down for the crew's order.  `running_site`
returns once the daemon has seen all of it — every camera checked, with a thumbnail taken
before its fault, the states, and both orders — so the tests only look.  The daemon runs in
a thread with its own event loop: Selenium blocks, and the daemon must go on answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bridge.app import Daemon
from bridge.bootstrap import build_store
from bridge.importer import import_inventory, load_grid
from bridge.settings import (
    FrameSettings,
    HttpSettings,
    MqttSettings,
    ProbeSettings,
    Settings,
    StoreSettings,
    WorkOrderSettings,
)
from bridge.simulator import Simulator, load_inventory
from bridge.store.common import utcnow
from bridge.users.model import Role, User
from bridge.users.passwords import hash_password
from bridge.web.cli_token import read_cli_token
from tests.support import WORKER, MosquittoProcess

__all__ = [
    "ADMIN",
    "CREW",
    "OPERATOR",
    "PASSWORDS",
    "TOWNSHIP",
    "VILLAGE_A",
    "VILLAGE_B",
    "Camera",
    "Site",
    "running_site",
    "wait_for",
]

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DISTRICT = REPO / "bridge" / "demo" / "district"

# The sample district (bridge/demo/district): 青石镇 and two of its villages.
TOWNSHIP = "419901003"  # 青石镇
VILLAGE_A = "419901003008"  # 张湾村
VILLAGE_B = "419901003004"  # 何店村
PER_VILLAGE = 15
SUBNET = f"127.46.{WORKER}"  # the cameras' addresses: no other test uses this range
RTSP_PORT, ONVIF_PORT = 18554, 18080

ADMIN, OPERATOR, CREW = "admin", "wangge_a", "zhangshifu"
PASSWORDS = {ADMIN: "Admin-pass-1", OPERATOR: "Wangge-pass-1", CREW: "Crew-pass-1"}

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
T = TypeVar("T")


@dataclass(frozen=True)
class Camera:
    id: str
    name: str
    grid: str

    @property
    def village(self) -> str:
        return self.grid[:12]


@dataclass
class Site:
    """The running daemon as the tests see it: its address, the users, the cameras and
    which of them have faults; `call` and `run` reach the daemon's loop (the simulator)."""

    url: str
    data_dir: Path
    cameras: dict[str, Camera]
    grid_a: str
    grid_b: str
    down: Camera  # grid A: down for the whole session
    black: Camera  # grid A: black picture
    healthy: Camera  # grid A: no fault (its live view is watched)
    crew_camera: Camera  # grid B: down until the crew's test repairs it
    names: dict[str, str] = field(default_factory=dict)  # cell code → name
    loop: asyncio.AbstractEventLoop | None = None
    simulator: Simulator | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        """Run a coroutine on the daemon's loop and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def call(self, fn: Callable[[], T], timeout_s: float = 30.0) -> T:
        """Call ``fn`` on the daemon's loop (the simulator is not thread-safe)."""

        async def wrapped() -> T:
            return fn()

        return self.run(wrapped(), timeout_s)

    def api(self, path: str) -> Any:
        """GET the daemon's JSON API as the daemon's local admin (``cli.token``)."""
        token = read_cli_token(self.data_dir)
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def camera_facts(self) -> dict[str, dict[str, Any]]:
        items = self.api("/api/cameras?limit=1000")["cameras"]
        return {item["id"]: item for item in items}

    def orders(self, state: str = "all") -> list[dict[str, Any]]:
        return list(self.api(f"/api/workorders?state={state}"))

    def order_of(self, camera: Camera) -> dict[str, Any] | None:
        return next((o for o in self.orders() if camera.id in o["cameras"]), None)


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    """Poll ``condition`` (errors count as not yet) until true; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, KeyError, ValueError, urllib.error.URLError) as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}" + (f" ({last})" if last else ""))


# --- the daemon ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _inventory(path: Path) -> dict[str, Camera]:
    """The first PER_VILLAGE cameras of each village, moved to SUBNET and high ports; written
    to ``path`` as the platform's export (CSV)."""
    expected = json.loads((DISTRICT / "expected.json").read_text(encoding="utf-8"))
    grid_of: dict[str, str | None] = expected["grid_of_camera"]
    with (DISTRICT / "cameras.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    chosen: list[list[str]] = []
    for village in (VILLAGE_A, VILLAGE_B):
        chosen += [r for r in body if (grid_of.get(r[col["设备编码"]]) or "")[:12] == village][
            :PER_VILLAGE
        ]
    cameras = {}
    for n, row in enumerate(chosen, start=1):
        host = f"{SUBNET}.{n}"
        row[col["IP地址"]], row[col["RTSP端口"]] = host, str(RTSP_PORT)
        row[col["ONVIF端口"]] = str(ONVIF_PORT)
        row[col["RTSP地址"]] = re.sub(
            r"^rtsp://([^@/]*@)?[^/]+", rf"rtsp://\g<1>{host}:{RTSP_PORT}", row[col["RTSP地址"]]
        )
        cam_id = row[col["设备编码"]]
        cameras[cam_id] = Camera(cam_id, row[col["设备名称"]], str(grid_of[cam_id]))
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *chosen])
    return cameras


def _cell_names() -> dict[str, str]:
    grid = json.loads((DISTRICT / "grid.geojson").read_text(encoding="utf-8"))
    return {str(f["properties"]["code"]): str(f["properties"]["name"]) for f in grid["features"]}


def _site(workdir: Path) -> tuple[Site, Settings]:
    cameras = _inventory(workdir / "cameras.csv")
    by_grid: dict[str, list[Camera]] = {}
    for cam in cameras.values():
        by_grid.setdefault(cam.grid, []).append(cam)
    # Grid A: the first grid of 张湾村 with at least four cameras (two broken, two well);
    # grid B: a grid of 何店村.
    grid_a = next(g for g, cs in by_grid.items() if g.startswith(VILLAGE_A) and len(cs) >= 4)
    grid_b = next(g for g, cs in by_grid.items() if g.startswith(VILLAGE_B) and len(cs) >= 2)
    settings = Settings(
        store=StoreSettings(data_dir=workdir / "data"),
        mqtt=MqttSettings(url="mqtt://127.0.0.1:1", root="gb"),  # replaced by the broker's
        probe=ProbeSettings(interval_s=1, timeout_s=0.5, offline_after=2, online_after=1),
        frames=FrameSettings(interval_s=10, frozen_gap_s=1.1, confirm_s=1, timeout_s=8),
        # Orders after 2 s of a fault; 修复 is verified well before verify_timeout_s.
        workorders=WorkOrderSettings(debounce_s=2, verify_timeout_s=120),
        http=HttpSettings(listen=f"127.0.0.1:{free_port()}"),
    )
    site = Site(
        url=f"http://{settings.http.listen}",
        data_dir=workdir / "data",
        cameras=cameras,
        grid_a=grid_a,
        grid_b=grid_b,
        down=by_grid[grid_a][0],
        black=by_grid[grid_a][1],
        healthy=by_grid[grid_a][2],
        crew_camera=by_grid[grid_b][0],
        names=_cell_names(),
    )
    return site, settings


async def _prepare(settings: Settings, site: Site, inventory: Path) -> None:
    async with build_store(settings) as store:
        await load_grid(store, settings, DISTRICT / "grid.geojson")
        await import_inventory(store, settings, inventory)
        users = [(ADMIN, Role.ADMIN, None), (OPERATOR, Role.OPERATOR, site.grid_a),
                 (CREW, Role.CREW, None)]  # fmt: skip
        for name, role, scope in users:
            hashed = await asyncio.to_thread(hash_password, PASSWORDS[name])
            await store.add_user(User(name, role, scope, False, utcnow()), hashed)


class DaemonThread:
    """Mosquitto, the simulator and the daemon, on an event loop in a thread of their own."""

    def __init__(self, site: Site, settings: Settings, workdir: Path) -> None:
        self.site = site
        self.settings = settings
        self.workdir = workdir
        self.started = threading.Event()
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="browser-daemon", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self.started.wait(READY_TIMEOUT_S):
            raise AssertionError(f"the daemon did not start within {READY_TIMEOUT_S:.0f} s")
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        loop, stop = self.site.loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(STOP_TIMEOUT_S + 10)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported to the test session by start()
            self.error = exc
            log.exception("the browser tests' daemon failed")
        finally:
            self.started.set()

    async def _run(self) -> None:
        self.site.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        (self.workdir / "broker").mkdir()
        broker = MosquittoProcess(self.workdir / "broker")
        await broker.start()
        try:
            settings = self.settings.model_copy(
                update={"mqtt": MqttSettings(url=broker.url, root="gb")}
            )
            await _prepare(settings, self.site, self.workdir / "cameras.csv")
            faults = {self.site.black.id: "black"}
            async with Simulator(
                load_inventory(self.workdir / "cameras.csv"), faults=faults
            ) as sim:
                self.site.simulator = sim
                stop_daemon = asyncio.Event()
                daemon = Daemon(settings)
                run = asyncio.create_task(daemon.run(stop_daemon), name="daemon")
                ready = asyncio.create_task(daemon.ready.wait())
                await asyncio.wait({run, ready}, return_when=asyncio.FIRST_COMPLETED)
                if run.done():
                    ready.cancel()
                    await run  # raises the start-up error
                    raise RuntimeError("the daemon ended at start")
                self.started.set()
                try:
                    await self._stop.wait()
                finally:
                    stop_daemon.set()
                    await asyncio.wait_for(run, STOP_TIMEOUT_S)
        finally:
            await broker.stop()


def _settle(site: Site) -> None:
    """Wait until the daemon has a thumbnail of every camera, then break the down cameras
    (their orders get a before-picture) and wait for their states and orders."""
    cams = site.cameras
    wait_for(
        lambda: all(f["thumbnail_url"] for f in site.camera_facts().values()),
        READY_TIMEOUT_S,
        "a thumbnail of every camera",
    )
    assert site.simulator is not None
    sim = site.simulator
    site.call(lambda: sim.set_faults({site.down.id: "down", site.crew_camera.id: "down"}))

    def settled() -> bool:
        facts = site.camera_facts()
        states = {c: facts[c]["state"] for c in cams}
        return (
            states[site.down.id] == "offline"
            and states[site.crew_camera.id] == "offline"
            and states[site.black.id] == "degraded"
            and site.order_of(site.down) is not None
            and site.order_of(site.crew_camera) is not None
        )

    wait_for(settled, READY_TIMEOUT_S, "the faults seen and their orders opened")


@contextlib.contextmanager
def running_site(workdir: Path) -> Iterator[Site]:
    """The running daemon with its faults seen and its orders open (see the module)."""
    site, settings = _site(workdir)
    thread = DaemonThread(site, settings, workdir)
    started = time.monotonic()
    try:
        thread.start()
        _settle(site)
        log.info("browser tests' daemon ready in %.1f s", time.monotonic() - started)
        yield site
    finally:
        thread.stop()
