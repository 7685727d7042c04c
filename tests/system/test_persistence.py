"""The event log, the counters and the latched faults survive a restart of the BMS (saved to disk and reloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.bms.states import BmsState
from ml314.errors import ConfigError
from ml314.storage.bms_store import load_bms_state, save_bms_state
from ml314.system.reference_system import ReferenceBankSystem
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters
from ml314.twin.sensors import SensorFault

P = load_default_parameters()


def _system(seed: int = 2) -> ReferenceBankSystem:
    return ReferenceBankSystem(Bank(2, load_cell_parameters(), seed=seed, initial_soc=0.5), P, seed=seed)


def test_log_counters_and_a_latched_fault_survive_a_restart(tmp_path: Path) -> None:
    first = _system()
    for _ in range(300):
        first.step(60.0)
    first.sensors.inject(SensorFault(module_index=1, channel="pack_voltage", kind="offset", value=2.0), first.t_s)
    for _ in range(60):
        first.step(60.0)
    assert first.bms.machines[1].state.state == BmsState.FAULT
    charged_ah = first.bms.counters.values[:, 0].copy()
    n_events = len(first.bms.events)
    path = tmp_path / "bank.bms.json"
    save_bms_state(path, first.bms.events, first.bms.counters, first.bms.export_state(), first.t_s)

    # power cycle: a new BMS on the same (repaired) hardware loads what it saved
    second = _system()
    stored = load_bms_state(path, 2)
    second.bms.import_state(stored.state, stored.events, stored.counters)
    assert len(second.bms.events) == n_events
    second.step(0.0)
    assert second.bms.machines[1].state.state == BmsState.FAULT  # the latch is in non-volatile memory
    assert second.bms.machines[0].state.state == BmsState.STANDBY
    assert (second.bms.counters.values[:, 0] >= charged_ah).all() and charged_ah.sum() > 0.0
    assert any(e.key == "voltage_sensor.protection" and e.kind == "latch" for e in second.bms.events)
    second.bms.protection.clear(1, service=True)  # the technician clears it
    second.step(0.0)
    second.step(0.0)
    assert second.bms.machines[1].state.state == BmsState.STANDBY


def test_a_saved_state_for_another_bank_is_refused(tmp_path: Path) -> None:
    first = _system()
    first.step(0.0)
    state = first.bms.export_state()
    state["module_ids"] = [1, 2, 3]
    with pytest.raises(ConfigError, match="modules"):
        _system().bms.import_state(state, first.bms.events, first.bms.counters)
