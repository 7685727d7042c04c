"""The browser's LCD on a real ``ml314 run --http``: ``GET /api/lcd``, ``POST /api/lcd/keys`` (the same page model,
kept per module on the server), the PIN flow through the device, and the page with its assets from the package."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ml314.domain.snapshot_json import from_jsonable
from ml314.hmi.lcd import LcdPage, LcdScreen
from ml314.storage.identity import FIRST_LOCK_S, FREE_TRIES
from ml314.storage.settings_store import load_selection
from tests.web.running import RunningBank


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBank]:
    with RunningBank(tmp_path_factory.mktemp("lcd-web"), "--modules", "2", "--quiet") as s:
        yield s


def key(server: RunningBank, module: int, k: str) -> LcdScreen:
    r = httpx.post(f"{server.url}/api/lcd/keys", json={"module": module, "key": k})
    assert r.status_code == 200, r.text
    return from_jsonable(LcdScreen, r.json())


def keys(server: RunningBank, module: int, *ks: str) -> LcdScreen:
    s = None
    for k in ks:
        s = key(server, module, k)
    assert s is not None
    return s


def values(s: LcdScreen) -> dict[str, str]:
    return {r.label: r.value for r in s.rows}


def test_the_screen_is_the_page_model_per_module(server: RunningBank) -> None:
    r = httpx.get(f"{server.url}/api/lcd", params={"module": 1})
    assert r.status_code == 200
    dark = from_jsonable(LcdScreen, r.json())
    assert dark.dimmed and dark.module_id == 1
    main = key(server, 1, "touch")
    assert not main.dimmed and main.page is LcdPage.MAIN and values(main)["Battery ID"] == "1"
    cells = keys(server, 1, "settings", "voltage")
    assert cells.page is LcdPage.CELLS and sum(r.label.startswith("Cell") for r in cells.rows) == 16
    other = httpx.get(f"{server.url}/api/lcd", params={"module": 2}).json()
    assert other["dimmed"] and other["module_id"] == 2  # module 2's LCD was never touched
    back = httpx.get(f"{server.url}/api/lcd", params={"module": 1}).json()
    assert back["page"] == "CELLS"  # the server keeps module 1's page
    assert keys(server, 1, "back", "temperature").page is LcdPage.TEMPERATURES


def test_protocol_change_refused_then_accepted_and_the_pin_never_comes_back(server: RunningBank) -> None:
    keys(server, 2, "touch", "settings", "rs485")
    wrong = "1" * len(server.pin) if server.pin != "1" * len(server.pin) else "2" * len(server.pin)
    refused = keys(server, 2, *wrong, "ok", "pick:voltronic-rs485")
    assert refused.page is LcdPage.PIN and "wrong technician PIN" in refused.notice and refused.action is None
    accepted = keys(server, 2, *server.pin, "ok", "pick:voltronic-rs485")
    assert accepted.restart_required and "restart required" in accepted.notice
    assert server.pin not in httpx.get(f"{server.url}/api/lcd", params={"module": 2}).text
    main = keys(server, 2, "back")
    assert values(main)[""].endswith("-> P04-VOL (restart required)")
    assert load_selection(server.settings).rs485.name == "voltronic-rs485"  # saved for the next start


ERRORS = [
    ("GET", "/api/lcd?module=9", None, 404, "module"),
    ("GET", "/api/lcd?module=64", None, 400, "module"),
    ("POST", "/api/lcd/keys", {"module": 9, "key": "touch"}, 404, "module"),
]


@pytest.mark.parametrize("case", ERRORS)
def test_errors_are_typed_json(server: RunningBank, case: tuple[str, str, dict[str, Any] | None, int, str]) -> None:
    method, path, body, status, field = case
    r = httpx.request(method, f"{server.url}{path}", json=body)
    assert r.status_code == status
    assert r.json()["error"]["field"] == field and r.json()["error"]["message"]


def test_the_page_and_its_assets_come_from_the_package(server: RunningBank) -> None:
    page = httpx.get(f"{server.url}/lcd")
    assert page.status_code == 200 and "/lcd/lcd.js" in page.text and "//" not in page.text  # no CDN
    js = httpx.get(f"{server.url}/lcd/lcd.js")
    assert (
        js.status_code == 200
        and "/api/lcd/keys" in js.text
        and js.headers["content-type"].startswith("text/javascript")
    )
    css = httpx.get(f"{server.url}/lcd/lcd.css")
    assert css.status_code == 200 and ".lcd" in css.text
    assert httpx.get(f"{server.url}/lcd/other.js").status_code == 404


def test_lockout_and_a_shut_down_module_on_their_own_device(tmp_path: Path) -> None:
    """Five wrong PINs lock the device's PIN check: the LCD shows the countdown and refuses √ until it ends; the
    module shut down by a long ON/OFF press has a dark LCD."""
    with RunningBank(tmp_path, "--quiet") as device:
        wrong = "1" * len(device.pin) if device.pin != "1" * len(device.pin) else "2" * len(device.pin)
        keys(device, 1, "touch", "settings", "can")
        for n in range(1, FREE_TRIES + 1):
            s = keys(device, 1, *wrong, "ok", "pick:sma-can")
            assert s.page is LcdPage.PIN and s.action is None
            assert ("locked" in s.notice) == (n == FREE_TRIES), s.notice
        locked = values(s)["Locked"]
        assert locked.endswith(" s") and 0 < int(locked[:-2]) <= FIRST_LOCK_S
        refused = keys(device, 1, *device.pin, "ok")
        assert refused.page is LcdPage.PIN and "PIN locked for" in refused.notice
        assert not next(b for b in refused.buttons if b.key == "ok").enabled
        r = httpx.post(f"{device.url}/api/buttons/power", json={"module": 1, "long": True})
        assert r.status_code in (200, 202), r.text
        while not httpx.get(f"{device.url}/api/lcd", params={"module": 1}).json()["off"]:
            time.sleep(0.1)  # poll interval: the run loop applies the press at its next tick
        dark = from_jsonable(LcdScreen, httpx.get(f"{device.url}/api/lcd", params={"module": 1}).json())
        assert dark.off and dark.rows == () and dark.buttons == ()
