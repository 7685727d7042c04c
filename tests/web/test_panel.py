"""The front panel through the API of a real ``ml314 run``: DIP switches read at RESET only (manual 6.3, 8.5), the
ON/OFF switch, the breaker, and the event log with its acknowledgement."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ml314.twin.frontpanel import DipSwitches
from tests.web.running import RunningBank, wait_for


def _addresses(body: dict[str, Any]) -> list[int]:
    return [m["address"] for m in body["bank"]["modules"]]


def _bank_if(c: httpx.Client, holds: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    body: dict[str, Any] = c.get("/api/bank").json()
    return body if holds(body) else None


def _module_if(c: httpx.Client, module_id: int, holds: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    m = _module(c, module_id)
    return m if m is not None and holds(m) else None


def _module(c: httpx.Client, module_id: int) -> dict[str, Any] | None:
    r = c.get(f"/api/modules/{module_id}")
    return r.json() if r.status_code == 200 else None


def test_a_moved_dip_switch_takes_effect_at_reset(tmp_path: Path) -> None:
    with RunningBank(tmp_path, "--quiet") as bank, bank.client() as c:
        seven = list(DipSwitches.from_id(7, termination=True).positions)
        r = c.put("/api/modules/1/dip", json={"switches": seven})
        assert r.status_code == 200 and r.json()["status"] == "applied", r.text
        assert r.json()["dip_pending"] == seven and r.json()["id_at_reset"] == 7
        # moved, not read: the module keeps ID 1 until RESET (the status says so, ticks later too)
        wait_for(lambda: _module_if(c, 1, lambda m: m["dip_pending"] == seven), "pending", alive=bank)
        assert _addresses(c.get("/api/bank").json()) == [1]
        assert c.get("/api/modules/7").status_code == 404
        reset = c.post("/api/buttons/reset", json={})  # one module: it may be left unnamed
        assert reset.status_code == 200, reset.text
        assert reset.json() == {"status": "applied", "module_id": 7, "previous_id": 1, "dip_read": True}
        seen = wait_for(lambda: _module(c, 7), "the new ID", alive=bank)
        assert seen["dip"] == seven and seen["dip_pending"] is None and seen["module"]["address"] == 7
        bank_now = wait_for(lambda: _bank_if(c, lambda b: _addresses(b) == [7]), "the bank with ID 7", alive=bank)
        assert bank_now["modules_online"] == 1
        assert c.get("/api/modules/1").status_code == 404


def test_reset_in_a_linked_bank_makes_the_master_find_the_new_id(tmp_path: Path) -> None:
    with RunningBank(tmp_path, "--modules", "2", "--quiet") as bank, bank.client() as c:
        online = wait_for(lambda: _bank_if(c, lambda b: b["modules_online"] == 2), "both modules", alive=bank)
        assert _addresses(online) == [1, 2]
        five = list(DipSwitches.from_id(5, termination=True).positions)
        assert c.put("/api/modules/2/dip", json={"switches": five}).status_code == 200
        assert c.post("/api/buttons/reset", json={"module": 2}).json()["module_id"] == 5
        # RESET on the master as well: a fresh discovery scan finds ID 5 (ID 2 is not looked for any more); the
        # module joins the bus when its voltage matches (waiting until then)
        master_reset = c.post("/api/buttons/reset", json={"module": 1})
        assert master_reset.status_code in (200, 202), master_reset.text  # 202: queued, the run loop was busy
        found = {"waiting", "online"}
        again = wait_for(lambda: _module_if(c, 5, lambda m: m["link_state"] in found), "5 found", alive=bank)
        assert again["module"]["address"] == 5 and c.get("/api/modules/2").status_code == 404
        master = wait_for(lambda: _module_if(c, 1, lambda m: m["link_state"] == "master"), "master", alive=bank)
        assert master["online"]
        wait_for(
            lambda: _bank_if(c, lambda b: not any(f["kind"] == "MODULE_LOST" for f in b["faults"])),
            "no lost module after the master's fresh scan",
            alive=bank,
        )


def test_on_off_breaker_and_the_event_log(tmp_path: Path) -> None:
    with RunningBank(tmp_path, "--quiet") as bank, bank.client() as c:
        assert c.post("/api/breaker", json={"closed": False}).json() == {
            "status": "applied",
            "module_id": 1,
            "closed": False,
        }
        wait_for(lambda: _module_if(c, 1, lambda m: not m["breaker_closed"]), "open", alive=bank)
        assert c.post("/api/breaker", json={"closed": True}).status_code == 200
        wait_for(lambda: _module_if(c, 1, lambda m: m["breaker_closed"]), "closed again", alive=bank)
        # ON/OFF held: the BMS shuts down, its LEDs go dark and the log says so
        assert c.post("/api/buttons/power", json={"long": True}).status_code == 200
        off = wait_for(lambda: _module_if(c, 1, lambda m: not m["powered"]), "shutdown", alive=bank)
        assert off["module"]["state"] == "shutdown" and off["leds"]["soc"] == [False] * 4
        assert not off["leds"]["run"]["lit"] and not off["online"]
        events = c.get("/api/events", params={"module": 1, "kind": "state"}).json()["events"]
        shut = [e for e in events if "ON/OFF" in e["message"]]
        assert shut and not shut[-1]["acknowledged"], events
        acked = c.post(f"/api/events/{shut[-1]['id']}/ack")
        assert acked.status_code == 200 and acked.json()["acknowledged"] is True
        left = c.get("/api/events", params={"unacknowledged": True}).json()["events"]
        assert shut[-1]["id"] not in [e["id"] for e in left]
        t = shut[-1]["t_s"]
        assert all(e["t_s"] >= t for e in c.get("/api/events", params={"from": t}).json()["events"])
        # a short press starts it again
        assert c.post("/api/buttons/power", json={"module": 1}).status_code == 200
        on = wait_for(lambda: _module_if(c, 1, lambda m: m["powered"]), "on", alive=bank)
        assert on["leds"]["run"]["pattern"] != "OFF"
