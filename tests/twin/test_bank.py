"""The bank's physics: RC response, hysteresis, the parallel current split, MOSFETs and breaker, seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml314.twin import kernel as k
from ml314.twin.bank import Bank, module_soc
from ml314.twin.params import load_cell_parameters

PARAMS = load_cell_parameters()
NO_LIMITS = np.array([1.0e6, -1.0e6, 1.0e6, 1.0e6])


def drive(
    bank: Bank,
    current_a: float,
    seconds: float,
    *,
    refresh_every: int = 60,
    ambient_c: float = 25.0,
    stops: np.ndarray | None = None,
) -> int:
    """Drive the bank with a constant bus current; return the steps done."""
    n = round(seconds / bank.dt_s)
    inputs = np.zeros((k.IN_ROWS, n))
    inputs[k.IN_REQUEST] = current_a
    inputs[k.IN_AMBIENT_C] = ambient_c
    rows = np.zeros((n + 2, k.ROW_BANK_COLUMNS + bank.n_modules * k.ROW_MODULE_COLUMNS))
    done, _ = bank.run(
        n,
        mode=k.MODE_CURRENT,
        inputs=inputs,
        limits=NO_LIMITS,
        home=np.zeros(k.HP_ROWS),
        stops=np.full(k.ST_ROWS, np.nan) if stops is None else stops,
        sample_every=max(1, n),
        rows=rows,
        refresh_every=refresh_every,
    )
    return done


@pytest.mark.parametrize("dt_s", [1.0, 10.0])
@pytest.mark.parametrize("seconds", [30.0, 60.0, 300.0, 900.0])
def test_rc_pairs_follow_the_analytic_step_response(dt_s: float, seconds: float) -> None:
    bank = Bank(1, PARAMS, seed=3, initial_soc=0.5, dt_s=dt_s)
    current = -100.0
    r0, r1, r2 = (bank.cell_work[row, 0].copy() for row in (0, 1, 2))
    h0 = bank.cell_state[k.CS_HYST_V, 0].copy()
    drive(bank, current, seconds, refresh_every=10**9)  # resistances held: the constant-R solution applies
    v1 = bank.cell_state[k.CS_V1_V, 0]
    v2 = bank.cell_state[k.CS_V2_V, 0]
    np.testing.assert_allclose(v1, r1 * current * (1.0 - math.exp(-seconds / PARAMS.tau1_s)), rtol=1e-12)
    np.testing.assert_allclose(v2, r2 * current * (1.0 - math.exp(-seconds / PARAMS.tau2_s)), rtol=1e-12)
    # the terminal voltage is OCV at the start of the last step + hysteresis + RC + ohmic drop
    assert np.all(bank.cell_state[k.CS_HYST_V, 0] <= h0)
    ocv_drop = bank.cell_state[k.CS_VOLTAGE_V, 0] - v1 - v2 - r0 * current
    grid = np.linspace(0.0, 1.0, 101)
    soc = bank.cell_state[k.CS_SOC, 0]
    ocv = np.interp(soc, grid, PARAMS.tables.ocv_v) + bank.ocv_deviation_v(bank.cell_state[k.CS_SOC])[0]
    # (OCV and hysteresis are taken at the start of the last step: within half a millivolt of the end values)
    np.testing.assert_allclose(ocv_drop, ocv + bank.cell_state[k.CS_HYST_V, 0], atol=5e-4)


def test_rc_relaxation_after_the_current_stops() -> None:
    bank = Bank(1, PARAMS, seed=3, initial_soc=0.5)
    drive(bank, 150.0, 600.0, refresh_every=10**9)
    v1_0 = bank.cell_state[k.CS_V1_V, 0].copy()
    drive(bank, 0.0, 45.0, refresh_every=10**9)
    np.testing.assert_allclose(bank.cell_state[k.CS_V1_V, 0], v1_0 * math.exp(-45.0 / PARAMS.tau1_s), rtol=1e-12)


def test_hysteresis_follows_the_sign_of_the_current() -> None:
    step_soc = 60.0 / PARAMS.mean_capacity_ah  # one hour at 60 A
    charged = Bank(1, PARAMS, seed=1, initial_soc=0.4)
    drive(charged, 60.0, 3600.0)
    assert np.all(charged.cell_state[k.CS_HYST_V, 0] > 0.0)
    discharged = Bank(1, PARAMS, seed=1, initial_soc=0.4 + 2.0 * step_soc)
    drive(discharged, -60.0, 3600.0)
    assert np.all(discharged.cell_state[k.CS_HYST_V, 0] < 0.0)
    # both ended near 59 % SOC; after a long rest the charged module sits on the charge branch, above the other
    drive(charged, 0.0, 4.0 * 3600.0)
    drive(discharged, 0.0, 4.0 * 3600.0)
    gap_v = charged.cell_state[k.CS_VOLTAGE_V, 0].mean() - discharged.cell_state[k.CS_VOLTAGE_V, 0].mean()
    soc_c = charged.cell_state[k.CS_SOC, 0].mean()
    soc_d = discharged.cell_state[k.CS_SOC, 0].mean()
    assert abs(soc_c - soc_d) < 0.02
    full_gap = 2.0 * float(np.interp(soc_c, np.linspace(0, 1, 101), PARAMS.tables.hysteresis_v))
    assert 0.005 <= full_gap <= 0.025  # the 5-25 mV gap of LFP
    assert gap_v == pytest.approx(full_gap, abs=0.004)
    # the hysteresis state moves toward the discharge branch as soon as the current reverses
    h0 = charged.cell_state[k.CS_HYST_V, 0].copy()
    drive(charged, -50.0, 60.0)
    assert np.all(charged.cell_state[k.CS_HYST_V, 0] < h0)


def test_two_modules_of_unequal_capacity_share_current_by_the_physics() -> None:
    bank = Bank(2, PARAMS, seed=5, initial_soc=0.9, capacity_scale=(1.0, 0.5))
    drive(bank, -150.0, 1.0)
    first = bank.mod_state[k.MS_CURRENT_A].copy()
    # at equal SOC the split follows the resistances (cables and cells alike): nearly half each
    assert first[1] / first.sum() == pytest.approx(0.5, abs=0.05)
    late_share = []
    for _ in range(26):
        drive(bank, -150.0, 300.0)
        i = bank.mod_state[k.MS_CURRENT_A]
        # one bus bar: the currents add up and every module sees the same bus voltage
        assert i.sum() == pytest.approx(-150.0, abs=1e-9)
        v = bank.mod_state[k.MS_VOLTAGE_V]
        assert v[0] == pytest.approx(v[1], abs=1e-9)
        soc = bank.module_socs()
        assert soc[1] < soc[0]  # the half-size module empties faster
        if soc[1] < 0.15:
            late_share.append(i[1] / i.sum())
    # near empty the knee of its OCV pushes the small module's share below its capacity share
    assert late_share and max(late_share) < 1.0 / 3.0


def test_equal_modules_split_by_resistance() -> None:
    bank = Bank(2, PARAMS, seed=9, initial_soc=0.5)
    bank.mod_par[k.MP_CABLE_OHM] = [1.0e-3, 3.0e-3]
    drive(bank, 100.0, 1.0)
    i = bank.mod_state[k.MS_CURRENT_A]
    assert i[0] > i[1] > 0.0  # the module behind the longer cable takes less


def test_open_mosfets_and_breaker_carry_no_current() -> None:
    bank = Bank(3, PARAMS, seed=2, initial_soc=0.5)
    bank.set_breaker(1, closed=False)
    bank.set_mosfets(2, charge_on=False, discharge_on=True)
    drive(bank, 60.0, 10.0)
    i = bank.mod_state[k.MS_CURRENT_A]
    assert i[1] == 0.0 and i[2] == 0.0
    assert i[0] == pytest.approx(60.0)
    drive(bank, -60.0, 10.0)
    i = bank.mod_state[k.MS_CURRENT_A]
    assert i[1] == 0.0
    assert i[2] < 0.0  # the charge MOSFET off still lets the module discharge
    bank.set_mosfets(0, charge_on=False, discharge_on=False)
    bank.set_mosfets(2, charge_on=False, discharge_on=False)
    drive(bank, -60.0, 10.0)
    assert np.all(bank.mod_state[k.MS_CURRENT_A] == 0.0)


def test_stop_on_cell_voltage_ends_the_call_early() -> None:
    bank = Bank(1, PARAMS, seed=4, initial_soc=0.9)
    stops = np.full(k.ST_ROWS, np.nan)
    stops[k.ST_CELL_V_ABOVE] = 3.55
    done = drive(bank, 150.0, 4.0 * 3600.0, stops=stops)
    assert done < 4 * 3600
    assert bank.cell_state[k.CS_VOLTAGE_V].max() >= 3.55
    assert bank.cell_state[k.CS_VOLTAGE_V].max() < 3.70


def test_same_seed_same_bank_and_different_seed_differs() -> None:
    a = Bank(4, PARAMS, seed=11)
    b = Bank(4, PARAMS, seed=11)
    c = Bank(4, PARAMS, seed=12)
    np.testing.assert_array_equal(a.capacity_as, b.capacity_as)
    assert not np.array_equal(a.capacity_as, c.capacity_as)
    drive(a, -80.0, 3600.0)
    drive(b, -80.0, 3600.0)
    np.testing.assert_array_equal(a.cell_state, b.cell_state)


def test_module_soc_is_limited_by_the_emptiest_and_the_fullest_cell() -> None:
    soc = np.array([[0.5, 0.5, 0.5], [0.2, 0.5, 0.9]])
    cap = np.ones((2, 3))
    got = module_soc(soc, cap)
    assert got[0] == pytest.approx(0.5)
    # 0.2 deliverable, 0.1 chargeable: two thirds full of what this string can use
    assert got[1] == pytest.approx(0.2 / 0.3)


@pytest.mark.parametrize("x_median", [0.002, 0.01, 0.05])
def test_one_hysteresis_step_is_the_exact_exponential(x_median: float) -> None:
    """h -> exp(-x) h + (1 - exp(-x)) M with x = |i| gamma dt / Q, whichever way the kernel takes exp(-x): by its series
    below x = 0.01, by exp above, and cell by cell when the cells of one module straddle it (x_median 0.01)."""
    dt = 10.0
    bank = Bank(1, PARAMS, seed=4, initial_soc=0.5, dt_s=dt)
    drive(bank, -20.0, 600.0)  # a hysteresis state off the branch, so the step moves it
    h0 = bank.cell_state[k.CS_HYST_V, 0].copy()
    inv_q = bank.cell_par[k.CP_INV_CHARGE_PER_AS, 0]
    current = x_median / (bank.sc[k.SC_GAMMA] * dt * float(np.median(inv_q)))
    drive(bank, current, dt)
    i_c = current - bank.cell_work[k.CW_DRAW_A, 0]
    x = np.abs(i_c) * bank.sc[k.SC_GAMMA] * dt * inv_q
    assert (x_median != 0.01) or (x.min() < 0.01 <= x.max())  # the straddling case straddles
    m = bank.cell_work[k.CW_HYST_M, 0]
    want = np.exp(-x) * h0 + (1.0 - np.exp(-x)) * m
    # the series is exact to x^4/24 < 5e-10 of exp(-x), i.e. within picovolts of h here
    np.testing.assert_allclose(bank.cell_state[k.CS_HYST_V, 0], want, rtol=1e-9, atol=1e-10)


def test_the_soc_grid_index_extrapolates_at_both_ends() -> None:
    """The table interval and the position in it, below 0, inside, on grid points and above 1."""
    for soc, want in ((-0.013, (0, -1.3)), (0.0, (0, 0.0)), (0.257, (25, 0.7)), (0.99, (99, 0.0)), (1.0, (99, 1.0))):
        i, f = k._grid_index.py_func(soc)
        assert i == want[0]
        assert f == pytest.approx(want[1], abs=1e-9)
    i, f = k._grid_index.py_func(1.02)
    assert (i, f) == (99, pytest.approx(3.0))
