"""`gridbridge demo [--cameras N]`: everything on this machine, in one command.

The sample district's grid map and camera list (or N cameras generated inside its grid
cells), served by the simulator on 127.20.x.y loopback addresses with a handful of faults, an
embedded MQTT broker, SQLite in a temporary directory, and the daemon checking and
publishing, with the web page on http://127.0.0.1:8080/ (or a free port) and an ``admin``
login.  The banner prints the page's address and login first; on a desktop the page opens
in the browser (`open_browser`: never on a server without a display, never a text-mode
browser, not with ``--no-browser``).  Ctrl-C ends all of it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import math
import os
import random
import socket
import sys
import tempfile
import webbrowser
from pathlib import Path

from bridge.app import Daemon, install_signal_handlers
from bridge.bootstrap import build_store
from bridge.bus.topics import Topics, path_of
from bridge.demo.login import ADMIN, demo_admin
from bridge.grid import GridIndex
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
from bridge.simulator import ShardedSimulator, Simulator, load_inventory
from bridge.url_credentials import url_path

log = logging.getLogger(__name__)

DISTRICT = Path(__file__).resolve().parent / "district"
DEMO_INTERVAL_S = 10.0  # livelier than the 30 s default, still cheap
HIGH_RTSP_PORT, HIGH_ONVIF_PORT = 10554, 10080  # without root, ports below 1024 are refused
DEMO_FAULTS = (
    "down", "auth_fail", "rtsp_500", "no_video_track", "clock_drift", "flapping",
    "black", "frozen", "blur", "occluded", "no_signal", "color_cast",
)  # fmt: skip
# Every camera's picture within three minutes (the daemon's default is 15); the simulator
# renders each street once, then ~8 ms a second per camera looked at.  A look takes at least
# frames.frozen_gap_s (2 s) for its two pictures, so the default 4 looks at once get through
# 2 cameras a second — 10 minutes for the sample district: the demo looks at more at once.
DEMO_FRAMES_INTERVAL_S = 180.0
LOOK_S = 2.5  # one look: two pictures frozen_gap_s apart, and their diagnosis
DEMO_DEBOUNCE_S = 60.0
DEMO_HTTP = "127.0.0.1:8080"
FAULT_SHARE = 0.03
CAMERAS_PER_PROCESS = 8000  # the simulator's sockets per process stay under the fd limit


def _rows(cameras: int | None, rtsp_port: int, onvif_port: int) -> str:
    """The inventory CSV for the demo: the sample list, or ``cameras`` rows made from it."""
    with (DISTRICT / "cameras.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    if cameras is not None:
        body = _generate(body, col, cameras)
    for row in body:
        row[col["RTSP端口"]], row[col["ONVIF端口"]] = str(rtsp_port), str(onvif_port)
        url, host = row[col["RTSP地址"]], row[col["IP地址"]]
        if url.startswith("rtsp://") and host:
            # Credentials stay in the 用户名/密码 columns; the URL names the demo's port.
            row[col["RTSP地址"]] = f"rtsp://{host}:{rtsp_port}{url_path(url)}"
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(body)
    return out.getvalue()


def _generate(body: list[list[str]], col: dict[str, int], n: int) -> list[list[str]]:
    """``n`` cameras: the sample rows repeated with new IDs, addresses and names."""
    good = [r for r in body if len(r[col["设备编码"]]) == 20 and r[col["经度"]]]
    out = []
    seen: set[str] = set()
    for i in range(n):
        row = list(good[i % len(good)])
        serial = f"{i + 1:06d}"
        row[col["设备编码"]] = row[col["设备编码"]][:14] + serial
        if row[col["设备编码"]] in seen:
            continue
        seen.add(row[col["设备编码"]])
        host = f"127.{20 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
        row[col["IP地址"]] = host
        row[col["RTSP地址"]] = f"rtsp://{host}:554/Streaming/Channels/101"
        row[col["设备名称"]] = f"{row[col['设备名称']]}-{i + 1}"
        out.append(row)
    return out


def demo_http(wanted: str = DEMO_HTTP) -> str:
    """``wanted`` when it can be bound, else a free loopback port (a second demo, or another
    program on 8080, must not cost the first its API)."""
    host, _, port = wanted.rpartition(":")
    with socket.socket() as probe:
        try:
            probe.bind((host, int(port)))
            return wanted
        except OSError:
            probe.bind((host, 0))
            return f"{host}:{probe.getsockname()[1]}"


def demo_settings(workdir: Path, http: str = DEMO_HTTP, cameras: int = 1200) -> Settings:
    # Enough looks at once to see every camera within the interval (4 to 64).
    looks = min(64, max(4, math.ceil(cameras * LOOK_S / DEMO_FRAMES_INTERVAL_S)))
    return Settings(
        store=StoreSettings(data_dir=workdir / "data"),
        mqtt=MqttSettings(url=""),
        probe=ProbeSettings(interval_s=DEMO_INTERVAL_S, timeout_s=2.0),
        frames=FrameSettings(interval_s=DEMO_FRAMES_INTERVAL_S, concurrency=looks),
        # Orders sooner than in a district (180 s), so a demo shows them within minutes.
        workorders=WorkOrderSettings(debounce_s=DEMO_DEBOUNCE_S),
        http=HttpSettings(listen=demo_http(http)),
    )


def open_browser(url: str) -> bool:
    """Open ``url`` in the desktop's web browser, in the background; False when not opened.

    Only where a person sits at a screen: on Linux and BSD a graphical display must be
    there ($DISPLAY or $WAYLAND_DISPLAY) — a server reached over SSH gets the address in
    the banner instead.  Text-mode browsers (lynx, w3m, elinks, which Python's `webbrowser`
    falls back to) would take over the terminal the banner is printed in: never those."""
    if os.name == "posix" and sys.platform != "darwin":
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return False
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    if isinstance(browser, webbrowser.GenericBrowser) and not isinstance(
        browser, webbrowser.BackgroundBrowser
    ):
        return False  # a console browser, run in the foreground
    if isinstance(browser, webbrowser.UnixBrowser) and not browser.background:
        return False  # elinks and the like
    try:
        return bool(browser.open(url, new=2))
    except (OSError, webbrowser.Error) as exc:
        log.info("could not open the web page in a browser: %s", exc)
        return False


async def run_demo(
    cameras: int | None,
    keep: Path | None = None,
    *,
    http: str = DEMO_HTTP,
    browser: bool = True,
) -> int:
    """Run the demo until Ctrl-C; returns the exit code.  ``http``: the web page's address
    (another free port when it is taken); ``browser``: open the page on a desktop."""
    workdir = keep or Path(tempfile.mkdtemp(prefix="gridbridge-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
    rtsp_port, onvif_port = (554, 80) if root else (HIGH_RTSP_PORT, HIGH_ONVIF_PORT)
    inventory = workdir / "cameras.csv"
    rows = _rows(cameras, rtsp_port, onvif_port)
    inventory.write_text(rows, encoding="utf-8")
    settings = demo_settings(workdir, http, cameras=rows.count("\n") - 1)
    async with build_store(settings) as store:
        await load_grid(store, settings, DISTRICT / "grid.geojson")
        report = await import_inventory(store, settings, inventory)
        index = GridIndex(await store.load_grid())
        views = await store.list_cameras()
        password = await demo_admin(store, workdir)  # kept across --keep runs
    sim_cameras = load_inventory(inventory)
    rnd = random.Random(7)  # noqa: S311 (which cameras get faults: no secret)
    faulty = rnd.sample(sim_cameras, max(1, int(len(sim_cameras) * FAULT_SHARE)))
    faults = {c.id: DEMO_FAULTS[i % len(DEMO_FAULTS)] for i, c in enumerate(faulty)}
    # The banner's example request names a camera without faults: its picture comes back.
    example = next((v for v in views if v.grids and v.id not in faults), None)
    request_topic = ""
    if example is not None:
        grid = example.grids[0]
        path = path_of(grid, index.ancestors(grid))
        request_topic = Topics(settings.mqtt.root).request(path, example.id)
    stop = asyncio.Event()
    install_signal_handlers(stop)
    shards = -(-len(sim_cameras) // CAMERAS_PER_PROCESS)
    simulator: Simulator | ShardedSimulator = (
        Simulator(sim_cameras, faults=faults)
        if shards <= 1
        else ShardedSimulator(inventory, sim_cameras, shards, faults=faults)
    )
    await simulator.start()
    try:
        daemon = Daemon(settings)
        task = asyncio.create_task(daemon.run(stop), name="daemon")
        ready = asyncio.create_task(daemon.ready.wait())
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            ready.cancel()
            await task  # raises the start-up error
            return 1
        page = f"http://{settings.http.listen}/"
        _banner(
            settings, daemon.broker_url or "", workdir, report.imported, len(faults),
            request_topic, password=password, opened=browser and open_browser(page),
        )  # fmt: skip
        await task
    finally:
        await simulator.close()
    return 0


def _banner(
    settings: Settings,
    url: str,
    workdir: Path,
    cameras: int,
    faults: int,
    request_topic: str,
    *,
    password: str,
    opened: bool = False,
) -> None:
    host_port = url.split("://", 1)[-1]
    host, _, port = host_port.rpartition(":")
    root = settings.mqtt.root
    sys.stdout.write(
        f"""
gridbridge demo is running — Ctrl-C ends it.

  web page    http://{settings.http.listen}/{"   (opened in your browser)" if opened else ""}
              登录: {ADMIN} / {password}
  cameras     {cameras} simulated cameras of the sample district (127.20.x.y), {faults} with faults
  checks      every {settings.probe.interval_s:.0f} s per camera (RTSP DESCRIBE + ONVIF)
  pictures    every {settings.frames.interval_s:.0f} s per camera (snapshot + diagnosis), kept in
              {workdir / "data" / "snapshots"}
  orders      after {settings.workorders.debounce_s:.0f} s of a fault, announced on the bus;
              crews' API http://{settings.http.listen}/api/workorders
  MQTT broker {url} (embedded, no login)
  data        {workdir}

Watch the bus (every status is retained, so you see all cameras at once):

  mosquitto_sub -h {host} -p {port} -t '{root}/grid/#' -v

One township only (东关街道), or one camera's status:

  mosquitto_sub -h {host} -p {port} -t '{root}/grid/419901001/#' -v
  mosquitto_sub -h {host} -p {port} -t '{root}/grid/+/+/+/camera/41990100011326000001/status'

Ask for a camera's picture now (the thumbnail comes on its snapshot topic):

  mosquitto_sub -h {host} -p {port} -t '{request_topic.removesuffix("/request")}/#' -v &
  mosquitto_pub -h {host} -p {port} -t '{request_topic}' \\
      -m '{{"action": "snapshot", "id": "1"}}'

The topic tree:  {root}/bridge/state
                 {root}/grid/{{township}}/{{village}}/{{grid}}/camera/{{id}}/status
                 {root}/grid/{{township}}/{{village}}/{{grid}}/camera/{{id}}/snapshot
                 {root}/grid/{{township}}/{{village}}/{{grid}}/camera/{{id}}/request, …/response
                 {root}/grid/{{township}}[/{{village}}[/{{grid}}]]/summary
"""
    )
    sys.stdout.flush()
