"""A cross-check against NREL's SAM: the same home, period, load and PV through SAM's battery model and ml314.

The home of ``ml314 simulate --scenario home`` without outages (SAM's behind-the-meter model has none): the
seeded household load and PV profiles ml314 generates (``runtime/scenarios/home.home_profiles``), given to both.

* ml314: the engine of ``ml314 simulate`` (``runtime.simulation.simulate``) at 1 s steps, twin + every BMS (+ the
  bank link for 2+ modules), the hybrid inverter of ``twin/home.py`` in self-consumption mode.
* SAM: PySAM's ``Battery`` module in its "custom generation profile + battery" configuration: the PV profile as the
  generation, an AC-coupled LFP battery of 16 cells in series per module and one string per module (314 Ah,
  51.2 V: 16.08 kWh a module) with the cells' OCV curve as its voltage table and their resistance (plus the
  module's MOSFETs and cables), the inverter's efficiency, power and reserve SOC, the BMS's own supply draw as the
  battery's standing loss, and SAM's self-consumption dispatch (``batt_dispatch_choice = 5``). The profiles are
  given as interval means at ``--step`` minutes (SAM's time step; 1 min by default, the profiles' own spacing).
  SAM needs a whole year of input: a shorter period is the first days of that year.

Both sides' figures are computed from their energies the same way: grid import and export (the inverter's own
standby draw added to SAM's grid balance, as ml314's inverter draws it outside the battery's dispatch), battery
energy in and out at its DC terminals, equivalent full cycles ((in + out) / 2 / rated energy), self-consumption
((PV - export) / PV) and autarky ((load - import) / load). docs/sam.md explains every difference above 5 %.

    python benchmarks/sam_compare.py [--quick] [--json PATH] [--modules N] [--days D] [--step MIN] [--no-bms]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _common import finish, parser
from ml314.domain.spec import ML314
from ml314.runtime.scenarios import SCENARIOS
from ml314.runtime.scenarios.home import home_profiles
from ml314.runtime.simulation import SimulationRequest, simulate
from ml314.twin.frontpanel import BMS_SUPPLY_DRAW_A
from ml314.twin.params import load_cell_parameters
from ml314.twin.profiles import Profile

NAME = "sam_compare"
COLUMNS = ("metric", "unit", "sam", "ml314", "diff_pct")
EXPLAIN_ABOVE_PCT = 5.0
YEAR_S = 365 * 86400.0
SAM_STEPS_MIN = (60, 30, 20, 15, 10, 5, 1)  # SAM's battery model takes 8760 x (60 / step) values a year
SAM_SELF_CONSUMPTION = 5  # batt_dispatch_choice: behind-the-meter self-consumption
_J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Case:
    """What both models are given."""

    modules: int = 1
    days: float = 365.0
    step_min: int = 1
    seed: int = 1
    pv_kw: float = 8.0
    load_kwh: float = 4500.0
    bms: bool = True

    def request(self) -> SimulationRequest:
        """The ``ml314 simulate`` request: the home scenario with BMS, no outages, hourly samples (only the summary
        is read)."""
        return SimulationRequest(
            modules=self.modules,
            days=self.days,
            seed=self.seed,
            pv_peak_kw=self.pv_kw,
            annual_load_kwh=self.load_kwh,
            outages_per_month=0.0,
            sample_s=3600.0,
            bms=self.bms,
        )


@dataclass(frozen=True)
class Energies:
    """One model's energy over the period, kWh (battery at its DC terminals)."""

    pv_kwh: float
    load_kwh: float
    grid_import_kwh: float
    grid_export_kwh: float
    battery_in_kwh: float
    battery_out_kwh: float


#: table rows: metric -> unit
METRICS: dict[str, str] = {
    "pv": "kWh",
    "load": "kWh",
    "grid_import": "kWh",
    "grid_export": "kWh",
    "battery_charged_dc": "kWh",
    "battery_throughput_dc": "kWh",
    "equivalent_full_cycles": "-",
    "battery_dc_efficiency": "%",
    "self_consumption": "%",
    "autarky": "%",
}


def metrics(e: Energies, modules: int) -> dict[str, float]:
    """The table's figures from one model's energies (the same formulas for both models)."""
    rated_kwh = ML314.energy_wh / 1000.0 * modules
    return {
        "pv": e.pv_kwh,
        "load": e.load_kwh,
        "grid_import": e.grid_import_kwh,
        "grid_export": e.grid_export_kwh,
        "battery_charged_dc": e.battery_in_kwh,
        "battery_throughput_dc": e.battery_out_kwh,
        "equivalent_full_cycles": (e.battery_in_kwh + e.battery_out_kwh) / 2.0 / rated_kwh,
        "battery_dc_efficiency": 100.0 * e.battery_out_kwh / e.battery_in_kwh if e.battery_in_kwh > 0 else math.nan,
        "self_consumption": 100.0 * (e.pv_kwh - e.grid_export_kwh) / e.pv_kwh if e.pv_kwh > 0 else math.nan,
        "autarky": 100.0 * (e.load_kwh - e.grid_import_kwh) / e.load_kwh if e.load_kwh > 0 else math.nan,
    }


def table(sam: dict[str, float] | None, ml: dict[str, float]) -> list[dict[str, Any]]:
    """Rows side by side; ``diff_pct`` is ml314 against SAM, in % of SAM's figure."""
    rows = []
    for metric, unit in METRICS.items():
        s = None if sam is None else sam[metric]
        m = ml[metric]
        diff = None if s is None or s == 0.0 or not math.isfinite(s) else 100.0 * (m - s) / abs(s)
        rows.append({"metric": metric, "unit": unit, "sam": s, "ml314": m, "diff_pct": diff})
    return rows


# ---------------------------------------------------------------------------------------------------- ml314
def run_ml314(case: Case) -> tuple[Energies, dict[str, Any]]:
    """The period through ``ml314 simulate``'s engine; the energies and the run's summary."""
    with tempfile.TemporaryDirectory(prefix="ml314-sam-") as tmp:
        outcome = simulate(case.request(), Path(tmp), SCENARIOS, report=False)
    s = outcome.summary
    e = s["energy"]
    energies = Energies(
        pv_kwh=e["pv_kwh"],
        load_kwh=e["load_kwh"],
        grid_import_kwh=e["grid_import_kwh"],
        grid_export_kwh=e["grid_export_kwh"],
        battery_in_kwh=e["battery_charged_kwh"],
        battery_out_kwh=e["battery_discharged_kwh"],
    )
    return energies, s


# ------------------------------------------------------------------------------------------------------ SAM
def interval_means(profile: Profile, step_s: float, n: int) -> np.ndarray:
    """``n`` means over ``step_s`` intervals of the profile as ml314's engine sees it (linear between its samples),
    integrated on a 60 s grid (the generated profiles' own spacing)."""
    sub = round(step_s / 60.0)
    edges = profile.resample(0.0, 60.0, n * sub + 1)
    minute = 0.5 * (edges[:-1] + edges[1:])
    return np.asarray(minute.reshape(n, sub).mean(axis=1), dtype=np.float64)


def _sam_battery(case: Case, gen_kw: np.ndarray, load_kw: np.ndarray) -> Any:
    """PySAM's Battery module set up as the module docstring says."""
    from PySAM import Battery  # noqa: PLC0415 - optional: only this side needs it

    req = case.request()
    inv = req.inverter
    cells = load_cell_parameters()
    n = case.modules
    m = Battery.default("CustomGenerationBatteryResidential")
    soc = np.linspace(0.0, 1.0, 21)
    ocv = cells.tables.ocv_at(soc)
    series = ML314.cells_in_series
    per_cell_ohm = cells.r0_ohm + cells.r1_ohm + cells.r2_ohm
    per_cell_ohm += (cells.mosfet_resistance_ohm + cells.cable_resistance_ohm) / series
    charge_kw_dc = min(n * ML314.max_charge_current_a * ML314.nominal_voltage_v / 1000.0, inv.max_power_w / 1000.0)
    discharge_kw_dc = min(n * ML314.max_discharge_current_a * ML314.nominal_voltage_v / 1000.0, inv.max_power_w / 1000)
    width, depth, height = ML314.width_mm / 1000.0, ML314.depth_mm / 1000.0, ML314.height_mm / 1000.0
    supply_kw = n * ML314.nominal_voltage_v / 1000.0
    steps = len(gen_kw)
    values: dict[str, Any] = {
        "gen": tuple(gen_kw),
        "load": tuple(load_kw),
        "crit_load": (0.0,) * steps,
        "system_use_lifetime_output": 0,
        "analysis_period": 1,
        "batt_replacement_option": 0,
        # cells and pack
        "batt_chem": 1,
        "batt_Qfull": ML314.capacity_ah,
        "batt_Vnom_default": ML314.nominal_cell_voltage_v,
        "batt_voltage_choice": 1,
        "batt_voltage_matrix": tuple((100.0 * (1.0 - s), float(v)) for s, v in zip(soc[::-1], ocv[::-1], strict=True)),
        "batt_resistance": per_cell_ohm,
        "batt_computed_series": series,
        "batt_computed_strings": n,
        "batt_computed_bank_capacity": ML314.energy_wh / 1000.0 * n,
        "batt_current_charge_max": n * ML314.max_charge_current_a,
        "batt_current_discharge_max": n * ML314.max_discharge_current_a,
        "batt_power_charge_max_kwdc": charge_kw_dc,
        "batt_power_discharge_max_kwdc": discharge_kw_dc,
        "batt_power_charge_max_kwac": min(charge_kw_dc / inv.efficiency, inv.max_power_w / 1000.0),
        "batt_power_discharge_max_kwac": min(discharge_kw_dc * inv.efficiency, inv.max_power_w / 1000.0),
        "batt_mass": n * ML314.mass_kg,
        "batt_surface_area": n * 2.0 * (width * depth + width * height + depth * height),
        "cap_vs_temp": ((-20.0, 100.0), (0.0, 100.0), (25.0, 100.0), (60.0, 100.0)),  # ml314's cells: none
        "batt_room_temperature_celsius": (17.0,),  # ml314's ambient: 17 degC mean (twin/home.ambient_profile)
        # the BMS's own draw from the cells (twin/frontpanel.BMS_SUPPLY_DRAW_A) as the standing loss, kW a month
        "batt_loss_choice": 0,
        "batt_losses_charging": (supply_kw * BMS_SUPPLY_DRAW_A["active"],) * 12,
        "batt_losses_discharging": (supply_kw * BMS_SUPPLY_DRAW_A["active"],) * 12,
        "batt_losses_idle": (supply_kw * BMS_SUPPLY_DRAW_A["standby"],) * 12,
        # the hybrid inverter
        "batt_ac_or_dc": 1,
        "batt_ac_dc_efficiency": 100.0 * inv.efficiency,
        "batt_dc_ac_efficiency": 100.0 * inv.efficiency,
        "batt_initial_SOC": 100.0 * req.initial_soc,
        "batt_minimum_SOC": 100.0 * inv.reserve_soc,
        "batt_maximum_SOC": 100.0,
        "batt_minimum_modetime": 0,
        "batt_dispatch_choice": SAM_SELF_CONSUMPTION,
        "batt_dispatch_auto_can_charge": 1,
        "batt_dispatch_auto_can_gridcharge": 0,
    }
    for key, value in values.items():
        m.value(key, value)
    return m


def run_sam(case: Case) -> Energies:
    """The same profiles through SAM (a whole year of input; the first ``case.days`` of its output are read)."""
    req = case.request()
    load, pv, _grid, _ambient = home_profiles(req)
    step_s = 60.0 * case.step_min
    n_year = round(YEAR_S / step_s)
    gen_kw = interval_means(pv, step_s, n_year) / 1000.0
    load_kw = interval_means(load, step_s, n_year) / 1000.0
    model = _sam_battery(case, gen_kw, load_kw)
    model.execute(0)
    out = model.Outputs
    period = round(case.days * 86400.0 / step_s)
    hours = step_s / 3600.0
    net_kw = np.asarray(out.grid_power[:period]) - req.inverter.standby_w / 1000.0  # + = export
    batt_dc_kw = np.asarray(out.batt_power_dc[:period])  # + = discharging
    return Energies(
        pv_kwh=float(gen_kw[:period].sum() * hours),
        load_kwh=float(load_kw[:period].sum() * hours),
        grid_import_kwh=float(np.maximum(-net_kw, 0.0).sum() * hours),
        grid_export_kwh=float(np.maximum(net_kw, 0.0).sum() * hours),
        battery_in_kwh=float(np.maximum(-batt_dc_kw, 0.0).sum() * hours),
        battery_out_kwh=float(np.maximum(batt_dc_kw, 0.0).sum() * hours),
    )


def sam_available() -> bool:
    """Whether PySAM (PyPI ``nrel-pysam``, the ``bench`` extra) is installed."""
    try:
        import PySAM.Battery  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def compare(case: Case, *, with_sam: bool = True) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The table rows and what else the run reported (wall times, the BMS's charge requests)."""
    t0 = time.perf_counter()
    ml_energies, summary = run_ml314(case)
    info: dict[str, Any] = {"ml314_wall_s": time.perf_counter() - t0}
    info["ml314_charge_requests"] = summary.get("charge_requests", {})
    info["ml314_soc_end_pct"] = summary["soc"]["end_pct"]
    info["ml314_losses_kwh"] = {name: round(float(kwh), 2) for name, kwh in summary["losses"].items()}
    sam = None
    if with_sam:
        t0 = time.perf_counter()
        sam = metrics(run_sam(case), case.modules)
        info["sam_wall_s"] = time.perf_counter() - t0
    return table(sam, metrics(ml_energies, case.modules)), info


def arguments(argv: list[str] | None = None) -> tuple[argparse.Namespace, Case]:
    p = parser(__doc__)
    p.add_argument("--modules", type=int, default=1, help="modules in the bank (1-16)")
    p.add_argument("--days", type=float, default=None, help="days from the start day (default 365, --quick 30)")
    p.add_argument("--step", type=int, default=None, choices=SAM_STEPS_MIN, help="SAM's step, min (1; --quick 60)")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated load and PV")
    p.add_argument("--no-bms", action="store_true", help="ml314 without the BMS (the inverter sees the true SOC)")
    args = p.parse_args(argv)
    days = args.days if args.days is not None else (30.0 if args.quick else 365.0)
    step = args.step if args.step is not None else (60 if args.quick else 1)
    if not 1 <= args.modules <= ML314.max_modules_in_parallel or not 0.0 < days <= 365.0:
        p.error("--modules must be 1..16 and --days in (0, 365]")
    return args, Case(modules=args.modules, days=days, step_min=step, seed=args.seed, bms=not args.no_bms)


def main() -> None:
    args, case = arguments()
    if not sam_available():
        sys.exit("sam_compare: PySAM is not installed (pip install -e '.[bench]', or nrel-pysam)")
    print(f"{case.days:g} days, {case.modules} module(s), SAM at {case.step_min} min steps ...", file=sys.stderr)
    rows, info = compare(case)
    finish(NAME, rows, COLUMNS, args.json)
    above = [r["metric"] for r in rows if r["diff_pct"] is not None and abs(r["diff_pct"]) > EXPLAIN_ABOVE_PCT]
    print(f"\nml314 {info['ml314_wall_s']:.0f} s, SAM {info['sam_wall_s']:.0f} s")
    for key in ("ml314_charge_requests", "ml314_losses_kwh", "ml314_soc_end_pct"):
        print(f"{key}: {info[key]}")
    print(f"above {EXPLAIN_ABOVE_PCT:g} % (explained in docs/sam.md): {', '.join(above) or 'none'}")


if __name__ == "__main__":
    main()
