"""A bank driven for the diagnostics scenarios: the compiled engine of ``ml314 run`` (twin, BMS, LEDs, counters),
an inverter that asks for a current (obeying the BMS's limits or not), and the observer the live run uses."""

from __future__ import annotations

import numpy as np

from ml314.bms.parameters import load_default_parameters
from ml314.diagnostics import Finding, Observation, Observer, diagnose, trace_point
from ml314.domain.faults import SystemFault
from ml314.domain.limits import ChargeLimits
from ml314.runtime.diagnosis import bank_modules
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.status import StatusBuilder
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters

#: what an inverter that ignores the battery's limits does: anything goes
NO_LIMITS = ChargeLimits(cvl_v=80.0, dvl_v=0.0, ccl_a=5000.0, dcl_a=5000.0)


class Harness:
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
        self._fed = 0
        self._inputs = np.zeros((k.IN_ROWS, 3600))

    def run(
        self,
        seconds: int,
        current_a: float = 0.0,
        *,
        limits: ChargeLimits | None = None,
        ambient_c: float = 25.0,
        chunk_s: int = 60,
    ) -> None:
        """Advance ``seconds`` with the inverter asking for ``current_a`` (positive charging); ``limits``: what it
        obeys instead of the BMS's (NO_LIMITS: an inverter that ignores them). The trace is sampled per chunk."""
        done = 0
        while done < seconds:
            n = min(chunk_s, seconds - done, self._inputs.shape[1])
            block = self._inputs[:, :n]
            block[:] = 0.0
            block[k.IN_REQUEST] = current_a
            block[k.IN_AMBIENT_C] = ambient_c
            if limits is not None:
                self.system.impose_limits(limits)
            self.system.advance(n, k.MODE_CURRENT, block)
            done += n
            self.observer.add_trace(trace_point(self.builder.build()))

    def observe(self, faults: tuple[SystemFault, ...] = ()) -> Observation:
        log = self.system.bms.events
        total = log.dropped + len(log)
        if total > self._fed:
            self.observer.feed_events(log.recent(total - self._fed))
            self._fed = total
        modules = bank_modules(self.system, self.builder.modules())
        return self.observer.observe(self.system.t_s, modules, faults=faults)

    def findings(self, faults: tuple[SystemFault, ...] = ()) -> tuple[Finding, ...]:
        return diagnose(self.observe(faults))


def codes(findings: tuple[Finding, ...]) -> set[tuple[str, int | None]]:
    """(code, module) of each finding."""
    return {(f.code, f.module_id) for f in findings}
