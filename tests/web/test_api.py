"""The web API of a real ``ml314 run`` (subprocess, free loopback port, its own data dir): every REST route, the
JSON form of the snapshots, typed errors, the PIN with its lockout."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ml314.domain.battery_status import BankStatus, ModuleStatus
from ml314.domain.faults import SystemFault
from ml314.domain.link_health import LinkHealthSnapshot
from ml314.domain.snapshot_json import from_jsonable
from ml314.storage.identity import FREE_TRIES
from tests.web.running import RunningBank, wait_for


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBank]:
    with RunningBank(tmp_path_factory.mktemp("web-api"), "--modules", "2", "--quiet") as running:
        yield running


def _error(r: httpx.Response, status: int, code: str, field: str | None) -> dict[str, object]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["code"] == code and err["field"] == field, err
    assert err["message"] and "Traceback" not in r.text
    return dict(err)


def test_the_url_comes_first_and_openapi_documents_every_route(bank: RunningBank) -> None:
    assert bank.lines[0].startswith("web: http://127.0.0.1:")
    with bank.client() as c:
        spec = c.get("/openapi.json").json()
        assert c.get("/docs").status_code == 200
    paths = set(spec["paths"])
    assert {
        "/api/bank",
        "/api/modules",
        "/api/modules/{module_id}",
        "/api/modules/{module_id}/dip",
        "/api/events",
        "/api/events/{event_id}/ack",
        "/api/parameters",
        "/api/protocols",
        "/api/buttons/{button}",
        "/api/breaker",
    } <= paths
    assert {"get", "put"} <= set(spec["paths"]["/api/parameters"])


def test_bank_is_the_snapshot_json_of_the_running_bank(bank: RunningBank) -> None:
    with bank.client() as c:
        body = c.get("/api/bank").json()
    status = from_jsonable(BankStatus, body["bank"])
    assert 0.0 < status.soc_pct < 100.0 and 40.0 < status.voltage_v < 60.0
    assert body["modules_total"] == 2 and 0 <= body["modules_online"] <= 2
    faults = [from_jsonable(SystemFault, f) for f in body["faults"]]
    assert all(f.details for f in faults)
    links = [from_jsonable(LinkHealthSnapshot, x) for x in body["links"]]
    assert {x.link for x in links} >= {"bank link"}
    assert body["protocols"]["can"] == "pylon-can"


def test_a_module_has_its_cells_leds_and_switches(bank: RunningBank) -> None:
    with bank.client() as c:
        body = c.get("/api/modules/2").json()
        listed = c.get("/api/modules").json()
    module = from_jsonable(ModuleStatus, body["module"])
    assert module.address == 2 and len(module.cell_voltages_v) == 16 and len(module.temperatures_c) == 6
    assert body["id"] == 2 and body["index"] == 1 and isinstance(body["online"], bool)
    assert body["dip"] == [False, False, False, False, True, False, False, True]  # ID 2, the last: terminated
    assert body["dip_pending"] is None and body["breaker_closed"] is True
    leds = body["leds"]
    assert leds["mode"] and leds["run"]["pattern"] in {"ON", "OFF", "FLASH_1", "FLASH_2", "FLASH_3", "BURST_20"}
    assert len(leds["soc"]) == 4
    assert [m["id"] for m in listed] == [1, 2] and all(m["module"]["cell_voltages_v"] == [] for m in listed)


def test_errors_are_typed_json_never_a_traceback(bank: RunningBank) -> None:
    with bank.client() as c:
        _error(c.get("/api/modules/9"), 404, "not_found", "module")
        _error(c.get("/api/modules/x"), 400, "invalid_field", "module_id")
        _error(c.get("/api/nothing"), 404, "not_found", None)
        _error(c.post("/api/bank"), 405, "method_not_allowed", None)
        _error(c.put("/api/modules/1/dip", json={"switches": [True] * 7}), 400, "bad_request", "switches")
        _error(c.put("/api/modules/1/dip", json={"switches": "up"}), 400, "invalid_field", "switches")
        _error(c.post("/api/buttons/reset", json={}), 400, "bad_request", "module")  # 2 modules: name one
        _error(c.post("/api/buttons/hold", json={"module": 1}), 400, "invalid_field", "button")
        _error(c.get("/api/events", params={"kind": "boom"}), 400, "bad_request", "kind")
        _error(c.get("/api/events", params={"from": 10, "to": 5}), 400, "bad_request", "to")
        _error(c.post("/api/events/999999/ack"), 404, "not_found", "id")
        _error(c.put("/api/protocols", json={"can": "CAN:P99", "pin": bank.pin}), 400, "bad_request", "can")
        _error(c.put("/api/protocols", json={"can": "pylon-rs485", "pin": bank.pin}), 400, "bad_request", "can")
        _error(c.put("/api/protocols", json={"can": 5}), 400, "invalid_field", "can")
        broken = c.put("/api/protocols", content=b"{", headers={"content-type": "application/json"})
        assert "JSON" in str(_error(broken, 400, "invalid_field", None)["message"])


def test_protocols_need_the_pin_and_take_effect_at_the_next_start(bank: RunningBank) -> None:
    with bank.client() as c:
        _error(c.put("/api/protocols", json={"can": "CAN:P09"}), 401, "pin_required", "pin")
        wrong = _error(c.put("/api/protocols", json={"can": "CAN:P09", "pin": "00000000"}), 403, "pin_wrong", "pin")
        assert "tries left" in str(wrong["message"])
        ok = c.put("/api/protocols", json={"can": "CAN:P09", "rs485": "RS485:P04", "pin": bank.pin})
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"can": "solis-can", "rs485": "voltronic-rs485", "restart_required": True}
        now = c.get("/api/protocols").json()
    assert now["can"]["name"] == "solis-can" and now["running"]["can"] == "pylon-can"  # until the next start
    assert any(p["code"] == "CAN:P09-SOL" for p in now["available"])
    saved = tomllib.loads(bank.settings.read_text())["protocols"]
    assert saved == {"can": "CAN:P09-SOL", "rs485": "RS485:P04-VOL"}


def test_parameters_are_viewed_by_all_and_installed_with_the_pin(bank: RunningBank) -> None:
    with bank.client() as c:
        got = c.get("/api/parameters").json()
        assert got["name"] == "ML314 default" == got["running"]["name"] and 'name = "ML314 default"' in got["text"]
        text = got["text"]
        _error(c.put("/api/parameters", json={"text": text}), 401, "pin_required", "pin")
        broken = text.replace("version = ", "versions = ", 1)
        bad = _error(c.put("/api/parameters", json={"text": broken, "pin": bank.pin}), 400, "bad_request", "text")
        assert "version" in str(bad["message"])
        assert not (bank.data_dir / "parameters.toml").exists()  # nothing written for an invalid set
        ok = c.put("/api/parameters", json={"text": text, "pin": bank.pin})
        assert ok.status_code == 200, ok.text
        assert ok.json()["restart_required"] is True
        assert (bank.data_dir / "parameters.toml").read_text() == text
        assert c.get("/api/parameters").json()["source"].endswith("parameters.toml")


def test_wrong_pins_lock_the_check_with_retry_after(tmp_path: Path) -> None:
    with RunningBank(tmp_path, "--quiet") as running, running.client() as c:
        for _ in range(FREE_TRIES - 1):
            _error(c.put("/api/protocols", json={"can": "CAN:P09", "pin": "1"}), 403, "pin_wrong", "pin")
        r = c.put("/api/protocols", json={"can": "CAN:P09", "pin": "1"})
        locked = _error(r, 403, "pin_locked", "pin")
        assert float(str(locked["retry_after_s"])) > 0 and r.headers["retry-after"]
        # locked: even the right PIN waits
        again = _error(c.put("/api/protocols", json={"can": "CAN:P09", "pin": running.pin}), 403, "pin_locked", "pin")
        assert float(str(again["retry_after_s"])) > 0


def test_the_run_serves_its_history(bank: RunningBank) -> None:
    def recorded(c: httpx.Client) -> dict[str, object] | None:
        r = c.get("/api/history", params={"fields": "soc_pct", "step": "1"})
        assert r.status_code == 200, r.text
        body: dict[str, object] = r.json()
        column = body["columns"]
        assert isinstance(column, dict)
        return body if any(v is not None for v in column["soc_pct"]) else None

    with bank.client() as c:
        body = wait_for(lambda: recorded(c), "a second of history", alive=bank)
        assert body["units"] == {"soc_pct": "%"}
        _error(c.get("/api/history", params={"fields": "nonsense"}), 400, "bad_field", "nonsense")
