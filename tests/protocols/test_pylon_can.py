"""Pylon LV CAN V1.2 + extensions (reference/protocols.md 1.1): golden frames, captures, clamping, alarms, fuzz."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.domain.battery_status import AlarmKind, BatteryView
from ml314.domain.limits import ChargeLimits
from ml314.errors import FrameError
from ml314.protocols import pylon_can
from ml314.protocols.base import CanFrame
from ml314.protocols.examples import worked_example
from ml314.protocols.pylon_can import DB, INFO, Codec
from ml314.protocols.pylon_can_alarms import PROTECTION_SIGNALS, SMA_ITEMS, WARNING_SIGNALS

CODEC = Codec()


def frame(ident: int, hex_bytes: str) -> CanFrame:
    return CanFrame(ident, bytes.fromhex(hex_bytes))


def by_id(frames: tuple[CanFrame, ...]) -> dict[int, bytes]:
    return {f.arbitration_id: f.data for f in frames}


# --- the worked example of 1.1, byte for byte ------------------------------------------------------------------

WORKED = {
    0x351: "38 02 C0 5D 00 7D E0 01",
    0x355: "32 00 64 00",
    0x356: "A0 14 50 F8 FA 00",
    0x359: "00 00 00 00 10 50 4E",
    0x35C: "C0 00",
    0x35E: "50 59 4C 4F 4E 20 20 20",
    0x379: "A0 13 00 00",
}


def test_info_names_the_document_and_timing() -> None:
    assert (INFO.code, INFO.brand, INFO.name) == ("P14-PYL", "Pylon", "pylon-can")
    assert "V1.2 (2018-04-08)" in INFO.document
    assert INFO.period_s == 1.0
    assert INFO.keepalive_timeout_s == 60.0
    assert INFO.key == "CAN:P14"


def test_worked_example_frames_are_byte_exact() -> None:
    sent = by_id(CODEC.battery_cycle(worked_example(16)))
    for ident, hex_bytes in WORKED.items():
        assert sent[ident] == bytes.fromhex(hex_bytes), f"0x{ident:03X}"
    assert sent[0x35E] == b"PYLON   "


def test_frame_order_is_v12_then_extensions() -> None:
    ids = [f.arbitration_id for f in CODEC.battery_cycle(worked_example(16))]
    assert ids == [0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E, 0x35A, 0x35F, 0x379]
    assert all(not f.is_extended_id for f in CODEC.battery_cycle(worked_example(1)))


def test_extension_frames_of_the_worked_example() -> None:
    sent = by_id(CODEC.battery_cycle(worked_example(16)))
    # all 12 supported SMA items "OK" (10); contactor, reserved and generator "not supported" (00)
    assert sent[0x35A] == bytes.fromhex("AA AA A2 02 AA AA A2 02")
    # "LI", version 1.0, 5024 Ah, manufacturer id 0
    assert sent[0x35F] == bytes.fromhex("4C 49 01 00 A0 13 00 00")


def test_worked_example_round_trip_gives_the_bank_back() -> None:
    status = worked_example(16)
    view = CODEC.decode_all(CODEC.battery_cycle(status))
    assert view.cvl_v == pytest.approx(56.8)
    assert view.dvl_v == pytest.approx(48.0)
    assert view.ccl_a == pytest.approx(2400.0)
    assert view.dcl_a == pytest.approx(3200.0)
    assert view.voltage_v == pytest.approx(52.8)
    assert view.current_a == pytest.approx(-196.8)
    assert view.temperature_c == pytest.approx(25.0)
    assert (view.soc_pct, view.soh_pct, view.module_count) == (50.0, 100.0, 16)
    assert view.installed_capacity_ah == 5024.0
    assert view.charge_enable is True and view.discharge_enable is True
    assert not view.force_charge_1 and not view.force_charge_2 and not view.full_charge_request
    assert view.alarms == frozenset() and view.protections == frozenset()
    assert view.manufacturer == "PYLON"
    assert view.limits() == ChargeLimits(cvl_v=56.8, dvl_v=48.0, ccl_a=2400.0, dcl_a=3200.0)


@pytest.mark.parametrize("n", [1, 2, 8, 10])
def test_carried_fields_survive_a_round_trip(n: int) -> None:
    status = worked_example(n)
    view = CODEC.decode_all(CODEC.battery_cycle(status))
    expected = {
        "voltage_v": status.voltage_v,
        "current_a": status.current_a,
        "temperature_c": status.temperature_c,
        "soc_pct": status.soc_pct,
        "soh_pct": status.soh_pct,
        "cvl_v": status.limits.cvl_v,
        "dvl_v": status.limits.dvl_v,
        "ccl_a": status.limits.ccl_a,
        "dcl_a": status.limits.dcl_a,
        "module_count": n,
        "installed_capacity_ah": status.installed_capacity_ah,
    }
    for name, value in expected.items():
        assert name in Codec.carries
        assert getattr(view, name) == pytest.approx(value, abs=0.06), name
    assert "manufacturer" not in Codec.carries  # a fixed "PYLON", not the bank's name


# --- real captures (setfirelabs, OpenDTU-OnBattery PR #1213, dfch/BydCanProtocol) ---------------------------


def test_old_firmware_capture_decodes() -> None:
    limits = CODEC.decode(frame(0x351, "14 02 C0 12 C0 12 C2 01"))
    assert (limits.cvl_v, limits.ccl_a, limits.dcl_a, limits.dvl_v) == pytest.approx((53.2, 480.0, 480.0, 45.0))
    meas = CODEC.decode(frame(0x356, "7A 13 F2 FE 6B 01"))
    assert (meas.voltage_v, meas.current_a, meas.temperature_c) == pytest.approx((49.86, -27.0, 36.3))
    soc = CODEC.decode(frame(0x355, "58 00 5E 00"))
    assert (soc.soc_pct, soc.soh_pct) == (88.0, 94.0)
    prot = CODEC.decode(frame(0x359, "00 00 00 00 06 50 4E"))
    assert (prot.module_count, prot.alarms, prot.protections) == (6, frozenset(), frozenset())
    req = CODEC.decode(frame(0x35C, "C0 00"))
    assert (req.charge_enable, req.discharge_enable, req.force_charge_1) == (True, True, False)
    assert CODEC.decode(CanFrame(0x35E, b"PYLON   ")).manufacturer == "PYLON"
    assert CODEC.describe(frame(0x359, "00 00 00 00 06 50 4E")) == (
        "protections_alarms",
        {"marker": "PN", "module_count": 6} | {s.name: 0 for s in DB.get_message_by_frame_id(0x359).signals[:-1]},
    )


def test_pytes_capture_decodes() -> None:
    v = CODEC.decode(frame(0x351, "14 02 74 0E 74 0E CC 01"))
    assert (v.cvl_v, v.ccl_a, v.dcl_a, v.dvl_v) == pytest.approx((53.2, 370.0, 370.0, 46.0))


def test_victron_cell_extremes_capture_decodes() -> None:
    v = CODEC.decode(frame(0x373, "EA 0C 01 0D 1F 01 22 01"))
    assert (v.cell_voltage_min_v, v.cell_voltage_max_v) == pytest.approx((3.306, 3.329))
    # 287 K and 290 K (the kelvin scale; dfch's "+1 K" reading would say 15 and 18 degC)
    assert (v.cell_temperature_min_c, v.cell_temperature_max_c) == pytest.approx((13.85, 16.85))


def test_new_firmware_35f_capture_describes() -> None:
    name, fields = CODEC.describe(frame(0x35F, "4C 49 01 03 3C 02 AA 00")) or ("", {})
    assert name == "battery_info"
    assert fields == {
        "battery_type": "LI",
        "bms_version_major": 1,
        "bms_version_minor": 3,
        "battery_capacity_ah": 572,
        "manufacturer_id": 0xAA,
    }
    assert CODEC.decode(frame(0x35F, "4C 49 01 03 3C 02 AA 00")).installed_capacity_ah == 572.0


def test_byd_capture_frames_decode() -> None:
    assert CODEC.decode(frame(0x35E, "42 59 44 00 00 00 00 00")).manufacturer == "BYD"
    assert CODEC.decode(frame(0x379, "9C 00 00 00 00 00 00 00")).installed_capacity_ah == 156.0
    assert CODEC.decode(frame(0x372, "02 00 00 00 00 00 00 00")).module_count == 2
    all_ok = CODEC.decode(frame(0x35A, "AA AA AA AA AA AA AA AA"))
    assert (all_ok.alarms, all_ok.protections) == (frozenset(), frozenset())
    assert CODEC.describe(frame(0x382, "50 52 45 4D 49 55 4D 00")) == ("product_name", {"product_name": "PREMIUM"})
    energy = CODEC.describe(frame(0x378, "40 08 00 00 2B 07 00 00"))
    assert energy == ("energy_counters", {"charged_energy_kwh": 211.2, "discharged_energy_kwh": 183.5})


# --- short and padded forms -------------------------------------------------------------------------------------


def test_soc_frame_forms() -> None:
    assert CODEC.decode(frame(0x355, "32 00 64 00")).soc_pct == 50.0
    assert CODEC.decode(frame(0x355, "31 00 64 00 2D 13")).soc_pct == pytest.approx(49.09)
    # zero padding (Sol-Ark, BYD) is not a 0.00 % SOC
    assert CODEC.decode(frame(0x355, "43 00 64 00 00 00 00 00")).soc_pct == 67.0
    short = CODEC.decode(frame(0x355, "43 00"))  # diyBMS sends SOC only
    assert (short.soc_pct, short.soh_pct) == (67.0, None)
    with pytest.raises(FrameError, match="soc_soh"):
        CODEC.decode(frame(0x355, "43"))


def test_limits_without_dvl() -> None:
    v12 = CODEC.decode(frame(0x351, "38 02 C0 5D 00 7D"))
    assert v12.cvl_v == pytest.approx(56.8) and v12.dvl_v is None
    assert CODEC.decode(frame(0x351, "38 02 C0 5D 00 7D 00 00")).dvl_v is None  # 0 V = blank
    with pytest.raises(FrameError, match=r"0x351\) needs 6 bytes, got 4"):
        CODEC.decode(frame(0x351, "38 02 C0 5D"))


def test_359_without_pn_marker_and_with_padding() -> None:
    v = CODEC.decode(frame(0x359, "00 00 00 00 02 00 00"))  # Uksa007 leaves bytes 5-6 zero
    assert v.module_count == 2
    assert (CODEC.describe(frame(0x359, "00 00 00 00 02 50 4E 00")) or ("", {}))[1]["marker"] == "PN"


# --- clamping ---------------------------------------------------------------------------------------------------


def test_overflowing_bank_values_are_clamped_not_wrapped() -> None:
    big = replace(
        worked_example(16),
        current_a=-5024.0,
        limits=ChargeLimits(cvl_v=56.8, dvl_v=48.0, ccl_a=5024.0, dcl_a=5024.0),
        installed_capacity_ah=314.0 * 300,
        soc_pct=100.4,
    )
    sent = by_id(CODEC.battery_cycle(big))
    # +-3276.7 A (raw +-32767): 0x8000 is the SMA-style "invalid" marker, so the negative side stops one short
    assert sent[0x351] == bytes.fromhex("38 02 FF 7F FF 7F E0 01")
    assert sent[0x356] == bytes.fromhex("A0 14 01 80 FA 00")
    assert sent[0x379][:2] == (65534).to_bytes(2, "little")
    assert sent[0x35F][4:6] == (65534).to_bytes(2, "little")
    assert sent[0x355] == bytes.fromhex("64 00 64 00")
    view = CODEC.decode_all(CODEC.battery_cycle(big))
    assert view.current_a == pytest.approx(-3276.7)
    assert view.ccl_a == pytest.approx(3276.7) and view.dcl_a == pytest.approx(3276.7)


def test_positive_current_clamps_and_nan_is_zero() -> None:
    status = replace(worked_example(16), current_a=9999.0, temperature_c=float("nan"))
    sent = by_id(CODEC.battery_cycle(status))
    assert sent[0x356] == bytes.fromhex("A0 14 FF 7F 00 00")


def test_dbc_ranges_are_the_fields_real_ranges() -> None:
    sig = {s.name: s for m in DB.messages for s in m.signals}
    assert (sig["charge_current_limit_a"].minimum, sig["charge_current_limit_a"].maximum) == (0, 3276.7)
    assert (sig["battery_current_a"].minimum, sig["battery_current_a"].maximum) == (-3276.7, 3276.7)
    assert sig["state_of_charge_pct"].maximum == 100
    assert all(not m.is_extended_frame for m in DB.messages)
    assert all(s.byte_order == "little_endian" for s in sig.values())


def test_disabled_direction_is_a_zero_limit() -> None:
    status = replace(worked_example(16), charge_enable=False)
    sent = by_id(CODEC.battery_cycle(status))
    assert sent[0x351] == bytes.fromhex("38 02 00 00 00 7D E0 01")
    assert sent[0x35C] == bytes.fromhex("40 00")
    limits = CODEC.decode_all(CODEC.battery_cycle(status)).limits()
    assert limits is not None and limits.ccl_a == 0.0 and limits.dcl_a == 3200.0


# --- request flags and alarm bits, both ways --------------------------------------------------------------------

REQUESTS = [
    ({"charge_enable": True}, "80 00"),
    ({"discharge_enable": True}, "40 00"),
    ({"force_charge_1": True}, "20 00"),
    ({"force_charge_2": True}, "10 00"),
    ({"full_charge_request": True}, "08 00"),
]


@pytest.mark.parametrize(("flags", "wire"), REQUESTS)
def test_request_flags(flags: dict[str, bool], wire: str) -> None:
    off = dict.fromkeys(
        ("charge_enable", "discharge_enable", "force_charge_1", "force_charge_2", "full_charge_request"), False
    )
    status = replace(worked_example(1), **(off | flags))
    assert by_id(CODEC.battery_cycle(status))[0x35C] == bytes.fromhex(wire)
    view = CODEC.decode(frame(0x35C, wire))
    assert {k: getattr(view, k) for k in off} == off | flags


# (byte, bit) of each 0x359 signal, copied from the reference's table (bit 7 = MSB)
REFERENCE_359 = {
    "protection_discharge_overcurrent": (0, 7),
    "protection_cell_undertemperature": (0, 4),
    "protection_cell_overtemperature": (0, 3),
    "protection_cell_undervoltage": (0, 2),
    "protection_cell_overvoltage": (0, 1),
    "protection_system_error": (1, 3),
    "protection_charge_overcurrent": (1, 0),
    "alarm_discharge_high_current": (2, 7),
    "alarm_cell_low_temperature": (2, 4),
    "alarm_cell_high_temperature": (2, 3),
    "alarm_cell_low_voltage": (2, 2),
    "alarm_cell_high_voltage": (2, 1),
    "alarm_internal_communication_fail": (3, 3),
    "alarm_charge_high_current": (3, 0),
}


def test_359_bits_are_the_reference_table() -> None:
    message = DB.get_message_by_frame_id(0x359)
    flags = {s.name: divmod(s.start, 8) for s in message.signals if s.length == 1}
    assert flags == REFERENCE_359


def _359_bytes(protections: frozenset[AlarmKind], alarms: frozenset[AlarmKind]) -> bytes:
    status = replace(worked_example(1), protections=protections, alarms=alarms)
    return by_id(CODEC.battery_cycle(status))[0x359]


@pytest.mark.parametrize("kind", sorted(PROTECTION_SIGNALS, key=lambda k: k.value))
def test_protection_kinds_set_their_bit_and_decode_to_the_canonical_kind(kind: AlarmKind) -> None:
    byte, bit = REFERENCE_359[PROTECTION_SIGNALS[kind]]
    data = _359_bytes(frozenset({kind}), frozenset())
    assert data[:4] == bytes(1 << bit if i == byte else 0 for i in range(4))
    decoded = CODEC.decode(CanFrame(0x359, data)).protections
    assert decoded is not None and len(decoded) == 1
    assert PROTECTION_SIGNALS[next(iter(decoded))] == PROTECTION_SIGNALS[kind]


@pytest.mark.parametrize("kind", sorted(WARNING_SIGNALS, key=lambda k: k.value))
def test_alarm_kinds_set_their_bit_and_decode_back(kind: AlarmKind) -> None:
    byte, bit = REFERENCE_359[WARNING_SIGNALS[kind]]
    data = _359_bytes(frozenset(), frozenset({kind}))
    assert data[:4] == bytes(1 << bit if i == byte else 0 for i in range(4))
    decoded = CODEC.decode(CanFrame(0x359, data)).alarms
    assert decoded is not None and len(decoded) == 1
    assert WARNING_SIGNALS[next(iter(decoded))] == WARNING_SIGNALS[kind]


def test_named_bits_from_the_reference() -> None:
    assert _359_bytes(frozenset({AlarmKind.SYSTEM_ERROR}), frozenset())[1] == 0x08  # byte 1 bit 3, not bit 7
    assert _359_bytes(frozenset(), frozenset({AlarmKind.INTERNAL_COMMUNICATION}))[3] == 0x08
    decoded = CODEC.decode(frame(0x359, "82 09 9E 09 01 50 4E"))
    assert decoded.protections == {
        AlarmKind.DISCHARGE_OVERCURRENT,
        AlarmKind.CELL_OVERVOLTAGE,
        AlarmKind.SYSTEM_ERROR,
        AlarmKind.CHARGE_OVERCURRENT,
    }
    assert decoded.alarms == {
        AlarmKind.DISCHARGE_OVERCURRENT,
        AlarmKind.DISCHARGE_UNDERTEMPERATURE,
        AlarmKind.DISCHARGE_OVERTEMPERATURE,
        AlarmKind.CELL_UNDERVOLTAGE,
        AlarmKind.CELL_OVERVOLTAGE,
        AlarmKind.INTERNAL_COMMUNICATION,
        AlarmKind.CHARGE_OVERCURRENT,
    }
    # bit 7 of byte 1 (Battery-Emulator's "system fault") is not a V1.2 bit
    assert CODEC.decode(frame(0x359, "00 80 00 00 01 50 4E")).protections == frozenset()


def test_kinds_without_a_bit_are_not_sent() -> None:
    every = frozenset(AlarmKind)
    assert set(every - set(SMA_ITEMS)) <= {k for k in every if k.value in ("inverter_communication", "module_mix")}
    assert set(every - set(PROTECTION_SIGNALS)) == set(every - set(SMA_ITEMS))
    missing_warnings = {k.value for k in every - set(WARNING_SIGNALS)}
    assert {"sensor_fault", "cell_imbalance", "system_error"} <= missing_warnings


def test_35a_items_round_trip() -> None:
    for kind, item in SMA_ITEMS.items():
        status = replace(worked_example(1), protections=frozenset({kind}), alarms=frozenset({kind}))
        data = by_id(CODEC.battery_cycle(status))[0x35A]
        fields = (CODEC.describe(CanFrame(0x35A, data)) or ("", {}))[1]
        assert fields[f"alarm_{item}"] == 1 and fields[f"warning_{item}"] == 1
        assert sum(v == 1 for v in fields.values()) == 2
        view = CODEC.decode(CanFrame(0x35A, data))
        assert view.protections == view.alarms
        assert view.protections is not None and len(view.protections) == 1
        assert SMA_ITEMS[next(iter(view.protections))] == item


def test_35a_wire_pairs() -> None:
    prot, warn = frozenset({AlarmKind.CELL_OVERVOLTAGE}), frozenset({AlarmKind.SHORT_CIRCUIT})
    status = replace(worked_example(1), protections=prot, alarms=warn)
    data = by_id(CODEC.battery_cycle(status))[0x35A]
    assert data == bytes.fromhex("A6 AA A2 02 AA AA 92 02")  # 01 = active in the pair, 10 = OK
    # 11 and 00 mean "not supported": never an alarm
    assert CODEC.decode(frame(0x35A, "FF FF FF FF 00 00 00 00")).protections == frozenset()


# --- the inverter side ----------------------------------------------------------------------------------------


def test_inverter_keepalive() -> None:
    assert CODEC.inverter_cycle(BatteryView()) == (CanFrame(0x305, bytes(8)),)
    assert CODEC.is_inverter_alive(CanFrame(0x305, bytes(8)))
    assert CODEC.is_inverter_alive(CanFrame(0x305, b""))
    assert not CODEC.is_inverter_alive(CanFrame(0x307, bytes(8)))
    assert not CODEC.is_inverter_alive(CanFrame(0x305, bytes(8), is_extended_id=True))
    assert CODEC.describe(CanFrame(0x305, bytes(8))) == ("inverter_keepalive", {})
    assert CODEC.decode(CanFrame(0x305, bytes(8))) == BatteryView()


def test_unknown_identifiers() -> None:
    assert CODEC.describe(CanFrame(0x123, b"\x01")) is None
    assert CODEC.decode(CanFrame(0x123, b"\x01")) == BatteryView()
    assert CODEC.describe(CanFrame(0x351, bytes(8), is_extended_id=True)) is None
    assert CODEC.decode(CanFrame(0x351, bytes(8), is_extended_id=True)) == BatteryView()


def test_describe_uses_units_in_names() -> None:
    name, fields = CODEC.describe(frame(0x351, WORKED[0x351])) or ("", {})
    assert name == "limits"
    assert fields == {
        "charge_voltage_limit_v": 56.8,
        "charge_current_limit_a": 2400.0,
        "discharge_current_limit_a": 3200.0,
        "discharge_voltage_limit_v": 48.0,
    }


def test_variant_validation() -> None:
    with pytest.raises(ValueError, match="0x123"):
        pylon_can.PylonCanVariant(frames=(0x351, 0x123))
    with pytest.raises(ValueError, match="ASCII"):
        pylon_can.PylonCanVariant(name="PYLON-LV-X")
    with pytest.raises(ValueError, match="begin"):
        pylon_can.PylonCanVariant(name="DIYPYLON", required_name_prefix="PYLON")


# --- fuzz ---------------------------------------------------------------------------------------------------------

KNOWN_IDS = [m.frame_id for m in DB.messages]


@st.composite
def frames(draw: st.DrawFn) -> CanFrame:
    extended = draw(st.booleans())
    ids = st.integers(0, 0x1FFFFFFF) if extended else st.sampled_from(KNOWN_IDS) | st.integers(0, 0x7FF)
    ident = draw(ids)
    return CanFrame(ident, draw(st.binary(max_size=8)), is_extended_id=extended)


@settings(max_examples=400, deadline=None)
@given(frames())
def test_fuzz_decode_and_describe(f: CanFrame) -> None:
    try:
        view = CODEC.decode(f)
    except FrameError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(view, BatteryView)
    try:
        described = CODEC.describe(f)
    except FrameError:
        pass
    else:
        assert described is None or isinstance(described[1], dict)
