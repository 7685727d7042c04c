"""The browser's LCD page (``/lcd``) in headless Chromium (Debian's ``chromium`` + ``chromium-driver``, Selenium)
on a real ``ml314 run``: wake, change pages, a wrong PIN refused and the right one "restart required"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import chromium, until
from tests.web.running import RunningBank


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium(900, 800) as driver:
        yield driver


def page(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "lcd").get_attribute("data-page") or "")


def dimmed(driver: WebDriver) -> bool:
    return "dimmed" in str(driver.find_element(By.ID, "lcd").get_attribute("class"))


def press(driver: WebDriver, key: str) -> None:
    """Click the button of ``key`` (found again if a redraw replaced it between finding and clicking)."""
    while True:
        try:
            driver.find_element(By.CSS_SELECTOR, f'#buttons button[data-key="{key}"]').click()
            return
        except StaleElementReferenceException:
            continue


def texts(driver: WebDriver, selector: str) -> list[str]:
    """The text of every element matching ``selector``, read in one step in the page (no stale elements)."""
    script = "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)"
    return [str(t) for t in driver.execute_script(script, selector)]


def notice(driver: WebDriver) -> str:
    return "".join(texts(driver, "#notice"))


def test_the_lcd_page_works_the_protocol_change(browser: WebDriver, tmp_path: Path) -> None:
    with RunningBank(tmp_path, "--quiet") as device:
        browser.get(f"{device.url}/lcd?module=1")
        until(lambda: page(browser) != "")  # the first screen JSON is drawn
        assert dimmed(browser)
        browser.find_element(By.ID, "lcd").click()  # a touch wakes it
        until(lambda: not dimmed(browser))
        labels = texts(browser, "#rows td.label")
        assert page(browser) == "MAIN" and "Battery ID" in labels and "System time" in labels

        press(browser, "settings")
        until(lambda: page(browser) == "SETTINGS")
        press(browser, "voltage")
        until(lambda: page(browser) == "CELLS")
        cells = [t for t in texts(browser, "#rows td.label") if t.startswith("Cell")]
        assert len(cells) == 16 and texts(browser, "#rows td.mark-max")
        press(browser, "back")
        until(lambda: page(browser) == "SETTINGS")
        press(browser, "can")
        until(lambda: page(browser) == "PIN")
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.ESCAPE)  # Back on every page: PIN -> settings -> main (Escape is Back)
        until(lambda: page(browser) == "SETTINGS")
        press(browser, "back")
        until(lambda: page(browser) == "MAIN")
        press(browser, "settings")
        until(lambda: page(browser) == "SETTINGS")
        press(browser, "can")
        until(lambda: page(browser) == "PIN")

        wrong = "1" * len(device.pin) if device.pin != "1" * len(device.pin) else "2" * len(device.pin)
        for digit in wrong:
            body.send_keys(digit)
        until(lambda: "*" * len(wrong) in " ".join(texts(browser, "#rows td")))
        body.send_keys(Keys.ENTER)
        until(lambda: page(browser) == "PROTOCOLS")
        press(browser, "pick:victron-can")
        until(lambda: "wrong technician PIN" in notice(browser))
        assert page(browser) == "PIN"

        for digit in device.pin:
            press(browser, digit)
        until(lambda: "*" * len(device.pin) in " ".join(texts(browser, "#rows td")))
        press(browser, "ok")
        until(lambda: page(browser) == "PROTOCOLS")
        press(browser, "pick:victron-can")
        until(lambda: "restart required" in notice(browser))
        browser.save_screenshot(str(tmp_path / "lcd.png"))
        press(browser, "back")
        until(lambda: page(browser) == "MAIN")
        assert "-> P05-VCT (restart required)" in " ".join(texts(browser, "#rows td"))
        # the way back to the PC software: the pages' nav bar, the LCD marked as the page shown
        assert texts(browser, "#nav a.here") == ["LCD"]
        until(lambda: "live" in " ".join(texts(browser, "#conn")))
        browser.find_element(By.LINK_TEXT, "Overview").click()
        until(lambda: browser.current_url.rstrip("/") == device.url and texts(browser, "#nav a.here") == ["Overview"])
        browser.find_element(By.LINK_TEXT, "LCD").click()
        until(lambda: page(browser) != "")
