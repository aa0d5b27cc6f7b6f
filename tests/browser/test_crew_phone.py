"""A crew walks a work order on a phone-sized screen (issue 7, acceptance): the order of a
camera that went down is on their list with its before-picture; 接单, 到场 and 修复 through
the page's buttons (each asked to confirm), with notes; the camera comes back (the fault
cleared in the simulator) and the daemon verifies and closes the order, which the page
then shows with its whole history and the after-picture."""

from __future__ import annotations

import time
from collections.abc import Callable

from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions

from tests.browser.daemon import CREW, PASSWORDS, Site
from tests.browser.ui import (
    PHONE,
    Shots,
    csp_violations,
    images_loaded,
    log_in,
    path_of,
    texts,
    wait,
)

CLOSE_TIMEOUT_S = 60.0  # verification: healthy checks and a fresh picture after 修复
STEPS = (("接单", ""), ("到场", "交换机断电，已恢复供电"), ("修复", "更换了电源适配器"))


def fits_the_screen(driver: WebDriver) -> None:
    """The page is as wide as the phone: nothing to scroll sideways."""
    width = int(driver.execute_script("return document.documentElement.scrollWidth"))
    assert width <= PHONE[0], f"the page is {width} px wide on a {PHONE[0]} px screen"


def step_word(driver: WebDriver) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, ".order-state strong").text)


def test_a_crew_walks_an_order_on_a_phone_to_a_verified_close(
    site: Site, browser: Callable[..., WebDriver], shots: Shots
) -> None:
    driver = browser(phone=True)
    log_in(driver, site.url, CREW, PASSWORDS[CREW], path="/")
    assert driver.execute_script("return window.innerWidth") == PHONE[0]
    assert path_of(driver) == "/orders"  # a crew starts at its orders
    titles = texts(driver, ".order-card .card-title")
    assert site.crew_camera.name in titles
    assert site.down.name in titles
    images_loaded(driver, ".order-card .evidence img")  # the pictures at the fault
    fits_the_screen(driver)
    shots(driver, "orders")

    card = next(
        c
        for c in driver.find_elements(By.CSS_SELECTOR, ".order-card")
        if site.crew_camera.name in c.find_element(By.CSS_SELECTOR, ".card-title").text
    )
    card.find_element(By.LINK_TEXT, site.crew_camera.name).click()
    wait(driver).until(lambda d: path_of(d).startswith("/orders/"))
    order = site.order_of(site.crew_camera)
    assert order is not None
    assert path_of(driver) == f"/orders/{order['id']}"
    assert driver.find_element(By.TAG_NAME, "h1").text == site.crew_camera.name
    assert step_word(driver) == "派单"
    assert "离线" in texts(driver, ".place .state-word")
    fits_the_screen(driver)
    shots(driver, "order")

    for word, note in STEPS:
        box = driver.find_element(By.CSS_SELECTOR, ".step-box")
        if note:
            box.find_element(By.CSS_SELECTOR, "textarea[name=note]").send_keys(note)
        button = box.find_element(By.CSS_SELECTOR, "button[type=submit]")
        assert button.text == word
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        alert = wait(driver).until(expected_conditions.alert_is_present())
        assert alert.text == f"确定要「{word}」吗？"
        alert.accept()
        wait(driver).until(lambda d: "done=" in d.current_url)
        notice = driver.find_element(By.CSS_SELECTOR, ".notice-ok").text
        assert notice == f"已记录「{word}」。"
        assert step_word(driver) == word
        fits_the_screen(driver)
        shots(driver, f"after-{word}")
    assert not driver.find_elements(By.CSS_SELECTOR, ".step-box")  # the daemon's turn now

    # The camera is back: the daemon verifies the repair and closes the order.
    sim = site.simulator
    assert sim is not None
    site.call(lambda: sim.clear_fault(site.crew_camera.id))
    deadline = time.monotonic() + CLOSE_TIMEOUT_S
    while step_word(driver) != "结案":
        assert time.monotonic() < deadline, f"not closed within {CLOSE_TIMEOUT_S:.0f} s"
        time.sleep(1.0)
        driver.refresh()
    heads = texts(driver, ".timeline .tl-head strong")
    wanted = ["派单", "接单", "到场", "修复", "验收", "结案"]
    assert [h for h in heads if h in wanted] == wanted, heads
    timeline = driver.find_element(By.CSS_SELECTOR, ".timeline").text
    for _, note in STEPS:
        assert note in timeline
    assert CREW in texts(driver, ".timeline .tl-actor")
    assert len(images_loaded(driver, ".evidence img")) == 2  # before and after
    fits_the_screen(driver)
    shots(driver, "closed")
    assert csp_violations(driver) == []
