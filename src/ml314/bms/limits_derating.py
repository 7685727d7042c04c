"""The limit parameters as one float array, the derating tables, and the anti-flapping filter of CCL and DCL.

CCL is the configured maximum times the smallest fraction of its sources (dbus-serialbattery
``manage_charge_and_discharge_current``; reference/bms.md 2.1, rows #40-#43, #31):

* the cell-voltage table on the **highest** cell (DCL: on the **lowest** cell);
* the temperature table on the warmest **and** the coldest cell, the worse of the two;
* the MOSFET temperature table;
* a protection warning or alarm with the ``derate`` action caps the fraction at ``derate_factor`` (0.5): the tables
  already derate the quantities the warnings watch, so the cap does not stack on them;
* 0 when the protection/state machine has the path open.

Every table is linear between its points and flat beyond its ends; a failed (NaN) reading gives 0.

Two targets come out of the sources. The *cut* target uses the readings as they are; the *release* target uses the
worst table value within a hysteresis band around each reading (``hysteresis_v`` for cell voltages,
``hysteresis_c`` for temperatures). :func:`current_limit_step` applies a cut at once and lets the limit rise only
to the lowest release target of the last ``limit_hold_s``, at ``limit_ramp_a_per_s``, and from 0 only once that
exceeds ``limit_recovery_fraction`` of the maximum (#45). The band and the window are what keep a reading that
dithers around a table point from raising and cutting the limit again and again.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ml314.bms.parameters import LimitParams
from ml314.domain.spec import ML314

# Defaults of the settings the [limits] section does not (yet) carry; compile_limit_params takes them as keywords.
DERATE_FACTOR = 0.5  # cap on the limit fraction while a protection row with the "derate" action is active
HYSTERESIS_V = 0.010  # cell-voltage band of the release target (5 sigma of 2 mV sensor noise)
HYSTERESIS_C = 1.0  # temperature band of the release target
CVL_RECOVERY_HOLD_S = 60.0  # #46: CVL recovery hold after a cut (the ramp is cvl_ramp_v_per_s)
FLOAT_START_TOLERANCE_V = 0.05  # pack within this of the target counts as "at target" (cable drop, 3 mV a cell)
ABSORPTION_CANCEL_V = 0.5  # serialbattery: the float timer is cancelled when the pack falls this far below target
BALANCING_WAIT_S = 900.0  # longest extra wait for the balancer once the float timer has run out
FORCE_CHARGE_RELEASE_SOC = 0.03  # force charge clears at force_charge_soc + this
FORCE_CHARGE_RELEASE_V = 0.10  # ... and with the lowest cell this far above the DCL-zero voltage

# parameter vector: scalars (pack values already multiplied by the cell count) ...
P_N_CELLS = 0
P_CVL_TARGET_V = 1  # pack
P_CVL_FLOAT_V = 2  # pack
P_DVL_V = 3  # pack
P_CELL_TARGET_V = 4
P_MAX_CHARGE_A = 5
P_MAX_DISCHARGE_A = 6
P_FLOAT_AFTER_S = 7
P_FLOAT_SPREAD_V = 8
P_FLOAT_RESTART_SPREAD_V = 9
P_BULK_SPREAD_V = 10
P_BULK_SOC = 11
P_CVL_RAMP_V_PER_S = 12
P_CVL_GAIN = 13  # V/(V s)
P_CVL_MARGIN_V = 14
P_CVL_HOLD_S = 15
P_LIMIT_HOLD_S = 16
P_LIMIT_RAMP_A_PER_S = 17
P_RECOVERY_FRACTION = 18
P_FULL_CHARGE_INTERVAL_S = 19
P_FULL_CHARGE_SOC = 20
P_FORCE_CHARGE_SOC = 21
P_FORCE_CHARGE_RELEASE_SOC = 22
P_FORCE_CHARGE_V = 23  # per cell: the highest point of the DCL cell-voltage table with fraction 0
P_FORCE_CHARGE_RELEASE_V = 24  # per cell
P_DERATE_FACTOR = 25
P_HYSTERESIS_V = 26
P_HYSTERESIS_C = 27
P_FLOAT_START_TOLERANCE_V = 28  # pack
P_ABSORPTION_CANCEL_V = 29  # pack
P_BALANCING_WAIT_S = 30
P_FULL_CHARGE_BOUND = 31  # SOC bound that raises the full-charge request (inf: off)
# ... then a header per table: offset, length, and the span of x where the fraction is 1 (the lookups' fast path);
# a table is its x values followed by its fractions
P_TABLES = 32
TABLE_HEADER = 4
TAB_CCL_CELL_V = 0
TAB_DCL_CELL_V = 1
TAB_CCL_TEMPERATURE = 2
TAB_DCL_TEMPERATURE = 3
TAB_MOSFET = 4
N_TABLES = 5
P_DATA = P_TABLES + TABLE_HEADER * N_TABLES

# limiting source of CCL / DCL
SRC_MAX = 0
SRC_CELL_VOLTAGE = 1
SRC_TEMPERATURE = 2
SRC_MOSFET = 3
SRC_PROTECTION = 4
SRC_SOC = 5  # reserved: the parameter set has no SOC table (serialbattery's is off: SOC is less sure than voltage)
SOURCE_NAMES: tuple[str, ...] = ("max", "cell voltage", "temperature", "mosfet", "protection", "soc")


def compile_limit_params(
    params: LimitParams,
    *,
    n_cells: int = ML314.cells_in_series,
    derate_factor: float = DERATE_FACTOR,
    hysteresis_v: float = HYSTERESIS_V,
    hysteresis_c: float = HYSTERESIS_C,
    cvl_recovery_hold_s: float = CVL_RECOVERY_HOLD_S,
    float_start_tolerance_v: float = FLOAT_START_TOLERANCE_V,
    absorption_cancel_v: float = ABSORPTION_CANCEL_V,
    balancing_wait_s: float = BALANCING_WAIT_S,
    force_charge_release_soc: float = FORCE_CHARGE_RELEASE_SOC,
    force_charge_release_v: float = FORCE_CHARGE_RELEASE_V,
    full_charge_request_bound: float = math.inf,
) -> np.ndarray:
    """The limit parameters as the float array :func:`ml314.bms.limits.limits_step` reads (``P_*`` slots).

    ``full_charge_request_bound`` is the SOC estimator's bound that raises the full-charge request (``[soc]``)."""
    tables = (
        params.ccl_cell_voltage,
        params.dcl_cell_voltage,
        params.ccl_temperature,
        params.dcl_temperature,
        params.mosfet_temperature,
    )
    size = P_DATA + sum(2 * len(x) for x, _ in tables)
    p = np.zeros(size)
    p[P_N_CELLS] = n_cells
    p[P_CVL_TARGET_V] = params.cell_voltage_target_v * n_cells
    p[P_CVL_FLOAT_V] = params.cell_voltage_float_v * n_cells
    p[P_DVL_V] = params.cell_voltage_discharge_v * n_cells
    p[P_CELL_TARGET_V] = params.cell_voltage_target_v
    p[P_MAX_CHARGE_A] = params.max_charge_current_a
    p[P_MAX_DISCHARGE_A] = params.max_discharge_current_a
    p[P_FLOAT_AFTER_S] = params.float_after_s
    p[P_FLOAT_SPREAD_V] = params.float_spread_v
    p[P_FLOAT_RESTART_SPREAD_V] = params.float_restart_spread_v
    p[P_BULK_SPREAD_V] = params.bulk_spread_v
    p[P_BULK_SOC] = params.bulk_soc
    p[P_CVL_RAMP_V_PER_S] = params.cvl_ramp_v_per_s
    p[P_CVL_GAIN] = params.cvl_controller_gain
    p[P_CVL_MARGIN_V] = params.cvl_controller_margin_v
    p[P_CVL_HOLD_S] = cvl_recovery_hold_s
    p[P_LIMIT_HOLD_S] = params.limit_hold_s
    p[P_LIMIT_RAMP_A_PER_S] = params.limit_ramp_a_per_s
    p[P_RECOVERY_FRACTION] = params.limit_recovery_fraction
    p[P_FULL_CHARGE_INTERVAL_S] = params.full_charge_interval_days * 86400.0
    p[P_FULL_CHARGE_SOC] = params.full_charge_soc
    p[P_FORCE_CHARGE_SOC] = params.force_charge_soc
    p[P_FORCE_CHARGE_RELEASE_SOC] = params.force_charge_soc + force_charge_release_soc
    p[P_FORCE_CHARGE_V] = dcl_zero_voltage_v(params)
    p[P_FORCE_CHARGE_RELEASE_V] = p[P_FORCE_CHARGE_V] + force_charge_release_v
    p[P_DERATE_FACTOR] = derate_factor
    p[P_HYSTERESIS_V] = hysteresis_v
    p[P_HYSTERESIS_C] = hysteresis_c
    p[P_FLOAT_START_TOLERANCE_V] = float_start_tolerance_v
    p[P_ABSORPTION_CANCEL_V] = absorption_cancel_v
    p[P_BALANCING_WAIT_S] = balancing_wait_s
    p[P_FULL_CHARGE_BOUND] = full_charge_request_bound
    offset = P_DATA
    for k, (x, f) in enumerate(tables):
        n = len(x)
        head = P_TABLES + TABLE_HEADER * k
        p[head : head + TABLE_HEADER] = offset, n, *_full_span(x, f)
        p[offset : offset + n] = x
        p[offset + n : offset + 2 * n] = f
        offset += 2 * n
    return p


def _full_span(x: tuple[float, ...], f: tuple[float, ...]) -> tuple[float, float]:
    """The first run of points with fraction 1, open-ended at the table's ends (empty if there is none)."""
    ones = [i for i, fi in enumerate(f) if fi >= 1.0]
    if not ones:
        return np.inf, -np.inf
    first = last = ones[0]
    while last + 1 < len(f) and f[last + 1] >= 1.0:
        last += 1
    return (-np.inf if first == 0 else x[first]), (np.inf if last == len(f) - 1 else x[last])


def dcl_zero_voltage_v(params: LimitParams) -> float:
    """The highest lowest-cell voltage at which the DCL table gives 0 (its first point if it never does)."""
    x, f = params.dcl_cell_voltage
    zero = x[0]
    for xi, fi in zip(x, f, strict=True):
        if fi > 0.0:
            break
        zero = xi
    return zero


@njit(cache=True, error_model="numpy", inline="always")
def table_value(params: np.ndarray, table: int, x: float) -> float:
    """The fraction of ``table`` at ``x``: linear between points, flat beyond the ends, 0 for NaN."""
    head = P_TABLES + TABLE_HEADER * table
    if params[head + 2] <= x <= params[head + 3]:
        return 1.0
    if np.isnan(x):
        return 0.0
    off = int(params[head])
    n = int(params[head + 1])
    if x <= params[off]:
        return float(params[off + n])
    for i in range(1, n):
        xi = params[off + i]
        if x <= xi:
            x0 = params[off + i - 1]
            f0 = params[off + n + i - 1]
            return float(f0 + (params[off + n + i] - f0) * (x - x0) / (xi - x0))
    return float(params[off + 2 * n - 1])


@njit(cache=True, error_model="numpy", inline="always")
def table_worst(params: np.ndarray, table: int, x: float, band: float) -> float:
    """The smallest fraction of ``table`` within ``x - band .. x + band`` (ends and the table points inside)."""
    lo = x - band
    hi = x + band
    head = P_TABLES + TABLE_HEADER * table
    if band <= 0.0 or (params[head + 2] <= lo and hi <= params[head + 3]):
        return table_value(params, table, x)
    worst = min(table_value(params, table, lo), table_value(params, table, hi))
    off = int(params[head])
    n = int(params[head + 1])
    for i in range(n):
        if lo < params[off + i] < hi:
            worst = min(worst, params[off + n + i])
    return worst


@njit(cache=True, error_model="numpy", inline="always")
def limit_fraction(
    params: np.ndarray,
    cell_table: int,
    cell_v: float,
    temperature_table: int,
    temperature_max_c: float,
    temperature_min_c: float,
    mosfet_c: float,
    allowed: float,
    derate: float,
    band_v: float,
    band_c: float,
) -> tuple[float, int]:
    """(fraction of the maximum, limiting source ``SRC_*``) of one current limit. With bands of 0 this is the cut
    target; with the hysteresis bands it is the release target, never above the cut target."""
    fraction = 1.0
    source = SRC_MAX
    f = table_worst(params, cell_table, cell_v, band_v)
    if f < fraction:
        fraction, source = f, SRC_CELL_VOLTAGE
    f = min(
        table_worst(params, temperature_table, temperature_max_c, band_c),
        table_worst(params, temperature_table, temperature_min_c, band_c),
    )
    if f < fraction:
        fraction, source = f, SRC_TEMPERATURE
    f = table_worst(params, TAB_MOSFET, mosfet_c, band_c)
    if f < fraction:
        fraction, source = f, SRC_MOSFET
    cap = params[P_DERATE_FACTOR] if derate > 0.5 else 1.0
    if allowed < 0.5:
        cap = 0.0
    if cap < fraction:
        fraction, source = cap, SRC_PROTECTION
    return fraction, source


@njit(cache=True, error_model="numpy")
def current_limit_step(
    params: np.ndarray,
    cell_table: int,
    cell_v: float,
    temperature_table: int,
    temperature_max_c: float,
    temperature_min_c: float,
    mosfet_c: float,
    allowed: float,
    derate: float,
    max_a: float,
    limit_a: float,
    held_s: float,
    window_a: float,
    source: int,
    dt_s: float,
) -> tuple[float, float, float, int]:
    """One step of one current limit: (limit A, seconds held, lowest release target of the hold window A, source).

    A cut target below the limit applies at once. Otherwise the hold window collects the lowest release target;
    once it has lasted ``limit_hold_s`` the limit rises towards that lowest value at ``limit_ramp_a_per_s`` (from 0
    only if it is at least ``limit_recovery_fraction`` of ``max_a``), and when it gets there a new window starts.
    A rise therefore needs the release target to have stayed above the limit for the whole hold time. The source is
    that of the last cut or completed rise.
    """
    f, src = limit_fraction(
        params,
        cell_table,
        cell_v,
        temperature_table,
        temperature_max_c,
        temperature_min_c,
        mosfet_c,
        allowed,
        derate,
        0.0,
        0.0,
    )
    cut_a = f * max_a
    if cut_a < limit_a:
        return cut_a, 0.0, np.inf, src
    held_s += dt_s
    if limit_a < cut_a:
        f, src = limit_fraction(
            params,
            cell_table,
            cell_v,
            temperature_table,
            temperature_max_c,
            temperature_min_c,
            mosfet_c,
            allowed,
            derate,
            params[P_HYSTERESIS_V],
            params[P_HYSTERESIS_C],
        )
        window_a = min(window_a, f * max_a)
    else:
        window_a = min(window_a, limit_a)  # the release target is at most the cut target, here the limit
    if window_a <= limit_a or (limit_a <= 0.0 and window_a < params[P_RECOVERY_FRACTION] * max_a):
        return limit_a, 0.0, np.inf, source  # nothing to rise to: a new window
    if held_s >= params[P_LIMIT_HOLD_S]:
        limit_a = min(limit_a + params[P_LIMIT_RAMP_A_PER_S] * dt_s, window_a)
        if limit_a >= window_a:
            return limit_a, 0.0, np.inf, src
    return limit_a, held_s, window_a, source
