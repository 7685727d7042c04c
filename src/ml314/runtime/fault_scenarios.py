"""Faults injected into the engine of ``ml314 run``, one row each, for the diagnostics' scenario tests and
``benchmarks/diagnose.py``.

:class:`FaultBench` is a bank on the compiled engine (twin, BMS, LEDs, counters) under an inverter that asks for
a bus current, obeying the BMS's limits or not, with the observer the live run uses. A :class:`FaultScenario` sets
it up, injects its fault (into the twin: a cell, a sensor, the breaker, the temperature; the inverter side: a
current it forces, a charge voltage set too low; the BMS's memory: a learned capacity), then drives it; the rules
must name ``code`` on module ``module`` with the manual's ``advice``. :func:`run_scenario` drives one in steps and
reports when the finding first appeared. The faults of the links themselves (no keep-alive, another protocol) need
real buses: ``tests/runtime/test_diagnosis.py``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ml314.bms.parameters import load_default_parameters
from ml314.bms.soc.common import S_CAPACITY_AH
from ml314.diagnostics import Finding, Observation, Observer, diagnose, trace_point
from ml314.domain.faults import SystemFault
from ml314.domain.limits import ChargeLimits
from ml314.runtime.diagnosis import bank_modules
from ml314.runtime.live_bank import LiveBank
from ml314.runtime.simulation import SimulationRequest
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.status import StatusBuilder
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.home import InverterSpec
from ml314.twin.params import load_cell_parameters
from ml314.twin.sensors import SensorFault

__all__ = ["FAULTS", "NO_LIMITS", "FaultBench", "FaultScenario", "Outcome", "fault", "run_scenario"]

#: what an inverter (or a DC load) that ignores the battery's limits does: anything goes
NO_LIMITS = ChargeLimits(cvl_v=80.0, dvl_v=0.0, ccl_a=5000.0, dcl_a=5000.0)


class FaultBench:
    """``modules`` modules at ``soc``; :meth:`run` advances under a bus current request."""

    def __init__(
        self, modules: int = 1, soc: float = 0.5, *, capacity_scale: tuple[float, ...] | None = None, seed: int = 1
    ) -> None:
        bank = Bank(modules, load_cell_parameters(), seed=seed, initial_soc=soc, capacity_scale=capacity_scale)
        self.system = CompiledBankSystem(
            bank, load_default_parameters(), seed=seed, initial_soc_estimate=soc, initial_soc_uncertainty=0.01
        )
        self.bank = bank
        self.builder = StatusBuilder(self.system)
        self.observer = Observer(start_s=self.system.t_s)
        self.faults: tuple[SystemFault, ...] = ()
        self.current_a = 0.0
        self.limits: ChargeLimits | None = None
        self.ambient_c = 25.0
        self._fed = 0
        self._inputs = np.zeros((k.IN_ROWS, 600))

    @property
    def t_s(self) -> float:
        return self.system.t_s

    def run(self, seconds: int, *, chunk_s: int = 10) -> None:
        """Advance ``seconds`` under the present request (:attr:`current_a`, positive charging; :attr:`limits`
        what the inverter obeys instead of the BMS's, None: the BMS's); the trace is sampled per chunk."""
        done = 0
        while done < seconds:
            n = min(chunk_s, seconds - done, self._inputs.shape[1])
            block = self._inputs[:, :n]
            block[:] = 0.0
            block[k.IN_REQUEST] = self.current_a
            block[k.IN_AMBIENT_C] = self.ambient_c
            if self.limits is not None:
                self.system.impose_limits(self.limits)
            self.system.advance(n, k.MODE_CURRENT, block)
            done += n
            self.observer.add_trace(trace_point(self.builder.build()))

    def observe(self) -> Observation:
        log = self.system.bms.events
        total = log.dropped + len(log)
        if total > self._fed:
            self.observer.feed_events(log.recent(total - self._fed))
            self._fed = total
        modules = bank_modules(self.system, self.builder.modules())
        return self.observer.observe(self.system.t_s, modules, faults=self.faults)

    def findings(self) -> tuple[Finding, ...]:
        return diagnose(self.observe())


@dataclass(frozen=True)
class FaultScenario:
    """One injected fault: the bench (modules, SOC), the injection, how long to drive, and what must be found."""

    name: str
    code: str
    module: int | None
    advice: str  # a phrase of the manual's solution (or steps) the finding must carry
    inject: Callable[[FaultBench], None]
    drive_s: int
    modules: int = 1
    soc: float = 0.5
    capacity_scale: tuple[float, ...] | None = None
    step_s: int = 10
    bench: Callable[[FaultScenario], FaultBench | LiveBench] | None = None
    notes: str = field(default="")


@dataclass
class Outcome:
    """What a scenario found: the expected finding (None: not found), when after the injection, and the rest."""

    scenario: FaultScenario
    finding: Finding | None
    delay_s: float | None
    others: tuple[Finding, ...]

    @property
    def detected(self) -> bool:
        return self.finding is not None


# ----------------------------------------------------------------------------------------------- injections
def _breaker(b: FaultBench) -> None:
    b.bank.set_breaker(1, closed=False)
    b.current_a = -40.0


def _short(b: FaultBench) -> None:
    b.current_a, b.limits = -1200.0, NO_LIMITS  # a shorted line draws far beyond any limit


def _forced(current_a: float) -> Callable[[FaultBench], None]:
    def inject(b: FaultBench) -> None:
        b.current_a, b.limits = current_a, NO_LIMITS

    return inject


def _hot(temperature_c: float, current_a: float) -> Callable[[FaultBench], None]:
    def inject(b: FaultBench) -> None:
        b.bank.cell_state[k.CS_TEMP_C] = temperature_c
        b.bank.mod_state[[k.MS_ENCLOSURE_C, k.MS_BOARD_C, k.MS_MOSFET_C]] = temperature_c
        b.ambient_c = temperature_c
        b.current_a, b.limits = current_a, NO_LIMITS  # a charger or load that ignores the derating

    return inject


def _weak_cell(b: FaultBench) -> None:
    soc = np.array(b.bank.cell_state[k.CS_SOC])
    soc[1, 6] = 0.012  # module 2, cell 7: far below its neighbours
    b.bank.set_cell_soc(soc)


def _open_ntc(b: FaultBench) -> None:
    b.system.inject(SensorFault(module_index=0, channel="temperature", index=2, kind="open_wire"))


def _pack_sensor(b: FaultBench) -> None:
    b.system.inject(SensorFault(module_index=0, channel="pack_voltage", index=0, kind="open_wire"))


def _overdischarge(b: FaultBench) -> None:
    b.current_a, b.limits = -60.0, NO_LIMITS  # a DC load that ignores the battery's derating


def _worn(b: FaultBench) -> None:
    # module 2 has 70 % of its capacity; its BMS learns that over many cycles (bms/soc, filtered): here its memory
    # is set to what it has learned by then
    b.system.bms.estimator.state[1, S_CAPACITY_AH] = 0.7 * 314.0
    b.current_a = -30.0


def _deep(b: FaultBench) -> None:
    """Empty, asleep, then left until the voltage is too low to keep the BMS powered; then ON/OFF is tried."""
    _overdischarge(b)
    b.run(1800)
    b.current_a, b.limits = 0.0, None
    b.run(600)
    soc = np.array(b.bank.cell_state[k.CS_SOC])
    b.bank.set_cell_soc(np.minimum(soc, 0.0005))
    b.run(120)
    b.system.press([0], power=True)


def _stale(b: FaultBench) -> None:
    b.observer.start_s = b.t_s - 31 * 86400.0  # a record that began 31 days ago with no full charge since
    b.current_a = -20.0


class LiveBench(FaultBench):
    """A :class:`FaultBench` on :class:`LiveBank`: the home system of ``ml314 run`` (its inverter, PV, load)."""

    def __init__(self, request: SimulationRequest) -> None:
        self.live = LiveBank(request, load_default_parameters())
        self.system = self.live.system
        self.bank = self.system.bank
        self.builder = self.live.builder
        self.observer = Observer(start_s=self.system.t_s)
        self.faults = ()
        self._fed = 0

    def run(self, seconds: int, *, chunk_s: int = 60) -> None:
        done = 0
        while done < seconds:
            n = min(chunk_s, seconds - done)
            self.live.tick(n)
            done += n
            self.observer.add_trace(trace_point(self.live.status))


def _low_charger(s: FaultScenario) -> LiveBench:
    inverter = InverterSpec(mode="backup", charge_voltage_v=53.2)  # the inverter's own setting, below the CVL
    return LiveBench(SimulationRequest(modules=1, initial_soc=0.55, link=False, inverter=inverter))


def _duplicate_ids(b: FaultBench) -> None:
    live = LiveBank(SimulationRequest(modules=2, module_ids=(3, 3)), load_default_parameters())
    try:
        assert live.linked is not None
        b.faults = tuple(live.linked.report.records())
    finally:
        live.close()


def _nothing(b: FaultBench) -> None:
    del b


FAULTS: tuple[FaultScenario, ...] = (
    FaultScenario("breaker open", "breaker_open", 2, "Close breaker", _breaker, 60, modules=2, soc=0.6),
    FaultScenario("short circuit", "short_circuit", 1, "check all cables", _short, 5, soc=0.6, step_s=1),
    FaultScenario("charge over-current", "charge_overcurrent", 1, "check the settings and limitation",
                  _forced(185.0), 30, step_s=1),
    FaultScenario("discharge over-current", "discharge_overcurrent", 1, "check if there is an overload",
                  _forced(-185.0), 30, step_s=1),
    FaultScenario("charge over-temperature", "charge_temperature", 1, "wait for the temp recovery", _hot(57.0, 20.0),
                  300, step_s=5),
    FaultScenario("charge under-temperature", "charge_temperature", 1, "wait for the temp recovery",
                  _hot(-3.0, 20.0), 300, step_s=5),
    FaultScenario("discharge over-temperature", "discharge_temperature", 1, "wait for the temp recovery",
                  _hot(62.0, -20.0), 300, step_s=5),
    FaultScenario("weak cell", "cell_unbalance", 2, "Examine/balance the cell", _weak_cell, 60, modules=2, step_s=1),
    FaultScenario("open NTC", "temperature_unbalance", 1, "Replace temperature sensor cable", _open_ntc, 60,
                  modules=2, step_s=1),
    FaultScenario("pack voltage sensor", "bms_damaged", 1, "Replace BMS", _pack_sensor, 60, step_s=1),
    FaultScenario("over-discharge, no DC output", "low_voltage", 1, "charge the battery", _overdischarge, 1500,
                  soc=0.03),
    FaultScenario("low-voltage sleep", "sleep", 1, "Charge the battery immediately", _overdischarge, 2400, soc=0.03),
    FaultScenario("deep discharge", "deep_discharge", 1, "charge it up to 40V", _deep, 10, soc=0.03, step_s=1),
    FaultScenario("charger voltage below CVL", "charge_voltage_low", None, "Regulating DC output voltage",
                  _nothing, 6 * 3600, step_s=60, bench=_low_charger),
    FaultScenario("worn module", "capacity_low", 2, "Maintenance or replacement", _worn, 120, modules=2,
                  capacity_scale=(1.0, 0.7)),
    FaultScenario("no full charge for a month", "not_full", 1, "Maintenance or replacement", _stale, 10),
    FaultScenario("duplicate IDs", "id_error", None, "Refer 8.4.2", _duplicate_ids, 1, modules=2, step_s=1),
)  # fmt: skip
_BY_NAME = {s.name: s for s in FAULTS}


def fault(name: str) -> FaultScenario:
    """The scenario ``name``; KeyError naming the nearest for a misspelt one."""
    try:
        return _BY_NAME[name]
    except KeyError:
        near = difflib.get_close_matches(name, list(_BY_NAME), n=1)
        raise KeyError(f"no fault scenario {name!r}" + (f" (did you mean {near[0]!r}?)" if near else "")) from None


def run_scenario(s: FaultScenario) -> Outcome:
    """Set up, inject, drive in steps of ``step_s`` until the expected finding appears or ``drive_s`` passes."""
    bench = s.bench(s) if s.bench is not None else FaultBench(s.modules, s.soc, capacity_scale=s.capacity_scale)
    try:
        s.inject(bench)
        t0 = bench.t_s
        found: tuple[Finding, ...] = ()
        while True:
            found = bench.findings()
            hit = next((f for f in found if f.code == s.code and (s.module is None or f.module_id == s.module)), None)
            if hit is not None or bench.t_s - t0 >= s.drive_s:
                break
            bench.run(s.step_s, chunk_s=s.step_s)
        others = tuple(f for f in found if f is not hit)
        return Outcome(s, hit, None if hit is None else bench.t_s - t0, others)
    finally:
        bench.system.close()
        if isinstance(bench, LiveBench):
            bench.live.close()
