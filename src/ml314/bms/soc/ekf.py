"""An extended Kalman filter on the cell model of the mean cell: states SOC and the two RC voltages.

Model (per second, the BMS's own copy of the cell maker's data, see ``common.py``)::

    soc  <- soc + eta i dt / Q                    (the coulomb count, offset-corrected as in the coulomb variant)
    v_k  <- a_k v_k + R_k s (1 - a_k) i           a_k = exp(-dt / tau_k), k = 1, 2
    y     = OCV(soc) + h M(soc) + v1 + v2 + R0 s i     (y = mean cell voltage)

with ``s`` the resistance scale (learned string resistance over the design value, Arrhenius in temperature, the
R(SOC) factor) and ``h`` the tracked one-state hysteresis. Why it does not diverge on the LFP plateau:

* the measurement Jacobian is the table slope dOCV/dSOC, a few mV per 10 % on the plateau, so the gain on SOC is
  small there and the filter leans on the count;
* the voltage model's error (OCV table, entropic term, partly known hysteresis branch, resistance) is not white:
  it is correlated over ``P_EKF_CORRELATION_S``, so the measurement variance is that error's variance times the
  correlation time over the step; a constant few-mV bias then moves the SOC by a fraction of a percent a day on the
  plateau instead of several percent a minute;
* the SOC process noise is the current sensor's error (offset bound and gain error), treated as correlated over
  a few hours, so the covariance grows like the coulomb count's error does;
* a per-step correction is capped, and the full and empty syncs reset SOC and covariance as in the coulomb
  variant (they also anchor capacity learning, with relaxed OCV points off the plateau).

The reported uncertainty is twice the SOC standard deviation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ml314.bms.soc.common import (
    P_EKF_CORRELATION_S,
    P_EKF_MODEL_SIGMA_V,
    P_EKF_R_SIGMA,
    P_EMPTY_SYNC_ERROR,
    P_GAIN_ERROR,
    P_N_CELLS,
    P_R0_OHM,
    P_R1_OHM,
    P_R2_OHM,
    P_SYNC_ERROR,
    P_TAU1_S,
    P_TAU2_S,
    P_VOLTAGE_SIGMA_V,
    S_CAP_UNC,
    S_CAPACITY_AH,
    S_EKF_V1,
    S_EKF_V2,
    S_HYST,
    S_OCV_DONE,
    S_OCV_SOC,
    S_OFFSET_BOUND_A,
    S_P00,
    S_P01,
    S_P02,
    S_P11,
    S_P12,
    S_P22,
    S_REQUEST_BOUND,
    S_RESISTANCE_OHM,
    S_SOC,
    S_STARTED,
    S_UNCERTAINTY,
    EstimatorBase,
    arrhenius,
    cell_stats,
    count,
    empty_sync,
    fresh_resistance_kernel,
    full_sync,
    hysteresis_v,
    learn_capacity,
    measure,
    ocv_point,
    ocv_slope_v,
    ocv_v,
    r_soc_factor,
    relaxed,
    start_from_ocv,
    track_rest,
    watch_temperature,
)

# correlation time of the current sensor's error in the SOC process noise
CURRENT_ERROR_CORRELATION_S = 4.0 * 3600.0
# largest SOC correction of one measurement update
MAX_STEP_CORRECTION = 0.002
# an OCV point anchors capacity learning only when its SOC error bound is below this
OCV_ANCHOR_MAX_ERROR = 0.03


@njit(cache=True, error_model="numpy")
def _sync(st: np.ndarray, soc: float, err: float) -> None:
    st[S_SOC] = soc
    sigma = 0.5 * err
    st[S_P00] = sigma * sigma
    st[S_P01] = 0.0
    st[S_P02] = 0.0
    st[S_UNCERTAINTY] = err


@njit(cache=True, error_model="numpy")
def ekf_module(
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
    n_cells = p[P_N_CELLS]
    vsum, vmin, vmax, t_mean, t_min, t_max = cell_stats(cell_voltage_v, temperature_c)
    if st[S_STARTED] < 0.5:
        start_from_ocv(st, p, vmin, vmax, t_mean)
    i = measure(st, p, current_a, vsum, t_mean, path_open, dt_s)
    dsoc = count(st, p, i, dt_s)  # the prediction of SOC
    y = vsum / n_cells
    track_rest(st, p, i, y, dt_s)
    watch_temperature(st, p, t_min, t_max)

    soc = st[S_SOC]
    scale = st[S_RESISTANCE_OHM] / fresh_resistance_kernel(p) * arrhenius(p, t_mean) * r_soc_factor(p, soc)
    a1 = math.exp(-dt_s / p[P_TAU1_S])
    a2 = math.exp(-dt_s / p[P_TAU2_S])
    st[S_EKF_V1] = a1 * st[S_EKF_V1] + p[P_R1_OHM] * scale * (1.0 - a1) * i
    st[S_EKF_V2] = a2 * st[S_EKF_V2] + p[P_R2_OHM] * scale * (1.0 - a2) * i
    # covariance prediction, F = diag(1, a1, a2)
    cap = st[S_CAPACITY_AH]
    sig_i = (st[S_OFFSET_BOUND_A] + p[P_GAIN_ERROR] * abs(i)) * dt_s / 3600.0 / cap
    q00 = sig_i * sig_i * CURRENT_ERROR_CORRELATION_S / dt_s + (st[S_CAP_UNC] * dsoc) ** 2
    q_rc = (p[P_EKF_R_SIGMA] * p[P_R1_OHM] * scale * abs(i)) ** 2 * (1.0 - a1 * a1) + 1.0e-10
    q_rc2 = (p[P_EKF_R_SIGMA] * p[P_R2_OHM] * scale * abs(i)) ** 2 * (1.0 - a2 * a2) + 1.0e-10
    p00 = st[S_P00] + q00
    p01 = st[S_P01] * a1
    p02 = st[S_P02] * a2
    p11 = st[S_P11] * a1 * a1 + q_rc
    p12 = st[S_P12] * a1 * a2
    p22 = st[S_P22] * a2 * a2 + q_rc2

    # measurement update on the mean cell voltage
    h = st[S_HYST]
    m_v = hysteresis_v(p, soc)
    r0 = p[P_R0_OHM] * scale
    y_hat = ocv_v(p, soc, h) + st[S_EKF_V1] + st[S_EKF_V2] + r0 * i
    h0 = ocv_slope_v(p, soc, h)
    sig_v = p[P_VOLTAGE_SIGMA_V]
    model = p[P_EKF_MODEL_SIGMA_V] ** 2 + (0.2 * m_v + (1.0 - abs(h)) * m_v) ** 2 + (p[P_EKF_R_SIGMA] * r0 * i) ** 2
    r_meas = sig_v * sig_v / n_cells + model * p[P_EKF_CORRELATION_S] / dt_s
    s = h0 * h0 * p00 + 2.0 * h0 * (p01 + p02) + p11 + 2.0 * p12 + p22 + r_meas
    k0 = (p00 * h0 + p01 + p02) / s
    k1 = (p01 * h0 + p11 + p12) / s
    k2 = (p02 * h0 + p12 + p22) / s
    innov = y - y_hat
    corr = min(max(k0 * innov, -MAX_STEP_CORRECTION), MAX_STEP_CORRECTION)
    st[S_SOC] = min(max(soc + corr, 0.0), 1.0)
    st[S_EKF_V1] += k1 * innov
    st[S_EKF_V2] += k2 * innov
    st[S_P00] = max(p00 - k0 * k0 * s, 1.0e-10)
    st[S_P01] = p01 - k0 * k1 * s
    st[S_P02] = p02 - k0 * k2 * s
    st[S_P11] = max(p11 - k1 * k1 * s, 1.0e-12)
    st[S_P12] = p12 - k1 * k2 * s
    st[S_P22] = max(p22 - k2 * k2 * s, 1.0e-12)

    sync = full_sync(st, p, i, vmax, t_mean, now_s, dt_s)
    if not math.isnan(sync):
        _sync(st, sync, p[P_SYNC_ERROR])
        learn_capacity(st, p, sync, now_s)
    sync = empty_sync(st, p, i, vmin, t_mean, now_s, dt_s)
    if not math.isnan(sync):
        _sync(st, sync, p[P_EMPTY_SYNC_ERROR])
        learn_capacity(st, p, sync, now_s)
    if st[S_OCV_DONE] < 0.5 and relaxed(st, p):
        st[S_OCV_DONE] = 1.0
        soc_ocv, err = ocv_point(st, p, vmin, vmax)
        if not math.isnan(soc_ocv):
            st[S_OCV_SOC] = soc_ocv
            if err < OCV_ANCHOR_MAX_ERROR:
                learn_capacity(st, p, soc_ocv, now_s)
    st[S_P00] = min(st[S_P00], 0.25)
    st[S_UNCERTAINTY] = min(2.0 * math.sqrt(st[S_P00]), 1.0)
    st[S_REQUEST_BOUND] = st[S_UNCERTAINTY]


@njit(cache=True, error_model="numpy")
def ekf_step(
    state: np.ndarray,
    params: np.ndarray,
    current_a: np.ndarray,
    cell_voltage_v: np.ndarray,
    temperature_c: np.ndarray,
    path_open: np.ndarray,
    now_s: float,
    dt_s: float,
) -> None:
    """One reading of every module; arguments as :func:`ml314.bms.soc.coulomb.coulomb_step`."""
    for m in range(state.shape[0]):
        ekf_module(state[m], params, current_a[m], cell_voltage_v[m], temperature_c[m], path_open[m], now_s, dt_s)


class EkfEstimator(EstimatorBase):
    """Extended Kalman filter on the mean cell's model, with the syncs of the coulomb variant."""

    kernel = ekf_step
