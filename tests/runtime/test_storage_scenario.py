"""``ml314 simulate --scenario storage``: months on a shelf, the twin's self-discharge, the recharge reminders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml314.errors import InputError
from ml314.runtime.simulation import SimulationRequest
from ml314.storage.report_charts import _storage_note

TIMEOUT_S = 900  # a safety net only: a first start may compile the battery model


def test_storage_months_show_self_discharge_reminders_and_advice(tmp_path: Path) -> None:
    out = tmp_path / "store"
    result = subprocess.run(
        [sys.executable, "-m", "ml314.cli.main", "simulate", "--scenario", "storage", "--months", "7",
         "--out", str(out), "--no-report", "--quiet"],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    st = json.loads((out / "summary.json").read_text())["storage"]
    assert st["class"].startswith("long-term") and st["target_soc_pct"] == pytest.approx(60.0)
    socs = [m["soc_pct"] for m in st["months"]]
    assert len(socs) == 7
    # LFP self-discharge 1-3 %/month of the cells; the module is held back by its leakiest cell
    assert 1.0 < st["soc_loss_pct_per_month"] < 4.0
    assert 50.0 > socs[0] > socs[1] > socs[2]  # falling month by month from the 50 % it shipped with
    # reminders every 3 months (13.1 (10)), each topping up to the target
    assert [round(r["due_day"]) for r in st["reminders"]] == [91, 183]
    for r in st["reminders"]:
        assert r["soc_before_pct"] < 55.0 and r["soc_after_pct"] == pytest.approx(60.0, abs=0.5)
    assert socs[3] > socs[2] + 10.0  # the first top-up shows in month 4
    assert st["soc_without_recharge_pct"] < socs[-1]
    assert "recharge reminder due on day 91" in result.stdout and "13.1 (10)" in result.stdout
    # the report's SOC chart says when the reminders fell due
    assert "recharge reminders fell due on days 91, 183" in _storage_note(st)


def test_storage_refuses_the_bms_and_both_spans(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="switched off"):
        SimulationRequest(scenario="storage", bms=True).validate()
    result = subprocess.run(
        [sys.executable, "-m", "ml314.cli.main", "simulate", "--scenario", "storage", "--months", "2", "--days", "3",
         "--out", str(tmp_path / "x"), "--quiet"],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "--months and --days" in result.stderr and "Traceback" not in result.stderr
