"""Energy bookkeeping over a day, and the capacity a 0.2C discharge delivers."""

from __future__ import annotations

import numpy as np
import pytest

from ml314.domain.units import SECONDS_PER_HOUR
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters
from ml314.twin.profiles import household_load, pv_generation

PARAMS = load_cell_parameters()


def _home_day(bank: Bank) -> None:
    n = 86400
    load = household_load(7, 1, 172).resample(0.0, 1.0, n)
    pv = pv_generation(8, 1, 172, peak_kw=6.0, weather="sunny").resample(0.0, 1.0, n)
    inputs = np.zeros((k.IN_ROWS, n))
    inputs[k.IN_AMBIENT_C] = 25.0
    inputs[k.IN_PV_W] = pv
    inputs[k.IN_LOAD_W] = load
    inputs[k.IN_GRID_UP] = 1.0
    home = np.zeros(k.HP_ROWS)
    home[k.HP_MAX_POWER_W] = 6000.0
    home[k.HP_EFFICIENCY] = 0.96
    home[k.HP_DISCHARGE_ALLOWED] = 1.0
    limits = np.array([55.2, 44.8, 157.0 * bank.n_modules, 160.0 * bank.n_modules])
    rows = np.zeros((n // 600 + 2, k.ROW_BANK_COLUMNS + bank.n_modules * k.ROW_MODULE_COLUMNS))
    for start in range(0, n, 3600):
        bank.run(
            3600,
            mode=k.MODE_HOME,
            inputs=np.ascontiguousarray(inputs[:, start : start + 3600]),
            limits=limits,
            home=home,
            stops=np.full(k.ST_ROWS, np.nan),
            sample_every=600,
            rows=rows,
        )


def test_terminal_energy_equals_stored_energy_change_plus_losses_over_a_day() -> None:
    bank = Bank(2, PARAMS, seed=21, initial_soc=0.4)
    bank.set_bms_supply(0, 0.025)
    bank.set_bms_supply(1, 0.060)
    bank.set_balancing(1, np.arange(16) % 3 == 0)
    stored0 = bank.stored_energy_j()
    _home_day(bank)
    acc = bank.acc
    charged, discharged = acc[k.AC_BATTERY_IN_J], acc[k.AC_BATTERY_OUT_J]
    terminal = charged - discharged
    losses = (
        acc[k.AC_CELL_LOSS_J]
        + acc[k.AC_EXTERNAL_LOSS_J]
        + acc[k.AC_BALANCING_J]
        + acc[k.AC_BMS_SUPPLY_J]
        + acc[k.AC_SELF_DISCHARGE_J]
    )
    stored_change = bank.stored_energy_j() - stored0
    # the day really cycled the bank, every loss term is present
    assert charged > 10.0e6 and discharged > 5.0e6
    assert acc[k.AC_BALANCING_J] > 0.0 and acc[k.AC_BMS_SUPPLY_J] > 0.0 and acc[k.AC_SELF_DISCHARGE_J] > 0.0
    imbalance = terminal - (stored_change + losses)
    assert abs(imbalance) <= 0.001 * (charged + discharged)


def test_a_0_2c_discharge_from_full_to_2_5_v_delivers_the_capacity_of_the_weakest_cell() -> None:
    bank = Bank(1, PARAMS, seed=13, initial_soc=1.0)
    stops = np.full(k.ST_ROWS, np.nan)
    stops[k.ST_CELL_V_BELOW] = 2.5
    current = -0.2 * PARAMS.nominal_capacity_ah
    n = round(6.0 * SECONDS_PER_HOUR)
    inputs = np.zeros((k.IN_ROWS, n))
    inputs[k.IN_REQUEST] = current
    inputs[k.IN_AMBIENT_C] = 25.0
    rows = np.zeros((2, k.ROW_BANK_COLUMNS + k.ROW_MODULE_COLUMNS))
    done, _ = bank.run(
        n,
        mode=k.MODE_CURRENT,
        inputs=inputs,
        limits=np.array([1e6, -1e6, 1e6, 1e6]),
        home=np.zeros(k.HP_ROWS),
        stops=stops,
        sample_every=n + 1,
        rows=rows,
    )
    assert done < n  # ended on the cell voltage, not the time
    delivered_ah = bank.acc[k.AC_DISCHARGE_AS] / SECONDS_PER_HOUR
    cap_ah = bank.capacity_as[0] / SECONDS_PER_HOUR
    # the string ends when its weakest cell is empty: its capacity, less what 2.5 V leaves in it, within the spread
    assert cap_ah.min() * 0.985 <= delivered_ah <= cap_ah.min()
    assert cap_ah.min() >= PARAMS.mean_capacity_ah * (1.0 - 4.0 * PARAMS.capacity_sigma)
    assert delivered_ah >= PARAMS.nominal_capacity_ah  # a new module meets its 314 Ah rating


def test_full_charge_brings_the_cells_to_the_top_of_the_ocv_curve() -> None:
    bank = Bank(1, PARAMS, seed=13, initial_soc=0.2)
    stops = np.full(k.ST_ROWS, np.nan)
    stops[k.ST_CELL_V_ABOVE] = 3.65
    n = round(10.0 * SECONDS_PER_HOUR)
    inputs = np.zeros((k.IN_ROWS, n))
    inputs[k.IN_REQUEST] = 0.5 * PARAMS.nominal_capacity_ah
    inputs[k.IN_AMBIENT_C] = 25.0
    bank.run(
        n,
        mode=k.MODE_CURRENT,
        inputs=inputs,
        limits=np.array([1e6, -1e6, 1e6, 1e6]),
        home=np.zeros(k.HP_ROWS),
        stops=stops,
        sample_every=n + 1,
        rows=np.zeros((2, k.ROW_BANK_COLUMNS + k.ROW_MODULE_COLUMNS)),
    )
    assert bank.cell_state[k.CS_VOLTAGE_V].max() == pytest.approx(3.65, abs=0.05)
    assert bank.module_socs()[0] > 0.95
    # charging at 0.5C warms the cells, but not dangerously
    assert 25.0 < bank.cell_state[k.CS_TEMP_C].max() < 40.0
