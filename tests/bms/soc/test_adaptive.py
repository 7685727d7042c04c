"""The adaptive estimator: it learns the current offset and the capacity from calibration points only, states a
bound that grows without them, starts from the OCV when nothing is stored, and carries what it learned across a
restart."""

from __future__ import annotations

import itertools

import numpy as np

from ml314.bms.bms import Bms
from ml314.bms.events import Counters, EventLog
from ml314.bms.parameters import load_default_parameters
from ml314.bms.soc import AdaptiveEstimator
from ml314.bms.soc.common import (
    S_A_P00,
    S_A_P02,
    S_A_P11,
    S_A_P22,
    S_CAPACITY_AH,
    S_OFFSET_A,
    compile_soc_params,
    ocv_v,
)

PARAMS = load_default_parameters()
COMPILED = compile_soc_params(PARAMS)
CELLS = 16
T_C = np.full((1, 4), 25.0)
CLOSED = np.zeros(1)


class Cell:
    """A module of identical cells on the BMS's own table (so only the current sensor is wrong): true SOC,
    true capacity, a hysteresis branch; what the sensors read."""

    def __init__(self, soc: float, capacity_ah: float, offset_a: float) -> None:
        self.soc = soc
        self.capacity_ah = capacity_ah
        self.offset_a = offset_a
        self.branch = 1.0

    def run(self, est: AdaptiveEstimator, current_a: float, seconds: int, t0: float) -> float:
        """Drive ``current_a`` (true, positive charging) for ``seconds``; return the time at the end."""
        t = t0
        for _ in range(seconds):
            self.soc = min(self.soc + current_a / 3600.0 / self.capacity_ah, 1.0)
            if current_a != 0.0:
                self.branch = 1.0 if current_a > 0.0 else -1.0
            v = ocv_v(COMPILED, min(max(self.soc, 0.0), 1.0), self.branch)
            if self.soc >= 0.995 and current_a > 0.0:
                v = 3.47  # at the top the cell voltage rises past the sync voltage
            t += 1.0
            est.step(np.array([current_a + self.offset_a]), np.full((1, CELLS), v), T_C, CLOSED, t, 1.0)
        return t


def _cycle(cell: Cell, est: AdaptiveEstimator, t: float) -> float:
    """Charge to full and hold (a full sync), discharge to about 20 %, rest 6 h at the bottom (an OCV point)."""
    while cell.soc < 0.995:
        t = cell.run(est, 100.0, 60, t)
    t = cell.run(est, 5.0, 600, t)  # the taper: the full sync holds for 5 min
    t = cell.run(est, 0.0, 3600, t)
    t = cell.run(est, -80.0, int((cell.soc - 0.20) * cell.capacity_ah * 3600.0 / 80.0), t)
    return cell.run(est, 0.0, 6 * 3600, t)


def test_learns_offset_and_capacity_from_full_charges_and_rests_at_the_bottom() -> None:
    cell = Cell(0.6, capacity_ah=320.0, offset_a=-0.2)
    est = AdaptiveEstimator(PARAMS, 1, initial_soc=0.5, initial_uncertainty=0.2)
    p11_start = est.state[0, S_A_P11]
    t = 0.0
    for _ in range(6):
        t = _cycle(cell, est, t)
    # the count's offset is the sensor's (-0.2 A) plus what the BMS assumes the shunt misses (its prior, +0.05 A)
    assert abs(est.state[0, S_OFFSET_A] - (-0.2 + 0.05)) < 0.06
    assert est.state[0, S_A_P11] < 0.25 * p11_start
    assert abs(est.state[0, S_CAPACITY_AH] - 320.0) < 4.0
    assert abs(est.soc[0] - cell.soc) <= est.uncertainty[0]


def test_bound_grows_while_no_calibration_point_comes() -> None:
    cell = Cell(0.6, capacity_ah=320.0, offset_a=0.1)
    est = AdaptiveEstimator(PARAMS, 1, initial_soc=0.6, initial_uncertainty=0.02)
    t = 0.0
    bounds = []
    for _ in range(48):  # two days on the plateau, a small load: no sync, no usable OCV point
        t = cell.run(est, -2.0, 3600, t)
        bounds.append(float(est.uncertainty[0]))
    assert all(b2 > b1 for b1, b2 in itertools.pairwise(bounds))
    assert bounds[-1] > 2.0 * bounds[0]
    assert abs(est.soc[0] - cell.soc) <= est.uncertainty[0]


def test_first_estimate_comes_from_the_ocv_with_a_bound_that_says_how_much_it_tells() -> None:
    steep = AdaptiveEstimator(PARAMS, 1)
    steep.step(np.zeros(1), np.full((1, CELLS), 3.15), T_C, np.ones(1), 1.0, 1.0)
    flat = AdaptiveEstimator(PARAMS, 1)
    flat.step(np.zeros(1), np.full((1, CELLS), 3.300), T_C, np.ones(1), 1.0, 1.0)
    assert steep.soc[0] < 0.08 and steep.uncertainty[0] < 0.05
    assert 0.3 < flat.soc[0] < 0.7 and flat.uncertainty[0] > 0.15


def test_export_and_import_carry_what_was_learned() -> None:
    cell = Cell(0.6, capacity_ah=320.0, offset_a=-0.2)
    bms = Bms(PARAMS, (1,), estimator="adaptive", initial_soc=0.5, initial_uncertainty=0.2)
    est = bms.estimator
    assert isinstance(est, AdaptiveEstimator)
    t = 0.0
    for _ in range(2):
        t = _cycle(cell, est, t)
    saved = bms.export_state()
    restarted = Bms(PARAMS, (1,), estimator="adaptive")
    restarted.import_state(saved, EventLog(), Counters(1, capacity_ah=314.0))
    for col in (S_OFFSET_A, S_CAPACITY_AH, S_A_P00, S_A_P11, S_A_P22):
        assert restarted.estimator.state[0, col] == est.state[0, col]
    # the restored estimate is the start: the first reading does not replace it by an OCV guess
    before = float(restarted.estimator.soc[0])
    restarted.estimator.step(np.zeros(1), np.full((1, CELLS), 3.300), T_C, CLOSED, t + 1.0, 1.0)
    assert abs(float(restarted.estimator.soc[0]) - before) < 1e-3


def test_full_charge_request_reads_the_part_a_full_charge_removes_and_looks_ahead() -> None:
    # a fresh filter (offset and capacity at their priors) after one full sync, then a deep discharge: the bound
    # grows with the charge moved (the capacity's part, which only a point at the bottom teaches) and with time (the
    # offset's); the request leaves the capacity's part out, but looks at the offset's part as it will be when a full
    # charge asked for now is done
    cell = Cell(0.9, capacity_ah=320.0, offset_a=0.2)
    est = AdaptiveEstimator(PARAMS, 1, initial_soc=0.9, initial_uncertainty=0.2)
    t = 0.0
    while est.uncertainty[0] > 0.01:  # charge to the full sync
        t = cell.run(est, 20.0 if cell.soc < 0.995 else 5.0, 60, t)
    at_sync = float(est.request_bound[0])
    assert at_sync < 0.5 * PARAMS.soc.full_charge_request_bound  # the full charge clears the request
    t = cell.run(est, -100.0, int(0.6 * 320.0 * 36.0), t)  # 60 % out in 2 h
    moved = float(est.request_bound[0])
    p00, p02, p22 = est.state[0, S_A_P00], est.state[0, S_A_P02], est.state[0, S_A_P22]
    capacity_part = 2.0 * float(np.sqrt(p02 * p02 / p22))
    assert capacity_part > 0.005  # the prior's 3 % on 60 % moved
    assert float(est.uncertainty[0]) ** 2 > capacity_part**2 + (2.0 * np.sqrt(p00 - p02 * p02 / p22)) ** 2 - 1e-9
    assert moved < at_sync + 0.5 * capacity_part  # the capacity's part is not what asks for the full charge
    # at rest the offset's part keeps growing, and the request sees it before the bound does
    t = cell.run(est, 0.0, 12 * 3600, t)
    rested = float(est.request_bound[0])
    assert rested > moved
    residual_now = 2.0 * float(np.sqrt(est.state[0, S_A_P00] - est.state[0, S_A_P02] ** 2 / est.state[0, S_A_P22]))
    assert rested > residual_now
