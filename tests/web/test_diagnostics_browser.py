"""The Diagnostics page in headless Chromium on a real ``ml314 run`` of 2 modules: a breaker opened through the API
shows as a finding card naming the module, with the manual's analysis and solution; closed again, it goes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.browser import chromium, until
from tests.web.running import RunningBank

SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("ML314_SCREENSHOTS") == "docs"
    else Path(tempfile.mkdtemp())
)


@pytest.mark.long
def test_the_page_shows_an_open_breaker_with_the_manuals_advice(tmp_path: Path) -> None:
    with (
        RunningBank(tmp_path, "--modules", "2", "--quiet") as bank,
        httpx.Client(base_url=bank.url, timeout=30.0) as http,
        chromium(1280, 900) as browser,
    ):
        assert http.post("/api/breaker", json={"module": 2, "closed": False}).status_code == 200
        browser.get(bank.url + "/diagnostics")
        card = 'section.finding[data-code="breaker_open"]'
        until(lambda: browser.execute_script("return document.querySelector(arguments[0])", card))
        text = str(browser.execute_script("return document.querySelector(arguments[0]).textContent", card))
        assert "module 2: no DC output: breaker open" in text
        assert "Not close breaker or low voltage" in text and "Close breaker or charge the battery" in text
        assert "Diagnostics" in str(browser.execute_script("return document.getElementById('nav').textContent"))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOTS / "diagnostics.png"))
        assert http.post("/api/breaker", json={"module": 2, "closed": True}).status_code == 200
        until(lambda: not browser.execute_script("return document.querySelector(arguments[0])", card))
