"""The bank link's steady seconds, compiled: what the master's polling round gives without building a byte (pure).

``ml314 simulate`` runs the link by events (docs/bank_link.md): :class:`ml314.system.fast_link.CompiledLink` keeps
the byte-level link (:class:`~ml314.system.linked_bank.LinkedBank`) for every second where its membership can
change, and this kernel runs every other second inside the compiled closed loop. A second is *steady* when its
round would only refresh reports: the master is assembled; every ONLINE member answers alone (one live endpoint at
its ID, released) and every LOST member stays silent; no member waits to join; the one-ID discovery probe of the
round finds nobody; no endpoint's watchdog falls due; no termination error would complete a dropout. Then the round
is done here, with the master's rules: each answered REPORT gives the module's data rounded to the wire's units,
a termination fault corrupts an answer with the bus's error rate (a miss: the member keeps its last report), the
discovery probe walks the IDs (two live modules at one ID collide), COMMAND is refreshed when due, and the bank's
limits are the one rule (``limit_kernel.bank_limits``) held by the one hold (``limit_kernel.hold_apply``) over
the master's own data and its ONLINE members' reports. Any other second returns 1 and the caller runs it on bytes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ml314.bms.limits import OUT_CCL_A, OUT_CVL_V, OUT_DCL_A, OUT_DVL_V
from ml314.bms.soc.common import S_RESISTANCE_OHM
from ml314.system.limit_kernel import (
    MT_CCL,
    MT_CVL,
    MT_DCL,
    MT_DVL,
    MT_I,
    MT_KEY,
    MT_ON,
    MT_RES,
    MT_ROWS,
    WORK_ROWS,
    bank_limits,
    hold_apply,
)

# per endpoint (module index) rows
E_ID = 0  # DIP ID the module answers as (0: none)
E_CONNECTED = 1  # the Battery Comm cable is in
E_RELEASED = 2  # released by the master (else it keeps itself off the bus)
E_LAST_POLLED = 3  # link time it last answered (NaN: never)
E_MASTER = 4  # 1 for the master's own module
E_REQUESTS = 5  # requests it answered (counted here since the last hand-over)
E_ROWS = 6

# per ID (0..63) rows: the master's member table
I_STATE = 0  # 0 not a member, then MEMBER_* codes
I_MISSES = 1
I_FAILURES = 2  # failed transactions counted here since the last hand-over
I_COMMAND_SENT_S = 3
I_EXTRA = 4  # answering beyond the 16th module: never probed
I_HAS_REPORT = 5
I_V = 6  # report: voltage, current, CVL, DVL, CCL, DCL, resistance (mOhm), charge / discharge MOSFET on
I_I = 7
I_CVL = 8
I_DVL = 9
I_CCL = 10
I_DCL = 11
I_RES = 12
I_CHG = 13
I_DSG = 14
I_TRANSACTIONS = 15  # answered transactions counted here since the last hand-over
I_PENDING = 16  # a COMMAND the member has not acknowledged yet
I_LIST = 17  # (not per ID) the member IDs in ascending order, K_MEMBERS of them
I_ROWS = 18
N_IDS = 64

MEMBER_ONLINE, MEMBER_LOST, MEMBER_WAITING = 1, 2, 3

# scalars
K_MASTER_ID = 0  # 0: no master (the bank presents nothing: not steady)
K_MASTER_INDEX = 1
K_ASSEMBLED = 2
K_BUSY = 3  # the byte-level master is mid-round: not steady
K_NEXT_CYCLE_S = 4
K_CLOCK_S = 5  # link clock after the last transaction
K_SCAN_NEXT = 6
K_PERIOD_S = 7
K_COMMAND_REFRESH_S = 8
K_WATCHDOG_S = 9
K_MISSES_TO_DROP = 10
K_ERROR_RATE = 11
K_T_REPORT_S = 12  # wire times of the transactions: REPORT answered
K_T_COMMAND_S = 13  # COMMAND acknowledged
K_T_IDENTIFY_NONE_S = 14  # IDENTIFY unanswered
K_T_IDENTIFY_S = 15  # IDENTIFY answered (a collision: both answers on the wire)
K_B_REPORT = 16  # bytes on the wire of the same transactions
K_B_COMMAND = 17
K_B_IDENTIFY = 19
K_ROUNDS = 20  # counted here since the last hand-over
K_BYTES = 21
K_CORRUPTED = 22
K_COLLISIONS = 23
K_LAST_CYCLE_S = 24
K_LAST_REFRESH_S = 25  # REPORT time of the last round
K_LAST_REFRESH_REPORTS = 26
K_T_REPORT_NONE_S = 27  # REPORT unanswered
K_T_COMMAND_NONE_S = 28  # COMMAND unanswered
K_B_REQUEST = 29  # a request alone (no answer)
K_MEMBERS = 30  # how many member IDs ids[I_LIST] holds
K_T_ASK_REPORT_S = 31  # a request's own wire time and gap: when the module hears it (and counts it polled)
K_T_ASK_COMMAND_S = 32
K_ROWS = 33

# scratch rows (one value per module + 1)
# scratch (one column per module + 1): the limit kernels' module table (MT_*), then these rows
W_V = MT_ROWS  # the voltage (not a limit input)
W_CHG = MT_ROWS + 1
W_DSG = MT_ROWS + 2
W_DRAW = MT_ROWS + 3  # the round's termination-error draws, per member
W_LIMITS = MT_ROWS + 4  # the limit kernels' scratch
W_ROWS = W_LIMITS + WORK_ROWS
#: where _report writes a module's values in the scratch table
TABLE_ROWS = np.array([W_V, MT_I, MT_CVL, MT_DVL, MT_CCL, MT_DCL, MT_RES, W_CHG, W_DSG], dtype=np.int64)
#: ... and in a member's column of the ID table
MEMBER_ROWS = np.arange(9, dtype=np.int64) + I_V


@njit(cache=True, error_model="numpy")
def _uniform(rng: np.ndarray) -> float:
    """splitmix64: the link's own seeded draws (the byte-level bus draws its own)."""
    rng[0] += np.uint64(0x9E3779B97F4A7C15)
    z = rng[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) / 9007199254740992.0


@njit(cache=True, error_model="numpy")
def _q(value: float, scale: float, per_unit: float, lo: float, hi: float) -> float:
    """A value as the wire carries it (``raw()``: rounded half to even, clamped, NaN 0), read back in SI as the
    master decodes it (``raw / per_unit``, ``per_unit`` = 1 / ``scale``)."""
    if math.isnan(value):
        return 0.0
    return float(max(lo, min(hi, np.rint(value / scale))) / per_unit)


@njit(cache=True, error_model="numpy")
def _report(
    m: int,
    dest: np.ndarray,
    rows: np.ndarray,
    col: int,
    pack_v: np.ndarray,
    current_a: np.ndarray,
    lim_outputs: np.ndarray,
    charge_fet: np.ndarray,
    discharge_fet: np.ndarray,
    soc_state: np.ndarray,
    wire: bool,
) -> None:
    """Module ``m``'s data as its status gives it (``StatusBuilder.module_status``), rounded as REPORT sends it when
    ``wire``, into ``dest[rows[q], col]`` for q = voltage, current, CVL, DVL, CCL, DCL, resistance (mOhm), charge
    and discharge MOSFET on."""
    cvl = lim_outputs[m, OUT_CVL_V]
    dvl = min(lim_outputs[m, OUT_DVL_V], cvl - 1e-3)
    r = soc_state[m, S_RESISTANCE_OHM]
    res = 1000.0 * r if math.isfinite(r) and r > 0.0 else 0.0
    ccl = max(0.0, lim_outputs[m, OUT_CCL_A])
    dcl = max(0.0, lim_outputs[m, OUT_DCL_A])
    v = pack_v[m]
    i = current_a[m]
    if wire:
        cvl_raw = max(1.0, max(0.0, min(65535.0, np.rint(cvl / 0.01))) if not math.isnan(cvl) else 1.0)
        dvl_raw = 0.0 if math.isnan(dvl) else max(0.0, min(65535.0, np.rint(dvl / 0.01)))
        cvl = cvl_raw / 100.0
        dvl = min(dvl_raw, cvl_raw - 1.0) / 100.0
        v = _q(v, 0.01, 100.0, 0.0, 65535.0)
        i = _q(i, 0.01, 100.0, -32768.0, 32767.0)
        ccl = _q(ccl, 0.1, 10.0, 0.0, 65535.0)
        dcl = _q(dcl, 0.1, 10.0, 0.0, 65535.0)
        res = _q(res, 0.01, 100.0, 0.0, 65535.0)
    dest[rows[0], col] = v
    dest[rows[1], col] = i
    dest[rows[2], col] = cvl
    dest[rows[3], col] = dvl
    dest[rows[4], col] = ccl
    dest[rows[5], col] = dcl
    dest[rows[6], col] = res
    dest[rows[7], col] = 1.0 if charge_fet[m] > 0.5 else 0.0
    dest[rows[8], col] = 1.0 if discharge_fet[m] > 0.5 else 0.0


@njit(cache=True, error_model="numpy")
def link_second(
    now_s: float,
    ends: np.ndarray,
    ids: np.ndarray,
    k: np.ndarray,
    rng: np.ndarray,
    hold: tuple[np.ndarray, np.ndarray, np.ndarray],
    work: np.ndarray,
    at: np.ndarray,
    running: np.ndarray,
    pack_v: np.ndarray,
    current_a: np.ndarray,
    lim_outputs: np.ndarray,
    charge_fet: np.ndarray,
    discharge_fet: np.ndarray,
    soc_state: np.ndarray,
    bank_lim: np.ndarray,
) -> bool:
    """The link's work for link time ``now_s`` (module docstring): the round due, then the limits the master
    presents, into ``bank_lim``. Returns False, changing nothing, when the second is not steady.

    ``ids[I_LIST, :K_MEMBERS]`` are the member IDs in order; ``at`` is scratch: live endpoints per ID, the last
    one's index."""
    n = ends.shape[1]
    if k[K_MASTER_ID] <= 0.0 or k[K_ASSEMBLED] < 0.5 or k[K_BUSY] > 0.5:
        return False
    alive_at = at[0]
    index_at = at[1]
    alive_at[:] = 0
    # who answers at each ID this second (a module switched off or unplugged answers nothing)
    for m in range(n):
        if ends[E_MASTER, m] > 0.5:
            continue
        polled = ends[E_LAST_POLLED, m]
        if ends[E_RELEASED, m] > 0.5 and not math.isnan(polled) and now_s - polled > k[K_WATCHDOG_S]:
            return False  # its watchdog falls due: it leaves the bus
        mid = int(ends[E_ID, m])
        if mid >= 1 and running[m] > 0.5 and ends[E_CONNECTED, m] > 0.5:
            alive_at[mid] += 1
            index_at[mid] = m
    n_members = int(k[K_MEMBERS])
    for j in range(n_members):
        mid = int(ids[I_LIST, j])
        st = ids[I_STATE, mid]
        if st == MEMBER_WAITING:
            return False
        if st == MEMBER_ONLINE and (
            alive_at[mid] != 1 or ends[E_RELEASED, index_at[mid]] < 0.5 or ids[I_PENDING, mid] > 0.5
        ):
            return False
        if st == MEMBER_LOST and alive_at[mid] != 0:
            return False
    master_id = int(k[K_MASTER_ID])
    start = max(k[K_NEXT_CYCLE_S], now_s - 1.0, k[K_CLOCK_S])
    due = k[K_NEXT_CYCLE_S] < now_s
    probe = -1
    scan = int(k[K_SCAN_NEXT])
    draws = work[W_DRAW]
    if due:
        for _ in range(N_IDS - 1):  # the discovery probe: the next ID that is neither member nor left out
            i = scan
            scan = i % (N_IDS - 1) + 1
            if i != master_id and ids[I_STATE, i] == 0 and ids[I_EXTRA, i] < 0.5:
                probe = i
                break
        if probe > 0 and alive_at[probe] == 1:
            return False  # it finds a module: the master identifies it
        # draw the round's termination errors; a draw that completes a dropout makes the second an event
        rate = k[K_ERROR_RATE]
        for j in range(n_members):
            mid = int(ids[I_LIST, j])
            draws[j] = 1.0
            if rate > 0.0 and ids[I_STATE, mid] == MEMBER_ONLINE:
                draws[j] = _uniform(rng)
                if draws[j] < rate and ids[I_MISSES, mid] + 1.0 >= k[K_MISSES_TO_DROP]:
                    return False
    # steady: the round, then the limits
    if due:
        _round(start, probe, scan, n_members, ends, ids, k, draws, alive_at, index_at, pack_v, current_a,
               lim_outputs, charge_fet, discharge_fet, soc_state)  # fmt: skip
    else:
        k[K_CLOCK_S] = max(k[K_CLOCK_S], now_s)
    # the bank the master presents: itself and its ONLINE members, in ID order (the master's place by its ID)
    n_mod = 0
    mi = int(k[K_MASTER_INDEX])
    own_done = False
    for j in range(n_members + 1):
        mid = int(ids[I_LIST, j]) if j < n_members else N_IDS
        if not own_done and master_id < mid:
            _report(mi, work, TABLE_ROWS, n_mod, pack_v, current_a, lim_outputs, charge_fet, discharge_fet, soc_state,
                    False)  # fmt: skip
            _presented(work, n_mod, master_id)
            n_mod += 1
            own_done = True
        if j < n_members and ids[I_STATE, mid] == MEMBER_ONLINE and ids[I_HAS_REPORT, mid] > 0.5:
            for q in range(9):
                work[TABLE_ROWS[q], n_mod] = ids[I_V + q, mid]
            _presented(work, n_mod, mid)
            n_mod += 1
    scratch = work[W_LIMITS:]
    bank_limits(work, n_mod, bank_lim, scratch)
    state, hkeys, shares = hold
    hold_apply(state, hkeys, shares, work, n_mod, bank_lim, now_s, scratch)
    return True


@njit(cache=True, error_model="numpy")
def _presented(work: np.ndarray, col: int, module_id: int) -> None:
    """Complete column ``col`` of the module table: whether it conducts, and its key for the hold."""
    chg = work[W_CHG, col]
    dsg = work[W_DSG, col]
    work[MT_ON, col] = 1.0 if chg > 0.5 or dsg > 0.5 else 0.0
    work[MT_KEY, col] = 4 * module_id + 2 * chg + dsg


@njit(cache=True, error_model="numpy")
def _round(
    start: float,
    probe: int,
    scan: int,
    n_members: int,
    ends: np.ndarray,
    ids: np.ndarray,
    k: np.ndarray,
    draws: np.ndarray,
    alive_at: np.ndarray,
    index_at: np.ndarray,
    pack_v: np.ndarray,
    current_a: np.ndarray,
    lim_outputs: np.ndarray,
    charge_fet: np.ndarray,
    discharge_fet: np.ndarray,
    soc_state: np.ndarray,
) -> None:
    """One steady polling round starting at link time ``start``: the probe, COMMAND refreshes, REPORTs."""
    took = 0.0
    nbytes = 0.0
    report_s = 0.0
    reports = 0
    if probe > 0:
        if alive_at[probe] >= 2:  # two modules at one ID: both answer, the master reads garbage
            k[K_COLLISIONS] += 1.0
            took += k[K_T_IDENTIFY_S]
            nbytes += k[K_B_IDENTIFY]
        else:
            took += k[K_T_IDENTIFY_NONE_S]
            nbytes += k[K_B_REQUEST]
    for j in range(n_members):
        mid = int(ids[I_LIST, j])
        st = ids[I_STATE, mid]
        if st == MEMBER_LOST:  # silent: its COMMAND (unacknowledged since it left) and REPORT time out
            took += k[K_T_COMMAND_NONE_S] + k[K_T_REPORT_NONE_S]
            nbytes += 2.0 * k[K_B_REQUEST]
            ids[I_MISSES, mid] += 2.0
            ids[I_FAILURES, mid] += 2.0
            report_s += k[K_T_REPORT_NONE_S]
            reports += 1
            continue
        m = index_at[mid]
        if start - ids[I_COMMAND_SENT_S, mid] > k[K_COMMAND_REFRESH_S]:
            ids[I_COMMAND_SENT_S, mid] = start + took
            ends[E_LAST_POLLED, m] = start + took + k[K_T_ASK_COMMAND_S]
            took += k[K_T_COMMAND_S]
            nbytes += k[K_B_COMMAND]
            ids[I_TRANSACTIONS, mid] += 1.0
            ends[E_REQUESTS, m] += 1.0
        ends[E_LAST_POLLED, m] = start + took + k[K_T_ASK_REPORT_S]
        took += k[K_T_REPORT_S]
        nbytes += k[K_B_REPORT]
        report_s += k[K_T_REPORT_S]
        reports += 1
        ends[E_REQUESTS, m] += 1.0
        if draws[j] < k[K_ERROR_RATE]:  # a termination fault garbled the answer: a miss
            k[K_CORRUPTED] += 1.0
            ids[I_MISSES, mid] += 1.0
            ids[I_FAILURES, mid] += 1.0
            continue
        ids[I_MISSES, mid] = 0.0
        ids[I_TRANSACTIONS, mid] += 1.0
        ids[I_HAS_REPORT, mid] = 1.0
        _report(m, ids, MEMBER_ROWS, mid, pack_v, current_a, lim_outputs, charge_fet, discharge_fet, soc_state,
                True)  # fmt: skip
    k[K_SCAN_NEXT] = scan
    k[K_ROUNDS] += 1.0
    k[K_BYTES] += nbytes
    k[K_LAST_CYCLE_S] = start - (k[K_NEXT_CYCLE_S] - k[K_PERIOD_S])
    k[K_LAST_REFRESH_S] = report_s
    k[K_LAST_REFRESH_REPORTS] = reports
    k[K_NEXT_CYCLE_S] = start + k[K_PERIOD_S]
    k[K_CLOCK_S] = start + took
