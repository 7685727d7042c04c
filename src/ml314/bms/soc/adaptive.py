"""A self-calibrating estimator: a Kalman filter on (SOC, current-sensor offset, capacity), corrected only at
calibration points.

State and model, per module and second (``x = [soc, b, Q]``; ``b`` is ``S_OFFSET_A``, ``Q`` ``S_CAPACITY_AH``)::

    soc <- soc + eta (i_meas - b) dt / 3600 / Q        (no dead-band: the offset is subtracted, not hidden)
    b   <- b + w_b                                     (random walk: temperature drift, self-discharge)
    Q   <- Q + w_Q                                     (random walk: ageing)

The covariance ``P`` (3 x 3) is propagated with the Jacobian ``F = [[1, -eta dt/3600/Q, -dq/Q^2], [0, 1, 0],
[0, 0, 1]]``, so the SOC variance grows with time (through the offset's variance) and with the charge moved
(through the capacity's). A current-sensor gain error cannot be told from a capacity error by counting (both scale
the counted charge), so ``Q`` is the capacity *in the sensor's units*: gain and capacity are learned as one, which
is all the SOC needs.

Measurements (scalar Kalman updates, each with its own honest variance):

* **full sync** (``full_sync_point``: the highest cell at the sync voltage with a tapering current for 5 min):
  ``soc = z`` with bound ``P_SYNC_ERROR``;
* **empty sync** (``empty_sync``): ``soc = z`` with bound ``P_EMPTY_SYNC_ERROR``;
* **relaxed OCV point** (after the rest rule of ``relaxed``, once per rest): the emptiest cell's OCV in the lower
  half, the fullest cell's in the upper half, on the tracked hysteresis branch; its bound is the half-width of the
  SOC range that the voltage error (table against this cell, entropic term, reading, relaxation left, hysteresis
  branch) spans on the table (``ocv_anchor``). Only points whose bound is below ``P_OCV_ANCHOR_MAX_ERROR`` are
  used: that keeps the knee and the bottom, and drops the plateaus by their own numbers, not by a voltage window;
* **path open** (both MOSFETs open, so the true current is zero): ``b = i_meas`` with the reading's noise.

Because the SOC error at a calibration point is correlated (through ``P``) with the offset and the capacity, each
point corrects all three: two full syncs a week apart measure the offset (no net charge: neither gain nor
capacity enters), a full sync and a rest at the bottom measure the capacity, two rests at the bottom the offset
again. The reported bound is ``2 sqrt(P_soc)``: it grows while no calibration point comes. The full-charge request
of the limits (``[soc] full_charge_request_bound``) reads ``request_bound``, the part of it a full sync removes (the
offset's, not the capacity's), predicted to the end of the charge, and asks the inverter for that full sync.

The whole state (SOC, offset, capacity and their covariance) is a row of the shared state array, so
``Bms.export_state`` carries it across restarts; a start without a stored state takes the first reading's OCV
(``start_from_ocv``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ml314.bms.parameters import BmsParameters
from ml314.bms.soc.common import (
    P_CAPACITY_AH,
    P_CAPACITY_DRIFT_PER_SQRT_MONTH,
    P_COULOMBIC_EFF,
    P_EMPTY_SYNC_ERROR,
    P_N_CELLS,
    P_OCV_ANCHOR_MAX_ERROR,
    P_OFFSET_BOUND_A,
    P_OFFSET_DRIFT_A_PER_SQRT_DAY,
    P_SYNC_ERROR,
    S_A_ANCHORS,
    S_A_LAST_ANCHOR_S,
    S_A_LAST_SOC_ERR,
    S_A_OPEN_N,
    S_A_OPEN_SUM_A,
    S_A_P00,
    S_A_P01,
    S_A_P02,
    S_A_P11,
    S_A_P12,
    S_A_P22,
    S_A_SOC,
    S_CAP_REF_AH,
    S_CAPACITY_AH,
    S_COUNTER_AH,
    S_FULL_SYNC,
    S_LAST_FULL_SYNC_S,
    S_OCV_DONE,
    S_OCV_SOC,
    S_OFFSET_A,
    S_OFFSET_BOUND_A,
    S_PATH_OPEN_S,
    S_REQUEST_BOUND,
    S_SOC,
    S_STARTED,
    S_UNCERTAINTY,
    EstimatorBase,
    cell_stats,
    empty_sync,
    full_sync_point,
    measure,
    ocv_anchor,
    relaxed,
    start_from_ocv,
    track_rest,
)

# white noise of one current reading the offset is measured with while the path is open, A (1 sigma)
PATH_OPEN_READING_SIGMA_A = 0.15
# what the cells give that the shunt does not see, so the count's offset includes it: the BMS's own supply (25 mA
# in standby, 60 mA active) and the cells' self-discharge (1-3 %/month, about 10 mA): mean and 1 sigma, A
UNSEEN_DRAW_A = 0.05
UNSEEN_DRAW_SIGMA_A = 0.025
# the sensor's data-sheet offset bound as this many sigma of the prior (the 95 % bound must hold for a sensor at
# its data-sheet limit, so the limit sits inside 2 sigma)
OFFSET_PRIOR_SIGMAS = 1.5
# an open-path period longer than this many readings is taken as several offset measurements
OPEN_PERIOD_SAMPLES = 600.0
# the count's own error besides offset and capacity (coulombic efficiency, balancing draw), per unit SOC moved,
# correlated over an hour
COUNT_ERROR_PER_SOC = 0.002
COUNT_ERROR_CORRELATION_S = 3600.0
# the least bound of a relaxed OCV point (on the steep ends the table is exact enough; the string is not its cell)
OCV_MIN_BOUND = 0.005
# the capacity the filter starts from: the rated capacity is the minimum the cell maker guarantees and cells ship
# 0-5 % above it (bms.md 3.2: one EVE batch averaged 332.8 Ah of 314), so the middle of that range with a bound
# (2 sigma) that covers it and the current sensor's gain error
CAPACITY_PRIOR_FACTOR = 1.025
CAPACITY_PRIOR_BOUND = 0.03
# a calibration point this many sigmas off the prediction means the filter's own variance was wrong
INCONSISTENT_SIGMAS = 5.0
# the full-charge request (``request_bound``) looks this far ahead: a grid charge from the reserve with cold-derated
# cells and the absorption until the full sync, s
FULL_CHARGE_LEAD_S = 6.0 * 3600.0
# and reads the part of the error a full charge removes at this many sigmas, not 2: the capacity's part it leaves out
# is real until a point at the bottom teaches the capacity, and the two together must stay inside the request level
# (at a full sync the part is 0.5 % at 2 sigma, so it clears the request: under half the level at 2.5 sigma)
REQUEST_SIGMAS = 2.5


@njit(cache=True, error_model="numpy")
def _cov(st: np.ndarray) -> np.ndarray:
    c = np.empty((3, 3))
    c[0, 0] = st[S_A_P00]
    c[0, 1] = c[1, 0] = st[S_A_P01]
    c[0, 2] = c[2, 0] = st[S_A_P02]
    c[1, 1] = st[S_A_P11]
    c[1, 2] = c[2, 1] = st[S_A_P12]
    c[2, 2] = st[S_A_P22]
    return c


@njit(cache=True, error_model="numpy")
def _store_cov(st: np.ndarray, c: np.ndarray) -> None:
    """Store ``c`` kept a covariance: variances above their floors, correlations inside +-0.999 (rounding in the
    updates must not make the SOC variance vanish through a correlation that cannot be)."""
    v0 = max(c[0, 0], 1.0e-10)
    v1 = max(c[1, 1], 1.0e-8)
    v2 = max(c[2, 2], 1.0e-4)
    lim = 0.999
    st[S_A_P00] = v0
    st[S_A_P11] = v1
    st[S_A_P22] = v2
    st[S_A_P01] = min(max(c[0, 1], -lim * math.sqrt(v0 * v1)), lim * math.sqrt(v0 * v1))
    st[S_A_P02] = min(max(c[0, 2], -lim * math.sqrt(v0 * v2)), lim * math.sqrt(v0 * v2))
    st[S_A_P12] = min(max(c[1, 2], -lim * math.sqrt(v1 * v2)), lim * math.sqrt(v1 * v2))


@njit(cache=True, error_model="numpy")
def observe(st: np.ndarray, p: np.ndarray, j: int, z: float, variance: float) -> float:
    """Kalman update with a direct measurement ``z`` of state ``j`` (0 SOC, 1 offset, 2 capacity); returns the
    innovation."""
    c = _cov(st)
    s = c[j, j] + variance
    x_j = st[S_A_SOC] if j == 0 else (st[S_OFFSET_A] if j == 1 else st[S_CAPACITY_AH])
    innov = z - x_j
    k0 = c[0, j] / s
    k1 = c[1, j] / s
    k2 = c[2, j] / s
    st[S_A_SOC] += k0 * innov
    st[S_OFFSET_A] += k1 * innov
    design = p[P_CAPACITY_AH]
    st[S_CAPACITY_AH] = min(max(st[S_CAPACITY_AH] + k2 * innov, 0.7 * design), 1.3 * design)
    k = np.array([k0, k1, k2])
    for a in range(3):
        for b in range(3):
            c[a, b] -= k[a] * k[b] * s
    _store_cov(st, c)
    return float(innov)


@njit(cache=True, error_model="numpy")
def _calibration_point(st: np.ndarray, p: np.ndarray, z: float, bound: float, now_s: float) -> None:
    sigma = 0.5 * bound
    innov = z - st[S_A_SOC]
    if innov * innov > INCONSISTENT_SIGMAS**2 * (st[S_A_P00] + sigma * sigma):
        # the point contradicts what the filter was sure of: its model was wrong (an offset or a capacity it did
        # not allow for); take the point and widen the SOC variance by what it missed rather than trust the count
        st[S_A_P00] += innov * innov
    st[S_A_LAST_SOC_ERR] = observe(st, p, 0, z, sigma * sigma)
    # points of one kind share their bias (the same table, the same sync rule): repeating them cannot make the SOC
    # surer than one of them is, so the SOC variance keeps that floor (its correlations kept)
    if st[S_A_P00] < sigma * sigma:
        f = sigma / math.sqrt(st[S_A_P00])
        st[S_A_P00] = sigma * sigma
        st[S_A_P01] *= f
        st[S_A_P02] *= f
    st[S_A_ANCHORS] += 1.0
    st[S_A_LAST_ANCHOR_S] = now_s


@njit(cache=True, error_model="numpy")
def predict(st: np.ndarray, p: np.ndarray, i_a: float, dt_s: float) -> None:
    """Count ``i_a`` (offset already subtracted) and propagate the covariance over ``dt_s``."""
    eta = p[P_COULOMBIC_EFF] if i_a > 0.0 else 1.0
    cap = st[S_CAPACITY_AH]
    dq_ah = eta * i_a * dt_s / 3600.0
    st[S_COUNTER_AH] += dq_ah
    dsoc = dq_ah / cap
    st[S_A_SOC] = min(max(st[S_A_SOC] + dsoc, -0.2), 1.2)
    f1 = -eta * dt_s / 3600.0 / cap
    f2 = -dsoc / cap
    p00 = st[S_A_P00]
    p01 = st[S_A_P01]
    p02 = st[S_A_P02]
    p11 = st[S_A_P11]
    p12 = st[S_A_P12]
    p22 = st[S_A_P22]
    q00 = (COUNT_ERROR_PER_SOC * dsoc) ** 2 * COUNT_ERROR_CORRELATION_S / dt_s
    q11 = p[P_OFFSET_DRIFT_A_PER_SQRT_DAY] ** 2 * dt_s / 86400.0
    q22 = (p[P_CAPACITY_DRIFT_PER_SQRT_MONTH] * cap) ** 2 * dt_s / (30.0 * 86400.0)
    st[S_A_P00] = p00 + 2.0 * f1 * p01 + 2.0 * f2 * p02 + f1 * f1 * p11 + 2.0 * f1 * f2 * p12 + f2 * f2 * p22 + q00
    st[S_A_P01] = p01 + f1 * p11 + f2 * p12
    st[S_A_P02] = p02 + f1 * p12 + f2 * p22
    st[S_A_P11] = p11 + q11
    st[S_A_P22] = p22 + q22


@njit(cache=True, error_model="numpy")
def request_bound(st: np.ndarray, p: np.ndarray) -> float:
    """What the full-charge request reads: the part of the SOC error a full charge removes, as it will be when a
    full charge asked for now is done, at ``REQUEST_SIGMAS``. That is the covariance predicted ``FULL_CHARGE_LEAD_S``
    ahead (the offset keeps counting meanwhile) less the part the capacity's error explains (``P02^2 / P22``: a full
    charge hides it only until the next discharge; a point at the bottom teaches the capacity, and a request that
    kept the battery off the bottom would keep it unlearned)."""
    f1 = -FULL_CHARGE_LEAD_S / 3600.0 / st[S_CAPACITY_AH]
    p00 = st[S_A_P00] + 2.0 * f1 * st[S_A_P01] + f1 * f1 * st[S_A_P11]
    p02 = st[S_A_P02] + f1 * st[S_A_P12]
    residual = max(p00 - p02 * p02 / st[S_A_P22], 1.0e-10)
    return min(REQUEST_SIGMAS * math.sqrt(residual), 1.0)


@njit(cache=True, error_model="numpy")
def adaptive_module(
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
    vsum, vmin, vmax, t_mean, _, _ = cell_stats(cell_voltage_v, temperature_c)
    if st[S_STARTED] < 0.5:
        start_from_ocv(st, p, vmin, vmax, t_mean)
        st[S_A_P01] = 0.0
        st[S_A_P02] = 0.0
    b = st[S_OFFSET_A]
    # the shared front end (hysteresis, resistance, rest tracking) on the dead-banded current; the offset is this
    # filter's own, so the front end's open-path averaging is undone and done here as a Kalman update instead
    i_front = measure(st, p, current_a, vsum, t_mean, path_open, dt_s)
    st[S_OFFSET_A] = b
    st[S_OFFSET_BOUND_A] = 2.0 * math.sqrt(st[S_A_P11])
    if path_open > 0.5 and st[S_PATH_OPEN_S] > 0.0:
        i_a = 0.0
        st[S_A_OPEN_SUM_A] += current_a
        st[S_A_OPEN_N] += 1.0
    else:
        i_a = current_a - b
    if st[S_A_OPEN_N] > 0.0 and (path_open < 0.5 or st[S_A_OPEN_N] >= OPEN_PERIOD_SAMPLES):
        # one offset measurement per open-path period: the mean reading, as sure as its noise allows and no surer
        # than the draws the shunt does not see (the BMS's own supply, self-discharge) which the count's offset
        # includes
        n = st[S_A_OPEN_N]
        variance = PATH_OPEN_READING_SIGMA_A**2 / n + UNSEEN_DRAW_SIGMA_A**2
        observe(st, p, 1, st[S_A_OPEN_SUM_A] / n + UNSEEN_DRAW_A, variance)
        st[S_A_OPEN_SUM_A] = 0.0
        st[S_A_OPEN_N] = 0.0
    predict(st, p, i_a, dt_s)
    track_rest(st, p, i_front, vsum / p[P_N_CELLS], dt_s)

    z = full_sync_point(st, p, i_front, vmax, t_mean, dt_s)
    if not math.isnan(z):
        _calibration_point(st, p, z, p[P_SYNC_ERROR], now_s)
        st[S_LAST_FULL_SYNC_S] = now_s
        st[S_FULL_SYNC] = 1.0
    z = empty_sync(st, p, i_front, vmin, t_mean, now_s, dt_s)
    if not math.isnan(z):
        _calibration_point(st, p, z, p[P_EMPTY_SYNC_ERROR], now_s)
    if st[S_OCV_DONE] < 0.5 and relaxed(st, p):
        st[S_OCV_DONE] = 1.0
        z, bound = ocv_anchor(st, p, vmin, vmax, t_mean)
        st[S_OCV_SOC] = z
        if bound <= p[P_OCV_ANCHOR_MAX_ERROR]:
            # the extreme cell's SOC is not quite the string's (capacity spread): never surer than OCV_MIN_BOUND
            _calibration_point(st, p, z, max(bound, OCV_MIN_BOUND), now_s)
    st[S_SOC] = min(max(st[S_A_SOC], 0.0), 1.0)
    st[S_UNCERTAINTY] = min(2.0 * math.sqrt(st[S_A_P00]), 1.0)
    st[S_REQUEST_BOUND] = request_bound(st, p)


@njit(cache=True, error_model="numpy")
def adaptive_step(
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
        adaptive_module(state[m], params, current_a[m], cell_voltage_v[m], temperature_c[m], path_open[m], now_s, dt_s)


def set_priors(state: np.ndarray, params: np.ndarray) -> None:
    """The priors of a fresh state: the capacity (``CAPACITY_PRIOR_*``) and the count's offset: the sensor's
    data-sheet bound ``P_OFFSET_BOUND_A`` (a maximum, which a sensor may sit at: ``OFFSET_PRIOR_SIGMAS`` sigma) and
    the unseen draws."""
    cap = CAPACITY_PRIOR_FACTOR * params[P_CAPACITY_AH]
    state[:, S_CAPACITY_AH] = cap
    state[:, S_CAP_REF_AH] = cap
    state[:, S_A_P22] = (0.5 * CAPACITY_PRIOR_BOUND * cap) ** 2
    state[:, S_OFFSET_A] = UNSEEN_DRAW_A
    state[:, S_A_P11] = (params[P_OFFSET_BOUND_A] / OFFSET_PRIOR_SIGMAS) ** 2 + UNSEEN_DRAW_SIGMA_A**2


class AdaptiveEstimator(EstimatorBase):
    """Kalman filter on (SOC, current offset, capacity) corrected at calibration points (module docstring)."""

    kernel = adaptive_step

    def __init__(
        self,
        params: BmsParameters,
        n_modules: int,
        *,
        initial_soc: float | np.ndarray | None = None,
        initial_uncertainty: float = 1.0,
        compiled: np.ndarray | None = None,
    ) -> None:
        super().__init__(
            params, n_modules, initial_soc=initial_soc, initial_uncertainty=initial_uncertainty, compiled=compiled
        )
        set_priors(self.state, self.params)

    @property
    def capacity_bound_ah(self) -> np.ndarray:
        """Bound (2 sigma) on the learned capacity, Ah."""
        return np.asarray(2.0 * np.sqrt(self.state[:, S_A_P22]))

    @property
    def offset_bound_a(self) -> np.ndarray:
        """Bound (2 sigma) on the learned current offset, A."""
        return np.asarray(2.0 * np.sqrt(self.state[:, S_A_P11]))
