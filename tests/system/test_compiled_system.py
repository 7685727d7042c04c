"""The compiled closed loop decides exactly as the BMS stepped every second (ReferenceBankSystem)."""

from __future__ import annotations

import numpy as np
import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.bms.protection import QB_HIGH, QB_LOW
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.reference_system import ReferenceBankSystem
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters
from ml314.twin.sensors import SensorFault

P = load_default_parameters()
C = load_cell_parameters()


def profile(t: int) -> float:
    """Charge hard, discharge past the end (UV protection, sleep), rest, a charger wakes it, an overload."""
    if t < 1500:
        return 150.0
    if t < 9000:
        return -150.0
    if t < 9600:
        return 0.0
    if t < 10200:
        return 40.0
    return -260.0


@pytest.mark.parametrize("modules", [1, 3])
def test_compiled_loop_matches_the_per_second_reference(modules: int) -> None:
    n = 11_000
    ref = ReferenceBankSystem(Bank(modules, C, seed=3, initial_soc=0.6), P, seed=7)
    fast = CompiledBankSystem(Bank(modules, C, seed=3, initial_soc=0.6), P, seed=7, refresh_every=1)
    inputs = np.zeros((k.IN_ROWS, n))
    inputs[k.IN_AMBIENT_C] = 25.0
    inputs[k.IN_REQUEST] = [modules * profile(i + 1) for i in range(n)]  # the same per-module duty
    fault = SensorFault(module_index=modules - 1, channel="temperature", index=1, kind="drift", value=0.02)
    split = 10_300
    # an inverter that ignores the limits: the MOSFETs alone protect, so every decision shows in the physics
    for i in range(split):
        ref.step(float(inputs[k.IN_REQUEST, i]), obey_limits=False)
    fast.advance(split, k.MODE_CURRENT, inputs[:, :split].copy(), obey_limits=False)
    ref.sensors.inject(fault, ref.t_s)
    fast.inject(fault)
    for i in range(split, n):
        ref.step(float(inputs[k.IN_REQUEST, i]), obey_limits=False)
    fast.advance(n - split, k.MODE_CURRENT, inputs[:, split:].copy(), obey_limits=False)
    ref_events = [(e.t_s, e.module_id, e.key, e.kind) for e in ref.bms.events]
    fast_events = [(e.t_s, e.module_id, e.key, e.kind) for e in fast.bms.events]
    assert ref_events == fast_events
    kinds = {e[3] for e in ref_events}
    assert {"trip", "release", "state"} <= kinds  # the profile exercised protection and the state machine
    assert any(e[2] == "state.sleep" for e in ref_events)
    np.testing.assert_allclose(fast.bank.cell_state, ref.bank.cell_state, atol=1e-6)
    np.testing.assert_allclose(fast.bms.estimator.state, ref.bms.estimator.state, atol=1e-9, equal_nan=True)  # type: ignore[attr-defined]
    np.testing.assert_allclose(fast.bms.counters.values, ref.bms.counters.values, rtol=1e-9, equal_nan=True)


def test_an_isolated_module_leaves_the_bus_until_released() -> None:
    system = CompiledBankSystem(Bank(3, C, seed=3, initial_soc=0.6), P, seed=7)
    inputs = np.zeros((k.IN_ROWS, 1))
    inputs[k.IN_AMBIENT_C, 0] = 25.0
    inputs[k.IN_REQUEST, 0] = -60.0
    for _ in range(3):
        system.advance(1, k.MODE_CURRENT, inputs)
    assert abs(system.readings[2][1]) > 5.0
    system.isolate(1, True)
    for _ in range(5):
        system.advance(1, k.MODE_CURRENT, inputs)
    assert abs(system.readings[2][1]) < 0.5, "an isolated module carries no current"
    assert system.bms.charge_fet[1] == 0.0 and system.bms.discharge_fet[1] == 0.0
    assert abs(system.readings[2].sum()) > 55.0, "the others carry the bank"
    system.isolate(1, False)
    for _ in range(3):
        system.advance(1, k.MODE_CURRENT, inputs)
    assert system.bms.discharge_fet[1] == 1.0


def test_skipping_quiet_modules_in_the_loop_changes_nothing() -> None:
    """The closed loop with the protection table's quiet-module skip and with every module evaluated every second
    (empty quiet bands): the same events, cells and estimates through trips, releases and sleep."""
    n, modules = 11_000, 2
    inputs = np.zeros((k.IN_ROWS, n))
    inputs[k.IN_AMBIENT_C] = 25.0
    inputs[k.IN_REQUEST] = [modules * profile(i + 1) for i in range(n)]
    runs = []
    for skip in (True, False):
        system = CompiledBankSystem(Bank(modules, C, seed=3, initial_soc=0.6), P, seed=7)
        if not skip:
            bands = system.bms.protection.bands
            bands[QB_LOW], bands[QB_HIGH] = np.inf, -np.inf  # no quantity is ever inside: every module evaluated
        system.advance(n, k.MODE_CURRENT, inputs.copy(), obey_limits=False)
        runs.append(system)
    fast, full = runs
    assert [(e.t_s, e.key, e.kind) for e in fast.bms.events] == [(e.t_s, e.key, e.kind) for e in full.bms.events]
    assert any(e.kind == "trip" for e in full.bms.events)
    np.testing.assert_array_equal(fast.bank.cell_state, full.bank.cell_state)
    np.testing.assert_array_equal(fast.bms.estimator.state, full.bms.estimator.state)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(fast.bms.protection.state, full.bms.protection.state)
