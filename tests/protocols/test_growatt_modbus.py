"""Growatt RS485 Modbus (P01-GRW): register values of the worked example, clamping, exceptions, inverter side.

Golden vectors: the capture is dnc392/rs485-bms-probe ``docs/protocol_research/growatt_bms_rs485_1xsxxp.md`` (a
real BMS in "Growatt_BMS_RS485_Protocol_1x" mode, status block 0x0013-0x0018); the Modbus frames follow the Modbus
application protocol V1.1b3 (exceptions 6/7, 0x11 6.13, 0x2B/0x0E 6.21) with CRCs from pymodbus' own routine
(``_crc``, an independent implementation); register values are derived from the worked example
(``protocols/examples.py``) in the comments. The V2.02 reads are helianthus-modbusreg's four slices.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer.rtu import FramerRTU

from ml314 import __version__
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
    # 0x0010..0x0029 in order, each derived in test_registers_worked_example_1: gauge current FB32, date 0000 0000,
    # status 0063, error 0000, SOC 0032, 52.80 V 14A0, current FB32, 25 degC 0019, CCL 3A98, remaining 3D54,
    # full 7AA8, version 0000, delta 000F, cycles 002A, box 0001, SOH 0064, CV 1630, warning 0000, DCL 4E20,
    # ext error 0000, max/min cell 0CF3/0CE4, their numbers 0010/0001, 16 cells 0010; byte count 0x34 = 52
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
    assert regs[0x001B] == 0xFFFF  # 5024 Ah -> 655.35 Ah
    assert regs[0x001A] == 32768  # 2512 / 5024 of 655.35 Ah = 327.675 Ah: the ratio, not a clamp, so SOC holds
    assert regs[0x0013] == 0x0163  # b8-9 = 01 parallel
    view = CODEC.decode_registers(regs)
    assert view.full_capacity_ah == 655.35
    assert view.remaining_capacity_ah is not None
    assert 100 * view.remaining_capacity_ah / view.full_capacity_ah == pytest.approx(regs[0x0015], abs=0.01)
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
    assert view.alarms == status.alarms


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
    # a warning is not an error: it goes to 0x0022 with the same bits (rev 2.3), b14-15 = 00 LiFePO4
    warned = CODEC.registers(replace(worked_example(1), alarms=kinds))
    assert (warned[0x0014], warned[0x0022]) == (0, 0b1000_0110)
    assert CODEC.decode_registers(warned).alarms == kinds


#: one row per bit of 0x0014 (protection rows) and 0x0022 (warning/alarm rows): (bit, rev 2.3 name, kind)
ERROR_TABLE = [
    (0, "OCD", AlarmKind.DISCHARGE_OVERCURRENT),
    (1, "SCD", AlarmKind.SHORT_CIRCUIT),
    (2, "OV", AlarmKind.CELL_OVERVOLTAGE),
    (3, "UV", AlarmKind.CELL_UNDERVOLTAGE),
    (4, "OTD", AlarmKind.DISCHARGE_OVERTEMPERATURE),
    (5, "OTC", AlarmKind.CHARGE_OVERTEMPERATURE),
    (6, "UTD", AlarmKind.DISCHARGE_UNDERTEMPERATURE),
    (7, "UTC", AlarmKind.CHARGE_UNDERTEMPERATURE),
    (9, "permanent_fault", AlarmKind.SYSTEM_ERROR),
    (10, "delta_v", AlarmKind.CELL_IMBALANCE),
    (11, "OCC", AlarmKind.CHARGE_OVERCURRENT),
    (12, "MOS_OT", AlarmKind.MOSFET_OVERTEMPERATURE),
    (13, "env_OT", AlarmKind.BOARD_OVERTEMPERATURE),
]


@pytest.mark.parametrize("register", [0x0014, 0x0022])
@pytest.mark.parametrize(("bit", "name", "kind"), ERROR_TABLE)
def test_alarm_table(register: int, bit: int, name: str, kind: AlarmKind) -> None:
    field = "protections" if register == 0x0014 else "alarms"
    regs = CODEC.registers(replace(worked_example(1), **{field: frozenset({kind})}))  # type: ignore[arg-type]
    assert regs[register] == 1 << bit
    assert getattr(CODEC.decode_registers(regs), field) == {kind}
    key = "error_bits" if register == 0x0014 else "warning_bits"
    assert g.Codec.describe_registers({register: regs[register]})[key] == name


def test_capture_status_block() -> None:
    """The captured answer to ``01 03 00 13 00 06``: status 0469, error 0, SOC 66 %, 26.31 V, 0 A, 20 degC.

    0x0013 0x0469 = b0-1 01 standby, b3 balancing, b5 discharge and b6 charge enabled, b10 "SP status" (an inverter
    state ml314 does not set). Everything else is the capture byte for byte."""
    request = bytes.fromhex("01 03 00 13 00 06 34 0D")
    capture = bytes.fromhex("01 03 0C 04 69 00 00 00 42 0A 47 00 00 00 14 64 8C")
    m = replace(worked_example(1).modules[0], balancing=True)
    status = replace(worked_example(1), modules=(m,), soc_pct=66.0, voltage_v=26.31, current_a=0.0, temperature_c=20.0)
    answer = CODEC.respond(request, status)
    assert answer is not None and CODEC.take_frame(bytearray(request), response=False) == request
    sp_status = 0x0400
    body = bytearray(capture[:-2])
    body[3:5] = (int.from_bytes(body[3:5], "big") & ~sp_status).to_bytes(2, "big")
    assert answer == _crc(body.hex())
    view = CODEC.decode_response(request, capture)
    assert (view.soc_pct, view.voltage_v, view.current_a, view.temperature_c) == (66.0, 26.31, 0.0, 20.0)
    assert (view.charge_enable, view.discharge_enable, view.protections) == (True, True, frozenset())


def test_v202_extension_block_is_served() -> None:
    """helianthus-modbusreg reads 0x0001 x 7, 0x000D x 29, 0x0100 x 12, 0x010D x 2 and rejects the status without
    any of them. Worked example: average cell 3307.5 mV -> 3307 (0x0CEB; 3.3075 V is just below .5 in binary),
    CV 56.8 V in 0.1 V -> 568 (0x0238)."""
    for start, count in g.V202_READS:
        answer = CODEC.respond(mb.build_read_request(1, start, count), worked_example(1))
        assert answer is not None and answer[1] == 0x03 and answer[2] == 2 * count
    answer = CODEC.respond(_crc("01 03 01 00 00 0C"), worked_example(1))
    assert answer == _crc("01 03 18 0000 0000 0CEB 0000 0238 0000 0000" + " 0000" * 5)
    charged = replace(worked_example(1), charged_energy_kwh=51.2, discharged_energy_kwh=1e6)
    regs = CODEC.registers(charged)
    assert (regs[0x0105], regs[0x0106]) == (10000, 0xFFFF)  # 1000.0 Ah in 0.1 Ah; the u16 clamps


def test_device_identification_names_the_product() -> None:
    """0x11: byte count, server ID text, run indicator FF. 0x2B/0x0E code 01 (basic stream): MEI 0E, code 01,
    conformity 82, more 00, next 00, 3 objects: 00 VendorName, 01 ProductCode, 02 MajorMinorRevision."""
    server_id = f"ML314-51.2-W08 ML314 {__version__}".encode()
    answer = CODEC.respond(_crc("01 11"), worked_example(1))
    assert answer == mb.with_crc(bytes([1, 0x11, len(server_id) + 1]) + server_id + b"\xff")
    objects = [b"ML314", b"ML314-51.2-W08", __version__.encode()]
    body = b"".join(bytes([i, len(o)]) + o for i, o in enumerate(objects))
    basic = CODEC.respond(_crc("01 2B 0E 01 00"), worked_example(1))
    assert basic == mb.with_crc(bytes.fromhex("01 2B 0E 01 82 00 00 03") + body)
    assert b"Pymodbus" not in (basic or b"")
    one = CODEC.respond(_crc("01 2B 0E 04 01"), worked_example(1))
    assert one == mb.with_crc(bytes.fromhex("01 2B 0E 04 82 00 00 01 01 0E") + b"ML314-51.2-W08")
    assert CODEC.respond(_crc("01 2B 0E 04 07"), worked_example(1)) == _crc("01 AB 02")
    assert CODEC.respond(_crc("01 2B 0D 01 00"), worked_example(1)) == _crc("01 AB 03")


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
        ("01 55", "01 D5 01"),  # an unknown function, whatever its length
        ("01 55 00 10 00 01", "01 D5 01"),
        ("01 03 01 00 00 0F", "01 03 1E 0000 0000 0CEB 0000 0238" + " 0000" * 10),  # V2.02 block and its tail
        ("01 03 01 0F 00 01", "01 83 02"),
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


def test_an_answer_arriving_byte_by_byte_is_not_cut_short() -> None:
    """16 modules: the read answer holds ``FF FF 00 00 00``, whose CRC happens to match as an exception frame;
    taken byte by byte (as a paced serial line delivers it) the whole answer must come out, nothing earlier."""
    read = CODEC.inverter_requests()[1]
    answer = CODEC.respond(read, worked_example(16))
    assert answer is not None and bytes.fromhex("FFFF000000") in answer
    buf = bytearray()
    frames = []
    for b in answer:
        buf.append(b)
        if (frame := CODEC.take_frame(buf, response=True)) is not None:
            frames.append(frame)
    assert frames == [answer]
    assert CODEC.take_frame(bytearray(_crc("01 D5 01")), response=True) == _crc("01 D5 01")  # at the start: taken
