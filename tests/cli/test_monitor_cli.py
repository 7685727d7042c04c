"""``ml314 monitor`` reads a second, real ``ml314 run --modules 16``: over RS485 on loopback TCP (every pack polled
at its address) and over CAN (both processes on one bus: the hub of ``tests/peers/can_hub.py``). Its API shows
the 16 modules as the run's own API does, its history fills, what it cannot do is a 409, and bad input is one
line and exit 2.

One ``ml314 run`` serves both links for the whole module. The monitor's modules are compared with the modules the
run's master presents (``/api/bank``'s ``bank.modules``, what its RS485 encodes). Tolerances (the two processes
sample a second or two apart, and the run's master refreshes its view of the modules over the bank link): bank
voltage 0.05 V, module voltage 0.2 V (a load step of the simulated home moves it through the module's resistance
between two samples), SOC 0.5 % on RS485 (the wire carries mAh), 1 % on CAN (whole percent), cells 10 mV. The
current is not compared: the simulated home changes it from one second to the next.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.cli.test_simulate_cli import assert_one_line_error, ml314
from tests.peers.can_hub import CanHub
from tests.processes import OutputProcess
from tests.web.running import ML314, URL, RunningBank, wait_for

RS485_PORT = re.compile(r"RS485 listening on tcp://127\.0\.0\.1:(\d+)")
WATCHING = "ml314 monitor: watching"


class RunningMonitor(RunningBank):
    """``ml314 monitor`` in a subprocess (``--http 127.0.0.1:0``, its own data dir); the output handling is the
    run's."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.data_dir = tmp / "monitor-data"
        cmd = [*ML314, "monitor", "--http", "127.0.0.1:0", "--data-dir", str(self.data_dir), *args]
        OutputProcess.__init__(self, cmd, cwd=tmp, what="ml314 monitor")
        try:
            self.wait_line(WATCHING)
        except BaseException:
            self.stop()
            raise
        first = URL.match(self.lines[0])
        assert first, f"the URL is not the first line: {self.lines[:3]}"
        self.url = first.group(1)


@pytest.fixture(scope="module")
def hub() -> Iterator[CanHub]:
    h = CanHub()
    yield h
    h.close()


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory, hub: CanHub) -> Iterator[RunningBank]:
    tmp = tmp_path_factory.mktemp("run16")
    args = ("--modules", "16", "--rs485", "tcp://127.0.0.1:0", "--protocol", "pylon-rs485", "--can", hub.channel,
            "--protocol", "pylon-can", "--no-peer", "--quiet")  # fmt: skip
    with RunningBank(tmp, *args) as run, run.client() as c:
        # every module in the master's bank first: the run's RS485 answers ADR 2 + k - 1 with the k-th module it
        # presents, so while the bank assembles an address may still answer for another module
        wait_for(lambda: get(c, "/api/bank")["modules_online"] == 16 or None, "the run's 16 modules", alive=run)
        yield run


def get(client: httpx.Client, path: str) -> Any:
    r = client.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def bank_of(client: httpx.Client, *, online: int, proc: RunningBank) -> dict[str, Any]:
    """The monitor's /api/bank once ``online`` modules answer (503 until the battery has answered)."""

    def probe() -> dict[str, Any] | None:
        r = client.get("/api/bank")
        if r.status_code != 200:
            return None
        body: dict[str, Any] = r.json()
        return body if body["modules_online"] == online else None

    return wait_for(probe, f"{online} modules online", alive=proc)


def history_values(client: httpx.Client, proc: RunningBank, module: str | None) -> list[float]:
    """The non-null SOC samples of the monitor's history (the bank's, or every module's), once there are some."""

    def probe() -> list[float] | None:
        params = {"fields": "soc_pct", "step": "1", "from": str(int(time.time()) - 600)}
        r = client.get("/api/history", params=params | ({"module": module} if module else {}))
        assert r.status_code == 200, r.text
        values = [v for col in r.json()["columns"].values() if isinstance(col, list) for v in col if v is not None]
        return values or None

    return wait_for(probe, "history rows", alive=proc)


def test_rs485_monitor_reads_every_module_of_a_16_module_run(bank: RunningBank, tmp_path: Path) -> None:
    port = RS485_PORT.search("\n".join(bank.lines))
    assert port, bank.lines
    with RunningMonitor(tmp_path, "--rs485", f"tcp://127.0.0.1:{port.group(1)}") as mon, mon.client() as c:
        assert any("polling packs at ADR 2..17" in line for line in mon.lines), mon.lines
        ours = bank_of(c, online=16, proc=mon)
        wait_for(lambda: all(m["module"]["serial"] for m in get(c, "/api/modules")) or None, "serials", alive=mon)
        with bank.client() as rc:
            theirs = get(rc, "/api/bank")
        their_modules = {m["address"]: m for m in theirs["bank"]["modules"]}  # what its master presents
        ours = get(c, "/api/bank")
        assert ours["modules_online"] == ours["modules_total"] == theirs["modules_online"] == 16
        assert ours["protocols"]["rs485"] == "pylon-rs485"
        assert ours["bank"]["voltage_v"] == pytest.approx(theirs["bank"]["voltage_v"], abs=0.05)
        assert ours["bank"]["soc_pct"] == pytest.approx(theirs["bank"]["soc_pct"], abs=0.5)
        monitor = get(c, "/api/monitor")
        assert [p["module"] for p in monitor["packs"]] == list(range(1, 17))
        for mid in range(1, 17):
            body = get(c, f"/api/modules/{mid}")
            mine, real = body["module"], their_modules[mid]
            assert body["online"] and body["link_state"] == "online", body
            assert mine["serial"] == real["serial"]
            assert mine["voltage_v"] == pytest.approx(real["voltage_v"], abs=0.2), mid
            assert mine["soc_pct"] == pytest.approx(real["soc_pct"], abs=0.5), mid
            assert len(mine["cell_voltages_v"]) == 16
            assert mine["cell_voltages_v"] == pytest.approx(real["cell_voltages_v"], abs=0.01), mid
        with connect(mon.url.replace("http://", "ws://") + "/api/live") as ws:
            live = json.loads(ws.recv())
        assert live["modules_online"] == 16 and [m["id"] for m in live["modules"]] == list(range(1, 17))
        assert len(history_values(c, mon, None)) >= 1
        assert len(history_values(c, mon, "all")) >= 16
        for method, path, body in (
            ("POST", "/api/buttons/reset", {"module": 1}),
            ("PUT", "/api/modules/1/dip", {"switches": [False] * 8}),
            ("POST", "/api/breaker", {"module": 1, "closed": False}),
            ("GET", "/api/parameters", None),
        ):
            r = c.request(method, path, json=body)
            assert r.status_code == 409, (path, r.text)
            assert r.json()["error"]["code"] == "not_available", r.text
        events = get(c, "/api/events?kind=info")["events"]
        assert {e["module_id"] for e in events if e["key"] == "monitor.found"} == set(range(1, 17))
        out = mon.stop()
    assert mon.proc.returncode == 0, mon.errors
    assert "stopped after" in out and "Traceback" not in "\n".join(mon.errors)


def test_can_monitor_reads_the_bank_a_16_module_run_broadcasts(bank: RunningBank, hub: CanHub, tmp_path: Path) -> None:
    with RunningMonitor(tmp_path, "--can", hub.channel, "--protocol", "CAN:P14") as mon, mon.client() as c:
        ours = bank_of(c, online=16, proc=mon)
        with bank.client() as rc:
            theirs = get(rc, "/api/bank")
        assert ours["protocols"]["can"] == "pylon-can"
        assert ours["bank"]["voltage_v"] == pytest.approx(theirs["bank"]["voltage_v"], abs=0.05)
        assert ours["bank"]["soc_pct"] == pytest.approx(theirs["bank"]["soc_pct"], abs=1.0)
        module = get(c, "/api/modules/16")
        assert module["online"] and module["link_state"] == "bank"
        assert module["module"]["voltage_v"] == ours["bank"]["voltage_v"]  # the bus voltage
        assert module["module"]["soc_pct"] is None  # Pylon CAN carries no module values
        can = get(c, "/api/monitor")["can"]
        assert can["frames_in"] > 0 and can["frames_out"] > 0  # the battery's frames in, the keep-alive out
        assert len(history_values(c, mon, None)) >= 1
        mon.stop()
    assert mon.proc.returncode == 0, mon.errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--rs485", "/dev/ttyNOSUCH7"), ("cannot open RS485 /dev/ttyNOSUCH7",)),
        (("--rs485", "tcp://127.0.0.1:{free}"), ("cannot open RS485 socket://127.0.0.1:", "refused")),
        (("--can", "virtual:x", "--protocol", "pylon-cam"), ("unknown protocol 'pylon-cam'", "did you mean")),
        (("--rs485", "tcp://127.0.0.1:1", "--protocol", "CAN:P14"), ("a CAN protocol and the link is RS485",)),
        (("--rs485", "tcp://127.0.0.1:1", "--protocol", "RS485:P01"), ("Pylon LV RS485 (pylon-rs485) only",)),
        ((), ("--rs485 PORT or --can INTERFACE:CHANNEL",)),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], needles: tuple[str, ...], tmp_path: Path) -> None:
    given = [a.format(free=_free_port()) for a in args]
    result = ml314("monitor", *given, "--http", "off", "--data-dir", tmp_path / "d")
    assert_one_line_error(result, *needles)
