"""Shared kernels: OCV table and its inverse, hysteresis branch, plateau rule, relaxation, offset learning,
uncertainty."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.bms.parameters import load_default_parameters
from ml314.bms.soc.common import (
    P_PLATEAU_HIGH_V,
    P_PLATEAU_LOW_V,
    S_HYST,
    S_LAST_DIR,
    S_OFFSET_A,
    S_OFFSET_BOUND_A,
    S_REST_S,
    compile_soc_params,
    new_state,
    ocv_on_grid,
    ocv_point,
    ocv_v,
    relaxed,
    soc_from_ocv,
    track_rest,
)
from ml314.bms.soc.coulomb import CoulombEstimator
from tests.bms.soc.synth import SynthModule

PARAMS = load_default_parameters()
P = compile_soc_params(PARAMS)


def test_table_is_the_cell_makers_curve_with_the_scaled_half_gap() -> None:
    scale = PARAMS.soc.cell_model.hysteresis_scale
    grid, ocv, hys = ocv_on_grid(scale)
    assert grid.size == 101
    assert ocv[50] == pytest.approx(3.2998, abs=1e-4)
    assert hys[50] == pytest.approx(0.0226 * scale, rel=0.05)
    full_gap_mv = 2000.0 * hys[20:80]
    assert full_gap_mv.min() >= 5.0
    assert full_gap_mv.max() <= 25.0


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 1.0), st.sampled_from([-1.0, 0.0, 1.0]))
def test_soc_from_ocv_inverts_the_table(soc: float, hyst: float) -> None:
    v = ocv_v(P, soc, hyst)
    back = soc_from_ocv(P, v, hyst)
    assert ocv_v(P, back, hyst) == pytest.approx(v, abs=2e-5)


def test_charge_branch_lies_above_the_discharge_branch() -> None:
    for soc in np.linspace(0.05, 0.95, 19):
        assert ocv_v(P, soc, 1.0) > ocv_v(P, soc, -1.0)


def test_hysteresis_branch_after_charge_and_after_discharge() -> None:
    """Same resting voltage, read after a charge and after a discharge: the discharge branch lies lower, so the
    same voltage means a higher SOC after a discharge."""
    results = {}
    for name, current in (("charge", 60.0), ("discharge", -60.0)):
        st_ = new_state(P, 1, 0.5)
        est = CoulombEstimator(PARAMS, 1, initial_soc=0.1)
        for t in range(3600):
            est.step(np.array([current]), np.full((1, 16), 3.1), np.full((1, 4), 25.0), np.zeros(1), t, 1.0)
        st_ = est.state[0]
        results[name] = (st_[S_HYST], st_[S_LAST_DIR], ocv_point(st_, P, 3.150, 3.150)[0])
    assert results["charge"][0] > 0.95 and results["charge"][1] == 1.0
    assert results["discharge"][0] < -0.95 and results["discharge"][1] == -1.0
    assert results["discharge"][2] > results["charge"][2]
    assert results["charge"][2] == pytest.approx(soc_from_ocv(P, 3.150, results["charge"][0]))


def test_no_ocv_point_on_the_plateau() -> None:
    st_ = new_state(P, 1, 0.5)[0]
    assert P[P_PLATEAU_LOW_V] < 3.30 < P[P_PLATEAU_HIGH_V]
    soc, err = ocv_point(st_, P, 3.30, 3.30)
    assert np.isnan(soc) and np.isnan(err)
    soc, _ = ocv_point(st_, P, 3.15, 3.16)
    assert soc < 0.1
    soc, _ = ocv_point(st_, P, 3.35, 3.36)
    assert soc > 0.6


def test_relaxation_needs_the_wait_or_a_flat_voltage() -> None:
    st_ = new_state(P, 1, 0.5)[0]
    track_rest(st_, P, -50.0, 3.25, 1.0)  # a discharge
    v = 3.20
    for _ in range(1000):  # still relaxing: 0.1 mV/s
        v += 1e-4
        track_rest(st_, P, 0.0, v, 1.0)
    assert not relaxed(st_, P)
    for _ in range(2400):  # flat
        track_rest(st_, P, 0.0, v, 1.0)
    assert relaxed(st_, P)
    assert st_[S_REST_S] == 3400.0


def test_relaxation_by_time_after_discharge_is_five_hours() -> None:
    st_ = new_state(P, 1, 0.5)[0]
    track_rest(st_, P, -50.0, 3.25, 1.0)
    for k in range(5 * 3600):
        track_rest(st_, P, 0.0, 3.25 + 0.003 * (k % 2), 1.0)  # never flat by the dV/dt rule: noisy
        if k == 5 * 3600 - 2:
            assert not relaxed(st_, P) or st_[S_REST_S] >= 1200.0
    assert relaxed(st_, P)


def test_offset_is_learned_while_the_path_is_open_and_subtracted() -> None:
    est = CoulombEstimator(PARAMS, 2, initial_soc=0.5, initial_uncertainty=0.05)
    cells = np.full((2, 16), 3.30)
    temps = np.full((2, 4), 25.0)
    rng = np.random.default_rng(1)
    for t in range(600):
        reading = np.array([0.17, -0.12]) + rng.normal(0.0, 0.1, 2)
        est.step(reading, cells, temps, np.ones(2), t, 1.0)
    assert est.offset_a == pytest.approx([0.17, -0.12], abs=0.03)
    assert np.all(est.state[:, S_OFFSET_BOUND_A] < 0.2)
    soc0 = est.soc.copy()
    for t in range(600, 600 + 3600):  # path closed, true current zero: the offset must not be counted
        reading = np.array([0.17, -0.12]) + rng.normal(0.0, 0.1, 2)
        est.step(reading, cells, temps, np.zeros(2), t, 1.0)
    drift_ah = np.abs(est.soc - soc0) * 314.0
    assert np.all(drift_ah < 0.03)  # uncorrected it would be 0.17 and 0.12 Ah
    assert est.state[0, S_OFFSET_A] == pytest.approx(0.17, abs=0.03)


def test_uncertainty_grows_without_syncs() -> None:
    m = SynthModule(0.5)
    est = CoulombEstimator(PARAMS, 1, initial_soc=0.5, initial_uncertainty=0.01)
    before = est.uncertainty[0]
    for t in range(4 * 3600):
        m.advance(-30.0 if (t // 1800) % 2 else 30.0)
        est.step(*m.readings(), t, 1.0)
    grown = est.uncertainty[0] - before
    # at least the offset bound over the time, plus the gain error over the throughput
    assert grown >= (0.2 * 4 * 3600 + 0.005 * 30 * 4 * 3600) / 3600 / 314.0
    assert est.uncertainty[0] < 0.1
