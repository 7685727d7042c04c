"""Must-hold properties of the limits: monotonic derating, cuts never late, no flapping on noisy readings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.bms.limits import (
    IN_CELL_MAX_V,
    IN_CELL_MIN_V,
    IN_CHARGE_ALLOWED,
    IN_COLS,
    IN_DERATE_CHARGE,
    IN_DISCHARGE_ALLOWED,
    IN_MOSFET_C,
    IN_PACK_V,
    IN_SOC,
    IN_TEMPERATURE_MAX_C,
    IN_TEMPERATURE_MIN_C,
    OUT_CCL_A,
    OUT_DCL_A,
    ChargeLimiter,
)
from ml314.bms.limits_derating import (
    P_HYSTERESIS_C,
    P_HYSTERESIS_V,
    TAB_CCL_CELL_V,
    TAB_CCL_TEMPERATURE,
    TAB_DCL_CELL_V,
    TAB_DCL_TEMPERATURE,
    TAB_MOSFET,
    compile_limit_params,
    limit_fraction,
    table_value,
)
from ml314.bms.parameters import load_default_parameters

P = load_default_parameters().limits
PV = compile_limit_params(P)
MAX_C = P.max_charge_current_a
HOLD_S = int(P.limit_hold_s)

cell_v = st.floats(2.5, 3.7)
temperature_c = st.floats(-30.0, 70.0)
mosfet_c = st.floats(20.0, 100.0)


def _ccl_fraction(v: float, tmax: float, tmin: float, mos: float, band: bool = False) -> float:
    bv, bc = (PV[P_HYSTERESIS_V], PV[P_HYSTERESIS_C]) if band else (0.0, 0.0)
    f, _ = limit_fraction(PV, TAB_CCL_CELL_V, v, TAB_CCL_TEMPERATURE, tmax, tmin, mos, 1.0, 0.0, bv, bc)
    return float(f)


@pytest.mark.long
@settings(deadline=None)
@given(cell_v, cell_v, temperature_c, mosfet_c)
def test_higher_cell_voltage_never_gives_a_higher_ccl(v1: float, v2: float, t: float, mos: float) -> None:
    lo, hi = sorted((v1, v2))
    assert _ccl_fraction(hi, t, t, mos) <= _ccl_fraction(lo, t, t, mos)
    assert _ccl_fraction(hi, t, t, mos, band=True) <= _ccl_fraction(lo, t, t, mos, band=True)
    assert table_value(PV, TAB_CCL_CELL_V, hi) <= table_value(PV, TAB_CCL_CELL_V, lo)


@settings(deadline=None)
@given(cell_v, cell_v)
def test_lower_cell_voltage_never_gives_a_higher_dcl(v1: float, v2: float) -> None:
    lo, hi = sorted((v1, v2))
    assert table_value(PV, TAB_DCL_CELL_V, lo) <= table_value(PV, TAB_DCL_CELL_V, hi)


def _plateau(x: tuple[float, ...], f: tuple[float, ...]) -> tuple[float, float]:
    ones = [xi for xi, fi in zip(x, f, strict=True) if fi >= 1.0]
    return ones[0], ones[-1]


@settings(deadline=None)
@given(st.sampled_from([TAB_CCL_TEMPERATURE, TAB_DCL_TEMPERATURE, TAB_MOSFET]), temperature_c, temperature_c)
def test_temperature_tables_are_monotonic_on_each_side(table: int, t1: float, t2: float) -> None:
    x, f = (P.ccl_temperature, P.dcl_temperature, P.mosfet_temperature)[table - TAB_CCL_TEMPERATURE]
    lo, hi = _plateau(x, f)
    a, b = sorted((t1, t2))
    fa, fb = table_value(PV, table, a), table_value(PV, table, b)
    if b <= lo:
        assert fa <= fb  # warming towards the plateau never lowers the limit
    if a >= hi:
        assert fa >= fb  # warming beyond it never raises it
    assert 0.0 <= fa <= 1.0


@settings(deadline=None)
@given(cell_v, temperature_c, temperature_c, mosfet_c)
def test_release_target_is_never_above_the_cut_target(v: float, t1: float, t2: float, mos: float) -> None:
    assert _ccl_fraction(v, t1, t2, mos, band=True) <= _ccl_fraction(v, t1, t2, mos)


def _limiter_inputs() -> np.ndarray:
    x = np.zeros((1, IN_COLS))
    x[0, [IN_CELL_MAX_V, IN_CELL_MIN_V, IN_PACK_V, IN_SOC]] = 3.30, 3.29, 52.75, 0.5
    x[0, [IN_TEMPERATURE_MAX_C, IN_TEMPERATURE_MIN_C, IN_MOSFET_C]] = 25.0, 24.0, 30.0
    x[0, [IN_CHARGE_ALLOWED, IN_DISCHARGE_ALLOWED]] = 1.0
    return x


sample = st.tuples(cell_v, temperature_c, mosfet_c, st.booleans(), st.booleans())


@settings(deadline=None, max_examples=50)
@given(st.lists(sample, min_size=1, max_size=200))
def test_ccl_never_above_the_target_never_rises_early_or_fast(
    samples: list[tuple[float, float, float, bool, bool]],
) -> None:
    lim = ChargeLimiter(P, 1)
    x = _limiter_inputs()
    last_cut = -np.inf
    prev = None
    for k, (v, t, mos, allowed, derate) in enumerate(samples):
        x[0, [IN_CELL_MAX_V, IN_TEMPERATURE_MAX_C, IN_MOSFET_C]] = v, t, mos
        x[0, IN_CHARGE_ALLOWED] = float(allowed)
        x[0, IN_DERATE_CHARGE] = float(derate)
        ccl = lim.step(x, float(k), 1.0)[0, OUT_CCL_A]
        target = (
            MAX_C
            * limit_fraction(
                PV, TAB_CCL_CELL_V, v, TAB_CCL_TEMPERATURE, t, 24.0, mos, float(allowed), float(derate), 0.0, 0.0
            )[0]
        )
        assert 0.0 <= ccl <= target + 1e-9  # a cut is never late
        if prev is not None:
            if ccl < prev:
                last_cut = k
            elif ccl > prev:
                assert k - last_cut >= HOLD_S  # held
                assert ccl - prev <= P.limit_ramp_a_per_s + 1e-9  # ramped
                if prev == 0.0:
                    assert ccl > 0.0 and target >= P.limit_recovery_fraction * MAX_C
        prev = ccl


def _reversals(series: np.ndarray) -> tuple[int, int]:
    """(direction reversals, increases followed by a decrease within the hold time)."""
    d = np.diff(series)
    moves = [(i, np.sign(s)) for i, s in enumerate(d) if s != 0.0]
    reversals = sum(1 for (_, a), (_, b) in itertools.pairwise(moves) if a != b)
    quick = sum(1 for (i, a), (j, b) in itertools.pairwise(moves) if a > 0 > b and j - i < HOLD_S)
    return reversals, quick


_VOLTAGE_POINTS = [(TAB_CCL_CELL_V, v) for v in P.ccl_cell_voltage[0]] + [
    (TAB_DCL_CELL_V, v) for v in P.dcl_cell_voltage[0]
]
_TEMPERATURE_POINTS = [(TAB_CCL_TEMPERATURE, t) for t in P.ccl_temperature[0]] + [
    (TAB_DCL_TEMPERATURE, t) for t in P.dcl_temperature[0]
]


def _noisy_run(column: int, centre: float, sigma: float, seed: int, seconds: int = 600) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lim = ChargeLimiter(P, 1)
    x = _limiter_inputs()
    out = np.zeros((seconds, 2))
    for k in range(seconds):
        x[0, column] = centre + sigma * rng.standard_normal()
        out[k] = lim.step(x, float(k), 1.0)[0, [OUT_CCL_A, OUT_DCL_A]]
    return out


@settings(deadline=None, max_examples=30)
@given(st.sampled_from(_VOLTAGE_POINTS), st.floats(-0.005, 0.005), st.integers(0, 2**32 - 1))
def test_cell_voltage_noise_near_a_derating_point_does_not_flap(
    point: tuple[int, float], offset_v: float, seed: int
) -> None:
    table, v = point
    column = IN_CELL_MAX_V if table == TAB_CCL_CELL_V else IN_CELL_MIN_V
    out = _noisy_run(column, v + offset_v, 0.002, seed)  # 10 minutes, 2 mV noise
    for series in out.T:
        reversals, quick = _reversals(series)
        assert quick == 0
        assert reversals <= 2


@settings(deadline=None, max_examples=30)
@given(st.sampled_from(_TEMPERATURE_POINTS), st.floats(-0.3, 0.3), st.integers(0, 2**32 - 1))
def test_temperature_noise_near_a_table_point_does_not_flap(
    point: tuple[int, float], offset_c: float, seed: int
) -> None:
    _, t = point
    column = IN_TEMPERATURE_MAX_C if t > 25.0 else IN_TEMPERATURE_MIN_C  # the warmest or the coldest cell
    out = _noisy_run(column, t + offset_c, 0.1, seed)  # 10 minutes, 0.1 K noise
    for series in out.T:
        reversals, quick = _reversals(series)
        assert quick == 0
        assert reversals <= 2
