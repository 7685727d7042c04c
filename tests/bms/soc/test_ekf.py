"""The EKF: converges from 10 % off where the OCV has a slope, leans on the count on the flat plateau."""

from __future__ import annotations

import numpy as np
import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.bms.soc.ekf import EkfEstimator
from tests.bms.soc.synth import SynthModule

PARAMS = load_default_parameters()


def _drive(est: EkfEstimator, m: SynthModule, currents: np.ndarray, t0: int = 0) -> np.ndarray:
    err = np.zeros(currents.size)
    for k, i in enumerate(currents):
        m.advance(float(i))
        est.step(*m.readings(), t0 + k, 1.0)
        err[k] = est.soc[0] - m.soc
    return err


@pytest.mark.parametrize("start_error", [0.10, -0.10])
def test_converges_from_ten_percent_off_on_a_synthetic_cell(start_error: float) -> None:
    """A discharge from 40 % through the sloped region 25..10 % with a noisy 1 mV front end."""
    m = SynthModule(0.40, hyst=-1.0, noise_v=0.002, seed=3)
    est = EkfEstimator(PARAMS, 1, initial_soc=0.40 + start_error)
    currents = np.full(int(0.30 * 314 * 3600 / 60.0), -60.0)  # 30 % at 60 A
    err = _drive(est, m, currents)
    assert abs(err[0]) > 0.05
    assert abs(err[-1]) < 0.02
    assert est.uncertainty[0] < 0.1


def test_does_not_diverge_on_the_plateau_with_a_voltage_bias() -> None:
    """Mid plateau with every cell reading 2 mV high (four times the mean cell gain error of the front end) for a
    day of cycling: the estimate must stay near the count (2 mV is about 7 % of SOC there)."""
    m = SynthModule(0.45, hyst=1.0)
    est = EkfEstimator(PARAMS, 1, initial_soc=0.45, initial_uncertainty=0.02)
    bias = np.full(16, 0.002)
    worst = 0.0
    t = 0
    for hour in range(24):
        i = 30.0 if hour % 2 == 0 else -30.0
        for _ in range(3600):
            m.advance(i)
            est.step(*m.readings(bias), t, 1.0)
            t += 1
        worst = max(worst, abs(est.soc[0] - m.soc))
    assert worst < 0.03


def test_uncertainty_reports_twice_the_soc_sigma_and_drops_at_a_full_sync() -> None:
    est = EkfEstimator(PARAMS, 1, initial_soc=0.9, initial_uncertainty=0.2)
    for t in range(300):
        est.step(np.array([5.0]), np.full((1, 16), 3.46), np.full((1, 4), 25.0), np.zeros(1), t, 1.0)
    assert est.uncertainty[0] <= 0.006
    assert est.soc[0] > 0.97
