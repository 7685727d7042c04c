"""Voltronic's own RS485 BMS protocol (RS485 P04-VOL), Modbus-LIKE, 9600 8N1.

Source: "Voltronic Inverter and BMS 485 communication protocol" (2020-03-25) as summarised in
reference/protocols.md section 1.8:

* request ``[ID][0x03|0x10][start u16][count u16][CRC16, low byte first]``;
* response ``[ID][func][data length u16][data][CRC]`` - a 2-byte length, unlike Modbus;
* error ``[ID][func + 0x80][code][CRC]``, codes 1 bad ID, 2 bad function, 3 CRC error.

Every BMS answers the common ID 0x01 and its own ID from a rotary switch (``unit_id``, 0x02..0x0F; position 0 is
0x0F, the default). Packs parallel over CAN among themselves and the answering pack reports the summary registers
for all of them; here the bank plays that pack, and its per-pack registers (cells, NTCs) are the master module's.

Where the reference is silent (nothing else is invented):

* words are big-endian as in Modbus; 4-byte values put the high word first; the error code is one byte;
* cell voltages (0x0011-0x0024) are taken to be in mV; NTC #1..#6 are the board, cells 1-4, 5-8, 9-12, 13-16 and
  the MOSFET (#6 = MOSFET as the reference says);
* registers the reference lists without bit meanings (0x0037-0x003C alarm/protect words, 0x0040-0x0069 cell,
  temperature and module states, 0x0001-0x0006 protocol and version words) and every unlisted address read 0, so
  alarms are not carried (:data:`ALARM_BITS` is empty); 0x0074 b2 "small-current charge request" stays 0;
* 0x0075 run time to empty is remaining capacity over the discharge current, 65535 min when not discharging;
* no register is described as writable, so a 0x10 request is answered error 2; its data layout is not described
  either, so :meth:`Codec.take_frame` accepts a 0x10 request of 8, 8 + 2n, 9 + 2n or 10 + 2n bytes, whichever
  CRC checks;
* the battery never sends error 1: a request for another ID is left to that pack (a shared bus); error 3 answers a
  request for this pack whose CRC fails.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.errors import FrameError
from ml314.protocols import modbus_rtu as mb
from ml314.protocols.base import Description, ProtocolInfo, Rs485Codec, Transport
from ml314.protocols.fields import raw

__all__ = ["ALARM_BITS", "COMMON_ID", "INFO", "STATUS_BITS", "TABLE", "Codec", "ErrorCode", "Field"]

INFO = ProtocolInfo(
    transport=Transport.RS485,
    code="P04-VOL",
    brand="Voltronic",
    name="voltronic-rs485",
    document="Voltronic Inverter and BMS 485 communication protocol (2020-03-25)",
    period_s=0.0,
    baud=9600,
)

COMMON_ID = 0x01
READ = 0x03
WRITE = 0x10
MAX_COUNT = 125
#: the inverter peer's polling: summary block, then the limits block
INVERTER_READS = ((0x0030, 16), (0x0070, 8))


class ErrorCode(enum.IntEnum):
    BAD_ID = 1
    BAD_FUNCTION = 2
    CRC_ERROR = 3


_ERROR_NAMES = {e.value: e.name.lower() for e in ErrorCode}

#: 0x0074 status bits: BatteryView field -> bit (b2 small-current charge request has no field and stays 0)
STATUS_BITS: dict[str, int] = {
    "charge_enable": 7,
    "discharge_enable": 6,
    "force_charge_1": 5,  # charge immediately, SOC <= 9 %
    "force_charge_2": 4,  # charge immediately 2, 9 % < SOC <= 14 %
    "full_charge_request": 3,
}

#: the alarm words 0x0037-0x003C exist but the reference gives no bit meanings: nothing is mapped
ALARM_BITS: dict[AlarmKind, tuple[int, int]] = {}


@dataclass(frozen=True, slots=True)
class Field:
    """A value of one (``words=1``) or two (``words=2``, high word first) registers."""

    name: str
    encode: Callable[[BankStatus], int]
    words: int = 1


def _zero(_: BankStatus) -> int:
    return 0


def _cell_mv(index: int) -> Callable[[BankStatus], int]:
    def encode(s: BankStatus) -> int:
        cells = s.modules[0].cell_voltages_v if s.modules else ()
        return raw(cells[index], 0.001) if index < len(cells) else 0

    return encode


def _ntc_dk(index: int) -> Callable[[BankStatus], int]:
    def encode(s: BankStatus) -> int:
        temps = s.modules[0].temperatures_c if s.modules else ()
        return raw(temps[index], 0.1, offset=-273.1) if index < len(temps) else 0

    return encode


def _status(s: BankStatus) -> int:
    flags = {
        "charge_enable": s.charge_enable,
        "discharge_enable": s.discharge_enable,
        "force_charge_1": s.force_charge_1,
        "force_charge_2": s.force_charge_2,
        "full_charge_request": s.full_charge_request,
    }
    return sum(1 << STATUS_BITS[name] for name, on in flags.items() if on)


def _run_time_min(s: BankStatus) -> int:
    if s.current_a >= 0.0:
        return 0xFFFF
    return raw(s.remaining_capacity_ah / -s.current_a * 60.0, 1.0)


def _mah(ah: float) -> int:
    return raw(ah * 1000.0, 1.0, 32)


_FIELDS: dict[int, Field] = {
    0x0001: Field("protocol_type", _zero),
    0x0002: Field("protocol_version", _zero),
    0x0003: Field("firmware_version", _zero, 2),
    0x0005: Field("hardware_version", _zero, 2),
    0x0010: Field("cell_count", lambda s: min(20, len(s.modules[0].cell_voltages_v)) if s.modules else 0),
    **{0x0011 + i: Field(f"cell_{i + 1}_mv", _cell_mv(i)) for i in range(20)},
    0x0025: Field("ntc_count", lambda s: min(10, len(s.modules[0].temperatures_c)) if s.modules else 0),
    **{0x0026 + i: Field(f"ntc_{i + 1}_dk", _ntc_dk(i)) for i in range(10)},
    0x0030: Field("charge_current_da", lambda s: raw(max(0.0, s.current_a), 0.1)),
    0x0031: Field("discharge_current_da", lambda s: raw(max(0.0, -s.current_a), 0.1)),
    0x0032: Field("voltage_dv", lambda s: raw(s.voltage_v, 0.1)),
    0x0033: Field("soc_pct", lambda s: raw(s.soc_pct, 1.0)),
    0x0034: Field("full_capacity_mah", lambda s: _mah(s.full_capacity_ah), 2),
    0x0036: Field("online_packs", lambda s: s.module_count),
    **{0x0037 + i: Field(f"alarm_word_{i + 1}", _zero) for i in range(6)},
    0x003E: Field("design_capacity_mah", lambda s: _mah(s.installed_capacity_ah), 2),
    0x0070: Field("cvl_dv", lambda s: raw(s.limits.cvl_v, 0.1)),
    0x0071: Field("dvl_dv", lambda s: raw(s.limits.dvl_v, 0.1)),
    0x0072: Field("ccl_da", lambda s: raw(s.limits.ccl_a, 0.1)),
    0x0073: Field("dcl_da", lambda s: raw(s.limits.dcl_a, 0.1)),
    0x0074: Field("status", _status),
    0x0075: Field("run_time_to_empty_min", _run_time_min),
    0x0076: Field("remaining_capacity_mah", lambda s: _mah(s.remaining_capacity_ah), 2),
}

#: first register address -> field; registers not covered read 0
TABLE: Mapping[int, Field] = dict(sorted(_FIELDS.items()))

Decoder = Callable[[tuple[int, ...]], object]


def _scaled(scale: float, digits: int) -> Decoder:
    return lambda r: round(r[0] * scale, digits)


def _ah(r: tuple[int, ...]) -> float:
    return round((r[0] << 16 | r[1]) / 1000.0, 3)


def _flag(bit: int) -> Decoder:
    return lambda r: bool(r[0] >> bit & 1)


#: BatteryView field -> (registers it needs, value from their words)
_DECODE: dict[str, tuple[tuple[int, ...], Decoder]] = {
    "current_a": ((0x0030, 0x0031), lambda r: round((r[0] - r[1]) * 0.1, 1)),
    "voltage_v": ((0x0032,), _scaled(0.1, 1)),
    "soc_pct": ((0x0033,), lambda r: float(r[0])),
    "full_capacity_ah": ((0x0034, 0x0035), _ah),
    "module_count": ((0x0036,), lambda r: r[0]),
    "installed_capacity_ah": ((0x003E, 0x003F), _ah),
    "cvl_v": ((0x0070,), _scaled(0.1, 1)),
    "dvl_v": ((0x0071,), _scaled(0.1, 1)),
    "ccl_a": ((0x0072,), _scaled(0.1, 1)),
    "dcl_a": ((0x0073,), _scaled(0.1, 1)),
    **{name: ((0x0074,), _flag(bit)) for name, bit in STATUS_BITS.items()},
    "remaining_capacity_ah": ((0x0076, 0x0077), _ah),
}


def build_read_request(unit_id: int, start: int, count: int) -> bytes:
    return mb.build_read_request(unit_id, start, count)


def build_read_response(unit_id: int, values: list[int] | tuple[int, ...]) -> bytes:
    data = b"".join(v.to_bytes(2, "big") for v in values)
    return mb.with_crc(bytes([unit_id, READ]) + len(data).to_bytes(2, "big") + data)


def build_error(unit_id: int, function: int, code: int) -> bytes:
    return mb.with_crc(bytes([unit_id, (function & 0x7F) | 0x80, code]))


def _request_length(buf: bytes | bytearray) -> tuple[int, ...] | None:
    if len(buf) < 2:
        return ()
    if buf[1] == READ:
        return (8,)
    if buf[1] != WRITE:
        return None
    if len(buf) < 6:
        return ()
    n = int.from_bytes(buf[4:6], "big")
    return (8, 8 + 2 * n, 9 + 2 * n, 10 + 2 * n) if 1 <= n <= MAX_COUNT else (8,)


def _response_length(buf: bytes | bytearray) -> tuple[int, ...] | None:
    if len(buf) < 2:
        return ()
    func = buf[1]
    if func in (READ | 0x80, WRITE | 0x80):
        return (5,)
    if func != READ:
        return None
    if len(buf) < 4:
        return ()
    length = int.from_bytes(buf[2:4], "big")
    return (6 + length,) if length <= 2 * MAX_COUNT and length % 2 == 0 else None


def _parse_read_request(frame: bytes) -> tuple[int, int, int]:
    body = mb.check_crc(frame)
    if body[1] != READ or len(body) != 6:
        raise FrameError(f"not a Voltronic read request: function 0x{body[1]:02X}, {len(frame)} bytes")
    start, count = int.from_bytes(body[2:4], "big"), int.from_bytes(body[4:6], "big")
    if not 1 <= count <= MAX_COUNT or start + count > 0x10000:
        raise FrameError(f"Voltronic read of {count} registers from 0x{start:04X} is out of range")
    return body[0], start, count


class Codec(Rs485Codec):
    """Voltronic native RS485: answers the common ID 0x01 and ``unit_id`` (0x02..0x0F, rotary position 0 = 0x0F)."""

    carries = frozenset(_DECODE)

    def __init__(self, info: ProtocolInfo = INFO, *, unit_id: int = 0x0F) -> None:
        if not 0x02 <= unit_id <= 0x0F:
            raise ValueError(f"Voltronic pack ID {unit_id:#04x} outside 0x02..0x0F")
        self.info = info
        self.unit_id = unit_id

    # battery side -----------------------------------------------------------------------------------------------
    def registers(self, status: BankStatus) -> dict[int, int]:
        """Every described register's u16 value for ``status`` (two-word fields split high word first)."""
        regs: dict[int, int] = {}
        for address, f in TABLE.items():
            value = f.encode(status)
            if f.words == 2:
                regs[address], regs[address + 1] = value >> 16, value & 0xFFFF
            else:
                regs[address] = value
        return regs

    def respond(self, request: bytes, status: BankStatus) -> bytes | None:
        if len(request) < 4:
            raise FrameError(f"Voltronic request of {len(request)} bytes is too short")
        unit, func = request[0], request[1]
        if unit not in (COMMON_ID, self.unit_id):
            return None
        if mb.crc16(request[:-2]) != int.from_bytes(request[-2:], "little"):
            return build_error(unit, func, ErrorCode.CRC_ERROR)
        if func != READ:
            return build_error(unit, func, ErrorCode.BAD_FUNCTION)
        _, start, count = _parse_read_request(request)
        regs = self.registers(status)
        return build_read_response(unit, [regs.get(a, 0) for a in range(start, start + count)])

    def take_frame(self, buffer: bytearray, *, response: bool) -> bytes | None:
        return mb.split_frame(buffer, _response_length if response else _request_length)

    # inverter side ----------------------------------------------------------------------------------------------
    def register_reads(self) -> tuple[tuple[int, int], ...]:
        return INVERTER_READS

    def inverter_requests(self) -> tuple[bytes, ...]:
        """Summary block 0x0030-0x003F and limits block 0x0070-0x0077, both to the common ID."""
        return tuple(build_read_request(COMMON_ID, s, n) for s, n in INVERTER_READS)

    def decode_registers(self, regs: Mapping[int, int]) -> BatteryView:
        """The fields whose registers are all in ``regs`` (address -> u16 word)."""
        return mb.view_from_registers(regs, _DECODE)

    def decode_response(self, request: bytes, response: bytes) -> BatteryView:
        unit, start, count = _parse_read_request(request)
        body = mb.check_crc(response)
        if body[0] != unit:
            raise FrameError(f"response from ID {body[0]} to a request for ID {unit}")
        if body[1] == READ | 0x80 and len(body) == 3:
            return BatteryView()
        if body[1] != READ or len(body) < 4:
            raise FrameError(f"function 0x{body[1]:02X} does not answer a read")
        length = int.from_bytes(body[2:4], "big")
        if length != 2 * count or len(body) != 4 + length:
            raise FrameError(f"read of {count} registers answered with {length} data bytes in {len(response)}")
        words = [int.from_bytes(body[4 + 2 * i : 6 + 2 * i], "big") for i in range(count)]
        return self.decode_registers({start + i: w for i, w in enumerate(words)})

    def describe(self, frame: bytes) -> tuple[str, Description]:
        """Either direction; an 8-byte 0x03 frame is read as a request (a 1-register response looks the same)."""
        body = mb.check_crc(frame)
        unit, func = body[0], body[1]
        fields: dict[str, float | int | str | bool] = {"id": unit}
        if func & 0x80:
            if len(body) != 3:
                raise FrameError(f"Voltronic error frame must be 5 bytes, got {len(frame)}")
            meaning = _ERROR_NAMES.get(body[2], "unknown")
            return "error", fields | {"function": f"0x{func & 0x7F:02X}", "code": body[2], "meaning": meaning}
        if func == READ and len(body) == 6 and 1 <= int.from_bytes(body[4:6], "big") <= MAX_COUNT:
            start, count = int.from_bytes(body[2:4], "big"), int.from_bytes(body[4:6], "big")
            return "read request", fields | {"start": f"0x{start:04X}", "count": count}
        if func == READ:
            if len(body) < 4 or len(body) != 4 + int.from_bytes(body[2:4], "big") or len(body) % 2:
                raise FrameError(f"Voltronic read response of {len(frame)} bytes does not match its length field")
            words = " ".join(body[i : i + 2].hex().upper() for i in range(4, len(body), 2))
            return "read response", fields | {"data_length": len(body) - 4, "words": words}
        if func == WRITE and len(body) >= 6:
            start, count = int.from_bytes(body[2:4], "big"), int.from_bytes(body[4:6], "big")
            return "write request", fields | {"start": f"0x{start:04X}", "count": count, "data": body[6:].hex(" ")}
        raise FrameError(f"Voltronic function 0x{func:02X} is not part of the protocol")

    @staticmethod
    def describe_registers(regs: Mapping[int, int]) -> Description:
        """Named register values (two-word fields joined) for ``ml314 decode`` of a known read."""
        out: dict[str, float | int | str | bool] = {}
        for address, f in TABLE.items():
            if all(a in regs for a in range(address, address + f.words)):
                value = regs[address] << 16 | regs[address + 1] if f.words == 2 else regs[address]
                out[f"0x{address:04X} {f.name}"] = value
        return out
