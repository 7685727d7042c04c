"""Coulomb counting with a full sync, an empty sync and OCV correction after relaxation off the plateau.

Per module and second (:func:`coulomb_step`): the current, less the learned sensor offset and inside a dead-band
set to zero, is counted against the learned capacity (coulombic efficiency on charge); the uncertainty grows with
the offset bound and the gain error. A full sync (highest cell >= 3.45 V with less than 0.05C for 5 min) sets the
SOC to the fullest cell's OCV-table SOC; an empty sync (lowest cell <= 2.90 V for 60 s while discharging, timer
reset when the voltage recovers) to the emptiest cell's. After a proper relaxation (|I| < 0.5 A and
|dV/dt| < 4 uV/s, or 2 h after charge / 5 h after discharge), and only off the plateau (OCV above 3.34 V or below
3.20 V), the OCV-table SOC on the tracked hysteresis branch is blended in, weighted by the two uncertainties
(TI's DoDWT idea), once per rest period. Syncs and good OCV points are the anchors of capacity learning.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ml314.bms.soc.common import (
    P_EMPTY_SYNC_ERROR,
    P_N_CELLS,
    P_SYNC_ERROR,
    S_OCV_DONE,
    S_OCV_SOC,
    S_REQUEST_BOUND,
    S_SOC,
    S_STARTED,
    S_UNCERTAINTY,
    EstimatorBase,
    cell_stats,
    count,
    empty_sync,
    full_sync,
    learn_capacity,
    measure,
    ocv_point,
    relaxed,
    start_from_ocv,
    track_rest,
    watch_temperature,
)

# an OCV point anchors capacity learning only when its SOC error bound is below this
OCV_ANCHOR_MAX_ERROR = 0.03


@njit(cache=True, error_model="numpy")
def apply_ocv(st: np.ndarray, soc_ocv: float, err: float) -> None:
    """Blend an OCV-table SOC with error bound ``err`` into the counted SOC, weighted by the uncertainties."""
    u = st[S_UNCERTAINTY]
    w = u * u / (u * u + err * err)
    st[S_SOC] = min(max(st[S_SOC] + w * (soc_ocv - st[S_SOC]), 0.0), 1.0)
    st[S_UNCERTAINTY] = math.sqrt(u * u * err * err / (u * u + err * err))


@njit(cache=True, error_model="numpy")
def coulomb_module(
    st: np.ndarray,
    p: np.ndarray,
    current_a: float,
    cell_voltage_v: np.ndarray,
    temperature_c: np.ndarray,
    path_open: float,
    now_s: float,
    dt_s: float,
) -> None:
    """One second of one module (``st`` is its state row, ``cell_voltage_v`` its 16 cells)."""
    vsum, vmin, vmax, t_mean, t_min, t_max = cell_stats(cell_voltage_v, temperature_c)
    if st[S_STARTED] < 0.5:
        start_from_ocv(st, p, vmin, vmax, t_mean)
    i = measure(st, p, current_a, vsum, t_mean, path_open, dt_s)
    count(st, p, i, dt_s)
    track_rest(st, p, i, vsum / p[P_N_CELLS], dt_s)
    watch_temperature(st, p, t_min, t_max)
    soc = full_sync(st, p, i, vmax, t_mean, now_s, dt_s)
    if not math.isnan(soc):
        st[S_SOC] = soc
        st[S_UNCERTAINTY] = p[P_SYNC_ERROR]
        learn_capacity(st, p, soc, now_s)
    soc = empty_sync(st, p, i, vmin, t_mean, now_s, dt_s)
    if not math.isnan(soc):
        st[S_SOC] = soc
        st[S_UNCERTAINTY] = p[P_EMPTY_SYNC_ERROR]
        learn_capacity(st, p, soc, now_s)
    if st[S_OCV_DONE] < 0.5 and relaxed(st, p):
        st[S_OCV_DONE] = 1.0
        soc, err = ocv_point(st, p, vmin, vmax)
        if not math.isnan(soc):
            st[S_OCV_SOC] = soc
            apply_ocv(st, soc, err)
            if err < OCV_ANCHOR_MAX_ERROR:
                learn_capacity(st, p, soc, now_s)
    st[S_REQUEST_BOUND] = st[S_UNCERTAINTY]


@njit(cache=True, error_model="numpy")
def coulomb_step(
    state: np.ndarray,
    params: np.ndarray,
    current_a: np.ndarray,
    cell_voltage_v: np.ndarray,
    temperature_c: np.ndarray,
    path_open: np.ndarray,
    now_s: float,
    dt_s: float,
) -> None:
    """One reading of every module.

    ``state`` (n, N_STATE), ``params`` from :func:`~ml314.bms.soc.common.compile_soc_params`, ``current_a`` (n,)
    positive charging, ``cell_voltage_v`` (n, 16), ``temperature_c`` (n, 4), ``path_open`` (n,) 1.0 when both
    MOSFETs are open (the current must be zero), ``now_s`` and ``dt_s`` the time and the time since the last call.
    """
    for m in range(state.shape[0]):
        coulomb_module(state[m], params, current_a[m], cell_voltage_v[m], temperature_c[m], path_open[m], now_s, dt_s)


class CoulombEstimator(EstimatorBase):
    """Coulomb counting with full and empty syncs and relaxed-OCV correction (see the module docstring)."""

    kernel = coulomb_step
