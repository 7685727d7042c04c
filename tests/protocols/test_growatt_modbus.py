"""Growatt RS485 Modbus (P01-GRW): register values of the worked example, clamping, exceptions, inverter side."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer.rtu import FramerRTU

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.domain.limits import ChargeLimits
from ml314.errors import FrameError
from ml314.protocols import growatt_modbus as g
from ml314.protocols import modbus_rtu as mb
from ml314.protocols.base import Transport
from ml314.protocols.examples import worked_example

CODEC = g.Codec()


def _crc(body: str) -> bytes:
    """Frame with the CRC pymodbus computes (an independent implementation)."""
    data = bytes.fromhex(body)
    return data + FramerRTU.compute_CRC(data).to_bytes(2, "big")


def test_info() -> None:
    info = g.INFO
    assert (info.transport, info.code, info.brand, info.name) == (
        Transport.RS485,
        "P01-GRW",
        "Growatt",
        "growatt-modbus",
    )
    assert info.document == "Growatt RS485 protocol 1xSxxP ESS V2.01 (Modbus RTU)"
    assert (info.baud, info.response_timeout_s) == (9600, 0.2)
    assert g.Codec(info).info is info


def test_handshake_write_is_acknowledged() -> None:
    request = _crc("01 10 00 13 00 01 02 0C 00")
    assert CODEC.inverter_requests()[0] == request
    assert CODEC.respond(request, worked_example(1)) == _crc("01 10 00 13 00 01")
    assert CODEC.decode_response(request, _crc("01 10 00 13 00 01")) == BatteryView()


def test_registers_worked_example_1() -> None:
    regs = CODEC.registers(worked_example(1))
    assert set(regs) == set(g.TABLE)
    assert all(0 <= v <= 0xFFFF for v in regs.values())
    expected = {
        0x0001: 0x0100,  # firmware 1.0
        0x0010: 0xFB32,  # -12.30 A in 10 mA, two's complement
        0x0013: 0x0063,  # discharging (b0-1 = 11), b5 discharge enabled, b6 charge enabled, single box
        0x0014: 0x0000,
        0x0015: 50,
        0x0016: 5280,  # 52.80 V
        0x0017: 0xFB32,
        0x0018: 25,
        0x0019: 15000,  # 150.00 A
        0x001A: 15700,  # 157.00 Ah
        0x001B: 31400,  # 314.00 Ah
        0x001D: 15,  # 3315 - 3300 mV
        0x001E: 42,
        0x001F: 1,
        0x0020: 100,
        0x0021: 5680,  # 56.80 V
        0x0022: 0,
        0x0023: 20000,  # 200.00 A
        0x0025: 3315,
        0x0026: 3300,
        0x0027: 16,
        0x0028: 1,
        0x0029: 16,
        0x0070: 1,
        0x0071: 3300,
        0x0080: 3315,
    }
    assert {a: regs[a] for a in expected} == expected
    assert [regs[0x0071 + i] for i in range(16)] == list(range(3300, 3316))


def test_inverter_read_golden_response_worked_example_1() -> None:
    read = CODEC.inverter_requests()[1]
    assert read == _crc("01 03 00 10 00 1A")
    words = (
        "FB32 0000 0000 0063 0000 0032 14A0 FB32 0019 3A98 3D54 7AA8 0000 "
        "000F 002A 0001 0064 1630 0000 4E20 0000 0CF3 0CE4 0010 0001 0010"
    )
    assert CODEC.respond(read, worked_example(1)) == _crc("01 03 34 " + words)


def test_registers_worked_example_16_are_clamped() -> None:
    regs = CODEC.registers(worked_example(16))
    assert regs[0x0017] == (-19680) & 0xFFFF  # -196.8 A still fits s16 10 mA
    assert regs[0x0019] == 0xFFFF  # CCL 2400 A -> 655.35 A
    assert regs[0x0023] == 0xFFFF  # DCL 3200 A -> 655.35 A
    assert regs[0x001A] == 0xFFFF  # 2512 Ah -> 655.35 Ah
    assert regs[0x001B] == 0xFFFF  # 5024 Ah -> 655.35 Ah
    assert regs[0x0013] == 0x0163  # b8-9 = 01 parallel
    view = CODEC.decode_registers(regs)
    assert view.full_capacity_ah == 655.35
    assert view.ccl_a == 655.35
    assert view.current_a == -196.8


@pytest.mark.parametrize(("current_a", "word", "decoded"), [(-5024.0, 0x8000, -327.68), (5024.0, 0x7FFF, 327.67)])
def test_current_beyond_s16_is_clamped(current_a: float, word: int, decoded: float) -> None:
    status = replace(worked_example(16), current_a=current_a)
    regs = CODEC.registers(status)
    assert regs[0x0017] == regs[0x0010] == word
    assert CODEC.decode_registers(regs).current_a == decoded


def test_huge_limits_are_clamped() -> None:
    status = replace(worked_example(16), limits=ChargeLimits(cvl_v=700.0, dvl_v=40.0, ccl_a=1e6, dcl_a=1e6))
    regs = CODEC.registers(status)
    assert (regs[0x0021], regs[0x0019], regs[0x0023]) == (0xFFFF, 0xFFFF, 0xFFFF)


def _carried(view: BatteryView, status: BankStatus) -> None:
    assert view.voltage_v == pytest.approx(status.voltage_v, abs=0.005)
    assert view.current_a == pytest.approx(status.current_a, abs=0.005)
    assert view.temperature_c == pytest.approx(status.temperature_c, abs=0.5)
    assert view.soc_pct == pytest.approx(status.soc_pct, abs=0.5)
    assert view.soh_pct == pytest.approx(status.soh_pct, abs=0.5)
    assert view.cvl_v == pytest.approx(status.limits.cvl_v, abs=0.005)
    assert view.ccl_a == pytest.approx(status.limits.ccl_a, abs=0.005)
    assert view.dcl_a == pytest.approx(status.limits.dcl_a, abs=0.005)
    assert view.remaining_capacity_ah == pytest.approx(status.remaining_capacity_ah, abs=0.005)
    assert view.full_capacity_ah == pytest.approx(status.full_capacity_ah, abs=0.005)
    assert view.cell_voltage_max_v == pytest.approx(status.cell_voltage_max_v, abs=0.0005)
    assert view.cell_voltage_min_v == pytest.approx(status.cell_voltage_min_v, abs=0.0005)
    assert (view.charge_enable, view.discharge_enable) == (status.charge_enable, status.discharge_enable)
    assert view.force_charge_1 == status.force_charge_1
    assert view.cycles == status.cycles
    assert view.protections == status.protections


def test_inverter_cycle_round_trip() -> None:
    status = worked_example(1)
    view = BatteryView()
    for request in CODEC.inverter_requests():
        response = CODEC.respond(request, status)
        assert response is not None
        view = view.merge(CODEC.decode_response(request, response))
    _carried(view, status)
    assert {f for f in CODEC.carries if getattr(view, f) is None} == set()


def test_error_bits_both_ways() -> None:
    kinds = frozenset({AlarmKind.CELL_OVERVOLTAGE, AlarmKind.SHORT_CIRCUIT, AlarmKind.CHARGE_UNDERTEMPERATURE})
    regs = CODEC.registers(replace(worked_example(1), protections=kinds))
    assert regs[0x0014] == 0b1000_0110
    assert regs[0x0013] & 0b100  # "error byte valid"
    assert CODEC.decode_registers(regs).protections == kinds
    for kind, bit in g.ERROR_BITS.items():
        word = CODEC.registers(replace(worked_example(1), protections=frozenset({kind})))[0x0014]
        assert word == 1 << bit
        decoded = CODEC.decode_registers({0x0014: word}).protections
        assert decoded is not None and len(decoded) == 1
        assert g.ERROR_BITS[next(iter(decoded))] == bit
    # a warning is not an error: the warning register's bits are not in the reference
    assert CODEC.registers(replace(worked_example(1), alarms=kinds))[0x0014] == 0


@pytest.mark.parametrize(
    ("changes", "bits"),
    [
        ({"current_a": 0.0}, 0b01 | 1 << 5 | 1 << 6),
        ({"current_a": 10.0}, 0b10 | 1 << 5 | 1 << 6),
        ({"charge_enable": False, "discharge_enable": False}, 0b11),
        ({"force_charge_2": True}, 0b11 | 1 << 5 | 1 << 6 | 1 << 12),
    ],
)
def test_status_word(changes: dict[str, object], bits: int) -> None:
    status = replace(worked_example(1), **changes)  # type: ignore[arg-type]
    word = CODEC.registers(status)[0x0013]
    assert word == bits
    view = CODEC.decode_registers({0x0013: word})
    assert view.charge_enable == status.charge_enable
    assert view.force_charge_1 == (status.force_charge_1 or status.force_charge_2)


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ("01 03 00 00 00 01", "01 83 02"),  # 0x0000 is not served
        ("01 03 00 29 00 02", "01 83 02"),  # runs past 0x0029
        ("01 03 00 81 00 01", "01 83 02"),
        ("01 03 00 10 00 00", "01 83 03"),  # count 0
        ("01 03 00 10 00 7E", "01 83 03"),  # count 126
        ("01 04 00 10 00 01", "01 84 01"),  # input registers: not this protocol
        ("01 06 00 13 0C 00", "01 86 01"),
        ("01 10 00 00 00 01 02 00 00", "01 90 02"),
        ("01 03 00 70 00 11", "01 03 22" + " 0001" + "".join(f" {v:04X}" for v in range(3300, 3316))),
    ],
)
def test_respond(body: str, answer: str) -> None:
    assert CODEC.respond(_crc(body), worked_example(1)) == _crc(answer)


def test_other_slaves_and_broadcast_get_no_answer() -> None:
    assert CODEC.respond(_crc("02 03 00 10 00 1A"), worked_example(1)) is None
    assert CODEC.respond(_crc("00 10 00 13 00 01 02 0C 00"), worked_example(1)) is None


def test_bad_request_raises() -> None:
    good = _crc("01 03 00 10 00 1A")
    with pytest.raises(FrameError, match="CRC"):
        CODEC.respond(good[:-1] + b"\x00", worked_example(1))
    with pytest.raises(FrameError):
        CODEC.respond(b"\x01", worked_example(1))


def test_decode_response_checks_the_pairing() -> None:
    read = CODEC.inverter_requests()[1]
    with pytest.raises(FrameError, match="registers"):
        CODEC.decode_response(read, mb.build_read_response(1, [0, 0]))
    with pytest.raises(FrameError, match="slave"):
        CODEC.decode_response(read, mb.build_read_response(2, [0] * 26))
    with pytest.raises(FrameError, match="exception"):
        CODEC.decode_response(read, mb.build_exception(1, 0x10, 2))
    assert CODEC.decode_response(read, mb.build_exception(1, 0x03, 2)) == BatteryView()


def test_decode_registers_rejects_non_words() -> None:
    with pytest.raises(FrameError):
        CODEC.decode_registers({0x0016: 70000})


def test_describe() -> None:
    name, fields = CODEC.describe(_crc("01 10 00 13 00 01 02 0C 00"))
    assert name == "write multiple registers"
    assert fields["0x0013 status"] == 0x0C00
    name, fields = CODEC.describe(CODEC.inverter_requests()[1])
    assert (name, fields["start"], fields["count"]) == ("read holding registers", "0x0010", 26)
    name, fields = CODEC.describe(CODEC.respond(CODEC.inverter_requests()[1], worked_example(1)) or b"")
    assert name == "read holding registers response"
    assert fields["count"] == 26
    name, fields = CODEC.describe(_crc("01 83 02"))
    assert (name, fields["meaning"]) == ("exception response", "illegal_data_address")
    described = g.Codec.describe_registers({0x0014: 0b110, 0x0016: 5280})
    assert described["error_bits"] == "SCD,OV"
    assert described["0x0016 voltage_10mv"] == 5280


def test_take_frame() -> None:
    read, answer = CODEC.inverter_requests()[1], CODEC.respond(CODEC.inverter_requests()[1], worked_example(1))
    assert answer is not None
    buf = bytearray(b"\x00" + read)
    assert CODEC.take_frame(buf, response=False) == read
    buf = bytearray(answer[:10])
    assert CODEC.take_frame(buf, response=True) is None
    buf += answer[10:]
    assert CODEC.take_frame(buf, response=True) == answer


@given(st.binary(max_size=80))
def test_fuzz_battery_side(data: bytes) -> None:
    try:
        answer = CODEC.respond(data, worked_example(1))
    except FrameError:
        return
    assert answer is None or mb.parse_response(answer).address == 1


@given(st.binary(max_size=80), st.binary(max_size=80))
def test_fuzz_inverter_side(request: bytes, response: bytes) -> None:
    for call in (
        lambda: CODEC.decode_response(request, response),
        lambda: CODEC.decode_response(CODEC.inverter_requests()[1], response),
        lambda: CODEC.describe(response),
    ):
        with contextlib.suppress(FrameError):
            call()
    buf = bytearray(response)
    CODEC.take_frame(buf, response=True)
    CODEC.take_frame(bytearray(request), response=False)


@given(st.dictionaries(st.sampled_from(sorted(g.TABLE)), st.integers(0, 0xFFFF)))
def test_fuzz_decode_registers(regs: dict[int, int]) -> None:
    assert isinstance(CODEC.decode_registers(regs), BatteryView)
