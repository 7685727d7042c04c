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

The hold (:mod:`ml314.system.limit_hold` explains why and how) keeps its state in arrays: ``hold_state``
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
    "bank_limits",
    "current_shares",
    "hold_apply",
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
    """A fresh hold: (state, keys, shares)."""
    state = np.zeros(HOLD_ROWS)
    state[H_HELD] = state[H_HELD + 3] = math.nan
    state[H_T] = math.nan
    state[H_N] = -1.0
    return state, np.zeros(MAX_MEMBERS), np.zeros((3, MAX_MEMBERS))  # shares row 2: scratch


@njit(cache=True, error_model="numpy")
def current_shares(currents_a: np.ndarray, resistance_mohm: np.ndarray, direction: int, out: np.ndarray) -> None:
    """Each module's fraction of the bank current in ``direction`` (+1 charge, -1 discharge), into ``out``."""
    n = currents_a.shape[0]
    if n == 0:
        return
    total = 0.0
    same_way = True
    known = True
    for i in range(n):
        total += currents_a[i]
        if direction * currents_a[i] < 0.0:
            same_way = False
        if not resistance_mohm[i] > 0.0:
            known = False
    if direction * total > MEASURED_SHARE_MIN_A * n and same_way:
        for i in range(n):
            out[i] = currents_a[i] / total
    elif known:
        g = 0.0
        for i in range(n):
            g += 1.0 / resistance_mohm[i]
        for i in range(n):
            out[i] = (1.0 / resistance_mohm[i]) / g
    else:
        for i in range(n):
            out[i] = 1.0 / n


@njit(cache=True, error_model="numpy")
def share_limit(limits_a: np.ndarray, shares: np.ndarray) -> float:
    """The largest bank current that keeps every module within its own limit: ``min_i(limit_i / share_i)``."""
    n = limits_a.shape[0]
    if n == 0:
        return 0.0
    total = 0.0
    bound = math.inf
    for i in range(n):
        if limits_a[i] <= 0.0:
            return 0.0
        total += limits_a[i]
        if shares[i] > 1e-9:
            bound = min(bound, limits_a[i] / shares[i])
    return bound if math.isfinite(bound) else total


@njit(cache=True, error_model="numpy")
def bank_limits(
    cvl_v: np.ndarray,
    dvl_v: np.ndarray,
    ccl_a: np.ndarray,
    dcl_a: np.ndarray,
    current_a: np.ndarray,
    resistance_mohm: np.ndarray,
    conducting: np.ndarray,
    out: np.ndarray,
    work: np.ndarray,
) -> int:
    """The bank's (CVL, DVL, CCL, DCL) into ``out`` from its modules' (module docstring); returns how many conduct.

    ``resistance_mohm`` 0 means unknown; ``current_a`` all 0 (with unknown resistances) gives equal shares.
    ``work`` is scratch of shape (5, n) or larger.
    """
    n = cvl_v.shape[0]
    cvl = math.inf
    dvl = -math.inf
    for i in range(n):
        cvl = min(cvl, cvl_v[i])
        dvl = max(dvl, dvl_v[i])
    out[L_CVL] = cvl
    out[L_DVL] = min(dvl, cvl - 1e-3)
    on = 0
    for i in range(n):
        if conducting[i]:
            on += 1
    if on == 0:
        out[L_CCL] = 0.0
        out[L_DCL] = 0.0
        return 0
    cur = work[0, :on]
    res = work[1, :on]
    cl = work[2, :on]
    dl = work[3, :on]
    shares = work[4, :on]
    j = 0
    for i in range(n):
        if conducting[i]:
            cur[j], res[j], cl[j], dl[j] = current_a[i], resistance_mohm[i], ccl_a[i], dcl_a[i]
            j += 1
    current_shares(cur, res, 1, shares)
    out[L_CCL] = share_limit(cl, shares)
    current_shares(cur, res, -1, shares)
    out[L_DCL] = share_limit(dl, shares)
    return on


@njit(cache=True, error_model="numpy")
def _channel(
    state: np.ndarray,
    shares: np.ndarray,
    c: int,
    direction: int,
    currents: np.ndarray,
    res: np.ndarray,
    limits_a: np.ndarray,
    alpha: float,
    t_s: float,
    measured: np.ndarray,
) -> float:
    n = currents.shape[0]
    s = shares[c, :n]
    base = 3 * c
    if state[base + H_HAS_SHARES] < 0.5:
        measured[:] = 0.0
        current_shares(measured, res, direction, s)  # the model share
        state[base + H_HAS_SHARES] = 1.0
    current_shares(currents, res, direction, measured)
    near = -math.inf
    total = 0.0
    for i in range(n):
        near = max(near, direction * currents[i] / max(limits_a[i], 1e-9))
        total += currents[i]
    if near >= SHARE_TRUST and direction * total > MEASURED_SHARE_MIN_A * n:
        if share_limit(limits_a, measured) < (1.0 - JUMP) * share_limit(limits_a, s):
            s[:] = measured  # a module carries far more than its filtered share: safety first
        else:
            acc = 0.0
            for i in range(n):
                s[i] = s[i] + alpha * (measured[i] - s[i])
                acc += s[i]
            for i in range(n):
                s[i] = s[i] / acc
    value = share_limit(limits_a, s)
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
    member_keys: np.ndarray,
    currents_a: np.ndarray,
    resistance_mohm: np.ndarray,
    ccl_limits_a: np.ndarray,
    dcl_limits_a: np.ndarray,
    limits: np.ndarray,
    t_s: float,
) -> None:
    """Hold ``limits`` (CVL, DVL, CCL, DCL, as :func:`bank_limits` gave them) in place.

    The other arrays describe the conducting modules in the bank's order: ``member_keys`` says who they are (and
    how they conduct): a change of them starts the hold afresh.
    """
    n = member_keys.shape[0]
    same = int(state[H_N]) == n
    if same:
        for i in range(n):
            if keys[i] != member_keys[i]:
                same = False
                break
    if not same:
        state[H_HELD] = state[H_HELD + 3] = math.nan
        state[H_SETTLE_UNTIL] = state[H_SETTLE_UNTIL + 3] = -math.inf
        state[H_HAS_SHARES] = state[H_HAS_SHARES + 3] = 0.0
        for i in range(n):
            keys[i] = member_keys[i]
        state[H_N] = n
    dt = 0.0 if math.isnan(state[H_T]) else max(0.0, t_s - state[H_T])
    state[H_T] = t_s
    if n == 0 or (limits[L_CCL] == 0.0 and limits[L_DCL] == 0.0):
        return  # nothing conducts, or the bank is stopped (not yet assembled): nothing to hold
    alpha = 1.0 - math.exp(-dt / TAU_S)
    measured = shares[2, :n]  # scratch
    ccl = _channel(state, shares, 0, 1, currents_a, resistance_mohm, ccl_limits_a, alpha, t_s, measured)
    dcl = _channel(state, shares, 1, -1, currents_a, resistance_mohm, dcl_limits_a, alpha, t_s, measured)
    limits[L_CCL] = ccl if limits[L_CCL] > 0.0 else 0.0
    limits[L_DCL] = dcl if limits[L_DCL] > 0.0 else 0.0
