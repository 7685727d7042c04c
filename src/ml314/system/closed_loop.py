"""The twin, its sensors and every module's BMS in one compiled loop: ``ml314 simulate`` with the BMS at speed.

Each second of every module runs the same compiled functions the BMS's Python wrappers call (quantities,
protection table, SOC estimator, balancing, limits, counters), in the order of :class:`ml314.bms.bms.Bms`:
``measure`` (phase A), the state machines (``decide``), then ``control`` (phase B). The state machines stay in
Python; the loop returns to Python only on a second where one of them could act, and then *before* phase B, so the
decisions are exactly those of a BMS stepped every second:

* a protection row tripped, released, locked or latched;
* a module's measured current crossed a threshold its state machine reads in its present state (``watch``: the
  wake current in Standby, Sleep and Protection, the start of the other direction and the rest band in Charge and
  Discharge);
* a sleeping module's voltage fell below the BMS's 40 V supply limit;
* a timer of a state machine fell due (rest hold, sleep after low-voltage protection, the MOSFET oscillation guard),
  given as ``next_wakeup_s``.

Between those seconds the MOSFETs and the BMS power states do not change, so the loop keeps them. Balancing
switches and the bank limits are applied at the end of each second for the next, as in
:class:`ml314.system.reference_system.ReferenceBankSystem`, which is the reference this loop is tested against.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ml314.bms.balancing import balancing_step
from ml314.bms.events import add_balancing, update_counters
from ml314.bms.leds import LedMode, led_bits
from ml314.bms.limits import (
    IN_BALANCING,
    IN_BANK_FULL_REQUEST,
    IN_CELL_MAX_V,
    IN_CELL_MIN_V,
    IN_CHARGE_ALLOWED,
    IN_DERATE_CHARGE,
    IN_DERATE_DISCHARGE,
    IN_DISCHARGE_ALLOWED,
    IN_MOSFET_C,
    IN_PACK_V,
    IN_SOC,
    IN_SOC_BOUND,
    IN_TEMPERATURE_MAX_C,
    IN_TEMPERATURE_MIN_C,
    OUT_CCL_A,
    OUT_CVL_V,
    OUT_DCL_A,
    OUT_DVL_V,
    OUT_FULL_CHARGE_REQUEST,
    OUT_MODE,
    limits_step,
)
from ml314.bms.limits_control import MODE_FLOAT
from ml314.bms.protection import ACT_DERATE, ACT_OPEN_CHARGE, ACT_OPEN_DISCHARGE, evaluate
from ml314.bms.quantities import (
    Q_BOARD_TEMPERATURE_C,
    Q_CELL_TEMPERATURE_MAX_C,
    Q_CELL_TEMPERATURE_MIN_C,
    Q_CELL_VOLTAGE_MAX_V,
    Q_CELL_VOLTAGE_MIN_V,
    Q_MOSFET_TEMPERATURE_C,
    Q_PACK_VOLTAGE_V,
    compute_quantities,
)
from ml314.bms.soc import soc_step
from ml314.bms.soc.common import S_REQUEST_BOUND, S_SOC, S_UNCERTAINTY
from ml314.system.limit_kernel import (
    MT_CCL,
    MT_CVL,
    MT_DCL,
    MT_DVL,
    MT_I,
    MT_ON,
    MT_RES,
    MT_ROWS,
    WORK_ROWS,
    bank_limits,
)
from ml314.system.link_kernel import link_second
from ml314.twin import kernel as k
from ml314.twin.sensor_kernel import read_sensors

# BMS sample columns: bank limits, then per module
BMS_BANK_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("bank_cvl_v", "V", "charge voltage limit the inverter sees"),
    ("bank_ccl_a", "A", "charge current limit the inverter sees"),
    ("bank_dcl_a", "A", "discharge current limit the inverter sees"),
)
BMS_MODULE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("bms_soc", "1", "SOC the BMS reports"),
    ("bms_state", "1", "BMS state (0 shutdown, 1 sleep, 2 standby, 3 charge, 4 discharge, 5 protection, 6 fault)"),
    ("cvl_v", "V", "module charge voltage limit"),
    ("ccl_a", "A", "module charge current limit"),
    ("dcl_a", "A", "module discharge current limit"),
    ("leds", "1", "LED bits: 1 RUN, 2 ALM, 4/8/16/32 SOC1-4"),
    ("bms_soc_bound", "1", "the BMS's bound on |SOC error|"),
    ("full_charge_request", "1", "1 while the module asks the inverter for a full charge"),
)
ROW_BMS_BANK = len(BMS_BANK_COLUMNS)
ROW_BMS_MODULE = len(BMS_MODULE_COLUMNS)
# control_step's scratch (rows of one value per module): the bank-limit module table, the limit kernel's rows, then
# the per-module values phase B gathers (kept here so that a second allocates nothing)
BW_TEMPERATURE_MAX_C = MT_ROWS + WORK_ROWS
BW_BOARD_C = BW_TEMPERATURE_MAX_C + 1
BW_INHIBIT = BW_TEMPERATURE_MAX_C + 2
BW_SOC = BW_TEMPERATURE_MAX_C + 3
BW_PACK_V = BW_TEMPERATURE_MAX_C + 4
BW_TEMPERATURE_MIN_C = BW_TEMPERATURE_MAX_C + 5
BANK_WORK_ROWS = BW_TEMPERATURE_MAX_C + 6
# the BMS columns by name (a module's part starts at ROW_BMS_BANK + m * ROW_BMS_MODULE)
BC_CVL_V = k.column_index(BMS_BANK_COLUMNS, "bank_cvl_v")
BC_CCL_A = k.column_index(BMS_BANK_COLUMNS, "bank_ccl_a")
BC_DCL_A = k.column_index(BMS_BANK_COLUMNS, "bank_dcl_a")
BMC_SOC = k.column_index(BMS_MODULE_COLUMNS, "bms_soc")
BMC_STATE = k.column_index(BMS_MODULE_COLUMNS, "bms_state")
BMC_CVL_V = k.column_index(BMS_MODULE_COLUMNS, "cvl_v")
BMC_CCL_A = k.column_index(BMS_MODULE_COLUMNS, "ccl_a")
BMC_DCL_A = k.column_index(BMS_MODULE_COLUMNS, "dcl_a")
BMC_LEDS = k.column_index(BMS_MODULE_COLUMNS, "leds")
BMC_SOC_BOUND = k.column_index(BMS_MODULE_COLUMNS, "bms_soc_bound")
BMC_FULL_CHARGE_REQUEST = k.column_index(BMS_MODULE_COLUMNS, "full_charge_request")

# Bank limits array (4,): CVL, DVL, CCL, DCL (the twin kernel's limit row)
BL_CVL = k.LIM_CVL_V
BL_DVL = k.LIM_DVL_V
BL_CCL = k.LIM_CCL_A
BL_DCL = k.LIM_DCL_A

# loop scalars (float64 array): the state machines' current thresholds, the BMS supply limit
LS_WAKE_A = 0
LS_REST_A = 1
LS_RESTART_V = 2
LS_REST_CURRENT_A = 3  # the BMS's own rest current (balancing, SOC)
LS_REST_HOLD_S = 4  # the state machine's rest hold (states.py REST_HOLD_S)
LS_ROWS = 5

# what the last step left for the caller (to complete an event step)
SI_BUS_V = 0
SI_BUS_A = 1
SI_AMBIENT_C = 2
SI_GRID_UP = 3
SI_ROWS = 4

# why run_closed_loop returned
STOP_NONE = 0  # every step done
STOP_BMS = 1  # a state machine may act: phase A of the last step done, the caller completes it
STOP_LINK = 2  # the bank link cannot run the next second compiled: the caller runs it on bytes

_CHARGE_NORMAL = int(LedMode.CHARGE_NORMAL)
_STANDBY = int(LedMode.STANDBY)
_END_OFF = int(LedMode.CHARGE_END_OFF_VOLTAGE)


# which current thresholds a module's state machine reads in its present state (bits of a watch mask)
W_ABOVE_WAKE = 1  # I > wake: charging starts / wakes / resets the sleep timer
W_BELOW_WAKE = 2  # I < -wake: discharging starts
W_REST = 4  # |I| < rest (as a flag; the loop keeps the rest timer itself, see W_REST_TIMER)
W_REST_TIMER = 8  # keep the Charge/Discharge rest timer here; return when rest has held rest_hold_s


@njit(cache=True, error_model="numpy")
def current_flags(current_a: float, wake_a: float, rest_a: float) -> int:
    """The current's position against the state machines' thresholds, as W_* bits."""
    flags = 0
    if current_a > wake_a:
        flags |= W_ABOVE_WAKE
    if current_a < -wake_a:
        flags |= W_BELOW_WAKE
    if abs(current_a) < rest_a:
        flags |= W_REST
    return flags


@njit(cache=True, error_model="numpy")
def control_step(
    now_s: float,
    dt_s: float,
    rd_cell_v: np.ndarray,
    rd_current: np.ndarray,
    quantities: np.ndarray,
    actions: np.ndarray,
    charge_fet: np.ndarray,
    discharge_fet: np.ndarray,
    running: np.ndarray,
    rest_s: np.ndarray,
    soc_state: np.ndarray,
    bal_state: np.ndarray,
    bal_params: np.ndarray,
    bal_mask: np.ndarray,
    lim_state: np.ndarray,
    lim_params: np.ndarray,
    lim_inputs: np.ndarray,
    lim_outputs: np.ndarray,
    counter_values: np.ndarray,
    counter_thresholds: np.ndarray,
    counter_capacity: np.ndarray,
    balancing_s: np.ndarray,
    cell_par: np.ndarray,
    bank_lim: np.ndarray,
    bank_work: np.ndarray,
    keep_limits: bool,
) -> bool:
    """Phase B of one second (``Bms.control`` without the logging) and what it leaves for the next second: the
    balancing switches into the twin and the bank limits (``bank_work``: scratch of :data:`BANK_WORK_ROWS` rows of
    one value per module), unless ``keep_limits``. Returns True if a balancing switch changed."""
    n = rd_current.shape[0]
    n_cells = rd_cell_v.shape[1]
    tmax = bank_work[BW_TEMPERATURE_MAX_C]
    board = bank_work[BW_BOARD_C]
    inhibit = bank_work[BW_INHIBIT]
    soc = bank_work[BW_SOC]
    for m in range(n):
        tmax[m] = quantities[m, Q_CELL_TEMPERATURE_MAX_C]
        board[m] = quantities[m, Q_BOARD_TEMPERATURE_C]
        opened = (actions[m] & (ACT_OPEN_CHARGE | ACT_OPEN_DISCHARGE)) != 0
        inhibit[m] = 1.0 if opened or running[m] < 0.5 else 0.0
        soc[m] = soc_state[m, S_SOC]
    balancing_step(bal_state, bal_params, rd_cell_v, rd_current, tmax, board, inhibit, rest_s, now_s, dt_s, bal_mask)
    changed = False
    bank_request = 0.0  # the previous second's requests, as Bms.control reads them
    for m in range(n):
        if lim_outputs[m, OUT_FULL_CHARGE_REQUEST] > 0.5:
            bank_request = 1.0
    for m in range(n):
        any_on = 0.0
        pack = 0.0
        for c in range(n_cells):
            on = 1.0 if bal_mask[m, c] > 0.5 and running[m] > 0.5 else 0.0
            bal_mask[m, c] = on
            any_on = max(any_on, on)
            pack += rd_cell_v[m, c]
            if cell_par[k.CP_BALANCE_ON, m, c] != on:
                cell_par[k.CP_BALANCE_ON, m, c] = on
                changed = True
        derate = 1.0 if (actions[m] & ACT_DERATE) != 0 else 0.0
        lim_inputs[m, IN_CELL_MAX_V] = quantities[m, Q_CELL_VOLTAGE_MAX_V]
        lim_inputs[m, IN_CELL_MIN_V] = quantities[m, Q_CELL_VOLTAGE_MIN_V]
        lim_inputs[m, IN_PACK_V] = pack
        lim_inputs[m, IN_TEMPERATURE_MAX_C] = quantities[m, Q_CELL_TEMPERATURE_MAX_C]
        lim_inputs[m, IN_TEMPERATURE_MIN_C] = quantities[m, Q_CELL_TEMPERATURE_MIN_C]
        lim_inputs[m, IN_MOSFET_C] = quantities[m, Q_MOSFET_TEMPERATURE_C]
        lim_inputs[m, IN_SOC] = soc[m]
        lim_inputs[m, IN_SOC_BOUND] = soc_state[m, S_REQUEST_BOUND]
        lim_inputs[m, IN_BANK_FULL_REQUEST] = bank_request
        lim_inputs[m, IN_CHARGE_ALLOWED] = charge_fet[m] * running[m]
        lim_inputs[m, IN_DISCHARGE_ALLOWED] = discharge_fet[m] * running[m]
        lim_inputs[m, IN_DERATE_CHARGE] = derate
        lim_inputs[m, IN_DERATE_DISCHARGE] = derate
        lim_inputs[m, IN_BALANCING] = any_on
    limits_step(lim_state, lim_params, lim_inputs, lim_outputs, now_s, dt_s)
    pack_v = bank_work[BW_PACK_V]
    tmin = bank_work[BW_TEMPERATURE_MIN_C]
    for m in range(n):
        pack_v[m] = quantities[m, Q_PACK_VOLTAGE_V]
        tmin[m] = quantities[m, Q_CELL_TEMPERATURE_MIN_C]
    update_counters(counter_values, counter_thresholds, counter_capacity, rd_current, pack_v, tmin, tmax, soc, dt_s)
    add_balancing(balancing_s, bal_mask, dt_s)
    if keep_limits:  # a master presents the bank (the link): its limits stand
        return changed
    # the bank limits the inverter sees next, with no master measuring the share (system/aggregation.py)
    for m in range(n):
        bank_work[MT_CVL, m] = lim_outputs[m, OUT_CVL_V]
        bank_work[MT_DVL, m] = lim_outputs[m, OUT_DVL_V]
        bank_work[MT_CCL, m] = lim_outputs[m, OUT_CCL_A]
        bank_work[MT_DCL, m] = lim_outputs[m, OUT_DCL_A]
        bank_work[MT_I, m] = 0.0
        bank_work[MT_RES, m] = 0.0
        bank_work[MT_ON, m] = 1.0 if charge_fet[m] > 0.5 or discharge_fet[m] > 0.5 else 0.0
    bank_limits(bank_work, n, bank_lim, bank_work[MT_ROWS : MT_ROWS + WORK_ROWS])
    return changed


@njit(cache=True, error_model="numpy")
def write_bms_row(
    row: np.ndarray,
    t_s: float,
    bank_lim: np.ndarray,
    soc_state: np.ndarray,
    machine_state: np.ndarray,
    lim_outputs: np.ndarray,
    led_mode_ids: np.ndarray,
    fault_started_s: np.ndarray,
) -> None:
    """The BMS columns of one sample row (``BMS_BANK_COLUMNS``, then ``BMS_MODULE_COLUMNS`` per module)."""
    row[BC_CVL_V] = bank_lim[BL_CVL]
    row[BC_CCL_A] = bank_lim[BL_CCL]
    row[BC_DCL_A] = bank_lim[BL_DCL]
    for m in range(soc_state.shape[0]):
        base = ROW_BMS_BANK + m * ROW_BMS_MODULE
        mode = int(led_mode_ids[m])
        if lim_outputs[m, OUT_MODE] >= MODE_FLOAT and mode in (_CHARGE_NORMAL, _STANDBY):
            mode = _END_OFF
        row[base + BMC_SOC] = soc_state[m, S_SOC]
        row[base + BMC_STATE] = machine_state[m]
        row[base + BMC_CVL_V] = lim_outputs[m, OUT_CVL_V]
        row[base + BMC_CCL_A] = lim_outputs[m, OUT_CCL_A]
        row[base + BMC_DCL_A] = lim_outputs[m, OUT_DCL_A]
        row[base + BMC_LEDS] = led_bits(mode, soc_state[m, S_SOC], t_s, fault_started_s[m])
        row[base + BMC_SOC_BOUND] = soc_state[m, S_UNCERTAINTY]
        row[base + BMC_FULL_CHARGE_REQUEST] = lim_outputs[m, OUT_FULL_CHARGE_REQUEST]


@njit(cache=True, error_model="numpy", nogil=True)
def run_closed_loop(
    n_steps: int,
    dt_s: float,
    step0: int,
    mode: int,
    twin_tables: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    cell_state: np.ndarray,
    cell_par: np.ndarray,
    cell_work: np.ndarray,
    mod_state: np.ndarray,
    mod_par: np.ndarray,
    sc: np.ndarray,
    inputs: np.ndarray,
    home: np.ndarray,
    refresh_every: int,
    acc: np.ndarray,
    sums: np.ndarray,
    sensor_cal: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    sensor_scalars: np.ndarray,
    noise: np.ndarray,
    noise_base: int,
    ntc_state: np.ndarray,
    readings: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    fets: tuple[np.ndarray, np.ndarray, np.ndarray],
    quantities: np.ndarray,
    protection: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    estimator_id: int,
    soc: tuple[np.ndarray, np.ndarray],
    path_open: np.ndarray,
    rest_s: np.ndarray,
    bal: tuple[np.ndarray, np.ndarray, np.ndarray],
    lim: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    counters: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    bank_lim: np.ndarray,
    machine: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    loop_scalars: np.ndarray,
    next_wakeup_s: float,
    sample_every: int,
    rows: np.ndarray,
    bms_rows: np.ndarray,
    leds: tuple[np.ndarray, np.ndarray],
    step_info: np.ndarray,
    obey_limits: bool,
    bank_work: np.ndarray,
    keep_limits: bool,
    link_on: bool,
    link: tuple[
        np.ndarray,
        np.ndarray,
        np.ndarray,
        np.ndarray,
        tuple[np.ndarray, np.ndarray, np.ndarray],
        np.ndarray,
        np.ndarray,
    ],
) -> tuple[int, int, int]:
    """Advance up to ``n_steps`` seconds; return (steps done, sample rows written, what stopped it: ``STOP_*``).

    ``obey_limits`` False models an inverter that ignores CVL/CCL/DCL. ``keep_limits``: the bank limits come from
    outside (a master) and stay. ``link_on``: the compiled bank link (``link_kernel.link_second`` on the arrays
    ``link``) presents the bank before each second; a second it cannot run stops the loop before that second
    (``STOP_LINK``). When a BMS event is pending (``STOP_BMS``), the last step has run phase A only: the caller
    steps the state machines, then completes the step with :func:`control_step` (and a sample row if due) before
    calling again.
    """
    ocv_tab, hys_tab, dudt_tab, rfac_tab = twin_tables
    gain_factor, offset, channel_par, faults = sensor_cal
    rd_cell_v, rd_pack_v, rd_current, rd_ntc, rd_mosfet, rd_board = readings
    charge_fet, discharge_fet, running = fets
    prot_table, prot_state, actions, changes, prot_bands, prot_idle = protection
    soc_state, soc_params = soc
    bal_state, bal_params, bal_mask = bal
    lim_state, lim_params, lim_inputs, lim_outputs = lim
    counter_values, counter_thresholds, counter_capacity, balancing_s = counters
    machine_state, last_class, sleeping, watch, rest_since = machine
    led_mode_ids, fault_started_s = leds
    n_mod = cell_state.shape[1]
    n_cell = cell_state.shape[2]
    e_m = np.empty(n_mod)
    r_m = np.empty(n_mod)
    i_m = np.zeros(n_mod)
    active = np.empty(n_mod, dtype=np.bool_)
    u_cell = np.empty((n_mod, n_cell))
    wake_a = loop_scalars[LS_WAKE_A]
    rest_a = loop_scalars[LS_REST_A]
    restart_v = loop_scalars[LS_RESTART_V]
    rest_current_a = loop_scalars[LS_REST_CURRENT_A]
    rest_hold_s = loop_scalars[LS_REST_HOLD_S]
    link_ends, link_ids, link_k, link_rng, link_hold, link_work, link_at = link
    keep = keep_limits or link_on
    n_rows = 0
    dirty = True
    for kk in range(n_steps):
        g_step = step0 + kk
        now_s = (g_step + 1) * dt_s
        if link_on and not link_second(
            g_step * dt_s, link_ends, link_ids, link_k, link_rng, link_hold, link_work, link_at, running, rd_pack_v,
            rd_current, lim_outputs, charge_fet, discharge_fet, soc_state, bank_lim,
        ):  # fmt: skip
            return kk, n_rows, STOP_LINK
        if dirty or g_step % refresh_every == 0:
            k.refresh_resistance(cell_state, cell_par, cell_work, rfac_tab, hys_tab, dudt_tab, mod_par, sc)
            dirty = False
        amb = inputs[k.IN_AMBIENT_C, kk]
        req = k.home_request(kk, inputs, home) if mode == k.MODE_HOME else inputs[k.IN_REQUEST, kk]
        if obey_limits:
            cvl, dvl, ccl, dcl = bank_lim[BL_CVL], bank_lim[BL_DVL], bank_lim[BL_CCL], bank_lim[BL_DCL]
        else:  # an inverter that ignores the BMS: only the MOSFETs protect
            cvl, dvl, ccl, dcl = 1.0e6, -1.0e6, 1.0e6, 1.0e6
        v_bus, i_bus, _, _ = k.step_bank(
            dt_s, mode, req, cvl, dvl, ccl, dcl, amb,
            ocv_tab, cell_state, cell_par, cell_work, mod_state, mod_par, sc, acc, e_m, r_m, active, u_cell, i_m,
        )  # fmt: skip
        k.account_energy(kk, mode, dt_s, v_bus, i_bus, inputs, home, acc, sums)
        step_info[SI_BUS_V] = v_bus
        step_info[SI_BUS_A] = i_bus
        step_info[SI_AMBIENT_C] = amb
        step_info[SI_GRID_UP] = inputs[k.IN_GRID_UP, kk] if mode == k.MODE_HOME else 1.0
        read_sensors(
            gain_factor, offset, channel_par, sensor_scalars[0], sensor_scalars[1], faults, noise, noise_base + kk,
            now_s, dt_s, cell_state[k.CS_VOLTAGE_V], mod_state[k.MS_VOLTAGE_V], mod_state[k.MS_CURRENT_A],
            cell_state[k.CS_TEMP_C], mod_state[k.MS_MOSFET_C], mod_state[k.MS_BOARD_C], ntc_state,
            rd_cell_v, rd_pack_v, rd_current, rd_ntc, rd_mosfet, rd_board,
        )  # fmt: skip
        # phase A: Bms.measure
        compute_quantities(
            rd_cell_v, rd_pack_v, rd_current, rd_ntc, rd_mosfet, rd_board, charge_fet, discharge_fet, quantities
        )
        event = evaluate(
            prot_table, prot_state, quantities, rd_current, rest_current_a, now_s, dt_s, actions, changes, prot_bands,
            prot_idle,
        )  # fmt: skip
        for m in range(n_mod):
            path_open[m] = 1.0 if charge_fet[m] < 0.5 and discharge_fet[m] < 0.5 else 0.0
        soc_step(estimator_id, soc_state, soc_params, rd_current, rd_cell_v, rd_ntc, path_open, now_s, dt_s)
        for m in range(n_mod):
            rest_s[m] = rest_s[m] + dt_s if abs(rd_current[m]) < rest_current_a else 0.0
            flags = current_flags(rd_current[m], wake_a, rest_a)
            if (flags ^ last_class[m]) & watch[m]:
                event = True
            if watch[m] & W_REST_TIMER:
                if flags & W_REST:
                    if np.isnan(rest_since[m]):
                        rest_since[m] = now_s
                    elif now_s - rest_since[m] >= rest_hold_s - 1e-9:
                        event = True
                else:
                    rest_since[m] = np.nan
            if sleeping[m] > 0.5 and quantities[m, Q_PACK_VOLTAGE_V] < restart_v:
                event = True
        if now_s >= next_wakeup_s - 1e-9:
            event = True
        if event:
            return kk + 1, n_rows, STOP_BMS
        # phase B: Bms.control
        dirty = control_step(
            now_s, dt_s, rd_cell_v, rd_current, quantities, actions, charge_fet, discharge_fet, running, rest_s,
            soc_state, bal_state, bal_params, bal_mask, lim_state, lim_params, lim_inputs, lim_outputs,
            counter_values, counter_thresholds, counter_capacity, balancing_s, cell_par, bank_lim, bank_work, keep,
        )  # fmt: skip
        if (g_step + 1) % sample_every == 0:
            # numba caches this kernel with write_row inlined: a change of the row layout must touch this file
            k.write_row(rows[n_rows], now_s, amb, step_info[SI_GRID_UP], v_bus, i_bus, sample_every, sums,
                        cell_state, cell_par, mod_state)  # fmt: skip
            write_bms_row(
                bms_rows[n_rows], now_s, bank_lim, soc_state, machine_state, lim_outputs, led_mode_ids, fault_started_s
            )
            n_rows += 1
    return n_steps, n_rows, STOP_NONE
