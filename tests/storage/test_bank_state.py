"""The whole bank across a restart: BMS memory (estimator arrays, latches, counters, log) and the battery itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.bms.states import BmsState
from ml314.errors import ConfigError, InputError
from ml314.storage.bank_state import BankShape, load_bank_state, restore, save_bank_state
from ml314.system.compiled_system import CompiledBankSystem
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters
from ml314.twin.sensors import SensorFault

P = load_default_parameters()
C = load_cell_parameters()
SHAPE = BankShape(modules=2, seed=3)


def _system() -> CompiledBankSystem:
    return CompiledBankSystem(Bank(2, C, seed=SHAPE.seed, initial_soc=0.5), P, seed=SHAPE.seed + 3)


def _advance(system: CompiledBankSystem, seconds: int, request_a: float) -> None:
    inputs = np.zeros((k.IN_ROWS, seconds))
    inputs[k.IN_AMBIENT_C] = 25.0
    inputs[k.IN_REQUEST] = request_a
    system.advance(seconds, k.MODE_CURRENT, inputs)


def test_a_restored_bank_continues_with_its_memory_its_latch_and_its_charge(tmp_path: Path) -> None:
    first = _system()
    _advance(first, 3600, -200.0)  # an hour of discharge: SOC, counters and the estimator move
    first.inject(SensorFault(module_index=1, channel="pack_voltage", kind="offset", value=2.0))
    _advance(first, 60, 0.0)
    assert first.bms.machines[1].state.state == BmsState.FAULT  # the voltage-sensor latch
    path = tmp_path / "bank.bms.json"
    save_bank_state(path, first.bank, first.bms, SHAPE)
    stored_doc = json.loads(path.read_text())["payload"]["state"]
    # the estimator is carried as its whole state array, so columns added to it later are carried too
    assert np.asarray(stored_doc["bms"]["estimator"]).shape == first.bms.estimator.state.shape

    second = _system()  # power cycle: the same (repaired) hardware
    assert second.t_s < first.t_s
    stored = load_bank_state(path, SHAPE)
    assert stored.source == "main"
    restore(second.bank, second.bms, stored)
    assert second.t_s == first.t_s
    np.testing.assert_array_equal(second.bank.cell_state, first.bank.cell_state)
    np.testing.assert_array_equal(second.bms.estimator.state, first.bms.estimator.state)
    np.testing.assert_array_equal(second.bms.counters.values, first.bms.counters.values)
    assert float(second.bms.estimator.soc[0]) < 0.4  # not the 50 % of a fresh start
    assert len(second.bms.events) == len(first.bms.events) + 1 and list(second.bms.events)[-1].key == "store.restored"
    _advance(second, 2, 0.0)
    assert second.bms.machines[1].state.state == BmsState.FAULT  # the latch is in non-volatile memory
    assert second.bms.machines[0].state.state != BmsState.FAULT


def test_another_bank_a_damaged_main_file_and_an_old_store(tmp_path: Path) -> None:
    system = _system()
    path = tmp_path / "bank.bms.json"
    save_bank_state(path, system.bank, system.bms, SHAPE)
    _advance(system, 10, -50.0)
    save_bank_state(path, system.bank, system.bms, SHAPE)
    with pytest.raises(ConfigError, match=r"saved for 2 module.* with seed 3, not 2 module.* with seed 4"):
        load_bank_state(path, BankShape(modules=2, seed=4))
    with pytest.raises(ConfigError, match="2 modules"):
        load_bank_state(path, BankShape(modules=3, seed=3))
    path.write_bytes(path.read_bytes()[:100])  # torn by a crash outside our atomic write
    stored = load_bank_state(path, SHAPE)
    assert stored.source == "backup" and stored.state["step_index"] == 1  # the save before
    path.unlink()
    (tmp_path / "bank.bms.json.bak").unlink()
    assert load_bank_state(path, SHAPE).source == "empty"
    from ml314.storage.bms_store import save_bms_state  # noqa: PLC0415

    save_bms_state(path, system.bms.events, system.bms.counters, {"soc": [0.5, 0.5]})  # what simulate kept before
    with pytest.raises(InputError, match="holds no bank state"):
        load_bank_state(path, SHAPE)
