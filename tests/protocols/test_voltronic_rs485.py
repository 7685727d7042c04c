"""Voltronic native RS485 (P04-VOL): 2-byte length responses, IDs, error frames, register values, inverter side.

Golden vectors: the document is "Voltronic Inverter and BMS 485 communication protocol" (2020-03-25, copy
ardupic/voltronic-inverter-communication-protocols, 20201202.docx); the capture is dnc392/rs485-bms-probe
docs/evidence/voltronic_cell_count_source_custom.json (a JK BMS in "Voltronic_Inverter_and_BMS_485" mode). Vectors
built with ``_crc`` spell out the body byte by byte from the document's frame formats (sections 3.1-3.3) and the
register table; the CRC is CRC-16/MODBUS, checked against the capture in ``test_capture_one_register_read``.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml314.domain.battery_status import AlarmKind, BatteryView
from ml314.domain.limits import ChargeLimits
from ml314.errors import FrameError
from ml314.protocols import modbus_rtu as mb
from ml314.protocols import voltronic_rs485 as v
from ml314.protocols.base import Transport
from ml314.protocols.examples import worked_example

CODEC = v.Codec()


def _crc(body: str) -> bytes:
    return mb.with_crc(bytes.fromhex(body))


def test_info() -> None:
    info = v.INFO
    assert (info.transport, info.code, info.brand, info.name) == (
        Transport.RS485,
        "P04-VOL",
        "Voltronic",
        "voltronic-rs485",
    )
    assert info.document == "Voltronic Inverter and BMS 485 communication protocol (2020-03-25)"
    assert info.baud == 9600
    assert v.Codec(info).info is info


def test_unit_id_range() -> None:
    assert CODEC.unit_id == 0x0F  # rotary switch position 0
    assert v.Codec(unit_id=0x02).unit_id == 0x02
    for bad in (0x00, 0x01, 0x10):
        with pytest.raises(ValueError, match=r"0x02\.\.0x0F"):
            v.Codec(unit_id=bad)


def test_inverter_requests_are_modbus_like_reads_to_the_common_id() -> None:
    assert CODEC.inverter_requests() == (_crc("01 03 00 30 00 10"), _crc("01 03 00 70 00 08"))
    assert CODEC.inverter_requests()[0] == bytes.fromhex("01 03 00 30 00 10 44 09")


def test_response_has_a_two_byte_length_in_registers() -> None:
    # document 3.2: ID, command, data length (MSB, LSB), data length x 2 bytes, CRC. Worked example, 1 module:
    # CVL 56.8 V = 0x0238, DVL 48.0 V = 0x01E0, CCL 150.0 A = 0x05DC, DCL 200.0 A = 0x07D0, status b7|b6 = 0x00C0,
    # run time 157 Ah / 12.3 A = 766 min = 0x02FE, remaining 157 000 mAh = 0x0002 0x6548
    response = CODEC.respond(_crc("01 03 00 70 00 08"), worked_example(1))
    assert response == _crc("01 03 0008 0238 01E0 05DC 07D0 00C0 02FE 0002 6548")


def test_capture_one_register_read() -> None:
    """The JK BMS capture, byte for byte: cell count 8 in a one-register read, length field 0x0001."""
    request, answer = bytes.fromhex("01 03 00 10 00 01 85 CF"), bytes.fromhex("01 03 00 01 00 08 15 CC")
    example = worked_example(1)
    eight = replace(example.modules[0], cell_voltages_v=example.modules[0].cell_voltages_v[:8])
    assert CODEC.respond(request, replace(example, modules=(eight,))) == answer
    assert CODEC.take_frame(bytearray(answer), response=True) == answer
    assert CODEC.describe(answer) == ("read request", {"id": 1, "start": "0x0001", "count": 8})  # 8 bytes: ambiguous
    assert CODEC.decode_response(request, answer) == BatteryView()  # 0x0010 feeds no BatteryView field


def test_registers_worked_example_1() -> None:
    regs = CODEC.registers(worked_example(1))
    expected = {
        0x0010: 16,
        0x0011: 3300,
        0x0020: 3315,
        0x0021: 0,  # cells 17-20 absent
        0x0025: 6,
        0x0026: 2981,  # board 25.0 degC in 0.1 K
        0x002B: 2991,  # NTC #6 = MOSFET 26.0 degC
        0x0030: 0,  # sum charge current
        0x0031: 123,  # sum discharge current 12.3 A
        0x0032: 528,
        0x0033: 50,
        0x0034: 0x0004,  # 314 000 mAh, high word first
        0x0035: 0xCA90,
        0x0036: 1,
        0x0037: 0,
        0x003E: 0x0004,
        0x003F: 0xCA90,
        0x0070: 568,
        0x0071: 480,
        0x0072: 1500,
        0x0073: 2000,
        0x0074: 0xC0,  # b7 charge, b6 discharge enabled
        0x0075: 766,  # 157 Ah / 12.3 A = 765.9 min
        0x0076: 0x0002,  # 157 000 mAh
        0x0077: 0x6548,
    }
    assert {a: regs[a] for a in expected} == expected
    assert all(0 <= w <= 0xFFFF for w in regs.values())


def test_registers_worked_example_16() -> None:
    regs = CODEC.registers(worked_example(16))
    assert (regs[0x0031], regs[0x0036], regs[0x0072], regs[0x0073]) == (1968, 16, 24000, 32000)
    assert regs[0x0034] << 16 | regs[0x0035] == 5_024_000  # 5024 Ah fits the 4-byte mAh field
    assert regs[0x0076] << 16 | regs[0x0077] == 2_512_000


def test_overflow_is_clamped() -> None:
    status = replace(
        worked_example(16), current_a=-7000.0, limits=ChargeLimits(cvl_v=56.8, dvl_v=48.0, ccl_a=7000.0, dcl_a=9e9)
    )
    regs = CODEC.registers(status)
    assert (regs[0x0031], regs[0x0072], regs[0x0073]) == (0xFFFF, 0xFFFF, 0xFFFF)
    assert CODEC.decode_registers(regs).current_a == -6553.5
    assert CODEC.registers(replace(status, current_a=7000.0))[0x0030] == 0xFFFF
    assert CODEC.registers(replace(status, current_a=0.0))[0x0075] == 0xFFFF  # not discharging: no run-out


@pytest.mark.parametrize("n", [1, 16])
def test_inverter_cycle_round_trip(n: int) -> None:
    status = worked_example(n)
    view = BatteryView()
    for request in CODEC.inverter_requests():
        response = CODEC.respond(request, status)
        assert response is not None
        view = view.merge(CODEC.decode_response(request, response))
    assert {f for f in CODEC.carries if getattr(view, f) is None} == set()
    assert (view.voltage_v, view.current_a, view.soc_pct) == (52.8, status.current_a, 50.0)
    assert (view.cvl_v, view.dvl_v, view.ccl_a, view.dcl_a) == (56.8, 48.0, 150.0 * n, 200.0 * n)
    assert (view.full_capacity_ah, view.installed_capacity_ah, view.remaining_capacity_ah) == (
        314.0 * n,
        314.0 * n,
        157.0 * n,
    )
    assert view.module_count == n
    assert (view.charge_enable, view.discharge_enable) == (True, True)
    assert (view.force_charge_1, view.force_charge_2, view.full_charge_request) == (False, False, False)


@pytest.mark.parametrize("field", sorted(v.STATUS_BITS))
def test_status_bits_both_ways(field: str) -> None:
    base = replace(
        worked_example(1),
        charge_enable=False,
        discharge_enable=False,
        force_charge_1=False,
        force_charge_2=False,
        full_charge_request=False,
    )
    word = CODEC.registers(replace(base, **{field: True}))[0x0074]  # type: ignore[arg-type]
    assert word == 1 << v.STATUS_BITS[field]
    view = CODEC.decode_registers({0x0074: word})
    assert {f for f in v.STATUS_BITS if getattr(view, f)} == {field}


def test_battery_answers_the_common_id_and_its_own() -> None:
    codec = v.Codec(unit_id=0x03)
    status = worked_example(1)
    common = codec.respond(_crc("01 03 00 33 00 01"), status)
    own = codec.respond(_crc("03 03 00 33 00 01"), status)
    assert common == _crc("01 03 0001 0032")
    assert own == _crc("03 03 0001 0032")
    assert codec.respond(_crc("04 03 00 33 00 01"), status) is None  # another pack's ID (1..16): its answer
    assert codec.respond(_crc("04 03 00 33 00 01")[:-1] + b"\x00", status) is None  # not ours, even garbled


def test_error_frames() -> None:
    status = worked_example(1)
    bad_crc = _crc("01 03 00 30 00 10")[:-1] + b"\x00"
    assert CODEC.respond(bad_crc, status) == _crc("01 83 03")
    buf = bytearray(bad_crc + _crc("01 03 00 33 00 01"))  # a read for us whose CRC fails is framed, to be answered
    assert CODEC.take_frame(buf, response=False) == bad_crc
    assert CODEC.take_frame(buf, response=False) == _crc("01 03 00 33 00 01")
    assert CODEC.take_frame(bytearray(b"\x55" + _crc("01 03 00 33 00 01")), response=False) == _crc("01 03 00 33 00 01")
    assert CODEC.respond(_crc("0F 10 00 70 00 01 02 00 00"), status) == _crc("0F 90 02")
    assert CODEC.respond(_crc("01 06 00 70 02 38"), status) == _crc("01 86 02")
    # error 1: "Slave ID should be within 1~16"; an ID outside that range with a valid CRC
    assert CODEC.respond(_crc("11 03 00 30 00 10"), status) == _crc("11 83 01")
    assert CODEC.respond(_crc("00 03 00 30 00 10"), status) == _crc("00 83 01")
    assert CODEC.respond(_crc("11 03 00 30 00 10")[:-1] + b"\x00", status) is None  # ID untrustworthy: silence
    assert CODEC.respond(_crc("10 03 00 30 00 10"), status) is None  # ID 16 is in range: another pack's
    assert CODEC.take_frame(bytearray(_crc("01 06 00 70 02 38")), response=False) == _crc("01 06 00 70 02 38")
    name, fields = CODEC.describe(_crc("01 83 03"))
    assert (name, fields["meaning"]) == ("error", "crc_error")
    assert CODEC.describe(_crc("01 83 01"))[1]["meaning"] == "bad_id"


def test_undescribed_registers_read_zero() -> None:
    answer = CODEC.respond(_crc("01 03 00 40 00 02"), worked_example(1))
    assert answer == _crc("01 03 0002 0000 0000")


def test_malformed_requests_raise() -> None:
    with pytest.raises(FrameError):
        CODEC.respond(b"\x01\x03", worked_example(1))
    with pytest.raises(FrameError, match="out of range"):
        CODEC.respond(_crc("01 03 00 30 00 00"), worked_example(1))
    with pytest.raises(FrameError, match="read request"):
        CODEC.respond(_crc("01 03 00 30 00 10 00"), worked_example(1))


def test_decode_response_checks_the_pairing() -> None:
    read = CODEC.inverter_requests()[1]
    assert CODEC.decode_response(read, _crc("01 83 01")) == BatteryView()
    with pytest.raises(FrameError, match="data length"):
        CODEC.decode_response(read, _crc("01 03 0001 0000"))
    with pytest.raises(FrameError, match="data length"):  # a byte count where the register count belongs
        CODEC.decode_response(read, _crc("01 03 0010" + " 0000" * 8))
    with pytest.raises(FrameError, match="ID"):
        CODEC.decode_response(read, _crc("02 03 0008" + " 0000" * 8))
    with pytest.raises(FrameError):
        CODEC.decode_response(_crc("01 10 00 70 00 01"), _crc("01 03 0001 0000"))


def test_describe() -> None:
    assert CODEC.describe(CODEC.inverter_requests()[0]) == ("read request", {"id": 1, "start": "0x0030", "count": 16})
    name, fields = CODEC.describe(_crc("01 03 0002 0238 01E0"))
    assert (name, fields["data_length"], fields["words"]) == ("read response", 2, "0238 01E0")
    name, fields = CODEC.describe(_crc("01 10 00 70 00 01 02 38"))
    assert (name, fields["start"], fields["count"]) == ("write request", "0x0070", 1)
    named = v.Codec.describe_registers(CODEC.registers(worked_example(1)))
    assert named["0x0034 full_capacity_mah"] == 314_000
    assert named["0x0070 cvl_dv"] == 568


def test_take_frame() -> None:
    read = CODEC.inverter_requests()[0]
    answer = CODEC.respond(read, worked_example(1))
    assert answer is not None
    buf = bytearray(b"\x55" + read + answer[:7])
    assert CODEC.take_frame(buf, response=False) == read
    assert CODEC.take_frame(buf, response=True) is None
    buf += answer[7:] + _crc("01 83 02")
    assert CODEC.take_frame(buf, response=True) == answer
    assert CODEC.take_frame(buf, response=True) == _crc("01 83 02")
    # the reference gives no data layout for 0x10: any of the plausible ones whose CRC checks is framed
    for body in (
        "01 10 00 70 00 01",
        "01 10 00 70 00 01 02 38",
        "01 10 00 70 00 01 02 02 38",
        "01 10 00 70 00 01 00 02 02 38",
    ):
        assert CODEC.take_frame(bytearray(_crc(body)), response=False) == _crc(body)


@given(st.binary(max_size=80))
def test_fuzz_battery_side(data: bytes) -> None:
    try:
        answer = CODEC.respond(data, worked_example(1))
    except FrameError:
        return
    assert answer is None or answer[0] in (0x01, CODEC.unit_id)


@given(st.binary(max_size=80), st.binary(max_size=80))
def test_fuzz_inverter_side(request: bytes, response: bytes) -> None:
    for call in (
        lambda: CODEC.decode_response(request, response),
        lambda: CODEC.decode_response(CODEC.inverter_requests()[0], response),
        lambda: CODEC.describe(response),
        lambda: CODEC.describe(request),
    ):
        with contextlib.suppress(FrameError):
            call()
    for direction in (True, False):
        buf = bytearray(response)
        while (frame := CODEC.take_frame(buf, response=direction)) is not None:
            crc_ok = mb.crc16(frame[:-2]) == int.from_bytes(frame[-2:], "little")
            bad_read_for_us = not direction and len(frame) == 8 and frame[0] in (1, CODEC.unit_id) and frame[1] == 3
            assert crc_ok or bad_read_for_us


@pytest.mark.parametrize(
    ("soc", "b5", "b4"),
    [(0.0, 1, 0), (8.0, 1, 0), (9.0, 1, 0), (9.4, 1, 0), (10.0, 0, 1), (14.0, 0, 1), (15.0, 0, 0), (50.0, 0, 0)],
)
def test_charge_immediately_bits_follow_the_documents_soc_bands(soc: float, b5: int, b4: int) -> None:
    """0x0074 b5 "SOC <= 9 % set 1", b4 "9 < SOC <= 14 % set 1" (document 4.5), on the SOC 0x0033 says."""
    word = CODEC.registers(replace(worked_example(1), soc_pct=soc))[0x0074]
    assert (word >> 5 & 1, word >> 4 & 1) == (b5, b4)


#: one row per bit the document defines in 0x0037-0x003C that a BMS row drives: (register, bit, name, level, kind)
ALARM_TABLE = [
    (0x0037, 0, "CHT", "alarm", AlarmKind.CHARGE_OVERTEMPERATURE),
    (0x0037, 1, "COV", "alarm", AlarmKind.CELL_OVERVOLTAGE),
    (0x0037, 2, "CLT", "alarm", AlarmKind.CHARGE_UNDERTEMPERATURE),
    (0x0037, 3, "OCC", "alarm", AlarmKind.CHARGE_OVERCURRENT),
    (0x0038, 0, "DHT", "alarm", AlarmKind.DISCHARGE_OVERTEMPERATURE),
    (0x0038, 1, "DLT", "alarm", AlarmKind.DISCHARGE_UNDERTEMPERATURE),
    (0x0038, 2, "FETHT", "alarm", AlarmKind.MOSFET_OVERTEMPERATURE),
    (0x0038, 3, "CUV", "alarm", AlarmKind.CELL_UNDERVOLTAGE),
    (0x0039, 6, "FETHT", "protection", AlarmKind.MOSFET_OVERTEMPERATURE),
    (0x0039, 8, "CHT", "protection", AlarmKind.CHARGE_OVERTEMPERATURE),
    (0x0039, 9, "CLT", "protection", AlarmKind.CHARGE_UNDERTEMPERATURE),
    (0x0039, 10, "OCV", "protection", AlarmKind.CELL_OVERVOLTAGE),
    (0x0039, 11, "OCC", "protection", AlarmKind.CHARGE_OVERCURRENT),
    (0x003B, 10, "FETHT", "protection", AlarmKind.MOSFET_OVERTEMPERATURE),
    (0x003B, 11, "CUV", "protection", AlarmKind.CELL_UNDERVOLTAGE),
    (0x003B, 12, "OCD", "protection", AlarmKind.DISCHARGE_OVERCURRENT),
    (0x003B, 13, "DLT", "protection", AlarmKind.DISCHARGE_UNDERTEMPERATURE),
    (0x003B, 14, "DHT", "protection", AlarmKind.DISCHARGE_OVERTEMPERATURE),
    (0x003C, 1, "Short", "protection", AlarmKind.SHORT_CIRCUIT),
]


@pytest.mark.parametrize(("register", "bit", "name", "level", "kind"), ALARM_TABLE)
def test_alarm_table(register: int, bit: int, name: str, level: str, kind: AlarmKind) -> None:
    assert v.BIT_NAMES[register][bit] == name
    field = "alarms" if level == "alarm" else "protections"
    regs = CODEC.registers(replace(worked_example(1), **{field: frozenset({kind})}))  # type: ignore[arg-type]
    assert regs[register] >> bit & 1
    view = CODEC.decode_registers(regs)
    assert getattr(view, field) == {kind}
    assert f"{name}" in v.Codec.describe_registers(regs)[f"0x{register:04X} bits"]


def test_every_kind_mapped_sets_only_its_table_rows() -> None:
    rows = {(r, b) for r, b, _, _, _ in ALARM_TABLE}
    for field, table in (("alarms", v.ALARM_BITS), ("protections", v.PROTECTION_BITS)):
        for kind, bits in table.items():
            regs = CODEC.registers(replace(worked_example(1), **{field: frozenset({kind})}))  # type: ignore[arg-type]
            set_bits = {(a, b) for a in range(0x0037, 0x003D) for b in range(16) if regs[a] >> b & 1}
            assert set_bits == set(bits) and set_bits <= rows
    assert all(w == 0 for a, w in CODEC.registers(worked_example(1)).items() if 0x0037 <= a <= 0x003C)
