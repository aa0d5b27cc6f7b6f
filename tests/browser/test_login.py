"""Logging in through the real login form in headless Chromium (issue 7, acceptance)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.browser.daemon import ADMIN, PASSWORDS, TOWNSHIP, Site
from tests.browser.ui import Shots, csp_violations, fill_login, wait


def test_a_wrong_password_is_refused_then_the_admin_sees_the_grid_tree(
    site: Site, browser: Callable[..., WebDriver], shots: Shots
) -> None:
    driver = browser()
    driver.get(site.url + "/")
    wait(driver).until(lambda d: urlsplit(d.current_url).path == "/login")
    assert driver.find_element(By.TAG_NAME, "h1").text == "请登录"
    shots(driver, "login-page")

    fill_login(driver, ADMIN, "not-the-password")
    error = wait(driver).until(lambda d: d.find_element(By.CSS_SELECTOR, "[role=alert]"))
    assert error.text == "用户名或密码错误"
    assert driver.find_element(By.ID, "username").get_attribute("value") == ADMIN
    shots(driver, "wrong-password")

    fill_login(driver, ADMIN, PASSWORDS[ADMIN])
    wait(driver).until(lambda d: urlsplit(d.current_url).path != "/login")
    assert urlsplit(driver.current_url).path == "/grid"  # an admin starts at the tree
    body = driver.find_element(By.TAG_NAME, "body").text
    assert site.names[TOWNSHIP] in body  # 青石镇, the township of every camera
    assert ADMIN in driver.find_element(By.CSS_SELECTOR, ".who-name").text
    shots(driver, "grid-tree")
    assert csp_violations(driver) == []
