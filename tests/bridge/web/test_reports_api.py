"""``GET /api/reports/online-rate`` (+ ``.svg``): a real store holding a known day, the
report routes in a small aiohttp app on loopback with a test-only login; scoping (an
operator of grid A never sees grid B), the numbers, the downloads, the chart, 400s."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pytest
from aiohttp import web

from bridge.bus.topics import Topics
from bridge.fleet import Fleet
from bridge.secretbox import SecretBox
from bridge.settings import Settings, StoreSettings
from bridge.store import Store, sqlite_url
from bridge.web import reports_api
from bridge.web.app_context import CONTEXT, WebContext
from bridge.web.context import set_principal
from bridge.web.directory import CameraDirectory
from bridge.web.principal import Principal, Role
from tests.bridge.reports.district import (
    ADDED,
    GRID_A,
    GRID_B,
    NAMES,
    TOWN,
    VILLAGE_A,
    VILLAGE_B,
    H,
    fill,
)

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
URL = "/api/reports/online-rate"
DAY = {"from": "2026-11-01", "to": "2026-11-01"}
WHO = "X-Test-Principal"  # read by the test login below only

Get = Callable[..., Awaitable[tuple[int, dict[str, str], bytes]]]


def header_login() -> Any:
    @web.middleware
    async def login(request: web.Request, handler: Any) -> web.StreamResponse:
        raw = request.headers.get(WHO)
        if raw:
            role, _, scope = raw.partition(":")
            set_principal(request, Principal(f"{role}-user", Role(role), scope or None))
        return await handler(request)

    return login


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[web.Application, Get]]:
    async with Store(
        sqlite_url(tmp_path), SecretBox(SecretBox.generate_key()), now=lambda: ADDED
    ) as store:
        await fill(store)
        ctx = WebContext(
            settings=Settings(store=StoreSettings(data_dir=tmp_path)),
            store=store,
            directory=CameraDirectory(Fleet(Topics("gb"))),
            now=lambda: NOW,
        )
        application = web.Application(middlewares=[header_login()])
        application[CONTEXT] = ctx
        reports_api.feature(application)
        runner = web.AppRunner(application)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession(f"http://{host}:{port}") as session:

            async def get(
                path: str, who: str | None = "admin", **query: str
            ) -> tuple[int, dict[str, str], bytes]:
                headers = {WHO: who} if who else {}
                async with session.get(path, params=query, headers=headers) as resp:
                    return resp.status, dict(resp.headers), await resp.read()

            try:
                yield application, get
            finally:
                await runner.cleanup()


async def report(get: Get, who: str = "admin", **query: str) -> dict[str, Any]:
    status, _, body = await get(URL, who, **query)
    assert status == 200, body
    data: dict[str, Any] = json.loads(body)
    return data


async def test_admin_gets_every_area_with_exact_numbers(app: tuple[Any, Get]) -> None:
    _, get = app
    data = await report(get, by="grid", **DAY)
    assert [(r["rank"], r["code"], r["monitored_s"], r["online_s"], r["intact_s"])
            for r in data["rows"]] == [
        (1, GRID_A, 48 * H, 22 * H, 21 * H),
        (2, GRID_B, 48 * H, 24 * H, 24 * H),
        (3, "_", 12 * H, 12 * H, 12 * H),
    ]  # fmt: skip
    assert data["totals"][0]["cameras"] == 4
    per_day = await report(get, by="township", per="day", rank="intact", **DAY)
    assert [(r["code"], r["period"]) for r in per_day["rows"]] == [
        (TOWN, "2026-11-01"),
        ("_", "2026-11-01"),
    ]
    assert per_day["metric"] == "intact"


@pytest.mark.parametrize(
    ("scope", "by", "codes", "cameras"),
    [
        (GRID_A, "grid", [GRID_A], 2),
        (GRID_A, "village", [], 0),  # the village holds other grids' cameras
        (GRID_A, "township", [], 0),
        (VILLAGE_B, "grid", [GRID_B], 2),
        (VILLAGE_B, "village", [VILLAGE_B], 2),
        (TOWN, "grid", [GRID_A, GRID_B], 3),
        (TOWN, "township", [TOWN], 3),
        ("nowhere", "grid", [], 0),
    ],
)
async def test_an_operator_sees_only_its_subtree(
    app: tuple[Any, Get], scope: str, by: str, codes: list[str], cameras: int
) -> None:
    _, get = app
    data = await report(get, f"operator:{scope}", by=by, **DAY)
    assert [r["code"] for r in data["rows"]] == codes
    assert data["totals"][0]["cameras"] == cameras


async def test_grid_b_never_reaches_an_operator_of_grid_a(app: tuple[Any, Get]) -> None:
    _, get = app
    who = f"operator:{GRID_A}"
    for query in ({"format": "json"}, {"format": "csv"}, {"format": "xlsx"}):
        status, _, body = await get(URL, who, by="grid", per="day", **DAY, **query)
        assert status == 200
        if query["format"] == "xlsx":
            sheet = openpyxl.load_workbook(io.BytesIO(body))["在线率"]
            body = repr([[c.value for c in row] for row in sheet.iter_rows()]).encode()
        for secret in (GRID_B, NAMES[GRID_B], "未关联网格"):
            assert secret.encode() not in body
    status, _, body = await get(URL + ".svg", who, by="grid", **DAY)
    assert status == 200
    assert NAMES[GRID_B].encode() not in body


async def test_crews_and_strangers_get_no_report(app: tuple[Any, Get]) -> None:
    _, get = app
    status, _, body = await get(URL, "crew", by="grid", **DAY)
    assert status == 403
    assert b"reports are for admins and operators" in body
    status, _, _ = await get(URL + ".svg", None, by="grid", **DAY)
    assert status == 401


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"by": "grid", "from": "2026-11-31", "to": "2026-12-01"}, "from: '2026-11-31'"),
        ({"by": "grid", "to": "2026-12-01"}, "from: missing"),
        ({"by": "grid", "from": "20261101", "to": "2026-11-02"}, "from: '20261101'"),
        ({"by": "grid", "from": "2026-11-02", "to": "2026-11-01"}, "before it begins"),
        ({"by": "grid", "from": "2025-01-01", "to": "2026-01-02"}, "367 days; at most 366"),
        ({"by": "grid", "from": "2026-11-28", "to": "2026-11-30"}, "has not begun yet"),
        ({"by": "street", **DAY}, "by: 'street'; one of township, village, grid"),
        ({**DAY}, "by: missing"),
        ({"by": "grid", "per": "week", **DAY}, "per: 'week'"),
        ({"by": "grid", "format": "pdf", **DAY}, "format: 'pdf'"),
        ({"by": "grid", "rank": "best", **DAY}, "rank: 'best'"),
    ],
)
async def test_bad_parameters_are_400(
    app: tuple[Any, Get], query: dict[str, str], message: str
) -> None:
    _, get = app
    status, headers, body = await get(URL, "admin", **query)
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    assert message in body.decode()


async def test_downloads(app: tuple[Any, Get]) -> None:
    _, get = app
    status, headers, body = await get(URL, "admin", by="village", format="csv", **DAY)
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "online-rate-village-total-2026-11-01-2026-11-01.csv" in headers["Content-Disposition"]
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[1][1:3] == [VILLAGE_A + "\t", NAMES[VILLAGE_A]]
    assert rows[1][-2:] == ["45.83%", "43.75%"]
    status, headers, body = await get(URL, "admin", by="grid", format="xlsx", **DAY)
    assert status == 200
    assert headers["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(body))["在线率"]
    assert sheet.cell(row=2, column=2).value == GRID_A
    assert sheet.cell(row=2, column=11).value == 22 / 48


async def test_the_chart(app: tuple[Any, Get]) -> None:
    _, get = app
    status, headers, body = await get(URL + ".svg", "admin", by="grid", limit="2", **DAY)
    assert status == 200
    assert headers["Content-Type"].startswith("image/svg+xml")
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    text = body.decode()
    assert "东村&lt;一&gt;网格 &amp; &#x27;A&#x27;" in text  # the name, escaped
    root = ET.fromstring(body)
    assert root.get("width") == "800"
    shown = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "45.8%" in shown  # grid A: 22 h of 48, worst first
    assert "50.0%" in shown
    assert "100.0%" not in shown[5:]  # the unmapped row is past the limit of 2 bars
    for bad in ("0", "501", "x"):
        status, _, body = await get(URL + ".svg", "admin", by="grid", limit=bad, **DAY)
        assert status == 400
        assert b"limit" in body


async def test_one_report_at_a_time(
    app: tuple[web.Application, Get], monkeypatch: pytest.MonkeyPatch
) -> None:
    application, get = app
    monkeypatch.setattr(reports_api, "WAIT_S", 0.2)
    gate = application[reports_api.REPORT_GATE]
    await gate.acquire()  # a report being computed
    try:
        status, headers, body = await get(URL, "admin", by="grid", **DAY)
        assert status == 503
        assert headers["Retry-After"] == "10"
        assert b"another report is being computed" in body
        # Bad dates are told at once, not after the wait.
        status, _, _ = await get(URL, "admin", by="grid", **{"from": "2026-11-02", "to": "x"})
        assert status == 400
    finally:
        gate.release()
    # A request that comes while one is computed waits for it.
    await gate.acquire()
    waiting = asyncio.create_task(get(URL, "admin", by="grid", **DAY))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    gate.release()
    status, _, _ = await waiting
    assert status == 200
