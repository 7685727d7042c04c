"""Passive balancing: knee mode while charging with hysteresis, inhibits, charge-difference mode at rest."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.bms.balancing import (
    BAL_COLS,
    BALANCE_REFERENCE_V,
    Balancer,
    balancing_step,
    compile_balancing,
    load_ocv_table,
)
from ml314.bms.parameters import load_default_parameters

PARAMS = load_default_parameters()
B = PARAMS.balancing
R_OHM = BALANCE_REFERENCE_V / B.current_a
CAPACITY_AH = PARAMS.soc.capacity_ah
OCV_AVAILABLE = resources.files("ml314.bms").joinpath("data").joinpath("ocv_lfp.csv").is_file()
needs_ocv = pytest.mark.skipif(not OCV_AVAILABLE, reason="bms/data/ocv_lfp.csv not there yet")


class Harness:
    """One module unless told; readings held between steps; a clock."""

    def __init__(self, n: int = 1) -> None:
        self.bal = Balancer(PARAMS, n)
        self.n = n
        self.cells = np.full((n, 16), 3.40)
        self.current_a = np.full(n, 20.0)
        self.max_t = np.full(n, 25.0)
        self.board_t = np.full(n, 30.0)
        self.inhibit = np.zeros(n)
        self.rest_s = np.zeros(n)
        self.t = 0.0

    def step(self, dt_s: float = 1.0) -> np.ndarray:
        mask = self.bal.step(
            self.cells, self.current_a, self.max_t, self.board_t, self.inhibit, self.rest_s, self.t, dt_s
        ).copy()
        self.t += dt_s
        if np.all(np.abs(self.current_a) <= PARAMS.rest_current_a):
            self.rest_s += dt_s
        else:
            self.rest_s[:] = 0.0
        return mask


def soc_of(v: float) -> float:
    table = load_ocv_table()
    return float(np.interp(v, table.ocv_v, table.soc))


# --- knee mode ---


def test_knee_while_relaxed_at_the_top() -> None:
    h = Harness()
    h.cells[0, 5] = 3.42
    h.current_a[:] = 0.0
    h.rest_s[:] = B.rest_s  # resting long enough at the top (absorption): the knee bleeds without a charge current
    assert h.step()[0, 5] == 1.0


def test_starts_only_in_the_knee_while_charging() -> None:
    h = Harness()
    h.cells[0, 5] = 3.42  # 20 mV above the rest, above 3.40
    assert h.step()[0].tolist() == [1.0 if c == 5 else 0.0 for c in range(16)]
    for current in (0.0, 0.4, -30.0):  # at rest (within the rest band) or discharging: no knee bleeding
        h2 = Harness()
        h2.cells[0, 5] = 3.42
        h2.current_a[:] = current
        assert not h2.step().any()
    h3 = Harness()  # on the plateau, not in the knee
    h3.cells[:] = 3.36
    h3.cells[0, 5] = 3.39
    assert not h3.step().any()
    h4 = Harness()  # in the knee but within the start delta
    h4.cells[0, 5] = 3.40 + B.start_delta_v - 0.001
    assert not h4.step().any()


def test_stops_when_charging_stops() -> None:
    h = Harness()
    h.cells[0, 5] = 3.42
    assert h.step()[0, 5] == 1.0
    h.current_a[:] = 0.0
    assert h.step()[0, 5] == 0.0
    h.current_a[:] = 20.0
    assert h.step()[0, 5] == 1.0


def test_hysteresis_between_start_and_stop_delta() -> None:
    h = Harness()
    band = 3.40 + 0.5 * (B.stop_delta_v + B.start_delta_v)
    h.cells[0, 3] = band  # between stop and start delta: does not start
    assert h.step()[0, 3] == 0.0
    h.cells[0, 3] = 3.42  # 20 mV: starts
    assert h.step()[0, 3] == 1.0
    h.cells[0, 3] = band  # back inside the band: keeps bleeding
    assert h.step()[0, 3] == 1.0
    h.cells[0, 3] = 3.406  # 6 mV: still >= stop delta
    assert h.step()[0, 3] == 1.0
    h.cells[0, 3] = 3.404  # 4 mV: below stop delta, stops
    assert h.step()[0, 3] == 0.0
    h.cells[0, 3] = band  # inside the band again: stays off until above the start delta
    assert h.step()[0, 3] == 0.0


def test_per_cell_time_and_charge_recorded() -> None:
    h = Harness()
    h.cells[0, 2] = 3.43
    h.cells[0, 9] = 3.44
    for _ in range(10):
        h.step(dt_s=2.0)
    time_s = h.bal.balancing_time_s[0]
    assert time_s[2] == 20.0
    assert time_s[9] == 20.0
    assert time_s.sum() == 40.0
    bled = h.bal.bled_ah[0]
    assert bled[2] == pytest.approx(3.43 / R_OHM * 20.0 / 3600.0)
    assert bled[9] == pytest.approx(3.44 / R_OHM * 20.0 / 3600.0)
    assert np.count_nonzero(bled) == 2


def test_modules_are_independent() -> None:
    h = Harness(n=3)
    h.cells[1, 7] = 3.45
    h.current_a[2] = 0.0
    h.cells[2, 7] = 3.45
    mask = h.step()
    assert mask[1, 7] == 1.0
    assert mask.sum() == 1.0


# --- inhibits ---


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_cell", B.min_cell_voltage_v - 0.01),
        ("max_t", B.max_cell_temperature_c + 0.1),
        ("board_t", B.max_board_temperature_c + 0.1),
        ("inhibit", 1.0),
    ],
)
def test_inhibits_stop_bleeding_and_reset_the_knee(field: str, value: float) -> None:
    h = Harness()
    h.cells[0, 5] = 3.42
    assert h.step()[0, 5] == 1.0
    h.cells[0, 5] = 3.40 + 0.5 * (B.stop_delta_v + B.start_delta_v)  # inside the hysteresis band: would keep bleeding
    if field == "min_cell":
        h.cells[0, 0] = value
    else:
        getattr(h, field)[0] = value
    assert not h.step().any()
    h.cells[0, 0] = 3.40
    h.max_t[:] = 25.0
    h.board_t[:] = 30.0
    h.inhibit[:] = 0.0
    assert not h.step().any()  # the latch was reset: inside the band it does not restart


def test_inhibit_at_the_limits_themselves_does_not_block() -> None:
    h = Harness()
    h.cells[0, 5] = 3.42
    h.max_t[:] = B.max_cell_temperature_c
    h.board_t[:] = B.max_board_temperature_c
    assert h.step()[0, 5] == 1.0


# --- never more than the resistor allows ---


@settings(deadline=None, max_examples=60)
@given(
    cells=st.lists(st.floats(2.9, 3.65), min_size=16, max_size=16),
    currents=st.lists(st.floats(-100.0, 100.0), min_size=1, max_size=20),
    dt_s=st.sampled_from([0.5, 1.0, 60.0]),
)
def test_never_bleeds_more_than_the_resistor_allows(cells: list[float], currents: list[float], dt_s: float) -> None:
    h = Harness()
    h.cells[0] = cells
    for current in currents:
        h.current_a[:] = current
        before = h.bal.state.copy()
        mask = h.step(dt_s)
        bled = h.bal.state[0, :, 7] - before[0, :, 7]
        limit = np.asarray(cells) / R_OHM * dt_s / 3600.0
        assert np.all(bled <= limit * (1.0 + 1e-12))
        assert np.all(bled >= 0.0)
        np.testing.assert_array_equal(bled > 0.0, mask[0] > 0.0)


# --- charge-difference mode at rest ---


@needs_ocv
def test_rest_mode_bleeds_the_computed_charge_then_stops() -> None:
    h = Harness()
    h.current_a[:] = 0.0
    h.cells[:] = 3.36
    h.cells[0, 11] = 3.40  # both on the steep top of the curve after a full charge
    expected_ah = CAPACITY_AH * (soc_of(3.40) - soc_of(3.36))
    assert expected_ah > 0.0
    dt_s = 10.0
    while h.rest_s[0] < B.rest_s:  # no plan before rest_s
        assert not h.step(dt_s).any()
    assert h.step(dt_s)[0, 11] == 1.0
    assert h.bal.state[0, 11, 3] == pytest.approx(expected_ah, rel=1e-9)
    step_ah = 3.40 / R_OHM * dt_s / 3600.0
    for _ in range(int(expected_ah / step_ah) + 50):
        h.step(dt_s)
    bled = h.bal.bled_ah[0]
    assert abs(bled[11] - expected_ah) <= 0.5 * step_ah + 1e-12
    assert np.count_nonzero(bled) == 1
    assert h.bal.target_ah[0, 11] == 0.0
    assert not h.step(dt_s).any()  # done: stops, and one plan per rest period
    assert h.bal.balancing_time_s[0, 11] == pytest.approx(round(expected_ah / step_ah) * dt_s)


@needs_ocv
def test_rest_mode_bottom_of_the_curve() -> None:
    h = Harness()
    h.current_a[:] = 0.0
    h.cells[:] = 3.05
    h.cells[0, 0] = 3.15
    h.rest_s[:] = B.rest_s
    assert h.step()[0, 0] == 1.0
    assert h.bal.state[0, 0, 3] == pytest.approx(CAPACITY_AH * (soc_of(3.15) - soc_of(3.05)), rel=1e-9)


@needs_ocv
def test_no_plan_on_the_plateau() -> None:
    h = Harness()
    h.current_a[:] = 0.0
    h.cells[:] = 3.29
    h.cells[0, 4] = 3.32  # 30 mV on the plateau: could be any charge difference
    h.rest_s[:] = B.rest_s
    assert not h.step().any()
    assert h.bal.target_ah.sum() == 0.0


@needs_ocv
def test_reference_on_the_plateau_plans_no_more_than_known() -> None:
    h = Harness()
    h.current_a[:] = 0.0
    h.cells[:] = 3.345  # flat part of the top: SOC known only to be below the flat run's end
    h.cells[0, 8] = 3.40
    h.rest_s[:] = B.rest_s
    assert h.step()[0, 8] == 1.0
    planned = h.bal.state[0, 8, 3]
    assert 0.0 < planned <= CAPACITY_AH * (soc_of(3.40) - soc_of(3.345))


@needs_ocv
def test_rest_plan_waits_for_inhibit_and_keeps_bleeding_after_rest() -> None:
    h = Harness()
    h.current_a[:] = 0.0
    h.cells[:] = 3.36
    h.cells[0, 2] = 3.40
    h.rest_s[:] = B.rest_s
    h.inhibit[:] = 1.0
    assert not h.step().any()
    assert h.bal.target_ah.sum() == 0.0
    h.inhibit[:] = 0.0
    assert h.step()[0, 2] == 1.0  # planned now, still at rest
    h.current_a[:] = -40.0  # the difference is unchanged by a common current: keep bleeding
    h.cells[:] = 3.25
    assert h.step()[0, 2] == 1.0
    assert h.bal.target_ah[0, 2] > 0.0


def test_without_a_table_rest_mode_is_off() -> None:
    vec = compile_balancing(PARAMS, None)
    state = np.zeros((1, 16, BAL_COLS))
    cells = np.full((1, 16), 3.36)
    cells[0, 2] = 3.39  # below the knee start: only a rest plan could bleed it, and there is no table
    mask = np.zeros((1, 16))
    ones = np.ones(1)
    count = balancing_step(
        state, vec, cells, 0.0 * ones, 25.0 * ones, 30.0 * ones, 0.0 * ones, 1e6 * ones, 0.0, 1.0, mask
    )
    assert count == 0
    assert not mask.any()
