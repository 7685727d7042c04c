"""Charge voltage control: the charge mode (bulk, absorption, float), the cell-overvoltage CVL controller, and the
request flags to the inverter.

Charge mode (dbus-serialbattery ``manage_charge_voltage_limit``, reference/bms.md 2.1, rows #1, #2, #38, #39):

* **bulk**: CVL at the target (3.45 V a cell); the pack is still below it.
* **absorption**: the pack reached the target (within ``float_start_tolerance_v``). The float timer starts when
  the cell spread is at most ``float_spread_v`` and stops (to start again from 0) when it opens beyond
  ``float_restart_spread_v``; the mode falls back to bulk if the pack drops ``absorption_cancel_v`` below the target.
  After ``float_after_s`` of timer the mode switches to float transition; while the balancer is still working it
  waits for it, at most ``balancing_wait_s`` longer (the balancer needs the high cell voltage).
* **float transition**: CVL ramps down at ``cvl_ramp_v_per_s`` to the float voltage, then **float**.
* back to **bulk** from either float mode when SOC < ``bulk_soc``, the spread reaches ``bulk_spread_v``, or the
  full-charge request is set.

The switch to float is reported (one step) so the SOC estimator can sync to 100 % (#52).

CVL controller (#44, serialbattery ``CVL_CONTROLLER_MODE = 2``, PR #882): an integrator that holds the highest cell
at target + margin, ``cvl -= gain * (v_max_cell - target - margin) * dt``, kept between DVL and the mode's CVL.
The CVL sent is the integrator: cut at once, raised only ``cvl_recovery_hold_s`` after the last cut and then at
``cvl_ramp_v_per_s`` (#46), after an overvoltage cut as on the way back from float to bulk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ml314.bms.limits_derating import (
    P_ABSORPTION_CANCEL_V,
    P_BALANCING_WAIT_S,
    P_BULK_SOC,
    P_BULK_SPREAD_V,
    P_CELL_TARGET_V,
    P_CVL_FLOAT_V,
    P_CVL_GAIN,
    P_CVL_HOLD_S,
    P_CVL_MARGIN_V,
    P_CVL_RAMP_V_PER_S,
    P_CVL_TARGET_V,
    P_DVL_V,
    P_FLOAT_AFTER_S,
    P_FLOAT_RESTART_SPREAD_V,
    P_FLOAT_SPREAD_V,
    P_FLOAT_START_TOLERANCE_V,
    P_FORCE_CHARGE_RELEASE_SOC,
    P_FORCE_CHARGE_RELEASE_V,
    P_FORCE_CHARGE_SOC,
    P_FORCE_CHARGE_V,
    P_FULL_CHARGE_BOUND,
    P_FULL_CHARGE_INTERVAL_S,
    P_FULL_CHARGE_SOC,
)

# charge modes
MODE_BULK = 0
MODE_ABSORPTION = 1
MODE_FLOAT_TRANSITION = 2
MODE_FLOAT = 3
MODE_NAMES: tuple[str, ...] = ("bulk", "absorption", "float transition", "float")

TIMER_STOPPED = -1.0


@njit(cache=True, error_model="numpy")
def charge_mode_step(
    params: np.ndarray,
    mode: int,
    timer_s: float,
    cvl_mode_v: float,
    pack_v: float,
    spread_v: float,
    soc: float,
    balancing: float,
    full_charge_request: bool,
    dt_s: float,
) -> tuple[int, float, float, bool]:
    """One step of the charge mode: (mode, float timer s or ``TIMER_STOPPED``, the mode's CVL V, switched to float)."""
    target_v = params[P_CVL_TARGET_V]
    float_v = params[P_CVL_FLOAT_V]
    if mode in (MODE_FLOAT_TRANSITION, MODE_FLOAT):
        if soc < params[P_BULK_SOC] or spread_v >= params[P_BULK_SPREAD_V] or full_charge_request:
            return MODE_BULK, TIMER_STOPPED, target_v, False
        if mode == MODE_FLOAT_TRANSITION:
            cvl_mode_v = max(cvl_mode_v - params[P_CVL_RAMP_V_PER_S] * dt_s, float_v)
            if cvl_mode_v <= float_v:
                mode = MODE_FLOAT
            return mode, TIMER_STOPPED, cvl_mode_v, False
        return MODE_FLOAT, TIMER_STOPPED, float_v, False
    if mode == MODE_BULK:
        if pack_v >= target_v - params[P_FLOAT_START_TOLERANCE_V]:
            mode = MODE_ABSORPTION
        else:
            return MODE_BULK, TIMER_STOPPED, target_v, False
    if pack_v < target_v - params[P_ABSORPTION_CANCEL_V]:
        return MODE_BULK, TIMER_STOPPED, target_v, False
    if spread_v > params[P_FLOAT_RESTART_SPREAD_V]:
        timer_s = TIMER_STOPPED
    elif timer_s >= 0.0:
        timer_s += dt_s
    elif spread_v <= params[P_FLOAT_SPREAD_V]:
        timer_s = 0.0
    after = params[P_FLOAT_AFTER_S]
    if timer_s >= after and (balancing < 0.5 or timer_s >= after + params[P_BALANCING_WAIT_S]):
        return MODE_FLOAT_TRANSITION, TIMER_STOPPED, target_v, True
    return MODE_ABSORPTION, timer_s, target_v, False


@njit(cache=True, error_model="numpy")
def cvl_step(
    params: np.ndarray,
    controller_v: float,
    cvl_v: float,
    held_s: float,
    cvl_mode_v: float,
    cell_max_v: float,
    dt_s: float,
) -> tuple[float, float, float]:
    """One step of the CVL controller and the CVL sent: (integrator V, CVL V, seconds since the last cut).

    The integrator never runs ahead of what the hold and ramp let the CVL sent do (anti-windup), so the moment the
    cell passes the setpoint again the CVL comes down from where it is.
    """
    error_v = cell_max_v - params[P_CELL_TARGET_V] - params[P_CVL_MARGIN_V]
    if not np.isnan(error_v):  # a failed reading leaves the integrator where it is
        controller_v -= params[P_CVL_GAIN] * error_v * dt_s
    controller_v = min(max(controller_v, params[P_DVL_V]), cvl_mode_v)
    if controller_v < cvl_v:
        return controller_v, controller_v, 0.0
    held_s += dt_s
    if held_s >= params[P_CVL_HOLD_S]:
        controller_v = min(controller_v, cvl_v + params[P_CVL_RAMP_V_PER_S] * dt_s)
    else:
        controller_v = cvl_v
    return controller_v, controller_v, held_s


@njit(cache=True, error_model="numpy")
def force_charge_step(params: np.ndarray, active: bool, soc: float, cell_min_v: float) -> bool:
    """The force-charge request: set below ``force_charge_soc`` or with the lowest cell at the DCL-zero voltage,
    cleared once both SOC and the lowest cell are back above their release levels."""
    if soc < params[P_FORCE_CHARGE_SOC] or cell_min_v <= params[P_FORCE_CHARGE_V]:
        return True
    if active:
        return not (soc >= params[P_FORCE_CHARGE_RELEASE_SOC] and cell_min_v >= params[P_FORCE_CHARGE_RELEASE_V])
    return False


@njit(cache=True, error_model="numpy")
def full_charge_step(
    params: np.ndarray, last_full_s: float, soc: float, bound: float, bound_request: bool, now_s: float
) -> tuple[float, bool, bool]:
    """(time of the last full charge s, full-charge request, request raised by the bound) (Pylontech 0x35C bit 3).

    A full charge is SOC at ``full_charge_soc`` with the estimator sure of it (its bound under half the request
    level: a full sync happened). The request is raised after ``full_charge_interval_days`` without one, or when
    the estimator's request bound (the part of its SOC bound a full charge removes) passes
    ``[soc] full_charge_request_bound`` (held until the full charge, so the inverter charges
    all the way instead of stopping when the bound first dips), and cleared by the full charge."""
    level = params[P_FULL_CHARGE_BOUND]
    if soc >= params[P_FULL_CHARGE_SOC] and bound < 0.5 * level:
        return now_s, False, False
    bound_request = bound_request or bound >= level
    return last_full_s, bound_request or now_s - last_full_s >= params[P_FULL_CHARGE_INTERVAL_S], bound_request
