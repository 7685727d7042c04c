"""benchmarks/sam_compare.py on two days: both models get the same load and PV, and the table's figures hold
together (SAM's side runs when PySAM is installed, as the dev extra does; ml314's side always)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import sam_compare as sc

CASE = sc.Case(days=2.0, step_min=60)


@pytest.fixture(scope="module")
def compared() -> tuple[list[dict[str, object]], dict[str, object]]:
    return sc.compare(CASE, with_sam=sc.sam_available())


def test_ml314_side_balances_and_sees_the_scenario_profiles(compared: tuple[list[dict], dict]) -> None:
    ml = {r["metric"]: r["ml314"] for r in compared[0]}
    assert list(ml) == list(sc.METRICS)
    load, pv, _, _ = sc.home_profiles(CASE.request())
    steps = round(CASE.days * 86400.0 / 3600.0)
    assert ml["pv"] == pytest.approx(sc.interval_means(pv, 3600.0, steps).sum() / 1000.0, rel=1e-3)
    assert ml["load"] == pytest.approx(sc.interval_means(load, 3600.0, steps).sum() / 1000.0, rel=1e-3)
    # the grid covers what PV does not, plus what the battery takes through the inverter, plus its standby
    inv = CASE.request().inverter
    battery_ac = ml["battery_charged_dc"] / inv.efficiency - ml["battery_throughput_dc"] * inv.efficiency
    standby = inv.standby_w * CASE.days * 24.0 / 1000.0
    net = ml["load"] - ml["pv"] + battery_ac + standby
    assert ml["grid_import"] - ml["grid_export"] == pytest.approx(net, abs=0.05)
    assert ml["battery_throughput_dc"] > 0.0 and 0.0 < ml["self_consumption"] < 100.0


@pytest.mark.skipif(not sc.sam_available(), reason="needs PySAM (pip install -e '.[bench]')")
def test_sam_gets_the_same_profiles_and_cycles_the_battery(compared: tuple[list[dict], dict]) -> None:
    rows = {r["metric"]: r for r in compared[0]}
    assert abs(rows["pv"]["diff_pct"]) < 0.1 and abs(rows["load"]["diff_pct"]) < 0.1
    sam = {m: r["sam"] for m, r in rows.items()}
    assert sam["battery_throughput_dc"] > 0.0 and 0.0 < sam["battery_dc_efficiency"] < 100.0
    assert all(r["diff_pct"] is not None for r in rows.values())
