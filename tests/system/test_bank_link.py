"""The inter-module bank link (system/bank_link.py) against docs/bank_link.md, byte for byte."""

from __future__ import annotations

import contextlib
import math
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.bms.states import BmsState
from ml314.domain.battery_status import AlarmKind, BankCommand, ModuleIdentity, ModuleStatus
from ml314.domain.limits import ChargeLimits
from ml314.errors import FrameError
from ml314.protocols import pylon_ascii as pa
from ml314.protocols.examples import worked_example
from ml314.protocols.fields import raw
from ml314.protocols.pylon_ascii import PylonFrame, Rtn
from ml314.system import bank_link as bl
from ml314.system.bank_link import Cid2, RtnError

DOC = Path(__file__).resolve().parents[2] / "docs" / "bank_link.md"
M1 = worked_example(1).modules[0]
ID1 = ModuleIdentity(module_id=1, serial=M1.serial)

# the frames docs/bank_link.md shows (worked example, module 1)
REPORT_REQUEST = b"~20014B520000FDA0\r"
REPORT_RESPONSE = (
    b"~20014B0000A6"
    b"0CE40CE50CE60CE70CE80CE90CEA0CEB0CEC0CED0CEE0CEF0CF00CF10CF20CF3"
    b"00FA00F000F100F200F30104"
    b"FB3214A0138803E8003D54007AA8007AA8002A163012C005DC07D0030200000000000000000000"
    b"D948\r"
)
IDENTIFY_REQUEST = b"~20014B490000FD9A\r"
IDENTIFY_RESPONSE = (
    b"~20014B007072"
    b"4D4C33313457303830303030303030314D4C3331342D35312E322D57303800004D4C3331340000000000000000000000"
    b"007AA8010007EA0100"
    b"E676\r"
)
COMMAND_REQUEST = b"~20014B43E00203FD26\r"
COMMAND_ACK = b"~20014B000000FDA7\r"
BROADCAST_STOP_CHARGE = b"~20004B43E00202FD28\r"
CHKSUM_ERROR_ANSWER = b"~20014B020000FDA5\r"
GOLDEN = [
    REPORT_REQUEST,
    REPORT_RESPONSE,
    IDENTIFY_REQUEST,
    IDENTIFY_RESPONSE,
    COMMAND_REQUEST,
    COMMAND_ACK,
    BROADCAST_STOP_CHARGE,
    CHKSUM_ERROR_ANSWER,
]


def _answer(request: bytes, module_id: int = 1, status: ModuleStatus = M1, identity: ModuleIdentity = ID1) -> bytes:
    response = bl.respond(request, module_id, identity, status, lambda c: None)
    assert response is not None
    return response


def _frame(adr: int, cid2: int, info: bytes = b"", *, ver: int = bl.VER, cid1: int = bl.CID1) -> bytes:
    return pa.build(PylonFrame(ver, adr, cid1, cid2, info))


def _lower(frame: bytes) -> bytes:
    """The same frame in lower-case hex, CHKSUM recomputed over the lower-case characters."""
    body = frame[1:-5].lower()
    return b"~" + body + f"{pa.chksum(body):04x}".encode() + b"\r"


def _rtn(response: bytes | None) -> int:
    assert response is not None
    return pa.parse(response).rtn


# ---- constants and tables -----------------------------------------------------------------------------------------


def test_cid1_is_not_pylons_and_commands_are_not_rtn_codes() -> None:
    assert bl.CID1 == 0x4B  # Pylon's lithium battery data is 0x46
    assert pa.parse(REPORT_REQUEST).cid1 != 0x46
    assert not {int(c) for c in Cid2} & {int(r) for r in Rtn}


def test_alarm_table_has_one_fixed_bit_per_kind() -> None:
    assert set(bl.ALARM_BIT) == set(AlarmKind)
    bits = list(bl.ALARM_BIT.values())
    assert len(set(bits)) == len(bits) and all(0 <= b < 32 for b in bits)
    assert bl.ALARM_BIT[AlarmKind.CELL_OVERVOLTAGE] == 0 and bl.ALARM_BIT[AlarmKind.SYSTEM_ERROR] == 17


def test_state_table_covers_every_bms_state() -> None:
    assert {s.name.lower() for s in BmsState} <= set(bl.STATE_CODE)
    assert len(set(bl.STATE_CODE.values())) == len(bl.STATE_CODE)


def test_frame_sizes() -> None:
    assert (bl.REPORT_BYTES, bl.IDENTITY_BYTES) == (83, 57)
    assert bl.REQUEST_WIRE_BYTES == {Cid2.COMMAND: 20, Cid2.IDENTIFY: 18, Cid2.REPORT: 18}
    assert bl.RESPONSE_WIRE_BYTES == {Cid2.COMMAND: 18, Cid2.IDENTIFY: 132, Cid2.REPORT: 184}
    assert (len(REPORT_REQUEST), len(REPORT_RESPONSE)) == (18, 184)
    assert (len(IDENTIFY_REQUEST), len(IDENTIFY_RESPONSE)) == (18, 132)
    assert (len(COMMAND_REQUEST), len(COMMAND_ACK)) == (20, 18)


# ---- golden frames ------------------------------------------------------------------------------------------------


def test_golden_frames_of_the_worked_example() -> None:
    assert bl.request(Cid2.REPORT, 1) == REPORT_REQUEST
    assert _answer(REPORT_REQUEST) == REPORT_RESPONSE
    assert bl.request(Cid2.IDENTIFY, 1) == IDENTIFY_REQUEST
    assert _answer(IDENTIFY_REQUEST) == IDENTIFY_RESPONSE
    assert bl.request(Cid2.COMMAND, 1, BankCommand()) == COMMAND_REQUEST
    assert _answer(COMMAND_REQUEST) == COMMAND_ACK
    assert bl.broadcast(BankCommand(charge_allowed=False)) == BROADCAST_STOP_CHARGE
    assert _answer(REPORT_REQUEST[:-2] + b"1\r") == CHKSUM_ERROR_ANSWER


def test_documentation_shows_the_golden_frames() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for frame in GOLDEN:
        assert frame[:-1].decode() in doc.replace("\n", "").replace(" ", ""), frame


def test_report_fields_at_their_documented_offsets() -> None:
    info = pa.parse(REPORT_RESPONSE).info

    def u(offset: int, n: int, signed: bool = False) -> int:
        return int.from_bytes(info[offset : offset + n], "big", signed=signed)

    assert [u(2 * i, 2) for i in range(16)] == list(range(3300, 3316))
    assert [u(32 + 2 * i, 2, True) for i in range(6)] == [250, 240, 241, 242, 243, 260]
    assert u(44, 2, True) == -1230  # -12.3 A in 10 mA
    assert (u(46, 2), u(48, 2), u(50, 2)) == (5280, 5000, 1000)
    assert (u(52, 3), u(55, 3), u(58, 3)) == (15700, 31400, 31400)
    assert u(61, 2) == 42
    assert (u(63, 2), u(65, 2), u(67, 2), u(69, 2)) == (5680, 4800, 1500, 2000)
    assert (info[71], info[72]) == (0b11, 2)  # both MOSFETs on; standby
    assert (u(73, 4), u(77, 4), u(81, 2)) == (0, 0, 0)
    assert len(info) == 83


def test_identity_fields_at_their_documented_offsets() -> None:
    info = pa.parse(IDENTIFY_RESPONSE).info
    assert info[0:16] == b"ML314W0800000001"
    assert info[16:32] == b"ML314-51.2-W08\0\0"
    assert info[32:48] == b"ML314" + b"\0" * 11
    assert int.from_bytes(info[48:51], "big") == 31400
    assert tuple(info[51:53]) == (1, 0)
    assert int.from_bytes(info[53:55], "big") == 2026 and info[55] == 1
    assert info[56] == 0 and len(info) == 57


# ---- round trips --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3, 16])
def test_report_round_trip_of_worked_example_modules(n: int) -> None:
    for m in worked_example(n).modules:
        response = _answer(bl.request(Cid2.REPORT, m.address), m.address, m)
        assert bl.decode_report(response, serial=m.serial) == m


def test_report_round_trip_of_flags_state_alarms_and_resistance() -> None:
    m = replace(
        M1,
        address=42,
        charge_mosfet_on=False,
        balancing=True,
        force_charge=True,
        full_charge_request=True,
        state="protection",
        alarms=frozenset({AlarmKind.CELL_IMBALANCE, AlarmKind.CHARGE_OVERTEMPERATURE}),
        protections=frozenset(AlarmKind),
        resistance_mohm=1.37,
        current_a=150.25,
        soc_pct=12.34,
        soh_pct=87.6,
        cycles=6000,
    )
    got = bl.decode_report(_answer(bl.request(Cid2.REPORT, 42), 42, m), serial=m.serial)
    assert got == m


@pytest.mark.parametrize("state", [s.name.lower() for s in BmsState])
def test_every_bms_state_round_trips(state: str) -> None:
    m = replace(M1, state=state)
    assert bl.decode_report(_answer(REPORT_REQUEST, 1, m)).state == state


def test_unknown_state_name_is_sent_as_unknown() -> None:
    m = replace(M1, state="booting")
    assert bl.decode_report(_answer(REPORT_REQUEST, 1, m)).state == "unknown"


@pytest.mark.parametrize("kind", list(AlarmKind))
def test_every_alarm_kind_round_trips_as_alarm_and_protection(kind: AlarmKind) -> None:
    m = replace(M1, alarms=frozenset({kind}), protections=frozenset({kind}))
    got = bl.decode_report(_answer(REPORT_REQUEST, 1, m))
    assert got.alarms == got.protections == frozenset({kind})


def test_identity_round_trip() -> None:
    ident = ModuleIdentity(
        module_id=63,
        serial="SN-0123456789ABC",
        model="ML314-51.2-W08",
        manufacturer="Acme Energy Ltd",
        design_capacity_ah=280.0,
        firmware_version=(2, 17),
        manufactured=(2031, 12),
        termination_on=True,
    )
    assert bl.decode_identity(_answer(bl.request(Cid2.IDENTIFY, 63), 63, identity=ident)) == ident


@pytest.mark.parametrize("byte", range(8))
def test_command_round_trip_and_ack(byte: int) -> None:
    command = BankCommand(charge_allowed=bool(byte & 1), discharge_allowed=bool(byte & 2), isolate=bool(byte & 4))
    got: list[BankCommand] = []
    frame = bl.request(Cid2.COMMAND, 7, command)
    assert pa.parse(frame).info == bytes([byte])
    response = bl.respond(frame, 7, ID1, M1, got.append)
    assert got == [command]
    assert response is not None and bl.decode_ack(response) == 7
    assert pa.parse(response).info == b""


def test_broadcast_is_obeyed_by_every_module_and_answered_by_none() -> None:
    frame = bl.broadcast(BankCommand(charge_allowed=False, isolate=True))
    got: list[BankCommand] = []
    for module_id in (0, 1, 5, 63, 64):  # an unaddressable module obeys too
        assert bl.respond(frame, module_id, ID1, M1, got.append) is None
    assert got == [BankCommand(charge_allowed=False, discharge_allowed=True, isolate=True)] * 5


@pytest.mark.parametrize(
    "frame",
    [
        _frame(0, Cid2.COMMAND, b"\x08"),  # reserved bit
        _frame(0, Cid2.COMMAND, b""),
        _frame(0, Cid2.COMMAND, b"\x03", ver=0x21),
        _frame(0, Cid2.REPORT),
        BROADCAST_STOP_CHARGE[:-2] + b"9\r",  # bad CHKSUM
    ],
)
def test_bad_broadcasts_are_ignored(frame: bytes) -> None:
    got: list[BankCommand] = []
    assert bl.respond(frame, 1, ID1, M1, got.append) is None
    assert got == []


# ---- clamping and markers -----------------------------------------------------------------------------------------


def test_overflowing_values_are_clamped_not_wrapped() -> None:
    m = replace(
        M1,
        voltage_v=1000.0,
        current_a=-5024.0,
        soc_pct=-3.0,
        soh_pct=1e9,
        cell_voltages_v=(70.0, -1.0, math.inf, *M1.cell_voltages_v[3:]),
        temperatures_c=(5000.0, -5000.0, -math.inf, math.nan, 24.3, 26.0),
        remaining_capacity_ah=1e9,
        full_capacity_ah=-1.0,
        design_capacity_ah=5024.0,
        cycles=10**6,
        limits=ChargeLimits(cvl_v=1000.0, dvl_v=900.0, ccl_a=1e6, dcl_a=math.inf),
        resistance_mohm=1e4,
    )
    got = bl.decode_report(_answer(REPORT_REQUEST, 1, m))
    assert (got.voltage_v, got.current_a, got.soc_pct, got.soh_pct) == (655.35, -327.68, 0.0, 6553.5)
    assert got.cell_voltages_v[:3] == (65.535, 0.0, 65.535)
    assert got.temperatures_c[:3] == (3276.7, -3276.7, -3276.7) and math.isnan(got.temperatures_c[3])
    assert (got.remaining_capacity_ah, got.full_capacity_ah, got.design_capacity_ah) == (167772.15, 0.0, 5024.0)
    assert got.cycles == 65535 and got.resistance_mohm == 655.35
    assert got.limits == ChargeLimits(cvl_v=655.35, dvl_v=655.34, ccl_a=6553.5, dcl_a=6553.5)


def test_worked_example_16_bank_current_on_one_module_is_clamped() -> None:
    bank = worked_example(16)
    m = replace(bank.modules[0], current_a=bank.current_a * 10, limits=bank.limits)
    got = bl.decode_report(_answer(REPORT_REQUEST, 1, m))
    assert got.current_a == -327.68
    assert got.limits == ChargeLimits(cvl_v=56.8, dvl_v=48.0, ccl_a=2400.0, dcl_a=3200.0)


def test_nan_is_zero_except_temperatures() -> None:
    m = replace(M1, current_a=math.nan, voltage_v=math.nan, cell_voltages_v=(math.nan,) * 16)
    m = replace(m, temperatures_c=(math.nan,) * 6)
    info = pa.parse(_answer(REPORT_REQUEST, 1, m)).info
    assert info[32:34] == b"\x80\x00"
    got = bl.decode_report(_answer(REPORT_REQUEST, 1, m))
    assert (got.current_a, got.voltage_v, got.cell_voltages_v) == (0.0, 0.0, (0.0,) * 16)
    assert all(math.isnan(t) for t in got.temperatures_c)


def test_values_whose_quotient_overflows_are_clamped() -> None:
    m = replace(M1, resistance_mohm=1.7e308, current_a=-1.7e308, remaining_capacity_ah=1.7e308)
    got = bl.decode_report(_answer(REPORT_REQUEST, 1, m))
    assert (got.resistance_mohm, got.current_a, got.remaining_capacity_ah) == (655.35, -327.68, 167772.15)


def test_dvl_is_sent_below_cvl_when_rounding_would_meet_it() -> None:
    m = replace(M1, limits=ChargeLimits(cvl_v=56.801, dvl_v=56.799, ccl_a=1.0, dcl_a=1.0))
    assert bl.decode_report(_answer(REPORT_REQUEST, 1, m)).limits.dvl_v == 56.79
    m = replace(M1, limits=ChargeLimits(cvl_v=0.0, dvl_v=-1.0, ccl_a=0.0, dcl_a=0.0))
    assert bl.decode_report(_answer(REPORT_REQUEST, 1, m)).limits == ChargeLimits(0.01, 0.0, 0.0, 0.0)


def test_short_and_long_tuples_are_padded_and_cut() -> None:
    m = replace(M1, cell_voltages_v=(3.3, 3.4), temperatures_c=(25.0, 24.0, 24.1, 24.2, 24.3, 26.0, 99.0))
    got = bl.decode_report(_answer(REPORT_REQUEST, 1, m))
    assert got.cell_voltages_v == (3.3, 3.4, *(0.0,) * 14)
    assert got.temperatures_c == M1.temperatures_c


def test_identity_text_and_numbers_are_cut_and_clamped() -> None:
    ident = ModuleIdentity(
        module_id=1,
        serial="X" * 40,
        model="Modèle",
        firmware_version=(300, -1),
        manufactured=(70000, 13),
        design_capacity_ah=1e9,
    )
    got = bl.decode_identity(_answer(IDENTIFY_REQUEST, identity=ident))
    assert got.serial == "X" * 16 and got.model == "Mod?le"
    assert got.firmware_version == (255, 0) and got.manufactured == (65535, 13)
    assert got.design_capacity_ah == 167772.15


# raw() itself overflows when value / scale is infinite (|value| > ~1.8e306); the codec guards that (below)
_floats = st.floats(-1e300, 1e300) | st.sampled_from([math.nan, math.inf, -math.inf]) | st.floats(-1e6, 1e6)


@settings(max_examples=200)
@given(
    st.lists(_floats, min_size=16, max_size=16),
    st.lists(_floats, min_size=6, max_size=6),
    st.lists(_floats, min_size=9, max_size=9),
    st.integers(-(10**9), 10**9),
)
def test_fast_encoding_equals_raw_everywhere(
    cells: list[float], temps: list[float], xs: list[float], cycles: int
) -> None:
    """The fast path of the REPORT encoder gives exactly what fields.raw() gives, for any value."""
    cvl = xs[6] if math.isfinite(xs[6]) and abs(xs[6]) < 1e6 else 56.8
    limits = ChargeLimits(cvl_v=cvl, dvl_v=cvl - 1.0, ccl_a=abs(xs[7]) if xs[7] == xs[7] else 0.0, dcl_a=1.0)
    m = replace(
        M1,
        cell_voltages_v=tuple(cells),
        temperatures_c=tuple(temps),
        current_a=xs[0],
        voltage_v=xs[1],
        soc_pct=xs[2],
        soh_pct=xs[3],
        remaining_capacity_ah=xs[4],
        full_capacity_ah=xs[5],
        resistance_mohm=xs[8],
        cycles=cycles,
        limits=limits,
    )
    info = pa.parse(_answer(REPORT_REQUEST, 1, m)).info
    v = struct.unpack(">16H6hhHHH", info[:52])
    assert list(v[:16]) == [raw(c, 0.001) for c in cells]
    assert list(v[16:22]) == [-0x8000 if math.isnan(t) else max(-0x7FFF, raw(t, 0.1, signed=True)) for t in temps]
    assert v[22:26] == (
        raw(xs[0], 0.01, signed=True),
        raw(xs[1], 0.01),
        raw(xs[2], 0.01),
        raw(xs[3], 0.1),
    )
    assert int.from_bytes(info[52:55], "big") == raw(xs[4], 0.01, 24)
    assert int.from_bytes(info[61:63], "big") == raw(cycles, 1)
    assert int.from_bytes(info[81:83], "big") == raw(xs[8], 0.01)


# ---- errors answered with RTN, frames not ours ----------------------------------------------------------------------


def test_bad_checksum_lchksum_and_lenid_get_rtn() -> None:
    assert _rtn(bl.respond(REPORT_REQUEST[:-2] + b"1\r", 1, ID1, M1, print)) == Rtn.CHKSUM_ERROR
    body = b"20014B52100000"  # LCHKSUM 1 over LENID 0, INFO empty
    bad_l = b"~" + body[:8] + b"1000" + f"{pa.chksum(body[:8] + b'1000'):04X}".encode() + b"\r"
    assert _rtn(bl.respond(bad_l, 1, ID1, M1, print)) == Rtn.LCHKSUM_ERROR
    head = b"20014B52E002"  # LENID 2 with no INFO
    bad_len = b"~" + head + f"{pa.chksum(head):04X}".encode() + b"\r"
    assert _rtn(bl.respond(bad_len, 1, ID1, M1, print)) == Rtn.FORMAT_ERROR


@pytest.mark.parametrize(
    ("frame", "rtn"),
    [
        (_frame(1, Cid2.REPORT, ver=0x28), Rtn.VER_ERROR),
        (_frame(1, 0x42), Rtn.CID2_INVALID),
        (_frame(1, Cid2.REPORT, b"\x01"), Rtn.FORMAT_ERROR),
        (_frame(1, Cid2.IDENTIFY, b"\x01"), Rtn.FORMAT_ERROR),
        (_frame(1, Cid2.COMMAND), Rtn.FORMAT_ERROR),
        (_frame(1, Cid2.COMMAND, b"\x03\x00"), Rtn.FORMAT_ERROR),
        (_frame(1, Cid2.COMMAND, b"\x13"), Rtn.INVALID_DATA),
    ],
)
def test_error_answers(frame: bytes, rtn: Rtn) -> None:
    got: list[BankCommand] = []
    response = bl.respond(frame, 1, ID1, M1, got.append)
    assert _rtn(response) == rtn and got == []
    assert response is not None and pa.parse(response).info == b"" and pa.parse(response).adr == 1
    with pytest.raises(RtnError) as err:
        bl.decode_report(response)
    assert (err.value.adr, err.value.rtn) == (1, rtn)


@pytest.mark.parametrize(
    "frame",
    [
        bl.request(Cid2.REPORT, 2),  # another module
        bl.request(Cid2.REPORT, 2)[:-2] + b"0\r",  # bad CHKSUM, not ours
        _frame(1, 0x42, b"\x01", cid1=0x46),  # Pylon at our address
        _frame(1, 0x42, b"\x01", cid1=0x46)[:-2] + b"0\r",
        REPORT_RESPONSE,  # an answer (someone else with our ID): never answered
        CHKSUM_ERROR_ANSWER,
        CHKSUM_ERROR_ANSWER[:-2] + b"0\r",
    ],
)
def test_frames_not_for_us_get_no_answer(frame: bytes) -> None:
    assert bl.respond(frame, 1, ID1, M1, print) is None


def test_module_with_an_invalid_id_answers_nothing() -> None:
    for module_id in (0, 64, 255):
        frame = _frame(module_id, Cid2.REPORT)
        assert bl.respond(frame, module_id, ID1, M1, print) is None


def test_garbage_raises_frame_error() -> None:
    for frame in (b"", b"hello", b"~2001ZZ\r", b"~20014B52000\r"):
        with pytest.raises(FrameError):
            bl.respond(frame, 1, ID1, M1, print)


def test_lower_case_hex_is_tolerated_both_ways() -> None:
    for frame in (REPORT_REQUEST, IDENTIFY_REQUEST, COMMAND_REQUEST):
        assert _answer(_lower(frame)) == _answer(frame)
    assert bl.decode_report(_lower(REPORT_RESPONSE), serial=M1.serial) == M1
    assert bl.decode_identity(_lower(IDENTIFY_RESPONSE)) == ID1
    assert bl.decode_ack(_lower(COMMAND_ACK)) == 1
    assert _rtn(bl.respond(_lower(REPORT_REQUEST)[:-3] + b"ff\r", 1, ID1, M1, print)) == Rtn.CHKSUM_ERROR


def test_request_rejects_invalid_addresses_and_arguments() -> None:
    for module_id in (0, 64, -1, 255):
        with pytest.raises(ValueError, match="not an address"):
            bl.request(Cid2.REPORT, module_id)
    with pytest.raises(ValueError, match="needs"):
        bl.request(Cid2.COMMAND, 1)
    with pytest.raises(ValueError, match="takes no"):
        bl.request(Cid2.REPORT, 1, BankCommand())


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (REPORT_REQUEST, "request, not an answer"),
        (IDENTIFY_RESPONSE, "83 expected"),
        (_frame(1, 0x00, b"\x00" * 83, cid1=0x46), "CID1 0x46"),
        (_frame(1, 0x00, bytes(83), ver=0x21), "VER 0x21"),
        (_frame(0, 0x00, bytes(83)), "ADR 0"),
        (_frame(1, 0x00, bytes(83)), "DVL"),  # all zero: CVL 0, DVL 0
        (_frame(1, 0x00, pa.parse(REPORT_RESPONSE).info[:72] + b"\x07" + bytes(10)), "state code 0x07"),
    ],
)
def test_decode_report_rejects(frame: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        bl.decode_report(frame)


def test_undefined_alarm_bits_read_as_system_error() -> None:
    info = bytearray(pa.parse(REPORT_RESPONSE).info)
    info[73:77] = (1 << 31 | 1).to_bytes(4, "big")
    got = bl.decode_report(_frame(1, 0x00, bytes(info)))
    assert got.alarms == frozenset({AlarmKind.CELL_OVERVOLTAGE, AlarmKind.SYSTEM_ERROR})


def test_decode_identity_and_ack_reject() -> None:
    with pytest.raises(FrameError, match="57 expected"):
        bl.decode_identity(REPORT_RESPONSE)
    with pytest.raises(FrameError, match="0 expected"):
        bl.decode_ack(IDENTIFY_RESPONSE)
    with pytest.raises(RtnError, match=r"RTN 02 \(CHKSUM error\)"):
        bl.decode_ack(CHKSUM_ERROR_ANSWER)
    with pytest.raises(RtnError, match="unknown"):
        bl.decode_ack(_frame(1, 0x7F))


# ---- take_frame and describe --------------------------------------------------------------------------------------


def test_take_frame_splits_the_stream() -> None:
    buf = bytearray(b"\x00noise" + REPORT_RESPONSE[:50])
    assert bl.take_frame(buf, response=True) is None
    buf += REPORT_RESPONSE[50:] + COMMAND_ACK
    assert bl.take_frame(buf, response=True) == REPORT_RESPONSE
    assert bl.take_frame(buf, response=True) == COMMAND_ACK
    assert bl.take_frame(buf, response=True) is None and not buf


def test_describe_every_kind_of_frame() -> None:
    name, fields = bl.describe(REPORT_RESPONSE)
    assert name == "report response" and fields["current_a"] == -12.3 and fields["state"] == "standby"
    assert fields["cell16_voltage_v"] == 3.315 and fields["charge_mosfet_on"] is True
    name, fields = bl.describe(IDENTIFY_RESPONSE)
    assert name == "identify response" and fields["serial"] == M1.serial and fields["manufactured"] == "2026-01"
    assert bl.describe(COMMAND_ACK) == ("command response", {"ver": 0x20, "adr": 1, "rtn": 0, "rtn_text": "normal"})
    assert bl.describe(REPORT_REQUEST) == ("report request", {"ver": 0x20, "adr": 1})
    name, fields = bl.describe(BROADCAST_STOP_CHARGE)
    assert name == "command broadcast" and fields["charge_allowed"] is False and fields["discharge_allowed"] is True
    assert bl.describe(CHKSUM_ERROR_ANSWER)[0] == "error response"
    assert bl.describe(_frame(1, 0x77))[0] == "CID2 0x77"
    name, fields = bl.describe(_frame(1, 0x00, bytes(83)))
    assert name == "report response" and "DVL" in str(fields["error"])
    with pytest.raises(FrameError, match="CID1"):
        bl.describe(_frame(2, 0x42, b"\x02", cid1=0x46))


# ---- timing -------------------------------------------------------------------------------------------------------


def test_wire_time_and_transaction_bytes() -> None:
    assert bl.wire_time_s(184, 9600) == pytest.approx(184 * 10 / 9600)
    assert bl.wire_time_s(96, 115_200) == pytest.approx(1 / 120)
    for cmd in Cid2:
        q = bl.request(cmd, 1, BankCommand() if cmd == Cid2.COMMAND else None)
        assert bl.transaction_wire_bytes(cmd) == len(q) + len(_answer(q))
        assert bl.response_timeout_s(cmd, 9600) > bl.wire_time_s(bl.RESPONSE_WIRE_BYTES[cmd], 9600)
    assert bl.transaction_wire_bytes(Cid2.REPORT) == 202
    assert bl.transaction_wire_bytes(Cid2.COMMAND, broadcast=True) == len(BROADCAST_STOP_CHARGE)
    with pytest.raises(ValueError, match="only COMMAND"):
        bl.transaction_wire_bytes(Cid2.REPORT, broadcast=True)
    assert bl.interframe_gap_s(9600) == pytest.approx(3.5 * 10 / 9600)
    assert bl.first_byte_timeout_s(115_200) == pytest.approx(30 / 115_200 + bl.PROCESSING_ALLOWANCE_S)


# ---- fuzz ---------------------------------------------------------------------------------------------------------

_frames = st.builds(
    lambda ver, adr, cid1, cid2, info: _frame(adr, cid2, info, ver=ver, cid1=cid1),
    st.sampled_from([bl.VER, 0x21]),
    st.sampled_from([0, 1, 2, 63, 64, 255]),
    st.sampled_from([bl.CID1, 0x46]),
    st.sampled_from([*Cid2, 0x00, 0x00, 0x02, 0x42, 0x90]),
    st.binary(max_size=90)
    | st.binary(min_size=83, max_size=83)
    | st.binary(min_size=57, max_size=57)
    | st.sampled_from([bytes(83), bytes(57), b"\xff" * 83, b"\xff" * 57]),
)
_mutated = st.builds(
    lambda frame, i, b: frame[:i] + bytes([b]) + frame[i + 1 :],
    st.sampled_from(GOLDEN),
    st.integers(0, 200),
    st.integers(0, 255),
)
_wire = _frames | _mutated | st.binary(max_size=200) | st.sampled_from(GOLDEN) | st.sampled_from(GOLDEN).map(_lower)


@settings(max_examples=400)
@given(_wire, st.sampled_from([0, 1, 2, 63]))
def test_fuzz_respond(request: bytes, module_id: int) -> None:
    try:
        response = bl.respond(request, module_id, ID1, M1, lambda c: None)
    except FrameError:
        return
    if response is not None:  # a module's answer always parses and describes
        frame = pa.parse(response)
        assert (frame.ver, frame.adr, frame.cid1) == (bl.VER, module_id, bl.CID1)
        assert bl.describe(response)[0]


@settings(max_examples=400)
@given(_wire)
def test_fuzz_decoders(response: bytes) -> None:
    with contextlib.suppress(FrameError):
        assert isinstance(bl.decode_report(response), ModuleStatus)
    with contextlib.suppress(FrameError):
        assert isinstance(bl.decode_identity(response), ModuleIdentity)
    with contextlib.suppress(FrameError):
        assert 1 <= bl.decode_ack(response) <= 63


@settings(max_examples=400)
@given(_wire)
def test_fuzz_describe(frame: bytes) -> None:
    try:
        name, fields = bl.describe(frame)
    except FrameError:
        return
    assert name and all(isinstance(v, float | int | str | bool) for v in fields.values())


@given(st.lists(_wire, max_size=8))
def test_fuzz_take_frame(chunks: list[bytes]) -> None:
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while (frame := bl.take_frame(buf, response=True)) is not None:
            assert frame.startswith(b"~") and frame.endswith(b"\r")
        assert len(buf) <= pa.MAX_FRAME_BYTES + len(chunk)
