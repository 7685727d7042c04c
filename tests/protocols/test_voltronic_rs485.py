"""Voltronic native RS485 (P04-VOL): 2-byte length responses, IDs, error frames, register values, inverter side."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml314.domain.battery_status import BatteryView
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


def test_response_has_a_two_byte_length() -> None:
    response = CODEC.respond(_crc("01 03 00 70 00 08"), worked_example(1))
    assert response == _crc("01 03 0010 0238 01E0 05DC 07D0 00C0 02FE 0002 6548")


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
    assert common == _crc("01 03 0002 0032")
    assert own == _crc("03 03 0002 0032")
    assert codec.respond(_crc("04 03 00 33 00 01"), status) is None
    assert codec.respond(_crc("04 03 00 33 00 01")[:-1] + b"\x00", status) is None  # not ours, even garbled


def test_error_frames() -> None:
    status = worked_example(1)
    bad_crc = _crc("01 03 00 30 00 10")[:-1] + b"\x00"
    assert CODEC.respond(bad_crc, status) == _crc("01 83 03")
    assert CODEC.respond(_crc("0F 10 00 70 00 01 02 00 00"), status) == _crc("0F 90 02")
    assert CODEC.respond(_crc("01 06 00 70 02 38"), status) == _crc("01 86 02")
    name, fields = CODEC.describe(_crc("01 83 03"))
    assert (name, fields["meaning"]) == ("error", "crc_error")
    assert CODEC.describe(_crc("01 83 01"))[1]["meaning"] == "bad_id"


def test_undescribed_registers_read_zero() -> None:
    answer = CODEC.respond(_crc("01 03 00 40 00 02"), worked_example(1))
    assert answer == _crc("01 03 0004 0000 0000")


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
    with pytest.raises(FrameError, match="data bytes"):
        CODEC.decode_response(read, _crc("01 03 0002 0000"))
    with pytest.raises(FrameError, match="ID"):
        CODEC.decode_response(read, _crc("02 03 0010" + " 0000" * 8))
    with pytest.raises(FrameError):
        CODEC.decode_response(_crc("01 10 00 70 00 01"), _crc("01 03 0002 0000"))


def test_describe() -> None:
    assert CODEC.describe(CODEC.inverter_requests()[0]) == ("read request", {"id": 1, "start": "0x0030", "count": 16})
    name, fields = CODEC.describe(_crc("01 03 0004 0238 01E0"))
    assert (name, fields["data_length"], fields["words"]) == ("read response", 4, "0238 01E0")
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
            assert mb.crc16(frame[:-2]) == int.from_bytes(frame[-2:], "little")
