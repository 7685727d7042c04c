"""SOH from the learned capacity and resistance."""

from __future__ import annotations

import numpy as np
import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.bms.soc.common import S_CAP_REF_AH, S_CAPACITY_AH, S_RESISTANCE_OHM, compile_soc_params, new_state
from ml314.bms.soh import (
    H_FRESH_RESISTANCE_OHM,
    O_CAPACITY_SOH,
    O_RESISTANCE_SOH,
    SohEstimator,
    compile_soh_params,
)

PARAMS = load_default_parameters()


def _state(cap_ah: float, r_factor: float, ref_ah: float = 314.0) -> np.ndarray:
    p = compile_soc_params(PARAMS)
    st = new_state(p, 1)
    st[0, S_CAPACITY_AH] = cap_ah
    st[0, S_CAP_REF_AH] = ref_ah
    st[0, S_RESISTANCE_OHM] *= r_factor
    return st


def test_fresh_module_is_healthy() -> None:
    soh = SohEstimator(PARAMS, 1)
    assert soh.update(_state(314.0, 1.0))[0] == 1.0
    assert not soh.warning[0] and not soh.end_of_life[0]


def test_capacity_soh_is_relative_to_the_reference() -> None:
    soh = SohEstimator(PARAMS, 1)
    assert soh.update(_state(0.9 * 322.0, 1.0, ref_ah=322.0))[0] == pytest.approx(0.9)
    assert soh.out[0, O_CAPACITY_SOH] == pytest.approx(0.9)


def test_soh_is_the_smaller_of_capacity_and_resistance() -> None:
    soh = SohEstimator(PARAMS, 1)
    # resistance doubled: the resistance SOH is at end of life even with the full capacity
    assert soh.update(_state(314.0, 2.0))[0] == pytest.approx(PARAMS.soh.end_of_life)
    assert soh.out[0, O_RESISTANCE_SOH] == pytest.approx(PARAMS.soh.end_of_life)
    assert soh.end_of_life[0]
    assert soh.update(_state(0.75 * 314.0, 1.2))[0] == pytest.approx(0.75)
    assert soh.warning[0] and not soh.end_of_life[0]


def test_fresh_resistance_is_the_one_second_step_of_sixteen_cells() -> None:
    h = compile_soh_params(PARAMS)
    assert h[H_FRESH_RESISTANCE_OHM] == pytest.approx(16 * 0.257e-3, rel=0.01)
