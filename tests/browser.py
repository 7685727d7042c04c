"""Headless Chromium for the browser tests (Debian's ``chromium`` + ``chromium-driver``, driven by Selenium), and the
one way they wait: for a condition, with no time limit."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from tests.needs import missing

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[WebDriver]:
    """A headless Chromium window of ``width`` x ``height``; skips (fails on CI) where Chromium is missing."""
    if CHROMIUM is None or DRIVER is None:
        missing("Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def until(condition: Callable[[], Any]) -> Any:
    """Wait for ``condition`` to return something true (no time limit: the condition decides); that value."""
    while not (value := condition()):
        time.sleep(0.05)
    return value
