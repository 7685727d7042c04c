"""Passive balancing, every second for every cell of every module (bms.md section 5, rows #33-#38).

Two ways a cell gets its bleed resistor switched on:

* **knee, while charging or relaxed at the top** (bms.md #36, "charging (CV/tail) or at rest >= 30 min"): a cell
  at or above ``start_cell_voltage_v`` and more than ``start_delta_v`` above the lowest cell starts; it keeps
  bleeding while charging or resting (absorption holds a full pack there at ~0 A) until it is less than
  ``stop_delta_v`` above the lowest cell (hysteresis, per cell). On the LFP plateau a voltage difference says little
  about charge, so voltage balancing runs only in the steep top knee.
* **charge difference, planned at rest** (foxBMS "history", TI cell balance time): once a module has rested
  ``rest_s`` with |I| <= rest current, its relaxed cell voltages are converted to SOC through the OCV table, but
  only where the curve is steep (off the plateau: outside ``[soc] ocv_plateau_low_v..high_v`` and at least
  :data:`MIN_OCV_SLOPE_V` per unit SOC). The reference is the lowest cell; a cell whose voltage is on the plateau
  counts with the top of its flat run (an upper bound of its SOC), so the plan never asks for more than is known.
  Each cell gets ``delta_ah = capacity * (soc - soc_ref)`` (ignored below :data:`REST_MIN_DELTA_SOC`) and bleeds
  exactly that, ``I = V / R_bal`` integrated, whatever the module does next (a common current does not change the
  difference); one plan per rest period, a new rest replaces it.

A cell bleeds at most ``V / R_bal`` for the whole step (on/off per step; the last step of a plan is taken when at
least half of it is still owed, so a plan is met within half a step's charge). ``R_bal`` is
``BALANCE_REFERENCE_V / current_a`` (33 ohm for 0.10 A at 3.3 V). Nothing bleeds while inhibited: lowest cell below
``min_cell_voltage_v``, hottest cell NTC above ``max_cell_temperature_c``, board above ``max_board_temperature_c``,
or the caller's ``inhibit`` (any protection active); knee hysteresis resets, a rest plan waits.

Per cell the state records the seconds balanced and the charge bled (diagnostics: a cell that always needs
bleeding is a self-discharge outlier).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ml314.bms.ocv import OcvTable, load_ocv_table
from ml314.bms.parameters import BmsParameters

__all__ = [
    "BALANCE_REFERENCE_V",
    "BAL_BLED_AH",
    "BAL_COLS",
    "BAL_KNEE",
    "BAL_ON",
    "BAL_PLANNED_AH",
    "BAL_PLAN_T_S",
    "BAL_REST_PLANNED",
    "BAL_TARGET_AH",
    "BAL_TIME_S",
    "MIN_OCV_SLOPE_V",
    "REST_MIN_DELTA_SOC",
    "Balancer",
    "OcvTable",
    "balancing_step",
    "compile_balancing",
    "load_ocv_table",
]

BALANCE_REFERENCE_V = 3.3  # the cell voltage at which the bleed resistor passes current_a
MIN_OCV_SLOPE_V = 0.5  # V per unit SOC (5 mV per %): flatter table segments are plateau
REST_MIN_DELTA_SOC = 0.001  # smaller planned differences are below what one relaxed reading resolves

# state columns, shape (n_modules, 16, BAL_COLS)
BAL_ON = 0  # 1 while the bleed resistor is on this step
BAL_KNEE = 1  # knee-mode hysteresis latch
BAL_TARGET_AH = 2  # charge still to bleed from the rest plan
BAL_PLANNED_AH = 3  # charge the last rest plan asked for
BAL_PLAN_T_S = 4  # time of the last rest plan (NaN: none)
BAL_REST_PLANNED = 5  # 1 once this rest period has been planned (same in every cell of a module)
BAL_TIME_S = 6  # accumulated seconds balanced
BAL_BLED_AH = 7  # accumulated charge bled
BAL_COLS = 8

# params_vec layout: scalars, then the OCV table (SOC, OCV, flat flag per segment), N_OCV points each
P_CURRENT_A = 0
P_RESISTANCE_OHM = 1
P_START_CELL_V = 2
P_START_DELTA_V = 3
P_STOP_DELTA_V = 4
P_REST_S = 5
P_MIN_CELL_V = 6
P_MAX_CELL_T_C = 7
P_MAX_BOARD_T_C = 8
P_REST_CURRENT_A = 9
P_CAPACITY_AH = 10
P_REST_MIN_AH = 11
P_N_OCV = 12  # 0: no table, no rest mode
P_OCV = 13  # SOC[k] at P_OCV + k, OCV[k] at P_OCV + N + k, segment k..k+1 flat at P_OCV + 2N + k


def compile_balancing(params: BmsParameters, ocv: OcvTable | None) -> np.ndarray:
    """The balancing parameters (and OCV table, if any) as the kernel's float vector."""
    b = params.balancing
    n = 0 if ocv is None else len(ocv.soc)
    vec = np.zeros(P_OCV + 3 * n)
    vec[P_CURRENT_A] = b.current_a
    vec[P_RESISTANCE_OHM] = BALANCE_REFERENCE_V / b.current_a
    vec[P_START_CELL_V] = b.start_cell_voltage_v
    vec[P_START_DELTA_V] = b.start_delta_v
    vec[P_STOP_DELTA_V] = b.stop_delta_v
    vec[P_REST_S] = b.rest_s
    vec[P_MIN_CELL_V] = b.min_cell_voltage_v
    vec[P_MAX_CELL_T_C] = b.max_cell_temperature_c
    vec[P_MAX_BOARD_T_C] = b.max_board_temperature_c
    vec[P_REST_CURRENT_A] = params.rest_current_a
    vec[P_CAPACITY_AH] = params.soc.capacity_ah
    vec[P_REST_MIN_AH] = REST_MIN_DELTA_SOC * params.soc.capacity_ah
    vec[P_N_OCV] = n
    if ocv is not None:
        soc = np.asarray(ocv.soc)
        v = np.asarray(ocv.ocv_v)
        slope = np.diff(v) / np.diff(soc)
        on_plateau = (v[1:] > params.soc.ocv_plateau_low_v) & (v[:-1] < params.soc.ocv_plateau_high_v)
        flat = (slope < MIN_OCV_SLOPE_V) | on_plateau
        vec[P_OCV : P_OCV + n] = soc
        vec[P_OCV + n : P_OCV + 2 * n] = v
        vec[P_OCV + 2 * n : P_OCV + 3 * n - 1] = flat
    return vec


@njit(cache=True, error_model="numpy")
def _soc_of(p: np.ndarray, v: float) -> tuple[float, float]:
    """(SOC if the voltage is on a steep segment else NaN, an upper bound of the SOC)."""
    n = int(p[P_N_OCV])
    soc0 = P_OCV
    ocv0 = P_OCV + n
    flat0 = P_OCV + 2 * n
    if v <= p[ocv0]:
        return p[soc0], p[soc0]
    if v >= p[ocv0 + n - 1]:
        return p[soc0 + n - 1], p[soc0 + n - 1]
    j = 0
    while j < n - 2 and p[ocv0 + j + 1] <= v:
        j += 1
    if p[flat0 + j] < 0.5:
        f = (v - p[ocv0 + j]) / (p[ocv0 + j + 1] - p[ocv0 + j])
        soc = p[soc0 + j] + f * (p[soc0 + j + 1] - p[soc0 + j])
        return soc, soc
    while j < n - 2 and p[flat0 + j + 1] > 0.5:
        j += 1
    return np.nan, p[soc0 + j + 1]


@njit(cache=True, error_model="numpy")
def _plan(state_m: np.ndarray, p: np.ndarray, cell_voltage_v: np.ndarray, now_s: float) -> None:
    n_cells = cell_voltage_v.shape[0]
    soc = np.empty(n_cells)
    ref = np.inf
    for c in range(n_cells):
        known, upper = _soc_of(p, cell_voltage_v[c])
        soc[c] = known
        ref = min(ref, upper)
    for c in range(n_cells):
        s = state_m[c]
        delta_ah = p[P_CAPACITY_AH] * (soc[c] - ref) if not np.isnan(soc[c]) else 0.0
        if delta_ah < p[P_REST_MIN_AH]:
            delta_ah = 0.0
        s[BAL_TARGET_AH] = delta_ah
        s[BAL_PLANNED_AH] = delta_ah
        s[BAL_PLAN_T_S] = now_s
        s[BAL_REST_PLANNED] = 1.0


@njit(cache=True, error_model="numpy")
def balancing_step(
    state: np.ndarray,
    params_vec: np.ndarray,
    cell_voltage_v: np.ndarray,
    current_a: np.ndarray,
    max_temperature_c: np.ndarray,
    board_temperature_c: np.ndarray,
    inhibit: np.ndarray,
    rest_s: np.ndarray,
    now_s: float,
    dt_s: float,
    out_mask: np.ndarray,
) -> int:
    """One balancing decision per cell; fill ``out_mask`` (n, 16) with 1.0 where the bleed resistor is on for the
    next ``dt_s``, account the bleed in ``state`` (n, 16, BAL_COLS); return the number of cells bleeding.

    Per module (n,): current (positive charging), hottest cell NTC, board temperature, ``inhibit`` (1.0 when any
    protection is active), ``rest_s`` (seconds at rest so far, 0 when not at rest). ``params_vec`` from
    :func:`compile_balancing`.
    """
    p = params_vec
    n = cell_voltage_v.shape[0]
    n_cells = cell_voltage_v.shape[1]
    rest_mode = p[P_N_OCV] >= 2.0
    count = 0
    for m in range(n):
        v_min = cell_voltage_v[m, 0]
        for c in range(1, n_cells):
            v_min = min(v_min, cell_voltage_v[m, c])
        i = current_a[m]
        charging_now = i > p[P_REST_CURRENT_A]
        blocked = (
            inhibit[m] > 0.5
            or v_min < p[P_MIN_CELL_V]
            or max_temperature_c[m] > p[P_MAX_CELL_T_C]
            or board_temperature_c[m] > p[P_MAX_BOARD_T_C]
        )
        relaxed = abs(i) <= p[P_REST_CURRENT_A] and rest_s[m] >= p[P_REST_S]
        if not relaxed:
            for c in range(n_cells):
                state[m, c, BAL_REST_PLANNED] = 0.0
        elif rest_mode and not blocked and state[m, 0, BAL_REST_PLANNED] < 0.5:
            _plan(state[m], p, cell_voltage_v[m], now_s)
        # knee balancing: while charging, or relaxed at the top (absorption holds a full pack there at ~0 A) when
        # no rest plan can do better (none possible, or the plan found less than it can resolve)
        asked = 0.0
        for c in range(n_cells):
            asked += state[m, c, BAL_PLANNED_AH]
        plan_empty = state[m, 0, BAL_REST_PLANNED] > 0.5 and asked == 0.0
        charging = charging_now or (relaxed and (not rest_mode or plan_empty))
        for c in range(n_cells):
            s = state[m, c]
            v = cell_voltage_v[m, c]
            if blocked or not charging:
                s[BAL_KNEE] = 0.0
            elif s[BAL_KNEE] > 0.5:
                if v - v_min < p[P_STOP_DELTA_V]:
                    s[BAL_KNEE] = 0.0
            elif v >= p[P_START_CELL_V] and v - v_min > p[P_START_DELTA_V]:
                s[BAL_KNEE] = 1.0
            # the bleed of one step is needed only where the cell may bleed: knee on, or a rest target left (a
            # target is never negative, so with none and the knee off the cell is off, as the rule below says)
            on = False
            step_ah = 0.0
            if not blocked and (s[BAL_KNEE] > 0.5 or s[BAL_TARGET_AH] > 0.0):
                step_ah = max(v, 0.0) / p[P_RESISTANCE_OHM] * dt_s / 3600.0
                on = s[BAL_KNEE] > 0.5 or s[BAL_TARGET_AH] > 0.5 * step_ah
            if on:
                s[BAL_ON] = 1.0
                s[BAL_TIME_S] += dt_s
                s[BAL_BLED_AH] += step_ah
                s[BAL_TARGET_AH] = max(s[BAL_TARGET_AH] - step_ah, 0.0)
                out_mask[m, c] = 1.0
                count += 1
            else:
                s[BAL_ON] = 0.0
                out_mask[m, c] = 0.0
    return count


class Balancer:
    """The balancing state of ``n_modules`` modules and the compiled step.

    ``ocv`` defaults to the BMS's ``bms/data/ocv_lfp.csv``; without a table the rest (charge-difference) mode is off.
    """

    def __init__(self, params: BmsParameters, n_modules: int, ocv: OcvTable | None = None) -> None:
        if ocv is None:
            try:
                ocv = load_ocv_table()
            except FileNotFoundError:
                ocv = None
        self.ocv = ocv
        self.params_vec = compile_balancing(params, ocv)
        self.state = np.zeros((n_modules, 16, BAL_COLS))
        self.state[:, :, BAL_PLAN_T_S] = np.nan
        self.mask = np.zeros((n_modules, 16))

    @property
    def rest_mode_available(self) -> bool:
        """True when an OCV table is loaded (charge-difference balancing at rest)."""
        return self.ocv is not None

    @property
    def balancing_time_s(self) -> np.ndarray:
        """Accumulated balancing seconds per cell, (n_modules, 16)."""
        return self.state[:, :, BAL_TIME_S].copy()

    @property
    def bled_ah(self) -> np.ndarray:
        """Accumulated bled charge per cell, Ah, (n_modules, 16)."""
        return self.state[:, :, BAL_BLED_AH].copy()

    @property
    def target_ah(self) -> np.ndarray:
        """Charge still to bleed from the rest plans, Ah, (n_modules, 16)."""
        return self.state[:, :, BAL_TARGET_AH].copy()

    def step(
        self,
        cell_voltage_v: np.ndarray,
        current_a: np.ndarray,
        max_temperature_c: np.ndarray,
        board_temperature_c: np.ndarray,
        inhibit: np.ndarray,
        rest_s: np.ndarray,
        now_s: float,
        dt_s: float,
    ) -> np.ndarray:
        """One decision for every cell; returns the (n_modules, 16) mask (1.0 = bleeding), a view kept by the
        balancer."""
        n = self.state.shape[0]

        def vec(x: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=np.float64), (n,)))

        balancing_step(
            self.state,
            self.params_vec,
            np.ascontiguousarray(cell_voltage_v, dtype=np.float64).reshape(n, 16),
            vec(current_a),
            vec(max_temperature_c),
            vec(board_temperature_c),
            vec(inhibit),
            vec(rest_s),
            now_s,
            dt_s,
            self.mask,
        )
        return self.mask
