"""Growatt LV CAN V1.04 (reference/protocols.md 1.5): big-endian, request-driven, golden answers, clamping."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.domain.limits import ChargeLimits
from ml314.errors import FrameError
from ml314.protocols import registry
from ml314.protocols.base import CanFrame
from ml314.protocols.examples import worked_example
from ml314.protocols.growatt_can import ALARM_BITS, BIT_ALARMS, INFO, Codec

CODEC = Codec()
REQUEST = CanFrame(0x301, bytes.fromhex("1122334455667788"))
ANSWER_IDS = [0x311, 0x312, 0x313, 0x314, 0x315, 0x316, 0x317, 0x318, 0x319, 0x320]


def _hex(frames: tuple[CanFrame, ...]) -> dict[int, str]:
    return {f.arbitration_id: f.data.hex(" ").upper() for f in frames}


def _answer(status: BankStatus) -> dict[int, str]:
    return _hex(CODEC.battery_answer(REQUEST, status))


def test_info() -> None:
    assert (INFO.code, INFO.name, INFO.brand) == ("P01-GRW", "growatt-can", "Growatt")
    assert INFO.period_s == 0.0
    assert "V1.04" in INFO.document
    codec = registry.create(registry.resolve("CAN:P01"))
    assert isinstance(codec, Codec) and codec.info.name == "growatt-can"


def test_worked_example_16_modules_byte_for_byte() -> None:
    # 311 (big-endian): CV 568 = 02 38, CCL 24000 = 5D C0, DCL 32000 = 7D 00, status 0x0D63 = inverter status 11
    #   (b10-11) | parallel (b8) | charge out (b6) | discharge out (b5) | discharging 11 (b0-1)
    # 312: no protection/alarm bits, 16 packs, manufacturer code 0, 16 cells
    # 313: 5280 = 14 A0, -1968 = F8 50, highest cell 24.3 degC = 00 F3, SOC 50 = 32, SOH 100 = 64
    # 314: 2512 Ah and 5024 Ah overflow the u16 10 mAh fields -> FF FF (655.35 Ah); delta 15 mV; 42 cycles
    # 315-318: the master's cells 3300..3315 mV; 319: C0 = charge + discharge enabled, LFP; max 3315 mV (cell 16),
    #   min 3300 mV (cell 1), no faulty pack; 320: "ML", HW 1, SW 1, no date
    assert _answer(worked_example(16)) == {
        0x311: "02 38 5D C0 7D 00 0D 63",
        0x312: "00 00 00 00 10 00 00 10",
        0x313: "14 A0 F8 50 00 F3 32 64",
        0x314: "FF FF FF FF 00 0F 00 2A",
        0x315: "0C E4 0C E5 0C E6 0C E7",
        0x316: "0C E8 0C E9 0C EA 0C EB",
        0x317: "0C EC 0C ED 0C EE 0C EF",
        0x318: "0C F0 0C F1 0C F2 0C F3",
        0x319: "C0 0C F3 0C E4 10 01 00",
        0x320: "4D 4C 01 01 00 00 00 00",
    }


def test_worked_example_one_module() -> None:
    frames = _answer(worked_example(1))
    assert frames[0x311] == "02 38 05 DC 07 D0 0C 63"  # single box mode: b8-9 = 00
    assert frames[0x312] == "00 00 00 00 01 00 00 10"
    assert frames[0x313] == "14 A0 FF 85 00 F3 32 64"  # -12.3 A = FF 85
    assert frames[0x314] == "3D 54 7A A8 00 0F 00 2A"  # 157.00 Ah, 314.00 Ah


def test_request_driven_no_frames_until_0x301() -> None:
    status = worked_example(2)
    assert CODEC.battery_cycle(status) == ()
    silence = [CanFrame(0x305, bytes(8)), CanFrame(0x351, bytes(8)), CanFrame(0x301, bytes(8), is_extended_id=True)]
    for frame in silence:
        assert CODEC.battery_answer(frame, status) == ()
        assert not CODEC.is_inverter_alive(frame)
    answer = CODEC.battery_answer(REQUEST, status)
    assert [f.arbitration_id for f in answer] == ANSWER_IDS
    # any 0x301 is a request, whatever it carries
    assert CODEC.battery_answer(CanFrame(0x301, b""), status) == answer
    assert not any(CODEC.is_inverter_alive(f) for f in answer)


def test_inverter_sends_the_documented_request() -> None:
    frames = CODEC.inverter_cycle(BatteryView())
    assert frames == (REQUEST,)
    assert CODEC.is_inverter_alive(frames[0])
    assert CODEC.decode(frames[0]) == BatteryView()
    assert CODEC.describe(frames[0]) == ("InverterRequest", {"RequestData": "11 22 33 44 55 66 77 88"})


def _expected(status: BankStatus) -> dict[str, object]:
    return {
        "cvl_v": status.limits.cvl_v,
        "ccl_a": status.limits.ccl_a,
        "dcl_a": status.limits.dcl_a,
        "charge_enable": status.charge_enable,
        "discharge_enable": status.discharge_enable,
        "force_charge_1": status.force_charge_1,
        "force_charge_2": status.force_charge_2,
        "protections": status.protections,
        "alarms": status.alarms,
        "module_count": status.module_count,
        "voltage_v": status.voltage_v,
        "current_a": status.current_a,
        "cell_temperature_max_c": status.cell_temperature_max_c,
        "soc_pct": status.soc_pct,
        "soh_pct": status.soh_pct,
        "remaining_capacity_ah": min(status.remaining_capacity_ah, 655.35),
        "full_capacity_ah": min(status.full_capacity_ah, 655.35),
        "cycles": status.cycles,
        "cell_voltage_max_v": status.cell_voltage_max_v,
        "cell_voltage_min_v": status.cell_voltage_min_v,
    }


@pytest.mark.parametrize("n", [1, 2, 4, 16])
def test_round_trip_through_decode_all(n: int) -> None:
    status = worked_example(n)
    view = CODEC.decode_all(CODEC.battery_answer(REQUEST, status))
    expected = _expected(status)
    assert set(expected) == CODEC.carries
    for name, want in expected.items():
        got = getattr(view, name)
        if isinstance(want, float):
            assert got == pytest.approx(want, abs=0.01), name
        else:
            assert got == want, name
    assert view.manufacturer == "ML"


def test_overflowing_bank_values_are_clamped_not_wrapped() -> None:
    status = replace(
        worked_example(16),
        current_a=-5024.0,
        limits=ChargeLimits(cvl_v=56.8, dvl_v=48.0, ccl_a=7000.0, dcl_a=7000.0),
        cell_voltage_max_id=256,
    )
    frames = _answer(status)
    assert frames[0x311].startswith("02 38 FF FF FF FF")  # 6553.5 A, the u16 maximum
    assert frames[0x313].startswith("14 A0 80 00")  # -3276.8 A, the s16 minimum
    assert frames[0x314].startswith("FF FF FF FF")  # 655.35 Ah
    assert frames[0x319].split()[5] == "FF"  # cell 256 of the bank -> 255
    view = CODEC.decode_all(CODEC.battery_answer(REQUEST, status))
    assert view.current_a == pytest.approx(-3276.8)
    assert view.full_capacity_ah == pytest.approx(655.35)
    assert view.remaining_capacity_ah == pytest.approx(655.35)


def test_protection_and_alarm_bits() -> None:
    status = replace(
        worked_example(1),
        protections=frozenset({AlarmKind.DISCHARGE_OVERCURRENT, AlarmKind.CHARGE_UNDERTEMPERATURE}),
        alarms=frozenset({AlarmKind.CELL_IMBALANCE, AlarmKind.PACK_UNDERVOLTAGE}),
    )
    frames = _answer(status)
    # prot1 b7 DOC, prot2 b4 UTC, alarm1 b1 module UV, alarm2 b2 delta-V
    assert frames[0x312] == "80 10 02 04 01 00 00 10"
    assert frames[0x311] == "02 38 05 DC 07 D0 0C 67"  # b2: error bytes valid
    view = CODEC.decode(CanFrame(0x312, bytes.fromhex(frames[0x312])))
    assert view.protections == status.protections
    assert view.alarms == status.alarms


def test_alarm_table_both_directions() -> None:
    unmapped = set(AlarmKind) - set(ALARM_BITS)
    assert unmapped == {AlarmKind.INVERTER_COMMUNICATION, AlarmKind.MODULE_MIX}  # no Growatt bit says them
    for name, kind in BIT_ALARMS.items():
        assert ALARM_BITS[kind] == name
    for kind, name in ALARM_BITS.items():
        status = replace(worked_example(1), protections=frozenset({kind}), alarms=frozenset({kind}))
        view = CODEC.decode_all(CODEC.battery_answer(REQUEST, status))
        assert view.protections == {BIT_ALARMS[name]}
        assert view.alarms == {BIT_ALARMS[name]}


def test_soft_start_failure_is_only_described() -> None:
    frame = CanFrame(0x312, bytes.fromhex("0100000001000010"))
    assert CODEC.decode(frame).protections == frozenset()
    described = CODEC.describe(frame)
    assert described is not None and described[1]["ProtSoftStartFail"] == 1


@pytest.mark.parametrize(
    ("current_a", "status_low_byte", "status_high_byte"),
    [(20.0, 0x62, 0x08), (0.2, 0x61, 0x04), (-0.2, 0x61, 0x04), (-12.3, 0x63, 0x0C)],
)
def test_state_follows_the_current(current_a: float, status_low_byte: int, status_high_byte: int) -> None:
    frame = next(f for f in CODEC.battery_answer(REQUEST, replace(worked_example(1), current_a=current_a)))
    assert frame.data[6:] == bytes([status_high_byte, status_low_byte])


def test_enables_force_charge_balancing_and_faulty_pack() -> None:
    base = worked_example(4)
    modules = list(base.modules)
    modules[2] = replace(modules[2], protections=frozenset({AlarmKind.CELL_OVERVOLTAGE}), balancing=True)
    status = replace(
        base,
        modules=tuple(modules),
        charge_enable=False,
        force_charge_1=True,
        force_charge_2=True,
    )
    frames = _answer(status)
    assert frames[0x319] == "70 0C F3 0C E4 10 01 03"  # discharge en, force I, force II; pack 3 faulty
    assert frames[0x311].endswith("0D 2B")  # no charge-out (b6), balancing (b3), parallel, discharging
    view = CODEC.decode_all(CODEC.battery_answer(REQUEST, status))
    assert view.charge_enable is False and view.discharge_enable is True
    assert view.force_charge_1 is True and view.force_charge_2 is True
    limits = view.limits()
    assert limits is not None and limits.ccl_a == 0.0


def test_soh_flag_is_not_part_of_the_soh() -> None:
    view = CODEC.decode(CanFrame(0x313, bytes.fromhex("14A0FF8500F332E4")))
    assert view.soh_pct == 100.0


def test_cells_and_identity_are_described() -> None:
    described = CODEC.describe(CanFrame(0x315, bytes.fromhex("0CE40CE50CE60CE7")))
    assert described == ("Cells1To4", {"Cell1": 3.3, "Cell2": 3.301, "Cell3": 3.302, "Cell4": 3.303})
    assert CODEC.decode(CanFrame(0x315, bytes.fromhex("0CE40CE50CE60CE7"))) == BatteryView()
    described = CODEC.describe(CanFrame(0x320, bytes.fromhex("4D4C010100000000")))
    assert described is not None and described[1]["Manufacturer"] == "ML"
    assert CODEC.decode(CanFrame(0x320, b"\xffL\x01\x01\x00\x00\x00\x00")).manufacturer == "?L"


def test_no_modules_no_cell_values() -> None:
    frames = _answer(replace(worked_example(1), modules=()))
    assert frames[0x315] == "00 00 00 00 00 00 00 00"


def test_short_and_foreign_frames() -> None:
    with pytest.raises(FrameError, match="0x311"):
        CODEC.decode(CanFrame(0x311, b"\x02\x38"))
    with pytest.raises(FrameError):
        CODEC.describe(CanFrame(0x301, b"\x11\x22"))
    assert CODEC.decode(CanFrame(0x351, bytes(8))) == BatteryView()
    assert CODEC.describe(CanFrame(0x351, bytes(8))) is None
    assert CODEC.describe(CanFrame(0x311, bytes(8), is_extended_id=True)) is None


_IDS = st.one_of(st.sampled_from([0x301, *ANSWER_IDS, 0x321]), st.integers(0, 0x7FF))


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
    assert (answer != ()) == (ident == 0x301 and not extended)
