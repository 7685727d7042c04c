"""SOC estimation: estimator variants behind one interface, and one compiled dispatcher for a closed loop.

Every variant has a Python wrapper (for tests and the real-time runtime) and a numba step function with the
array-only signature ``(state, params, current_a, cell_voltage_v, temperature_c, path_open, now_s, dt_s)``; a
compiled closed loop calls :func:`soc_step` with the variant's integer id from :data:`ESTIMATOR_IDS`. The state
columns (``S_*``) and parameter layout (``P_*``, built by :func:`compile_soc_params`) are shared, see
``common.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
from numba import njit

from ml314.bms.soc.adaptive import AdaptiveEstimator, adaptive_step, set_priors
from ml314.bms.soc.common import N_STATE, compile_soc_params, new_state
from ml314.bms.soc.coulomb import CoulombEstimator, coulomb_step
from ml314.bms.soc.ekf import EkfEstimator, ekf_step

__all__ = [
    "ESTIMATOR_ADAPTIVE",
    "ESTIMATOR_COULOMB",
    "ESTIMATOR_EKF",
    "ESTIMATOR_IDS",
    "N_STATE",
    "SOC_ESTIMATORS",
    "AdaptiveEstimator",
    "CoulombEstimator",
    "EkfEstimator",
    "SocEstimator",
    "compile_soc_params",
    "new_estimator_state",
    "new_state",
    "soc_step",
]


@runtime_checkable
class SocEstimator(Protocol):
    """What every SOC estimator offers (arrays over the modules of a bank)."""

    state: np.ndarray

    def step(
        self,
        current_a: np.ndarray,
        cell_voltage_v: np.ndarray,
        temperature_c: np.ndarray,
        path_open: np.ndarray,
        now_s: float,
        dt_s: float,
    ) -> None:
        """One reading of every module: currents (n,), cell voltages (n, 16), NTCs (n, 4), path open (n,)."""

    @property
    def soc(self) -> np.ndarray:
        """Module SOC 0..1."""

    @property
    def uncertainty(self) -> np.ndarray:
        """Bound on |SOC error|, fraction."""

    @property
    def request_bound(self) -> np.ndarray:
        """What the full-charge request reads: the part of the bound a full charge removes, fraction."""


SOC_ESTIMATORS: dict[str, type] = {"adaptive": AdaptiveEstimator, "coulomb": CoulombEstimator, "ekf": EkfEstimator}
ESTIMATOR_COULOMB = 0
ESTIMATOR_EKF = 1
ESTIMATOR_ADAPTIVE = 2
ESTIMATOR_IDS: dict[str, int] = {
    "adaptive": ESTIMATOR_ADAPTIVE,
    "coulomb": ESTIMATOR_COULOMB,
    "ekf": ESTIMATOR_EKF,
}


#: what a variant sets on a fresh state beyond ``new_state`` (its priors)
PRIORS: dict[str, Callable[[np.ndarray, np.ndarray], None]] = {"adaptive": set_priors}


def new_estimator_state(
    name: str, params: np.ndarray, n_modules: int, soc: float | np.ndarray | None = None, uncertainty: float = 1.0
) -> np.ndarray:
    """A fresh state of variant ``name`` for :func:`soc_step` (what its wrapper class starts from)."""
    state = new_state(params, n_modules, soc, uncertainty)
    prior = PRIORS.get(name)
    if prior is not None:
        prior(state, params)
    return state


@njit(cache=True, error_model="numpy")
def soc_step(
    estimator_id: int,
    state: np.ndarray,
    params: np.ndarray,
    current_a: np.ndarray,
    cell_voltage_v: np.ndarray,
    temperature_c: np.ndarray,
    path_open: np.ndarray,
    now_s: float,
    dt_s: float,
) -> None:
    """Step the variant ``estimator_id`` (:data:`ESTIMATOR_IDS`) for every module."""
    if estimator_id == ESTIMATOR_ADAPTIVE:
        adaptive_step(state, params, current_a, cell_voltage_v, temperature_c, path_open, now_s, dt_s)
    elif estimator_id == ESTIMATOR_EKF:
        ekf_step(state, params, current_a, cell_voltage_v, temperature_c, path_open, now_s, dt_s)
    else:
        coulomb_step(state, params, current_a, cell_voltage_v, temperature_c, path_open, now_s, dt_s)
