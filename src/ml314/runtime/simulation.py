"""The simulation engine: the twin (and, later, the BMS and protocols) on a simulated clock.

A scenario driver (``runtime/scenarios``) decides what the inverter or the lab tester asks for; this module owns
the bank, streams the sampled rows to the time-series writer as they are produced (memory stays bounded by one
chunk), keeps running statistics, and writes the summary and the report at the end.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ml314.bms.limits import OUT_FORCE_CHARGE, OUT_FULL_CHARGE_REQUEST
from ml314.bms.parameters import load_default_parameters
from ml314.bms.soc import SOC_ESTIMATORS
from ml314.domain.limits import ChargeLimits
from ml314.domain.spec import ML314
from ml314.errors import InputError
from ml314.protocols.registry import create, resolve
from ml314.runtime.prefetch import prefetch
from ml314.runtime.summary import build_summary
from ml314.storage.bank_state import BankShape, clock_text, load_bank_state, restore, save_bank_state
from ml314.storage.timeseries import Column, TimeSeriesWriter, open_writer
from ml314.system import closed_loop as cl
from ml314.system.addressing import wiring_from_ids
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.fast_link import CompiledLink
from ml314.system.inverter_exchange import InverterExchange
from ml314.system.linked_bank import LinkedBank, LinkOptions
from ml314.system.status import StatusBuilder
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.home import InverterSpec
from ml314.twin.params import load_cell_parameters

ProgressFn = Callable[[float, str], None]
# Ageing moves over days; applying it hourly is exact enough and keeps it out of the hot loop.
_AGEING_INTERVAL_S = 3600.0
SeriesFormat = Literal["parquet", "csv"]
STATE_FILE = "bms_state.json"  # the bank at the end of a run, what --resume continues


@dataclass(frozen=True)
class SimulationRequest:
    """Everything ``ml314 simulate`` was asked for."""

    scenario: str = "home"
    modules: int = 1
    days: float = 1.0
    dt_s: float = 1.0
    sample_s: float = 60.0
    seed: int = 1
    initial_soc: float = 0.5
    start_day_of_year: int = 80
    weather: str = "mixed"
    pv_peak_kw: float = 8.0
    annual_load_kwh: float = 4500.0
    load_csv: Path | None = None
    pv_csv: Path | None = None
    outages_per_month: float = 1.0
    mean_outage_h: float = 3.0
    experiment: str | None = None
    ambient_c: float | None = None
    inverter: InverterSpec = field(default_factory=InverterSpec)
    chunk_s: float = 600.0
    series_format: SeriesFormat = "parquet"
    bms: bool | None = None  # None: on for the home scenario, off for the lab tester (bare cells)
    estimator: str | None = None
    protocol: str | None = None  # drive the bank through this protocol's codec and inverter peer
    link: bool | None = None  # the bank link between modules (None: on for 2+ modules with the BMS)
    module_ids: tuple[int, ...] | None = None  # DIP IDs in daisy-chain order (default 1..n)
    termination: tuple[bool, ...] | None = None  # DIP switch 8 per module (default: first and last on)
    link_baud: int = 115_200
    link_bytes: bool = False  # run the bank link byte by byte every second (slow), not by events
    module_capacity_ah: tuple[float, ...] | None = None  # rated capacity per module (mixing: caution 13.1 (5))
    resume: Path | None = None  # continue the bank a finished run saved in this directory (its STATE_FILE)

    @property
    def capacity_scale(self) -> tuple[float, ...] | None:
        """Each module's capacity relative to the product's 314 Ah (the twin's cells are scaled by it)."""
        if self.module_capacity_ah is None:
            return None
        return tuple(c / ML314.capacity_ah for c in self.module_capacity_ah)

    @property
    def shape(self) -> BankShape:
        """What makes a saved bank this bank."""
        return BankShape(self.modules, self.seed, self.module_capacity_ah)

    @property
    def with_bms(self) -> bool:
        """Whether the BMS of every module runs (closed loop)."""
        return self.scenario == "home" if self.bms is None else self.bms

    @property
    def with_link(self) -> bool:
        """Whether the modules talk over the framed bank link (the master presents the bank)."""
        if self.link is None:
            return self.with_bms and self.modules > 1
        return self.link

    def validate(self) -> None:
        """Refuse values that cannot be simulated, naming the value."""
        numbers = {
            "--days": self.days,
            "--dt": self.dt_s,
            "--sample": self.sample_s,
            "--initial-soc": self.initial_soc,
            "--pv-kw": self.pv_peak_kw,
            "--load-kwh": self.annual_load_kwh,
            "--outages": self.outages_per_month,
            "--outage-hours": self.mean_outage_h,
        }
        if self.ambient_c is not None:
            numbers["--ambient"] = self.ambient_c
        for option, value in numbers.items():
            if not math.isfinite(value):
                raise InputError(f"{option} {value}: must be a finite number")
        if self.ambient_c is not None and not -40.0 <= self.ambient_c <= 70.0:
            raise InputError(f"--ambient {self.ambient_c}: outside the -40..70 degC a battery can be placed in")
        checks: tuple[tuple[bool, str], ...] = (
            (1 <= self.modules <= ML314.max_modules_in_parallel, f"--modules {self.modules}: must be 1..16"),
            (self.days > 0.0, f"--days {self.days}: must be positive"),
            (self.days <= 3660.0, f"--days {self.days}: at most ten years"),
            (0.0 < self.dt_s <= 60.0, f"--dt {self.dt_s} s: the step must be in (0, 60] s"),
            (self.sample_s >= self.dt_s, f"--sample {self.sample_s} s: cannot be shorter than the step"),
            (0.0 <= self.initial_soc <= 1.0, f"--initial-soc {self.initial_soc}: must be 0..1"),
            (1 <= self.start_day_of_year <= 366, f"--start-day {self.start_day_of_year}: must be 1..366"),
            (self.pv_peak_kw >= 0.0, f"--pv-kw {self.pv_peak_kw}: cannot be negative"),
            (self.annual_load_kwh >= 0.0, f"--load-kwh {self.annual_load_kwh}: cannot be negative"),
            (self.outages_per_month >= 0.0, f"--outages {self.outages_per_month}: cannot be negative"),
            (self.mean_outage_h > 0.0, f"--outage-hours {self.mean_outage_h}: must be positive"),
            (
                self.weather in ("sunny", "cloudy", "mixed"),
                f"--weather {self.weather!r}: sunny, cloudy or mixed",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        if self.estimator is not None and self.estimator not in SOC_ESTIMATORS:
            names = ", ".join(SOC_ESTIMATORS)
            raise InputError(f"--estimator {self.estimator!r}: one of {names}")
        if self.scenario == "lab" and not self.experiment:
            raise InputError('--scenario lab needs --experiment "charge 0.5C to 3.65 V; rest 1 h; ..."')
        if not self.inverter.max_power_w > 0.0:
            raise InputError(f"--inverter-kw {self.inverter.max_power_w / 1000.0:g}: must be positive")
        if self.with_bms and self.scenario == "lab":
            raise InputError("--bms: the lab tester works on the bare cells; run it with --no-bms")
        if self.with_bms and self.scenario == "storage":
            raise InputError("--bms: a stored battery is switched off (no BMS); run the storage scenario with --no-bms")
        ratio = self.sample_s / self.dt_s
        if abs(ratio - round(ratio)) > 1e-9:
            raise InputError(f"--sample {self.sample_s} s: must be a whole number of {self.dt_s} s steps")
        if self.link and not self.with_bms:
            raise InputError("--link: the bank link joins the modules' BMSs; run it with the BMS on")
        if self.link_bytes and not self.with_link:
            raise InputError(
                "--link-bytes: runs the bank link on bytes; there is no link (1 module, --no-link or --no-bms)"
            )
        if self.module_capacity_ah is not None and not all(50.0 <= c <= 400.0 for c in self.module_capacity_ah):
            raise InputError("--capacity-ah: each module's capacity must be 50..400 Ah")
        for name, values in (
            ("--ids", self.module_ids),
            ("--termination", self.termination),
            ("--capacity-ah", self.module_capacity_ah),
        ):
            if values is not None and len(values) != self.modules:
                raise InputError(f"{name}: {len(values)} values for {self.modules} modules")
        if self.link_baud not in (9600, 19200, 38400, 57600, 115200):
            raise InputError(f"--link-baud {self.link_baud}: one of 9600, 19200, 38400, 57600, 115200")
        if self.protocol is not None:
            resolve(self.protocol)
            if not self.with_bms or self.scenario != "home":
                raise InputError("--protocol: the inverter peer drives the home scenario with the BMS running")
        if self.with_bms and self.dt_s != 1.0:
            raise InputError(f"--dt {self.dt_s} s: the BMS runs every second; use --dt 1s or --no-bms")
        if self.resume is not None:
            if not (self.with_bms and self.scenario == "home"):
                raise InputError("--resume: continues a home run with the BMS (the state it saved)")
            if not (self.resume / STATE_FILE).is_file():
                raise InputError(f"--resume {self.resume}: no saved state ({STATE_FILE}) there")


class RunStats:
    """Running extremes over the sampled rows (so the summary needs no second pass over the file)."""

    def __init__(self, n_modules: int) -> None:
        self.n_modules = n_modules
        self.rows = 0
        self.soc_min = np.inf
        self.soc_max = -np.inf
        self.cell_min_v = np.inf
        self.cell_max_v = -np.inf
        self.spread_max_v = 0.0
        self.temp_min_c = np.inf
        self.temp_max_c = -np.inf
        self.bus_current_max_a = 0.0
        self.module_current_max_a = 0.0

    def update(self, rows: np.ndarray) -> None:
        """Fold a block of sample rows in."""
        if rows.shape[0] == 0:
            return
        self.rows += rows.shape[0]
        mods = rows[:, k.ROW_BANK_COLUMNS :].reshape(rows.shape[0], self.n_modules, k.ROW_MODULE_COLUMNS)
        soc = mods[:, :, k.MC_SOC]
        vmin = mods[:, :, k.MC_CELL_MIN_V]
        vmax = mods[:, :, k.MC_CELL_MAX_V]
        self.soc_min = min(self.soc_min, float(soc.min()))
        self.soc_max = max(self.soc_max, float(soc.max()))
        self.cell_min_v = min(self.cell_min_v, float(vmin.min()))
        self.cell_max_v = max(self.cell_max_v, float(vmax.max()))
        self.spread_max_v = max(self.spread_max_v, float((vmax - vmin).max()))
        self.temp_min_c = min(self.temp_min_c, float(mods[:, :, k.MC_TEMP_MIN_C].min()))
        self.temp_max_c = max(self.temp_max_c, float(mods[:, :, k.MC_TEMP_MAX_C].max()))
        self.bus_current_max_a = max(self.bus_current_max_a, float(np.abs(rows[:, k.COL_BUS_CURRENT_A]).max()))
        self.module_current_max_a = max(self.module_current_max_a, float(np.abs(mods[:, :, k.MC_CURRENT_A]).max()))


class RowSink:
    """The sampled rows go to the time-series writer and the running statistics on one worker thread, in order,
    while the stepping thread goes on with the next chunk (the kernels run without the GIL).

    At most one block waits: :meth:`put` first waits for the previous block, so memory stays bounded by one chunk
    and a writer error surfaces at the next :meth:`put` or at :meth:`drain`.
    """

    def __init__(self, writer: TimeSeriesWriter, stats: RunStats) -> None:
        self._writer = writer
        self._stats = stats
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ml314-writer")
        self._pending: Future[None] | None = None

    def _fold(self, block: np.ndarray, stats_cols: int) -> None:
        self._writer.write(block)
        self._stats.update(block[:, :stats_cols])

    def put(self, block: np.ndarray, stats_cols: int) -> None:
        """Hand over ``block`` (the sink keeps it: pass a copy); the first ``stats_cols`` columns are the twin's."""
        self.wait()
        self._pending = self._pool.submit(self._fold, block, stats_cols)

    def wait(self) -> None:
        """Wait until every block handed over is written and folded in (re-raises a writer error)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def drain(self) -> None:
        """Wait for the last block and stop the worker."""
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def series_columns(n_modules: int, with_bms: bool = False) -> tuple[Column, ...]:
    """The time-series columns of a bank of ``n_modules`` (the kernel's row layout, named), then the BMS's."""
    cols = [Column(name, unit, desc) for name, unit, desc in k.BANK_COLUMNS]
    for m in range(n_modules):
        cols += [Column(f"m{m + 1:02d}_{name}", unit, desc) for name, unit, desc in k.MODULE_COLUMNS]
    if with_bms:
        cols += [Column(name, unit, desc) for name, unit, desc in cl.BMS_BANK_COLUMNS]
        for m in range(n_modules):
            cols += [Column(f"m{m + 1:02d}_{name}", unit, desc) for name, unit, desc in cl.BMS_MODULE_COLUMNS]
    return tuple(cols)


def limits_row(limits: ChargeLimits) -> np.ndarray:
    """Limits as the kernel's row."""
    row = np.zeros(k.LIM_ROWS)
    row[k.LIM_CVL_V] = limits.cvl_v
    row[k.LIM_DVL_V] = limits.dvl_v
    row[k.LIM_CCL_A] = limits.ccl_a
    row[k.LIM_DCL_A] = limits.dcl_a
    return row


def no_stops() -> np.ndarray:
    """A stop row with every condition disabled."""
    return np.full(k.ST_ROWS, np.nan)


class SimulationContext:
    """The bank, the sink for its rows, the statistics and the progress report, shared by scenario drivers."""

    def __init__(
        self,
        request: SimulationRequest,
        bank: Bank,
        writer: TimeSeriesWriter,
        progress: ProgressFn | None,
    ) -> None:
        self.request = request
        self.bank = bank
        self.writer = writer
        self.progress = progress
        self.notes: list[str] = []
        self.system: CompiledBankSystem | None = None
        self.exchange: InverterExchange | None = None
        self.status: StatusBuilder | None = None
        self.linked: LinkedBank | None = None
        self.fast_link: CompiledLink | None = None  # the link by events (not --link-bytes)
        if request.with_bms:
            self.system = CompiledBankSystem(
                bank,
                load_default_parameters(),
                seed=request.seed + 3,
                estimator=request.estimator,
                wrap_noise=prefetch,
            )
            if request.resume is not None:
                path = request.resume / STATE_FILE
                restore(bank, self.system.bms, load_bank_state(path, request.shape, on_error="raise"))
                self.notes.append(f"resumed from {path} at t {clock_text(self.t_s)}")
            if request.protocol is not None or request.with_link:
                self.status = StatusBuilder(self.system, module_ids=request.module_ids)
            if request.protocol is not None:
                self.exchange = InverterExchange(create(resolve(request.protocol)))
            if request.with_link:
                assert self.status is not None
                wiring = wiring_from_ids(list(request.module_ids or range(1, request.modules + 1)), request.termination)
                self.linked = LinkedBank(
                    self.system,
                    self.status,
                    wiring,
                    LinkOptions(baud=request.link_baud, seed=request.seed),
                    design_capacity_ah=request.module_capacity_ah,
                )
                self.notes += [f"wiring: {f}" for f in self.linked.faults()]
                if not request.link_bytes and request.protocol is None:
                    self.fast_link = CompiledLink(self.linked)
                    self.system.link = self.fast_link
        self.stats = RunStats(bank.n_modules)
        self.sink = RowSink(writer, self.stats)
        self.sample_every = round(request.sample_s / request.dt_s)
        self.chunk_steps = max(1, round(request.chunk_s / request.dt_s))
        n_cols = k.ROW_BANK_COLUMNS + bank.n_modules * k.ROW_MODULE_COLUMNS
        self._rows = np.zeros((self.chunk_steps // self.sample_every + 2, n_cols))
        n_bms = cl.ROW_BMS_BANK + bank.n_modules * cl.ROW_BMS_MODULE
        self._bms_rows = np.zeros((self._rows.shape[0], n_bms))
        self.extra: dict[str, Any] = {}
        self.origin_s = self.t_s if request.resume is not None else 0.0  # where this run's time starts
        self.start_soc = bank.bank_soc()
        self.start_energy_j = bank.stored_energy_j()
        self._inputs = np.zeros((k.IN_ROWS, self.chunk_steps))
        self._unaged_s = 0.0

    @property
    def t_s(self) -> float:
        """Simulated time of the bank (a resumed run goes on from the time it was saved at)."""
        return self.bank.step_index * self.request.dt_s

    @property
    def elapsed_s(self) -> float:
        """Simulated time of this run."""
        return self.t_s - self.origin_s

    def reported_soc(self) -> float:
        """The bank SOC the battery reports to the inverter: the BMS's estimate, or the truth without a BMS."""
        if self.system is None:
            return self.bank.bank_soc()
        if self.exchange is not None and self.exchange.view.soc_pct is not None:
            return self.exchange.view.soc_pct / 100.0  # what the inverter decoded
        est = self.system.bms.estimator
        cap = np.asarray(est.capacity_ah)  # type: ignore[attr-defined]
        return float(np.sum(np.asarray(est.soc) * cap) / np.sum(cap))  # capacity-weighted, as the master's

    def battery_requests(self) -> tuple[bool, bool]:
        """(full-charge request, force-charge request) as the inverter knows them: decoded from the protocol when
        one runs, else the BMS's flags (any module's, as the master presents the bank)."""
        if self.system is None:
            return False, False
        if self.exchange is not None:
            v = self.exchange.view
            return bool(v.full_charge_request), bool(v.force_charge_1 or v.force_charge_2)
        out = self.system.bms.limiter.outputs
        return bool((out[:, OUT_FULL_CHARGE_REQUEST] > 0.5).any()), bool((out[:, OUT_FORCE_CHARGE] > 0.5).any())

    def inputs(self, n_steps: int) -> np.ndarray:
        """A zeroed input block for ``n_steps`` steps (reused between chunks)."""
        block = self._inputs[:, :n_steps]
        block[:] = 0.0
        return block

    def run(
        self,
        n_steps: int,
        mode: int,
        inputs: np.ndarray,
        limits: ChargeLimits,
        *,
        home: np.ndarray | None = None,
        stops: np.ndarray | None = None,
    ) -> int:
        """Advance at most one chunk (``n_steps`` <= chunk), stream its rows out, age the cells; return steps done."""
        if n_steps > self.chunk_steps:
            raise ValueError("run at most one chunk at a time")
        if self.system is not None:
            if stops is not None:
                raise ValueError("the BMS closed loop runs without watched thresholds")
            home_row = np.zeros(k.HP_ROWS) if home is None else home
            if self.exchange is not None or (self.linked is not None and self.fast_link is None):
                n_rows = self._run_second_by_second(n_steps, mode, inputs, home_row)
            else:
                n_rows = self.system.advance(
                    n_steps,
                    mode,
                    np.ascontiguousarray(inputs),
                    home=home_row,
                    sample_every=self.sample_every,
                    rows=self._rows,
                    bms_rows=self._bms_rows,
                )
            if n_rows:
                self.sink.put(np.hstack([self._rows[:n_rows], self._bms_rows[:n_rows]]), self._rows.shape[1])
            self._unaged_s += n_steps * self.request.dt_s
            if self._unaged_s >= _AGEING_INTERVAL_S:
                self.flush_ageing()
            return n_steps
        done, n_rows = self.bank.run(
            n_steps,
            mode=mode,
            inputs=np.ascontiguousarray(inputs),
            limits=limits_row(limits),
            home=np.zeros(k.HP_ROWS) if home is None else home,
            stops=no_stops() if stops is None else stops,
            sample_every=self.sample_every,
            rows=self._rows,
        )
        if n_rows:
            self.sink.put(self._rows[:n_rows].copy(), self._rows.shape[1])
        self._unaged_s += done * self.request.dt_s
        if self._unaged_s >= _AGEING_INTERVAL_S:
            self.flush_ageing()
        return done

    def _run_second_by_second(self, n_steps: int, mode: int, inputs: np.ndarray, home: np.ndarray) -> int:
        """Advance second by second. Before each second the bank link runs (the master polls and presents the
        bank) and/or the inverter peer decodes the battery's frames; the limits the inverter obeys (decoded from
        the wire, or the master's when no protocol is named) replace the compiled loop's own in its limit slot."""
        assert self.system is not None and self.status is not None
        system = self.system
        block = np.ascontiguousarray(inputs)
        n_rows = 0
        for i in range(n_steps):
            status = self.linked.step(system.t_s) if self.linked is not None else None
            if self.linked is not None and status is None:
                limits = None  # no master: nothing talks to the inverter, which then stops (manual 12.2 #1)
            elif self.exchange is not None:
                limits = self.exchange.exchange(status if status is not None else self.status.build())
            else:
                limits = None if status is None else status.limits
            system.impose_limits(limits)
            n_rows += system.advance(
                1,
                mode,
                block[:, i : i + 1],
                home=home,
                sample_every=self.sample_every,
                rows=self._rows[n_rows:],
                bms_rows=self._bms_rows[n_rows:],
            )
        return n_rows

    def flush_ageing(self) -> None:
        """Apply the ageing of the time not yet aged (done hourly and at the end)."""
        if self._unaged_s > 0.0:
            self.bank.age(self._unaged_s)
            self._unaged_s = 0.0


@dataclass(frozen=True)
class SimulationOutcome:
    """Where the results are and what they say."""

    out_dir: Path
    series_path: Path
    summary_path: Path
    report_path: Path
    summary: dict[str, Any]


class SimulationInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run; ``outcome`` says what was kept: the time series up to that moment and a summary
    marked ``"interrupted": true`` (no report)."""

    def __init__(self, outcome: SimulationOutcome) -> None:
        super().__init__("interrupted")
        self.outcome = outcome


class ScenarioDriver(Protocol):
    """One scenario: ``prepare`` reads and checks its inputs before anything is written, ``run`` drives the bank."""

    def prepare(self, request: SimulationRequest) -> object:
        """Parse and check the scenario's inputs; raise :class:`InputError` naming the bad one."""

    def run(self, ctx: SimulationContext, plan: Any) -> None:
        """Drive the bank through the scenario."""


def simulate(
    request: SimulationRequest,
    out_dir: Path,
    drivers: dict[str, ScenarioDriver],
    progress: ProgressFn | None = None,
    report: bool = True,
) -> SimulationOutcome:
    """Run one scenario and write time series, summary JSON and report into ``out_dir``."""
    request.validate()
    driver = drivers.get(request.scenario)
    if driver is None:
        raise InputError(f"--scenario {request.scenario!r}: one of {', '.join(sorted(drivers))}")
    plan = driver.prepare(request)
    if request.resume is not None:  # a store for another bank is refused before anything is written
        load_bank_state(request.resume / STATE_FILE, request.shape, on_error="raise")
    params = load_cell_parameters()
    bank = Bank(
        request.modules,
        params,
        seed=request.seed,
        initial_soc=request.initial_soc,
        ambient_c=request.ambient_c if request.ambient_c is not None else 25.0,
        dt_s=request.dt_s,
        capacity_scale=request.capacity_scale,
    )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out_dir}: cannot create ({exc.strerror})") from exc
    ext = "parquet" if request.series_format == "parquet" else "csv"
    series_path = out_dir / f"timeseries.{ext}"
    wall0 = time.perf_counter()
    columns = series_columns(request.modules, request.with_bms)
    interrupted = False
    with open_writer(series_path, columns, request.series_format) as writer:
        ctx = SimulationContext(request, bank, writer, progress)
        try:
            driver.run(ctx, plan)
        except KeyboardInterrupt:  # Ctrl-C: keep what was simulated (the rows written so far, a partial summary)
            interrupted = True
        finally:
            try:
                ctx.sink.drain()  # every row simulated is in the file (also after Ctrl-C) and in the statistics
            finally:
                if ctx.system is not None:
                    ctx.system.close()
            if ctx.fast_link is not None:
                ctx.fast_link.to_master()  # the master's counters and reports for the summary
        ctx.flush_ageing()
    wall = time.perf_counter() - wall0
    summary = build_summary(ctx, wall)
    summary["run"]["interrupted"] = interrupted
    if not _all_finite(summary):
        raise InputError("the simulation left the physical range (a value became NaN); check the inputs")
    summary_path = out_dir / "summary.json"
    if ctx.system is not None:
        save_bank_state(out_dir / STATE_FILE, bank, ctx.system.bms, request.shape)
    summary_path.write_text(json.dumps(summary, indent=2, allow_nan=False, default=_json_default) + "\n")
    report_path = out_dir / "report.html"
    if interrupted:
        raise SimulationInterrupted(SimulationOutcome(out_dir, series_path, summary_path, report_path, summary))
    if report:
        from ml314.storage.report import write_report  # noqa: PLC0415 - matplotlib only when a report is wanted
        from ml314.storage.report_charts import calendar_origin_s  # noqa: PLC0415

        report_path = write_report(
            series_path,
            out_dir,
            summary,
            title=f"ml314 simulate: {request.scenario}",
            t0_s=calendar_origin_s(request.start_day_of_year),
        )
    return SimulationOutcome(out_dir, series_path, summary_path, report_path, summary)


def _all_finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_all_finite(v) for v in value)
    return True


def _json_default(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
