"""Wiring, bank and mix faults come out as typed records (kind, module, details, the manual's reference)."""

from __future__ import annotations

import numpy as np

from ml314.domain.battery_status import ModuleIdentity
from ml314.domain.faults import FaultSeverity, SystemFault, SystemFaultKind
from ml314.system.addressing import check_wiring, wiring_from_ids
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.linked_bank import LinkedBank, default_wiring
from ml314.system.status import StatusBuilder
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from tests.system.test_linked_bank import C, P, make, run


def test_a_duplicate_id_is_a_wiring_record_of_that_module_with_the_text_in_details() -> None:
    report = check_wiring(wiring_from_ids([1, 2, 2, 3]))
    (record,) = report.records()
    assert isinstance(record, SystemFault)
    assert record.kind is SystemFaultKind.WIRING
    assert record.module_id == 2
    assert record.details == report.faults[0].message
    assert record.severity is FaultSeverity.ALARM
    assert record.manual_ref == "12.2 #1, 8.4.2"
    assert record.label == "wiring M2"
    assert record.as_dict()["kind"] == "wiring"


def test_no_master_is_its_own_kind() -> None:
    report = check_wiring(wiring_from_ids([0, 0]))
    kinds = [r.kind for r in report.records()]
    assert SystemFaultKind.NO_MASTER in kinds
    no_master = next(r for r in report.records() if r.kind is SystemFaultKind.NO_MASTER)
    assert no_master.module_id is None and "no module has a valid, unique ID" in no_master.details


def test_a_module_that_stops_answering_is_a_module_lost_record() -> None:
    system, bank, inputs = make([1, 2, 3])
    run(system, bank, inputs, 5)
    assert bank.fault_records() == []
    bank.endpoints[2].connected = False  # module ID 3: its Battery Comm cable pulled
    run(system, bank, inputs, 30)
    lost = [r for r in bank.fault_records() if r.kind is SystemFaultKind.MODULE_LOST]
    assert [r.module_id for r in lost] == [3]
    assert "no answer" in lost[0].details
    assert bank.faults() == [r.details for r in bank.fault_records()]  # the text view is the records' details


def test_a_mixed_bank_gives_one_caution_record_per_module_that_differs() -> None:
    system = CompiledBankSystem(Bank(3, C, seed=3, initial_soc=0.6), P, seed=7)
    identities = (
        ModuleIdentity(1, "A", termination_on=True),
        ModuleIdentity(2, "B", design_capacity_ah=280.0),
        ModuleIdentity(3, "C", termination_on=True),
    )
    bank = LinkedBank(system, StatusBuilder(system), default_wiring(3), identities=identities)
    inputs = np.zeros((k.IN_ROWS, 1))
    inputs[k.IN_AMBIENT_C, 0] = 25.0
    run(system, bank, inputs, 5)
    (caution,) = bank.caution_records()
    assert caution.kind is SystemFaultKind.BANK_MIX and caution.module_id == 2
    assert caution.severity is FaultSeverity.CAUTION and caution.manual_ref == "13.1 (5)"
    assert "capacity 280 Ah" in caution.details
