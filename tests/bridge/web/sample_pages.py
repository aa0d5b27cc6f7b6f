"""Sample pages built from base.html and the macros, with made-up data: what the tests
check, and what a person looks at in a browser (``python tests/bridge/web/sample_pages.py``
serves them on 127.0.0.1 for screenshots).  Not the real page handlers (issue 7, next round).
"""

from __future__ import annotations

import io
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.geojson import read_grid_file
from adapters.inventory_file import read_table
from bridge.grid import GridIndex, validate_cells
from bridge.inventory import validate_rows
from bridge.inventory_columns import resolve_columns
from bridge.mapping import link_cameras
from bridge.model import CameraState, CameraView, GridCell, Mapping
from bridge.web import static_files, templating
from bridge.web.context import PRINCIPAL_KEY
from bridge.web.map_svg import MapPoint
from bridge.web.principal import Principal, Role
from bridge.workorders.model import Order, OrderKind, Priority, Step, StepRecord

DEMO = Path(__file__).resolve().parents[3] / "bridge" / "demo" / "district"
NOW = datetime(2026, 11, 27, 6, 30, tzinfo=UTC)  # 14:30 in China

GRID_PAGE = """{% extends "base.html" %}
{% import "macros.html" as ui with context %}
{% block title %}{{ grid_name }}{% endblock %}
{% block breadcrumb %}{{ ui.breadcrumb([(t("map.district"), "/grid"),
   ("东关街道", "/grid/419901001"), ("陈桥社区", "/grid/419901001001"),
   (grid_name, none)]) }}{% endblock %}
{% block content %}
{{ ui.counts_bar(counts, rate) }}
<div class="actions">
{{ ui.link_button(t("nav.map"), "/map/419901001001", kind="secondary", icon_name="map") }}
{{ ui.post_button(t("btn.refresh_picture"), "/grid/x/refresh", icon_name="refresh",
                  confirm=t("confirm.refresh_picture")) }}</div>
<h2>{{ t("camera.count", n=cameras | length) }}</h2>
<ul class="cards">
{% for cam in cameras %}<li>{{ ui.camera_card(cam, thumb_url=thumbs.get(cam.id)) }}</li>
{% endfor %}</ul>
{% endblock %}
"""

ORDERS_PAGE = """{% extends "base.html" %}
{% import "macros.html" as ui with context %}
{% block title %}{{ t("nav.orders") }}{% endblock %}
{% block content %}
<ul class="cards">
{% for o in orders %}<li>{{ ui.order_card(o.order, place=o.place, cameras=o.cameras,
  before_url=o.before, may_act=principal.may_act_on_orders) }}</li>
{% endfor %}</ul>
{% endblock %}
"""

MAP_PAGE = """{% extends "base.html" %}
{% import "macros.html" as ui with context %}
{% block title %}{{ t("map.title") }}{% endblock %}
{% block content %}
{{ ui.map_legend() }}
<div class="map">{{ map }}</div>
{% if map.off_map %}
<p class="muted">{{ t("camera.not_on_map", n=map.off_map | length) }}</p>
{% endif %}
{% endblock %}
"""

NAMES = [
    ("陈桥社区东门", "东关街道陈桥社区东门岗亭旁"),
    ("郭塘村渡口2号", "示范区郭塘村渡口"),
    ("赵营村桥头<b>", "示范区赵营村桥头 & 路口"),
    ("张塘社区北广场球机", "张塘社区北广场灯杆"),
    ("陈桥小学南门", "陈桥小学南门对面"),
    ("农贸市场入口", ""),
]


def cameras() -> list[CameraView]:
    states = [
        (CameraState.OFFLINE, ("unreachable",), timedelta(hours=3)),
        (CameraState.DEGRADED, ("blur", "too_dark", "too_bright"), timedelta(minutes=25)),
        (CameraState.DEGRADED, ("occluded",), timedelta(days=2)),
        (CameraState.UNKNOWN, (), timedelta(seconds=20)),
        (CameraState.ONLINE, (), timedelta(days=40)),
        (CameraState.ONLINE, (), timedelta(hours=30)),
    ]
    out = []
    for i, ((name, place), (state, faults, ago)) in enumerate(zip(NAMES, states, strict=True)):
        out.append(
            CameraView(
                id=f"4199010001132600000{i + 1}",
                name=name,
                host=None,
                grids=("419901001001001",),
                mapping=Mapping.COORDINATES,
                state=state,
                faults=faults,
                since=NOW - ago,
                checked_at=NOW,
                key_location=i in (0, 3),
                upstream_id=None,
                vendor="",
                model="",
                address=place,
                lon_wgs84=None,
                lat_wgs84=None,
            )
        )
    return out


def order(i: int, step: Step, late: bool, key: bool) -> Order:
    opened = NOW - timedelta(hours=5 + i)
    return Order(
        id=f"WO-20261127-{i:04d}",
        kind=OrderKind.NETWORK if i % 2 == 0 else OrderKind.PICTURE,
        priority=Priority.KEY if key else Priority.NORMAL,
        state=step,
        camera_ids=(f"4199010001132600000{i}",),
        upstream=None,
        faults=("unreachable",) if i % 2 == 0 else ("blur", "occluded"),
        opened_at=opened,
        respond_by=opened + timedelta(hours=2 if late else 8),
        repair_by=opened + timedelta(hours=4 if late else 24),
        closed_at=None,
        self_recovered=False,
        repeats=0,
        missed=("respond",) if late else (),
        before_evidence=None,
        after_evidence=None,
        episode_keys=("k",),
        steps=(StepRecord(Step.OPEN, opened, "system", ""),),
        version=1,
    )


def orders() -> list[dict[str, Any]]:
    return [
        {"order": order(1, Step.OPEN, True, True), "place": "陈桥社区东门岗亭旁",
         "cameras": ["陈桥社区东门"], "before": "/sample/thumb/1.jpg"},
        {"order": order(2, Step.ACCEPTED, False, False), "place": "示范区郭塘村渡口",
         "cameras": ["郭塘村渡口2号"], "before": "/sample/thumb/2.jpg"},
        {"order": order(3, Step.ON_SITE, False, False), "place": "",
         "cameras": ["农贸市场入口"], "before": None},
    ]  # fmt: skip


def demo_district(seed: int = 7) -> tuple[list[GridCell], list[MapPoint]]:
    """The demo district's grid cells and its cameras, read and linked as the importer
    does (GCJ-02 rows converted to WGS-84), with made-up states: 85 % online."""
    cells, problems = validate_cells(read_grid_file(DEMO / "grid.geojson"))
    assert not problems
    index = GridIndex(cells)
    table = read_table(DEMO / "cameras.csv")
    records, _ = validate_rows(table, resolve_columns(table.headers), known_grids=index.codes)
    linked = link_cameras(records, index)
    rng = random.Random(seed)
    faults_of = {"online": (), "degraded": ("blur",), "offline": ("unreachable",), "unknown": ()}
    points = []
    for rec in records:
        state = rng.choices(["online", "degraded", "offline", "unknown"], [85, 6, 6, 3])[0]
        grids = tuple(link.grid_code for link in linked.links.get(rec.id, []))
        points.append(
            MapPoint(rec.id, rec.name, state, rec.lon_wgs84, rec.lat_wgs84, grids, faults_of[state])
        )
    return cells, points


def jpeg(seed: int) -> bytes:
    """A made-up 320×180 street-ish picture."""
    import cv2
    import numpy as np

    rng = random.Random(seed)
    img = np.zeros((180, 320, 3), np.uint8)
    sky = (rng.randint(150, 220), rng.randint(140, 200), rng.randint(90, 140))
    img[:90] = sky
    img[90:] = (90, 100, 105)
    for _ in range(6):
        x = rng.randint(0, 280)
        h = rng.randint(30, 80)
        cv2.rectangle(img, (x, 90 - h), (x + rng.randint(20, 50), 90), (60, 70, 80 + h), -1)
    cv2.line(img, (0, 150), (320, 120), (200, 200, 200), 3)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return bytes(io.BytesIO(buf.tobytes()).getbuffer())


def principal_for(request: web.Request) -> Principal:
    role = Role(request.query.get("role", "operator"))
    return Principal("王秀兰", role, "419901001001")


def app(map_svg: Any = None) -> web.Application:
    env = templating.environment()

    def page(source: str, **context: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            if request.query.get("anon") != "1":
                request[PRINCIPAL_KEY] = principal_for(request)
            request[templating.CSRF_KEY] = "csrf-sample-token"
            return templating.render(request, env.from_string(source), now=NOW, **context)

        return handler

    async def thumb(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 4:
            raise web.HTTPNotFound()  # a camera with no picture yet
        return web.Response(body=jpeg(n), content_type="image/jpeg")

    async def error(request: web.Request) -> web.Response:
        request[PRINCIPAL_KEY] = principal_for(request)
        return templating.error_page(request, int(request.match_info["code"]), now=NOW)

    cams = cameras()
    thumbs = {c.id: f"/sample/thumb/{i + 1}.jpg" for i, c in enumerate(cams) if i != 5}
    application = web.Application()
    static_files.setup(application)
    application.router.add_get(
        "/sample/grid",
        page(GRID_PAGE, grid_name="陈桥社区第1网格", cameras=cams, thumbs=thumbs,
             counts={"online": 2, "degraded": 2, "offline": 1, "unknown": 1}, rate=0.4),
    )  # fmt: skip
    application.router.add_get("/sample/orders", page(ORDERS_PAGE, orders=orders()))
    if map_svg is not None:
        application.router.add_get("/sample/map", page(MAP_PAGE, map=map_svg))
    application.router.add_get("/sample/thumb/{n}.jpg", thumb)
    application.router.add_get("/sample/error/{code}", error)
    return application


def main() -> None:
    """A throwaway server for screenshots: ``/sample/grid``, ``/sample/orders``,
    ``/sample/map?root=CODE``, ``/sample/error/404``; ``?role=crew``, ``?lang=en``."""
    from bridge.web.map_svg import render_map

    cells, points = demo_district()
    root = sys.argv[2] if len(sys.argv) > 2 else None
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    web.run_app(app(render_map(cells, points, root=root)), host="127.0.0.1", port=port)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    main()
