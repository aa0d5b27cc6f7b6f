"""Fixtures of the real-browser tests (issue 7): headless Chromium driven by Selenium against
a running daemon.

`site`: one daemon for all the browser tests (`tests.browser.daemon`), stopped after the
last of them (package scope: hence ``__init__.py``).  `browser`: fresh
browsers for each test — ``browser()`` a desktop (1280×900), ``browser(phone=True)`` a
390×844 phone with mobile emulation.  `shots`: screenshots of each step into
``$GRIDBRIDGE_ARTIFACTS/screenshots`` (default ``test-artifacts/``, gitignored); a failed
test also leaves a screenshot, the page's HTML and the console log of each browser.

When Chromium, chromedriver or Selenium is missing the tests skip — and fail under
``CI=true`` (`tests.support.peer_missing`); ``scripts/test`` installs them as root.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.daemon import Site, running_site
from tests.browser.ui import DESKTOP, PHONE, Shots, browser_log, chrome, selenium_or_missing

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The running daemon with its faults seen and its orders open."""
    selenium_or_missing()  # no daemon for nothing when the browser cannot run
    with running_site(tmp_path_factory.mktemp("browser")) as running:
        yield running


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


@pytest.fixture(scope="session")
def _fresh_screenshots() -> None:
    """This run's screenshots only: those of an earlier run are removed first."""
    for old in Shots.folder().glob("test_*"):
        old.unlink(missing_ok=True)


@pytest.fixture
def shots(request: pytest.FixtureRequest, _fresh_screenshots: None) -> Shots:
    return Shots(request.node.name)


@pytest.fixture
def browser(request: pytest.FixtureRequest, shots: Shots) -> Iterator[Callable[..., WebDriver]]:
    """``browser()`` a desktop Chromium (1280×900), ``browser(phone=True)`` a 390×844 phone;
    each a fresh profile (no cookies), quit after the test.  A failed test leaves a
    screenshot, the page's HTML and the console log of each of its browsers."""
    selenium_or_missing()
    drivers: list[WebDriver] = []

    def make(*, phone: bool = False) -> WebDriver:
        driver = chrome(PHONE if phone else DESKTOP, phone)
        drivers.append(driver)
        return driver

    try:
        yield make
    finally:
        failed = request.node.stash.get(_FAILED, False)
        for n, driver in enumerate(drivers):
            if failed:
                with contextlib.suppress(Exception):
                    path = shots(driver, f"failed{n}")
                    path.with_suffix(".html").write_text(driver.page_source, encoding="utf-8")
                    lines = [json.dumps(e, ensure_ascii=False) for e in browser_log(driver)]
                    path.with_suffix(".console.txt").write_text("\n".join(lines) + "\n")
            with contextlib.suppress(Exception):
                driver.quit()
