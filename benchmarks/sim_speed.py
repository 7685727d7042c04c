"""Simulated seconds per wall second and ns per cell-step for 1, 4 and 16 modules at 1 s steps over one day,
the twin alone (``with_bms`` false), with every module's BMS on the compiled closed loop (``with_bms`` true), and
for 4 and 16 modules with every BMS and the bank link (``with_link`` true: `simulate`'s default path for 2+ modules,
the link by events).

Runs the real engine (``simulate``, home scenario, 1 min samples streamed to parquet, no report) and takes the
wall time of its drive loop from the summary (``run.wall_time_s``: the bank stepping, the scenario driver, the
time-series writer and the running statistics; not the report). Separately it times the compiled kernel alone
(``Bank.run`` over the same day in one call, no writer, no ageing, no controller) so that engine overhead can be
told from kernel time. Each configuration runs 5 times (2 with ``--quick``; ``--runs N``) after one warm-up run
that loads the numba cache; a row gives the median realtime factor and its spread (max - min over the runs). The
machine is shared: ``load_average`` (1 min, at the start of the configuration's runs) says how busy it was, and
``cpu_realtime_factor`` (simulated seconds per CPU second of the whole process, every thread: the median run) and
``thread_cpu_realtime_factor`` (per CPU second of the stepping thread alone, the run's set-up included; without the
sensor-noise and writer threads) are the figures that a busy machine changes least, the ones to compare before and
after a change.

    python benchmarks/sim_speed.py [--quick] [--json PATH]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import finish, parser
from ml314.domain.limits import spec_limits
from ml314.domain.spec import ML314
from ml314.runtime.scenarios import SCENARIOS
from ml314.runtime.scenarios.home import home_profiles
from ml314.runtime.simulation import SimulationRequest, limits_row, no_stops, simulate
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.home import HomeController
from ml314.twin.params import load_cell_parameters

NAME = "sim_speed"
MODULES = (1, 4, 16)
DAY_S = 86400.0
DT_S = 1.0
SAMPLE_S = 60.0
SEED = 1
TARGET_REALTIME_FACTOR_16 = 400_000  # issue 15: the twin alone, 16 modules at 1 s steps
TARGET_REALTIME_FACTOR_16_BMS = round(365 * DAY_S / 600.0)
TARGET_REALTIME_FACTOR_16_LINK = 250_000  # issue 15: every BMS and the bank link, a year in about 2 minutes
COLUMNS = (
    "modules",
    "with_bms",
    "with_link",
    "wall_s",
    "realtime_factor",
    "realtime_factor_spread",
    "ns_per_cell_step",
    "kernel_only_realtime_factor",
    "year_wall_s",
    "target_realtime_factor",
    "cpu_realtime_factor",
    "thread_cpu_realtime_factor",
    "load_average",
)


def request(modules: int, with_bms: bool = False, with_link: bool = False, days: float = 1.0) -> SimulationRequest:
    """The benchmarked run: home scenario, one day at 1 s steps, 1 min samples, with or without the BMS."""
    return SimulationRequest(
        scenario="home",
        modules=modules,
        days=days,
        dt_s=DT_S,
        sample_s=SAMPLE_S,
        seed=SEED,
        bms=with_bms,
        link=with_link and modules > 1,
    )


def engine_times(
    modules: int, with_bms: bool = False, with_link: bool = False, days: float = 1.0
) -> tuple[float, float, float]:
    """(wall s of the engine's drive loop, CPU s of the whole process, CPU s of this (the stepping) thread) over the
    run of ``days`` simulated days."""
    with tempfile.TemporaryDirectory(prefix="ml314-bench-") as tmp:
        req = request(modules, with_bms, with_link, days)
        cpu0 = time.process_time()
        thread0 = time.thread_time()
        outcome = simulate(req, out_dir=Path(tmp), drivers=SCENARIOS, report=False)
        thread = time.thread_time() - thread0
        cpu = time.process_time() - cpu0
        run = outcome.summary["run"]
        if abs(run["simulated_days"] - days) > 1e-9:  # the BMS's power-on second counts as part of the run
            raise RuntimeError(f"expected {days} simulated days, got {run['simulated_days']}")
        return float(run["wall_time_s"]), cpu, thread


def engine_wall_s(modules: int, with_bms: bool = False, with_link: bool = False, days: float = 1.0) -> float:
    """Wall time of the engine's drive loop for ``days`` simulated days (from the outcome summary)."""
    return engine_times(modules, with_bms, with_link, days)[0]


def day_inputs(req: SimulationRequest) -> np.ndarray:
    """The home scenario's inputs for the whole day (the same profiles the engine's home driver resamples)."""
    load, pv, grid, ambient = home_profiles(req)
    n = round(req.days * DAY_S / req.dt_s)
    inputs = np.zeros((k.IN_ROWS, n))
    for row, profile in ((k.IN_AMBIENT_C, ambient), (k.IN_PV_W, pv), (k.IN_LOAD_W, load), (k.IN_GRID_UP, grid)):
        inputs[row] = profile.resample(0.0, req.dt_s, n)
    return inputs


def kernel_wall_s(modules: int, inputs: np.ndarray) -> float:
    """Wall time of ``Bank.run`` alone stepping the whole day in one call (as ``SimulationContext.run`` calls it)."""
    req = request(modules)
    bank = Bank(modules, load_cell_parameters(), seed=req.seed, initial_soc=req.initial_soc, dt_s=req.dt_s)
    controller = HomeController(req.inverter)
    home = controller.kernel_parameters(controller.decide(bank.bank_soc()))
    n_steps = inputs.shape[1]
    sample_every = round(req.sample_s / req.dt_s)
    rows = np.zeros((n_steps // sample_every + 2, k.ROW_BANK_COLUMNS + modules * k.ROW_MODULE_COLUMNS))
    limits = limits_row(spec_limits(modules))
    stops = no_stops()
    t0 = time.perf_counter()
    done, _ = bank.run(
        n_steps,
        mode=k.MODE_HOME,
        inputs=inputs,
        limits=limits,
        home=home,
        stops=stops,
        sample_every=sample_every,
        rows=rows,
    )
    wall = time.perf_counter() - t0
    if done != n_steps:
        raise RuntimeError(f"kernel stopped after {done} of {n_steps} steps")
    return wall


def realtime(walls: list[float], simulated_s: float) -> tuple[float, float, float]:
    """(median wall s, median realtime factor, spread of the realtime factor) over the runs."""
    factors = [simulated_s / w for w in walls]
    return statistics.median(walls), statistics.median(factors), max(factors) - min(factors)


def load_average() -> float:
    """The machine's 1-minute load average (the benchmark shares its cores with whatever else runs)."""
    return os.getloadavg()[0]


def bms_row(m: int, cells: int, repeats: int, *, with_link: bool, target_16: float) -> dict[str, object]:
    """One row of the engine with every BMS (and the bank link when ``with_link``): median and spread of runs."""
    load = load_average()
    times = [engine_times(m, with_bms=True, with_link=with_link) for _ in range(repeats)]
    wall, factor, spread = realtime([t[0] for t in times], DAY_S)
    row: dict[str, object] = {
        "modules": m,
        "with_bms": True,
        "with_link": with_link,
        "wall_s": wall,
        "realtime_factor": factor,
        "realtime_factor_spread": spread,
        "ns_per_cell_step": wall / (DAY_S / DT_S * m * cells) * 1e9,
        "year_wall_s": 365.0 * wall,
        "cpu_realtime_factor": DAY_S / statistics.median(t[1] for t in times),
        "thread_cpu_realtime_factor": DAY_S / statistics.median(t[2] for t in times),
        "load_average": load,
    }
    if m == 16:
        row["target_realtime_factor"] = target_16
    return row


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, default=0, help="runs per configuration (default 5, 2 with --quick)")
    args = p.parse_args()
    repeats = args.runs or (2 if args.quick else 5)
    cells = ML314.cells_in_series
    # Warm-up: loads (or compiles) the numba cache, imports the parquet writer, touches the profile generators.
    engine_wall_s(1)
    engine_wall_s(1, with_bms=True)
    inputs = day_inputs(request(1))
    kernel_wall_s(1, inputs)

    results: list[dict[str, Any]] = []
    for m in MODULES:
        load = load_average()
        times = [engine_times(m) for _ in range(repeats)]
        wall, factor, spread = realtime([t[0] for t in times], DAY_S)
        kernel = statistics.median(kernel_wall_s(m, inputs) for _ in range(repeats))
        row: dict[str, Any] = {
            "modules": m,
            "with_bms": False,
            "with_link": False,
            "wall_s": wall,
            "realtime_factor": factor,
            "realtime_factor_spread": spread,
            "ns_per_cell_step": wall / (DAY_S / DT_S * m * cells) * 1e9,
            "kernel_only_realtime_factor": DAY_S / kernel,
            "kernel_only_wall_s": kernel,
            "cpu_realtime_factor": DAY_S / statistics.median(t[1] for t in times),
            "thread_cpu_realtime_factor": DAY_S / statistics.median(t[2] for t in times),
            "load_average": load,
        }
        if m == 16:
            row["target_realtime_factor"] = TARGET_REALTIME_FACTOR_16
        results.append(row)
    for m in MODULES:
        # issue 3: a simulated year of 16 modules with the BMS in under 10 minutes
        results.append(bms_row(m, cells, repeats, with_link=False, target_16=TARGET_REALTIME_FACTOR_16_BMS))
    # every BMS and the bank link, as `simulate` runs them by default for 2+ modules (the link by events: its
    # steady seconds compiled in the closed loop, docs/bank_link.md; `--link-bytes` is not measured here)
    for m in MODULES[1:]:
        results.append(bms_row(m, cells, repeats, with_link=True, target_16=TARGET_REALTIME_FACTOR_16_LINK))
    finish(NAME, results, COLUMNS, args.json)


if __name__ == "__main__":
    main()
