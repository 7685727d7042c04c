"""The simulation engine through its API: reproducible, streaming, summarised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml314.errors import InputError
from ml314.runtime.scenarios import SCENARIOS
from ml314.runtime.simulation import SimulationRequest, series_columns, simulate
from ml314.storage.bms_store import load_bms_state
from ml314.storage.timeseries import read_columns
from ml314.twin.home import HomeController, InverterSpec


def _series(path: Path, modules: int) -> dict[str, np.ndarray]:
    names = [c.name for c in series_columns(modules)]
    parts = list(read_columns(path, names))
    return {n: np.concatenate([p[n] for p in parts]) for n in names}


def test_same_seed_gives_the_same_run(tmp_path: Path) -> None:
    req = SimulationRequest(modules=2, days=1.0, sample_s=600.0, seed=4, outages_per_month=15.0, link=False)
    a = simulate(req, tmp_path / "a", SCENARIOS, report=False)
    b = simulate(req, tmp_path / "b", SCENARIOS, report=False)
    c = simulate(
        SimulationRequest(modules=2, days=1.0, sample_s=600.0, seed=5, link=False),
        tmp_path / "c",
        SCENARIOS,
        report=False,
    )
    sa, sb, sc = _series(a.series_path, 2), _series(b.series_path, 2), _series(c.series_path, 2)
    for name in sa:
        np.testing.assert_array_equal(sa[name], sb[name])
    assert not np.array_equal(sa["load_w"], sc["load_w"])
    assert a.summary["energy"] == b.summary["energy"]


def test_home_day_balances_and_streams_rows(tmp_path: Path) -> None:
    out = simulate(SimulationRequest(modules=1, days=2.0, sample_s=60.0), tmp_path, SCENARIOS, report=False)
    s = out.summary
    assert s["run"]["rows"] == 2 * 1440
    e = s["energy"]
    # AC side: what the house consumed came from PV, grid and battery (less what was exported and lost)
    assert e["load_kwh"] > 0.0 and e["pv_kwh"] > 0.0
    assert 0.0 <= s["soc"]["min_pct"] <= s["soc"]["max_pct"] <= 100.0
    assert json.loads(out.summary_path.read_text())["run"]["modules"] == 1
    series = _series(out.series_path, 1)
    assert np.all(np.diff(series["t_s"]) == 60.0)
    # battery power is the bus voltage times the bus current (interval means vs instants: same sign when steady)
    assert np.all(series["m01_cell_max_v"] >= series["m01_cell_min_v"])


def test_outage_is_bridged_by_the_battery(tmp_path: Path) -> None:
    req = SimulationRequest(modules=1, days=3.0, sample_s=60.0, seed=3, outages_per_month=30.0, mean_outage_h=4.0)
    out = simulate(req, tmp_path, SCENARIOS, report=False)
    series = _series(out.series_path, 1)
    # power columns are interval means: take samples whose whole interval was in an outage
    down = np.zeros(series["grid_up"].size, dtype=bool)
    down[1:] = (series["grid_up"][1:] < 0.5) & (series["grid_up"][:-1] < 0.5)
    assert down.any()
    # during outages the grid carries nothing and the battery carries the house
    assert np.all(series["grid_w"][down] == 0.0)
    covered = down & (series["unserved_w"] == 0.0) & (series["load_w"] > series["pv_w"] + 50.0)
    assert np.all(series["battery_w"][covered] < 0.0)


def test_validation_names_the_value() -> None:
    with pytest.raises(InputError, match="--modules 17"):
        SimulationRequest(modules=17).validate()
    with pytest.raises(InputError, match="--sample"):
        SimulationRequest(sample_s=90.5).validate()


def test_home_controller_keeps_the_reserve_and_recharges_with_hysteresis() -> None:
    ctl = HomeController(InverterSpec(reserve_soc=0.2, recharge_band=0.05))
    assert ctl.decide(0.5).discharge_allowed
    assert not ctl.decide(0.19).discharge_allowed
    low = ctl.decide(0.14)
    assert low.recharging and low.grid_charge_w > 0.0
    assert ctl.decide(0.17).recharging  # keeps recharging until back at the reserve
    assert not ctl.decide(0.21).recharging
    backup = HomeController(InverterSpec(mode="backup"))
    d = backup.decide(0.9)
    assert not d.discharge_allowed and d.recharging


def test_home_controller_grants_full_and_force_charge_requests_in_either_mode() -> None:
    for mode in ("self-consumption", "backup"):
        ctl = HomeController(InverterSpec(mode=mode, grid_charge_w=2500.0))
        full = ctl.decide(0.6, full_charge=True)
        assert full.granting == "full_charge" and full.grid_charge_w == 2500.0 and not full.discharge_allowed
        force = ctl.decide(0.03, force_charge=True)
        assert force.granting == "force_charge" and force.grid_charge_w == 2500.0 and not force.discharge_allowed
        assert ctl.decide(0.6).granting == ""  # the request cleared: back to the mode's own rule
    assert HomeController(InverterSpec()).decide(0.6).discharge_allowed


def test_simulate_runs_the_bms_and_keeps_its_log(tmp_path: Path) -> None:
    req = SimulationRequest(modules=2, days=1.0, sample_s=600.0, seed=4, link=False)
    a = simulate(req, tmp_path / "a", SCENARIOS, report=False)
    b = simulate(req, tmp_path / "b", SCENARIOS, report=False)
    bms = a.summary["bms"]
    assert bms["events"]["state"] > 0 and bms["soc_error_end_pct"] < 5.0
    assert a.summary["bms"] == b.summary["bms"]  # same seed, same BMS decisions
    series = _series_bms(a.series_path, 2)
    assert np.all(series["bank_ccl_a"] >= 0.0) and np.all(series["m01_bms_soc"] <= 1.0)
    # the BMS started from the OCV on the plateau, unsure: it asked for a full charge and the inverter granted it
    requests = a.summary["charge_requests"]
    assert requests["full_charge_requests"] >= 1 and requests["full_charges_granted"] >= 1
    assert series["m01_full_charge_request"][0] == 1.0 and series["m01_bms_soc_bound"][0] > 0.1
    assert 0.0 < bms["soc_bound_end_pct"] < 2.0
    assert abs(bms["bank_soc_error_end_pct"]) <= bms["soc_bound_end_pct"]
    # the battery never charged faster than the limit its BMS gave the inverter (one second late, as on a link)
    assert np.all(series["bus_current_a"][1:] <= series["bank_ccl_a"][:-1] + 1.0)
    stored = load_bms_state(a.out_dir / "bms_state.json", 2)
    assert stored.source == "main"
    assert len(stored.events) == sum(bms["events"].values())
    assert stored.counters.values[:, 0].sum() > 0.0  # Ah charged, persisted


def _series_bms(path: Path, modules: int) -> dict[str, np.ndarray]:
    names = [c.name for c in series_columns(modules, with_bms=True)]
    parts = list(read_columns(path, names))
    return {n: np.concatenate([p[n] for p in parts]) for n in names}


def test_a_linked_bank_is_deterministic_too(tmp_path: Path) -> None:
    req = SimulationRequest(modules=3, days=0.1, sample_s=600.0, seed=4)
    assert req.with_link
    a = simulate(req, tmp_path / "a", SCENARIOS, report=False)
    b = simulate(req, tmp_path / "b", SCENARIOS, report=False)
    assert a.summary["energy"] == b.summary["energy"]
    assert a.summary["bank_link"] == b.summary["bank_link"]
    assert a.summary["bank_link"]["online"] == [2, 3] and a.summary["bank_link"]["faults"] == []


def test_resume_continues_a_finished_run_from_its_saved_bank(tmp_path: Path) -> None:
    from dataclasses import replace  # noqa: PLC0415

    from ml314.errors import ConfigError  # noqa: PLC0415
    from ml314.storage.bank_state import BankShape, load_bank_state  # noqa: PLC0415

    req = SimulationRequest(modules=2, days=0.5, sample_s=600.0, seed=4, link=False)
    a = simulate(req, tmp_path / "a", SCENARIOS, report=False)
    b = simulate(replace(req, resume=a.out_dir), tmp_path / "b", SCENARIOS, report=False)
    assert b.summary["soc"]["start_pct"] == pytest.approx(a.summary["soc"]["end_pct"])  # not 50 % again
    assert b.summary["soc"]["start_pct"] != pytest.approx(50.0, abs=1.0)
    assert b.summary["run"]["simulated_days"] == pytest.approx(0.5)
    ta, tb = _series(a.series_path, 2)["t_s"], _series(b.series_path, 2)["t_s"]
    assert tb[0] == ta[-1] + 600.0  # the clock goes on
    shape = BankShape(2, 4)
    saved_a = load_bank_state(a.out_dir / "bms_state.json", shape)
    saved_b = load_bank_state(b.out_dir / "bms_state.json", shape)
    assert len(saved_b.events) > len(saved_a.events)  # the log goes on (with a "restored" event)
    assert (saved_b.counters.values[:, 0] > saved_a.counters.values[:, 0]).all()  # Ah charged accumulate
    assert any(n.startswith("resumed from") for n in b.summary["notes"])
    with pytest.raises(ConfigError, match="seed 4, not 2 module"):
        simulate(replace(req, seed=5, resume=a.out_dir), tmp_path / "c", SCENARIOS, report=False)
    with pytest.raises(InputError, match="no saved state"):
        simulate(replace(req, resume=tmp_path / "none"), tmp_path / "d", SCENARIOS, report=False)
