"""The protection table, evaluated every second for every module.

Each row of the parameter set (``bms/parameters.py``) becomes one row of flat arrays, and one compiled function
evaluates them all. Per row and module:

* a sample is *bad* when the quantity is on the trip side of the trip level (``>=`` for a high limit, ``<=`` for a
  low one) and the row's condition holds (charging, discharging or always);
* a debounce counter counts bad samples up and good ones down (foxBMS); once it reaches the row's debounce count,
  the bad state must also persist for ``delay_s`` before the row trips;
* a tripped row releases when the quantity has stayed on the good side of its release level (the hysteresis) for
  ``retry_s``; a row that trips ``lockout_after`` times within ``lockout_window_s`` locks out until RESET, and a
  ``latch`` row locks on its first trip until a technician clears it;
* the actions of the tripped rows are OR-ed into one bit mask per module.

Every trip, release and lockout is reported as a change so the event log can say what happened, when, at which
value and threshold, and what the BMS did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ml314.bms.parameters import ACTIONS, CONDITIONS, QUANTITIES, BmsParameters, ProtectionRow

# action bits
ACT_WARN = 1 << ACTIONS.index("warn")
ACT_DERATE = 1 << ACTIONS.index("derate")
ACT_OPEN_CHARGE = 1 << ACTIONS.index("open_charge")
ACT_OPEN_DISCHARGE = 1 << ACTIONS.index("open_discharge")
ACT_SLEEP = 1 << ACTIONS.index("sleep")

# quantity columns
Q_INDEX = {name: i for i, name in enumerate(QUANTITIES)}
N_QUANTITIES = len(QUANTITIES)

# table columns (float64 array, one row per protection row)
T_QUANTITY = 0
T_SENSE = 1  # +1 high limit, -1 low limit
T_CONDITION = 2  # 0 always, 1 charging, 2 discharging
T_TRIP = 3
T_RELEASE = 4
T_DEBOUNCE = 5
T_DELAY_S = 6
T_RETRY_S = 7
T_LOCKOUT_AFTER = 8
T_LOCKOUT_WINDOW_S = 9
T_LATCH = 10
T_ACTIONS = 11
T_LEVEL = 12
T_COLS = 13

# state columns (float64 array, shape (modules, rows, S_COLS))
S_COUNT = 0
S_HELD_S = 1
S_ACTIVE = 2
S_RELEASE_S = 3
S_TRIPS = 4
S_WINDOW_START_S = 5
S_LOCKED = 6  # 1 lockout (cleared by RESET), 2 latched (cleared by service)
S_TRIP_VALUE = 7
S_COLS = 8

# change codes
CH_NONE = 0
CH_TRIP = 1
CH_RELEASE = 2
CH_LOCKOUT = 3
CH_LATCH = 4

LOCK_NONE = 0
LOCK_OUT = 1
LOCK_LATCHED = 2


def compile_table(rows: tuple[ProtectionRow, ...]) -> np.ndarray:
    """The rows as the evaluator's float array."""
    table = np.zeros((len(rows), T_COLS))
    for i, r in enumerate(rows):
        table[i, T_QUANTITY] = Q_INDEX[r.quantity]
        table[i, T_SENSE] = 1.0 if r.direction == "above" else -1.0
        table[i, T_CONDITION] = CONDITIONS.index(r.condition)
        table[i, T_TRIP] = r.trip
        table[i, T_RELEASE] = r.release
        table[i, T_DEBOUNCE] = r.debounce
        table[i, T_DELAY_S] = r.delay_s
        table[i, T_RETRY_S] = r.retry_s
        table[i, T_LOCKOUT_AFTER] = r.lockout_after
        table[i, T_LOCKOUT_WINDOW_S] = r.lockout_window_s
        table[i, T_LATCH] = 1.0 if r.latch else 0.0
        table[i, T_ACTIONS] = sum(1 << ACTIONS.index(a) for a in r.actions)
        table[i, T_LEVEL] = int(r.level)
    return table


# quiet bands, shape (QB_ROWS, N_QUANTITIES): a module whose every row is idle and whose every quantity lies strictly
# inside its band (above the highest trip of the rows that trip low, below the lowest trip of the rows that trip
# high, whatever their condition) cannot change a row: its evaluation is skipped
QB_LOW = 0
QB_HIGH = 1
QB_ROWS = 2


def quiet_bands(table: np.ndarray) -> np.ndarray:
    """The quiet band of every quantity of ``table`` (``QB_*`` rows; -inf/+inf where no row trips that side)."""
    bands = np.empty((QB_ROWS, N_QUANTITIES))
    bands[QB_LOW] = -np.inf
    bands[QB_HIGH] = np.inf
    for row in table:
        q = int(row[T_QUANTITY])
        if row[T_SENSE] > 0.0:
            bands[QB_HIGH, q] = min(bands[QB_HIGH, q], row[T_TRIP])
        else:
            bands[QB_LOW, q] = max(bands[QB_LOW, q], row[T_TRIP])
    return bands


@njit(cache=True, error_model="numpy")
def _quiet(quantities: np.ndarray, bands: np.ndarray) -> bool:
    """No row of a module with ``quantities`` can count a bad sample (a NaN reading is never bad, as in the rows)."""
    for j in range(quantities.shape[0]):
        x = quantities[j]
        if x >= bands[QB_HIGH, j] or x <= bands[QB_LOW, j]:
            return False
    return True


@njit(cache=True, error_model="numpy")
def evaluate(
    table: np.ndarray,
    state: np.ndarray,
    quantities: np.ndarray,
    current_a: np.ndarray,
    rest_current_a: float,
    now_s: float,
    dt_s: float,
    actions: np.ndarray,
    changes: np.ndarray,
    bands: np.ndarray,
    idle: np.ndarray,
) -> bool:
    """Evaluate every row for every module; fill ``actions`` (bit mask per module) and ``changes``; return True if
    any row changed.

    ``idle`` (per module) is 1.0 where the last evaluation left every row idle (not tripped, debounce count and
    delay at zero, no change); such a module with every quantity inside its quiet band (``bands``, from
    :func:`quiet_bands`) is not evaluated: its rows would stay as they are, its actions 0 and its changes none.
    Whoever writes ``state`` otherwise sets the module's ``idle`` to 0."""
    n_mod = state.shape[0]
    n_rows = table.shape[0]
    any_change = False
    for m in range(n_mod):
        if idle[m] > 0.5 and _quiet(quantities[m], bands):
            continue
        still = True
        mask = 0
        charging = current_a[m] > rest_current_a
        discharging = current_a[m] < -rest_current_a
        for r in range(n_rows):
            changes[m, r] = CH_NONE
            x = quantities[m, int(table[r, T_QUANTITY])]
            sense = table[r, T_SENSE]
            cond = int(table[r, T_CONDITION])
            cond_ok = cond == 0 or (cond == 1 and charging) or (cond == 2 and discharging)
            s = state[m, r]
            if s[S_ACTIVE] < 0.5:
                bad = cond_ok and sense * (x - table[r, T_TRIP]) >= 0.0
                if bad:
                    s[S_COUNT] = min(s[S_COUNT] + 1.0, table[r, T_DEBOUNCE])
                else:
                    s[S_COUNT] = max(s[S_COUNT] - 1.0, 0.0)
                if bad and s[S_COUNT] >= table[r, T_DEBOUNCE]:
                    s[S_HELD_S] += dt_s
                    # the sample that completes the debounce counts as the start of the delay
                    if s[S_HELD_S] >= table[r, T_DELAY_S] + dt_s - 1e-9:
                        s[S_ACTIVE] = 1.0
                        s[S_HELD_S] = 0.0
                        s[S_RELEASE_S] = 0.0
                        s[S_TRIP_VALUE] = x
                        if now_s - s[S_WINDOW_START_S] > table[r, T_LOCKOUT_WINDOW_S] or s[S_TRIPS] == 0.0:
                            s[S_WINDOW_START_S] = now_s
                            s[S_TRIPS] = 0.0
                        s[S_TRIPS] += 1.0
                        changes[m, r] = CH_TRIP
                        if table[r, T_LATCH] > 0.5:
                            s[S_LOCKED] = LOCK_LATCHED
                            changes[m, r] = CH_LATCH
                        elif table[r, T_LOCKOUT_AFTER] > 0.5 and s[S_TRIPS] >= table[r, T_LOCKOUT_AFTER]:
                            s[S_LOCKED] = LOCK_OUT
                            changes[m, r] = CH_LOCKOUT
                        any_change = True
                elif not bad:
                    s[S_HELD_S] = 0.0
            elif s[S_LOCKED] < 0.5:
                released = sense * (x - table[r, T_RELEASE]) < 0.0
                if released:
                    s[S_RELEASE_S] += dt_s
                    if s[S_RELEASE_S] >= table[r, T_RETRY_S]:
                        s[S_ACTIVE] = 0.0
                        s[S_COUNT] = 0.0
                        s[S_RELEASE_S] = 0.0
                        changes[m, r] = CH_RELEASE
                        any_change = True
                else:
                    s[S_RELEASE_S] = 0.0
            if s[S_ACTIVE] > 0.5:
                mask |= int(table[r, T_ACTIONS])
            if s[S_ACTIVE] > 0.5 or s[S_COUNT] != 0.0 or s[S_HELD_S] != 0.0 or changes[m, r] != CH_NONE:
                still = False
        actions[m] = mask
        idle[m] = 1.0 if still else 0.0
    return any_change


@dataclass(frozen=True)
class Change:
    """One row of one module tripped, released, locked out or latched."""

    module_index: int
    row: ProtectionRow
    code: int
    value: float


class ProtectionTable:
    """The compiled table and the state of every module's rows."""

    def __init__(self, params: BmsParameters, n_modules: int) -> None:
        self.rows = params.protection
        self.rest_current_a = params.rest_current_a
        self.table = compile_table(self.rows)
        self.state = np.zeros((n_modules, len(self.rows), S_COLS))
        self.actions = np.zeros(n_modules, dtype=np.int64)
        self.changes = np.zeros((n_modules, len(self.rows)), dtype=np.int64)
        self.bands = quiet_bands(self.table)
        self.idle = np.zeros(n_modules)  # evaluate's skip (see there); 0 after any write of ``state``

    def evaluate(self, quantities: np.ndarray, current_a: np.ndarray, now_s: float, dt_s: float) -> list[Change]:
        """Evaluate one sample of every module; return what changed."""
        changed = evaluate(
            self.table,
            self.state,
            quantities,
            current_a,
            self.rest_current_a,
            now_s,
            dt_s,
            self.actions,
            self.changes,
            self.bands,
            self.idle,
        )
        return self.collect() if changed else []

    def collect(self) -> list[Change]:
        """The changes of the last evaluation."""
        out = []
        for m, r in zip(*np.nonzero(self.changes), strict=True):
            out.append(Change(int(m), self.rows[r], int(self.changes[m, r]), float(self.state[m, r, S_TRIP_VALUE])))
        return out

    def active(self, module_index: int) -> tuple[ProtectionRow, ...]:
        """The rows tripped now for one module."""
        return tuple(self.rows[i] for i in np.flatnonzero(self.state[module_index, :, S_ACTIVE] > 0.5))

    def locked(self, module_index: int) -> tuple[ProtectionRow, ...]:
        """The rows locked out or latched for one module."""
        return tuple(self.rows[i] for i in np.flatnonzero(self.state[module_index, :, S_LOCKED] > 0.5))

    def clear(self, module_index: int, *, service: bool = False) -> None:
        """RESET clears lockouts; a technician's service clear also clears latched rows."""
        s = self.state[module_index]
        limit = LOCK_LATCHED if service else LOCK_OUT
        clear = (s[:, S_LOCKED] > 0.5) & (s[:, S_LOCKED] <= limit)
        s[clear] = 0.0
        self.idle[module_index] = 0.0
