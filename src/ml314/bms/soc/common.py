"""Kernels shared by every SOC estimator: OCV lookup with hysteresis, current-sensor offset, rest and relaxation
tracking, full and empty syncs, capacity and resistance learning, and the stated uncertainty.

Everything here runs once per second per module inside the estimators' numba step functions. The per-module state
is one row of a float64 array shaped ``(n_modules, N_STATE)`` whose columns are named by the ``S_*`` constants; the
parameters (``[soc]`` and ``[soh]`` of the BMS parameter set, the cell maker's model values and the OCV table) are
one flat float64 array built by :func:`compile_soc_params` and indexed by the ``P_*`` constants.

What the BMS reports as module SOC: the usable state of the series string (the charge it can still deliver over
the learned capacity), 0..1. It is synced to the *fullest* cell at the top (full sync on the highest cell voltage)
and to the *emptiest* cell at the bottom (empty sync on the lowest cell voltage), which is how the string's usable
SOC is bounded, and it is counted in between.

The cell model (the cell maker's data, the BMS's own copy; the BMS never reads the twin):

* OCV(SOC) = mean pseudo-OCV + h M(SOC), the ``SOC,OCV,HystV`` table of ``bms/data/ocv_lfp.csv`` with the
  measured half-gap scaled by 0.35 (the 5-25 mV full gap of large prismatic LFP cells); ``h`` in -1..1 is the
  one-state (Plett) hysteresis driven by the measured current: ``h -> e h + (1 - e) sign(i)`` with
  ``e = exp(-|i| gamma dt / Q)``, so after a charge the charge branch (``h = +1``) is used, after a discharge the
  discharge branch;
* R0 + two RC pairs with an Arrhenius temperature factor and a SOC factor (higher when empty).

Current-sensor offset: learned as a slow average while the module's MOSFET path is open (the current must be
zero), and from the drift of the counter between two full syncs (from one full sync to the next the net charge is
zero, so neither the gain error nor the capacity error enters: what the counter gained is offset times time);
subtracted before counting, then a dead-band.

Uncertainty (a bound on |SOC error|, fraction, after TI's MaxError): 1.0 when the state is unknown; it grows by
``(offset bound x dt + gain error x |I| dt) / capacity`` plus the capacity's relative uncertainty times the SOC
moved, and drops to the sync's own error at a full or empty sync, or to the combined error at an OCV correction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np
from numba import njit

from ml314.bms.ocv import load_ocv_table
from ml314.bms.parameters import BmsParameters

# ---------------------------------------------------------------------------------------------------------------
# The cell model (the cell maker's data the BMS vendor programs) comes from [soc.cell_model] of the parameter file.
N_CELLS = 16
_GAS_CONSTANT = 8.314462618
_KELVIN = 273.15

# ---------------------------------------------------------------------------------------------------------------
# parameter array (float64), filled by compile_soc_params
P_CAPACITY_AH = 0  # design capacity: the first capacity and the SOH reference
P_COULOMBIC_EFF = 1
P_FULL_SYNC_V = 2
P_FULL_SYNC_I_A = 3
P_FULL_SYNC_HOLD_S = 4
P_EMPTY_SYNC_V = 5
P_EMPTY_SYNC_HOLD_S = 6
P_OCV_REST_I_A = 7
P_OCV_DVDT_V_PER_S = 8
P_OCV_REST_CHARGE_S = 9
P_OCV_REST_DISCHARGE_S = 10
P_PLATEAU_LOW_V = 11
P_PLATEAU_HIGH_V = 12
P_CAP_LEARN_MIN_DSOC = 13
P_CAP_LEARN_T_MIN_C = 14
P_CAP_LEARN_T_MAX_C = 15
P_CAP_LEARN_GAIN = 16  # first-order filter gain of the capacity (Qmax) update
P_OFFSET_BOUND_A = 17  # |offset| the current sensor may have before any learning
P_GAIN_ERROR = 18  # relative current gain error bound
P_DEADBAND_A = 19
P_OFFSET_TAU_S = 20  # averaging time of the offset while the path is open
P_VOLTAGE_SIGMA_V = 21  # cell voltage error (noise, resolution, gain) of one reading
P_HYST_GAMMA = 22
P_R0_OHM = 23  # cell values at the reference temperature, mid SOC
P_R1_OHM = 24
P_TAU1_S = 25
P_R2_OHM = 26
P_TAU2_S = 27
P_EA_OVER_R = 28
P_T_REF_C = 29
P_R_LEARN_MIN_STEP_A = 30
P_R_LEARN_GAIN = 31
P_N_CELLS = 32
P_EKF_MODEL_SIGMA_V = 33  # model error of the cell voltage (OCV table, temperature, ...), correlated
P_EKF_CORRELATION_S = 34  # time over which that model error is correlated
P_EKF_R_SIGMA = 35  # relative resistance uncertainty
P_OFFSET_SYNC_GAIN = 36  # gain of the offset update from the drift between two full syncs
P_OFFSET_LEARNED_BOUND_A = 37  # |offset error| bound after learning
P_SYNC_ERROR = 38  # uncertainty right after a full sync
P_EMPTY_SYNC_ERROR = 39
P_N_TABLE = 40  # points of the OCV table (uniform SOC grid 0..1)
P_OCV_TABLE_ERROR_V = 41  # how far a cell's OCV may be off the data-sheet table (batch and cell spread), 2 sigma
P_OCV_TEMPCO_ERROR_V_PER_K = 42  # the unmodelled entropic term: OCV error per kelvin away from the reference
P_OCV_ANCHOR_MAX_ERROR = 43  # a relaxed OCV point is a calibration point when its SOC bound is below this
P_OFFSET_DRIFT_A_PER_SQRT_DAY = 44  # random walk of the offset (temperature drift, self-discharge)
P_CAPACITY_DRIFT_PER_SQRT_MONTH = 45  # random walk of the capacity (ageing)
P_TABLES = 48  # OCV (n), half-gap M (n), R(SOC) factor (n)

# ---------------------------------------------------------------------------------------------------------------
# state columns, shape (n_modules, N_STATE); shared by every estimator
S_SOC = 0  # reported module SOC, 0..1 of the learned capacity
S_UNCERTAINTY = 1  # bound on |SOC error|, fraction
S_CAPACITY_AH = 2  # learned capacity
S_RESISTANCE_OHM = 3  # learned cell-string resistance (1 s step, 16 cells, at the reference temperature)
S_OFFSET_A = 4  # learned current-sensor offset (subtracted)
S_OFFSET_BOUND_A = 5
S_HYST = 6  # hysteresis state -1 (discharge branch) .. +1 (charge branch)
S_REST_S = 7  # time with |I| below the OCV rest current
S_LAST_DIR = 8  # +1 last moved by charge, -1 by discharge
S_V_EMA = 9  # filtered mean cell voltage (relaxation tracking)
S_V_REF = 10  # its value at the last checkpoint
S_DVDT = 11  # |dV/dt| over the last checkpoint interval, V/s (inf until measured)
S_CHECK_S = 12  # time since the last checkpoint
S_OCV_DONE = 13  # 1 once this rest period gave its OCV point
S_FULL_TIMER_S = 14
S_EMPTY_TIMER_S = 15
S_FULL_SYNC = 16  # 1 on the step a full sync happened, else 0
S_EMPTY_SYNC = 17
S_LAST_FULL_SYNC_S = 18  # now_s of the last full sync (-inf: none)
S_LAST_EMPTY_SYNC_S = 19
S_FULL_ARMED = 20  # re-armed once the highest cell has left the top
S_EMPTY_ARMED = 21
S_ANCHOR_SOC = 22  # capacity learning: SOC of the last qualified point (nan: none)
S_ANCHOR_AH = 23  # the counter there
S_ANCHOR_T_OK = 24  # 1 while every temperature since the anchor was in the learning window
S_COUNTER_AH = 25  # offset-corrected charge counter, unclamped
S_SYNC_SOC = 26  # SOC set at the last full sync
S_SYNC_AH = 27  # the counter there
S_PATH_OPEN_S = 28  # time the path has been open
S_PREV_I_A = 29  # previous reading (resistance learning)
S_PREV_V = 30  # previous sum of cell voltages
S_R_SAMPLES = 31
S_CAP_SAMPLES = 32
S_CAP_UNC = 33  # relative uncertainty of the capacity
S_CAP_REF_AH = 34  # capacity the SOH refers to: max(design, first learned)
S_OCV_SOC = 35  # last OCV-table SOC (diagnostic)
S_I_A = 36  # offset-corrected current of the last step
# EKF (ekf.py): RC voltages of the mean cell and the covariance of (soc, v1, v2)
S_EKF_V1 = 37
S_EKF_V2 = 38
S_P00 = 39
S_P01 = 40
S_P02 = 41
S_P11 = 42
S_P12 = 43
S_P22 = 44
S_STARTED = 45  # 1 once the estimate has a start: a stored state, an estimate given, or the first OCV reading
# adaptive.py: the SOC (unclamped) and the covariance of (soc, current offset, capacity); offset and capacity
# themselves are S_OFFSET_A and S_CAPACITY_AH
S_A_SOC = 46
S_A_P00 = 47
S_A_P01 = 48
S_A_P02 = 49
S_A_P11 = 50
S_A_P12 = 51
S_A_P22 = 52
S_A_ANCHORS = 53  # calibration points taken (full and empty syncs, relaxed OCV points)
S_A_LAST_ANCHOR_S = 54  # now_s of the last one (-inf: none)
S_A_LAST_SOC_ERR = 55  # innovation of the last calibration point (diagnostic), fraction
S_A_OPEN_SUM_A = 56  # readings summed over the present open-path period (an offset measurement)
S_A_OPEN_N = 57
# what the limits' full-charge request reads, fraction: the SOC bound (coulomb, ekf) or the part of it a full charge
# removes, looked at ahead (adaptive: ``request_bound``)
S_REQUEST_BOUND = 58
N_STATE = 59


# what the data sheet's capacity may be off the string's usable capacity times the sensor gain, 2 sigma
CAPACITY_PRIOR_ERROR = 0.05


def ocv_on_grid(hysteresis_scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The BMS's OCV table on a uniform SOC grid: SOC, mean OCV (V) and the scaled hysteresis half-gap M (V)."""
    table = load_ocv_table()
    soc = np.asarray(table.soc)
    grid = np.linspace(0.0, 1.0, soc.size)
    ocv = np.interp(grid, soc, table.ocv_v)
    hys = np.interp(grid, soc, table.hyst_v) * hysteresis_scale
    return grid, ocv, hys


def compile_soc_params(
    params: BmsParameters,
    *,
    offset_bound_a: float = 0.2,
    gain_error: float = 0.005,
    deadband_a: float = 0.05,
    voltage_sigma_v: float = 0.002,
) -> np.ndarray:
    """The ``[soc]`` and ``[soh]`` settings, the cell maker's model and the OCV table as one float64 array.

    ``offset_bound_a`` and ``gain_error`` are the current sensor's data-sheet error bounds, ``voltage_sigma_v``
    the cell voltage reading's error.
    """
    s = params.soc
    h = params.soh
    cm = params.soc.cell_model
    grid, ocv, hys = ocv_on_grid(cm.hysteresis_scale)
    n = grid.size
    p = np.zeros(P_TABLES + 3 * n)
    p[P_CAPACITY_AH] = s.capacity_ah
    p[P_COULOMBIC_EFF] = s.coulombic_efficiency
    p[P_FULL_SYNC_V] = s.full_sync_cell_voltage_v
    p[P_FULL_SYNC_I_A] = s.full_sync_current_a
    p[P_FULL_SYNC_HOLD_S] = s.full_sync_hold_s
    p[P_EMPTY_SYNC_V] = s.empty_sync_cell_voltage_v
    p[P_EMPTY_SYNC_HOLD_S] = s.empty_sync_hold_s
    p[P_OCV_REST_I_A] = s.ocv_rest_current_a
    p[P_OCV_DVDT_V_PER_S] = s.ocv_dvdt_v_per_s
    p[P_OCV_REST_CHARGE_S] = s.ocv_rest_after_charge_s
    p[P_OCV_REST_DISCHARGE_S] = s.ocv_rest_after_discharge_s
    p[P_PLATEAU_LOW_V] = s.ocv_plateau_low_v
    p[P_PLATEAU_HIGH_V] = s.ocv_plateau_high_v
    p[P_CAP_LEARN_MIN_DSOC] = h.capacity_learn_min_delta_soc
    p[P_CAP_LEARN_T_MIN_C] = h.capacity_learn_temperature_c[0]
    p[P_CAP_LEARN_T_MAX_C] = h.capacity_learn_temperature_c[1]
    p[P_CAP_LEARN_GAIN] = 0.5
    p[P_OFFSET_BOUND_A] = offset_bound_a
    p[P_GAIN_ERROR] = gain_error
    p[P_DEADBAND_A] = deadband_a
    p[P_OFFSET_TAU_S] = 60.0
    p[P_VOLTAGE_SIGMA_V] = voltage_sigma_v
    p[P_HYST_GAMMA] = cm.hysteresis_gamma
    p[P_R0_OHM] = cm.r0_ohm
    p[P_R1_OHM] = cm.r1_ohm
    p[P_TAU1_S] = cm.tau1_s
    p[P_R2_OHM] = cm.r2_ohm
    p[P_TAU2_S] = cm.tau2_s
    p[P_EA_OVER_R] = cm.activation_energy_j_per_mol / _GAS_CONSTANT
    p[P_T_REF_C] = cm.reference_temperature_c
    p[P_R_LEARN_MIN_STEP_A] = 10.0
    p[P_R_LEARN_GAIN] = 0.01
    p[P_N_CELLS] = N_CELLS
    p[P_EKF_MODEL_SIGMA_V] = 0.004
    p[P_EKF_CORRELATION_S] = 600.0
    p[P_EKF_R_SIGMA] = 0.25
    p[P_OFFSET_SYNC_GAIN] = 0.5
    p[P_OFFSET_LEARNED_BOUND_A] = 0.03
    p[P_SYNC_ERROR] = 0.005
    p[P_EMPTY_SYNC_ERROR] = 0.01
    p[P_N_TABLE] = n
    p[P_OCV_TABLE_ERROR_V] = s.ocv_table_error_v
    p[P_OCV_TEMPCO_ERROR_V_PER_K] = 0.15e-3
    p[P_OCV_ANCHOR_MAX_ERROR] = s.ocv_anchor_max_error
    p[P_OFFSET_DRIFT_A_PER_SQRT_DAY] = 0.01
    p[P_CAPACITY_DRIFT_PER_SQRT_MONTH] = 0.003
    p[P_TABLES : P_TABLES + n] = ocv
    p[P_TABLES + n : P_TABLES + 2 * n] = hys
    p[P_TABLES + 2 * n : P_TABLES + 3 * n] = np.interp(grid, cm.r_soc[0], cm.r_soc[1])
    return p


def fresh_resistance_ohm(p: np.ndarray, dt_s: float = 1.0) -> float:
    """Cell-string resistance a 1 s current step sees on fresh cells at the reference temperature."""
    r = p[P_R0_OHM] + p[P_R1_OHM] * -math.expm1(-dt_s / p[P_TAU1_S]) + p[P_R2_OHM] * -math.expm1(-dt_s / p[P_TAU2_S])
    return float(p[P_N_CELLS] * r)


def new_state(
    p: np.ndarray, n_modules: int, soc: float | np.ndarray | None = 0.5, uncertainty: float = 1.0
) -> np.ndarray:
    """A fresh state for ``n_modules``: ``soc`` as the start (a stored estimate) with ``uncertainty``; ``None``:
    no start, the estimator takes the OCV of its first reading (``start_from_ocv``)."""
    started = soc is not None
    soc = 0.5 if soc is None else soc
    st = np.zeros((n_modules, N_STATE))
    st[:, S_SOC] = soc
    st[:, S_UNCERTAINTY] = uncertainty
    st[:, S_REQUEST_BOUND] = uncertainty
    st[:, S_CAPACITY_AH] = p[P_CAPACITY_AH]
    st[:, S_CAP_REF_AH] = p[P_CAPACITY_AH]
    st[:, S_CAP_UNC] = 0.03
    st[:, S_RESISTANCE_OHM] = fresh_resistance_ohm(p)
    st[:, S_OFFSET_BOUND_A] = p[P_OFFSET_BOUND_A]
    st[:, S_V_EMA] = np.nan
    st[:, S_DVDT] = np.inf
    st[:, S_LAST_FULL_SYNC_S] = -np.inf
    st[:, S_LAST_EMPTY_SYNC_S] = -np.inf
    st[:, S_FULL_ARMED] = 1.0
    st[:, S_EMPTY_ARMED] = 1.0
    st[:, S_ANCHOR_SOC] = np.nan
    st[:, S_SYNC_SOC] = np.nan
    st[:, S_OCV_SOC] = np.nan
    st[:, S_PREV_V] = np.nan
    sigma = 0.5 * uncertainty
    st[:, S_P00] = sigma * sigma
    st[:, S_P11] = 1.0e-6
    st[:, S_P22] = 1.0e-6
    st[:, S_STARTED] = 1.0 if started else 0.0
    st[:, S_A_SOC] = soc
    st[:, S_A_P00] = sigma * sigma
    st[:, S_A_P11] = (0.5 * p[P_OFFSET_BOUND_A]) ** 2
    st[:, S_A_P22] = (0.5 * CAPACITY_PRIOR_ERROR * p[P_CAPACITY_AH]) ** 2
    st[:, S_A_LAST_ANCHOR_S] = -np.inf
    return st


# ---------------------------------------------------------------------------------------------------------------
# table lookups


@njit(cache=True, inline="always")
def _segment(p: np.ndarray, soc: float) -> tuple[int, float]:
    n = int(p[P_N_TABLE])
    x = min(max(soc, 0.0), 1.0) * (n - 1)
    i = min(int(x), n - 2)
    return i, x - i


@njit(cache=True, error_model="numpy")
def ocv_v(p: np.ndarray, soc: float, hyst: float) -> float:
    """Cell OCV at ``soc`` on the hysteresis state ``hyst`` (+1 charge branch, -1 discharge branch)."""
    n = int(p[P_N_TABLE])
    i, f = _segment(p, soc)
    o = p[P_TABLES + i] + (p[P_TABLES + i + 1] - p[P_TABLES + i]) * f
    m = p[P_TABLES + n + i] + (p[P_TABLES + n + i + 1] - p[P_TABLES + n + i]) * f
    return float(o + hyst * m)


@njit(cache=True, error_model="numpy")
def ocv_slope_v(p: np.ndarray, soc: float, hyst: float) -> float:
    """dOCV/dSOC (V per unit SOC) of the table segment holding ``soc`` on branch ``hyst``."""
    n = int(p[P_N_TABLE])
    i, _ = _segment(p, soc)
    d_o = p[P_TABLES + i + 1] - p[P_TABLES + i]
    d_m = p[P_TABLES + n + i + 1] - p[P_TABLES + n + i]
    return float((d_o + hyst * d_m) * (n - 1))


@njit(cache=True, error_model="numpy")
def hysteresis_v(p: np.ndarray, soc: float) -> float:
    """Half-gap M between the branches at ``soc``."""
    n = int(p[P_N_TABLE])
    i, f = _segment(p, soc)
    return float(p[P_TABLES + n + i] + (p[P_TABLES + n + i + 1] - p[P_TABLES + n + i]) * f)


@njit(cache=True, error_model="numpy")
def r_soc_factor(p: np.ndarray, soc: float) -> float:
    """Resistance factor at ``soc`` relative to mid SOC (the cell maker's R(SOC) shape)."""
    n = int(p[P_N_TABLE])
    i, f = _segment(p, soc)
    b = P_TABLES + 2 * n
    return float(p[b + i] + (p[b + i + 1] - p[b + i]) * f)


@njit(cache=True, error_model="numpy")
def soc_from_ocv(p: np.ndarray, v: float, hyst: float) -> float:
    """Inverse of :func:`ocv_v`: the SOC whose OCV on branch ``hyst`` is ``v`` (clamped to 0..1)."""
    n = int(p[P_N_TABLE])
    prev = ocv_v(p, 0.0, hyst)
    if v <= prev:
        return 0.0
    for i in range(1, n):
        soc = i / (n - 1.0)
        cur = ocv_v(p, soc, hyst)
        if v <= cur:
            if cur <= prev:
                return soc
            return (i - 1 + (v - prev) / (cur - prev)) / (n - 1.0)
        prev = max(prev, cur)
    return 1.0


@njit(cache=True, error_model="numpy")
def arrhenius(p: np.ndarray, temperature_c: float) -> float:
    """Resistance factor at ``temperature_c`` relative to the reference temperature."""
    t = min(max(temperature_c, -30.0), 70.0)
    return math.exp(p[P_EA_OVER_R] * (1.0 / (t + _KELVIN) - 1.0 / (p[P_T_REF_C] + _KELVIN)))


@njit(cache=True, error_model="numpy")
def fresh_resistance_kernel(p: np.ndarray) -> float:
    """:func:`fresh_resistance_ohm` for a 1 s step, inside numba."""
    r1 = p[P_R1_OHM] * (1.0 - math.exp(-1.0 / p[P_TAU1_S]))
    r2 = p[P_R2_OHM] * (1.0 - math.exp(-1.0 / p[P_TAU2_S]))
    return float(p[P_N_CELLS] * (p[P_R0_OHM] + r1 + r2))


@njit(cache=True, error_model="numpy")
def cell_resistance_total_ohm(p: np.ndarray, st: np.ndarray, soc: float, temperature_c: float) -> float:
    """DC resistance of one cell under a long constant current (R0 + R1 + R2), scaled by the learned string
    resistance (ageing), the temperature and the SOC."""
    scale = st[S_RESISTANCE_OHM] / fresh_resistance_kernel(p)
    r = p[P_R0_OHM] + p[P_R1_OHM] + p[P_R2_OHM]
    return float(r * scale * arrhenius(p, temperature_c) * r_soc_factor(p, soc))


# ---------------------------------------------------------------------------------------------------------------
# per-module kernels (st is one row of the state array)


@njit(cache=True, error_model="numpy")
def measure(
    st: np.ndarray, p: np.ndarray, current_a: float, vsum: float, t_mean_c: float, path_open: float, dt_s: float
) -> float:
    """Offset learning, dead-band, hysteresis and resistance tracking; return the corrected current, A.

    ``vsum`` is the sum of the cell voltages, ``t_mean_c`` the mean cell NTC temperature.
    """
    st[S_FULL_SYNC] = 0.0
    st[S_EMPTY_SYNC] = 0.0
    if path_open > 0.5 and abs(current_a) < 5.0 * p[P_OFFSET_BOUND_A] + 1.0:
        # both MOSFETs open: the true current is zero, what the shunt reads is its offset
        st[S_PATH_OPEN_S] += dt_s
        a = min(dt_s / p[P_OFFSET_TAU_S], 1.0)
        if st[S_PATH_OPEN_S] <= dt_s:
            a = 1.0 if st[S_OFFSET_BOUND_A] >= p[P_OFFSET_BOUND_A] else a
        st[S_OFFSET_A] += (current_a - st[S_OFFSET_A]) * a
        if st[S_PATH_OPEN_S] >= p[P_OFFSET_TAU_S]:
            st[S_OFFSET_BOUND_A] = min(st[S_OFFSET_BOUND_A], p[P_OFFSET_LEARNED_BOUND_A])
        i = 0.0
    else:
        st[S_PATH_OPEN_S] = 0.0
        i = current_a - st[S_OFFSET_A]
        if abs(i) < p[P_DEADBAND_A]:
            i = 0.0
    st[S_I_A] = i
    # hysteresis (one-state model on the measured current)
    cap_as = st[S_CAPACITY_AH] * 3600.0
    e = 1.0 if i == 0.0 else math.exp(-abs(i) * p[P_HYST_GAMMA] * dt_s / cap_as)  # exp(-0) is exactly 1
    sgn = 1.0 if i > 0.0 else (-1.0 if i < 0.0 else 0.0)
    st[S_HYST] = e * st[S_HYST] + (1.0 - e) * sgn
    # resistance from current steps (dV/dI of the cell string between two readings, normalised to T_ref)
    prev_v = st[S_PREV_V]
    di = current_a - st[S_PREV_I_A]
    soc = st[S_SOC]
    if (
        path_open < 0.5
        and not math.isnan(prev_v)
        and abs(di) >= p[P_R_LEARN_MIN_STEP_A]
        and 0.25 <= soc <= 0.95
        and dt_s <= 2.0
    ):
        r = (vsum - prev_v) / di / arrhenius(p, t_mean_c)
        fresh = st[S_RESISTANCE_OHM]
        if 0.2 * fresh < r < 5.0 * fresh:
            # faster at first (the design value may be far off), then the slow filter
            g = 0.05 if st[S_R_SAMPLES] < 100.0 else p[P_R_LEARN_GAIN]
            st[S_RESISTANCE_OHM] += g * (r - st[S_RESISTANCE_OHM])
            st[S_R_SAMPLES] += 1.0
    st[S_PREV_I_A] = current_a if path_open < 0.5 else 0.0
    st[S_PREV_V] = vsum
    return i


@njit(cache=True, error_model="numpy")
def count(st: np.ndarray, p: np.ndarray, i: float, dt_s: float) -> float:
    """Coulomb counting into S_SOC and the raw counter; grow the uncertainty; return the SOC step."""
    eta = p[P_COULOMBIC_EFF] if i > 0.0 else 1.0
    dq_ah = eta * i * dt_s / 3600.0
    st[S_COUNTER_AH] += dq_ah
    cap = st[S_CAPACITY_AH]
    dsoc = dq_ah / cap
    st[S_SOC] = min(max(st[S_SOC] + dsoc, 0.0), 1.0)
    grow = (st[S_OFFSET_BOUND_A] * dt_s + p[P_GAIN_ERROR] * abs(i) * dt_s) / 3600.0 / cap
    st[S_UNCERTAINTY] = min(st[S_UNCERTAINTY] + grow + st[S_CAP_UNC] * abs(dsoc), 1.0)
    return float(dsoc)


@njit(cache=True, error_model="numpy")
def track_rest(st: np.ndarray, p: np.ndarray, i: float, vmean: float, dt_s: float) -> None:
    """Rest time, last direction and the relaxation rate |dV/dt| of the mean cell voltage."""
    if abs(i) >= p[P_OCV_REST_I_A]:
        st[S_REST_S] = 0.0
        st[S_OCV_DONE] = 0.0
        st[S_LAST_DIR] = 1.0 if i > 0.0 else -1.0
        st[S_V_EMA] = vmean
        st[S_V_REF] = vmean
        st[S_CHECK_S] = 0.0
        st[S_DVDT] = np.inf
        return
    st[S_REST_S] += dt_s
    if math.isnan(st[S_V_EMA]):
        st[S_V_EMA] = vmean
        st[S_V_REF] = vmean
    st[S_V_EMA] += (vmean - st[S_V_EMA]) * min(dt_s / 120.0, 1.0)
    st[S_CHECK_S] += dt_s
    if st[S_CHECK_S] >= 600.0:
        st[S_DVDT] = abs(st[S_V_EMA] - st[S_V_REF]) / st[S_CHECK_S]
        st[S_V_REF] = st[S_V_EMA]
        st[S_CHECK_S] = 0.0


@njit(cache=True, error_model="numpy")
def relaxed(st: np.ndarray, p: np.ndarray) -> bool:
    """At rest long enough for an OCV reading: |dV/dt| below the limit (after at least 20 min), or the maximum
    wait after a charge or a discharge has passed."""
    rest = st[S_REST_S]
    if rest >= 1200.0 and st[S_DVDT] < p[P_OCV_DVDT_V_PER_S]:
        return True
    wait = p[P_OCV_REST_CHARGE_S] if st[S_LAST_DIR] > 0.0 else p[P_OCV_REST_DISCHARGE_S]
    return bool(rest >= wait)


@njit(cache=True, error_model="numpy")
def ocv_point(st: np.ndarray, p: np.ndarray, vmin: float, vmax: float) -> tuple[float, float]:
    """SOC from a relaxed OCV and its error bound, or (nan, nan) on the plateau.

    Below the plateau the lowest cell bounds the string (it empties first), above it the highest cell. The
    hysteresis branch is the tracked state; its uncertainty (a partly known branch) and the reading's error,
    divided by the table slope, give the bound.
    """
    h = st[S_HYST]
    if vmin < p[P_PLATEAU_LOW_V]:
        v = vmin
    elif vmax > p[P_PLATEAU_HIGH_V]:
        v = vmax
    else:
        return np.nan, np.nan
    soc = soc_from_ocv(p, v, h)
    slope = max(ocv_slope_v(p, soc, h), 1.0e-3)
    hyst_err = (1.0 - abs(h)) * hysteresis_v(p, soc) + 0.2 * hysteresis_v(p, soc)
    err_v = 2.0 * p[P_VOLTAGE_SIGMA_V] + hyst_err + p[P_OCV_DVDT_V_PER_S] * p[P_TAU2_S]
    return soc, min(err_v / slope + 0.005, 1.0)


@njit(cache=True, error_model="numpy")
def ocv_error_v(p: np.ndarray, st: np.ndarray, soc: float, t_mean_c: float) -> float:
    """What a relaxed cell voltage read against the table may be off its OCV (2 sigma): the table against this
    cell (batch and cell spread), the entropic term the table lacks, the reading, the relaxation left, and the
    hysteresis branch (partly known, and its model)."""
    h = st[S_HYST]
    m = hysteresis_v(p, soc)
    independent = math.sqrt(
        p[P_OCV_TABLE_ERROR_V] ** 2
        + (p[P_OCV_TEMPCO_ERROR_V_PER_K] * (t_mean_c - p[P_T_REF_C])) ** 2
        + (2.0 * p[P_VOLTAGE_SIGMA_V]) ** 2
        + (p[P_OCV_DVDT_V_PER_S] * p[P_TAU2_S]) ** 2
    )
    return float(independent + (1.0 - abs(h)) * m + 0.2 * m)


@njit(cache=True, error_model="numpy")
def ocv_anchor(st: np.ndarray, p: np.ndarray, vmin: float, vmax: float, t_mean_c: float) -> tuple[float, float]:
    """The module SOC a relaxed reading gives and its bound (the half-width of the SOC range the voltage error
    spans on the table, so the flat plateau gives a wide bound by itself): in the lower half the emptiest cell
    (lowest voltage) bounds the string, in the upper half the fullest."""
    h = st[S_HYST]
    v = vmin
    soc = soc_from_ocv(p, vmin, h)
    if soc >= 0.5:
        v = vmax
        soc = soc_from_ocv(p, vmax, h)
    e = ocv_error_v(p, st, soc, t_mean_c)
    lo = soc_from_ocv(p, v - e, h)
    hi = soc_from_ocv(p, v + e, h)
    return soc, max(soc - lo, hi - soc)


@njit(cache=True, error_model="numpy")
def start_from_ocv(st: np.ndarray, p: np.ndarray, vmin: float, vmax: float, t_mean_c: float) -> None:
    """The first estimate when nothing was stored: the SOC range the cells' voltages allow on either hysteresis
    branch (the BMS does not know which), with the table's error; its middle, and half its width as the bound."""
    e = math.sqrt(
        p[P_OCV_TABLE_ERROR_V] ** 2
        + (p[P_OCV_TEMPCO_ERROR_V_PER_K] * (t_mean_c - p[P_T_REF_C])) ** 2
        + (2.0 * p[P_VOLTAGE_SIGMA_V]) ** 2
    )
    lo = soc_from_ocv(p, vmin - e, 1.0)
    hi = soc_from_ocv(p, vmax + e, -1.0)
    soc = 0.5 * (lo + hi)
    u = min(max(0.5 * (hi - lo) + 0.01, 0.02), 1.0)
    sigma = 0.5 * u
    st[S_SOC] = soc
    st[S_A_SOC] = soc
    st[S_UNCERTAINTY] = u
    st[S_P00] = sigma * sigma
    st[S_A_P00] = sigma * sigma
    st[S_HYST] = 0.0
    st[S_OCV_SOC] = soc
    st[S_STARTED] = 1.0


@njit(cache=True, error_model="numpy")
def learn_capacity(st: np.ndarray, p: np.ndarray, soc_point: float, now_s: float) -> None:
    """A qualified point (full or empty sync, relaxed OCV off the plateau) with a counter-independent SOC: learn
    Qmax = charge passed / SOC moved when the two last points are at least the minimum SOC apart and every
    temperature stayed in the window; then make this the new anchor."""
    anchor = st[S_ANCHOR_SOC]
    if not math.isnan(anchor) and st[S_ANCHOR_T_OK] > 0.5:
        dsoc = soc_point - anchor
        if abs(dsoc) >= p[P_CAP_LEARN_MIN_DSOC]:
            q = (st[S_COUNTER_AH] - st[S_ANCHOR_AH]) / dsoc
            design = p[P_CAPACITY_AH]
            if 0.5 * design < q < 1.3 * design:
                g = p[P_CAP_LEARN_GAIN] if st[S_CAP_SAMPLES] > 0.0 else 1.0
                st[S_CAPACITY_AH] += g * (q - st[S_CAPACITY_AH])
                if st[S_CAP_SAMPLES] == 0.0:
                    st[S_CAP_REF_AH] = max(design, q)
                st[S_CAP_SAMPLES] += 1.0
                st[S_CAP_UNC] = max(0.01, 0.5 * st[S_CAP_UNC])
    st[S_ANCHOR_SOC] = soc_point
    st[S_ANCHOR_AH] = st[S_COUNTER_AH]
    st[S_ANCHOR_T_OK] = 1.0


@njit(cache=True, error_model="numpy")
def watch_temperature(st: np.ndarray, p: np.ndarray, t_min_c: float, t_max_c: float) -> None:
    """Capacity learning needs every temperature in the window since the anchor."""
    if t_min_c < p[P_CAP_LEARN_T_MIN_C] or t_max_c > p[P_CAP_LEARN_T_MAX_C]:
        st[S_ANCHOR_T_OK] = 0.0


@njit(cache=True, error_model="numpy")
def full_sync_point(st: np.ndarray, p: np.ndarray, i: float, vmax: float, t_mean_c: float, dt_s: float) -> float:
    """Full sync detection: the highest cell's OCV (the reading less its IR drop) at or above the sync voltage with
    a charge current below the sync current for the hold time. Return the fullest cell's SOC, or nan. Re-armed once
    the highest cell has dropped off the top."""
    if vmax < p[P_PLATEAU_HIGH_V]:
        st[S_FULL_ARMED] = 1.0
    if vmax < p[P_FULL_SYNC_V] and p[P_FULL_SYNC_HOLD_S] > 0.0:
        # the reading is below the sync voltage, so is the OCV under it (the drop below is never negative): the
        # timer restarts and no sync is due, as the rule below finds without the resistance (three exp per call)
        st[S_FULL_TIMER_S] = 0.0
        return np.nan
    # the fullest cell's OCV: the reading less the drop over its resistance (cold cells drop more)
    r = cell_resistance_total_ohm(p, st, 0.99, t_mean_c)
    v_ocv = vmax - max(i, 0.0) * r
    if v_ocv >= p[P_FULL_SYNC_V] and -p[P_OCV_REST_I_A] < i < p[P_FULL_SYNC_I_A]:
        st[S_FULL_TIMER_S] += dt_s
    else:
        st[S_FULL_TIMER_S] = 0.0
    if st[S_FULL_TIMER_S] < p[P_FULL_SYNC_HOLD_S] or st[S_FULL_ARMED] < 0.5:
        return np.nan
    st[S_FULL_ARMED] = 0.0
    # its SOC on the charge branch
    soc = soc_from_ocv(p, v_ocv, max(st[S_HYST], 0.0))
    return min(max(soc, 0.97), 1.0)


@njit(cache=True, error_model="numpy")
def full_sync(
    st: np.ndarray, p: np.ndarray, i: float, vmax: float, t_mean_c: float, now_s: float, dt_s: float
) -> float:
    """Full sync (:func:`full_sync_point`) with the offset learned from the counter's drift between two of them.
    Return the SOC to sync to, or nan."""
    soc = full_sync_point(st, p, i, vmax, t_mean_c, dt_s)
    if math.isnan(soc):
        return np.nan
    # offset from the counter's drift between two full syncs (net charge zero: no gain or capacity error)
    elapsed = now_s - st[S_LAST_FULL_SYNC_S]
    if 6.0 * 3600.0 <= elapsed <= 10.0 * 86400.0 and not math.isnan(st[S_SYNC_SOC]):
        counted = st[S_COUNTER_AH] - st[S_SYNC_AH]
        expected = (soc - st[S_SYNC_SOC]) * st[S_CAPACITY_AH]
        bias_a = (counted - expected) * 3600.0 / elapsed
        if abs(bias_a) < 2.0 * p[P_OFFSET_BOUND_A] + 0.1:
            st[S_OFFSET_A] += p[P_OFFSET_SYNC_GAIN] * bias_a
            # what is left of the offset is about the part of the bias not yet applied
            left = abs((1.0 - p[P_OFFSET_SYNC_GAIN]) * bias_a) + 0.5 * p[P_OFFSET_LEARNED_BOUND_A]
            st[S_OFFSET_BOUND_A] = max(p[P_OFFSET_LEARNED_BOUND_A], min(st[S_OFFSET_BOUND_A], left))
    st[S_SYNC_SOC] = soc
    st[S_SYNC_AH] = st[S_COUNTER_AH]
    st[S_LAST_FULL_SYNC_S] = now_s
    st[S_FULL_SYNC] = 1.0
    return soc


@njit(cache=True, error_model="numpy")
def empty_sync(
    st: np.ndarray, p: np.ndarray, i: float, vmin: float, t_mean_c: float, now_s: float, dt_s: float
) -> float:
    """Empty sync: the lowest cell at or below the sync voltage while discharging for the hold time; the timer
    restarts whenever the voltage recovers (or the discharge stops), so a sag under a load step cannot add up
    over separate dips. Return the SOC to sync to, or nan."""
    if vmin > p[P_PLATEAU_LOW_V]:
        st[S_EMPTY_ARMED] = 1.0
    if vmin <= p[P_EMPTY_SYNC_V] and i <= -p[P_OCV_REST_I_A]:
        st[S_EMPTY_TIMER_S] += dt_s
    else:
        st[S_EMPTY_TIMER_S] = 0.0
    if st[S_EMPTY_TIMER_S] < p[P_EMPTY_SYNC_HOLD_S] or st[S_EMPTY_ARMED] < 0.5:
        return np.nan
    st[S_EMPTY_ARMED] = 0.0
    soc = 0.02
    for _ in range(2):
        r = cell_resistance_total_ohm(p, st, soc, t_mean_c)
        soc = soc_from_ocv(p, vmin - min(i, 0.0) * r, min(st[S_HYST], 0.0))
    soc = min(max(soc, 0.0), 0.05)
    st[S_LAST_EMPTY_SYNC_S] = now_s
    st[S_EMPTY_SYNC] = 1.0
    return soc


@njit(cache=True, error_model="numpy")
def cell_stats(
    cell_voltage_v: np.ndarray, temperature_c: np.ndarray
) -> tuple[float, float, float, float, float, float]:
    """Sum, min, max of one module's cell voltages and mean, min, max of its NTCs."""
    vsum = 0.0
    vmin = np.inf
    vmax = -np.inf
    for v in cell_voltage_v:
        vsum += v
        vmin = min(vmin, v)
        vmax = max(vmax, v)
    tsum = 0.0
    tmin = np.inf
    tmax = -np.inf
    for t in temperature_c:
        tsum += t
        tmin = min(tmin, t)
        tmax = max(tmax, t)
    return vsum, vmin, vmax, tsum / temperature_c.size, tmin, tmax


class EstimatorBase:
    """State arrays and outputs of an estimator over ``n_modules``; a subclass names its numba step ``kernel``."""

    #: the variant's compiled step: (state, params, current_a, cell_voltage_v, temperature_c, path_open, now_s, dt_s)
    kernel: ClassVar[Callable[..., None]]

    def __init__(
        self,
        params: BmsParameters,
        n_modules: int,
        *,
        initial_soc: float | np.ndarray | None = None,
        initial_uncertainty: float = 1.0,
        compiled: np.ndarray | None = None,
    ) -> None:
        """``initial_soc`` (with ``initial_uncertainty``) is a stored estimate; None starts from the first OCV."""
        self.params = compile_soc_params(params) if compiled is None else compiled
        self.state = new_state(self.params, n_modules, initial_soc, initial_uncertainty)

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
        type(self).kernel(
            self.state,
            self.params,
            np.ascontiguousarray(current_a, dtype=np.float64),
            np.ascontiguousarray(cell_voltage_v, dtype=np.float64),
            np.ascontiguousarray(temperature_c, dtype=np.float64),
            np.ascontiguousarray(path_open, dtype=np.float64),
            float(now_s),
            float(dt_s),
        )

    @property
    def soc(self) -> np.ndarray:
        """Module SOC, 0..1 of the learned capacity (the series string's usable state)."""
        return np.asarray(self.state[:, S_SOC].copy())

    @property
    def uncertainty(self) -> np.ndarray:
        """Bound on |SOC error|, fraction (1.0 = unknown)."""
        return np.asarray(self.state[:, S_UNCERTAINTY].copy())

    @property
    def request_bound(self) -> np.ndarray:
        """The part of the bound a full charge removes, which the full-charge request reads (fraction)."""
        return np.asarray(self.state[:, S_REQUEST_BOUND].copy())

    @property
    def capacity_ah(self) -> np.ndarray:
        """Learned capacity, Ah."""
        return np.asarray(self.state[:, S_CAPACITY_AH].copy())

    @property
    def resistance_ohm(self) -> np.ndarray:
        """Learned cell-string resistance at the reference temperature, Ohm."""
        return np.asarray(self.state[:, S_RESISTANCE_OHM].copy())

    @property
    def full_sync(self) -> np.ndarray:
        """True for modules whose full sync happened on the last step."""
        return np.asarray(self.state[:, S_FULL_SYNC] > 0.5)

    @property
    def empty_sync(self) -> np.ndarray:
        """True for modules whose empty sync happened on the last step."""
        return np.asarray(self.state[:, S_EMPTY_SYNC] > 0.5)

    @property
    def last_full_sync_s(self) -> np.ndarray:
        """``now_s`` of each module's last full sync (-inf: none yet)."""
        return np.asarray(self.state[:, S_LAST_FULL_SYNC_S].copy())

    @property
    def offset_a(self) -> np.ndarray:
        """Learned current-sensor offset, A."""
        return np.asarray(self.state[:, S_OFFSET_A].copy())
