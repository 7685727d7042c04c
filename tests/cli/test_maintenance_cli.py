"""``ml314 maintenance`` as a technician runs it: schedule, record, reminders, the shallow test, storage advice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TIMEOUT_S = 900  # a safety net only: a first start may compile the battery model


def ml314(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml314.cli.main", "maintenance", *map(str, args)],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip


def test_schedule_record_and_reminders(tmp_path: Path) -> None:
    dd = ("--data-dir", tmp_path / "dd")
    assert ml314("start", "2020-01-01", *dd).returncode == 0
    r = ml314("done", "power_cables", "--date", "2020-03-01", "--by", "tech", *dd)
    assert r.returncode == 0 and "recorded: Power cables on 2020-03-01" in r.stdout
    status = ml314(*dd)
    assert status.returncode == 0
    assert "reminder: Charge and discharge maintenance: overdue by" in status.stdout
    doc = json.loads(ml314("--json", *dd).stdout)
    items = {i["key"]: i for i in doc["items"]}
    assert items["power_cables"]["last_done"] == "2020-03-01" and items["power_cables"]["due"] == "2020-08-30"
    assert items["communication_cables"]["due"] == "2020-12-31" and items["communication_cables"]["status"] == "overdue"
    assert ml314("store", "2020-06-01", *dd).returncode == 0
    doc = json.loads(ml314("--json", *dd).stdout)
    assert doc["stored_since"] == "2020-06-01"
    assert next(i for i in doc["items"] if i["key"] == "storage_recharge")["due"] == "2020-08-31"
    assert "back in service" in ml314("store", "--end", *dd).stdout
    assert "storage_recharge" not in ml314(*dd).stdout
    bad = ml314("done", "cables", *dd)
    assert bad.returncode == 2 and bad.stderr.startswith("ml314: error: maintenance item 'cables'")


def test_shallow_test_on_the_twin_is_recorded(tmp_path: Path) -> None:
    r = ml314("test", "--record", "--data-dir", tmp_path / "dd")
    assert r.returncode == 0, r.stderr
    assert "20 % of the rated power" in r.stdout and "result (on the twin): SOC normal, SOH normal" in r.stdout
    doc = json.loads((tmp_path / "dd" / "maintenance.json").read_text())
    assert doc["records"][0]["item"] == "charge_discharge" and doc["records"][0]["result"] == "SOC normal, SOH normal"


def test_storage_advice_takes_the_stricter_interval() -> None:
    r = ml314("storage", "--months", "12", "--soc", "0.9", "--temperature", "38")
    assert r.returncode == 0
    assert "every 3 months" in r.stdout and "13.1 (10)" in r.stdout and "8.1.3" in r.stdout
    assert "recharge reminders: 4 in 12 months" in r.stdout
    assert "check: SOC 90 %" in r.stdout and "check: 38 degC" in r.stdout
