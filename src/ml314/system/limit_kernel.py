"""The bank-limit rule and the limit hold as array kernels: the one place both live (compiled, pure).

Every presenter of a bank calls these: :func:`ml314.system.bank_aggregate.aggregate` (the master and the
status builder), :func:`ml314.system.aggregation.bank_limits` (the reference loop without a link), the compiled
closed loop (``closed_loop.py``) and the compiled bank link (``link_kernel.py``). The rule (issue "16 modules in
parallel"):

* CVL is the lowest CVL of the modules presented, DVL the highest DVL but at least 1 mV below that CVL.
* The current limits follow the current share: the bank may carry at most ``min_i(limit_i / share_i)`` over the
  modules that conduct, so the module that reaches its own limit first limits the bank; a conducting module at
  zero limit stops the bank in that direction; no conducting module gives zero. The share is measured
  (``I_i / I_bank``) while the bank carries a clear current that way and every module carries its part in that
  direction, else the conductance share of the learned resistances, else equal shares (then the rule is the
  weakest module's limit times the number conducting).

The kernels read one module table (rows ``MT_*``, one column per module presented, :func:`module_table`). The
hold (:mod:`ml314.system.limit_hold` explains why and how) keeps its state in arrays: ``hold_state``
(:data:`HOLD_ROWS` floats), ``hold_keys`` (the conducting members it filtered for, as float keys) and
``hold_shares`` (the filtered shares per channel, in the members' order).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "HOLD_ROWS",
    "MAX_MEMBERS",
    "MEASURED_SHARE_MIN_A",
    "MT_ROWS",
    "WORK_ROWS",
    "bank_limits",
    "current_shares",
    "hold_apply",
    "module_table",
    "new_hold",
    "share_limit",
]

#: the bank current must exceed this per conducting module before its split is trusted as measured
MEASURED_SHARE_MIN_A = 2.0
MAX_MEMBERS = 64  # members a hold can follow (a bank has at most 16; tests build larger ones)

# the hold's parameters (limit_hold.py documents them)
TAU_S = 5.0
SETTLE_S = 5.0 * TAU_S
DEADBAND = 0.02
JUMP = 0.10
SHARE_TRUST = 0.3

# the module table every kernel reads: one column per module presented, in the bank's order
MT_CVL = 0
MT_DVL = 1
MT_CCL = 2
MT_DCL = 3
MT_I = 4  # current (positive charging)
MT_RES = 5  # learned resistance, mOhm (0: unknown)
MT_ON = 6  # 1 where the module conducts (a MOSFET closed)
MT_KEY = 7  # who it is and how it conducts (the hold starts afresh when the conducting ones change)
MT_ROWS = 8

# scratch rows (WORK_ROWS x modules)
_IDX = 0  # the conducting modules' columns
_SHARE = 1
_MEASURED = 2
WORK_ROWS = 3

# hold_state rows: per channel (0 CCL, 1 DCL) the held value, the end of its settling, whether shares are set;
# then the last time applied and the number of members followed
H_HELD = 0  # + 3 * channel
H_SETTLE_UNTIL = 1
H_HAS_SHARES = 2
H_T = 6
H_N = 7
HOLD_ROWS = 8

# bank limits out (the twin kernel's limit row order: CVL, DVL, CCL, DCL)
L_CVL, L_DVL, L_CCL, L_DCL = 0, 1, 2, 3


def new_hold() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fresh hold: (state, keys, shares) (shares: one row per channel)."""
    state = np.zeros(HOLD_ROWS)
    state[H_HELD] = state[H_HELD + 3] = math.nan
    state[H_T] = math.nan
    state[H_N] = -1.0
    return state, np.zeros(MAX_MEMBERS), np.zeros((2, MAX_MEMBERS))


def module_table(
    cvl_v: np.ndarray,
    dvl_v: np.ndarray,
    ccl_a: np.ndarray,
    dcl_a: np.ndarray,
    current_a: np.ndarray,
    resistance_mohm: np.ndarray,
    conducting: np.ndarray,
    keys: np.ndarray | None = None,
) -> np.ndarray:
    """The kernels' module table from one array per quantity."""
    t = np.zeros((MT_ROWS, len(cvl_v)))
    for row, values in (
        (MT_CVL, cvl_v),
        (MT_DVL, dvl_v),
        (MT_CCL, ccl_a),
        (MT_DCL, dcl_a),
        (MT_I, current_a),
        (MT_RES, resistance_mohm),
        (MT_ON, conducting),
    ):
        t[row] = values
    if keys is not None:
        t[MT_KEY] = keys
    return t


@njit(cache=True, error_model="numpy")
def _conducting(table: np.ndarray, n: int, work: np.ndarray) -> int:
    """The columns of the conducting modules into ``work[_IDX]``; how many."""
    on = 0
    for i in range(n):
        if table[MT_ON, i] > 0.5:
            work[_IDX, on] = i
            on += 1
    return on


@njit(cache=True, error_model="numpy")
def current_shares(
    table: np.ndarray, work: np.ndarray, on: int, direction: int, measured: bool, out: np.ndarray, row: int
) -> None:
    """The conducting modules' fractions of the bank current in ``direction`` (+1 charge, -1 discharge) into
    ``out[row, :on]``: measured when ``measured`` and the bank carries a clear current that way with every module
    carrying its part that way; else from conductance (1/R) when every resistance is known; else equal."""
    if on == 0:
        return
    total = 0.0
    same_way = True
    known = True
    for j in range(on):
        i = int(work[_IDX, j])
        cur = table[MT_I, i] if measured else 0.0
        total += cur
        if direction * cur < 0.0:
            same_way = False
        if not table[MT_RES, i] > 0.0:
            known = False
    if direction * total > MEASURED_SHARE_MIN_A * on and same_way:
        for j in range(on):
            out[row, j] = table[MT_I, int(work[_IDX, j])] / total
    elif known:
        g = 0.0
        for j in range(on):
            g += 1.0 / table[MT_RES, int(work[_IDX, j])]
        for j in range(on):
            out[row, j] = (1.0 / table[MT_RES, int(work[_IDX, j])]) / g
    else:
        for j in range(on):
            out[row, j] = 1.0 / on


@njit(cache=True, error_model="numpy")
def share_limit(table: np.ndarray, limit_row: int, work: np.ndarray, on: int, shares: np.ndarray, row: int) -> float:
    """The largest bank current that keeps every conducting module within its own limit (``table[limit_row]``):
    ``min_i(limit_i / share_i)`` with the shares ``shares[row]``; 0 when one of them is at zero."""
    if on == 0:
        return 0.0
    total = 0.0
    bound = math.inf
    for j in range(on):
        limit = table[limit_row, int(work[_IDX, j])]
        if limit <= 0.0:
            return 0.0
        total += limit
        if shares[row, j] > 1e-9:
            bound = min(bound, limit / shares[row, j])
    return bound if math.isfinite(bound) else total


@njit(cache=True, error_model="numpy")
def bank_limits(table: np.ndarray, n: int, out: np.ndarray, work: np.ndarray) -> int:
    """The bank's (CVL, DVL, CCL, DCL) into ``out`` from the first ``n`` modules of ``table`` (module docstring);
    returns how many conduct. ``work``: scratch of :data:`WORK_ROWS` x ``n``."""
    cvl = math.inf
    dvl = -math.inf
    for i in range(n):
        cvl = min(cvl, table[MT_CVL, i])
        dvl = max(dvl, table[MT_DVL, i])
    out[L_CVL] = cvl
    out[L_DVL] = min(dvl, cvl - 1e-3)
    on = _conducting(table, n, work)
    if on == 0:
        out[L_CCL] = 0.0
        out[L_DCL] = 0.0
        return 0
    current_shares(table, work, on, 1, True, work, _SHARE)
    out[L_CCL] = share_limit(table, MT_CCL, work, on, work, _SHARE)
    current_shares(table, work, on, -1, True, work, _SHARE)
    out[L_DCL] = share_limit(table, MT_DCL, work, on, work, _SHARE)
    return on


@njit(cache=True, error_model="numpy")
def _channel(
    state: np.ndarray,
    shares: np.ndarray,
    c: int,
    table: np.ndarray,
    work: np.ndarray,
    on: int,
    alpha: float,
    t_s: float,
) -> float:
    direction = 1 if c == 0 else -1
    limit_row = MT_CCL if c == 0 else MT_DCL
    base = 3 * c
    if state[base + H_HAS_SHARES] < 0.5:
        current_shares(table, work, on, direction, False, shares, c)  # the model share
        state[base + H_HAS_SHARES] = 1.0
    current_shares(table, work, on, direction, True, work, _MEASURED)
    near = -math.inf
    total = 0.0
    for j in range(on):
        i = int(work[_IDX, j])
        near = max(near, direction * table[MT_I, i] / max(table[limit_row, i], 1e-9))
        total += table[MT_I, i]
    if near >= SHARE_TRUST and direction * total > MEASURED_SHARE_MIN_A * on:
        if share_limit(table, limit_row, work, on, work, _MEASURED) < (1.0 - JUMP) * share_limit(
            table, limit_row, work, on, shares, c
        ):
            for j in range(on):  # a module carries far more than its filtered share: safety first
                shares[c, j] = work[_MEASURED, j]
        else:
            acc = 0.0
            for j in range(on):
                shares[c, j] = shares[c, j] + alpha * (work[_MEASURED, j] - shares[c, j])
                acc += shares[c, j]
            for j in range(on):
                shares[c, j] = shares[c, j] / acc
    value = share_limit(table, limit_row, work, on, shares, c)
    held = state[base + H_HELD]
    stopped = value == 0.0 or math.isnan(held) or held == 0.0
    if stopped or abs(value - held) > JUMP * held:  # a start, or an event (protection, derating)
        state[base + H_HELD] = value
        state[base + H_SETTLE_UNTIL] = t_s + SETTLE_S
    elif t_s < state[base + H_SETTLE_UNTIL] or abs(value - held) > DEADBAND * held:
        state[base + H_HELD] = value
    return float(state[base + H_HELD])


@njit(cache=True, error_model="numpy")
def hold_apply(
    state: np.ndarray,
    keys: np.ndarray,
    shares: np.ndarray,
    table: np.ndarray,
    n: int,
    limits: np.ndarray,
    t_s: float,
    work: np.ndarray,
) -> None:
    """Hold ``limits`` (CVL, DVL, CCL, DCL, as :func:`bank_limits` gave them from the same ``table``) in place.

    A change of the conducting modules (``table[MT_KEY]`` of those with ``MT_ON``) starts the hold afresh."""
    on = _conducting(table, n, work)
    same = int(state[H_N]) == on
    if same:
        for j in range(on):
            if keys[j] != table[MT_KEY, int(work[_IDX, j])]:
                same = False
                break
    if not same:
        state[H_HELD] = state[H_HELD + 3] = math.nan
        state[H_SETTLE_UNTIL] = state[H_SETTLE_UNTIL + 3] = -math.inf
        state[H_HAS_SHARES] = state[H_HAS_SHARES + 3] = 0.0
        for j in range(on):
            keys[j] = table[MT_KEY, int(work[_IDX, j])]
        state[H_N] = on
    dt = 0.0 if math.isnan(state[H_T]) else max(0.0, t_s - state[H_T])
    state[H_T] = t_s
    if on == 0 or (limits[L_CCL] == 0.0 and limits[L_DCL] == 0.0):
        return  # nothing conducts, or the bank is stopped (not yet assembled): nothing to hold
    alpha = 1.0 - math.exp(-dt / TAU_S)
    ccl = _channel(state, shares, 0, table, work, on, alpha, t_s)
    dcl = _channel(state, shares, 1, table, work, on, alpha, t_s)
    limits[L_CCL] = ccl if limits[L_CCL] > 0.0 else 0.0
    limits[L_DCL] = dcl if limits[L_DCL] > 0.0 else 0.0
