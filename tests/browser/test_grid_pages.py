"""The operators' pages in headless Chromium (issue 7, acceptance): from the grid tree down to
a grid by clicking, states as words and thumbnails loaded; a camera's picture and its live
view receiving frames; an operator of grid A sees nothing of grid B."""

from __future__ import annotations

import time
from collections.abc import Callable

from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.browser.daemon import ADMIN, OPERATOR, PASSWORDS, TOWNSHIP, VILLAGE_A, VILLAGE_B, Site
from tests.browser.ui import (
    Shots,
    csp_violations,
    images_loaded,
    log_in,
    path_of,
    picture_sample,
    read_stream,
    texts,
    wait,
)

LIVE_WATCH_S = 5.0  # the live picture must change within this long (≤ 5 fps)


def click_link(driver: WebDriver, text: str, within: str = "main") -> None:
    """Click the link with exactly this text, as a person would (the element must be
    visible), and wait for the next page."""
    link = driver.find_element(By.CSS_SELECTOR, within).find_element(By.LINK_TEXT, text)
    before = driver.current_url
    link.click()
    wait(driver).until(lambda d: d.current_url != before)


def test_from_the_tree_down_to_a_grid_by_clicking_with_states_and_thumbnails(
    site: Site, browser: Callable[..., WebDriver], shots: Shots
) -> None:
    driver = browser()
    log_in(driver, site.url, ADMIN, PASSWORDS[ADMIN], path="/grid")
    assert path_of(driver) == "/grid"
    tree = driver.find_element(By.TAG_NAME, "main").text
    for code in (TOWNSHIP, VILLAGE_A, VILLAGE_B):
        assert site.names[code] in tree
    shots(driver, "tree")

    click_link(driver, site.names[TOWNSHIP])
    assert path_of(driver) == f"/grid/{TOWNSHIP}"
    assert driver.find_element(By.TAG_NAME, "h1").text == site.names[TOWNSHIP]
    shots(driver, "township")

    click_link(driver, site.names[VILLAGE_A])
    assert path_of(driver) == f"/grid/{VILLAGE_A}"
    assert driver.find_element(By.TAG_NAME, "h1").text == site.names[VILLAGE_A]
    shots(driver, "village")

    click_link(driver, site.names[site.grid_a])
    assert path_of(driver) == f"/grid/{site.grid_a}"
    in_grid = [c for c in site.cameras.values() if c.grid == site.grid_a]
    cards = driver.find_elements(By.CSS_SELECTOR, ".camera-card")
    assert len(cards) == len(in_grid)
    names = texts(driver, ".camera-card .card-title")
    assert sorted(names) == sorted(c.name for c in in_grid)
    # Broken first: the camera that is down, then the black picture, then the others.
    states = texts(driver, ".camera-card .state-word")
    assert states[:2] == ["离线", "异常"]
    assert set(states[2:]) == {"在线"}
    assert names[:2] == [site.down.name, site.black.name]
    assert "黑屏" in cards[1].text  # the fault, in Chinese
    widths = images_loaded(driver, ".camera-card img")
    assert len(widths) == len(in_grid)  # every camera had a picture before its fault
    shots(driver, "grid")
    assert csp_violations(driver) == []


def test_a_camera_shows_its_picture_and_its_live_view_receives_frames(
    site: Site, browser: Callable[..., WebDriver], shots: Shots
) -> None:
    driver = browser()
    log_in(driver, site.url, ADMIN, PASSWORDS[ADMIN], path=f"/grid/{site.grid_a}")
    click_link(driver, site.healthy.name)
    assert path_of(driver) == f"/camera/{site.healthy.id}"
    assert driver.find_element(By.TAG_NAME, "h1").text == site.healthy.name
    assert texts(driver, ".camera-state .state-word") == ["在线"]
    [width] = images_loaded(driver, ".camera-picture img")
    assert width == 1280  # the full picture, not the thumbnail
    shots(driver, "camera")

    click_link(driver, "实时画面")
    assert path_of(driver) == f"/camera/{site.healthy.id}/live"
    [width] = images_loaded(driver, "img[data-live-img]", timeout_s=20)
    assert 0 < width <= 640
    first = picture_sample(driver, "img[data-live-img]")
    assert first is not None
    shots(driver, "live")
    # The <img> is an MJPEG stream: its picture changes (sensor noise, the OSD clock).
    deadline = time.monotonic() + LIVE_WATCH_S
    while picture_sample(driver, "img[data-live-img]") == first:
        assert time.monotonic() < deadline, "the live picture did not change"
        time.sleep(0.2)
    # And the stream itself, read in the page with its session: a part per picture.
    stream = read_stream(driver, f"/api/cameras/{site.healthy.id}/live.mjpeg", 2.0)
    assert stream.get("status") == 200, stream
    assert str(stream.get("type", "")).startswith("multipart/x-mixed-replace"), stream
    assert int(str(stream.get("parts", 0))) >= 3, stream  # ~5 a second
    assert driver.find_element(By.CSS_SELECTOR, "[data-live-message]").is_displayed() is False
    shots(driver, "live-later")
    assert csp_violations(driver) == []


def test_an_operator_of_grid_a_sees_nothing_of_grid_b(
    site: Site, browser: Callable[..., WebDriver], shots: Shots
) -> None:
    driver = browser()
    log_in(driver, site.url, OPERATOR, PASSWORDS[OPERATOR], path="/grid")
    tree = driver.find_element(By.TAG_NAME, "main").text
    assert site.names[site.grid_a] in tree
    assert site.names[VILLAGE_B] not in tree
    assert site.names[site.grid_b] not in tree
    # The way down to its grid is named, not linked; its grid is one click away.
    links = texts(driver, "main a")
    assert site.names[site.grid_a] in links
    assert site.names[TOWNSHIP] not in links
    shots(driver, "tree")

    for path in (
        f"/camera/{site.crew_camera.id}",
        f"/camera/{site.crew_camera.id}/live",
        f"/grid/{site.grid_b}",
        f"/grid/{VILLAGE_B}",
    ):
        driver.get(site.url + path)
        assert driver.find_element(By.TAG_NAME, "h1").text == "找不到这个页面", path
        assert site.crew_camera.name not in driver.page_source
    shots(driver, "camera-of-grid-b")
    # The page of its own grid's camera opens.
    driver.get(site.url + f"/camera/{site.black.id}")
    assert driver.find_element(By.TAG_NAME, "h1").text == site.black.name
    shots(driver, "own-camera")
