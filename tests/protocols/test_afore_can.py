"""Afore CAN (reference/protocols.md 1.6, Battery-Emulator layout): answers to 0x305, offsets, clamping, bits."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.domain.limits import ChargeLimits
from ml314.errors import FrameError
from ml314.protocols import registry
from ml314.protocols.afore_can import FAULT_BITS, FAULT_KINDS, INFO, WARNING_BITS, WARNING_KINDS, Codec
from ml314.protocols.base import CanFrame
from ml314.protocols.examples import worked_example

CODEC = Codec()
INVERTER = CanFrame(0x305, b"AFORE\x00\x00\x03")
ANSWER_IDS = list(range(0x350, 0x35B))


def _hex(frames: tuple[CanFrame, ...]) -> dict[int, str]:
    return {f.arbitration_id: f.data.hex(" ").upper() for f in frames}


def _answer(status: BankStatus) -> dict[int, str]:
    return _hex(CODEC.battery_answer(INVERTER, status))


def test_info_says_no_document_is_public() -> None:
    assert (INFO.code, INFO.name, INFO.brand) == ("P10-AFO", "afore-can", "Afore")
    assert INFO.document == "no Afore document is public; follows the layout of Battery-Emulator AFORE-CAN@62532e9"
    assert INFO.period_s == 0.0
    codec = registry.create(registry.resolve("CAN:P10"))
    assert isinstance(codec, Codec) and codec.info.name == "afore-can"


def test_worked_example_16_modules_byte_for_byte() -> None:
    # 350: 528 = 10 02; -1968 + 5000 = 3032 = D8 0B; 250 + 1000 = 1250 = E2 04
    # 351: SOC 50, SOH 100, SOC window 100/1, flags 0x23 = charge + discharge enabled + state 1 (normal), 16 cells
    # 352: CCL 24000 = C0 5D, DCL 32000 = 00 7D, max 568 = 38 02, min 480 = E0 01
    # 354: 3315 mV (cell 16), 3300 mV (cell 1); 355: 1243 = DB 04 (24.3), 1240 = D8 04 (24.0), cells 4 and 1
    # 356: cell limits 3650 mV = 42 0E, 2500 mV = C4 09; 353/357: nothing active; 358-35A: not stated -> zeros
    assert _answer(worked_example(16)) == {
        0x350: "10 02 D8 0B E2 04 00 00",
        0x351: "32 64 64 01 23 00 10 00",
        0x352: "C0 5D 00 7D 38 02 E0 01",
        0x353: "00 00 00 00 00 00 00 00",
        0x354: "F3 0C E4 0C 10 00 01 00",
        0x355: "DB 04 D8 04 04 00 01 00",
        0x356: "42 0E C4 09 00 00 00 00",
        0x357: "00 00 00 00 00 00 00 00",
        0x358: "00 00 00 00 00 00 00 00",
        0x359: "00 00 00 00 00 00 00 00",
        0x35A: "00 00 00 00 00 00 00 00",
    }


def test_worked_example_one_module() -> None:
    frames = _answer(worked_example(1))
    assert frames[0x350] == "10 02 0D 13 E2 04 00 00"  # -123 + 5000 = 4877 = 0x130D
    assert frames[0x352] == "DC 05 D0 07 38 02 E0 01"  # 150.0 A, 200.0 A


def test_request_driven_no_frames_until_0x305() -> None:
    status = worked_example(2)
    assert CODEC.battery_cycle(status) == ()
    for frame in (CanFrame(0x301, bytes(8)), CanFrame(0x351, bytes(8)), CanFrame(0x305, bytes(8), True)):
        assert CODEC.battery_answer(frame, status) == ()
        assert not CODEC.is_inverter_alive(frame)
    answer = CODEC.battery_answer(INVERTER, status)
    assert [f.arbitration_id for f in answer] == ANSWER_IDS
    assert CODEC.battery_answer(CanFrame(0x305, b""), status) == answer  # any 0x305 triggers
    assert not any(CODEC.is_inverter_alive(f) for f in answer)


def test_inverter_frame_carries_its_brand() -> None:
    frames = CODEC.inverter_cycle(BatteryView())
    assert _hex(frames) == {0x305: "41 46 4F 52 45 00 00 00"}
    assert CODEC.is_inverter_alive(frames[0])
    assert CODEC.decode(frames[0]) == BatteryView()
    assert CODEC.describe(INVERTER) == ("InverterInfo", {"Brand": "AFORE", "Status": 3})


def _expected(status: BankStatus) -> dict[str, object]:
    lim = status.limits
    return {
        "voltage_v": status.voltage_v,
        "current_a": status.current_a,
        "temperature_c": status.temperature_c,
        "soc_pct": status.soc_pct,
        "soh_pct": status.soh_pct,
        "charge_enable": status.charge_enable,
        "discharge_enable": status.discharge_enable,
        "ccl_a": lim.ccl_a,
        "dcl_a": lim.dcl_a,
        "cvl_v": lim.cvl_v,
        "dvl_v": lim.dvl_v,
        "protections": status.protections,
        "alarms": status.alarms,
        "cell_voltage_max_v": status.cell_voltage_max_v,
        "cell_voltage_min_v": status.cell_voltage_min_v,
        "cell_temperature_max_c": status.cell_temperature_max_c,
        "cell_temperature_min_c": status.cell_temperature_min_c,
    }


@pytest.mark.parametrize("n", [1, 4, 16])
def test_round_trip_through_decode_all(n: int) -> None:
    status = worked_example(n)
    view = CODEC.decode_all(CODEC.battery_answer(INVERTER, status))
    expected = _expected(status)
    assert set(expected) == CODEC.carries
    for name, want in expected.items():
        got = getattr(view, name)
        if isinstance(want, float):
            assert got == pytest.approx(want, abs=0.01), name
        else:
            assert got == want, name


def test_overflowing_bank_values_are_clamped_not_wrapped() -> None:
    status = replace(
        worked_example(16),
        current_a=-5024.0,
        temperature_c=-150.0,
        limits=ChargeLimits(cvl_v=56.8, dvl_v=48.0, ccl_a=7000.0, dcl_a=7000.0),
    )
    frames = _answer(status)
    assert frames[0x350] == "10 02 00 00 00 00 00 00"  # -500.0 A and -100.0 degC: raw 0, the offsets' floor
    assert frames[0x352] == "FF FF FF FF 38 02 E0 01"  # 6553.5 A
    view = CODEC.decode_all(CODEC.battery_answer(INVERTER, status))
    assert view.current_a == pytest.approx(-500.0)
    assert view.temperature_c == pytest.approx(-100.0)
    assert view.ccl_a == pytest.approx(6553.5)


def test_faults_warnings_and_bms_state() -> None:
    status = replace(
        worked_example(1),
        protections=frozenset({AlarmKind.CELL_OVERVOLTAGE, AlarmKind.CELL_IMBALANCE}),
        alarms=frozenset({AlarmKind.CHARGE_OVERCURRENT}),
    )
    frames = _answer(status)
    assert frames[0x353] == "01 00 00 80 00 00 00 00"  # fault H bit 0, fault L bit 15
    assert frames[0x357] == "00 01 00 00 00 00 00 00"  # warning bit 8
    assert frames[0x351] == "32 64 64 01 83 00 10 00"  # state 4 (fault) in b5-7
    warning_only = _answer(replace(worked_example(1), alarms=frozenset({AlarmKind.PACK_UNDERVOLTAGE})))
    assert warning_only[0x351] == "32 64 64 01 63 00 10 00"  # state 3 (warning)
    view = CODEC.decode_all(CODEC.battery_answer(INVERTER, status))
    assert view.protections == status.protections
    assert view.alarms == status.alarms


def test_fault_and_warning_tables_both_directions() -> None:
    assert set(AlarmKind) - set(FAULT_BITS) == {AlarmKind.INVERTER_COMMUNICATION, AlarmKind.MODULE_MIX}
    for table, reverse, prefix in ((FAULT_BITS, FAULT_KINDS, "protections"), (WARNING_BITS, WARNING_KINDS, "alarms")):
        for name, kind in reverse.items():
            assert table[kind] == name
        for kind, name in table.items():
            status = replace(worked_example(1), **{prefix: frozenset({kind})})
            view = CODEC.decode_all(CODEC.battery_answer(INVERTER, status))
            assert getattr(view, prefix) == {reverse[name]}, kind


def test_warnings_without_a_bit_are_not_sent() -> None:
    status = replace(worked_example(1), alarms=frozenset({AlarmKind.DISCHARGE_OVERCURRENT}))
    assert _answer(status)[0x357] == "00 00 00 00 00 00 00 00"


def test_disabled_directions() -> None:
    frames = _answer(replace(worked_example(1), charge_enable=False))
    assert frames[0x351].split()[4] == "22"
    view = CODEC.decode(CanFrame(0x351, bytes.fromhex(frames[0x351])))
    assert view.charge_enable is False and view.discharge_enable is True


def test_undefined_fault_bits_are_only_described() -> None:
    frame = CanFrame(0x353, bytes.fromhex("4000000000000000"))  # fault H bit 6: isolation
    assert CODEC.decode(frame).protections == frozenset()
    described = CODEC.describe(frame)
    assert described is not None and described[1]["FaultIsolation"] == 1


def test_short_and_foreign_frames() -> None:
    with pytest.raises(FrameError, match="0x350"):
        CODEC.decode(CanFrame(0x350, b"\x10\x02"))
    with pytest.raises(FrameError):
        CODEC.describe(CanFrame(0x305, b"AF"))
    assert CODEC.decode(CanFrame(0x35E, bytes(8))) == BatteryView()
    assert CODEC.describe(CanFrame(0x35E, bytes(8))) is None
    assert CODEC.describe(CanFrame(0x350, bytes(8), is_extended_id=True)) is None
    described = CODEC.describe(CanFrame(0x359, b"battery-"))
    assert described == ("Further359", {"Data": "62 61 74 74 65 72 79 2D"})


_IDS = st.one_of(st.sampled_from([0x305, *ANSWER_IDS]), st.integers(0, 0x7FF))


@settings(max_examples=400, deadline=None)
@given(ident=_IDS, data=st.binary(max_size=8), extended=st.booleans())
def test_fuzz_decode_and_describe(ident: int, data: bytes, extended: bool) -> None:
    frame = CanFrame(ident, data, is_extended_id=extended)
    for call in (CODEC.decode, CODEC.describe):
        try:
            result = call(frame)
        except FrameError as exc:
            assert str(exc)
        else:
            assert result is None or isinstance(result, BatteryView | tuple)
    answer = CODEC.battery_answer(frame, worked_example(1))
    assert (answer != ()) == (ident == 0x305 and not extended)
