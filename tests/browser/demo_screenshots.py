"""Screenshots of a running ``gridbridge demo`` for the README (a manual tool, not a test).

    .venv/bin/gridbridge demo --keep /tmp/demo --no-browser &      # wait ~3 minutes: pictures
    .venv/bin/python -m tests.browser.demo_screenshots http://127.0.0.1:8080 \\
        admin "$(cat /tmp/demo/admin.password)" docs/screenshots

Takes ``grid.png`` (a grid with cameras in most states, with their pictures, the whole
page at 1280 px wide) and ``orders-phone.png`` (a crew's order list on a 390×844 phone, as the admin
sees it) with the same headless Chromium as the browser tests.
"""

from __future__ import annotations

import base64
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selenium.webdriver.common.by import By

from tests.browser.ui import DESKTOP, PHONE, chrome, images_loaded, log_in

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

_CAMERAS_JS = """
const done = arguments[arguments.length - 1];
(async () => {
  const all = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await (await fetch(`/api/cameras?limit=1000&offset=${offset}`)).json();
    all.push(...page.cameras);
    if (all.length >= page.total || page.cameras.length === 0) { return all; }
  }
})().then(done, e => done([]));
"""


def broken_grid(cameras: list[dict[str, Any]]) -> str:
    """A grid showing the most: cameras in most states, then the most broken ones, among
    grids whose cameras all have their pictures (but those offline, which may never have
    had one)."""
    pictured: dict[str, bool] = {}
    states: dict[str, set[str]] = {}
    broken: Counter[str] = Counter()
    for cam in cameras:
        for grid in cam["grids"]:
            has = bool(cam["thumbnail_url"]) or cam["state"] == "offline"
            pictured[grid] = pictured.get(grid, True) and has
            states.setdefault(grid, set()).add(cam["state"])
            broken[grid] += cam["state"] in ("offline", "degraded")
    ranked = sorted(
        (g for g in broken if pictured[g] and broken[g]),
        key=lambda g: (len(states[g]), broken[g]),
        reverse=True,
    )
    if not ranked:
        raise SystemExit("no grid with broken cameras and pictures yet: wait for the pictures")
    return ranked[0]


def full_page(driver: WebDriver, path: Path, max_height: int = 1600) -> None:
    """The whole page (up to ``max_height`` CSS pixels), not just the window."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], max_height)}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True, "clip": {**clip, "scale": 1}},
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    print(path)


def main(url: str, user: str, password: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    driver = chrome(DESKTOP, phone=False)
    try:
        log_in(driver, url, user, password, path="/grid")
        cameras = driver.execute_async_script(_CAMERAS_JS)
        grid = broken_grid(cameras)
        driver.get(f"{url}/grid/{grid}")
        images_loaded(driver, ".camera-card img")
        full_page(driver, out / "grid.png")
    finally:
        driver.quit()
    phone = chrome(PHONE, phone=True)
    try:
        log_in(phone, url, user, password, path="/orders")
        if phone.find_elements(By.CSS_SELECTOR, ".order-card .evidence img"):
            images_loaded(phone, ".order-card .evidence img")
        phone.save_screenshot(str(out / "orders-phone.png"))
        print(out / "orders-phone.png")
    finally:
        phone.quit()


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    main(sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], Path(sys.argv[4]))
