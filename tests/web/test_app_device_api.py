"""The device's side of the Smart Battery app on a real ``ml314 run --ap``: pairing, the network settings and the AP
listener refuse what they must (wrong pairing code, no PIN or token, bad SSID or passphrase, wrong AP password with
its lockout), and the settings survive a restart (docs/app-device.md). The tests sharing the module's device leave
it in AP mode and need no other's effect (pytest-xdist may spread them over workers, each with its own device)."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.web.running import RunningBank, wait_for

ARGS = ("--ap", "127.0.0.1:0", "--no-mdns", "--quiet")
AP_LINE = re.compile(r"^ap: (http://\S+)")
AP_PASSWORD = re.compile(r"Wi-Fi AP\s+Smart Battery-\S+\s+password (\S+)")


def ap_url(bank: RunningBank) -> str:
    return next(m.group(1) for line in bank.lines if (m := AP_LINE.match(line)))


def ap_password(bank: RunningBank) -> str:
    return next(m.group(1) for line in bank.lines if (m := AP_PASSWORD.search(line)))


def shown_codes(bank: RunningBank) -> list[str]:
    """Every pairing code the device has shown so far, oldest first."""
    return [m.group(1) + m.group(2) for e in list(bank.errors) if (m := re.search(r"code (\d{3}) (\d{3})", e))]


def pairing_code(bank: RunningBank, before: int) -> str:
    """The code the device shows after the ``before`` codes it showed already."""
    return wait_for(lambda: (shown_codes(bank)[before:] or [None])[0], "the pairing code", alive=bank)


def lcd_network(c: httpx.Client) -> str | None:
    """The network mode on the LCD's Settings page (woken, then Settings)."""
    c.post("/api/lcd/keys", json={"module": 1, "key": "touch"})
    screen = c.post("/api/lcd/keys", json={"module": 1, "key": "settings"}).json()
    assert screen["page"] == "SETTINGS", screen
    return next((r["value"] for r in screen["rows"] if r["label"] == "Network"), None)


def pair(bank: RunningBank, c: httpx.Client) -> str:
    before = len(shown_codes(bank))
    request = c.post("/api/device/pairing", json={"client": "test"}).json()["request"]
    r = c.post("/api/device/pair", json={"request": request, "code": pairing_code(bank, before)})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBank]:
    with RunningBank(tmp_path_factory.mktemp("app-api"), *ARGS) as bank:
        yield bank


def test_pairing_needs_the_code_the_device_shows(device: RunningBank) -> None:
    with device.client() as c:
        public = c.get("/api/device").json()
        # --ap and never configured: in AP mode, as from the factory
        assert public["mode"] == "ap" and public["listener"] == "local"
        before = len(shown_codes(device))
        request = c.post("/api/device/pairing", json={"client": "phone"}).json()["request"]
        code = pairing_code(device, before)
        wrong = "000000" if code != "000000" else "111111"
        r = c.post("/api/device/pair", json={"request": request, "code": wrong})
        assert r.status_code == 403 and r.json()["error"]["code"] == "pairing_code_wrong", r.text
        r = c.post("/api/device/pair", json={"request": "nonesuch", "code": code})
        assert r.status_code == 404
        r = c.post("/api/device/pair", json={"request": request, "code": code})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        assert c.post("/api/device/pair", json={"request": request, "code": code}).status_code == 404  # used once
        st = c.get("/api/device/network", headers={"Authorization": f"Bearer {token}"})
        assert st.status_code == 200 and st.json()["ap_ssid"].startswith("Smart Battery-")
        assert c.get("/api/device/network").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "sta", "ssid": "", "password": "long enough"}, "ssid"),
        ({"mode": "sta", "ssid": "x" * 33, "password": "long enough"}, "ssid"),
        ({"mode": "sta", "ssid": "é" * 17, "password": "long enough"}, "ssid"),  # 34 bytes in UTF-8
        ({"mode": "sta", "ssid": "HomeNet", "password": "7 chars"}, "password"),
        ({"mode": "sta", "ssid": "HomeNet", "password": "p" * 64}, "password"),
        ({"mode": "sta", "ssid": "HomeNet"}, "password"),
        ({"mode": "mesh"}, "mode"),
    ],
)
def test_bad_credentials_are_refused_naming_the_field(device: RunningBank, body: dict, field: str) -> None:
    with device.client() as c:
        r = c.put("/api/device/network", json=body)  # checked before any secret is asked for
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


def test_a_change_needs_a_token_or_the_pin(device: RunningBank) -> None:
    body = {"mode": "sta", "ssid": "HomeNet", "password": "correct horse"}
    with device.client() as c:
        r = c.put("/api/device/network", json=body)
        assert r.status_code == 401 and r.json()["error"]["code"] == "pin_required"
        r = c.put("/api/device/network", json=body, headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "token_wrong"
        wrong = "1" * len(device.pin) if device.pin != "1" * len(device.pin) else "2" * len(device.pin)
        r = c.put("/api/device/network", json={**body, "pin": wrong})
        assert r.status_code == 403 and r.json()["error"]["code"] == "pin_wrong"
        assert c.get("/api/device").json()["mode"] == "ap"  # nothing changed
        r = c.put("/api/device/network", json={**body, "pin": device.pin})
        assert r.status_code == 200, r.text
        assert r.json()["mode"] == "sta" and r.json()["ssid"] == "HomeNet" and "correct horse" not in r.text
        assert lcd_network(c) == "Wi-Fi mode"  # on the LCD too
        with httpx.Client(base_url=ap_url(device)) as ap:  # Wi-Fi mode: the AP is off
            off = ap.get("/api/bank")
            assert off.status_code == 503 and off.json()["error"]["code"] == "ap_off"
        assert c.put("/api/device/network", json={"mode": "ap", "pin": device.pin}).status_code == 200


def test_the_ap_listener_needs_the_ap_password_and_limits_wrong_ones(device: RunningBank) -> None:
    password = ap_password(device)
    with httpx.Client(base_url=ap_url(device), timeout=30.0) as ap:
        assert ap.get("/api/device").json()["listener"] == "ap"  # public: the app shows the login
        assert ap.get("/app/").status_code == 200
        r = ap.get("/api/bank")
        assert r.status_code == 401 and r.json()["error"]["code"] == "ap_login_required"
        r = ap.post("/api/ap/login", json={"password": "wrong password"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "ap_password_wrong"
        ws_url = ap_url(device).replace("http://", "ws://") + "/api/live"
        with pytest.raises(InvalidStatus):  # the live WebSocket is behind the login too
            connect(ws_url, open_timeout=30).close()
        assert ap.post("/api/ap/login", json={"password": password}).status_code == 200  # sets the session cookie
        bank = ap.get("/api/bank")
        assert bank.status_code == 200 and 0.0 <= bank.json()["bank"]["soc_pct"] <= 100.0
        cookie = "; ".join(f"{k}={v}" for k, v in ap.cookies.items())
        with connect(ws_url, additional_headers={"Cookie": cookie}, open_timeout=30) as ws:
            assert "bank" in json.loads(ws.recv())
        assert ap.get("/api/device/network").json()["mode"] == "ap"
        ap.cookies.clear()
        codes = [ap.post("/api/ap/login", json={"password": f"wrong {i}"}) for i in range(5)]
        assert [r.json()["error"]["code"] for r in codes] == ["ap_password_wrong"] * 4 + ["ap_locked"]
        assert int(codes[-1].headers["Retry-After"]) > 0
        r = ap.post("/api/ap/login", json={"password": password})  # locked: even the right one waits
        assert r.status_code == 403 and r.json()["error"]["code"] == "ap_locked"
        assert ap.get("/api/bank").status_code == 401


def test_network_settings_survive_a_restart(tmp_path: Path) -> None:
    with RunningBank(tmp_path, *ARGS) as bank, bank.client() as c:
        token = pair(bank, c)
        auth = {"Authorization": f"Bearer {token}"}
        r = c.put("/api/device/network", json={"mode": "sta", "ssid": "Café 2.4G", "password": "s3cret passphrase"},
                  headers=auth)  # fmt: skip
        assert r.status_code == 200, r.text
        bank.stop()
    path = bank.data_dir / "network.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds the passphrase
    assert json.loads(path.read_text(encoding="utf-8"))["wifi"]["password"] == "s3cret passphrase"
    with RunningBank(tmp_path, *ARGS) as again, again.client() as c:
        assert any("network: Wi-Fi mode, joined 'Café 2.4G'" in line for line in again.lines)
        st = c.get("/api/device/network", headers=auth)  # the pairing survived too
        assert st.status_code == 200, st.text
        assert st.json()["mode"] == "sta" and st.json()["ssid"] == "Café 2.4G" and st.json()["password_set"]
        assert "s3cret" not in st.text
        with httpx.Client(base_url=ap_url(again)) as ap:
            assert ap.get("/api/device").json()["error"]["code"] == "ap_off"
