"""SMA Sunny Island external-BMS CAN (reference/protocols.md 1.4): golden frames, clamping, alarms, inverter side.

Golden vectors: the document is SMA "FSS-ConnectingBat-TI-en-10" (the layouts of 0x351-0x35F, 0x305/0x306) as
reference/protocols.md 1.4 summarises it. Every frame below is derived byte by byte from the worked example
(``protocols/examples.py``) in the comment beside it (little-endian words, the document's scales); none is a
capture, and none is the codec's output pasted back.
"""

from __future__ import annotations

import math
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
from ml314.protocols.fields import dbc
from ml314.protocols.sma_can import ALARM_ITEMS, INFO, INVERTER_TIMEOUTS_S, ITEM_ALARMS, ITEMS, Codec

CODEC = Codec()


def _hex(frames: tuple[CanFrame, ...]) -> dict[int, str]:
    return {f.arbitration_id: f.data.hex(" ").upper() for f in frames}


def test_info_names_the_document_and_timeouts() -> None:
    assert (INFO.code, INFO.name, INFO.brand) == ("P07-SMA", "sma-can", "SMA")
    assert "FSS-ConnectingBat-TI-en-10" in INFO.document
    assert INFO.period_s == 1.0
    assert INFO.keepalive_timeout_s == 60.0
    assert INVERTER_TIMEOUTS_S == {0x355: 60.0, 0x351: 60.0}
    codec = registry.create(registry.resolve("CAN:P07"))
    assert isinstance(codec, Codec)
    assert codec.info.name == "sma-can"


def test_worked_example_16_modules_byte_for_byte() -> None:
    # 351: CVL 56.8 V -> 0x0238; CCL 2400 A and DCL 3200 A clamp to SMA's 1200.0 A -> 0x2EE0; DVL 48.0 V -> 0x01E0
    # 355: SOC 50 %, SOH 100 %, SOC 50.00 % -> 5000 = 0x1388; 356: 5280, -1968 = 0xF850, 250
    # 35A: nothing active -> every item "leaves" (10); 35F: "LI", version 1.0, 5024 Ah = 0x13A0, id 0
    assert _hex(CODEC.battery_cycle(worked_example(16))) == {
        0x351: "38 02 E0 2E E0 2E E0 01",
        0x355: "32 00 64 00 88 13",
        0x356: "A0 14 50 F8 FA 00",
        0x35A: "AA AA AA AA AA AA AA AA",
        0x35B: "00 00 00 00 00 00 00 00",
        0x35E: "4D 4C 33 31 34 20 20 20",
        0x35F: "4C 49 01 00 A0 13 00 00",
    }


def test_worked_example_one_module() -> None:
    frames = _hex(CODEC.battery_cycle(worked_example(1)))
    # 351: CVL 568 = 0x0238, CCL 1500 = 0x05DC, DCL 2000 = 0x07D0, DVL 480 = 0x01E0 (0.1 V / 0.1 A, LE)
    assert frames[0x351] == "38 02 DC 05 D0 07 E0 01"
    # 356: 52.80 V -> 5280 = 0x14A0, -12.3 A -> -123 = 0xFF85, 25.0 degC -> 250 = 0x00FA
    assert frames[0x356] == "A0 14 85 FF FA 00"
    # 35F: "LI", version 1.0, 314 Ah = 0x013A, id 0
    assert frames[0x35F] == "4C 49 01 00 3A 01 00 00"


def test_no_pylon_frames() -> None:
    ids = [f.arbitration_id for f in CODEC.battery_cycle(worked_example(16))]
    assert ids == [0x351, 0x355, 0x356, 0x35A, 0x35B, 0x35E, 0x35F]
    assert 0x359 not in ids and 0x35C not in ids
    assert CODEC.battery_answer(CanFrame(0x305, bytes(8)), worked_example(1)) == ()


def _expected(status: BankStatus) -> dict[str, object]:
    return {
        "cvl_v": status.limits.cvl_v,
        "dvl_v": status.limits.dvl_v,
        "ccl_a": status.limits.ccl_a,
        "dcl_a": status.limits.dcl_a,
        "soc_pct": status.soc_pct,
        "soh_pct": status.soh_pct,
        "voltage_v": status.voltage_v,
        "current_a": status.current_a,
        "temperature_c": status.temperature_c,
        "alarms": status.alarms,
        "protections": status.protections,
        "manufacturer": status.manufacturer,
        "installed_capacity_ah": status.installed_capacity_ah,
    }


@pytest.mark.parametrize("n", [1, 2, 4])
def test_round_trip_through_decode_all(n: int) -> None:
    status = worked_example(n)
    view = CODEC.decode_all(CODEC.battery_cycle(status))
    expected = _expected(status)
    assert set(expected) == CODEC.carries
    for name, want in expected.items():
        got = getattr(view, name)
        if isinstance(want, float):
            assert got == pytest.approx(want, abs=0.01), name
        else:
            assert got == want, name


def test_eight_modules_announce_the_sma_maximum_of_1200_a() -> None:
    view = CODEC.decode_all(CODEC.battery_cycle(worked_example(8)))
    assert (view.ccl_a, view.dcl_a) == (1200.0, 1200.0)  # 1200 A and 1600 A asked


def test_clamps_to_the_sma_ranges() -> None:
    status = replace(
        worked_example(16),
        current_a=-5024.0,
        voltage_v=400.0,
        limits=ChargeLimits(cvl_v=70.0, dvl_v=30.0, ccl_a=5024.0, dcl_a=5024.0),
        installed_capacity_ah=70000.0,
    )
    frames = _hex(CODEC.battery_cycle(status))
    # CVL 63.0 V = 0x0276, CCL/DCL 1200.0 A, DVL 41.0 V = 0x019A (SMA ranges, not the wire's)
    assert frames[0x351] == "76 02 E0 2E E0 2E 9A 01"
    # voltage 327.67 V, current -3276.7 A = 0x8001: one step short of the invalid marker 0x8000
    assert frames[0x356] == "FF 7F 01 80 FA 00"
    assert frames[0x35F] == "4C 49 01 00 FE FF 00 00"
    view = CODEC.decode_all(CODEC.battery_cycle(status))
    assert view.current_a == pytest.approx(-3276.7)
    assert (view.cvl_v, view.ccl_a, view.dcl_a, view.dvl_v) == pytest.approx((63.0, 1200.0, 1200.0, 41.0))


def test_discharge_voltage_above_48_v_is_clamped() -> None:
    status = replace(worked_example(1), limits=ChargeLimits(cvl_v=58.0, dvl_v=50.0, ccl_a=100.0, dcl_a=100.0))
    assert _hex(CODEC.battery_cycle(status))[0x351] == "44 02 E8 03 E8 03 E0 01"


def test_disabled_direction_is_a_zero_current_limit() -> None:
    status = replace(worked_example(1), charge_enable=False)
    assert _hex(CODEC.battery_cycle(status))[0x351] == "38 02 00 00 D0 07 E0 01"
    status = replace(worked_example(1), discharge_enable=False)
    assert _hex(CODEC.battery_cycle(status))[0x351] == "38 02 DC 05 00 00 E0 01"


def test_nan_goes_out_as_the_invalid_marker_and_decodes_as_absent() -> None:
    status = replace(worked_example(1), soc_pct=math.nan, temperature_c=math.nan)
    frames = CODEC.battery_cycle(status)
    assert _hex(frames)[0x355] == "FF FF 64 00 FF FF"
    assert _hex(frames)[0x356] == "A0 14 85 FF 00 80"
    view = CODEC.decode_all(frames)
    assert view.soc_pct is None and view.temperature_c is None
    assert view.soh_pct == 100.0
    assert CODEC.describe(frames[2]) == (
        "BatteryMeasurements",
        {"Voltage": 52.8, "Current": -12.3, "Temperature": "invalid"},
    )


def test_soc_without_high_resolution() -> None:
    # 355 bytes 0-3: SOC 0x0032 = 50 %, SOH 0x0064 = 100 % (the high-resolution SOC of bytes 4-5 absent)
    assert CODEC.decode(CanFrame(0x355, bytes.fromhex("32006400"))) == BatteryView(soc_pct=50.0, soh_pct=100.0)
    # the high-resolution SOC replaces the 1 % SOC when present: 0x138A = 5002 -> 50.02 %
    assert CODEC.decode(CanFrame(0x355, bytes.fromhex("320064008A13"))).soc_pct == pytest.approx(50.02)
    with pytest.raises(FrameError):
        CODEC.decode(CanFrame(0x355, bytes.fromhex("320064")))


def test_alarm_and_warning_pairs() -> None:
    status = replace(
        worked_example(1),
        protections=frozenset({AlarmKind.CELL_OVERVOLTAGE}),
        alarms=frozenset({AlarmKind.CHARGE_UNDERTEMPERATURE}),
    )
    frame = next(f for f in CODEC.battery_cycle(status) if f.arbitration_id == 0x35A)
    # byte 0: general 10, high voltage 01 (arrives), low voltage 10, high temp 10 -> 1010 0110
    # byte 5: low temp 10, high temp charge 10, low temp charge 01, high current 10 -> 1001 1010
    assert frame.data.hex(" ").upper() == "A6 AA AA AA AA 9A AA AA"
    view = CODEC.decode(frame)
    assert view.protections == {AlarmKind.CELL_OVERVOLTAGE}
    assert view.alarms == {AlarmKind.CHARGE_UNDERTEMPERATURE}
    described = CODEC.describe(frame)
    assert described is not None
    assert described[1]["AlarmHighVoltage"] == "arrives"
    assert described[1]["AlarmGeneral"] == "leaves"


def test_alarm_table_both_directions() -> None:
    assert len(ITEMS) == 16
    assert set(ALARM_ITEMS) == set(AlarmKind)
    for item, kind in ITEM_ALARMS.items():
        assert ALARM_ITEMS[kind] == item
    for kind, item in ALARM_ITEMS.items():
        status = replace(worked_example(1), protections=frozenset({kind}), alarms=frozenset({kind}))
        frame = next(f for f in CODEC.battery_cycle(status) if f.arbitration_id == 0x35A)
        view = CODEC.decode(frame)
        assert view.protections == {ITEM_ALARMS[item]}
        assert view.alarms == {ITEM_ALARMS[item]}


@pytest.mark.parametrize("byte", [0x00, 0xFF])
def test_pairs_00_and_11_are_ignored(byte: int) -> None:
    view = CODEC.decode(CanFrame(0x35A, bytes([byte] * 8)))
    assert view.protections == frozenset() and view.alarms == frozenset()


def test_manufacturer_and_battery_info_text() -> None:
    status = replace(worked_example(1), manufacturer="Mänufacturer-long")
    frame = next(f for f in CODEC.battery_cycle(status) if f.arbitration_id == 0x35E)
    assert frame.data == b"M?nufact"
    assert CODEC.decode(CanFrame(0x35E, b"PYLON   ")).manufacturer == "PYLON"
    assert CODEC.describe(CanFrame(0x35E, b"ML314\x00\x00\x00")) == ("ManufacturerName", {"Name": "ML314"})
    # 35F: "LI" (0x4C 0x49), version 1.3, 512 Ah = 0x0200, id 0
    described = CODEC.describe(CanFrame(0x35F, bytes.fromhex("4C49010300020000")))
    assert described is not None and described[1]["BatteryType"] == "LI"


def test_inverter_frames_from_the_decoded_view() -> None:
    view = CODEC.decode_all(CODEC.battery_cycle(worked_example(16)))
    frames = CODEC.inverter_cycle(view)
    # 305: 52.8 V = 528; discharging 196.8 A is POSITIVE for SMA (negative while charging): 1968 = 0x07B0;
    # 25.0 degC; SOC 50.0 % = 500 = 0x01F4. 306: SOH 100, procedure/state not stated (FF), no error, CVL 56.8 V
    assert _hex(frames) == {
        0x305: "10 02 B0 07 FA 00 F4 01",
        0x306: "64 00 FF FF 00 00 38 02",
        0x307: "00 00 00 00 00 00 00 00",
    }
    for frame in frames:
        assert CODEC.is_inverter_alive(frame)
        assert CODEC.decode(frame) == BatteryView()
    described = CODEC.describe(frames[0])
    assert described == (
        "InverterBattery",
        {"BatteryVoltage": 52.8, "BatteryCurrent": 196.8, "BatteryTemperature": 25.0, "BatterySoc": 50.0},
    )


def test_inverter_counts_charging_negative() -> None:
    frame = CODEC.inverter_cycle(BatteryView(voltage_v=53.0, current_a=10.0, temperature_c=-5.0, soc_pct=99.9))[0]
    assert frame.data.hex(" ").upper() == "12 02 9C FF CE FF E7 03"


def test_inverter_sends_invalid_markers_before_it_knows_anything() -> None:
    assert _hex(CODEC.inverter_cycle(BatteryView())) == {
        0x305: "FF FF 00 80 00 80 00 80",
        0x306: "FF FF FF FF 00 00 FF FF",
        0x307: "00 00 00 00 00 00 00 00",
    }
    described = CODEC.describe(CODEC.inverter_cycle(BatteryView())[0])
    assert described is not None and set(described[1].values()) == {"invalid"}


def test_keepalive_identifiers() -> None:
    assert CODEC.is_inverter_alive(CanFrame(0x305, bytes(8)))
    assert not CODEC.is_inverter_alive(CanFrame(0x305, bytes(8), is_extended_id=True))
    assert not CODEC.is_inverter_alive(CanFrame(0x351, bytes(8)))


def test_dbc_ranges_are_the_sma_ranges() -> None:
    limits = dbc("sma_sunny_island").get_message_by_frame_id(0x351)
    ranges = {s.name: (s.minimum, s.maximum) for s in limits.signals}
    assert ranges == {
        "ChargeVoltage": (41, 63),
        "ChargeCurrentLimit": (0, 1200),
        "DischargeCurrentLimit": (0, 1200),
        "DischargeVoltage": (41, 48),
    }


def test_short_and_foreign_frames() -> None:
    with pytest.raises(FrameError, match="0x351"):
        CODEC.decode(CanFrame(0x351, b"\x38\x02\xe0"))
    with pytest.raises(FrameError):
        CODEC.describe(CanFrame(0x35E, b"ML"))
    assert CODEC.decode(CanFrame(0x359, bytes(7))) == BatteryView()
    assert CODEC.describe(CanFrame(0x359, bytes(7))) is None
    assert CODEC.describe(CanFrame(0x351, bytes(8), is_extended_id=True)) is None


_IDS = st.one_of(
    st.sampled_from([0x351, 0x355, 0x356, 0x35A, 0x35B, 0x35E, 0x35F, 0x305, 0x306, 0x307]),
    st.integers(0, 0x7FF),
)


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
