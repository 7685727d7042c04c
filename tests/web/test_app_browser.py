"""The Smart Battery app in headless Chromium, as a phone-sized window, through the manual's chapter 11 on one real
``ml314 run --ap ... --mqtt ...`` and a private Mosquitto with the fleet's configuration:

local mode (scan by mDNS on loopback, pair with the code the device shows) -> the battery system -> STA (Wi-Fi
credentials) -> Wi-Fi mode (the device connects to the broker) -> AP (the device goes offline on the broker) -> AP
mode (the app on the device's AP address, a wrong AP password refused, the right one opens the battery system).

Screenshots go to ``docs/screenshots/app-*.png`` with ``make screenshots`` (else to a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import chromium, until
from tests.cloud.fleet import Fleet
from tests.web.running import RunningBank
from tests.web.test_app_device_api import ap_password, ap_url, pairing_code
from tests.web.test_pages_browser import SCREENSHOTS


def js(driver: WebDriver, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def text(driver: WebDriver, selector: str) -> str:
    return str(js(driver, "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", selector))


def visible(driver: WebDriver, screen: str) -> bool:
    return bool(js(driver, "return document.body.dataset.screen === arguments[0]", screen))


def shot(driver: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOTS / f"app-{name}.png"))


def click(driver: WebDriver, selector: str) -> None:
    until(lambda: js(driver, "const e = document.querySelector(arguments[0]); return e && !e.disabled", selector))
    driver.find_element(By.CSS_SELECTOR, selector).click()


def confirm(driver: WebDriver) -> None:
    until(lambda: js(driver, "return document.getElementById('confirm').open"))
    driver.find_element(By.ID, "confirm-yes").click()


@pytest.mark.long  # about 25 s, mostly waiting: a broker, a device, Chromium, mDNS scans
def test_local_mode_sta_wifi_mode_ap_mode(tmp_path: Path, mosquitto) -> None:
    fleet = Fleet(tmp_path, mosquitto)
    cloud = fleet.client("cloud", "cloud-app")
    assert cloud.subscribe("ml314/+/status") == [1]
    url = f"mqtt://127.0.0.1:{fleet.port}?interval=1&discovery=off"
    with RunningBank(tmp_path, "--ap", "127.0.0.1:0", "--mqtt", url, "--quiet") as bank, chromium(412, 915) as b:
        serial = fleet.provision(bank.data_dir)
        status = f"ml314/{serial}/status"

        def statuses() -> list[bytes]:
            return [m.payload for m in cloud.messages if m.topic == status]

        # local mode: find devices near you, pair with the code on the device's display
        b.get(bank.url + "/app/")
        until(lambda: js(b, "return document.body.dataset.ready"))
        shot(b, "home")
        click(b, "#go-local")
        device = f'button.device[data-serial="{serial}"]'
        until(lambda: js(b, "return document.querySelector(arguments[0])", device))
        assert "AP mode" in text(b, device)  # as from the factory: --ap and never configured
        shot(b, "local")
        click(b, device)
        until(lambda: visible(b, "pair"))
        code = pairing_code(bank, 0)
        b.find_element(By.ID, "pair-code").send_keys(code[:3] + " " + code[3:])
        click(b, "#pair-form button")
        until(lambda: visible(b, "device") and text(b, "#soc") not in {"", "-"})
        until(lambda: text(b, "#net-mode") == "AP mode")
        assert re.fullmatch(r"\d+\.\d %", text(b, "#soc"))
        assert text(b, "#online") == "1 / 1"
        assert js(b, "return document.querySelectorAll('#modules li').length") == 1
        assert "mqtt: connected" not in "\n".join(bank.errors)  # AP mode: no way to the cloud yet
        shot(b, "device")

        # STA: the Wi-Fi network to join; Wi-Fi mode connects the cloud link
        click(b, "#btn-sta")
        until(lambda: visible(b, "sta"))
        b.find_element(By.ID, "sta-ssid").send_keys("HomeNet 2.4G")
        b.find_element(By.ID, "sta-password").send_keys("short")
        click(b, "#sta-form button")
        until(lambda: "8 to 63" in text(b, "#sta-msg"))  # the app checks before it asks the device
        b.find_element(By.ID, "sta-password").send_keys(" enough now")
        shot(b, "sta")
        click(b, "#sta-form button")
        confirm(b)
        until(lambda: visible(b, "device") and text(b, "#net-mode") == "Wi-Fi mode")
        assert text(b, "#net-ssid") == "HomeNet 2.4G (joined)"
        cloud.wait_for(lambda ms: b"online" in statuses(), "the device online in Wi-Fi mode")
        until(lambda: js(b, "return document.getElementById('net-cloud').dataset.connected") == "1")
        assert f"127.0.0.1:{fleet.port}" in text(b, "#net-cloud")
        shot(b, "wifi-mode")

        # AP: the device's own network; the cloud link goes offline
        click(b, "#btn-ap")
        confirm(b)
        until(lambda: visible(b, "ap") and js(b, "return document.getElementById('ap-url')"))
        ap = ap_url(bank)
        assert text(b, "#ap-url") == ap + "/app/"
        cloud.wait_for(lambda ms: statuses()[-1:] == [b"offline"], "the device offline in AP mode")

        # AP mode: the app on the device's AP address, behind its AP password
        b.get(ap + "/app/")
        until(lambda: js(b, "return !document.getElementById('ap-form').hidden"))
        b.find_element(By.ID, "ap-password").send_keys("not the password")
        click(b, "#ap-form button")
        until(lambda: "wrong AP password" in text(b, "#ap-msg"))
        shot(b, "ap-login")
        b.find_element(By.ID, "ap-password").clear()
        b.find_element(By.ID, "ap-password").send_keys(ap_password(bank))
        click(b, "#ap-form button")
        until(lambda: visible(b, "device") and text(b, "#soc") not in {"", "-"})
        until(lambda: text(b, "#net-mode") == "AP mode")
        assert "offline (AP mode" in text(b, "#net-cloud")
        assert text(b, "#title").startswith("Smart Battery-")
        shot(b, "ap-mode")

        # chapter 12 in the app: an open breaker shows as a finding with the manual's advice
        with bank.client() as http:
            assert http.post("/api/breaker", json={"module": 1, "closed": False}).status_code == 200
            until(lambda: "breaker open" in text(b, "#findings"))
            assert "Close breaker or charge the battery" in text(b, "#findings")
            assert http.post("/api/breaker", json={"module": 1, "closed": True}).status_code == 200
            until(lambda: js(b, "return document.getElementById('findings').hidden"))
    cloud.close()
