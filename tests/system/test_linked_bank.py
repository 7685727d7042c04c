"""The bank on its framed link: membership, wiring faults as the manual's communication failure, dropout and
rejoin, the mix warning of caution 13.1 (5), and the master's limits protecting every module."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.domain.battery_status import AlarmKind, BankStatus, ModuleIdentity, ModuleStatus
from ml314.protocols.examples import worked_example
from ml314.system import bank_link as link
from ml314.system.addressing import FaultKind, wiring_from_ids
from ml314.system.bank_master import BankMaster, MasterParams, Membership
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.linked_bank import LinkedBank, LinkOptions, default_wiring
from ml314.system.status import StatusBuilder
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.frontpanel import DipSwitches
from ml314.twin.params import load_cell_parameters

C = load_cell_parameters()
P = load_default_parameters()


def make(ids: list[int], termination: list[bool] | None = None, *, request_a: float = 0.0, **opts: object):  # type: ignore[no-untyped-def]
    n = len(ids)
    system = CompiledBankSystem(Bank(n, C, seed=3, initial_soc=0.6), P, seed=7)
    bank = LinkedBank(
        system,
        StatusBuilder(system),
        wiring_from_ids(ids, termination),
        LinkOptions(**opts),  # type: ignore[arg-type]
    )
    inputs = np.zeros((k.IN_ROWS, 1))
    inputs[k.IN_AMBIENT_C, 0] = 25.0
    inputs[k.IN_REQUEST, 0] = request_a
    return system, bank, inputs


def run(system: CompiledBankSystem, bank: LinkedBank, inputs: np.ndarray, seconds: int) -> BankStatus | None:
    status = None
    for _ in range(seconds):
        status = bank.step(system.t_s)
        if status is not None:
            system.impose_limits(status.limits)
        system.advance(1, k.MODE_CURRENT, inputs)
    return status


def test_a_correct_bank_assembles_and_reports_every_module() -> None:
    system, bank, inputs = make([1, 2, 3, 4])
    status = run(system, bank, inputs, 5)
    assert status is not None
    assert bank.faults() == [] and bank.report.ok
    assert status.module_count == 4
    assert [m.address for m in status.modules] == [1, 2, 3, 4]
    assert AlarmKind.INTERNAL_COMMUNICATION not in status.alarms
    assert bank.master is not None and bank.master.master_id == 1


def test_no_current_until_the_bank_is_assembled() -> None:
    system, bank, _ = make([1, 2, 3], request_a=-100.0)
    first = bank.step(system.t_s)
    assert first is not None and first.limits.dcl_a == 0.0 and first.limits.ccl_a == 0.0


@pytest.mark.parametrize(
    ("ids", "termination", "kind", "expected_members"),
    [
        ([1, 2, 2, 3], None, FaultKind.DUPLICATE_ID, [1, 3]),
        ([1, 0, 3], None, FaultKind.INVALID_ID, [1, 3]),
        ([1, 2, 3], [True, False, False], FaultKind.TERMINATION_MISSING, [1, 2, 3]),
        ([1, 2, 3], [True, True, True], FaultKind.TERMINATION_EXTRA, [1, 2, 3]),
    ],
)
def test_wiring_faults_are_the_communication_failure(
    ids: list[int], termination: list[bool] | None, kind: FaultKind, expected_members: list[int]
) -> None:
    system, bank, inputs = make(ids, termination)
    status = run(system, bank, inputs, 40)
    assert status is not None
    assert bank.report.of_kind(kind), bank.report.faults
    assert all(f.manual_ref == "12.2 #1" for f in bank.report.faults)
    assert AlarmKind.INTERNAL_COMMUNICATION in status.alarms
    assert [m.address for m in status.modules] == expected_members
    assert bank.faults()
    if kind is FaultKind.DUPLICATE_ID:
        assert bank.bus.collisions > 0
        assert any("two modules may share" in f for f in bank.faults())
    if kind in (FaultKind.DUPLICATE_ID, FaultKind.INVALID_ID):
        # the modules left out keep themselves off the bus: they carry no current
        left_out = [i for i, cm in enumerate(bank.wiring.modules) if cm.module_id not in expected_members]
        assert all(system.isolated[i] for i in left_out)
    if kind is FaultKind.TERMINATION_EXTRA:
        assert any("termination" in f for f in bank.master.faults())  # type: ignore[union-attr]


def test_more_than_sixteen_modules_are_refused_by_the_master() -> None:
    """The twin holds at most 16 modules; the master's own count is checked with 18 answering IDs."""
    own = replace(
        link.decode_report(link.respond(link.request(link.Cid2.REPORT, 1), 1, ident(1), module(1), print) or b""),
        address=1,
    )
    master = BankMaster(1, ident(1), lambda: own, MasterParams())

    def transport(request: bytes, cmd: link.Cid2) -> tuple[bytes | None, float]:
        adr = int(request[3:5], 16)
        if adr > 18:
            return None, 0.01
        return link.respond(request, adr, ident(adr), module(adr), lambda c: None), 0.01

    clock = 0.0
    for _ in range(3):
        clock = master.run_until(transport, clock, clock + 5.0)
    assert len(master.members) == 15  # plus the master: 16
    assert sorted(master.extra_ids) == [17, 18]
    assert any("more than 16 modules" in f for f in master.faults())


def ident(i: int) -> ModuleIdentity:
    return ModuleIdentity(module_id=i, serial=f"S{i:03d}", termination_on=i in (1, 18))


def module(i: int) -> ModuleStatus:
    return replace(worked_example(1).modules[0], address=i)


def test_a_module_that_stops_answering_leaves_and_rejoins_when_its_voltage_matches() -> None:
    params = MasterParams(rejoin_voltage_v=0.05)
    system, bank, inputs = make([1, 2, 3], request_a=-150.0, master=params)
    status = run(system, bank, inputs, 80)
    assert status is not None and status.module_count == 3
    master = bank.master
    assert master is not None
    bank.endpoints[2].connected = False  # the Battery Comm cable of module ID 3 comes out
    status = run(system, bank, inputs, 5)
    assert status is not None and status.module_count == 2
    assert master.members[3].state is Membership.LOST
    assert AlarmKind.INTERNAL_COMMUNICATION in status.alarms
    status = run(system, bank, inputs, 15)  # its own watchdog takes it off the bus
    assert system.isolated[2]
    assert abs(system.readings[2][2]) < 0.5
    bank.endpoints[2].connected = True  # back under load: its rest voltage is above the loaded bus
    run(system, bank, inputs, 5)
    assert master.members[3].state is Membership.WAITING
    assert system.isolated[2]
    assert master.waiting()
    inputs[k.IN_REQUEST, 0] = 0.0  # the load stops, the bus relaxes to the modules' rest voltage
    for _ in range(600):
        run(system, bank, inputs, 1)
        if master.members[3].state is Membership.ONLINE:
            break
    assert master.members[3].state is Membership.ONLINE
    status = run(system, bank, inputs, 3)
    assert status is not None and status.module_count == 3
    assert not system.isolated[2]
    assert AlarmKind.INTERNAL_COMMUNICATION not in status.alarms
    assert any("joined the bus" in text for _, text in master.events)


def test_mixing_types_capacities_firmware_or_ages_raises_the_caution() -> None:
    n = 3
    system = CompiledBankSystem(Bank(n, C, seed=3, initial_soc=0.6), P, seed=7)
    builder = StatusBuilder(system)
    identities = (
        ModuleIdentity(1, "A", termination_on=True),
        ModuleIdentity(2, "B", design_capacity_ah=280.0, firmware_version=(2, 1)),
        ModuleIdentity(3, "C", manufactured=(2023, 5), termination_on=True),
    )
    bank = LinkedBank(system, builder, default_wiring(n), identities=identities)
    inputs = np.zeros((k.IN_ROWS, 1))
    inputs[k.IN_AMBIENT_C, 0] = 25.0
    status = run(system, bank, inputs, 5)
    assert status is not None
    assert AlarmKind.MODULE_MIX in status.alarms
    warnings = bank.warnings()
    assert len(warnings) == 2
    assert "capacity 280 Ah" in warnings[0] and "firmware 2.1" in warnings[0] and "13.1 (5)" in warnings[0]
    assert "months apart" in warnings[1]


def test_switches_are_read_at_reset_only() -> None:
    system, bank, inputs = make([1, 2, 3])
    run(system, bank, inputs, 5)
    master = bank.master
    assert master is not None and sorted(master.members) == [2, 3]
    # the installer sets module 3 (index 2) to ID 7: nothing changes until RESET
    bank.set_switches(2, DipSwitches.from_id(7, termination=True))
    status = run(system, bank, inputs, 5)
    assert status is not None and [m.address for m in status.modules] == [1, 2, 3]
    bank.press_reset(2)
    assert bank.identities[2].module_id == 7
    assert bank.report.ok
    # the master finds ID 7 by its probes; ID 3 is missing until the master itself is reset
    for _ in range(120):
        run(system, bank, inputs, 1)
        if 7 in master.members and master.members[7].state is Membership.ONLINE:
            break
    assert master.members[7].state is Membership.ONLINE
    assert master.members[3].state is Membership.LOST
    bank.press_reset(0)  # RESET on the master: a fresh scan
    assert bank.master is not master
    status = run(system, bank, inputs, 8)
    assert status is not None and [m.address for m in status.modules] == [1, 2, 7]
    assert AlarmKind.INTERNAL_COMMUNICATION not in status.alarms


def test_a_restarted_module_is_released_again() -> None:
    system, bank, inputs = make([1, 2])
    run(system, bank, inputs, 5)
    bank.press_reset(1)  # RESET without new switches: the module restarts and waits for its master's word
    run(system, bank, inputs, 2)
    assert system.isolated[1]
    for _ in range(30):
        run(system, bank, inputs, 1)
        if not system.isolated[1]:
            break
    assert not system.isolated[1]  # the master's periodic COMMAND released it
