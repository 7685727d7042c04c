"""The commissioning checks and the cautions of 13.1 on installations built by hand (pure: no system runs)."""

from __future__ import annotations

from dataclasses import replace

from ml314.bms.parameters import load_default_parameters
from ml314.diagnostics.cautions import CautionLimits, cautions
from ml314.diagnostics.checks import Check, Installation, ModuleFacts, Result, worst
from ml314.diagnostics.commissioning import SITE_STEPS, CommissionLimits, commission, measured_checks
from ml314.diagnostics.detective import identify_can, identify_rs485
from ml314.protocols.base import CanFrame, Rs485Codec
from ml314.protocols.registry import create, resolve

PYLON = resolve("CAN:P14")
CELLS = tuple(3.300 + 0.001 * i for i in range(16))
TEMPS = (25.0, 24.0, 24.1, 24.2, 24.3, 26.0)
LIMITS = CommissionLimits.from_parameters(load_default_parameters())


def module(position: int, n: int, **kw: object) -> ModuleFacts:
    base = ModuleFacts(
        position=position,
        module_id=position,
        termination_on=position in (1, n),
        powered=True,
        online=True,
        serial=f"ML314-{position:04d}",
        soc_pct=99.0,
        soh_pct=100.0,
        current_a=0.0,
        cell_voltages_v=CELLS,
        temperatures_c=TEMPS,
        firmware="1.0",
        model="ML314-51.2-W08",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def bank(n: int = 3, **kw: object) -> Installation:
    heard = identify_can([CanFrame(0x305, bytes(8))] * 3)
    base = Installation(
        modules=tuple(module(p, n) for p in range(1, n + 1)),
        can_protocol=PYLON,
        can_heard=heard,
        max_soc_pct=100.0,
        firmware="1.0",
        model="ML314-51.2-W08",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def by_key(checks: tuple[Check, ...]) -> dict[str, Check]:
    return {c.key: c for c in checks}


def test_a_good_bank_passes_every_measured_check() -> None:
    checks = by_key(measured_checks(bank(), LIMITS))
    assert checks["protocol_rs485"].result is Result.SKIP  # no RS485 protocol in use
    del checks["protocol_rs485"]
    assert {k: c.result for k, c in checks.items()} == dict.fromkeys(checks, Result.PASS)
    assert all(c.evidence and c.instruction and c.manual_ref for c in checks.values())


def test_site_steps_pass_only_when_confirmed() -> None:
    steps = commission(bank(), confirmed={"cables"}, limits=LIMITS)[: len(SITE_STEPS)]
    assert {c.key: c.result for c in steps}["site_cables"] is Result.PASS
    assert sum(c.result is Result.WARN for c in steps) == len(SITE_STEPS) - 1


def test_duplicate_ids_and_wrong_termination_fail_naming_the_modules() -> None:
    inst = bank(4)
    mods = list(inst.modules)
    mods[2] = replace(mods[2], module_id=2)  # positions 2 and 3 both ID 2
    mods[1] = replace(mods[1], termination_on=True)  # a middle module terminated
    checks = by_key(measured_checks(replace(inst, modules=tuple(mods)), LIMITS))
    ids = checks["unique_ids"]
    assert ids.result is Result.FAIL and ids.module_ids == (2,)
    assert "unique ID" in ids.evidence[0]
    term = checks["termination"]
    assert term.result is Result.FAIL and "switch 8 OFF on every middle module" in term.evidence[0]


def test_the_protocol_check_names_the_code_to_choose() -> None:
    growatt = identify_can([CanFrame(0x301, bytes.fromhex("1122334455667788"))] * 2)
    check = by_key(measured_checks(bank(can_heard=growatt), LIMITS))["protocol_can"]
    assert check.result is Result.FAIL
    assert "CAN:P01-GRW" in check.instruction and "Growatt" in check.evidence[0]
    silent = by_key(measured_checks(bank(can_heard=identify_can([])), LIMITS))["protocol_can"]
    assert silent.result is Result.FAIL and "no inverter frame" in silent.evidence[0]
    codec = create(resolve("voltronic-pyl"))
    assert isinstance(codec, Rs485Codec)
    pyl = identify_rs485(codec.inverter_requests())
    rs = by_key(measured_checks(bank(rs485_protocol=resolve("RS485:P04"), rs485_heard=pyl), LIMITS))["protocol_rs485"]
    assert rs.result is Result.FAIL and "voltronic-pyl" in rs.instruction


def test_initial_charge_and_cell_spread() -> None:
    low = bank(max_soc_pct=55.0)
    low = replace(low, modules=tuple(replace(m, soc_pct=50.0) for m in low.modules))
    assert by_key(measured_checks(low, LIMITS))["initial_charge"].result is Result.WARN
    empty = replace(low, modules=tuple(replace(m, soc_pct=12.0) for m in low.modules))
    assert by_key(measured_checks(empty, LIMITS))["initial_charge"].result is Result.FAIL
    inst = bank()
    spread = (*CELLS[:-1], CELLS[-1] + 0.1)
    wide = replace(inst, modules=(replace(inst.modules[0], cell_voltages_v=spread), *inst.modules[1:]))
    c = by_key(measured_checks(wide, LIMITS))["cell_spread"]
    assert c.result is Result.WARN and c.module_ids == (1,) and "115 mV" in c.evidence[0]
    broken = replace(inst, modules=(replace(inst.modules[0], cell_voltages_v=(*CELLS[:-1], 3.7)), *inst.modules[1:]))
    assert by_key(measured_checks(broken, LIMITS))["cell_spread"].result is Result.FAIL


def test_cautions_see_mixed_hot_and_cold_modules() -> None:
    lim = CautionLimits.from_parameters(load_default_parameters())
    inst = bank()
    mixed = replace(inst, modules=(*inst.modules[:2], replace(inst.modules[2], firmware="0.9")))
    c = by_key(cautions(mixed, lim))
    assert c["mixed_modules"].result is Result.FAIL and c["mixed_modules"].module_ids == (3,)
    from_master = by_key(cautions(replace(inst, system_faults=(("bank_mix", "module ID 2 differs", 2),)), lim))
    assert from_master["mixed_modules"].result is Result.FAIL
    hot = replace(inst, modules=(replace(inst.modules[0], temperatures_c=(30.0, 51.0, 40.0, 40.0, 40.0, 45.0)),))
    assert by_key(cautions(hot, lim))["hot_battery"].result is Result.FAIL
    cold = replace(inst, modules=(replace(inst.modules[0], current_a=20.0, temperatures_c=(2.0, -2.0, 0.5, 1, 1, 3)),))
    range_check = by_key(cautions(cold, lim))["temperature_range"]
    assert range_check.result is Result.FAIL and "charging" in range_check.evidence[0]
    resting = replace(cold, modules=(replace(cold.modules[0], current_a=0.0),))
    assert by_key(cautions(resting, lim))["temperature_range"].result is Result.PASS
    assert worst(cautions(cold, lim)) is Result.FAIL


def test_without_the_live_system_the_wiring_is_not_claimed() -> None:
    checks = by_key(measured_checks(bank(wiring_known=False), LIMITS))
    assert checks["unique_ids"].result is Result.SKIP and checks["termination"].result is Result.SKIP
