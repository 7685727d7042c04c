"""The shallow charge/discharge test of Table 12-3 on the twin with its BMS: within 20 %, SOC and SOH normal."""

from __future__ import annotations

import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.runtime.maintenance_test import run_shallow_test
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.status import StatusBuilder
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters


def test_shallow_test_on_the_twin_finds_soc_and_soh_normal() -> None:
    bank = Bank(2, load_cell_parameters(), seed=4, initial_soc=0.6)
    system = CompiledBankSystem(
        bank, load_default_parameters(), seed=4, initial_soc_estimate=0.6, initial_soc_uncertainty=0.01
    )
    try:
        run = run_shallow_test(system, StatusBuilder(system))
    finally:
        system.close()
    rated_current_a = 160.0 * 2
    assert run.max_current_a <= 0.2 * rated_current_a + 1e-6  # at most 20 % of the rated power
    assert max(run.counted_ah) <= 0.2 * 314.0 * 2 + 0.5  # at most 20 % of the rated depth
    assert run.counted_ah[0] == pytest.approx(run.plan.ah, rel=0.01)
    assert run.verdict.soc_normal and run.verdict.soh_normal, run.verdict.lines
    assert run.readings[1].soc_pct == pytest.approx(40.0, abs=2.0)
