"""Bank addressing (manual 6.3, 8.4.2, 8.5, 12.2 #1): the DIP table and every wiring fault."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml314.errors import InputError
from ml314.system.addressing import (
    COMM_FAILURE_REF,
    DIP_TABLE,
    MAX_BANK_MODULES,
    BankMember,
    BankWiring,
    ChainModule,
    FaultKind,
    WiringReport,
    check_wiring,
    id_for_switches,
    switches_for_id,
    wiring_from_ids,
)
from ml314.twin.frontpanel import DipSwitches, FrontPanel

# --- the DIP table of 6.3 ------------------------------------------------------------------------------------


def _expected_on(module_id: int) -> tuple[int, ...]:
    """Independent statement of 6.3: switch 6 is 2^0, switch 5 is 2^1, ..., switch 1 is 2^5."""
    return tuple(sorted(6 - bit for bit in range(6) if module_id >> bit & 1))


def _positions(on: tuple[int, ...], termination: bool = False) -> tuple[bool, ...]:
    """8 positions, switch 1 first, True = down = ON."""
    return tuple(n in on or (n == 8 and termination) for n in range(1, 9))


def test_dip_table_has_all_64_codes_in_order() -> None:
    assert list(DIP_TABLE) == list(range(64))


@pytest.mark.parametrize("module_id", range(64))
def test_dip_table_both_ways(module_id: int) -> None:
    on = _expected_on(module_id)
    assert DIP_TABLE[module_id] == on
    assert switches_for_id(module_id) == on
    assert id_for_switches(on) == module_id
    # the twin's decoder reads the same code from the physical positions (down = ON)
    dip = DipSwitches.from_positions(_positions(on))
    assert dip.module_id == module_id
    assert dip.id_valid is (module_id != 0)
    assert DipSwitches.from_id(module_id).positions == _positions(on)


def test_dip_table_hand_checked_rows() -> None:
    assert DIP_TABLE[0] == ()  # all up: invalid
    assert DIP_TABLE[1] == (6,)  # rightmost ID switch is the low bit
    assert DIP_TABLE[2] == (5,)
    assert DIP_TABLE[3] == (5, 6)
    assert DIP_TABLE[5] == (4, 6)
    assert DIP_TABLE[16] == (2,)
    assert DIP_TABLE[32] == (1,)  # leftmost is the high bit
    assert DIP_TABLE[63] == (1, 2, 3, 4, 5, 6)
    assert not DipSwitches.from_positions(_positions(())).id_valid


@pytest.mark.parametrize("module_id", [0, 1, 2, 21, 42, 63])
@pytest.mark.parametrize("spare", [False, True])
def test_termination_and_spare_switches_are_independent_of_the_id(module_id: int, spare: bool) -> None:
    on = _expected_on(module_id) + ((7,) if spare else ())
    with_term = DipSwitches.from_positions(_positions(on, termination=True))
    without = DipSwitches.from_positions(_positions(on, termination=False))
    assert with_term.module_id == without.module_id == module_id
    assert with_term.termination_on and not without.termination_on
    assert id_for_switches((*on, 8)) == module_id
    assert ChainModule.from_dip(with_term) == ChainModule(module_id, True)


def test_switch_numbers_out_of_range_are_rejected() -> None:
    with pytest.raises(ValueError, match="switch number 9"):
        id_for_switches([9])
    with pytest.raises(ValueError, match="switch number 0"):
        id_for_switches([0])


# --- wiring checks ---------------------------------------------------------------------------------------------


def _kinds(report: WiringReport) -> list[FaultKind]:
    return [f.kind for f in report.faults]


def _assert_messages(report: WiringReport) -> None:
    for fault in report.faults:
        assert fault.message and "\n" not in fault.message
        assert "manual" in fault.message
        assert fault.manual_ref == COMM_FAILURE_REF == "12.2 #1"
        assert fault.phenomenon == "Communication failure with inverter"


def test_correct_16_module_bank() -> None:
    dips = [DipSwitches.from_id(i, termination=i in (1, 16)) for i in range(1, 17)]
    report = check_wiring(BankWiring.from_dips(dips))
    assert report.ok and report.faults == ()
    assert report.master == BankMember(1, 1) and report.master_id == 1
    assert report.member_ids == tuple(range(1, 17))
    assert len(report.members) == MAX_BANK_MODULES == 16
    assert report.members[0].index == 0
    assert BankWiring.from_dips(dips).modules[0].termination_on
    assert BankWiring.from_dips(dips).modules[-1].termination_on
    assert not any(m.termination_on for m in BankWiring.from_dips(dips).modules[1:-1])


def test_wiring_from_ids_defaults_termination_to_the_ends() -> None:
    wiring = wiring_from_ids(range(1, 17))
    assert [m.termination_on for m in wiring.modules] == [True] + [False] * 14 + [True]
    assert check_wiring(wiring).ok
    assert wiring_from_ids([4]).modules == (ChainModule(4, True),)


def test_17_modules_too_many() -> None:
    report = check_wiring(wiring_from_ids(list(range(1, 18))))
    assert _kinds(report) == [FaultKind.TOO_MANY_MODULES]
    (fault,) = report.faults
    assert fault.positions == (17,) and fault.module_ids == (17,)
    assert report.member_ids == tuple(range(1, 17))
    assert report.master_id == 1
    assert "17 modules" in fault.message and "ID 17 is left out" in fault.message
    _assert_messages(report)


def test_too_many_keeps_the_16_lowest_ids_whatever_the_chain_order() -> None:
    ids = [30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13]
    report = check_wiring(wiring_from_ids(ids))
    (fault,) = report.of_kind(FaultKind.TOO_MANY_MODULES)
    assert fault.module_ids == (29, 30) and fault.positions == (2, 1)
    assert "IDs 29 and 30 are left out" in fault.message
    assert report.member_ids == tuple(range(13, 29))
    assert report.master == BankMember(18, 13)


def test_duplicate_ids() -> None:
    report = check_wiring(wiring_from_ids([1, 2, 4, 5, 6, 3, 2]))
    assert _kinds(report) == [FaultKind.DUPLICATE_ID]
    (fault,) = report.faults
    assert fault.positions == (2, 7) and fault.module_ids == (2,)
    assert fault.message.startswith("modules 2 and 7 both have ID 2: give every module a unique ID")
    assert "6.3, 8.4.2" in fault.message
    # both modules with ID 2 are left out of the bank
    assert report.member_ids == (1, 3, 4, 5, 6)
    _assert_messages(report)


def test_three_modules_with_one_id() -> None:
    report = check_wiring(wiring_from_ids([7, 7, 8, 7]))
    (fault,) = report.of_kind(FaultKind.DUPLICATE_ID)
    assert fault.positions == (1, 2, 4)
    assert fault.message.startswith("modules 1, 2 and 4 all have ID 7")
    assert report.master == BankMember(3, 8)


def test_duplicate_of_the_lowest_id_moves_the_master() -> None:
    report = check_wiring(wiring_from_ids([1, 3, 1]))
    assert report.master_id == 3
    assert _kinds(report) == [FaultKind.DUPLICATE_ID]


def test_id_zero_from_the_switches() -> None:
    dips = [DipSwitches.from_id(1, termination=True), DipSwitches.from_id(0), DipSwitches.from_id(2, True)]
    report = check_wiring(BankWiring.from_dips(dips))
    assert _kinds(report) == [FaultKind.INVALID_ID]
    (fault,) = report.faults
    assert fault.positions == (2,) and fault.module_ids == (0,)
    assert "module 2 has ID 0" in fault.message
    assert report.member_ids == (1, 2)
    _assert_messages(report)


@pytest.mark.parametrize("bad", [0, 64, 100, -1])
def test_invalid_ids_via_wiring_from_ids(bad: int) -> None:
    report = check_wiring(wiring_from_ids([1, bad, 2]))
    assert _kinds(report) == [FaultKind.INVALID_ID]
    assert report.faults[0].module_ids == (bad,)
    assert f"ID {bad}, outside 1..63" in report.faults[0].message
    assert report.master_id == 1
    _assert_messages(report)


def test_id_64_cannot_be_set_on_the_switches_but_is_reported() -> None:
    with pytest.raises(ValueError):
        DipSwitches.from_id(64)
    report = check_wiring(wiring_from_ids([64]))
    assert _kinds(report) == [FaultKind.INVALID_ID, FaultKind.NO_MASTER]
    assert report.master is None and report.members == ()


@pytest.mark.parametrize(("term", "position"), [((False, False, True), 1), ((True, False, False), 3)])
def test_missing_termination_at_either_end(term: tuple[bool, ...], position: int) -> None:
    report = check_wiring(wiring_from_ids([1, 2, 3], term))
    assert _kinds(report) == [FaultKind.TERMINATION_MISSING]
    (fault,) = report.faults
    assert fault.positions == (position,) and fault.module_ids == (position,)
    assert "switch 8 OFF" in fault.message and "manual 8.5" in fault.message
    assert report.master_id == 1  # addressing is still fine
    _assert_messages(report)


def test_missing_termination_at_both_ends_of_a_pair() -> None:
    report = check_wiring(wiring_from_ids([1, 2], [False, False]))
    assert _kinds(report) == [FaultKind.TERMINATION_MISSING] * 2
    assert [f.positions for f in report.faults] == [(1,), (2,)]
    assert "first" in report.faults[0].message and "last" in report.faults[1].message


def test_termination_in_the_middle() -> None:
    report = check_wiring(wiring_from_ids([1, 2, 3, 4], [True, False, True, True]))
    assert _kinds(report) == [FaultKind.TERMINATION_EXTRA]
    (fault,) = report.faults
    assert fault.positions == (3,) and fault.module_ids == (3,)
    assert "doubled" in fault.message and "switch 8 OFF" in fault.message
    _assert_messages(report)


@pytest.mark.parametrize("termination", [True, False])
def test_a_lone_module_accepts_switch_8_either_way(termination: bool) -> None:
    report = check_wiring(wiring_from_ids([1], [termination]))
    assert report.ok and report.master == BankMember(1, 1)


def test_lowest_id_5_is_the_master() -> None:
    report = check_wiring(wiring_from_ids([9, 5, 12, 7]))
    assert report.ok
    assert report.master == BankMember(2, 5)
    assert report.member_ids == (5, 7, 9, 12)


def test_no_master_when_every_id_is_bad() -> None:
    report = check_wiring(wiring_from_ids([0, 3, 3]))
    assert set(_kinds(report)) == {FaultKind.INVALID_ID, FaultKind.DUPLICATE_ID, FaultKind.NO_MASTER}
    (fault,) = report.of_kind(FaultKind.NO_MASTER)
    assert fault.positions == () and "no module has a valid, unique ID" in fault.message
    _assert_messages(report)


def test_empty_and_unpowered_banks_have_no_master() -> None:
    assert _kinds(check_wiring(wiring_from_ids([]))) == [FaultKind.NO_MASTER]
    report = check_wiring(wiring_from_ids([1, 2], powered=[False, False]))
    assert _kinds(report) == [FaultKind.NO_MASTER]
    assert "no module is powered on" in report.faults[0].message


def test_unpowered_module_is_no_member_but_its_termination_counts() -> None:
    # module 3 is off: its ID (a duplicate) is not read, but its switch 8 still terminates the chain end
    report = check_wiring(wiring_from_ids([2, 1, 1], powered=[True, True, False]))
    assert report.ok
    assert report.member_ids == (1, 2) and report.master == BankMember(2, 1)


def test_wiring_from_ids_rejects_mismatched_lengths_and_non_integers() -> None:
    with pytest.raises(InputError, match="termination: 1 entries for 2 modules"):
        wiring_from_ids([1, 2], [True])
    with pytest.raises(InputError, match="powered: 3 entries for 2 modules"):
        wiring_from_ids([1, 2], powered=[True, True, True])
    with pytest.raises(InputError, match="not a whole number"):
        wiring_from_ids([1, 2.5])  # type: ignore[list-item]
    with pytest.raises(InputError, match="not a whole number"):
        wiring_from_ids([True])


def test_from_panels_uses_the_latched_id_until_reset() -> None:
    panels = [FrontPanel(DipSwitches.from_id(i, termination=i in (1, 3))) for i in (1, 2, 3)]
    for panel in panels:
        panel.power_on()
    panels[2].set_dip(DipSwitches.from_id(2, termination=True))  # moved while running: not read yet
    assert check_wiring(BankWiring.from_panels(panels)).ok
    panels[2].reset()  # 6.3: read at RESET -> now a duplicate
    report = check_wiring(BankWiring.from_panels(panels))
    assert _kinds(report) == [FaultKind.DUPLICATE_ID]
    assert report.faults[0].positions == (2, 3)


def test_report_and_fault_are_frozen() -> None:
    report = check_wiring(wiring_from_ids([1, 1]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.master = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.faults[0].message = ""  # type: ignore[misc]


@given(
    st.lists(st.integers(min_value=-5, max_value=70), max_size=20),
    st.data(),
)
def test_check_wiring_never_raises_and_members_are_consistent(ids: list[int], data: st.DataObject) -> None:
    term = data.draw(st.lists(st.booleans(), min_size=len(ids), max_size=len(ids)))
    report = check_wiring(wiring_from_ids(ids, term))
    _assert_messages(report)
    assert len(report.members) <= MAX_BANK_MODULES
    assert list(report.member_ids) == sorted(set(report.member_ids))
    assert all(1 <= i <= 63 and ids.count(i) == 1 for i in report.member_ids)
    assert report.master == (report.members[0] if report.members else None)
    assert (report.master is None) == (FaultKind.NO_MASTER in _kinds(report))
    assert all(ids[m.index] == m.module_id for m in report.members)
