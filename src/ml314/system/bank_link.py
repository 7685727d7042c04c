"""The RS485 link between the modules of a bank ("Battery Comm" ports, manual 8.4.2, 8.5), as bytes (pure).

The frame grammar is Pylon RS485's (reference/protocols.md 1.2, :mod:`ml314.protocols.pylon_ascii`):
``~ VER ADR CID1 CID2|RTN LENGTH INFO CHKSUM \\r`` in hex ASCII. The commands are this product's own, documented
byte for byte in docs/bank_link.md (the manual publishes none):

* ADR is the module's DIP-switch ID 1..63 (manual 6.3); ADR 0 is the broadcast of :data:`Cid2.COMMAND`, which every
  module obeys and none answers. Which module is the master is decided elsewhere (system/addressing.py: the lowest
  valid unique ID); the master polls the others with IDENTIFY and REPORT and orders them with COMMAND.
* CID1 is 0x4B, not Pylon's 0x46, so a Pylon parser on the inverter side ignores bank traffic and vice versa.
* A module answers only its own ADR, with VER 0x20 and RTN where the request had CID2 (Pylon's RTN table): 01 a
  request of another VER, 02/03 bad CHKSUM/LCHKSUM, 04 an unknown CID2, 05 INFO of the wrong length, 06 a COMMAND
  with reserved bits set. A frame whose CID2 is an RTN code is an answer and is never answered (two modules set to
  the same ID then cannot ping-pong).
* Values are fixed point, big-endian, clamped to their field (:func:`ml314.protocols.fields.raw`); NaN is 0 except
  a temperature, whose NaN is the marker 0x8000 and reads back as NaN. DVL is sent at least 10 mV below CVL.
* A report's ``address`` is the ADR (the DIP ID) and its ``serial`` is not on the wire (IDENTIFY carries it).

Malformed input raises :class:`ml314.errors.FrameError`; a well-formed error answer raises :class:`RtnError`.
"""

from __future__ import annotations

import enum
import functools
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

from ml314.domain.battery_status import AlarmKind, BankCommand, ModuleIdentity, ModuleStatus
from ml314.domain.limits import ChargeLimits
from ml314.errors import FrameError
from ml314.protocols import pylon_ascii
from ml314.protocols.fields import raw
from ml314.protocols.pylon_ascii import RTN_TEXT, FrameCheckError, PylonFrame, Rtn

__all__ = [
    "ALARM_BIT",
    "BROADCAST_ADR",
    "CHAR_BITS",
    "CID1",
    "COMMAND_BIT",
    "DEFAULT_BAUD",
    "IDENTITY_BYTES",
    "IDENTITY_FLAG_BIT",
    "MAX_MODULE_ID",
    "MIN_MODULE_ID",
    "PROCESSING_ALLOWANCE_S",
    "REPORT_BYTES",
    "REPORT_FLAG_BIT",
    "REQUEST_WIRE_BYTES",
    "RESPONSE_WIRE_BYTES",
    "STATE_CODE",
    "TEMPERATURE_NONE",
    "VER",
    "Cid2",
    "RtnError",
    "broadcast",
    "decode_ack",
    "decode_identity",
    "decode_report",
    "describe",
    "first_byte_timeout_s",
    "interframe_gap_s",
    "request",
    "respond",
    "response_timeout_s",
    "take_frame",
    "transaction_wire_bytes",
    "wire_time_s",
]

VER = 0x20
CID1 = 0x4B  # "bank link"; Pylon's lithium battery data is 0x46
BROADCAST_ADR = 0x00
MIN_MODULE_ID, MAX_MODULE_ID = 1, 63  # manual 6.3
DEFAULT_BAUD = 115_200  # Pylon V3.3's default; at 9600 one REPORT poll of 16 modules takes 3.4 s of wire time


class Cid2(enum.IntEnum):
    """The bank link's commands (ASCII mnemonics; none is an RTN code)."""

    COMMAND = 0x43  # 'C' master -> module: BankCommand, answered by an empty ack
    IDENTIFY = 0x49  # 'I' -> ModuleIdentity
    REPORT = 0x52  # 'R' -> ModuleStatus


_NAMES: dict[int, str] = {Cid2.COMMAND: "command", Cid2.IDENTIFY: "identify", Cid2.REPORT: "report"}
_RTNS = frozenset(int(r) for r in Rtn)
_RTN_TEXT: dict[int, str] = {int(k): v for k, v in RTN_TEXT.items()}

#: AlarmKind -> bit of the alarm and protection masks (u32). Fixed here, never derived from the enum's order.
ALARM_BIT: dict[AlarmKind, int] = {
    AlarmKind.CELL_OVERVOLTAGE: 0,
    AlarmKind.CELL_UNDERVOLTAGE: 1,
    AlarmKind.PACK_OVERVOLTAGE: 2,
    AlarmKind.PACK_UNDERVOLTAGE: 3,
    AlarmKind.CHARGE_OVERCURRENT: 4,
    AlarmKind.DISCHARGE_OVERCURRENT: 5,
    AlarmKind.SHORT_CIRCUIT: 6,
    AlarmKind.CHARGE_OVERTEMPERATURE: 7,
    AlarmKind.CHARGE_UNDERTEMPERATURE: 8,
    AlarmKind.DISCHARGE_OVERTEMPERATURE: 9,
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: 10,
    AlarmKind.MOSFET_OVERTEMPERATURE: 11,
    AlarmKind.BOARD_OVERTEMPERATURE: 12,
    AlarmKind.CELL_IMBALANCE: 13,
    AlarmKind.SENSOR_FAULT: 14,
    AlarmKind.INTERNAL_COMMUNICATION: 15,
    AlarmKind.INVERTER_COMMUNICATION: 16,
    AlarmKind.SYSTEM_ERROR: 17,
    AlarmKind.MODULE_MIX: 18,  # added after SYSTEM_ERROR: bits are never renumbered
}
_KIND_OF_BIT: dict[int, AlarmKind] = {bit: kind for kind, bit in ALARM_BIT.items()}
_DEFINED_ALARM_BITS = sum(1 << bit for bit in _KIND_OF_BIT)
_SYSTEM_ERROR_BIT = ALARM_BIT[AlarmKind.SYSTEM_ERROR]

#: ModuleStatus.state (bms/states.py BmsState names, lower case) -> state code; 0xFF = a name not listed
STATE_CODE: dict[str, int] = {
    "shutdown": 0,
    "sleep": 1,
    "standby": 2,
    "charge": 3,
    "discharge": 4,
    "protection": 5,
    "fault": 6,
    "unknown": 0xFF,
}
_STATE_OF_CODE: dict[int, str] = {code: name for name, code in STATE_CODE.items()}

#: REPORT flags byte: ModuleStatus field -> bit (b5..b7 reserved, sent 0, ignored when read)
REPORT_FLAG_BIT: dict[str, int] = {
    "charge_mosfet_on": 0,
    "discharge_mosfet_on": 1,
    "balancing": 2,
    "force_charge": 3,
    "full_charge_request": 4,
}
#: COMMAND byte: BankCommand field -> bit (b3..b7 reserved: a module answers RTN 06 when one is set)
COMMAND_BIT: dict[str, int] = {"charge_allowed": 0, "discharge_allowed": 1, "isolate": 2}
_COMMAND_MASK = sum(1 << bit for bit in COMMAND_BIT.values())
#: IDENTIFY flags byte: ModuleIdentity field -> bit
IDENTITY_FLAG_BIT: dict[str, int] = {"termination_on": 0}

N_CELLS, N_TEMPERATURES = 16, 6
TEMPERATURE_NONE = -0x8000  # the s16 a NaN temperature is sent as (0x8000)

# ---- layouts (big-endian; offsets in docs/bank_link.md) -------------------------------------------------------

#: cells mV, temperatures 0.1 degC, current 10 mA, voltage 10 mV, SOC 0.01 %, SOH 0.1 %, capacities (u24 as
#: high byte + low u16) 10 mAh, cycles, CVL/DVL 10 mV, CCL/DCL 0.1 A, flags, state, alarms, protections, 0.01 mOhm
_REPORT = struct.Struct(">16H 6h h H H H BH BH BH H H H H H B B I I H")
#: serial, model, manufacturer (ASCII, NUL padded), design capacity u24 10 mAh, firmware major/minor,
#: manufactured year/month, flags
_IDENTITY = struct.Struct(">16s 16s 16s BH B B H B B")
REPORT_BYTES = _REPORT.size  # 83
IDENTITY_BYTES = _IDENTITY.size  # 57
_INFO_BYTES: dict[int, int] = {Cid2.COMMAND: 1, Cid2.IDENTIFY: 0, Cid2.REPORT: 0}  # request INFO per command
_ANSWER_BYTES: dict[int, int] = {Cid2.COMMAND: 0, Cid2.IDENTIFY: IDENTITY_BYTES, Cid2.REPORT: REPORT_BYTES}


class RtnError(FrameError):
    """A well-formed answer whose RTN is not 00 (``adr`` answered ``rtn``)."""

    def __init__(self, adr: int, rtn: int) -> None:
        super().__init__(f"module {adr} answered RTN {rtn:02X} ({_RTN_TEXT.get(rtn, 'unknown')})")
        self.adr = adr
        self.rtn = rtn


# ---- timing -----------------------------------------------------------------------------------------------------

CHAR_BITS = 10  # 8N1: start + 8 data + stop
PROCESSING_ALLOWANCE_S = 0.010  # a module's time to build its answer, allowed on top of the wire time

#: bytes on the wire: SOI + 12 header characters + 2 per INFO byte + 4 CHKSUM characters + EOI
REQUEST_WIRE_BYTES: dict[Cid2, int] = {c: 18 + 2 * _INFO_BYTES[c] for c in Cid2}
RESPONSE_WIRE_BYTES: dict[Cid2, int] = {c: 18 + 2 * _ANSWER_BYTES[c] for c in Cid2}


def wire_time_s(n_bytes: float, baud: int) -> float:
    """Time ``n_bytes`` characters take on an 8N1 line at ``baud``."""
    return n_bytes * CHAR_BITS / baud


def transaction_wire_bytes(cmd: Cid2, *, broadcast: bool = False) -> int:
    """Request plus response bytes of one ``cmd`` (a broadcast COMMAND has no response)."""
    if broadcast:
        if cmd != Cid2.COMMAND:
            raise ValueError(f"only COMMAND is broadcast, not {cmd.name}")
        return REQUEST_WIRE_BYTES[cmd]
    return REQUEST_WIRE_BYTES[cmd] + RESPONSE_WIRE_BYTES[cmd]


def interframe_gap_s(baud: int) -> float:
    """The bus turnaround: 3.5 character times of silence after a frame before the next one starts."""
    return wire_time_s(3.5, baud)


def first_byte_timeout_s(baud: int) -> float:
    """How long the master waits after a request's EOI for the answer's first byte."""
    return wire_time_s(3, baud) + PROCESSING_ALLOWANCE_S


def response_timeout_s(cmd: Cid2, baud: int) -> float:
    """How long the master waits after a request's EOI for the answer's EOI before it counts a timeout."""
    return first_byte_timeout_s(baud) + wire_time_s(RESPONSE_WIRE_BYTES[cmd], baud)


# ---- field helpers ----------------------------------------------------------------------------------------------


#: a quantiser: (value, scale, bits, signed) -> the field's integer
_Quantise = Callable[[float, float, int, bool], int]


def _clamped(value: float, scale: float, bits: int, signed: bool) -> int:
    if math.isfinite(value) and math.isinf(value / scale):  # raw() would round an infinite quotient
        value = math.copysign(math.inf, value)
    return raw(value, scale, bits, signed=signed)


def _rounded(value: float, scale: float, bits: int, signed: bool) -> int:
    """raw() without the clamp: NaN/inf raise and an overflow makes struct.pack raise (then _clamped is used)."""
    del bits, signed
    return round(value / scale)


def _u24(value: float, q: _Quantise = _clamped) -> tuple[int, int]:
    x = q(value, 0.01, 24, False)
    return x >> 16, x & 0xFFFF


def _ascii(text: str) -> bytes:
    return text.encode("ascii", "replace")


def _text(data: bytes) -> str:
    return data.rstrip(b"\0").decode("ascii", "replace")


def _mask(kinds: frozenset[AlarmKind]) -> int:
    """The u32 of ``kinds``; a kind the table does not list yet is sent as SYSTEM_ERROR (never lost)."""
    m = 0
    for kind in kinds:
        m |= 1 << ALARM_BIT.get(kind, _SYSTEM_ERROR_BIT)
    return m


@functools.lru_cache(maxsize=1024)
def _kinds(mask: int) -> frozenset[AlarmKind]:
    """The kinds of ``mask``; a bit this table does not define reads as SYSTEM_ERROR (never lost)."""
    kinds = {kind for bit, kind in _KIND_OF_BIT.items() if mask >> bit & 1}
    if mask & ~_DEFINED_ALARM_BITS:
        kinds.add(AlarmKind.SYSTEM_ERROR)
    return frozenset(kinds)


def _fit(values: tuple[float, ...], n: int) -> tuple[float, ...]:
    """Exactly ``n`` values: extras dropped, missing ones NaN (sent as "no reading")."""
    return values if len(values) == n else (*values[:n], *(math.nan,) * (n - len(values)))


# ---- encoding ---------------------------------------------------------------------------------------------------


def _pack_report(s: ModuleStatus, q: _Quantise) -> bytes:
    lim = s.limits
    cvl = max(1, q(lim.cvl_v, 0.01, 16, False))
    flags = 0
    for name, bit in REPORT_FLAG_BIT.items():
        if getattr(s, name):
            flags |= 1 << bit
    return _REPORT.pack(
        *[q(v, 0.001, 16, False) for v in _fit(s.cell_voltages_v, N_CELLS)],
        *[
            TEMPERATURE_NONE if math.isnan(t) else max(-0x7FFF, q(t, 0.1, 16, True))
            for t in _fit(s.temperatures_c, N_TEMPERATURES)
        ],
        q(s.current_a, 0.01, 16, True),
        q(s.voltage_v, 0.01, 16, False),
        q(s.soc_pct, 0.01, 16, False),
        q(s.soh_pct, 0.1, 16, False),
        *_u24(s.remaining_capacity_ah, q),
        *_u24(s.full_capacity_ah, q),
        *_u24(s.design_capacity_ah, q),
        q(s.cycles, 1, 16, False),
        cvl,
        min(q(lim.dvl_v, 0.01, 16, False), cvl - 1),
        q(lim.ccl_a, 0.1, 16, False),
        q(lim.dcl_a, 0.1, 16, False),
        flags,
        STATE_CODE.get(s.state, 0xFF),
        _mask(s.alarms),
        _mask(s.protections),
        q(s.resistance_mohm, 0.01, 16, False),
    )


def _report_info(s: ModuleStatus) -> bytes:
    """REPORT INFO; every value as raw() gives it (rounded, clamped, NaN 0), the clamp only paid when needed."""
    try:
        return _pack_report(s, _rounded)
    except (ValueError, OverflowError, struct.error):
        return _pack_report(s, _clamped)


def _identity_info(i: ModuleIdentity) -> bytes:
    flags = sum(1 << bit for name, bit in IDENTITY_FLAG_BIT.items() if getattr(i, name))
    return _IDENTITY.pack(
        _ascii(i.serial),
        _ascii(i.model),
        _ascii(i.manufacturer),
        *_u24(i.design_capacity_ah),
        _clamped(i.firmware_version[0], 1, 8, False),
        _clamped(i.firmware_version[1], 1, 8, False),
        _clamped(i.manufactured[0], 1, 16, False),
        _clamped(i.manufactured[1], 1, 8, False),
        flags,
    )


def _command_byte(c: BankCommand) -> int:
    return sum(1 << bit for name, bit in COMMAND_BIT.items() if getattr(c, name))


def _command_of(byte: int) -> BankCommand:
    return BankCommand(**{name: bool(byte >> bit & 1) for name, bit in COMMAND_BIT.items()})


def _frame(adr: int, cid2: int, info: bytes = b"") -> bytes:
    return pylon_ascii.build(PylonFrame(VER, adr, CID1, cid2, info))


@functools.cache
def _request_frame(cid2: int, adr: int, info: bytes) -> bytes:
    return _frame(adr, cid2, info)


def request(cmd: Cid2, module_id: int, command: BankCommand | None = None) -> bytes:
    """The master's request ``cmd`` to module ``module_id`` (1..63; ValueError otherwise).

    ``command`` is required for COMMAND and refused for the others.
    """
    if not MIN_MODULE_ID <= module_id <= MAX_MODULE_ID:
        raise ValueError(f"module ID {module_id} is not an address (1..63)")
    if (cmd == Cid2.COMMAND) != (command is not None):
        raise ValueError(f"{cmd.name} {'needs' if command is None else 'takes no'} BankCommand")
    info = b"" if command is None else bytes([_command_byte(command)])
    return _request_frame(int(cmd), module_id, info)


def broadcast(command: BankCommand) -> bytes:
    """COMMAND to every module at once (ADR 0): every module applies it, none answers."""
    return _request_frame(int(Cid2.COMMAND), BROADCAST_ADR, bytes([_command_byte(command)]))


# ---- the module's side ------------------------------------------------------------------------------------------

_Serve = Callable[[bytes, ModuleIdentity, ModuleStatus, Callable[[BankCommand], object]], tuple[Rtn, bytes]]


def _serve_command(
    info: bytes, identity: ModuleIdentity, status: ModuleStatus, on_command: Callable[[BankCommand], object]
) -> tuple[Rtn, bytes]:
    del identity, status
    if info[0] & ~_COMMAND_MASK:
        return Rtn.INVALID_DATA, b""
    on_command(_command_of(info[0]))
    return Rtn.NORMAL, b""


#: what a module does per command: (RTN, answer INFO) from (request INFO, identity, status, on_command)
_SERVE: dict[int, _Serve] = {
    Cid2.COMMAND: _serve_command,
    Cid2.IDENTIFY: lambda info, identity, status, on_command: (Rtn.NORMAL, _identity_info(identity)),
    Cid2.REPORT: lambda info, identity, status, on_command: (Rtn.NORMAL, _report_info(status)),
}


def respond(
    request: bytes,
    module_id: int,
    identity: ModuleIdentity,
    status: ModuleStatus,
    on_command: Callable[[BankCommand], object],
) -> bytes | None:
    """Module ``module_id``'s answer to ``request``, or ``None`` when the frame is not for it.

    ``None`` for another ADR, another CID1, a frame whose CID2 is an RTN (an answer), and for a broadcast (a valid
    one calls ``on_command``). A module whose ID is outside 1..63 obeys broadcasts and answers nothing.
    Bytes that are not the grammar at all raise :class:`FrameError`.
    """
    mine = MIN_MODULE_ID <= module_id <= MAX_MODULE_ID
    try:
        f = pylon_ascii.parse(request)
    except FrameCheckError as exc:
        g = exc.frame
        if not mine or g.cid1 != CID1 or g.adr != module_id or g.cid2 in _RTNS:
            return None
        return _frame(module_id, exc.rtn)
    if f.cid1 != CID1:
        return None
    if f.adr == BROADCAST_ADR:
        if f.cid2 == Cid2.COMMAND and f.ver == VER and len(f.info) == 1 and not f.info[0] & ~_COMMAND_MASK:
            on_command(_command_of(f.info[0]))
        return None
    if not mine or f.adr != module_id or f.cid2 in _RTNS:
        return None
    if f.ver != VER:
        return _frame(module_id, Rtn.VER_ERROR)
    if f.cid2 not in _SERVE:
        return _frame(module_id, Rtn.CID2_INVALID)
    if len(f.info) != _INFO_BYTES[f.cid2]:
        return _frame(module_id, Rtn.FORMAT_ERROR)
    rtn, info = _SERVE[f.cid2](f.info, identity, status, on_command)
    return _frame(module_id, rtn, info)


# ---- the master's side ------------------------------------------------------------------------------------------


def take_frame(buffer: bytearray, *, response: bool) -> bytes | None:
    """The first complete frame in ``buffer`` (removed), or ``None`` while none is complete.

    :func:`ml314.protocols.pylon_ascii.take_frame`: requests and answers share one grammar, ``response`` is taken
    for parity with ``Rs485Codec.take_frame``. The frame is not validated (the decoders do that).
    """
    del response
    return pylon_ascii.take_frame(buffer)


def _answer(response: bytes, info_bytes: int, what: str) -> PylonFrame:
    f = pylon_ascii.parse(response)
    if f.cid1 != CID1:
        raise FrameError(f"CID1 0x{f.cid1:02X} is not the bank link (0x{CID1:02X})")
    if f.cid2 in _NAMES:
        raise FrameError(f"a {_NAMES[f.cid2]} request, not an answer")
    if f.ver != VER:
        raise FrameError(f"VER 0x{f.ver:02X} is not the bank link's (0x{VER:02X})")
    if not MIN_MODULE_ID <= f.adr <= MAX_MODULE_ID:
        raise FrameError(f"ADR {f.adr} is not a module ID (1..63)")
    if f.cid2 != Rtn.NORMAL:
        raise RtnError(f.adr, f.cid2)
    if len(f.info) != info_bytes:
        raise FrameError(f"{what}: INFO has {len(f.info)} bytes, {info_bytes} expected")
    return f


def _report_of(adr: int, info: bytes, serial: str) -> ModuleStatus:
    v = _REPORT.unpack(info)
    (current, voltage, soc, soh, r_hi, r_lo, f_hi, f_lo, d_hi, d_lo, cycles) = v[22:33]
    (cvl, dvl, ccl, dcl, flags, state, alarms, protections, resistance) = v[33:]
    if dvl >= cvl:
        raise FrameError(f"report: DVL {dvl / 100} V is not below CVL {cvl / 100} V")
    if state not in _STATE_OF_CODE:
        raise FrameError(f"report: state code 0x{state:02X} is not defined")
    bits = {name: bool(flags >> bit & 1) for name, bit in REPORT_FLAG_BIT.items()}
    return ModuleStatus(
        address=adr,
        voltage_v=voltage / 100,
        current_a=current / 100,
        soc_pct=soc / 100,
        soh_pct=soh / 10,
        cell_voltages_v=tuple([x / 1000 for x in v[0:16]]),
        temperatures_c=tuple([math.nan if x == TEMPERATURE_NONE else x / 10 for x in v[16:22]]),
        remaining_capacity_ah=(r_hi << 16 | r_lo) / 100,
        full_capacity_ah=(f_hi << 16 | f_lo) / 100,
        design_capacity_ah=(d_hi << 16 | d_lo) / 100,
        cycles=cycles,
        serial=serial,
        limits=ChargeLimits(cvl_v=cvl / 100, dvl_v=dvl / 100, ccl_a=ccl / 10, dcl_a=dcl / 10),
        alarms=_kinds(alarms),
        protections=_kinds(protections),
        state=_STATE_OF_CODE[state],
        resistance_mohm=resistance / 100,
        **bits,
    )


def _identity_of(adr: int, info: bytes) -> ModuleIdentity:
    serial, model, maker, cap_hi, cap_lo, major, minor, year, month, flags = _IDENTITY.unpack(info)
    return ModuleIdentity(
        module_id=adr,
        serial=_text(serial),
        model=_text(model),
        manufacturer=_text(maker),
        design_capacity_ah=(cap_hi << 16 | cap_lo) / 100,
        firmware_version=(major, minor),
        manufactured=(year, month),
        termination_on=bool(flags >> IDENTITY_FLAG_BIT["termination_on"] & 1),
    )


def decode_report(response: bytes, *, serial: str = "") -> ModuleStatus:
    """The ModuleStatus of a REPORT answer; ``address`` = its ADR, ``serial`` as given (IDENTIFY carries it)."""
    f = _answer(response, REPORT_BYTES, "report")
    return _report_of(f.adr, f.info, serial)


def decode_identity(response: bytes) -> ModuleIdentity:
    """The ModuleIdentity of an IDENTIFY answer; ``module_id`` = its ADR."""
    f = _answer(response, IDENTITY_BYTES, "identify")
    return _identity_of(f.adr, f.info)


def decode_ack(response: bytes) -> int:
    """The module ID that acknowledged a COMMAND (RTN 00, LENID 0); an error RTN raises :class:`RtnError`."""
    return _answer(response, 0, "command ack").adr


# ---- logs -------------------------------------------------------------------------------------------------------

_Fields = dict[str, float | int | str | bool]
_TEMPERATURE_NAMES = ("board", "cells_1_4", "cells_5_8", "cells_9_12", "cells_13_16", "mosfet")


def _report_fields(s: ModuleStatus) -> _Fields:
    out: _Fields = {f"cell{i + 1}_voltage_v": v for i, v in enumerate(s.cell_voltages_v)}
    out |= {f"{n}_temperature_c": t for n, t in zip(_TEMPERATURE_NAMES, s.temperatures_c, strict=True)}
    out |= {
        "current_a": s.current_a,
        "voltage_v": s.voltage_v,
        "soc_pct": s.soc_pct,
        "soh_pct": s.soh_pct,
        "remaining_capacity_ah": s.remaining_capacity_ah,
        "full_capacity_ah": s.full_capacity_ah,
        "design_capacity_ah": s.design_capacity_ah,
        "cycles": s.cycles,
        "cvl_v": s.limits.cvl_v,
        "dvl_v": s.limits.dvl_v,
        "ccl_a": s.limits.ccl_a,
        "dcl_a": s.limits.dcl_a,
        "state": s.state,
        "alarms": ",".join(sorted(k.value for k in s.alarms)),
        "protections": ",".join(sorted(k.value for k in s.protections)),
        "resistance_mohm": s.resistance_mohm,
    }
    return out | {name: getattr(s, name) for name in REPORT_FLAG_BIT}


def _identity_fields(i: ModuleIdentity) -> _Fields:
    return {
        "serial": i.serial,
        "model": i.model,
        "manufacturer": i.manufacturer,
        "design_capacity_ah": i.design_capacity_ah,
        "firmware_version": f"{i.firmware_version[0]}.{i.firmware_version[1]}",
        "manufactured": f"{i.manufactured[0]:04d}-{i.manufactured[1]:02d}",
        "termination_on": i.termination_on,
    }


@dataclass(frozen=True, slots=True)
class _Layout:
    name: str
    fields: Callable[[int, bytes], _Fields]


#: answer INFO length -> what it is (the three answers have distinct lengths)
_ANSWERS: dict[int, _Layout] = {
    REPORT_BYTES: _Layout("report", lambda adr, info: _report_fields(_report_of(adr, info, ""))),
    IDENTITY_BYTES: _Layout("identify", lambda adr, info: _identity_fields(_identity_of(adr, info))),
    0: _Layout("command", lambda adr, info: {}),
}


def describe(frame: bytes) -> tuple[str, _Fields]:
    """(title, fields) of any bank-link frame, request or answer, for logs and ``ml314 decode``."""
    f = pylon_ascii.parse(frame)
    if f.cid1 != CID1:
        raise FrameError(f"CID1 0x{f.cid1:02X} is not the bank link (0x{CID1:02X})")
    head: _Fields = {"ver": f.ver, "adr": f.adr}
    if f.cid2 in _NAMES:
        kind = "broadcast" if f.adr == BROADCAST_ADR else "request"
        if f.cid2 == Cid2.COMMAND and len(f.info) == 1:
            bits = {n: bool(f.info[0] >> b & 1) for n, b in COMMAND_BIT.items()}
            return f"command {kind}", head | bits | {"reserved_bits": f.info[0] & ~_COMMAND_MASK}
        return f"{_NAMES[f.cid2]} {kind}", head | ({"info": f.info.hex().upper()} if f.info else {})
    if f.cid2 not in _RTNS:
        return f"CID2 0x{f.cid2:02X}", head | {"cid2": f.cid2, "info": f.info.hex().upper()}
    head |= {"rtn": f.cid2, "rtn_text": _RTN_TEXT[f.cid2]}
    layout = _ANSWERS.get(len(f.info))
    if f.cid2 != Rtn.NORMAL or layout is None:
        return "error response" if f.cid2 != Rtn.NORMAL else "response", head | {"info": f.info.hex().upper()}
    try:
        return f"{layout.name} response", head | layout.fields(f.adr, f.info)
    except FrameError as exc:
        return f"{layout.name} response", head | {"info": f.info.hex().upper(), "error": str(exc)}
