"""Every row of the protection table: trip, debounce, release (hysteresis), lockout and latch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml314.bms.parameters import ProtectionRow, load_default_parameters
from ml314.bms.protection import (
    ACT_OPEN_CHARGE,
    CH_LATCH,
    CH_LOCKOUT,
    CH_RELEASE,
    CH_TRIP,
    N_QUANTITIES,
    Q_INDEX,
    QB_HIGH,
    QB_LOW,
    S_TRIPS,
    ProtectionTable,
)

PARAMS = load_default_parameters()
ROWS = PARAMS.protection
NOMINAL = {
    "cell_voltage_max_v": 3.30,
    "cell_voltage_min_v": 3.28,
    "pack_voltage_v": 52.8,
    "charge_current_a": 0.0,
    "discharge_current_a": 0.0,
    "cell_temperature_max_c": 25.0,
    "cell_temperature_min_c": 24.0,
    "mosfet_temperature_c": 30.0,
    "board_temperature_c": 30.0,
    "cell_spread_v": 0.02,
    "temperature_spread_c": 1.0,
    "pack_vs_cells_v": 0.05,
    "current_with_path_open_a": 0.0,
}


class Harness:
    """One module, one row under test, one sample per second."""

    def __init__(self, row: ProtectionRow) -> None:
        self.row = row
        self.index = ROWS.index(row)
        self.table = ProtectionTable(PARAMS, 1)
        self.t = 0.0
        self.current = {"always": 0.0, "charging": 50.0, "discharging": -50.0}[row.condition]

    def sample(self, value: float) -> int:
        q = np.array([[NOMINAL[name] for name in Q_INDEX]], dtype=float)
        assert q.shape == (1, N_QUANTITIES)
        q[0, Q_INDEX[self.row.quantity]] = value
        self.t += 1.0
        self.table.evaluate(q, np.array([self.current]), self.t, 1.0)
        return int(self.table.changes[0, self.index])

    @property
    def active(self) -> bool:
        return self.row in self.table.active(0)

    def bad(self) -> float:
        return self.row.trip

    def band(self) -> float:
        """Between release and trip: the hysteresis band."""
        return 0.5 * (self.row.trip + self.row.release)

    def good(self) -> float:
        sense = 1.0 if self.row.direction == "above" else -1.0
        return self.row.release - sense * max(abs(self.row.release) * 0.05, 0.05)

    def trip_now(self) -> int:
        """Feed bad samples until it trips; return how many it took."""
        for n in range(1, 1000):
            if self.sample(self.bad()) in (CH_TRIP, CH_LOCKOUT, CH_LATCH):
                return n
        raise AssertionError("never tripped")


def _id(row: ProtectionRow) -> str:
    return row.key


def test_the_table_covers_every_quantity_the_issue_names() -> None:
    names = {r.name for r in ROWS}
    for needed in (
        "cell_overvoltage",
        "cell_undervoltage",
        "pack_overvoltage",
        "pack_undervoltage",
        "charge_overcurrent",
        "discharge_overcurrent",
        "short_circuit",
        "charge_undertemperature",
        "charge_overtemperature",
        "discharge_undertemperature",
        "discharge_overtemperature",
        "mosfet_overtemperature",
        "board_overtemperature",
        "cell_imbalance",
        "temperature_sensor",
        "current_sensor",
        "deep_discharge",
    ):
        assert needed in names
    assert {r.level.name for r in ROWS if r.name == "charge_overcurrent"} == {"WARNING", "ALARM", "PROTECTION"}


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_trips_after_debounce_and_delay(row: ProtectionRow) -> None:
    h = Harness(row)
    for _ in range(3):
        assert h.sample(NOMINAL[row.quantity]) == 0
    expected = row.debounce - 1 + math.ceil(row.delay_s - 1e-9) + 1
    assert h.trip_now() == expected
    assert h.active
    assert h.table.state[0, h.index, 7] == pytest.approx(row.trip)  # the value that tripped it is kept


@pytest.mark.parametrize("row", [r for r in ROWS if r.debounce > 1], ids=_id)
def test_isolated_bad_samples_are_debounced(row: ProtectionRow) -> None:
    h = Harness(row)
    for _ in range(200):
        h.sample(h.bad())
        assert not h.active
        h.sample(NOMINAL[row.quantity])
        assert not h.active


@pytest.mark.parametrize("row", [r for r in ROWS if r.condition != "always"], ids=_id)
def test_conditional_rows_ignore_the_other_direction(row: ProtectionRow) -> None:
    h = Harness(row)
    h.current = -h.current  # charging rows see a discharge and the reverse
    for _ in range(100):
        h.sample(h.bad())
    assert not h.active


@pytest.mark.parametrize("row", [r for r in ROWS if not r.latch], ids=_id)
def test_holds_in_the_hysteresis_band_and_releases_past_the_release_level(row: ProtectionRow) -> None:
    h = Harness(row)
    h.trip_now()
    for _ in range(int(row.retry_s) + 120):
        h.sample(h.band())
    assert h.active, "released inside the hysteresis band"
    steps = 0
    while h.sample(h.good()) != CH_RELEASE:
        steps += 1
        assert steps < 10_000, "never released"
    assert not h.active
    assert steps + 1 == max(1, math.ceil(row.retry_s - 1e-9))


@pytest.mark.parametrize("row", [r for r in ROWS if r.lockout_after > 0], ids=_id)
def test_repeated_trips_lock_out_until_reset(row: ProtectionRow) -> None:
    h = Harness(row)
    codes = []
    for _ in range(row.lockout_after):
        h.trip_now()
        codes.append(int(h.table.changes[0, h.index]))
        if codes[-1] == CH_LOCKOUT:
            break
        while h.sample(h.good()) != CH_RELEASE:
            pass
    assert codes[-1] == CH_LOCKOUT
    for _ in range(int(row.retry_s) + 600):
        h.sample(h.good())
    assert h.active and row in h.table.locked(0)
    h.table.clear(0)  # RESET
    assert not h.active
    assert h.trip_now() >= 1  # and it protects again


@pytest.mark.parametrize("row", [r for r in ROWS if r.latch], ids=_id)
def test_latched_rows_hold_until_a_service_clear(row: ProtectionRow) -> None:
    h = Harness(row)
    h.trip_now()
    assert int(h.table.changes[0, h.index]) == CH_LATCH
    for _ in range(3600):
        h.sample(h.good())
    h.table.clear(0)  # RESET does not clear a latch
    assert h.active
    h.table.clear(0, service=True)
    assert not h.active


def test_actions_of_tripped_rows_are_combined() -> None:
    h = Harness(PARAMS.row("cell_overvoltage.protection"))
    h.trip_now()
    assert h.table.actions[0] & ACT_OPEN_CHARGE
    h2 = Harness(PARAMS.row("cell_overvoltage.warning"))
    h2.sample(3.51)
    assert not h2.table.actions[0] & ACT_OPEN_CHARGE


def test_skipping_quiet_modules_changes_nothing() -> None:
    """A module whose rows are all idle and whose quantities are inside their quiet bands is not evaluated: every
    state, action and change is as when every module is evaluated every second (each module takes one quantity at a
    time past every trip level of its rows and back, then rests; conditions and a missing reading included)."""
    rng = np.random.default_rng(5)
    n, steps, window = 4, 4800, 600
    fast, full = ProtectionTable(PARAMS, n), ProtectionTable(PARAMS, n)
    nominal = np.array([NOMINAL[name] for name in Q_INDEX], dtype=float)
    reach = np.zeros(N_QUANTITIES)  # a little past the farthest trip level of the quantity's rows
    for row in ROWS:
        j = Q_INDEX[row.quantity]
        reach[j] = max(reach[j], 1.2 * abs(row.trip - nominal[j]))
    skipped = 0
    for t in range(1, steps + 1):
        q = nominal + rng.normal(0.0, 0.002, (n, N_QUANTITIES)) * reach
        into = t % window
        for m in range(n):
            j = (t // window + 3 * m) % N_QUANTITIES
            if into < window // 2:  # out past the trip levels on both sides and back, then rest
                q[m, j] += reach[j] * math.sin(2.0 * math.pi * into / (window // 2))
        q[1, Q_INDEX["cell_temperature_max_c"]] = math.nan  # a module with a reading missing
        current = 60.0 * np.sin(2.0 * math.pi * t / 500.0 + np.arange(n))
        inside = ~((q >= fast.bands[QB_HIGH]) | (q <= fast.bands[QB_LOW])).any(axis=1)
        skipped += int(np.sum((fast.idle > 0.5) & inside))
        full.idle[:] = 0.0  # every module evaluated
        assert fast.evaluate(q, current, float(t), 1.0) == full.evaluate(q, current, float(t), 1.0)
        np.testing.assert_array_equal(fast.state, full.state)
        np.testing.assert_array_equal(fast.actions, full.actions)
        np.testing.assert_array_equal(fast.changes, full.changes)
    assert skipped > n * steps // 10  # the skip did happen
    assert np.all(full.state[:, :, S_TRIPS].sum(axis=1) > 0)  # and every module's rows tripped on the way
