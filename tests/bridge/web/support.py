"""Shared by the web tests: a test-only login middleware and the demo district loaded into a
real store, fleet and directory.

The login here is for tests only: it takes the principal from the ``X-Test-Principal``
header (``role`` or ``role:scope``) so each request says who asks.  The daemon's real login
is `bridge.web.auth`; nothing in ``bridge/`` reads this header.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from bridge.bus.topics import GridPath, Topics
from bridge.fleet import Fleet
from bridge.grid import GridIndex
from bridge.importer import import_inventory, load_grid
from bridge.model import CameraState
from bridge.settings import Settings
from bridge.store import Store
from bridge.tracker import Transition
from bridge.web.context import set_principal
from bridge.web.directory import CameraDirectory
from bridge.web.principal import Principal, Role

DEMO = Path(__file__).resolve().parents[3] / "bridge" / "demo" / "district"
HEADER = "X-Test-Principal"
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)

# Cells of the demo district (bridge/demo/district/grid.geojson).
TOWN_A = "419901001"  # 东关街道
VILLAGE_A = "419901001001"  # 陈桥社区
GRID_A = "419901001001001"  # 陈桥社区第1网格
GRID_A2 = "419901001001002"
TOWN_B = "419901002"
GRID_B = "419901002002002"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def who(role: str, scope: str | None = None) -> dict[str, str]:
    """Headers that make the test login sign the request in as ``role`` (of ``scope``)."""
    return {HEADER: f"{role}:{scope}" if scope else role}


class Clock:
    """A fake clock for `WebContext.now`: starts at ``T0``; a test moves ``now``."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def header_login(default: Principal | None = None) -> Middleware:
    """The test login: the principal the ``X-Test-Principal`` header names, else
    ``default`` (None: nobody is signed in)."""

    @web.middleware
    async def login(request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = request.headers.get(HEADER)
        principal = default
        if raw:
            role, _, scope = raw.partition(":")
            principal = Principal(f"{role}-user", Role(role), scope or None)
        if principal is not None:
            set_principal(request, principal)
        return await handler(request)

    return login


@dataclass
class District:
    """The demo district in a real store, and the fleet and directory the daemon would
    build from it."""

    settings: Settings
    store: Store
    fleet: Fleet
    directory: CameraDirectory
    index: GridIndex

    def cameras_in(self, code: str) -> list[str]:
        return sorted(c.info.id for c in self.fleet.cameras() if _reaches(c.paths, code))

    def unmapped(self) -> list[str]:
        return sorted(c.info.id for c in self.fleet.cameras() if c.paths[0].code is None)

    def set_state(
        self,
        camera_id: str,
        state: CameraState,
        faults: tuple[str, ...] = (),
        at: datetime = T0,
    ) -> None:
        old = self.fleet.state_of(camera_id)
        assert old is not None
        self.fleet.on_transition(Transition(camera_id, at, old, state, faults, False, "test"))


def _reaches(paths: tuple[GridPath, ...], code: str) -> bool:
    return any(code in (p.town, p.village, p.grid) for p in paths)


async def load_district(settings: Settings, store: Store) -> District:
    """Load the demo grid and inventory into ``store`` (as `gridbridge grid load` and
    `cameras import` do) and build the fleet and directory as the daemon does."""
    await load_grid(store, settings, DEMO / "grid.geojson")
    await import_inventory(store, settings, DEMO / "cameras.csv")
    index = GridIndex(await store.load_grid())
    views = await store.list_cameras()
    fleet = Fleet(Topics("gb"))
    fleet.load(views, index, T0)
    directory = CameraDirectory(fleet)
    directory.load(index, views)
    return District(settings, store, fleet, directory, index)
