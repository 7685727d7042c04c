"""Every registered SOC estimator honours the same contract."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.bms.parameters import load_default_parameters
from ml314.bms.soc import (
    ESTIMATOR_IDS,
    N_STATE,
    SOC_ESTIMATORS,
    SocEstimator,
    compile_soc_params,
    new_estimator_state,
    soc_step,
)
from ml314.bms.soc.common import S_SOC, S_UNCERTAINTY
from tests.bms.soc.synth import SynthModule

PARAMS = load_default_parameters()
NAMES = sorted(SOC_ESTIMATORS)


def test_registry_and_ids_agree() -> None:
    assert set(SOC_ESTIMATORS) == set(ESTIMATOR_IDS) >= {"coulomb", "ekf"}
    assert sorted(ESTIMATOR_IDS.values()) == list(range(len(ESTIMATOR_IDS)))
    assert PARAMS.soc.estimator in SOC_ESTIMATORS


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_protocol(name: str) -> None:
    est = SOC_ESTIMATORS[name](PARAMS, 3, initial_soc=0.5)
    assert isinstance(est, SocEstimator)
    assert est.state.shape == (3, N_STATE)
    est.step(np.zeros(3), np.full((3, 16), 3.3), np.full((3, 4), 25.0), np.zeros(3), 1.0, 1.0)
    assert est.soc.shape == (3,) and est.uncertainty.shape == (3,)
    # what the full-charge request reads: a bound, never more than the estimate could be off (1.0)
    assert est.request_bound.shape == (3,) and ((est.request_bound > 0.0) & (est.request_bound <= 1.0)).all()


@pytest.mark.parametrize("name", NAMES)
def test_wrapper_equals_the_dispatcher(name: str) -> None:
    est = SOC_ESTIMATORS[name](PARAMS, 2, initial_soc=0.6)
    p = compile_soc_params(PARAMS)
    state = new_estimator_state(name, p, 2, 0.6)
    rng = np.random.default_rng(5)
    for t in range(200):
        i = rng.normal(0.0, 40.0, 2)
        v = 3.29 + rng.normal(0.0, 0.002, (2, 16))
        temps = np.full((2, 4), 22.0)
        po = np.zeros(2)
        est.step(i, v, temps, po, float(t), 1.0)
        soc_step(ESTIMATOR_IDS[name], state, p, i, v, temps, po, float(t), 1.0)
    np.testing.assert_array_equal(est.state, state)


@pytest.mark.parametrize("name", NAMES)
def test_modules_are_independent(name: str) -> None:
    est = SOC_ESTIMATORS[name](PARAMS, 2, initial_soc=np.array([0.3, 0.7]), initial_uncertainty=0.01)
    for t in range(600):
        est.step(np.array([50.0, 0.0]), np.full((2, 16), 3.3), np.full((2, 4), 25.0), np.zeros(2), t, 1.0)
    assert est.soc[0] > 0.3
    solo = SOC_ESTIMATORS[name](PARAMS, 1, initial_soc=0.7, initial_uncertainty=0.01)
    for t in range(600):
        solo.step(np.zeros(1), np.full((1, 16), 3.3), np.full((1, 4), 25.0), np.zeros(1), t, 1.0)
    assert est.soc[1] == pytest.approx(solo.soc[0])


@pytest.mark.parametrize("name", NAMES)
def test_counts_charge_on_the_plateau(name: str) -> None:
    m = SynthModule(0.40)
    est = SOC_ESTIMATORS[name](PARAMS, 1, initial_soc=0.40, initial_uncertainty=0.01)
    for t in range(3600):
        m.advance(62.8)  # 0.2C for one hour: +20 %
        est.step(*m.readings(), t, 1.0)
    assert est.soc[0] == pytest.approx(0.60, abs=0.01)


@pytest.mark.parametrize("name", NAMES)
def test_full_and_empty_syncs_are_reported(name: str) -> None:
    est = SOC_ESTIMATORS[name](PARAMS, 1, initial_soc=0.5)
    seen_full = seen_empty = False
    for t in range(300):
        est.step(np.array([5.0]), np.full((1, 16), 3.47), np.full((1, 4), 25.0), np.zeros(1), t, 1.0)
        seen_full |= bool(est.full_sync[0])
    for t in range(300, 400):
        est.step(np.array([-100.0]), np.full((1, 16), 2.85), np.full((1, 4), 25.0), np.zeros(1), t, 1.0)
        seen_empty |= bool(est.empty_sync[0])
    assert seen_full and seen_empty
    assert est.soc[0] <= 0.05
    assert est.last_full_sync_s[0] == 299.0


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None)
@given(
    currents=st.lists(st.floats(-300.0, 300.0), min_size=1, max_size=60),
    volts=st.floats(2.0, 3.7),
    soc=st.floats(0.0, 1.0),
)
def test_soc_and_uncertainty_stay_in_range(name: str, currents: list[float], volts: float, soc: float) -> None:
    est = SOC_ESTIMATORS[name](PARAMS, 1, initial_soc=soc)
    for t, i in enumerate(currents):
        est.step(np.array([i]), np.full((1, 16), volts), np.full((1, 4), 25.0), np.zeros(1), t, 1.0)
        assert 0.0 <= est.state[0, S_SOC] <= 1.0
        assert 0.0 < est.state[0, S_UNCERTAINTY] <= 1.0
        assert np.isfinite(est.soc).all()
