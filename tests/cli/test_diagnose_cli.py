"""``ml314 diagnose`` as a process: against a running ``ml314 run`` (its ``GET /api/diagnostics`` and page), against
a stored bank, and bad input as one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ml314.runtime.fault_scenarios import FaultBench, fault
from ml314.runtime.simulation import STATE_FILE
from ml314.storage.bank_state import BankShape, save_bank_state
from tests.cli.test_simulate_cli import ml314, simulate
from tests.web.running import RunningBank, wait_for


def _codes(doc: dict[str, object]) -> set[str]:
    return {f["code"] for f in doc["findings"]}  # type: ignore[attr-defined, index]


@pytest.mark.long
def test_diagnose_a_running_bank_whose_inverter_is_silent(tmp_path: Path) -> None:
    # Pylon CAN on the virtual bus with no inverter on it: its keep-alive never comes (12.2 #1)
    with RunningBank(tmp_path, "--protocol", "CAN:P14", "--no-peer") as bank, bank.client() as http:

        def silent() -> dict[str, object] | None:
            doc: dict[str, object] = http.get("/api/diagnostics").json()
            return doc if "no_keepalive" in _codes(doc) else None

        doc = wait_for(silent, "the missing keep-alive", alive=bank)
        assert doc["problem"] is True
        line = "diagnosis: alarm: CAN P14-PYL pylon-can: communication failure with the inverter: no keep-alive"
        bank.wait_line(line)  # the terminal of ml314 run says it too
        page = http.get("/diagnostics")
        assert page.status_code == 200 and "diagnostics.js" in page.text
        assert "Diagnostics" in httpx.get(f"{bank.url}/pages/common.js").text  # in the nav bar
        as_json = ml314("diagnose", "--url", bank.url, "--json")
        assert as_json.returncode == 1, as_json.stderr
        assert "no_keepalive" in _codes(json.loads(as_json.stdout))
        text = ml314("diagnose", "--url", bank.url)
        assert text.returncode == 1
        assert "communication failure with the inverter: no keep-alive [Table 12-2 #1]" in text.stdout
        assert "solution: Refer 8.4.2" in text.stdout and "evidence: inverter keep-alive:" in text.stdout
    # the data dir it leaves: the BMS's memory holds nothing wrong (the links are not stored)
    stored = ml314("diagnose", "--data-dir", bank.data_dir)
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout.startswith("no finding at t ")


def test_diagnose_a_stored_bank(tmp_path: Path) -> None:
    bench = FaultBench(soc=0.03)  # emptied by a load that ignores the limits until it sleeps (12.2 #9)
    fault("low-voltage sleep").inject(bench)
    bench.run(2400)
    save_bank_state(tmp_path / STATE_FILE, bench.bank, bench.system.bms, BankShape(1, 1))
    bench.system.close()
    done = ml314("diagnose", "--data-dir", tmp_path, "--json")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    sleep = next(f for f in doc["findings"] if f["code"] == "sleep")
    assert sleep["module_id"] == 1 and sleep["manual"]["ref"] == "Table 12-2 #9"
    assert sleep["steps"][0] == "Charge the battery immediately and it will reboot itself."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name one system: --url"),
        (("--url", "http://127.0.0.1:1"), "cannot reach it"),
        (("--data-dir", "/"), "no stored bank there"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args: tuple[str, ...], message: str) -> None:
    done = ml314("diagnose", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.long
def test_replay_a_simulated_run(tmp_path: Path) -> None:
    assert simulate(tmp_path / "sim", "--modules", "2", "--sample", "1min").returncode == 0
    done = ml314("diagnose", "--data-dir", tmp_path / "sim", "--replay")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no finding at t ") and "over 0.25 days of 2 module(s), every minute" in done.stdout
