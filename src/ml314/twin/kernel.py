"""The compiled step kernel: every cell of every module of a bank, one time step after another.

One call advances the bank ``n_steps`` steps of ``dt_s`` seconds (time-outer, so a controller can act between
calls) and may stop early when a watched threshold is crossed. Per step:

1. each cell is a Thevenin source over the step. With zero-order-hold current ``i`` the exact discretisation of
   the two RC pairs gives the end-of-step cell voltage
   ``v = U(soc, T) + h + a1*v1 + a2*v2 + (R0 + R1*(1 - a1) + R2*(1 - a2)) * i`` with ``a_k = exp(-dt/tau_k)``
   (``U`` is the data-sheet curve plus the cell's own deviation ``CP_OCV_OFFSET_V + CP_OCV_SLOPE_V (soc - 0.5)``),
   so a module is a source ``E_m`` with resistance ``R_m`` (cells in series plus MOSFETs and cable);
2. the bus bar is solved: modules in parallel share the bus voltage, ``I_m = (V - E_m) / R_m``; the inverter's
   request (a power or a current) is limited by CVL/CCL/DCL and the discharge voltage limit in closed form;
   a module whose MOSFET blocks the direction of its current is removed and the bus solved again;
3. cells advance: coulomb counting with coulombic efficiency and self-discharge, one-state hysteresis
   (Plett: ``h -> exp(-|i| gamma dt / Q) h + (1 - exp(...)) sign(i) M(soc)``, charge branch above),
   the RC pairs, heat (Joule, RC, hysteresis, coulombic, reversible ``i T dU/dT``) into a lumped cell node
   coupled to the module enclosure, which couples to ambient; MOSFET and BMS-board nodes per module.

Current is positive when charging. Arrays are grouped; the index constants below name their rows.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# cell_state rows, shape (CS_ROWS, modules, cells)
CS_SOC = 0
CS_HYST_V = 1
CS_V1_V = 2
CS_V2_V = 3
CS_TEMP_C = 4
CS_VOLTAGE_V = 5
CS_ABS_CHARGE_AS = 6
CS_BALANCE_S = 7
CS_ROWS = 8

# cell_par rows, shape (CP_ROWS, modules, cells): values at the reference temperature, ageing included
CP_INV_CHARGE_PER_AS = 0  # 1 / (capacity in ampere-seconds)
CP_R0_OHM = 1
CP_R1_OHM = 2
CP_R2_OHM = 3
CP_SELF_DISCHARGE_A = 4
CP_BALANCE_ON = 5
CP_OCV_OFFSET_V = 6  # the cell's own OCV deviation from the data-sheet (mean) curve at 50 % SOC, V
CP_OCV_SLOPE_V = 7  # ... and how it changes from 0 % to 100 % SOC (deviation = offset + slope (soc - 0.5)), V
CP_ROWS = 8

# cell_work rows, shape (CW_ROWS, modules, cells): the slow per-cell quantities, refreshed from cell_par every
# refresh_every steps. SOC and temperature move little within refresh_every steps (at 0.5C SOC moves 0.8 % a
# minute); the lookups that depend on them are refreshed with them.
CW_R0_OHM = 0  # R0 at (SOC, T)
CW_R1_OHM = 1  # R1 at (SOC, T)
CW_R2_OHM = 2  # R2 at (SOC, T)
CW_SELF_DISCHARGE_A = 3  # self-discharge current at T
CW_G1_S = 4  # 1 / R1
CW_G2_S = 5  # 1 / R2
CW_STEP_OHM = 6  # the step resistance R0 + R1 (1 - a1) + R2 (1 - a2)
CW_R1_STEP_OHM = 7  # R1 (1 - a1)
CW_R2_STEP_OHM = 8  # R2 (1 - a2)
CW_DUDT = 9  # dU/dT at SOC, V/K
CW_HYST_M = 10  # hysteresis half-gap M at SOC, V
CW_ENTROPIC_V = 11  # the entropic OCV offset dU/dT (T - Tref)
CW_DRAW_A = 12  # the current the cell feeds to its balancing resistor and the BMS supply
CW_ROWS = 13

# mod_state rows, shape (MS_ROWS, modules)
MS_ENCLOSURE_C = 0
MS_MOSFET_C = 1
MS_BOARD_C = 2
MS_CURRENT_A = 3
MS_VOLTAGE_V = 4
MS_ROWS = 5

# mod_par rows, shape (MP_ROWS, modules)
MP_MOSFET_OHM = 0
MP_CABLE_OHM = 1
MP_BMS_SUPPLY_A = 2
MP_CHARGE_FET_ON = 3
MP_DISCHARGE_FET_ON = 4
MP_BREAKER_CLOSED = 5
MP_ROWS = 6

# scalars
SC_A1 = 0
SC_A2 = 1
SC_GAMMA = 2
SC_COULOMBIC_EFF = 3
SC_CELL_HEAT_CAP = 4
SC_CELL_TO_ENCLOSURE = 5
SC_EA_OVER_R = 6
SC_T_REF_C = 7
SC_SELF_DISCHARGE_DOUBLING_K = 8
SC_BALANCE_OHM = 9
SC_ENCLOSURE_HEAT_CAP = 10
SC_ENCLOSURE_TO_AMBIENT = 11
SC_MOSFET_HEAT_CAP = 12
SC_MOSFET_TO_BOARD = 13
SC_BOARD_HEAT_CAP = 14
SC_BOARD_TO_ENCLOSURE = 15
SC_ROWS = 16

# inputs rows, shape (IN_ROWS, n_steps)
IN_REQUEST = 0  # W (MODE_POWER) or A (MODE_CURRENT), positive charging
IN_AMBIENT_C = 1
IN_PV_W = 2
IN_LOAD_W = 3
IN_GRID_UP = 4
IN_ROWS = 5

MODE_POWER = 0
MODE_CURRENT = 1
MODE_HOME = 2

# limits
LIM_CVL_V = 0
LIM_DVL_V = 1
LIM_CCL_A = 2
LIM_DCL_A = 3
LIM_ROWS = 4

# home inverter parameters
HP_MAX_POWER_W = 0
HP_EFFICIENCY = 1
HP_DISCHARGE_ALLOWED = 2
HP_GRID_CHARGE_W = 3
HP_STANDBY_W = 4
HP_ROWS = 5

# stop conditions (NaN disables)
ST_CELL_V_ABOVE = 0
ST_CELL_V_BELOW = 1
ST_CURRENT_BELOW_A = 2
ST_BUS_V_ABOVE = 3
ST_BUS_V_BELOW = 4
ST_ROWS = 5

# cumulative accumulators
AC_BATTERY_IN_J = 0
AC_BATTERY_OUT_J = 1
AC_PV_J = 2
AC_LOAD_J = 3
AC_GRID_IMPORT_J = 4
AC_GRID_EXPORT_J = 5
AC_CURTAILED_J = 6
AC_UNSERVED_J = 7
AC_CELL_LOSS_J = 8
AC_EXTERNAL_LOSS_J = 9
AC_BALANCING_J = 10
AC_BMS_SUPPLY_J = 11
AC_SELF_DISCHARGE_J = 12
AC_INVERTER_LOSS_J = 13
AC_CHARGE_AS = 14
AC_DISCHARGE_AS = 15
AC_REVERSIBLE_HEAT_J = 16
AC_ROWS = 17

# sample row layout: the bank columns, then the module columns once per module (prefix m01_, m02_, ...)
BANK_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("t_s", "s", "simulated time at the end of the output interval"),
    ("ambient_c", "degC", "ambient temperature"),
    ("grid_up", "1", "1 while the grid is available"),
    ("pv_w", "W", "PV power (interval mean)"),
    ("load_w", "W", "household load (interval mean)"),
    ("grid_w", "W", "grid power, import positive (interval mean)"),
    ("battery_w", "W", "battery DC power, charging positive (interval mean)"),
    ("curtailed_w", "W", "PV power that could not be used (interval mean)"),
    ("unserved_w", "W", "load that could not be supplied (interval mean)"),
    ("bus_voltage_v", "V", "bus-bar voltage"),
    ("bus_current_a", "A", "bank current, charging positive"),
)
MODULE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("current_a", "A", "module current, charging positive"),
    ("voltage_v", "V", "module terminal voltage"),
    ("soc", "1", "true module SOC (usable charge of the series string)"),
    ("cell_min_v", "V", "lowest cell voltage"),
    ("cell_max_v", "V", "highest cell voltage"),
    ("temp_min_c", "degC", "coldest cell"),
    ("temp_max_c", "degC", "warmest cell"),
    ("cell_min_index", "1", "which cell (1..16) is lowest"),
    ("cell_max_index", "1", "which cell (1..16) is highest"),
)
ROW_BANK_COLUMNS = len(BANK_COLUMNS)
ROW_MODULE_COLUMNS = len(MODULE_COLUMNS)


def column_index(columns: tuple[tuple[str, str, str], ...], name: str) -> int:
    """The position of column ``name`` in a (name, unit, description) layout."""
    return [c[0] for c in columns].index(name)


# the sample row's columns by name (the bank part; a module's part starts at ROW_BANK_COLUMNS + m * ROW_MODULE_COLUMNS)
COL_T_S = column_index(BANK_COLUMNS, "t_s")
COL_AMBIENT_C = column_index(BANK_COLUMNS, "ambient_c")
COL_GRID_UP = column_index(BANK_COLUMNS, "grid_up")
COL_PV_W = column_index(BANK_COLUMNS, "pv_w")
COL_LOAD_W = column_index(BANK_COLUMNS, "load_w")
COL_GRID_W = column_index(BANK_COLUMNS, "grid_w")
COL_BATTERY_W = column_index(BANK_COLUMNS, "battery_w")
COL_CURTAILED_W = column_index(BANK_COLUMNS, "curtailed_w")
COL_UNSERVED_W = column_index(BANK_COLUMNS, "unserved_w")
COL_BUS_VOLTAGE_V = column_index(BANK_COLUMNS, "bus_voltage_v")
COL_BUS_CURRENT_A = column_index(BANK_COLUMNS, "bus_current_a")
MC_CURRENT_A = column_index(MODULE_COLUMNS, "current_a")
MC_VOLTAGE_V = column_index(MODULE_COLUMNS, "voltage_v")
MC_SOC = column_index(MODULE_COLUMNS, "soc")
MC_CELL_MIN_V = column_index(MODULE_COLUMNS, "cell_min_v")
MC_CELL_MAX_V = column_index(MODULE_COLUMNS, "cell_max_v")
MC_TEMP_MIN_C = column_index(MODULE_COLUMNS, "temp_min_c")
MC_TEMP_MAX_C = column_index(MODULE_COLUMNS, "temp_max_c")
MC_CELL_MIN_INDEX = column_index(MODULE_COLUMNS, "cell_min_index")
MC_CELL_MAX_INDEX = column_index(MODULE_COLUMNS, "cell_max_index")

# the running interval sums of the power columns (sums rows), carried across calls; written as interval means
SUM_PV_W = 0
SUM_LOAD_W = 1
SUM_GRID_W = 2
SUM_BATTERY_W = 3
SUM_CURTAILED_W = 4
SUM_UNSERVED_W = 5
SUM_ROWS = 6

_GAS_CONSTANT = 8.314462618
_KELVIN = 273.15
_GRID_MAX = 100  # the uniform SOC grid has _GRID_MAX + 1 points


@njit(cache=True, inline="always")
def _grid_index(soc: float) -> tuple[int, float]:
    x = soc * _GRID_MAX
    if x <= 0.0:
        return 0, x
    if x >= _GRID_MAX:
        return _GRID_MAX - 1, x - (_GRID_MAX - 1)
    i = int(x)
    return i, x - i


@njit(cache=True, error_model="numpy")
def refresh_resistance(
    cell_state: np.ndarray,
    cell_par: np.ndarray,
    cell_work: np.ndarray,
    rfac_tab: np.ndarray,
    hys_tab: np.ndarray,
    dudt_tab: np.ndarray,
    mod_par: np.ndarray,
    sc: np.ndarray,
) -> None:
    """Re-evaluate the slow per-cell quantities of ``cell_work`` (see ``CW_ROWS``)."""
    n_mod = cell_state.shape[1]
    n_cell = cell_state.shape[2]
    t_ref_k = sc[SC_T_REF_C] + _KELVIN
    for m in range(n_mod):
        for c in range(n_cell):
            t_c = cell_state[CS_TEMP_C, m, c]
            s = min(max(cell_state[CS_SOC, m, c], 0.0), 1.0)
            i, f = _grid_index(s)
            rf = rfac_tab[i] + (rfac_tab[i + 1] - rfac_tab[i]) * f
            arr = math.exp(sc[SC_EA_OVER_R] * (1.0 / (t_c + _KELVIN) - 1.0 / t_ref_k)) * rf
            cell_work[CW_R0_OHM, m, c] = cell_par[CP_R0_OHM, m, c] * arr
            cell_work[CW_R1_OHM, m, c] = cell_par[CP_R1_OHM, m, c] * arr
            cell_work[CW_R2_OHM, m, c] = cell_par[CP_R2_OHM, m, c] * arr
            cell_work[CW_SELF_DISCHARGE_A, m, c] = cell_par[CP_SELF_DISCHARGE_A, m, c] * 2.0 ** (
                (t_c - sc[SC_T_REF_C]) / sc[SC_SELF_DISCHARGE_DOUBLING_K]
            )
            cell_work[CW_G1_S, m, c] = 1.0 / cell_work[CW_R1_OHM, m, c]
            cell_work[CW_G2_S, m, c] = 1.0 / cell_work[CW_R2_OHM, m, c]
            cell_work[CW_R1_STEP_OHM, m, c] = cell_work[CW_R1_OHM, m, c] * (1.0 - sc[SC_A1])
            cell_work[CW_R2_STEP_OHM, m, c] = cell_work[CW_R2_OHM, m, c] * (1.0 - sc[SC_A2])
            cell_work[CW_STEP_OHM, m, c] = (
                cell_work[CW_R0_OHM, m, c] + cell_work[CW_R1_STEP_OHM, m, c] + cell_work[CW_R2_STEP_OHM, m, c]
            )
            dudt = dudt_tab[i] + (dudt_tab[i + 1] - dudt_tab[i]) * f
            cell_work[CW_DUDT, m, c] = dudt
            cell_work[CW_HYST_M, m, c] = hys_tab[i] + (hys_tab[i + 1] - hys_tab[i]) * f
            cell_work[CW_ENTROPIC_V, m, c] = dudt * (t_c - sc[SC_T_REF_C])
            draw = mod_par[MP_BMS_SUPPLY_A, m]
            if cell_par[CP_BALANCE_ON, m, c] > 0.5:
                draw += cell_state[CS_VOLTAGE_V, m, c] / sc[SC_BALANCE_OHM]
            cell_work[CW_DRAW_A, m, c] = draw


FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}


@njit(cache=True, error_model="numpy", fastmath=FAST, inline="always")
def module_sources(
    ocv_tab: np.ndarray,
    cell_state: np.ndarray,
    cell_par: np.ndarray,
    cell_work: np.ndarray,
    mod_par: np.ndarray,
    sc: np.ndarray,
    e_m: np.ndarray,
    r_m: np.ndarray,
    active: np.ndarray,
    u_cell: np.ndarray,
) -> None:
    """Each module as a Thevenin source over the coming step: ``e_m``, ``r_m``; ``active`` if it can conduct."""
    n_mod = cell_state.shape[1]
    n_cell = cell_state.shape[2]
    a1 = sc[SC_A1]
    a2 = sc[SC_A2]
    for m in range(n_mod):
        e_sum = 0.0
        r_sum = 0.0
        for c in range(n_cell):
            soc_c = cell_state[CS_SOC, m, c]
            i, f = _grid_index(soc_c)
            u = (
                ocv_tab[i]
                + (ocv_tab[i + 1] - ocv_tab[i]) * f
                + cell_work[CW_ENTROPIC_V, m, c]
                + cell_par[CP_OCV_OFFSET_V, m, c]
                + cell_par[CP_OCV_SLOPE_V, m, c] * (soc_c - 0.5)
            )
            u_cell[m, c] = u
            reff = cell_work[CW_STEP_OHM, m, c]
            d = cell_work[CW_DRAW_A, m, c]
            e_sum += (
                u
                + cell_state[CS_HYST_V, m, c]
                + a1 * cell_state[CS_V1_V, m, c]
                + a2 * cell_state[CS_V2_V, m, c]
                - reff * d
            )
            r_sum += reff
        e_m[m] = e_sum
        r_m[m] = r_sum + mod_par[MP_MOSFET_OHM, m] + mod_par[MP_CABLE_OHM, m]
        active[m] = mod_par[MP_BREAKER_CLOSED, m] > 0.5 and (
            mod_par[MP_CHARGE_FET_ON, m] > 0.5 or mod_par[MP_DISCHARGE_FET_ON, m] > 0.5
        )


@njit(cache=True, error_model="numpy", fastmath=FAST, inline="always")
def home_request(k: int, inputs: np.ndarray, home: np.ndarray) -> float:
    """The DC power the hybrid inverter asks of the battery at step ``k`` (positive = charge)."""
    surplus = inputs[IN_PV_W, k] - inputs[IN_LOAD_W, k]
    if inputs[IN_GRID_UP, k] > 0.5:
        p_ac_req = surplus
        if p_ac_req < 0.0 and home[HP_DISCHARGE_ALLOWED] < 0.5:
            p_ac_req = 0.0
        p_ac_req += home[HP_GRID_CHARGE_W]
    else:
        p_ac_req = surplus
    p_ac_req = min(max(p_ac_req, -home[HP_MAX_POWER_W]), home[HP_MAX_POWER_W])
    eff = float(home[HP_EFFICIENCY])
    return float(p_ac_req * eff if p_ac_req > 0.0 else p_ac_req / eff)


@njit(cache=True, error_model="numpy", fastmath=FAST, inline="always")
def solve_bus(
    mode: int,
    req: float,
    cvl: float,
    dvl: float,
    ccl: float,
    dcl: float,
    e_m: np.ndarray,
    r_m: np.ndarray,
    active: np.ndarray,
    mod_par: np.ndarray,
    i_m: np.ndarray,
) -> tuple[float, float]:
    """Solve the bus bar for a current (MODE_CURRENT) or power request within the limits; fill ``i_m``; return
    (bus voltage, bus current). Modules whose MOSFET blocks their current are dropped and the bus solved again."""
    n_mod = e_m.shape[0]
    i_bus = 0.0
    v_bus = 0.0
    for _ in range(n_mod + 1):
        g_sum = 0.0
        j_sum = 0.0
        for m in range(n_mod):
            if active[m]:
                g_sum += 1.0 / r_m[m]
                j_sum += e_m[m] / r_m[m]
        if g_sum == 0.0:
            i_bus = 0.0
            v_bus = 0.0
            break
        r_th = 1.0 / g_sum
        e_th = j_sum * r_th
        i_hi = min(ccl, max(0.0, (cvl - e_th) / r_th))
        i_lo = -min(dcl, max(0.0, (e_th - dvl) / r_th))
        if mode == MODE_CURRENT:
            i_bus = req
        else:
            disc = e_th * e_th + 4.0 * r_th * req
            i_bus = (-e_th + math.sqrt(disc)) / (2.0 * r_th) if disc > 0.0 else -e_th / (2.0 * r_th)
        i_bus = min(max(i_bus, i_lo), i_hi)
        v_bus = e_th + r_th * i_bus
        changed = False
        for m in range(n_mod):
            if active[m]:
                im = (v_bus - e_m[m]) / r_m[m]
                if (im > 0.0 and mod_par[MP_CHARGE_FET_ON, m] < 0.5) or (
                    im < 0.0 and mod_par[MP_DISCHARGE_FET_ON, m] < 0.5
                ):
                    active[m] = False
                    changed = True
        if not changed:
            break
    for m in range(n_mod):
        i_m[m] = (v_bus - e_m[m]) / r_m[m] if active[m] else 0.0

    return v_bus, i_bus


@njit(cache=True, error_model="numpy", fastmath=FAST, inline="always")
def advance_cells(
    dt_s: float,
    amb: float,
    cell_state: np.ndarray,
    cell_par: np.ndarray,
    cell_work: np.ndarray,
    mod_state: np.ndarray,
    mod_par: np.ndarray,
    sc: np.ndarray,
    u_cell: np.ndarray,
    e_m: np.ndarray,
    active: np.ndarray,
    i_m: np.ndarray,
    acc: np.ndarray,
) -> tuple[float, float]:
    """Advance every cell and each module's thermal nodes by one step; return (highest, lowest) cell voltage."""
    n_mod = cell_state.shape[1]
    n_cell = cell_state.shape[2]
    a1 = sc[SC_A1]
    a2 = sc[SC_A2]
    gamma_dt = sc[SC_GAMMA] * dt_s
    eff_c = sc[SC_COULOMBIC_EFF]
    g_ce = sc[SC_CELL_TO_ENCLOSURE]
    dt_over_cth = dt_s / sc[SC_CELL_HEAT_CAP]
    cell_v_max = -1.0e9
    cell_v_min = 1.0e9
    loss_cell = 0.0
    heat_rev = 0.0
    loss_sd = 0.0
    for m in range(n_mod):
        im = i_m[m]
        q_to_enclosure = 0.0
        q_bal = 0.0
        bms_a = mod_par[MP_BMS_SUPPLY_A, m]
        t_enc = mod_state[MS_ENCLOSURE_C, m]
        v_mod = 0.0
        for c in range(n_cell):
            d = cell_work[CW_DRAW_A, m, c]
            i_c = im - d
            inv_q = cell_par[CP_INV_CHARGE_PER_AS, m, c]
            soc = cell_state[CS_SOC, m, c]
            h = cell_state[CS_HYST_V, m, c]
            u = u_cell[m, c]
            r0 = cell_work[CW_R0_OHM, m, c]
            sd = cell_work[CW_SELF_DISCHARGE_A, m, c]
            v1n = a1 * cell_state[CS_V1_V, m, c] + cell_work[CW_R1_STEP_OHM, m, c] * i_c
            v2n = a2 * cell_state[CS_V2_V, m, c] + cell_work[CW_R2_STEP_OHM, m, c] * i_c
            v_c = u + h + v1n + v2n + r0 * i_c
            eta = eff_c if i_c > 0.0 else 1.0
            # one-state hysteresis toward the branch of the current's sign; exp(-x) by its series while
            # x is small (|error| < x^4/24 < 1e-9 relative), which it is for any current a cell survives
            x = abs(i_c) * gamma_dt * inv_q
            eh = 1.0 - x * (1.0 - x * (0.5 - x * (1.0 / 6.0))) if x < 0.01 else math.exp(-x)
            hm = cell_work[CW_HYST_M, m, c]
            target = hm if i_c >= 0.0 else -hm
            cell_state[CS_HYST_V, m, c] = eh * h + (1.0 - eh) * target
            cell_state[CS_SOC, m, c] = soc + (eta * i_c - sd) * dt_s * inv_q
            cell_state[CS_V1_V, m, c] = v1n
            cell_state[CS_V2_V, m, c] = v2n
            cell_state[CS_VOLTAGE_V, m, c] = v_c
            cell_state[CS_ABS_CHARGE_AS, m, c] += abs(i_c) * dt_s
            t_c = cell_state[CS_TEMP_C, m, c]
            q_irr = (
                r0 * i_c * i_c
                + v1n * v1n * cell_work[CW_G1_S, m, c]
                + v2n * v2n * cell_work[CW_G2_S, m, c]
                + h * i_c
                + (1.0 - eta) * u * i_c
            )
            q_rev = i_c * (t_c + _KELVIN) * cell_work[CW_DUDT, m, c]
            q_ce = g_ce * (t_c - t_enc)
            cell_state[CS_TEMP_C, m, c] = t_c + dt_over_cth * (q_irr + q_rev - q_ce)
            q_to_enclosure += q_ce
            loss_cell += q_irr
            heat_rev += q_rev
            loss_sd += u * sd
            if d > bms_a:
                cell_state[CS_BALANCE_S, m, c] += dt_s
                q_bal += (d - bms_a) * v_c
            v_mod += v_c
            cell_v_max = max(cell_v_max, v_c)
            cell_v_min = min(cell_v_min, v_c)
        q_bms = bms_a * v_mod
        r_fet = mod_par[MP_MOSFET_OHM, m]
        r_cab = mod_par[MP_CABLE_OHM, m]
        q_fet = im * im * r_fet
        t_fet = mod_state[MS_MOSFET_C, m]
        t_brd = mod_state[MS_BOARD_C, m]
        q_fb = sc[SC_MOSFET_TO_BOARD] * (t_fet - t_brd)
        q_be = sc[SC_BOARD_TO_ENCLOSURE] * (t_brd - t_enc)
        q_ea = sc[SC_ENCLOSURE_TO_AMBIENT] * (t_enc - amb)
        mod_state[MS_MOSFET_C, m] = t_fet + dt_s / sc[SC_MOSFET_HEAT_CAP] * (q_fet - q_fb)
        mod_state[MS_BOARD_C, m] = t_brd + dt_s / sc[SC_BOARD_HEAT_CAP] * (q_bal + q_bms + q_fb - q_be)
        mod_state[MS_ENCLOSURE_C, m] = t_enc + dt_s / sc[SC_ENCLOSURE_HEAT_CAP] * (q_to_enclosure + q_be - q_ea)
        mod_state[MS_CURRENT_A, m] = im
        mod_state[MS_VOLTAGE_V, m] = v_mod + (r_fet + r_cab) * im if active[m] else e_m[m]
        acc[AC_EXTERNAL_LOSS_J] += im * im * (r_fet + r_cab) * dt_s
        acc[AC_CELL_LOSS_J] += loss_cell * dt_s
        acc[AC_REVERSIBLE_HEAT_J] += heat_rev * dt_s
        acc[AC_SELF_DISCHARGE_J] += loss_sd * dt_s
        loss_cell = 0.0
        heat_rev = 0.0
        loss_sd = 0.0
        acc[AC_BALANCING_J] += q_bal * dt_s
        acc[AC_BMS_SUPPLY_J] += q_bms * dt_s

    return cell_v_max, cell_v_min


@njit(cache=True, error_model="numpy", fastmath=FAST, inline="always")
def step_bank(
    dt_s: float,
    mode: int,
    req: float,
    cvl: float,
    dvl: float,
    ccl: float,
    dcl: float,
    amb: float,
    ocv_tab: np.ndarray,
    cell_state: np.ndarray,
    cell_par: np.ndarray,
    cell_work: np.ndarray,
    mod_state: np.ndarray,
    mod_par: np.ndarray,
    sc: np.ndarray,
    acc: np.ndarray,
    e_m: np.ndarray,
    r_m: np.ndarray,
    active: np.ndarray,
    u_cell: np.ndarray,
    i_m: np.ndarray,
) -> tuple[float, float, float, float]:
    """One step of the bank for a request within limits: (bus voltage, bus current, highest cell, lowest cell).

    The scratch arrays ``e_m``, ``r_m``, ``active`` (bool), ``u_cell`` and ``i_m`` belong to the caller."""
    module_sources(ocv_tab, cell_state, cell_par, cell_work, mod_par, sc, e_m, r_m, active, u_cell)
    v_bus, i_bus = solve_bus(mode, req, cvl, dvl, ccl, dcl, e_m, r_m, active, mod_par, i_m)
    v_max, v_min = advance_cells(
        dt_s, amb, cell_state, cell_par, cell_work, mod_state, mod_par, sc, u_cell, e_m, active, i_m, acc
    )
    return v_bus, i_bus, v_max, v_min


@njit(cache=True, error_model="numpy", fastmath=FAST, inline="always")
def account_energy(
    k: int,
    mode: int,
    dt_s: float,
    v_bus: float,
    i_bus: float,
    inputs: np.ndarray,
    home: np.ndarray,
    acc: np.ndarray,
    sums: np.ndarray,
) -> None:
    """Energy flows of the battery (and of the home system in MODE_HOME) into ``acc`` and the interval ``sums``."""
    p_dc = v_bus * i_bus
    if p_dc > 0.0:
        acc[AC_BATTERY_IN_J] += p_dc * dt_s
        acc[AC_CHARGE_AS] += i_bus * dt_s
    else:
        acc[AC_BATTERY_OUT_J] -= p_dc * dt_s
        acc[AC_DISCHARGE_AS] -= i_bus * dt_s
    pv = 0.0
    load = 0.0
    grid = 0.0
    curtailed = 0.0
    unserved = 0.0
    if mode == MODE_HOME:
        eff = home[HP_EFFICIENCY]
        p_ac = p_dc / eff if p_dc > 0.0 else p_dc * eff
        standby = home[HP_STANDBY_W]
        acc[AC_INVERTER_LOSS_J] += (abs(p_ac - p_dc) + standby) * dt_s
        pv = inputs[IN_PV_W, k]
        load = inputs[IN_LOAD_W, k]
        if inputs[IN_GRID_UP, k] > 0.5:
            grid = load - pv + p_ac + standby
            if grid > 0.0:
                acc[AC_GRID_IMPORT_J] += grid * dt_s
            else:
                acc[AC_GRID_EXPORT_J] -= grid * dt_s
        else:
            balance = pv - load - p_ac - standby
            if balance > 0.0:
                curtailed = balance
            else:
                unserved = -balance
        acc[AC_PV_J] += (pv - curtailed) * dt_s
        acc[AC_LOAD_J] += (load - unserved) * dt_s
        acc[AC_CURTAILED_J] += curtailed * dt_s
        acc[AC_UNSERVED_J] += unserved * dt_s
    sums[SUM_PV_W] += pv
    sums[SUM_LOAD_W] += load
    sums[SUM_GRID_W] += grid
    sums[SUM_BATTERY_W] += p_dc
    sums[SUM_CURTAILED_W] += curtailed
    sums[SUM_UNSERVED_W] += unserved


@njit(cache=True, error_model="numpy", fastmath=FAST, inline="always")
def write_row(
    row: np.ndarray,
    t_s: float,
    amb: float,
    grid_up: float,
    v_bus: float,
    i_bus: float,
    sample_every: int,
    sums: np.ndarray,
    cell_state: np.ndarray,
    cell_par: np.ndarray,
    mod_state: np.ndarray,
) -> None:
    """One sample row (``BANK_COLUMNS`` then ``MODULE_COLUMNS`` per module); resets the interval sums."""
    n_mod = cell_state.shape[1]
    n_cell = cell_state.shape[2]
    inv_n = 1.0 / sample_every
    row[COL_T_S] = t_s
    row[COL_AMBIENT_C] = amb
    row[COL_GRID_UP] = grid_up
    row[COL_PV_W] = sums[SUM_PV_W] * inv_n
    row[COL_LOAD_W] = sums[SUM_LOAD_W] * inv_n
    row[COL_GRID_W] = sums[SUM_GRID_W] * inv_n
    row[COL_BATTERY_W] = sums[SUM_BATTERY_W] * inv_n
    row[COL_CURTAILED_W] = sums[SUM_CURTAILED_W] * inv_n
    row[COL_UNSERVED_W] = sums[SUM_UNSERVED_W] * inv_n
    for j in range(SUM_ROWS):
        sums[j] = 0.0
    row[COL_BUS_VOLTAGE_V] = v_bus
    row[COL_BUS_CURRENT_A] = i_bus
    for m in range(n_mod):
        base = ROW_BANK_COLUMNS + m * ROW_MODULE_COLUMNS
        q_dis = 1.0e30
        q_chg = 1.0e30
        v_lo = 1.0e9
        v_hi = -1.0e9
        t_lo = 1.0e9
        t_hi = -1.0e9
        i_lo = 0
        i_hi = 0
        for c in range(n_cell):
            q_as = 1.0 / cell_par[CP_INV_CHARGE_PER_AS, m, c]
            s = cell_state[CS_SOC, m, c]
            q_dis = min(q_dis, s * q_as)
            q_chg = min(q_chg, (1.0 - s) * q_as)
            if cell_state[CS_VOLTAGE_V, m, c] < v_lo:
                v_lo = cell_state[CS_VOLTAGE_V, m, c]
                i_lo = c
            if cell_state[CS_VOLTAGE_V, m, c] > v_hi:
                v_hi = cell_state[CS_VOLTAGE_V, m, c]
                i_hi = c
            t_lo = min(t_lo, cell_state[CS_TEMP_C, m, c])
            t_hi = max(t_hi, cell_state[CS_TEMP_C, m, c])
        q_dis = max(q_dis, 0.0)
        q_chg = max(q_chg, 0.0)
        row[base + MC_CURRENT_A] = mod_state[MS_CURRENT_A, m]
        row[base + MC_VOLTAGE_V] = mod_state[MS_VOLTAGE_V, m]
        row[base + MC_SOC] = q_dis / (q_dis + q_chg) if q_dis + q_chg > 0.0 else 0.0
        row[base + MC_CELL_MIN_V] = v_lo
        row[base + MC_CELL_MAX_V] = v_hi
        row[base + MC_TEMP_MIN_C] = t_lo
        row[base + MC_TEMP_MAX_C] = t_hi
        row[base + MC_CELL_MIN_INDEX] = i_lo + 1
        row[base + MC_CELL_MAX_INDEX] = i_hi + 1


@njit(cache=True, error_model="numpy", fastmath=FAST, nogil=True)
def run_steps(
    n_steps: int,
    dt_s: float,
    step0: int,
    mode: int,
    ocv_tab: np.ndarray,
    hys_tab: np.ndarray,
    dudt_tab: np.ndarray,
    rfac_tab: np.ndarray,
    cell_state: np.ndarray,
    cell_par: np.ndarray,
    cell_work: np.ndarray,
    mod_state: np.ndarray,
    mod_par: np.ndarray,
    sc: np.ndarray,
    inputs: np.ndarray,
    limits: np.ndarray,
    home: np.ndarray,
    stops: np.ndarray,
    refresh_every: int,
    sample_every: int,
    rows: np.ndarray,
    acc: np.ndarray,
    sums: np.ndarray,
) -> tuple[int, int]:
    """Advance ``n_steps`` steps; return (steps done, sample rows written into ``rows``).

    ``step0`` is the global index of the first step (it phases the resistance refresh and the sampling).
    ``sums`` (SUM_ROWS floats) carries the running interval sums of the power columns across calls.
    """
    n_mod = cell_state.shape[1]
    n_cell = cell_state.shape[2]
    e_m = np.empty(n_mod)
    r_m = np.empty(n_mod)
    i_m = np.zeros(n_mod)
    active = np.empty(n_mod, dtype=np.bool_)
    u_cell = np.empty((n_mod, n_cell))
    n_rows = 0
    for k in range(n_steps):
        g_step = step0 + k
        if k == 0 or g_step % refresh_every == 0:
            refresh_resistance(cell_state, cell_par, cell_work, rfac_tab, hys_tab, dudt_tab, mod_par, sc)
        amb = inputs[IN_AMBIENT_C, k]
        req = home_request(k, inputs, home) if mode == MODE_HOME else inputs[IN_REQUEST, k]
        v_bus, i_bus, cell_v_max, cell_v_min = step_bank(
            dt_s,
            mode,
            req,
            limits[LIM_CVL_V],
            limits[LIM_DVL_V],
            limits[LIM_CCL_A],
            limits[LIM_DCL_A],
            amb,
            ocv_tab,
            cell_state,
            cell_par,
            cell_work,
            mod_state,
            mod_par,
            sc,
            acc,
            e_m,
            r_m,
            active,
            u_cell,
            i_m,
        )
        account_energy(k, mode, dt_s, v_bus, i_bus, inputs, home, acc, sums)
        if (g_step + 1) % sample_every == 0:
            grid_up = inputs[IN_GRID_UP, k] if mode == MODE_HOME else 1.0
            write_row(
                rows[n_rows],
                (g_step + 1) * dt_s,
                amb,
                grid_up,
                v_bus,
                i_bus,
                sample_every,
                sums,
                cell_state,
                cell_par,
                mod_state,
            )
            n_rows += 1
        # 7. watched thresholds end the call early so the caller can act
        if cell_v_max >= stops[ST_CELL_V_ABOVE] or cell_v_min <= stops[ST_CELL_V_BELOW]:
            return k + 1, n_rows
        if abs(i_bus) < stops[ST_CURRENT_BELOW_A]:
            return k + 1, n_rows
        if v_bus >= stops[ST_BUS_V_ABOVE] or v_bus <= stops[ST_BUS_V_BELOW]:
            return k + 1, n_rows
    return n_steps, n_rows
