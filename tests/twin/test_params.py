"""The shipped parameter set loads, with LFP tables and sensible values."""

from __future__ import annotations

import numpy as np

from ml314.twin.params import SOC_GRID_POINTS, load_cell_parameters


def test_parameter_set_loads_with_lfp_tables() -> None:
    p = load_cell_parameters()
    t = p.tables
    assert t.ocv_v.shape == t.hysteresis_v.shape == t.dudt_v_per_k.shape == (SOC_GRID_POINTS,)
    assert np.all(np.diff(t.ocv_v) >= 0.0)  # OCV rises with SOC
    # the LFP plateau: between 20 % and 80 % the OCV moves less than 100 mV
    assert float(t.ocv_at(0.8) - t.ocv_at(0.2)) < 0.1
    assert 3.2 < float(t.ocv_at(0.5)) < 3.35
    assert p.mean_capacity_ah >= p.nominal_capacity_ah
    assert 0.0 < p.r0_ohm < 1e-3 and p.tau1_s < p.tau2_s


def test_r_soc_factor_is_at_least_one_and_higher_when_empty() -> None:
    f = load_cell_parameters().r_soc_factor_grid()
    assert np.all(f >= 1.0)
    assert f[0] > f[50]
