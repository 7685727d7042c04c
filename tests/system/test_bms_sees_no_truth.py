"""The BMS sees what a real BMS could: no input of it traces back to the twin's truth.

Two checks: the twin's truth views (true SOC, ``truth``) raise if anything calls them while the closed loops run,
from construction on (the estimator's first SOC came from ``bank.module_socs()`` once); and the twin's state that
the sensors do not read, poisoned with NaN, leaves every BMS output exactly as it was.
"""

from __future__ import annotations

import numpy as np
import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.reference_system import ReferenceBankSystem
from ml314.twin import kernel as k
from ml314.twin.bank import Bank, ModuleTruth
from ml314.twin.params import load_cell_parameters

PARAMS = load_default_parameters()
CELLS = load_cell_parameters()


class TruthlessBank(Bank):
    """A bank whose truth views fail the test when called."""

    def module_socs(self) -> np.ndarray:
        raise AssertionError("the BMS side read the true module SOC")

    def bank_soc(self) -> float:
        raise AssertionError("the BMS side read the true bank SOC")

    def truth(self, module: int) -> ModuleTruth:
        raise AssertionError("the BMS side read the twin's truth")


def _profile(n_steps: int) -> np.ndarray:
    """An hour of discharge, then charge, then rest, as bus-current requests."""
    inputs = np.zeros((k.IN_ROWS, n_steps))
    inputs[k.IN_AMBIENT_C] = 20.0
    third = n_steps // 3
    inputs[k.IN_REQUEST, :third] = -60.0
    inputs[k.IN_REQUEST, third : 2 * third] = 60.0
    return inputs


@pytest.mark.parametrize("modules", [1, 3])
def test_compiled_loop_never_reads_the_true_soc(modules: int) -> None:
    bank = TruthlessBank(modules, CELLS, seed=5, initial_soc=0.45)
    system = CompiledBankSystem(bank, PARAMS, seed=6)
    system.advance(3 * 1200, k.MODE_CURRENT, _profile(3 * 1200))
    est = system.bms.estimator
    assert np.all(np.isfinite(est.state[:, :3]))
    assert np.all(est.uncertainty > 0.0)


def test_reference_loop_never_reads_the_true_soc() -> None:
    bank = TruthlessBank(2, CELLS, seed=5, initial_soc=0.7)
    system = ReferenceBankSystem(bank, PARAMS, seed=6)
    for i in range(600):
        system.step(-40.0 if i < 300 else 0.0)
    assert np.all(np.isfinite(system.bms.estimator.soc))


def _poison(bank: Bank) -> None:
    """NaN into the twin's state that no sensor reads and the physics does not use."""
    bank.cell_state[k.CS_ABS_CHARGE_AS] = np.nan
    bank.cell_state[k.CS_BALANCE_S] = np.nan
    bank._fresh_capacity_as[...] = np.nan


def test_twin_state_the_sensors_do_not_read_does_not_reach_the_bms() -> None:
    runs = []
    for poisoned in (False, True):
        bank = Bank(2, CELLS, seed=5, initial_soc=0.45)
        if poisoned:
            _poison(bank)
        system = CompiledBankSystem(bank, PARAMS, seed=6)
        system.advance(3 * 900, k.MODE_CURRENT, _profile(3 * 900))
        bms = system.bms
        runs.append(
            (bms.estimator.state.copy(), bms.limiter.outputs.copy(), bms.limiter.state.copy(), bms.quantities.copy())
        )
    for clean, dirty in zip(runs[0], runs[1], strict=True):
        np.testing.assert_array_equal(clean, dirty)
