"""Calendar and cycle ageing: about 8000 cycles to 70 % at 25 degC."""

from __future__ import annotations

import numpy as np
import pytest

from ml314.twin.ageing import AgeingState, age_cells
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters

PARAMS = load_cell_parameters()
CAP_AS = 314.0 * 3600.0


def _cycle(cycles: int, days: float, temperature_c: float, soc: float = 0.5) -> float:
    """Fade after ``cycles`` full cycles spread over ``days`` at a constant temperature, aged in daily steps."""
    state = AgeingState.fresh((1,))
    per_day = cycles / days
    throughput = 0.0
    for _ in range(int(days)):
        throughput += per_day * 2.0 * CAP_AS
        state = age_cells(
            state,
            PARAMS,
            elapsed_s=86400.0,
            abs_charge_as=np.array([throughput]),
            capacity_as=np.array([CAP_AS]),
            soc=np.array([soc]),
            temperature_c=np.array([temperature_c]),
        )
    return float(state.fade[0])


def test_8000_cycles_at_25c_leave_about_70_percent() -> None:
    fade = _cycle(8000, days=3.7 * 365.0, temperature_c=25.0)
    assert 1.0 - fade == pytest.approx(0.70, abs=0.02)


def test_heat_and_high_soc_age_faster() -> None:
    assert _cycle(0, 365, 45.0) > 2.0 * _cycle(0, 365, 25.0)
    assert _cycle(0, 365, 25.0, soc=1.0) > _cycle(0, 365, 25.0, soc=0.5)
    assert _cycle(0, 365, 25.0) == pytest.approx(0.01, rel=0.1)  # about 1 %/year calendar at 25 degC


def test_ageing_is_independent_of_the_update_interval() -> None:
    coarse = _cycle(300, days=300, temperature_c=30.0)
    state = AgeingState.fresh((1,))
    throughput = 0.0
    for _ in range(300 * 24):
        throughput += 2.0 * CAP_AS / 24.0
        state = age_cells(
            state,
            PARAMS,
            elapsed_s=3600.0,
            abs_charge_as=np.array([throughput]),
            capacity_as=np.array([CAP_AS]),
            soc=np.array([0.5]),
            temperature_c=np.array([30.0]),
        )
    assert float(state.fade[0]) == pytest.approx(coarse, rel=0.01)


def test_an_aged_bank_has_less_capacity_and_more_resistance() -> None:
    bank = Bank(1, PARAMS, seed=1)
    cap0 = bank.capacity_as.copy()
    r0 = bank.cell_par[1].copy()
    bank.cell_state[6] = 2000 * 2.0 * cap0  # 2000 equivalent full cycles of throughput
    bank.age(2.0 * 365.0 * 86400.0)
    assert np.all(bank.capacity_as < 0.95 * cap0)
    assert np.all(bank.cell_par[1] > r0)
    assert bank.truth(0).state_of_health < 0.95
