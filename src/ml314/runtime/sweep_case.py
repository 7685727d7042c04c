"""One case of a sweep, as a Dask worker runs it: a full ``ml314 simulate`` run, reduced to one row of the table.

The row's metrics are read from the run's own summary (``runtime/summary.py``), one table below names which, so a
metric means in the sweep exactly what it means in ``summary.json``. A case that fails still gives a row: its
inputs and the error, so the study goes on. :func:`warm_up` loads the compiled kernels into a worker before its
first case (what it costs, and why, in docs/sweep.md).
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from ml314.runtime.scenarios import SCENARIOS
from ml314.runtime.scenarios.home import home_profiles
from ml314.runtime.simulation import SimulationRequest, simulate
from ml314.runtime.sweep_study import Case
from ml314.twin.home import grid_without_battery

__all__ = ["METRICS", "case_row", "run_case", "warm_up"]

_KWH_PER_J = 1.0 / 3.6e6

#: table column <- (section, key) of summary.json
METRICS: dict[str, tuple[str, str]] = {
    "autarky_pct": ("ratios", "autarky_pct"),
    "self_consumption_pct": ("ratios", "self_consumption_pct"),
    "grid_import_kwh": ("energy", "grid_import_kwh"),
    "grid_export_kwh": ("energy", "grid_export_kwh"),
    "pv_kwh": ("energy", "pv_kwh"),
    "pv_curtailed_kwh": ("energy", "pv_curtailed_kwh"),
    "load_served_kwh": ("energy", "load_kwh"),
    "load_unserved_kwh": ("energy", "load_unserved_kwh"),  # only in outages: with the grid up it serves the load
    "battery_charged_kwh": ("energy", "battery_charged_kwh"),
    "battery_discharged_kwh": ("energy", "battery_discharged_kwh"),
    "battery_efficiency_pct": ("ratios", "battery_efficiency_pct"),
    "equivalent_full_cycles": ("bank", "equivalent_full_cycles"),
    "soh_end_pct": ("bank", "state_of_health_min_pct"),
    "soh_10y_pct": ("bank", "state_of_health_10y_pct"),
    "soh_15y_pct": ("bank", "state_of_health_15y_pct"),
    "backup_hours_at_reserve": ("backup", "hours_at_reserve"),
    "full_charges_granted": ("charge_requests", "full_charges_granted"),  # the inverter charged the bank to full
    "simulated_days": ("run", "simulated_days"),
    "realtime_factor": ("run", "realtime_factor"),
}
#: the summary's losses that happen in the battery (the inverter's own are a column of their own)
_BATTERY_LOSSES = ("cells_kwh", "mosfets_and_cables_kwh", "balancing_kwh", "bms_supply_kwh", "self_discharge_kwh")


def case_row(summary: dict[str, Any]) -> dict[str, Any]:
    """The metrics of one finished run, from its summary."""
    row = {column: summary.get(section, {}).get(key) for column, (section, key) in METRICS.items()}
    losses = summary["losses"]
    row["battery_losses_kwh"] = sum(losses[name] for name in _BATTERY_LOSSES)
    row["inverter_losses_kwh"] = losses["inverter_kwh"]
    row["outages"] = summary.get("outages", {}).get("count")
    row["link"] = "bank_link" in summary
    trips = summary.get("bms", {}).get("protection_trips", {})
    row["protection_trips"] = sum(trips.values())
    return row


def _reference(request: SimulationRequest) -> dict[str, float]:
    """Grid import and export of the same home with PV and no battery (what savings are counted against)."""
    load, pv, grid, _ = home_profiles(request)
    imported, exported = grid_without_battery(load, pv, grid, request.days * 86400.0)
    return {"ref_grid_import_kwh": imported * _KWH_PER_J, "ref_grid_export_kwh": exported * _KWH_PER_J}


def run_case(case: Case) -> dict[str, Any]:
    """Run one case in a scratch folder (removed after) and return its row: inputs, metrics, ``error`` (None when
    it finished), where and how long it ran (wall and CPU time). Never raises for a failing case: the error is the
    row's."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    row: dict[str, Any] = case.inputs()
    try:
        request = case.request()
        with tempfile.TemporaryDirectory(prefix="ml314-case-") as tmp:
            outcome = simulate(request, Path(tmp), SCENARIOS, report=False)
        row |= case_row(outcome.summary)
        row |= _reference(request)
        row["error"] = None
    except Exception as exc:  # any failure of one case is that case's result, not the study's
        row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    row["wall_s"] = time.perf_counter() - wall0
    row["cpu_s"] = time.process_time() - cpu0  # this process's CPU: what the case cost, however loaded the machine
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return row


def warm_up() -> float:
    """Load every kernel a case uses into this process (from numba's cache next to the sources; compiled there
    if the cache is cold) by a few simulated minutes of 2 modules with the BMS and the bank link; return seconds."""
    t0 = time.perf_counter()
    for link in (True, False):
        request = SimulationRequest(modules=2, days=300.0 / 86400.0, sample_s=60.0, link=link)
        with tempfile.TemporaryDirectory(prefix="ml314-warm-") as tmp:
            simulate(request, Path(tmp), SCENARIOS, report=False)
    return time.perf_counter() - t0
