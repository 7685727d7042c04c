"""State of health from the learned capacity and the learned resistance.

* Capacity SOH = learned capacity (Qmax, ``bms/soc``) over the reference capacity: the design capacity, or the
  first capacity learned if the cells shipped above their rating (a fresh module then reads 100 %, not 103 %).
* Resistance SOH: the learned cell-string resistance (at the reference temperature) over the fresh value;
  end of life is taken as a doubled resistance (the usual DCIR criterion), mapped linearly so that
  ``R = R_fresh`` is 1.0 and ``R = 2 R_fresh`` is the end-of-life SOH.
* SOH = the smaller of the two, clamped to 0..1; the warning and end-of-life flags compare it with ``[soh]``.

:func:`soh_step` is the numba kernel (array-only, over all modules); :class:`SohEstimator` its thin wrapper.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ml314.bms.parameters import BmsParameters
from ml314.bms.soc.common import S_CAP_REF_AH, S_CAPACITY_AH, S_RESISTANCE_OHM, compile_soc_params, fresh_resistance_ohm

# parameter array
H_END_OF_LIFE = 0
H_WARNING = 1
H_FRESH_RESISTANCE_OHM = 2
H_RESISTANCE_EOL_FACTOR = 3
H_ROWS = 4

# output columns, shape (n_modules, O_COLS)
O_SOH = 0
O_CAPACITY_SOH = 1
O_RESISTANCE_SOH = 2
O_WARNING = 3  # 1.0 when SOH < warning
O_END_OF_LIFE = 4  # 1.0 when SOH <= end of life
O_COLS = 5


def compile_soh_params(params: BmsParameters, *, resistance_eol_factor: float = 2.0) -> np.ndarray:
    """The ``[soh]`` section and the fresh string resistance as a float64 array."""
    h = np.zeros(H_ROWS)
    h[H_END_OF_LIFE] = params.soh.end_of_life
    h[H_WARNING] = params.soh.warning
    h[H_FRESH_RESISTANCE_OHM] = fresh_resistance_ohm(compile_soc_params(params))
    h[H_RESISTANCE_EOL_FACTOR] = resistance_eol_factor
    return h


@njit(cache=True, error_model="numpy")
def soh_step(soh_params: np.ndarray, soc_state: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (n, O_COLS) from the SOC estimator's state (n, N_STATE): capacity, resistance, SOH, flags."""
    eol = soh_params[H_END_OF_LIFE]
    for m in range(soc_state.shape[0]):
        st = soc_state[m]
        cap_soh = min(max(st[S_CAPACITY_AH] / st[S_CAP_REF_AH], 0.0), 1.0)
        growth = st[S_RESISTANCE_OHM] / soh_params[H_FRESH_RESISTANCE_OHM] - 1.0
        r_soh = 1.0 - max(growth, 0.0) * (1.0 - eol) / (soh_params[H_RESISTANCE_EOL_FACTOR] - 1.0)
        r_soh = min(max(r_soh, 0.0), 1.0)
        soh = min(cap_soh, r_soh)
        out[m, O_SOH] = soh
        out[m, O_CAPACITY_SOH] = cap_soh
        out[m, O_RESISTANCE_SOH] = r_soh
        out[m, O_WARNING] = 1.0 if soh < soh_params[H_WARNING] else 0.0
        out[m, O_END_OF_LIFE] = 1.0 if soh <= eol else 0.0


class SohEstimator:
    """SOH of every module from an SOC estimator's learned capacity and resistance."""

    def __init__(self, params: BmsParameters, n_modules: int) -> None:
        self.params = compile_soh_params(params)
        self.out = np.zeros((n_modules, O_COLS))

    def update(self, soc_state: np.ndarray) -> np.ndarray:
        """Recompute from ``soc_state`` (the estimator's ``state``); return SOH per module."""
        soh_step(self.params, soc_state, self.out)
        return np.asarray(self.out[:, O_SOH].copy())

    @property
    def soh(self) -> np.ndarray:
        """SOH per module, 0..1 (as of the last update)."""
        return np.asarray(self.out[:, O_SOH].copy())

    @property
    def warning(self) -> np.ndarray:
        """True where SOH is below the warning level."""
        return np.asarray(self.out[:, O_WARNING] > 0.5)

    @property
    def end_of_life(self) -> np.ndarray:
        """True where SOH is at or below end of life."""
        return np.asarray(self.out[:, O_END_OF_LIFE] > 0.5)
