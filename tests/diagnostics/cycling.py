"""A bank of the twin cycled as a tester would (charge to the top, stepped discharge with a rest on the plateau,
discharge to the bottom), its cell voltages read every 10 s as the history keeps them (1 mV steps)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ml314.diagnostics.cell_health import CellSeries
from ml314.domain.limits import ChargeLimits
from ml314.runtime.simulation import limits_row, no_stops
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters

DT_S = 10.0
_OPEN = limits_row(ChargeLimits(cvl_v=1.0e6, dvl_v=-1.0e6, ccl_a=1.0e6, dcl_a=1.0e6))


class Cycler:
    """Steps a bank 10 s at a time and records what the history would."""

    def __init__(self, modules: int, seed: int = 3) -> None:
        self.bank = Bank(modules, load_cell_parameters(), seed=seed, initial_soc=0.3, dt_s=DT_S)
        self._inputs = np.zeros((k.IN_ROWS, 1))
        self._rows = np.zeros((4, k.ROW_BANK_COLUMNS + modules * k.ROW_MODULE_COLUMNS))
        self.t: list[float] = []
        self.i: list[np.ndarray] = []
        self.v: list[np.ndarray] = []

    def step(self, current_a: float) -> None:
        self._inputs[k.IN_REQUEST] = current_a
        self._inputs[k.IN_AMBIENT_C] = 25.0
        self.bank.run(1, mode=k.MODE_CURRENT, inputs=self._inputs, limits=_OPEN, home=np.zeros(k.HP_ROWS),
                      stops=no_stops(), sample_every=10**9, rows=self._rows)  # fmt: skip
        self.t.append(self.bank.step_index * DT_S)
        self.i.append(self.bank.mod_state[k.MS_CURRENT_A].copy())
        self.v.append(np.round(self.bank.cell_state[k.CS_VOLTAGE_V], 3))

    def until(self, current_a: float, done: Callable[[Bank], bool], cap_s: float) -> None:
        for _ in range(int(cap_s / DT_S)):
            self.step(current_a)
            if done(self.bank):
                return

    def rest(self, seconds: float) -> None:
        for _ in range(int(seconds / DT_S)):
            self.step(0.0)

    def cycle(self, modules: int) -> None:
        """One cycle: 0.2C charge to 3.50 V, rest 1 h, stepped discharge to mid SOC, rest 2 h, discharge to 3.0 V,
        rest 1 h."""
        c = 63.0 * modules
        self.until(c, lambda b: bool(b.cell_state[k.CS_VOLTAGE_V].max() >= 3.50), 8 * 3600)
        self.rest(3600)
        for n in range(16):  # 10-min blocks alternating 0.1C and 0.3C: the current steps
            self.until(-c * (0.5 if n % 2 else 1.5), lambda b: False, 600)
        self.rest(7200)
        self.until(-c, lambda b: bool(b.cell_state[k.CS_VOLTAGE_V].min() <= 3.0), 8 * 3600)
        self.rest(3600)

    def series(self) -> CellSeries:
        n = self.bank.n_modules
        return CellSeries(np.asarray(self.t), np.asarray(self.i), np.asarray(self.v), tuple(range(1, n + 1)))
