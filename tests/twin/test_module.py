"""Front-panel hardware reaches the physics of the bank."""

from __future__ import annotations

import numpy as np
import pytest

from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.module import installed_bank_hardware
from ml314.twin.params import load_cell_parameters

PARAMS = load_cell_parameters()


def _drive(bank: Bank, current_a: float, seconds: int) -> None:
    inputs = np.zeros((k.IN_ROWS, seconds))
    inputs[k.IN_REQUEST] = current_a
    inputs[k.IN_AMBIENT_C] = 25.0
    bank.run(
        seconds,
        mode=k.MODE_CURRENT,
        inputs=inputs,
        limits=np.array([1e6, -1e6, 1e6, 1e6]),
        home=np.zeros(k.HP_ROWS),
        stops=np.full(k.ST_ROWS, np.nan),
        sample_every=seconds + 1,
        rows=np.zeros((2, k.ROW_BANK_COLUMNS + bank.n_modules * k.ROW_MODULE_COLUMNS)),
    )


def test_installed_bank_has_ids_and_termination_at_both_ends() -> None:
    hw = installed_bank_hardware(4)
    assert [h.panel.dip_latched_id for h in hw] == [1, 2, 3, 4]
    assert [h.panel.termination_on for h in hw] == [True, False, False, True]


def test_breaker_opened_on_the_panel_stops_the_module_current() -> None:
    bank = Bank(2, PARAMS, seed=1)
    hw = installed_bank_hardware(2)
    hw[1].panel.breaker.open()
    for i, h in enumerate(hw):
        h.apply(bank, i)
    _drive(bank, -50.0, 10)
    assert bank.mod_state[k.MS_CURRENT_A, 1] == 0.0
    assert bank.mod_state[k.MS_CURRENT_A, 0] == pytest.approx(-50.0)


def test_a_sleeping_bms_drains_its_cells_slower_than_an_active_one() -> None:
    bank = Bank(2, PARAMS, seed=1, initial_soc=0.5)
    hw = installed_bank_hardware(2)
    for h in hw:
        h.panel.breaker.open()  # isolated: only the BMS supply and self-discharge act
    hw[1].power_state = "sleep"
    for i, h in enumerate(hw):
        h.apply(bank, i)
    _drive(bank, 0.0, 30 * 86400 // 60)  # 12 hours
    lost = 0.5 - bank.cell_soc.mean(axis=1)
    assert lost[0] > lost[1] > 0.0
    # an active BMS draws 60 mA: 0.72 Ah in 12 h out of about 322 Ah, on top of self-discharge
    assert lost[0] - lost[1] == pytest.approx((0.060 - 0.0003) * 12 / 322.0, rel=0.1)


def test_balancing_resistors_bleed_only_their_cells() -> None:
    bank = Bank(1, PARAMS, seed=1, initial_soc=0.5)
    hw = installed_bank_hardware(1)
    hw[0].panel.breaker.open()
    hw[0].balancing[3] = True
    hw[0].apply(bank, 0)
    _drive(bank, 0.0, 3600)
    soc = bank.cell_soc[0]
    assert soc[3] < np.delete(soc, 3).min()
    assert bank.cell_state[k.CS_BALANCE_S, 0, 3] == pytest.approx(3600.0)
    assert bank.cell_state[k.CS_BALANCE_S, 0, 2] == 0.0
