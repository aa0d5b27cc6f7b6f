"""The operator pages' test site: the demo district in a real SQLite store, the real fleet,
directory, snapshot store and work-order desk, the real login (`bridge.web.auth`) with users
made through the store, served by the real `WebServer` on 127.0.0.1.

States are made up (most cameras online, some broken, a few never checked), pictures are
drawn for the cameras of 陈桥社区 (but one), camera ``a`` of grid A has a state history in the
transition log and an open work order.  Used by the tests (`site`) and, run as a script,
for screenshots: ``python tests/bridge/web/pages_support.py PORT DIR`` serves the site and
prints a session cookie per user.
"""

from __future__ import annotations

import asyncio
import random
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from yarl import URL

from bridge.model import CameraState
from bridge.secretbox import SecretBox
from bridge.settings import HttpSettings, Settings, StoreSettings
from bridge.snapshots import SnapshotStore
from bridge.store import Store, sqlite_url
from bridge.tracker import Transition
from bridge.users.model import Role, User
from bridge.users.passwords import hash_password
from bridge.web import cameras_api, pages
from bridge.web.app_context import WebContext
from bridge.web.auth import Auth
from bridge.web.server import Feature, WebServer
from bridge.workorder_desk import WorkOrderDesk
from health.verdict import CameraHealth
from tests.bridge.web.support import (
    GRID_A,
    GRID_B,
    T0,
    VILLAGE_A,
    District,
    free_port,
    load_district,
)

PASSWORD = "网格-Pass#2026"
NOW = T0 + timedelta(hours=5, minutes=30)  # 14:30 in China
USERS = {
    "admin": (Role.ADMIN, None),
    "op_a": (Role.OPERATOR, GRID_A),  # an operator of one grid
    "op_village": (Role.OPERATOR, VILLAGE_A),
    "op_b": (Role.OPERATOR, GRID_B),
    "crew": (Role.CREW, None),
}


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    base: str
    district: District
    desk: WorkOrderDesk
    clock: Monotonic
    a: str  # a camera of grid A: offline, pictures, a state history, an open order
    b: str  # a camera of grid B
    unmapped: str
    no_picture: str  # a camera of grid A without a picture
    no_address: str  # a camera whose recheck answers "not checked"
    app: list[web.Application] = field(default_factory=list)
    rechecks: list[str] = field(default_factory=list)


def picture(seed: int, width: int = 320, height: int = 180) -> bytes:
    """A made-up street-ish JPEG."""
    import cv2
    import numpy as np

    rng = random.Random(seed)
    img = np.zeros((180, 320, 3), np.uint8)
    img[:90] = (rng.randint(150, 220), rng.randint(140, 200), rng.randint(90, 140))
    img[90:] = (90, 100, 105)
    for _ in range(6):
        x, h = rng.randint(0, 280), rng.randint(30, 80)
        cv2.rectangle(img, (x, 90 - h), (x + rng.randint(20, 50), 90), (60, 70, 80 + h), -1)
    cv2.line(img, (0, 150), (320, 120), (200, 200, 200), 3)
    if (width, height) != (320, 180):
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buf.tobytes()


def _states(district: District, a: str, b: str) -> None:
    """Most cameras online, some degraded or offline, a few never checked; ``a`` and ``b``
    offline (网络不通)."""
    rng = random.Random(7)
    faults = {
        CameraState.OFFLINE: (("unreachable",), ("rtsp_error",), ("auth_failed",)),
        CameraState.DEGRADED: (("blur",), ("occluded",), ("too_dark", "frozen"), ("color_cast",)),
    }
    for cam in district.fleet.cameras():
        cid = cam.info.id
        state = rng.choices(
            [CameraState.ONLINE, CameraState.DEGRADED, CameraState.OFFLINE, CameraState.UNKNOWN],
            [85, 6, 6, 3],
        )[0]
        if cid in (a, b):
            state = CameraState.OFFLINE
        if state is CameraState.UNKNOWN:
            continue
        chosen = rng.choice(faults[state]) if state in faults else ()
        if cid in (a, b):
            chosen = ("unreachable",)
        at = NOW - timedelta(minutes=rng.randint(1, 60 * 24 * 40))
        if cid in (a, b):
            at = NOW - timedelta(hours=3)  # as its logged history says (`_history`)
        district.set_state(cid, state, chosen, at)


async def _history(store: Store, camera_id: str) -> None:
    """A state history in the log: never checked → online → degraded → online → offline."""
    steps = [
        (NOW - timedelta(days=3), CameraState.UNKNOWN, CameraState.ONLINE, ()),
        (NOW - timedelta(days=1, hours=2), CameraState.ONLINE, CameraState.DEGRADED, ("blur",)),
        (NOW - timedelta(hours=20), CameraState.DEGRADED, CameraState.ONLINE, ()),
        (NOW - timedelta(hours=3), CameraState.ONLINE, CameraState.OFFLINE, ("unreachable",)),
    ]
    for at, old, new, faults in steps:
        await store.record_transition(camera_id, at, old, new, faults, "test")


@asynccontextmanager
async def site(
    tmp_path: Path, *, extra: tuple[Feature, ...] = (), port: int | None = None
) -> AsyncIterator[Site]:
    settings = Settings(
        store=StoreSettings(data_dir=tmp_path / "data"),
        http=HttpSettings(listen=f"127.0.0.1:{port or free_port()}"),
    )
    async with Store(sqlite_url(tmp_path / "data"), SecretBox(SecretBox.generate_key())) as store:
        district = await load_district(settings, store)
        grid_a = district.cameras_in(GRID_A)
        a, no_picture, no_address = grid_a[0], grid_a[1], grid_a[2]
        b = district.cameras_in(GRID_B)[0]
        [unmapped] = district.unmapped()
        _states(district, a, b)
        await _history(store, a)
        snapshots = SnapshotStore(tmp_path / "snapshots")
        snapshots.open()
        for n, cid in enumerate([*district.cameras_in(VILLAGE_A), b, unmapped]):
            if cid == no_picture:
                continue
            for k in range(3 if cid == a else 1):
                at = NOW - timedelta(minutes=30 * (2 - k) + n)
                saved = snapshots.save(
                    cid, picture(n * 10 + k, 1280, 720), at, thumb=picture(n * 10 + k)
                )
            district.fleet.on_picture(cid, saved.thumb_sha256)
        desk = WorkOrderDesk(
            store, settings, town_of=lambda c: district.fleet.paths_of(c)[0].town,
            now=lambda: NOW,
        )  # fmt: skip
        await desk.load(await store.list_cameras())
        for cam in (a, b):
            at = NOW - timedelta(hours=3)
            down = Transition(cam, at, CameraState.UNKNOWN, CameraState.OFFLINE,
                              ("unreachable",), False, "no answer")  # fmt: skip
            await desk.on_transition(down, CameraHealth(CameraState.OFFLINE, ("unreachable",), ""))
        desk._take(desk.book.tick(NOW))
        await desk.flush()
        for name, (role, scope) in USERS.items():
            await store.add_user(User(name, role, scope, False, T0), hash_password(PASSWORD))
        clock = Monotonic()
        world = Site(
            f"http://{settings.http.listen}", district, desk, clock, a, b, unmapped,
            no_picture, no_address,
        )  # fmt: skip

        def recheck(camera_id: str) -> bool:
            world.rechecks.append(camera_id)
            return camera_id != no_address

        def keep_app(app: web.Application) -> None:
            world.app.append(app)

        ctx = WebContext(
            settings=settings, store=store, directory=district.directory, desk=desk,
            snapshots=snapshots, recheck=recheck, now=lambda: NOW, monotonic=clock,
        )  # fmt: skip
        auth = Auth()
        features: list[Feature] = [auth.feature, cameras_api.feature, pages.feature, keep_app]
        async with WebServer(ctx, middlewares=[auth.middleware], features=[*features, *extra]):
            yield world


def client() -> aiohttp.ClientSession:
    # Keep cookies of an IP address (127.0.0.1); follow no redirect unless asked.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(s: aiohttp.ClientSession, base: str, name: str) -> None:
    async with s.get(f"{base}/login") as r:
        m = re.search(r'name="csrf_token" value="([^"]+)"', await r.text())
        assert m is not None
    form = {"username": name, "password": PASSWORD, "csrf_token": m.group(1)}
    async with s.post(f"{base}/login", data=form, allow_redirects=False) as r:
        assert r.status == 303, await r.text()


@asynccontextmanager
async def signed_in(base: str, name: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with client() as s:
        await login(s, base, name)
        yield s


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def page(s: aiohttp.ClientSession, url: str, **kw: object) -> tuple[int, str]:
    async with s.get(url, headers=BROWSER, **kw) as r:  # type: ignore[arg-type]
        return r.status, await r.text()


async def _serve(port: int, tmp: Path) -> None:
    """For screenshots: the site on ``port`` with a stand-in live stream (pictures of the
    made-up street, no camera), a session cookie per user printed."""

    async def fake_live(request: web.Request) -> web.StreamResponse:
        if request.match_info["camera_id"].endswith("2"):
            body = (
                '{"error": "实时画面路数已满（最多 4 路），请稍后再试 / live view limit reached"}'
            )
            return web.Response(status=503, text=body, content_type="application/json")
        response = web.StreamResponse(
            headers={"Content-Type": "multipart/x-mixed-replace; boundary=f"}
        )
        await response.prepare(request)
        for n in range(600):
            jpeg = picture(n % 7, 640, 360)
            head = f"--f\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
            await response.write(head.encode() + jpeg + b"\r\n")
            await asyncio.sleep(0.2)
        return response

    def live(app: web.Application) -> None:
        app.router.add_get("/api/cameras/{camera_id}/live.mjpeg", fake_live)

    async with site(tmp, extra=(live,), port=port) as world:
        for name in USERS:
            async with client() as s:
                await login(s, world.base, name)
                cookie = s.cookie_jar.filter_cookies(URL(world.base))["gb_session"].value
                print(f"{name} gb_session={cookie}", flush=True)
        print(f"a={world.a} b={world.b} unmapped={world.unmapped}", flush=True)
        print(f"no_picture={world.no_picture}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    tmp = Path(sys.argv[2])
    tmp.mkdir(parents=True, exist_ok=True)
    asyncio.run(_serve(int(sys.argv[1]), tmp))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    main()
