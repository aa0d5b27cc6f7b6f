"""The browser side of the browser tests: Debian's headless Chromium through Selenium,
screenshots, and the few steps every test takes (log in, wait for a page).

Selenium is told where Chromium and chromedriver are (``/usr/bin/chromium``,
``/usr/bin/chromedriver``), so its Selenium Manager never downloads anything.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tests.support import peer_missing

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DESKTOP = (1280, 900)
PHONE = (390, 844)


def selenium_or_missing() -> None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            peer_missing(f"{path} not installed; apt-get install chromium chromium-driver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        peer_missing("selenium not installed; pip install -e '.[dev]'")


def chrome(size: tuple[int, int], phone: bool) -> WebDriver:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--lang=zh-CN", "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
        f"--window-size={size[0]},{size[1]}",
    ):  # fmt: skip
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if phone:
        # A phone of 390×844 CSS pixels (iPhone 12–14 size): touch, a phone's user agent.
        options.add_experimental_option(
            "mobileEmulation",
            {
                "deviceMetrics": {"width": size[0], "height": size[1], "pixelRatio": 2.0},
                "userAgent": (
                    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 "
                    "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
                ),
            },
        )
    # Both paths given: Selenium Manager (which would download a browser) is not used.
    service = Service(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(20)
    if not phone:
        driver.set_window_size(*size)
    return driver


def artifacts_dir() -> Path:
    return Path(os.environ.get("GRIDBRIDGE_ARTIFACTS") or REPO / "test-artifacts")


class Shots:
    """Screenshots of one test: ``<artifacts>/screenshots/<test>-<NN>-<step>.png``."""

    def __init__(self, test: str) -> None:
        self.test = re.sub(r"[^\w.-]+", "_", test)
        self.dir = self.folder()
        self.count = 0

    @staticmethod
    def folder() -> Path:
        return artifacts_dir() / "screenshots"

    def __call__(self, driver: WebDriver, step: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.count += 1
        path = self.dir / f"{self.test}-{self.count:02d}-{step}.png"
        driver.save_screenshot(str(path))
        return path


def wait(driver: WebDriver, timeout_s: float = 15.0) -> WebDriverWait[WebDriver]:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, poll_frequency=0.1)


def log_in(driver: WebDriver, base_url: str, user: str, password: str, path: str = "/") -> None:
    """Sign in through the real login form (asking for ``path`` first, as a person following
    a link would) and wait until the browser has left the login page."""
    from selenium.webdriver.common.by import By

    driver.get(base_url + path)
    wait(driver).until(lambda d: urlsplit(d.current_url).path == "/login")
    fill_login(driver, user, password)
    wait(driver).until(lambda d: urlsplit(d.current_url).path != "/login")
    assert driver.find_elements(By.CSS_SELECTOR, "form[action='/logout']"), "not signed in"


def fill_login(driver: WebDriver, user: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    name = driver.find_element(By.ID, "username")
    name.clear()
    name.send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()


def browser_log(driver: WebDriver) -> list[dict[str, object]]:
    """The console messages since the last call (Chromium's ``goog:loggingPrefs``)."""
    return list(driver.get_log("browser"))  # type: ignore[no-untyped-call]


def csp_violations(driver: WebDriver) -> list[str]:
    """Console messages about the Content-Security-Policy refusing something (an inline
    script or style, an outside asset): the pages must work under their strict CSP."""
    return [
        str(entry.get("message", ""))
        for entry in browser_log(driver)
        if "Content Security Policy" in str(entry.get("message", ""))
    ]


_IMAGE_JS = """
const img = arguments[0];
img.scrollIntoView({block: "center"});
return [img.getAttribute("src"), img.complete, img.naturalWidth];
"""


def images_loaded(driver: WebDriver, css: str, timeout_s: float = 15.0) -> list[int]:
    """Wait until every image matching ``css`` has loaded a picture, each scrolled into
    view in turn as a person scrolling down would (pictures load lazily); their natural
    widths.  At least one image must match."""
    from selenium.webdriver.common.by import By

    images = driver.find_elements(By.CSS_SELECTOR, css)
    assert images, f"no image {css!r} on {driver.current_url}"
    widths = []
    for img in images:
        seen: list[object] = []

        def loaded(d: WebDriver, img: object = img, seen: list[object] = seen) -> bool:
            seen[:] = d.execute_script(_IMAGE_JS, img)
            return bool(seen[1]) and int(str(seen[2])) > 0

        try:
            wait(driver, timeout_s).until(loaded)
        except Exception as exc:
            raise AssertionError(f"image {css!r} not loaded: {seen}") from exc
        widths.append(int(str(seen[2])))
    driver.execute_script("window.scrollTo(0, 0)")
    return widths


# A small grey-scale sample of an <img>'s current picture (for a live view: does it move?).
_SAMPLE_JS = """
const img = document.querySelector(arguments[0]);
if (!img || !img.complete || img.naturalWidth === 0) { return null; }
const canvas = document.createElement("canvas");
canvas.width = 64; canvas.height = 36;
const g = canvas.getContext("2d", {willReadFrequently: true});
g.drawImage(img, 0, 0, 64, 36);
const data = g.getImageData(0, 0, 64, 36).data;
const out = [];
for (let i = 0; i < data.length; i += 4) { out.push(data[i] + data[i + 1] + data[i + 2]); }
return out;
"""


def picture_sample(driver: WebDriver, css: str) -> list[int] | None:
    sample = driver.execute_script(_SAMPLE_JS, css)
    return None if sample is None else [int(v) for v in sample]


# Reads a multipart stream for a few seconds with the page's own session (same origin) and
# counts its parts.
_STREAM_JS = """
const [url, seconds, done] = arguments;
const abort = new AbortController();
const started = performance.now();
(async () => {
  const r = await fetch(url, {signal: abort.signal, cache: "no-store"});
  const out = {status: r.status, type: r.headers.get("content-type"), parts: 0, bytes: 0};
  if (!r.ok || !r.body) { done(out); return; }
  const reader = r.body.getReader();
  const decoder = new TextDecoder("latin1");
  let tail = "";
  while (performance.now() - started < seconds * 1000) {
    const {value, done: ended} = await reader.read();
    if (ended) { break; }
    out.bytes += value.length;
    const text = tail + decoder.decode(value);
    out.parts += text.split("Content-Type: image/jpeg").length - 1;
    tail = text.slice(-23);  // shorter than the pattern: never counted twice
  }
  abort.abort();
  done(out);
})().catch(e => done({error: String(e)}));
"""


def read_stream(driver: WebDriver, url: str, seconds: float) -> dict[str, object]:
    """Read ``url`` (a multipart stream) in the page for ``seconds``: its status, content
    type and the number of JPEG parts received."""
    return dict(driver.execute_async_script(_STREAM_JS, url, seconds))


def texts(driver: WebDriver, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def path_of(driver: WebDriver) -> str:
    return urlsplit(driver.current_url).path
