"""The limits each module gives the inverter: CVL, CCL, DCL, DVL and the request flags, every second.

One compiled function, :func:`limits_step`, advances every module of a bank by one step. It reads one row of
``inputs`` per module (``IN_*`` columns: the BMS's own readings and decisions), keeps its memory in ``state``
(``ST_*`` columns) and writes one row of ``outputs`` (``OUT_*`` columns). Per module:

* CCL and DCL: derating tables, protection cap and open paths, cut at once, hold then ramp on the way up
  (``limits_derating``);
* the charge mode and CVL: bulk, absorption, float transition, float, and the cell-overvoltage CVL controller
  (``limits_control``); DVL is ``cell_voltage_discharge_v`` times the cell count;
* the flags: charge enable (path allowed and CCL > 0), discharge enable (likewise), force charge (low SOC or the
  lowest cell at the DCL-zero voltage, with hysteresis; only while charge is enabled), full-charge request (after
  ``full_charge_interval_days`` without a full charge, or while the SOC estimator's request bound is past
  ``[soc] full_charge_request_bound``, until the full charge). A module whose bank has a request open charges in
  bulk too (``IN_BANK_FULL_REQUEST``): the bank's CVL is the lowest module's, so one module in float would hold the
  others below the voltage their full sync needs.

Combining the modules into bank limits is the parallel link's job; nothing here looks across modules.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ml314.bms.limits_control import (
    MODE_BULK,
    MODE_NAMES,
    TIMER_STOPPED,
    charge_mode_step,
    cvl_step,
    force_charge_step,
    full_charge_step,
)
from ml314.bms.limits_derating import (
    P_CVL_TARGET_V,
    P_DVL_V,
    P_MAX_CHARGE_A,
    P_MAX_DISCHARGE_A,
    SOURCE_NAMES,
    TAB_CCL_CELL_V,
    TAB_CCL_TEMPERATURE,
    TAB_DCL_CELL_V,
    TAB_DCL_TEMPERATURE,
    compile_limit_params,
    current_limit_step,
)
from ml314.bms.parameters import LimitParams
from ml314.domain.limits import ChargeLimits

# inputs, shape (modules, IN_COLS)
IN_CELL_MAX_V = 0
IN_CELL_MIN_V = 1
IN_PACK_V = 2  # sum of the cells
IN_TEMPERATURE_MAX_C = 3  # warmest cell
IN_TEMPERATURE_MIN_C = 4  # coldest cell
IN_MOSFET_C = 5
IN_SOC = 6  # the BMS's estimate, 0..1
IN_CHARGE_ALLOWED = 7  # 1 while protection and state machine keep the charge path closed
IN_DISCHARGE_ALLOWED = 8
IN_DERATE_CHARGE = 9  # 1 while a protection row with the "derate" action is active (set both from ACT_DERATE ...
IN_DERATE_DISCHARGE = 10  # ... unless the caller knows which direction the warning concerns)
IN_BALANCING = 11  # 1 while the balancer bleeds any cell
IN_SOC_BOUND = 12  # the estimator's request bound: the part of its SOC bound a full charge removes, 0..1
IN_BANK_FULL_REQUEST = 13  # 1 while any module of the bank asks for a full charge (the master passes it on)
IN_COLS = 14

# state, shape (modules, ST_COLS); zeros = not started (the first step starts every module)
ST_STARTED = 0
ST_MODE = 1
ST_FLOAT_TIMER_S = 2  # TIMER_STOPPED when not running
ST_CVL_MODE_V = 3  # the charge mode's CVL
ST_CVL_CONTROLLER_V = 4  # the overvoltage integrator
ST_CVL_V = 5
ST_CVL_HELD_S = 6
ST_CCL_A = 7
ST_CCL_HELD_S = 8
ST_CCL_WINDOW_A = 9  # lowest release target of the hold window
ST_CCL_SOURCE = 10
ST_DCL_A = 11
ST_DCL_HELD_S = 12
ST_DCL_WINDOW_A = 13
ST_DCL_SOURCE = 14
ST_FORCE_CHARGE = 15
ST_LAST_FULL_S = 16  # time of the last full charge (the first step counts as one)
ST_BOUND_REQUEST = 17  # 1 while the full-charge request raised by the SOC bound is held
ST_COLS = 18

# outputs, shape (modules, OUT_COLS); flags are 0/1, codes are small integers
OUT_CVL_V = 0
OUT_CCL_A = 1
OUT_DCL_A = 2
OUT_DVL_V = 3
OUT_CHARGE_ENABLE = 4
OUT_DISCHARGE_ENABLE = 5
OUT_FORCE_CHARGE = 6
OUT_FULL_CHARGE_REQUEST = 7
OUT_MODE = 8  # MODE_*
OUT_CCL_SOURCE = 9  # SRC_*
OUT_DCL_SOURCE = 10
OUT_FLOAT_SWITCH = 11  # 1 on the step the mode leaves absorption for float: the SOC full sync (#52)
OUT_CVL_LIMITED = 12  # 1 while the overvoltage controller (or its recovery) keeps CVL below the mode's
OUT_SINCE_FULL_S = 13  # seconds since SOC last reached full_charge_soc
OUT_COLS = 14


@njit(cache=True, error_model="numpy")
def limits_step(
    state: np.ndarray, params: np.ndarray, inputs: np.ndarray, outputs: np.ndarray, now_s: float, dt_s: float
) -> None:
    """Advance every module one step of ``dt_s`` ending at ``now_s``.

    ``state`` (modules, ST_COLS) is updated in place, ``params`` comes from :func:`compile_limit_params`,
    ``inputs`` (modules, IN_COLS) is read, ``outputs`` (modules, OUT_COLS) is filled. All float64.
    """
    for m in range(state.shape[0]):
        vmax = inputs[m, IN_CELL_MAX_V]
        vmin = inputs[m, IN_CELL_MIN_V]
        soc = inputs[m, IN_SOC]
        started = state[m, ST_STARTED] > 0.5
        if not started:
            state[m, ST_STARTED] = 1.0
            state[m, ST_MODE] = MODE_BULK
            state[m, ST_FLOAT_TIMER_S] = TIMER_STOPPED
            state[m, ST_CVL_MODE_V] = params[P_CVL_TARGET_V]
            state[m, ST_CVL_CONTROLLER_V] = params[P_CVL_TARGET_V]
            state[m, ST_CVL_V] = params[P_CVL_TARGET_V]
            state[m, ST_CVL_HELD_S] = 0.0
            state[m, ST_CCL_A] = np.inf  # the first step cuts to the target
            state[m, ST_DCL_A] = np.inf
            state[m, ST_CCL_WINDOW_A] = np.inf
            state[m, ST_DCL_WINDOW_A] = np.inf
            state[m, ST_FORCE_CHARGE] = 0.0
            state[m, ST_LAST_FULL_S] = now_s

        ccl, state[m, ST_CCL_HELD_S], state[m, ST_CCL_WINDOW_A], source = current_limit_step(
            params,
            TAB_CCL_CELL_V,
            vmax,
            TAB_CCL_TEMPERATURE,
            inputs[m, IN_TEMPERATURE_MAX_C],
            inputs[m, IN_TEMPERATURE_MIN_C],
            inputs[m, IN_MOSFET_C],
            inputs[m, IN_CHARGE_ALLOWED],
            inputs[m, IN_DERATE_CHARGE],
            params[P_MAX_CHARGE_A],
            state[m, ST_CCL_A],
            state[m, ST_CCL_HELD_S],
            state[m, ST_CCL_WINDOW_A],
            int(state[m, ST_CCL_SOURCE]),
            dt_s,
        )
        state[m, ST_CCL_A] = ccl
        state[m, ST_CCL_SOURCE] = source
        dcl, state[m, ST_DCL_HELD_S], state[m, ST_DCL_WINDOW_A], source = current_limit_step(
            params,
            TAB_DCL_CELL_V,
            vmin,
            TAB_DCL_TEMPERATURE,
            inputs[m, IN_TEMPERATURE_MAX_C],
            inputs[m, IN_TEMPERATURE_MIN_C],
            inputs[m, IN_MOSFET_C],
            inputs[m, IN_DISCHARGE_ALLOWED],
            inputs[m, IN_DERATE_DISCHARGE],
            params[P_MAX_DISCHARGE_A],
            state[m, ST_DCL_A],
            state[m, ST_DCL_HELD_S],
            state[m, ST_DCL_WINDOW_A],
            int(state[m, ST_DCL_SOURCE]),
            dt_s,
        )
        state[m, ST_DCL_A] = dcl
        state[m, ST_DCL_SOURCE] = source

        last_full_s, full_request, bound_request = full_charge_step(
            params, state[m, ST_LAST_FULL_S], soc, inputs[m, IN_SOC_BOUND], state[m, ST_BOUND_REQUEST] > 0.5, now_s
        )
        state[m, ST_LAST_FULL_S] = last_full_s
        state[m, ST_BOUND_REQUEST] = 1.0 if bound_request else 0.0
        mode, state[m, ST_FLOAT_TIMER_S], cvl_mode_v, switched = charge_mode_step(
            params,
            int(state[m, ST_MODE]),
            state[m, ST_FLOAT_TIMER_S],
            state[m, ST_CVL_MODE_V],
            inputs[m, IN_PACK_V],
            vmax - vmin,
            soc,
            inputs[m, IN_BALANCING],
            full_request or inputs[m, IN_BANK_FULL_REQUEST] > 0.5,
            dt_s,
        )
        state[m, ST_MODE] = mode
        state[m, ST_CVL_MODE_V] = cvl_mode_v
        state[m, ST_CVL_CONTROLLER_V], state[m, ST_CVL_V], state[m, ST_CVL_HELD_S] = cvl_step(
            params, state[m, ST_CVL_CONTROLLER_V], state[m, ST_CVL_V], state[m, ST_CVL_HELD_S], cvl_mode_v, vmax, dt_s
        )

        charge_enable = inputs[m, IN_CHARGE_ALLOWED] > 0.5 and ccl > 0.0
        force = force_charge_step(params, state[m, ST_FORCE_CHARGE] > 0.5, soc, vmin)
        state[m, ST_FORCE_CHARGE] = 1.0 if force else 0.0

        outputs[m, OUT_CVL_V] = state[m, ST_CVL_V]
        outputs[m, OUT_CCL_A] = ccl
        outputs[m, OUT_DCL_A] = dcl
        outputs[m, OUT_DVL_V] = params[P_DVL_V]
        outputs[m, OUT_CHARGE_ENABLE] = 1.0 if charge_enable else 0.0
        outputs[m, OUT_DISCHARGE_ENABLE] = 1.0 if inputs[m, IN_DISCHARGE_ALLOWED] > 0.5 and dcl > 0.0 else 0.0
        outputs[m, OUT_FORCE_CHARGE] = 1.0 if force and charge_enable else 0.0
        outputs[m, OUT_FULL_CHARGE_REQUEST] = 1.0 if full_request else 0.0
        outputs[m, OUT_MODE] = mode
        outputs[m, OUT_CCL_SOURCE] = state[m, ST_CCL_SOURCE]
        outputs[m, OUT_DCL_SOURCE] = state[m, ST_DCL_SOURCE]
        outputs[m, OUT_FLOAT_SWITCH] = 1.0 if switched else 0.0
        outputs[m, OUT_CVL_LIMITED] = 1.0 if state[m, ST_CVL_V] < cvl_mode_v else 0.0
        outputs[m, OUT_SINCE_FULL_S] = now_s - last_full_s


class ChargeLimiter:
    """The limits of ``n_modules`` modules: state, compiled parameters and the last outputs."""

    def __init__(self, params: LimitParams, n_modules: int, *, compiled: np.ndarray | None = None) -> None:
        """``compiled`` overrides ``compile_limit_params(params)`` (to change its keyword settings)."""
        self.params = compile_limit_params(params) if compiled is None else compiled
        self.state = np.zeros((n_modules, ST_COLS))
        self.outputs = np.zeros((n_modules, OUT_COLS))

    @property
    def n_modules(self) -> int:
        """Number of modules."""
        return int(self.state.shape[0])

    def step(self, inputs: np.ndarray, now_s: float, dt_s: float) -> np.ndarray:
        """Advance one step with ``inputs`` (modules, IN_COLS); return the outputs (modules, OUT_COLS)."""
        if inputs.shape != (self.n_modules, IN_COLS):
            raise ValueError(f"inputs must have shape ({self.n_modules}, {IN_COLS}), got {inputs.shape}")
        limits_step(self.state, self.params, np.ascontiguousarray(inputs, dtype=np.float64), self.outputs, now_s, dt_s)
        return self.outputs

    def limits(self, module_index: int) -> ChargeLimits:
        """The last CVL, DVL, CCL and DCL of one module."""
        o = self.outputs[module_index]
        return ChargeLimits(
            cvl_v=float(o[OUT_CVL_V]), dvl_v=float(o[OUT_DVL_V]), ccl_a=float(o[OUT_CCL_A]), dcl_a=float(o[OUT_DCL_A])
        )

    def mode(self, module_index: int) -> str:
        """The charge mode's name."""
        return MODE_NAMES[int(self.outputs[module_index, OUT_MODE])]

    def sources(self, module_index: int) -> tuple[str, str]:
        """What limits CCL and DCL, by name (serialbattery shows this)."""
        o = self.outputs[module_index]
        return SOURCE_NAMES[int(o[OUT_CCL_SOURCE])], SOURCE_NAMES[int(o[OUT_DCL_SOURCE])]
