"""Voltronic's own RS485 BMS protocol (RS485 P04-VOL), Modbus-like, 9600 8N1.

Source: the document itself, "Voltronic Power Inverter and BMS 485 communication Protocol" (2020-03-25; the copy
read is ``Voltronic Inverter and BMS 485 communication protocol 20201202.docx`` in
ardupic/voltronic-inverter-communication-protocols), section numbers below are the document's:

* request ``[ID][0x03|0x10][start u16][data length u16][CRC16, low byte first]`` (section 3.1);
* normal response ``[ID][command][data length u16][data: data length x 2 bytes][CRC]`` (3.2): the length counts
  **registers**, not bytes. A JK BMS in this mode answers a one-register read of 0x0010 with
  ``01 03 00 01 00 08 15 CC`` (dnc392/rs485-bms-probe, docs/evidence/voltronic_cell_count_source_custom.json);
* abnormal response ``[ID][command + 128][error code][CRC]`` (3.3), codes 1 "slave ID should be within 1~16",
  2 "command type error if command didn't exist", 3 "CRC error".

Every BMS answers the common ID 0x01 and its own ID from a rotary switch (``unit_id``, 0x02..0x0F; position 0 is
0x0F, the default). Packs parallel over CAN among themselves and one of them talks RS485 to the inverter (1.3); the
answering pack reports the summary registers for all of them; here the bank plays that pack, and its per-pack
registers (cells, NTCs, design capacity) are the master module's.

Decisions (docs/protocols.md, "Voltronic RS485", says why):

* error 1 answers a request with a valid CRC whose ID is outside 1..16 (the document's condition); an ID inside
  1..16 that is neither 0x01 nor ours belongs to another pack and gets no answer (two packs answering one request
  would collide on a shared pair); a frame whose CRC fails is answered error 3 only when its ID is 0x01 or ours
  (the ID of a corrupted frame cannot be trusted for anything else);
* error 2 answers every command type but 0x03, 0x10 included: the document lists 0x10 but describes no writable
  register and no write layout; an unknown command is framed as 8 bytes, the document's one query format;
* a read of 0 or more than 125 registers has no error code in the document and gets no answer;
* cell voltages (0x0011-0x0024) are sent in **mV**, although the document's unit column says 0.1 V: no public
  capture of these registers exists, 0.1 V would put every LFP cell between 32 and 36, too coarse to tell a
  cell at its 3.40 V release from one at its 3.65 V trip, and the document writes cell levels in mV ("3750mv*15");
* the alarm words 0x0037-0x003C carry the document's bits (:data:`ALARM_BITS`, :data:`PROTECTION_BITS`), driven by
  the BMS's warning/alarm rows (0x0037/0x0038) and protection rows (0x0039-0x003C); bits no BMS row can drive
  (AFE, MOSFET driver, "in system" signal, CAN ID, shutdown by command) stay 0;
* 0x0074 b5 "charge immediately" is set at SOC <= 9 % and b4 "charge immediately 2" at 9 % < SOC <= 14 % as the
  document asks (or when the BMS requests a force charge); b3 full charge request follows the BMS (the document
  says "always 0" in one column and "set when BMS need device fully charged" in the note); b2 stays 0;
* 0x0075 run time to empty is remaining capacity over the discharge current, 65535 min when not discharging;
* words are big-endian as in Modbus; 4-byte values put the high word first. NTC #1..#6 are the board, cells 1-4,
  5-8, 9-12, 13-16 and the MOSFET (#6 = MOSFET as the document says). Registers the document lists without a
  value ml314 has (versions, 0x0040-0x0069 states) read 0, as the document asks for absent parameters.

Overflow: no field overflows for a bank of up to 16 modules (currents u16 0.1 A to 6553.5 A, capacities 32-bit
mAh), so SOC = remaining / full and power = voltage x current stay consistent.
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

__all__ = [
    "ALARM_BITS",
    "COMMON_ID",
    "INFO",
    "PROTECTION_BITS",
    "STATUS_BITS",
    "TABLE",
    "Codec",
    "ErrorCode",
    "Field",
]

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
ID_RANGE = range(1, 17)  # "Slave ID should be within 1~16"
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
FORCE_CHARGE_1_SOC_PCT = 9.0
FORCE_CHARGE_2_SOC_PCT = 14.0

CHARGE_ALARM, DISCHARGE_ALARM = 0x0037, 0x0038
CHARGE_PROTECT, CHARGE_PROTECT_2, DISCHARGE_PROTECT, DISCHARGE_PROTECT_2 = 0x0039, 0x003A, 0x003B, 0x003C

#: warning/alarm level kinds -> the (register, bit)s they set in 0x0037 "Charge Alarm" / 0x0038 "Discharge Alarm".
#: The document has no pack-voltage bits: the pack levels set the cell bits.
ALARM_BITS: dict[AlarmKind, tuple[tuple[int, int], ...]] = {
    AlarmKind.CHARGE_OVERTEMPERATURE: ((CHARGE_ALARM, 0),),  # CHT
    AlarmKind.CELL_OVERVOLTAGE: ((CHARGE_ALARM, 1),),  # COV
    AlarmKind.PACK_OVERVOLTAGE: ((CHARGE_ALARM, 1),),
    AlarmKind.CHARGE_UNDERTEMPERATURE: ((CHARGE_ALARM, 2),),  # CLT
    AlarmKind.CHARGE_OVERCURRENT: ((CHARGE_ALARM, 3),),  # OCC
    AlarmKind.DISCHARGE_OVERTEMPERATURE: ((DISCHARGE_ALARM, 0),),  # DHT
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: ((DISCHARGE_ALARM, 1),),  # DLT
    AlarmKind.MOSFET_OVERTEMPERATURE: ((DISCHARGE_ALARM, 2),),  # FETHT
    AlarmKind.CELL_UNDERVOLTAGE: ((DISCHARGE_ALARM, 3),),  # CUV
    AlarmKind.PACK_UNDERVOLTAGE: ((DISCHARGE_ALARM, 3),),
}

#: protection level kinds -> the (register, bit)s they set in 0x0039-0x003C. Short circuit is "Short" (0x003C b1)
#: and "AFESCD" is left to the analogue front end ml314 does not model; the board over-temperature and the system
#: faults (imbalance, sensors) have no bit of their own and open both paths, which the 0x0074 enables say.
PROTECTION_BITS: dict[AlarmKind, tuple[tuple[int, int], ...]] = {
    AlarmKind.MOSFET_OVERTEMPERATURE: ((CHARGE_PROTECT, 6), (DISCHARGE_PROTECT, 10)),  # FETHT
    AlarmKind.CHARGE_OVERTEMPERATURE: ((CHARGE_PROTECT, 8),),  # CHT
    AlarmKind.CHARGE_UNDERTEMPERATURE: ((CHARGE_PROTECT, 9),),  # CLT
    AlarmKind.CELL_OVERVOLTAGE: ((CHARGE_PROTECT, 10),),  # OCV
    AlarmKind.PACK_OVERVOLTAGE: ((CHARGE_PROTECT, 10),),
    AlarmKind.CHARGE_OVERCURRENT: ((CHARGE_PROTECT, 11),),  # OCC
    AlarmKind.CELL_UNDERVOLTAGE: ((DISCHARGE_PROTECT, 11),),  # CUV
    AlarmKind.PACK_UNDERVOLTAGE: ((DISCHARGE_PROTECT, 11),),
    AlarmKind.DISCHARGE_OVERCURRENT: ((DISCHARGE_PROTECT, 12),),  # OCD
    AlarmKind.DISCHARGE_UNDERTEMPERATURE: ((DISCHARGE_PROTECT, 13),),  # DLT
    AlarmKind.DISCHARGE_OVERTEMPERATURE: ((DISCHARGE_PROTECT, 14),),  # DHT
    AlarmKind.SHORT_CIRCUIT: ((DISCHARGE_PROTECT_2, 1),),  # Short
}

#: the document's names of every bit, for ``ml314 decode``: register -> {bit: name}
BIT_NAMES: dict[int, dict[int, str]] = {
    CHARGE_ALARM: {3: "OCC", 2: "CLT", 1: "COV", 0: "CHT"},
    DISCHARGE_ALARM: {3: "CUV", 2: "FETHT", 1: "DLT", 0: "DHT"},
    CHARGE_PROTECT: {
        15: "OCC2", 13: "CANID", 12: "2NDOVP", 11: "OCC", 10: "OCV", 9: "CLT", 8: "CHT", 7: "SUV", 6: "FETHT",
        5: "AFESCD", 4: "AFEOCD", 3: "AFEOCC", 2: "AFEComm", 1: "BoostNRDY", 0: "PRES",
    },
    CHARGE_PROTECT_2: {3: "IDError", 2: "OCCHw", 1: "Shutdown", 0: "ShutdownByCmd"},
    DISCHARGE_PROTECT: {
        15: "Shutdown", 14: "DHT", 13: "DLT", 12: "OCD", 11: "CUV", 10: "FETHT", 6: "IDError", 4: "AFESCD",
        3: "AFEOCD", 2: "AFEOCC", 1: "BoostNRDY", 0: "PRES",
    },
    DISCHARGE_PROTECT_2: {13: "CANID", 6: "ShutdownByCmd", 5: "DHT2", 4: "2NDOVP", 2: "OCD2", 1: "Short", 0: "AFEComm"},
}  # fmt: skip


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
    soc = round(s.soc_pct)  # as 0x0033 says it
    flags = {
        "charge_enable": s.charge_enable,
        "discharge_enable": s.discharge_enable,
        "force_charge_1": s.force_charge_1 or soc <= FORCE_CHARGE_1_SOC_PCT,
        "force_charge_2": s.force_charge_2 or FORCE_CHARGE_1_SOC_PCT < soc <= FORCE_CHARGE_2_SOC_PCT,
        "full_charge_request": s.full_charge_request,
    }
    return sum(1 << STATUS_BITS[name] for name, on in flags.items() if on)


def _alarm_word(address: int) -> Callable[[BankStatus], int]:
    def encode(s: BankStatus) -> int:
        word = 0
        for kinds, table in ((s.alarms, ALARM_BITS), (s.protections, PROTECTION_BITS)):
            for kind in kinds:
                word |= sum(1 << bit for reg, bit in table.get(kind, ()) if reg == address)
        return word

    return encode


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
    CHARGE_ALARM: Field("charge_alarm", _alarm_word(CHARGE_ALARM)),
    DISCHARGE_ALARM: Field("discharge_alarm", _alarm_word(DISCHARGE_ALARM)),
    CHARGE_PROTECT: Field("charge_protect", _alarm_word(CHARGE_PROTECT)),
    CHARGE_PROTECT_2: Field("charge_protect_2", _alarm_word(CHARGE_PROTECT_2)),
    DISCHARGE_PROTECT: Field("discharge_protect", _alarm_word(DISCHARGE_PROTECT)),
    DISCHARGE_PROTECT_2: Field("discharge_protect_2", _alarm_word(DISCHARGE_PROTECT_2)),
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


def _kinds(table: Mapping[AlarmKind, tuple[tuple[int, int], ...]], first: int) -> Decoder:
    """The kinds whose bits are all set in the words of registers ``first``.. (first listed kind wins a shared bit)."""

    def decode(r: tuple[int, ...]) -> frozenset[AlarmKind]:
        found: set[AlarmKind] = set()
        taken: set[tuple[int, int]] = set()
        for kind, bits in table.items():
            if bits[0] in taken:
                continue
            if all(r[reg - first] >> bit & 1 for reg, bit in bits):
                found.add(kind)
                taken.update(bits)
        return frozenset(found)

    return decode


#: BatteryView field -> (registers it needs, value from their words)
_DECODE: dict[str, tuple[tuple[int, ...], Decoder]] = {
    "current_a": ((0x0030, 0x0031), lambda r: round((r[0] - r[1]) * 0.1, 1)),
    "voltage_v": ((0x0032,), _scaled(0.1, 1)),
    "soc_pct": ((0x0033,), lambda r: float(r[0])),
    "full_capacity_ah": ((0x0034, 0x0035), _ah),
    "module_count": ((0x0036,), lambda r: r[0]),
    "installed_capacity_ah": ((0x003E, 0x003F), _ah),
    "alarms": ((CHARGE_ALARM, DISCHARGE_ALARM), _kinds(ALARM_BITS, CHARGE_ALARM)),
    "protections": (tuple(range(CHARGE_PROTECT, DISCHARGE_PROTECT_2 + 1)), _kinds(PROTECTION_BITS, CHARGE_PROTECT)),
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
    """The normal response: the data length field counts registers ("data length x 2" bytes follow)."""
    data = b"".join(v.to_bytes(2, "big") for v in values)
    return mb.with_crc(bytes([unit_id, READ]) + len(values).to_bytes(2, "big") + data)


def build_error(unit_id: int, function: int, code: int) -> bytes:
    return mb.with_crc(bytes([unit_id, (function & 0x7F) | 0x80, code]))


def _request_length(buf: bytes | bytearray) -> tuple[int, ...] | None:
    if len(buf) < 2:
        return ()
    if buf[1] != WRITE:
        return (8,)  # 0x03 and any other command: the document's one query format
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
    return (6 + 2 * length,) if 1 <= length <= MAX_COUNT else None


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
        crc_ok = mb.crc16(request[:-2]) == int.from_bytes(request[-2:], "little")
        if unit not in (COMMON_ID, self.unit_id):
            return build_error(unit, func, ErrorCode.BAD_ID) if crc_ok and unit not in ID_RANGE else None
        if not crc_ok:
            return build_error(unit, func, ErrorCode.CRC_ERROR)
        if func != READ:
            return build_error(unit, func, ErrorCode.BAD_FUNCTION)
        _, start, count = _parse_read_request(request)
        regs = self.registers(status)
        return build_read_response(unit, [regs.get(a, 0) for a in range(start, start + count)])

    def take_frame(self, buffer: bytearray, *, response: bool) -> bytes | None:
        """The first frame whose CRC checks; failing that, a read for this pack whose CRC fails (8 bytes at the
        start of ``buffer``), so it can be answered error 3 as the document asks."""
        if response:  # an error to another command only at the start (mid-buffer it could cut an answer short)
            head = bytes(buffer[:5])
            if len(head) == 5 and head[1] & 0x80 and mb.crc16(head[:3]) == int.from_bytes(head[3:], "little"):
                del buffer[:5]
                return head
            return mb.split_frame(buffer, _response_length)
        trial = bytearray(buffer)
        frame = mb.split_frame(trial, _request_length)
        start = len(buffer) - len(trial) - len(frame) if frame is not None else len(buffer)
        head = bytes(buffer[:8])
        ours = len(head) == 8 and head[0] in (COMMON_ID, self.unit_id) and head[1] == READ
        if ours and start >= 8 and mb.crc16(head[:6]) != int.from_bytes(head[6:], "little"):
            del buffer[:8]
            return head
        buffer[:] = trial
        return frame

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
        if length != count or len(body) != 4 + 2 * length:
            raise FrameError(f"read of {count} registers answered with data length {length} in {len(response)} bytes")
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
            if len(body) < 4 or len(body) != 4 + 2 * int.from_bytes(body[2:4], "big"):
                raise FrameError(f"Voltronic read response of {len(frame)} bytes does not match its length field")
            words = " ".join(body[i : i + 2].hex().upper() for i in range(4, len(body), 2))
            return "read response", fields | {"data_length": (len(body) - 4) // 2, "words": words}
        if func == WRITE and len(body) >= 6:
            start, count = int.from_bytes(body[2:4], "big"), int.from_bytes(body[4:6], "big")
            return "write request", fields | {"start": f"0x{start:04X}", "count": count, "data": body[6:].hex(" ")}
        if len(body) == 6:
            return "request", fields | {"command": f"0x{func:02X}", "data": body[2:].hex(" ")}
        raise FrameError(f"Voltronic function 0x{func:02X} is not part of the protocol")

    @staticmethod
    def describe_registers(regs: Mapping[int, int]) -> Description:
        """Named register values (two-word fields joined) for ``ml314 decode`` of a known read."""
        out: dict[str, float | int | str | bool] = {}
        for address, f in TABLE.items():
            if all(a in regs for a in range(address, address + f.words)):
                value = regs[address] << 16 | regs[address + 1] if f.words == 2 else regs[address]
                out[f"0x{address:04X} {f.name}"] = value
                names = BIT_NAMES.get(address, {})
                if names:
                    out[f"0x{address:04X} bits"] = ",".join(n for b, n in sorted(names.items()) if value >> b & 1)
        return out
