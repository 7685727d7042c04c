"""Shared set-up of the end-to-end scenarios: a bank with its BMS in closed loop."""

from __future__ import annotations

import numpy as np
import pytest

from ml314.bms.parameters import BmsParameters, load_default_parameters
from ml314.system.reference_system import ReferenceBankSystem
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters


@pytest.fixture(scope="session")
def bms_params() -> BmsParameters:
    return load_default_parameters()


def make_system(
    params: BmsParameters, *, modules: int = 1, soc: float = 0.5, temperature_c: float = 25.0, seed: int = 1
) -> ReferenceBankSystem:
    bank = Bank(modules, load_cell_parameters(), seed=seed, initial_soc=soc, ambient_c=temperature_c)
    bank.cell_state[k.CS_TEMP_C] = temperature_c
    # the BMS starts from a stored estimate (the scenario's SOC, stated 1 % sure), as after a restart: these
    # scenarios test what it does with its SOC, not how it finds it (tests/bms/soc does)
    return ReferenceBankSystem(bank, params, seed=seed, initial_soc_estimate=soc, initial_soc_uncertainty=0.01)


def cell_max_v(system: ReferenceBankSystem) -> float:
    return float(np.max(system.bank.cell_state[k.CS_VOLTAGE_V]))
